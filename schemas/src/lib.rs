//! The rtcbill data contract (rules.md, Inputs, §7 outputs).
//!
//! Every dataset the pipeline reads or writes is described here once: its columns with their
//! Arrow types, nullability and a one-line doc, its partition key and its sort key. The input
//! validator, the Parquet writer, the `rtcbill schema` command and the tests all read these
//! tables; no other crate spells a column name.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version written into every output file's key-value metadata under [`SCHEMA_VERSION_KEY`].
pub const SCHEMA_VERSION: &str = "3";
/// Metadata key of the schema version.
pub const SCHEMA_VERSION_KEY: &str = "schema_version";
/// The Hive partition key of every output dataset (rules.md, Outputs).
pub const PARTITION_KEY: &str = "billing_date";
/// The partition key of the raw usage input (rules.md, Inputs).
pub const USAGE_PARTITION_KEY: &str = "usage_date";

/// The logical type of a column. Outputs are written with exactly [`ColType::arrow`];
/// inputs accept every physical kind listed by [`ColType::accepts`] (rules.md, Inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int64,
    Int32,
    Utf8,
    Bool,
    /// Decimal128(18, scale).
    Decimal(i8),
    /// timestamp[us, UTC]
    Timestamp,
    /// date32
    Date,
}

impl ColType {
    /// The exact Arrow type an output column is written with (rules.md, Outputs).
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Int64 => DataType::Int64,
            ColType::Int32 => DataType::Int32,
            ColType::Utf8 => DataType::Utf8,
            ColType::Bool => DataType::Boolean,
            ColType::Decimal(s) => DataType::Decimal128(18, s),
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColType::Date => DataType::Date32,
        }
    }

    /// Whether an input column of Arrow type `dt` is accepted for this logical type (rules.md,
    /// Inputs: integers of any width, any string kind, timestamps of any unit, decimals of
    /// scale ≤ 6).
    pub fn accepts(self, dt: &DataType) -> bool {
        match self {
            ColType::Int64 | ColType::Int32 => dt.is_integer(),
            // Dictionary-encoded text too (pandas writes categoricals so).
            ColType::Utf8 => match dt {
                DataType::Dictionary(_, v) => Self::Utf8.accepts(v),
                _ => matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
            },
            ColType::Bool => matches!(dt, DataType::Boolean),
            ColType::Decimal(_) => match dt {
                DataType::Decimal32(_, s)
                | DataType::Decimal64(_, s)
                | DataType::Decimal128(_, s) => (0..=6).contains(s),
                _ => false,
            },
            ColType::Timestamp => matches!(dt, DataType::Timestamp(_, _)),
            ColType::Date => matches!(dt, DataType::Date32 | DataType::Date64),
        }
    }

    /// A short name for the data dictionary.
    pub fn describe(self) -> String {
        match self {
            ColType::Int64 => "int64".into(),
            ColType::Int32 => "int32".into(),
            ColType::Utf8 => "string".into(),
            ColType::Bool => "bool".into(),
            ColType::Decimal(s) => format!("decimal(18,{s})"),
            ColType::Timestamp => "timestamp[us, UTC]".into(),
            ColType::Date => "date32".into(),
        }
    }
}

/// One column of a dataset.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    pub doc: &'static str,
}

/// Whether the pipeline reads or writes a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
    /// Written on request to one file (`rtcbill export ...`), not partitioned.
    Export,
}

/// One dataset of the contract.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    pub name: &'static str,
    pub direction: Direction,
    pub doc: &'static str,
    /// One row per ...
    pub grain: &'static str,
    pub columns: &'static [Column],
    /// Columns the rows are sorted by within a file (outputs).
    pub sort_key: &'static [&'static str],
}

impl Dataset {
    /// The Arrow schema of the dataset's files (outputs: without the partition column, which
    /// lives in the Hive path `billing_date=YYYY-MM-DD`).
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> =
            self.columns.iter().map(|c| Field::new(c.name, c.ty.arrow(), c.nullable)).collect();
        Arc::new(Schema::new(fields))
    }

    /// Index of a column by name; panics on a name the contract does not define, which is a
    /// programming error caught by every test that touches the dataset.
    pub fn index(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("dataset {} has no column {name}", self.name))
    }

    /// The sort key as column indices.
    pub fn sort_indices(&self) -> Vec<usize> {
        self.sort_key.iter().map(|k| self.index(k)).collect()
    }

    /// The data dictionary of this dataset, as printed by `rtcbill schema`.
    pub fn dictionary(&self) -> String {
        let mut s = format!(
            "{} ({}): {}\n",
            self.name,
            match self.direction {
                Direction::Input => "input",
                Direction::Output => "output",
                Direction::Export => "export",
            },
            self.doc
        );
        s.push_str(&format!("  one row per: {}\n", self.grain));
        if self.direction == Direction::Output {
            s.push_str(&format!("  partition: {PARTITION_KEY}=YYYY-MM-DD (Hive path key: the day of the run that wrote the row)\n"));
        }
        if !self.sort_key.is_empty() {
            s.push_str(&format!("  sorted by: {}\n", self.sort_key.join(", ")));
        }
        let w = self.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let tw = self
            .columns
            .iter()
            .map(|c| c.ty.describe().len() + if c.nullable { 1 } else { 0 })
            .max()
            .unwrap_or(0);
        for c in self.columns {
            let t = format!("{}{}", c.ty.describe(), if c.nullable { "?" } else { "" });
            s.push_str(&format!("  {:<w$}  {:<tw$}  {}\n", c.name, t, c.doc));
        }
        s
    }
}

const fn col(name: &'static str, ty: ColType, doc: &'static str) -> Column {
    Column { name, ty, nullable: false, doc }
}
const fn opt(name: &'static str, ty: ColType, doc: &'static str) -> Column {
    Column { name, ty, nullable: true, doc }
}

use ColType::*;
const MONEY: ColType = Decimal(2);
const PRECISE: ColType = Decimal(6);

/// Column names the pipeline refers to, one constant each.
pub mod c {
    pub const ACCOUNT_ID: &str = "account_id";
    pub const APP_ID: &str = "app_id";
    pub const BILLING_MODE: &str = "billing_mode";
    pub const OPENING_BALANCE: &str = "opening_balance";
    pub const OPENING_TIME: &str = "opening_time";
    pub const CREATED_AT: &str = "created_at";
    pub const DISABLED_AT: &str = "disabled_at";
    pub const VIOLATION_AT: &str = "violation_at";
    pub const TXN_ID: &str = "txn_id";
    pub const TIME: &str = "time";
    pub const KIND: &str = "kind";
    pub const AMOUNT: &str = "amount";
    pub const PACKAGE_ID: &str = "package_id";
    pub const PRODUCT: &str = "product";
    pub const VERSION: &str = "version";
    pub const QUANTITY: &str = "quantity";
    pub const PURCHASED_AT: &str = "purchased_at";
    pub const PAID_PRICE: &str = "paid_price";
    pub const AUTO_RENEW: &str = "auto_renew";
    pub const EVENT_ID: &str = "event_id";
    pub const TARGET_VERSION: &str = "target_version";
    pub const USER_ID: &str = "user_id";
    pub const ROOM_ID: &str = "room_id";
    pub const USAGE_CLASS: &str = "usage_class";
    pub const START_TIME: &str = "start_time";
    pub const SECONDS: &str = "seconds";
    pub const REASON: &str = "reason";
}

pub static ACCOUNTS: Dataset = Dataset {
    name: "accounts",
    direction: Direction::Input,
    doc: "billable accounts (accounts/*.parquet)",
    grain: "account",
    sort_key: &[],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account id"),
        col(c::BILLING_MODE, Utf8, "daily or monthly: how overage is billed (rules.md, Bills)"),
        col(
            c::OPENING_BALANCE,
            MONEY,
            "balance at opening_time; holds everything up to it (rules.md, Clock)",
        ),
        col(c::OPENING_TIME, Timestamp, "instant the opening balance is taken at"),
    ],
};

pub static APPS: Dataset = Dataset {
    name: "apps",
    direction: Direction::Input,
    doc: "applications, each of one known account (apps/*.parquet)",
    grain: "app",
    sort_key: &[],
    columns: &[
        col(c::APP_ID, Int64, "app id"),
        col(c::ACCOUNT_ID, Int64, "owning account; must be in accounts"),
        col(c::CREATED_AT, Timestamp, "creation time"),
        opt(
            c::DISABLED_AT,
            Timestamp,
            "manually disabled at (app_disabled, rules.md, Arrears and suspension)",
        ),
        opt(
            c::VIOLATION_AT,
            Timestamp,
            "suspended for a policy violation at (violation, rules.md, Arrears and suspension)",
        ),
    ],
};

pub static TRANSACTIONS: Dataset = Dataset {
    name: "transactions",
    direction: Direction::Input,
    doc: "balance movements other than orders and bills (transactions/*.parquet)",
    grain: "transaction",
    sort_key: &[],
    columns: &[
        col(c::TXN_ID, Utf8, "transaction id"),
        col(c::ACCOUNT_ID, Int64, "account"),
        col(c::TIME, Timestamp, "instant"),
        col(c::KIND, Utf8, "recharge, refund or adjustment"),
        col(c::AMOUNT, MONEY, "signed: > 0 a credit, <= 0 a debit"),
    ],
};

pub static PACKAGES: Dataset = Dataset {
    name: "packages",
    direction: Direction::Input,
    doc: "package orders: free grants, monthly packages, top-ups (packages/*.parquet)",
    grain: "package order",
    sort_key: &[],
    columns: &[
        col(c::PACKAGE_ID, Utf8, "package id (the order id of its purchase)"),
        col(c::ACCOUNT_ID, Int64, "account"),
        opt(c::APP_ID, Int64, "app scope; null: account scope"),
        col(c::KIND, Utf8, "free, monthly or topup"),
        col(c::PRODUCT, Utf8, "product (call, conference, live, rtc_engine, chat, beauty_ar, ...)"),
        col(c::VERSION, Utf8, "catalog version; for a top-up its spec (25k, 250k, 1m)"),
        opt(c::QUANTITY, Int32, "top-ups: number of blocks (>= 1); ignored for other kinds"),
        col(c::PURCHASED_AT, Timestamp, "order time"),
        col(c::PAID_PRICE, MONEY, "price charged (may be below list: a discount)"),
        opt(c::AUTO_RENEW, Bool, "auto-renew flag at purchase; null: on"),
    ],
};

pub static PACKAGE_EVENTS: Dataset = Dataset {
    name: "package_events",
    direction: Direction::Input,
    doc: "upgrades and auto-renew switches of packages (package_events/*.parquet)",
    grain: "event",
    sort_key: &[],
    columns: &[
        col(c::EVENT_ID, Utf8, "event id (the order id of an upgrade)"),
        col(c::PACKAGE_ID, Utf8, "package"),
        col(c::TIME, Timestamp, "instant"),
        col(c::KIND, Utf8, "upgrade, auto_renew_on or auto_renew_off"),
        opt(c::TARGET_VERSION, Utf8, "upgrade: the version upgraded to"),
    ],
};

pub static USAGE: Dataset = Dataset {
    name: "usage",
    direction: Direction::Input,
    doc: "raw usage slices (usage/usage_date=YYYY-MM-DD/*.parquet); bad rows become rejects",
    grain: "usage slice",
    sort_key: &[],
    columns: &[
        opt(c::EVENT_ID, Utf8, "slice id; duplicates collapse or conflict (rules.md, Metering)"),
        opt(c::APP_ID, Int64, "app"),
        opt(c::USER_ID, Utf8, "user"),
        opt(c::ROOM_ID, Utf8, "room"),
        opt(c::USAGE_CLASS, Utf8, "audio, video_hd, video_fhd, video_2k, video_4k"),
        opt(c::START_TIME, Timestamp, "slice start; its billing day must be the folder's"),
        opt(c::SECONDS, Int64, "seconds used, 0..=86400"),
    ],
};

pub static USAGE_DAILY: Dataset = Dataset {
    name: "usage_daily",
    direction: Direction::Output,
    doc: "metered usage of the billing day (rules.md, Metering)",
    grain: "app, class with accepted usage on the day",
    sort_key: &["account_id", "app_id", "usage_class"],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account of the app"),
        col(c::APP_ID, Int64, "app"),
        col(c::USAGE_CLASS, Utf8, "usage class"),
        col("slices", Int64, "distinct accepted event ids"),
        col(c::SECONDS, Int64, "sum of their seconds"),
        col("billable_minutes", Int64, "ceil(seconds / 60)"),
        col("package_minutes", Int64, "billable_minutes x the class ratio"),
    ],
};

pub static DEDUCTIONS: Dataset = Dataset {
    name: "deductions",
    direction: Direction::Output,
    doc: "minutes covered by packages at the day's end (rules.md, Deduction order)",
    grain: "app, class, package that covered > 0 minutes",
    sort_key: &["account_id", "app_id", "usage_class", "package_id"],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account"),
        col(c::APP_ID, Int64, "app"),
        col(c::USAGE_CLASS, Utf8, "usage class"),
        col(c::PACKAGE_ID, Utf8, "package"),
        col("package_kind", Utf8, "free, monthly or topup"),
        col("usage_minutes", Int64, "usage minutes covered"),
        col("package_minutes", Int64, "package minutes taken (usage_minutes x ratio)"),
        col("remaining_after", Int64, "package minutes left after this deduction"),
    ],
};

pub static CHARGES: Dataset = Dataset {
    name: "charges",
    direction: Direction::Output,
    doc: "overage rated at pay-as-you-go prices (rules.md, Deduction order: step 4)",
    grain: "app, class with overage on the day",
    sort_key: &["account_id", "app_id", "usage_class"],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account"),
        col(c::APP_ID, Int64, "app"),
        col(c::USAGE_CLASS, Utf8, "usage class"),
        col("minutes", Int64, "overage minutes"),
        col(
            "unit_price_per_1000",
            PRECISE,
            "pay-as-you-go price per 1,000 minutes in force that day",
        ),
        col(c::AMOUNT, PRECISE, "minutes x price / 1000, exact"),
    ],
};

pub static BILLS: Dataset = Dataset {
    name: "bills",
    direction: Direction::Output,
    doc: "bills issued in the run's window (rules.md, Bills)",
    grain: "bill issued in the window",
    sort_key: &["account_id", "bill_id"],
    columns: &[
        col("bill_id", Utf8, "{cycle}-{account_id}-{period_start YYYYMMDD}"),
        col(c::ACCOUNT_ID, Int64, "account"),
        col("cycle", Utf8, "daily or monthly"),
        col("period_start", Date, "first billing day billed"),
        col("period_end", Date, "day after the last billing day billed (exclusive)"),
        col("issued_at", Timestamp, "issue instant: as_of of the period's last day"),
        col("currency", Utf8, "catalog currency"),
        col(c::AMOUNT, MONEY, "round_half_up(sum of line amounts, 2)"),
        col("balance_before", MONEY, "balance just before the debit"),
        col("balance_after", MONEY, "balance_before - amount"),
        col("revision", Int64, "1, +1 each time a rerun changes the bill"),
    ],
};

pub static BILL_LINES: Dataset = Dataset {
    name: "bill_lines",
    direction: Direction::Output,
    doc: "the lines of the bills issued in the window (rules.md, Bills)",
    grain: "bill, app, class, price",
    sort_key: &["account_id", "bill_id", "app_id", "usage_class", "unit_price_per_1000"],
    columns: &[
        col("bill_id", Utf8, "bill"),
        col(c::ACCOUNT_ID, Int64, "account"),
        col(c::APP_ID, Int64, "app"),
        col(c::USAGE_CLASS, Utf8, "usage class"),
        col("unit_price_per_1000", PRECISE, "price per 1,000 minutes"),
        col("minutes", Int64, "overage minutes at that price in the period"),
        col(c::AMOUNT, PRECISE, "minutes x price / 1000, exact"),
    ],
};

pub static ORDERS: Dataset = Dataset {
    name: "orders",
    direction: Direction::Output,
    doc: "purchases, upgrades and renewals processed in the window (rules.md, Packages)",
    grain: "purchase, upgrade or renewal",
    sort_key: &["account_id", "time", "order_id", "kind"],
    columns: &[
        col(
            "order_id",
            Utf8,
            "purchase: package_id; upgrade: event_id; renewal: {package_id}@{cycle_start}",
        ),
        opt(c::ACCOUNT_ID, Int64, "account; null for an upgrade of an unknown package"),
        col(c::PACKAGE_ID, Utf8, "package"),
        col(c::KIND, Utf8, "purchase, upgrade or renewal"),
        col(c::TIME, Timestamp, "instant"),
        col("status", Utf8, "accepted or rejected"),
        opt(
            c::REASON,
            Utf8,
            "reject reason: unknown_version, invalid_quantity, overlapping_monthly, \
             insufficient_balance, unknown_package, not_upgradable, not_in_force, \
             not_higher_version",
        ),
        opt(c::AMOUNT, MONEY, "price (what would have been charged when insufficient_balance)"),
        opt("minutes_added", Int64, "minutes the order gave"),
        opt("cycle_start", Date, "first day of the cycle made or changed"),
        opt("cycle_end", Date, "end (exclusive) of that cycle"),
        opt(c::VERSION, Utf8, "the version (top-up: spec) bought, renewed into or upgraded to"),
    ],
};

pub static PACKAGE_BALANCES: Dataset = Dataset {
    name: "package_balances",
    direction: Direction::Output,
    doc: "packages with a cycle covering the day, right after its usage is deducted",
    grain: "package with a cycle covering the day",
    sort_key: &["account_id", "package_id"],
    columns: &[
        col(c::PACKAGE_ID, Utf8, "package"),
        col(c::ACCOUNT_ID, Int64, "account"),
        opt(c::APP_ID, Int64, "app scope; null: account scope"),
        col(c::KIND, Utf8, "free, monthly or topup"),
        col(c::PRODUCT, Utf8, "product"),
        col(c::VERSION, Utf8, "the cycle's version (top-up: spec)"),
        col("cycle_start", Date, "cycle's first day"),
        col("cycle_end", Date, "cycle's end (exclusive)"),
        col("minutes_total", Int64, "the cycle's minutes with its upgrades"),
        col("minutes_used", Int64, "minutes_total - minutes_left"),
        col("minutes_left", Int64, "package minutes left"),
        col("status", Utf8, "active (minutes left > 0) or exhausted"),
        col(c::AUTO_RENEW, Bool, "auto-renew flag"),
    ],
};

pub static ACCOUNT_STATUS: Dataset = Dataset {
    name: "account_status",
    direction: Direction::Output,
    doc: "each account at as_of(D) = D+1 08:00 billing zone (rules.md, Arrears and suspension)",
    grain: "account",
    sort_key: &["account_id"],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account"),
        col("balance", MONEY, "balance"),
        col("state", Utf8, "current, in_arrears, suspended or reclaimed"),
        opt("arrears_since", Timestamp, "bill time that started the arrears"),
        opt("grace_deadline", Timestamp, "arrears_since + grace_hours"),
        opt("suspended_at", Timestamp, "suspension instant"),
        opt("reclaim_at", Timestamp, "suspended_at + reclaim_days"),
        col("amount_due", MONEY, "max(0, -balance)"),
    ],
};

pub static STATUS_EVENTS: Dataset = Dataset {
    name: "status_events",
    direction: Direction::Output,
    doc: "state transitions determined by the run (rules.md, Arrears and suspension)",
    grain: "event",
    sort_key: &["account_id", "time", "event", "app_id", "detail"],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account"),
        opt(c::APP_ID, Int64, "app for app-level events"),
        col("event", Utf8, "arrears_entered, arrears_cleared, suspended, restored, reclaim_due, renewal_failed, app_disabled, violation, free_quota_exhausted"),
        col(c::TIME, Timestamp, "instant of the transition"),
        col("detail", Utf8, "what caused it"),
    ],
};

pub static REJECTED_USAGE: Dataset = Dataset {
    name: "rejected_usage",
    direction: Direction::Output,
    doc: "usage slices rejected by metering, with the first reason that applies (rules.md, Metering)",
    grain: "rejected slice",
    sort_key: &["reason", "event_id", "app_id", "start_time", "seconds", "user_id", "room_id", "usage_class"],
    columns: &[
        opt(c::EVENT_ID, Utf8, "slice id as read"),
        opt(c::APP_ID, Int64, "app as read"),
        opt(c::USER_ID, Utf8, "user as read"),
        opt(c::ROOM_ID, Utf8, "room as read"),
        opt(c::USAGE_CLASS, Utf8, "usage class as read"),
        opt(c::START_TIME, Timestamp, "start as read"),
        opt(c::SECONDS, Int64, "seconds as read"),
        col(c::REASON, Utf8, "missing_event_id, missing_start_time, wrong_partition, unknown_app, unknown_usage_class, invalid_seconds, conflicting_duplicate"),
    ],
};

pub static BILL_REVISIONS: Dataset = Dataset {
    name: "bill_revisions",
    direction: Direction::Output,
    doc: "superseded versions of bills a rerun changed or withdrew (rules.md, Revisions); kept across reruns",
    grain: "superseded bill revision",
    sort_key: &["account_id", "bill_id", "revision"],
    columns: &[
        col("bill_id", Utf8, "bill"),
        col(c::ACCOUNT_ID, Int64, "account"),
        col("revision", Int64, "the superseded revision"),
        col("issued_at", Timestamp, "its issue instant"),
        col(c::AMOUNT, MONEY, "its amount (0.00 for a withdrawn revision issued again)"),
        col("balance_before", MONEY, "its balance before"),
        col("balance_after", MONEY, "its balance after"),
        opt("replaced_by_revision", Int64, "the revision that replaced it; null: the rerun no longer issues the bill"),
        opt("new_amount", MONEY, "the replacing revision's amount"),
        col("change", MONEY, "new_amount - amount (-amount when withdrawn)"),
        col("restated_on", Date, "the last billing day of the run that made the change: the change is reported in that day's month"),
    ],
};

/// Written with `usage_daily` and `rejected_usage` by a metering job run elsewhere (the Spark
/// job), read by `rtcbill --metered DIR`: the day's slice counts.
pub static METER_COUNTS: Dataset = Dataset {
    name: "meter_counts",
    direction: Direction::Input,
    doc: "slice counts of an externally metered day (--metered DIR/meter_counts/billing_date=D/)",
    grain: "metered day",
    sort_key: &[],
    columns: &[
        col("slices_read", Int64, "raw slices of the day"),
        col("accepted", Int64, "distinct accepted event ids (sum of usage_daily.slices)"),
        col("rejected", Int64, "rejected slices (rows of rejected_usage)"),
        col("collapsed", Int64, "identical extra copies counted once"),
    ],
};

/// `rtcbill export focus --month YYYY-MM`: a month of charges as a FOCUS 1.2 Cost and Usage
/// dataset (FOCUS columns first, alphabetically, then `x_` columns). README "FOCUS export" maps
/// each row kind to its source dataset.
pub static BILL_DIFF: Dataset = Dataset {
    name: "bill_diff",
    direction: Direction::Export,
    doc: "rtcbill simulate: every bill of the days replayed, as issued and as the candidate catalog would have issued it",
    grain: "bill issued on either side",
    sort_key: &["account_id", "period_start", "bill_id"],
    columns: &[
        col("bill_id", Utf8, "{cycle}-{account_id}-{period_start YYYYMMDD}"),
        col(c::ACCOUNT_ID, Int64, "account"),
        col("cycle", Utf8, "daily or monthly"),
        col("period_start", Date, "first day the bill covers"),
        opt("baseline_amount", MONEY, "as issued; null: not issued"),
        opt("simulated_amount", MONEY, "under the candidate; null: not issued"),
        col("delta", MONEY, "simulated - baseline (a missing side counts 0)"),
    ],
};

pub static ACCOUNT_DIFF: Dataset = Dataset {
    name: "account_diff",
    direction: Direction::Export,
    doc: "rtcbill simulate: per account, what it was billed and bought, and where it ended, both ways",
    grain: "account",
    sort_key: &["account_id"],
    columns: &[
        col(c::ACCOUNT_ID, Int64, "account"),
        col("billed_baseline", MONEY, "sum of its bills as issued"),
        col("billed_simulated", MONEY, "sum of its bills under the candidate"),
        col("billed_delta", MONEY, "simulated - baseline"),
        col("purchases_baseline", Int64, "accepted package purchases"),
        col("purchases_simulated", Int64, "accepted package purchases under the candidate"),
        col("renewals_baseline", Int64, "accepted renewals"),
        col("renewals_simulated", Int64, "accepted renewals under the candidate"),
        col("final_state_baseline", Utf8, "state at the end of the last day (current, in_arrears, suspended, reclaimed)"),
        col("final_state_simulated", Utf8, "the same under the candidate"),
        opt("first_suspension_baseline", Timestamp, "first suspension in the days replayed"),
        opt("first_suspension_simulated", Timestamp, "the same under the candidate"),
    ],
};

pub static REVENUE_DIFF: Dataset = Dataset {
    name: "revenue_diff",
    direction: Direction::Export,
    doc: "rtcbill simulate: revenue per month, by usage class (overage) and by package product/version (charged orders)",
    grain: "month and usage class, or month and package product/version",
    sort_key: &["month", "category", "item"],
    columns: &[
        col("month", Date, "first day of the billing month of the charge"),
        col("category", Utf8, "usage (overage charges) or package (charged purchases, renewals, upgrades)"),
        col("item", Utf8, "usage class, or product/version"),
        col("baseline", PRECISE, "as billed"),
        col("simulated", PRECISE, "under the candidate"),
        col("delta", PRECISE, "simulated - baseline"),
    ],
};

pub static ORDER_DIFF: Dataset = Dataset {
    name: "order_diff",
    direction: Direction::Export,
    doc: "rtcbill simulate: orders whose status, reason or amount differ under the candidate",
    grain: "order that differs (or exists on one side only)",
    sort_key: &["account_id", "order_id"],
    columns: &[
        col("order_id", Utf8, "as in orders"),
        opt(c::ACCOUNT_ID, Int64, "account"),
        col(c::KIND, Utf8, "purchase, upgrade or renewal"),
        opt("baseline_status", Utf8, "accepted or rejected; null: no such order"),
        opt("simulated_status", Utf8, "under the candidate"),
        opt("baseline_reason", Utf8, "reject reason"),
        opt("simulated_reason", Utf8, "reject reason under the candidate"),
        opt("baseline_amount", MONEY, "price"),
        opt("simulated_amount", MONEY, "price under the candidate"),
    ],
};

/// What `rtcbill simulate` writes per candidate.
pub static SIMULATION: [&Dataset; 4] = [&BILL_DIFF, &ACCOUNT_DIFF, &REVENUE_DIFF, &ORDER_DIFF];

pub static FOCUS: Dataset = Dataset {
    name: "focus",
    direction: Direction::Export,
    doc: "a month's charges as a FOCUS 1.2 Cost and Usage dataset (rtcbill export focus)",
    grain: "overage charge (app, class, day), package order, bill rounding, or correction of an earlier month's bill",
    sort_key: &["x_BillingDate", "BillingAccountId", "ChargeCategory", "ChargeClass", "InvoiceId", "SubAccountId", "x_UsageClass", "ListUnitPrice"],
    columns: &[
        col("BilledCost", PRECISE, "what the account is charged for the row"),
        col("BillingAccountId", Utf8, "account_id"),
        opt("BillingAccountName", Utf8, "always null: accounts have no display names"),
        col("BillingCurrency", Utf8, "catalog currency"),
        col("BillingPeriodEnd", Timestamp, "first instant of the next month, billing zone"),
        col("BillingPeriodStart", Timestamp, "first instant of the month, billing zone"),
        col("ChargeCategory", Utf8, "Usage (overage, corrections), Purchase (orders) or Adjustment (bill rounding)"),
        opt("ChargeClass", Utf8, "Correction: a change to a bill of an earlier month; else null"),
        col("ChargeDescription", Utf8, "what the row charges, in words"),
        col("ChargeFrequency", Utf8, "Usage-Based, One-Time (purchase, upgrade) or Recurring (renewal)"),
        col("ChargePeriodEnd", Timestamp, "end (exclusive) of the billing day, or of the corrected bill's period"),
        col("ChargePeriodStart", Timestamp, "start of the billing day, or of the corrected bill's period"),
        opt("CommitmentDiscountStatus", Utf8, "always null: no commitment discounts"),
        opt("ConsumedQuantity", PRECISE, "overage minutes (Usage rows)"),
        opt("ConsumedUnit", Utf8, "Minutes (Usage rows)"),
        col("ContractedCost", PRECISE, "BilledCost (no negotiated prices)"),
        col("EffectiveCost", PRECISE, "BilledCost; 0 for package orders, which prepay future usage"),
        col("InvoiceId", Utf8, "bill_id of the bill the row is on (usage, rounding, correction) or order_id (orders)"),
        col("InvoiceIssuerName", Utf8, "--provider"),
        col("ListCost", PRECISE, "ListUnitPrice x PricingQuantity (corrections: BilledCost)"),
        opt("ListUnitPrice", PRECISE, "catalog price per PricingUnit"),
        opt("PricingCurrencyContractedUnitPrice", PRECISE, "price paid per PricingUnit"),
        col("PricingCurrencyEffectiveCost", PRECISE, "EffectiveCost"),
        opt("PricingCurrencyListUnitPrice", PRECISE, "ListUnitPrice"),
        opt("PricingQuantity", PRECISE, "overage minutes / 1000, packages, or 1 upgrade"),
        opt("PricingUnit", Utf8, "1000 Minutes, Packages or Upgrades"),
        col("ProviderName", Utf8, "--provider"),
        col("PublisherName", Utf8, "--provider"),
        col("ServiceCategory", Utf8, "Media"),
        col("ServiceName", Utf8, "Real-Time Communication"),
        col("ServiceSubcategory", Utf8, "Media Streaming"),
        opt("SkuId", Utf8, "payg/{class}, monthly/{product}/{version} or topup/{spec}"),
        opt("SkuMeter", Utf8, "what the SKU meters"),
        opt("SkuPriceDetails", Utf8, "always null"),
        opt("SkuPriceId", Utf8, "SkuId@{catalog effective_from} (upgrades: .../upgrade)"),
        opt("SubAccountId", Utf8, "app_id; null for account-wide rows"),
        opt("SubAccountName", Utf8, "app {app_id}"),
        col("x_BillingDate", Date, "billing_date partition the row comes from"),
        opt("x_OrderId", Utf8, "orders.order_id (Purchase rows)"),
        opt("x_UsageClass", Utf8, "usage class (overage rows)"),
    ],
};

/// The Parquet input datasets other than usage, in load order.
pub static SMALL_INPUTS: [&Dataset; 5] =
    [&ACCOUNTS, &APPS, &TRANSACTIONS, &PACKAGES, &PACKAGE_EVENTS];

/// Every output dataset: the ten of rules.md, Outputs and `bill_revisions`.
pub static OUTPUTS: [&Dataset; 11] = [
    &USAGE_DAILY,
    &DEDUCTIONS,
    &CHARGES,
    &BILLS,
    &BILL_LINES,
    &ORDERS,
    &PACKAGE_BALANCES,
    &ACCOUNT_STATUS,
    &STATUS_EVENTS,
    &REJECTED_USAGE,
    &BILL_REVISIONS,
];

/// Every dataset, inputs first.
pub fn all() -> Vec<&'static Dataset> {
    let mut v: Vec<&'static Dataset> = SMALL_INPUTS.to_vec();
    v.push(&USAGE);
    v.push(&METER_COUNTS);
    v.extend(OUTPUTS.iter().copied());
    v.push(&FOCUS);
    v.extend(SIMULATION.iter().copied());
    v
}

/// A dataset by name.
pub fn by_name(name: &str) -> Option<&'static Dataset> {
    all().into_iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_name_columns_and_names_are_unique() {
        for d in all() {
            d.sort_indices();
            let mut names: Vec<_> = d.columns.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), d.columns.len(), "{}", d.name);
            assert!(!d.columns.iter().any(|c| c.name == PARTITION_KEY), "{}", d.name);
        }
    }

    #[test]
    fn output_types_follow_spec_7() {
        // rules.md, Outputs: money decimal(18,2), line amounts and prices decimal(18,6), instants
        // us UTC.
        let s = CHARGES.schema();
        assert_eq!(
            s.field(s.index_of("amount").unwrap()).data_type(),
            &DataType::Decimal128(18, 6)
        );
        let s = BILLS.schema();
        assert_eq!(
            s.field(s.index_of("amount").unwrap()).data_type(),
            &DataType::Decimal128(18, 2)
        );
        assert_eq!(
            s.field(s.index_of("issued_at").unwrap()).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(s.field(s.index_of("period_start").unwrap()).data_type(), &DataType::Date32);
        assert_eq!(OUTPUTS.len(), 11);
    }

    #[test]
    fn inputs_accept_any_width_kind_and_unit() {
        assert!(ColType::Int64.accepts(&DataType::Int16));
        assert!(ColType::Int64.accepts(&DataType::UInt32));
        assert!(ColType::Utf8.accepts(&DataType::LargeUtf8));
        assert!(ColType::Timestamp.accepts(&DataType::Timestamp(TimeUnit::Nanosecond, None)));
        assert!(ColType::Decimal(2).accepts(&DataType::Decimal128(38, 6)));
        assert!(!ColType::Decimal(2).accepts(&DataType::Decimal128(38, 7)));
        assert!(!ColType::Int64.accepts(&DataType::Utf8));
    }
}
