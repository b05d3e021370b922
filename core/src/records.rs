//! The records the engine reads: rows of the input datasets (rules.md, Inputs) and a day's
//! metered usage (rules.md, Metering), as the pipeline loaded and checked them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clock::Ts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    Daily,
    Monthly,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountRecord {
    pub id: i64,
    pub mode: BillingMode,
    pub opening_balance: Decimal,
    pub opening_time: Ts,
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub id: i64,
    pub account_id: i64,
    pub created_at: Ts,
    pub disabled_at: Option<Ts>,
    pub violation_at: Option<Ts>,
}

#[derive(Debug, Clone)]
pub struct Txn {
    pub id: String,
    pub account_id: i64,
    pub time: Ts,
    pub kind: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageOrder {
    pub package_id: String,
    pub account_id: i64,
    pub app_id: Option<i64>,
    pub kind: String,
    pub product: String,
    pub version: String,
    pub quantity: Option<i64>,
    pub purchased_at: Ts,
    pub paid_price: Decimal,
    pub auto_renew: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PackageEventKind {
    Upgrade,
    AutoRenewOn,
    AutoRenewOff,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageEvent {
    pub event_id: String,
    pub package_id: String,
    pub time: Ts,
    pub kind: PackageEventKind,
    pub target_version: Option<String>,
}

/// One (app, class) of the day with accepted usage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsageDaily {
    pub account_id: i64,
    pub app_id: i64,
    /// Index into the catalog's usage classes.
    pub class: usize,
    pub slices: i64,
    pub seconds: i64,
    pub billable_minutes: i64,
    pub package_minutes: i64,
}

/// rules.md, Billable minutes: `ceil(seconds / 60)`, taken once, of a day's total seconds.
pub fn billable_minutes(seconds: i64) -> i64 {
    (seconds + 59) / 60
}

impl UsageDaily {
    /// The usage of an (app, class) of the day from its accepted slices and their total seconds:
    /// billable minutes rounded up once, package minutes = billable × the class's ratio
    /// (rules.md, Billable minutes, Class ratios).
    pub fn from_total(
        account_id: i64,
        app_id: i64,
        class: usize,
        ratio: i64,
        slices: i64,
        seconds: i64,
    ) -> UsageDaily {
        let billable = billable_minutes(seconds);
        UsageDaily {
            account_id,
            app_id,
            class,
            slices,
            seconds,
            billable_minutes: billable,
            package_minutes: billable * ratio,
        }
    }
}
