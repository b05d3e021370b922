//! The output rows of rules.md, Outputs, as plain Rust values (the writer turns them into Arrow).
//! Field order follows each dataset's sort key, so `sort()` gives the file order.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::clock::Ts;
use crate::engine::Kind;
use crate::vocab::{
    AccountState, BillCycle, OrderKind, OrderReason, OrderStatus, PackageStatus, StatusEvent,
};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeductionRow {
    pub account_id: i64,
    pub app_id: i64,
    pub class: usize,
    pub package_id: String,
    pub package_kind: Kind,
    pub usage_minutes: i64,
    pub package_minutes: i64,
    pub remaining_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChargeRow {
    pub account_id: i64,
    pub app_id: i64,
    pub class: usize,
    pub minutes: i64,
    pub unit_price_per_1000: Decimal,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BillRow {
    pub account_id: i64,
    pub bill_id: String,
    pub cycle: BillCycle,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub issued_at: Ts,
    pub amount: Decimal,
    pub balance_before: Decimal,
    pub balance_after: Decimal,
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BillLineRow {
    pub account_id: i64,
    pub bill_id: String,
    pub app_id: i64,
    pub class: usize,
    pub unit_price_per_1000: Decimal,
    pub minutes: i64,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderRow {
    pub account_id: Option<i64>,
    pub time: Ts,
    pub order_id: String,
    pub package_id: String,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub reason: Option<OrderReason>,
    pub amount: Option<Decimal>,
    pub minutes_added: Option<i64>,
    pub cycle_start: Option<NaiveDate>,
    pub cycle_end: Option<NaiveDate>,
    /// The version (top-up: spec) the order bought, renewed into or upgraded to.
    pub version: Option<String>,
}

impl OrderRow {
    /// An order as it comes in, not yet decided: rejected with no reason, amount, minutes or
    /// cycle until [`rejected`](OrderRow::rejected) or [`accepted`](OrderRow::accepted) says.
    pub fn new(
        kind: OrderKind,
        account_id: Option<i64>,
        time: Ts,
        order_id: String,
        package_id: String,
        version: Option<String>,
    ) -> OrderRow {
        OrderRow {
            account_id,
            time,
            order_id,
            package_id,
            kind,
            status: OrderStatus::Rejected,
            reason: None,
            amount: None,
            minutes_added: None,
            cycle_start: None,
            cycle_end: None,
            version,
        }
    }

    /// The order rejected for `reason`; `amount` is its price, when it is known.
    pub fn rejected(self, reason: OrderReason, amount: Option<Decimal>) -> OrderRow {
        OrderRow { status: OrderStatus::Rejected, reason: Some(reason), amount, ..self }
    }

    /// The order accepted at `amount`, giving `minutes` to the cycle `[start, end)`.
    pub fn accepted(
        self,
        amount: Decimal,
        minutes: i64,
        (start, end): (NaiveDate, NaiveDate),
    ) -> OrderRow {
        OrderRow {
            status: OrderStatus::Accepted,
            reason: None,
            amount: Some(amount),
            minutes_added: Some(minutes),
            cycle_start: Some(start),
            cycle_end: Some(end),
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageBalanceRow {
    pub account_id: i64,
    pub package_id: String,
    pub app_id: Option<i64>,
    pub kind: Kind,
    pub product: String,
    pub version: String,
    pub cycle_start: NaiveDate,
    pub cycle_end: NaiveDate,
    pub minutes_total: i64,
    pub minutes_used: i64,
    pub minutes_left: i64,
    pub status: PackageStatus,
    pub auto_renew: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountStatusRow {
    pub account_id: i64,
    pub balance: Decimal,
    pub state: AccountState,
    pub arrears_since: Option<Ts>,
    pub grace_deadline: Option<Ts>,
    pub suspended_at: Option<Ts>,
    pub reclaim_at: Option<Ts>,
    pub amount_due: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatusEventRow {
    pub account_id: i64,
    pub time: Ts,
    pub event: StatusEvent,
    pub app_id: Option<i64>,
    pub detail: String,
}

/// A superseded bill revision (`bill_revisions`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RevisionRow {
    pub account_id: i64,
    pub bill_id: String,
    pub revision: i64,
    pub issued_at: Ts,
    pub amount: Decimal,
    pub balance_before: Decimal,
    pub balance_after: Decimal,
    pub replaced_by_revision: Option<i64>,
    pub new_amount: Option<Decimal>,
    pub change: Decimal,
    pub restated_on: NaiveDate,
}

/// Everything one account's day produced (rules.md, Outputs datasets but the metering ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayRows {
    pub deductions: Vec<DeductionRow>,
    pub charges: Vec<ChargeRow>,
    pub orders: Vec<OrderRow>,
    pub bills: Vec<BillRow>,
    pub bill_lines: Vec<BillLineRow>,
    pub package_balances: Vec<PackageBalanceRow>,
    pub account_status: Vec<AccountStatusRow>,
    pub status_events: Vec<StatusEventRow>,
    /// Input events the day ignored, and why: for the run's log (no dataset holds them).
    pub ignored: Vec<String>,
}

impl DayRows {
    /// Joins the parts of many accounts, reserving once.
    pub fn concat(parts: Vec<DayRows>) -> DayRows {
        let mut all = DayRows::default();
        macro_rules! reserve {
            ($($f:ident),*) => { $( all.$f.reserve_exact(parts.iter().map(|p| p.$f.len()).sum()); )* };
        }
        reserve!(
            deductions,
            charges,
            orders,
            bills,
            bill_lines,
            package_balances,
            account_status,
            status_events
        );
        for p in parts {
            all.append(p);
        }
        all
    }

    pub fn append(&mut self, mut o: DayRows) {
        self.deductions.append(&mut o.deductions);
        self.charges.append(&mut o.charges);
        self.orders.append(&mut o.orders);
        self.bills.append(&mut o.bills);
        self.bill_lines.append(&mut o.bill_lines);
        self.package_balances.append(&mut o.package_balances);
        self.account_status.append(&mut o.account_status);
        self.status_events.append(&mut o.status_events);
        self.ignored.append(&mut o.ignored);
    }
}
