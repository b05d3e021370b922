//! The pure core: per account, `(state, the window's events, the day's metered usage) ->
//! (state', rows)`. No I/O, no clock: everything it knows comes in as arguments.
//!
//! rules.md, Clock: the run for day D processes the events of its window
//! `W(D) = (D 08:00, D+1 08:00]` in time order, deducts D's usage at D+1 00:00 (before anything
//! else at that instant) and issues bills at D+1 08:00. Equal instants order by class, then id.

pub mod arrears;
pub mod bill;
pub mod deduct;
pub mod package;
pub mod renew;
pub mod upgrade;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::clock::{add_days, Ts, MICROS_PER_DAY};
use crate::records::UsageDaily;
use crate::records::{self, BillingMode, PackageEventKind, PackageOrder};
use crate::rows::{AccountStatusRow, DayRows, OrderRow, StatusEventRow};
pub use crate::vocab::AccountState;
use crate::vocab::{OrderKind, OrderReason, StatusEvent};

pub use package::{Cycle, Kind, Package, Retired};

/// rules.md, Clock: order of events at the same instant. Day-end deduction comes first.
pub mod rank {
    pub const DEDUCT: u8 = 0;
    pub const CREDIT: u8 = 1;
    pub const TIMED: u8 = 2;
    pub const PURCHASE: u8 = 3;
    pub const AUTO_RENEW: u8 = 4;
    pub const RENEWAL: u8 = 5;
    pub const UPGRADE: u8 = 6;
    pub const DEBIT: u8 = 7;
    pub const BILL: u8 = 8;
}

/// What one account carries from day to day (persisted after each day, README, Jobs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub mode: BillingMode,
    pub opening_time: Ts,
    pub balance: Decimal,
    pub status: AccountState,
    pub arrears_since: Option<Ts>,
    pub grace_deadline: Option<Ts>,
    pub suspended_at: Option<Ts>,
    pub reclaim_at: Option<Ts>,
    /// Accepted packages that a cycle from the next day on still covers, in acceptance order;
    /// each holds its cycles from the current one on ([`package::retire`]).
    pub packages: Vec<Package>,
    /// What is kept of the packages no cycle will cover again.
    pub retired: Retired,
    /// Monthly accounts: overage minutes of the month so far, by (app, class, price).
    #[serde(with = "pairs")]
    pub month_overage: BTreeMap<(i64, usize, Decimal), i64>,
    /// rules.md, Free quota exhausted: the day it was last raised, per app.
    pub free_quota_raised: BTreeMap<i64, NaiveDate>,
}

impl Account {
    pub fn open(a: &records::AccountRecord) -> Account {
        Account {
            id: a.id,
            mode: a.mode,
            opening_time: a.opening_time,
            balance: a.opening_balance,
            status: AccountState::Current,
            arrears_since: None,
            grace_deadline: None,
            suspended_at: None,
            reclaim_at: None,
            packages: Vec::new(),
            retired: Retired::default(),
            month_overage: BTreeMap::new(),
            free_quota_raised: BTreeMap::new(),
        }
    }

    /// rules.md, Purchases: an order is rejected `insufficient_balance` when the balance is
    /// below a positive price.
    pub fn cannot_pay(&self, price: Decimal) -> bool {
        price > Decimal::ZERO && self.balance < price
    }

    /// Pays `price` for an order (purchase, upgrade, renewal) at `at`. rules.md, Epoch and
    /// opening_time: an order at or before `opening_time` takes effect without touching the
    /// balance and skips the balance check; any other is refused `insufficient_balance` when
    /// the account [`cannot_pay`](Account::cannot_pay), and charged otherwise.
    pub fn charge(&mut self, price: Decimal, at: Ts) -> Result<(), OrderReason> {
        if !charged(self.opening_time, at) {
            return Ok(());
        }
        if self.cannot_pay(price) {
            return Err(OrderReason::InsufficientBalance);
        }
        self.balance -= price;
        Ok(())
    }
}

/// rules.md, Epoch and opening_time: whether an order at `at` of an account opened at
/// `opening_time` is charged (after it), or already in the opening balance (at or before it).
pub fn charged(opening_time: Ts, at: Ts) -> bool {
    at > opening_time
}

/// A map with tuple keys, persisted as a list of pairs (JSON keys must be strings).
pub(crate) mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<
        'de,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    >(
        d: D,
    ) -> Result<BTreeMap<K, V>, D::Error> {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// A static event of an account, known from the inputs. Serialized only to be hashed (the
/// window hashes of day records).
#[derive(Debug, Clone, Serialize)]
pub enum EventKind {
    Txn { amount: Decimal, kind: String },
    Purchase(Box<PackageOrder>),
    AutoRenew { package_id: String, on: bool },
    Upgrade { package_id: String, target: Option<String> },
    AppDisabled { app_id: i64 },
    Violation { app_id: i64 },
    AppReclaim { app_id: i64, violation_at: Ts },
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub time: Ts,
    pub rank: u8,
    pub id: String,
    pub kind: EventKind,
}

impl Event {
    fn key(&self) -> (Ts, u8, &str) {
        (self.time, self.rank, &self.id)
    }
}

/// An account's static events for the whole chain, sorted by (time, rank, id).
#[derive(Debug, Clone)]
pub struct AccountEvents {
    pub events: Vec<Event>,
}

impl AccountEvents {
    /// Builds the events of one account from its inputs (rules.md, Clock: transactions at or before
    /// `opening_time` are ignored; everything else is kept).
    pub fn build(
        account: &records::AccountRecord,
        apps: &[&records::App],
        txns: &[&records::Txn],
        packages: Vec<PackageOrder>,
        package_events: &[&records::PackageEvent],
        catalog: &Catalog,
    ) -> AccountEvents {
        // Sized once, exactly: a chain holds the events of every account (500k at 100M
        // slices a day), and vectors grown a push at a time would be a third larger.
        let kept = |t: &&&records::Txn| t.time > account.opening_time;
        let timed = |a: &&records::App| {
            a.disabled_at.is_some() as usize + 2 * a.violation_at.is_some() as usize
        };
        let n = txns.iter().filter(kept).count()
            + packages.len()
            + package_events.len()
            + apps.iter().map(timed).sum::<usize>();
        let mut events = Vec::with_capacity(n);
        for t in txns.iter().filter(kept) {
            let rank = if t.amount > Decimal::ZERO { rank::CREDIT } else { rank::DEBIT };
            events.push(Event {
                time: t.time,
                rank,
                id: t.id.clone(),
                kind: EventKind::Txn { amount: t.amount, kind: t.kind.clone() },
            });
        }
        // Moved in, not copied: a year of packages is built every night.
        for p in packages {
            events.push(Event {
                time: p.purchased_at,
                rank: rank::PURCHASE,
                id: p.package_id.clone(),
                kind: EventKind::Purchase(Box::new(p)),
            });
        }
        for e in package_events {
            let (rank, kind) = match e.kind {
                PackageEventKind::Upgrade => (
                    rank::UPGRADE,
                    EventKind::Upgrade {
                        package_id: e.package_id.clone(),
                        target: e.target_version.clone(),
                    },
                ),
                PackageEventKind::AutoRenewOn => (
                    rank::AUTO_RENEW,
                    EventKind::AutoRenew { package_id: e.package_id.clone(), on: true },
                ),
                PackageEventKind::AutoRenewOff => (
                    rank::AUTO_RENEW,
                    EventKind::AutoRenew { package_id: e.package_id.clone(), on: false },
                ),
            };
            events.push(Event { time: e.time, rank, id: e.event_id.clone(), kind });
        }
        for a in apps {
            if let Some(t) = a.disabled_at {
                events.push(Event {
                    time: t,
                    rank: rank::TIMED,
                    id: format!("app_disabled:{}", a.id),
                    kind: EventKind::AppDisabled { app_id: a.id },
                });
            }
            if let Some(t) = a.violation_at {
                events.push(Event {
                    time: t,
                    rank: rank::TIMED,
                    id: format!("violation:{}", a.id),
                    kind: EventKind::Violation { app_id: a.id },
                });
                let r = t + catalog.reclaim_days * MICROS_PER_DAY;
                // Named after the violation so that with `reclaim_days = 0` it sorts after it.
                events.push(Event {
                    time: r,
                    rank: rank::TIMED,
                    id: format!("violation_reclaim:{}", a.id),
                    kind: EventKind::AppReclaim { app_id: a.id, violation_at: t },
                });
            }
        }
        events.sort_by(|a, b| a.key().cmp(&b.key()));
        AccountEvents { events }
    }
}

/// The day being run.
#[derive(Debug, Clone, Copy)]
pub struct DayCtx<'a> {
    pub catalog: &'a Catalog,
    pub day: NaiveDate,
    /// Whether this is the epoch's run, which also processes every event before its window.
    pub epoch: bool,
}

impl DayRows {
    /// Raises a `status_events` row.
    pub fn event(
        &mut self,
        acc: &Account,
        app_id: Option<i64>,
        event: StatusEvent,
        time: Ts,
        detail: String,
    ) {
        self.status_events.push(StatusEventRow { account_id: acc.id, time, event, app_id, detail });
    }
}

/// A dynamic event: one that the state schedules (renewals, grace deadlines, reclaims).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Dynamic {
    Arrears(arrears::Due),
    Renewal(String),
}

fn next_dynamic(
    acc: &Account,
    zone: &crate::clock::Zone,
    after: (Ts, u8, &str),
) -> Option<(Ts, u8, String, Dynamic)> {
    let mut best: Option<(Ts, u8, String, Dynamic)> = None;
    let mut consider = |t: Ts, r: u8, id: String, d: Dynamic| {
        if (t, r, id.as_str()) > after
            && best.as_ref().is_none_or(|b| (t, r, &id) < (b.0, b.1, &b.2))
        {
            best = Some((t, r, id, d));
        }
    };
    if let Some((t, id, due)) = arrears::next_due(acc) {
        consider(t, rank::TIMED, id.to_string(), Dynamic::Arrears(due));
    }
    for p in &acc.packages {
        if let Some(t) = renew::renewal_time(p, zone) {
            consider(t, rank::RENEWAL, p.id.clone(), Dynamic::Renewal(p.id.clone()));
        }
    }
    best
}

/// Runs one account through day D: the window's events in order, D's deduction at D+1 00:00,
/// the bill at D+1 08:00. `usage` is the account's metered usage of D, sorted by (app, class).
/// Then the packages and cycles that no later day can use leave the state.
pub fn run_day(
    acc: &mut Account,
    events: &AccountEvents,
    usage: &[UsageDaily],
    ctx: DayCtx,
) -> DayRows {
    let rows = run_window(acc, events, usage, ctx);
    package::retire(acc, ctx.day);
    rows
}

/// [`run_day`] but for the pruning: every package and cycle stays in the state.
fn run_window(
    acc: &mut Account,
    events: &AccountEvents,
    usage: &[UsageDaily],
    ctx: DayCtx,
) -> DayRows {
    let cat = ctx.catalog;
    let zone = &cat.zone;
    let (w_start, w_end) = zone.window(ctx.day);
    let deduct_at = zone.start_of(add_days(ctx.day, 1));
    let mut rows = DayRows::default();

    // Static events of the window (the epoch's run: everything up to its window's end).
    let first = if ctx.epoch { 0 } else { events.events.partition_point(|e| e.time <= w_start) };
    let statics = events.events[first..].iter().take_while(|e| e.time <= w_end);
    // The two fixed steps of the run, as pseudo-events.
    let mut fixed = [(deduct_at, rank::DEDUCT, ""), (w_end, rank::BILL, "")].into_iter().peekable();
    let mut statics = statics.peekable();
    let mut pos: (Ts, u8, String) =
        if ctx.epoch { (Ts::MIN, 0, String::new()) } else { (w_start, u8::MAX, String::new()) };

    loop {
        let s = statics.peek().map(|e| (e.time, e.rank, e.id.as_str()));
        let f = fixed.peek().copied();
        let dy = next_dynamic(acc, zone, (pos.0, pos.1, &pos.2)).filter(|d| d.0 <= w_end);
        // Pick the smallest key of the three sources.
        let mut pick = 0u8; // 1 static, 2 fixed, 3 dynamic
        let mut key: Option<(Ts, u8, &str)> = None;
        for (i, k) in [(1u8, s), (2, f), (3, dy.as_ref().map(|d| (d.0, d.1, d.2.as_str())))] {
            if let Some(k) = k {
                if key.is_none_or(|best| k < best) {
                    key = Some(k);
                    pick = i;
                }
            }
        }
        let Some(k) = key else { break };
        pos = (k.0, k.1, k.2.to_string());
        match pick {
            1 => {
                let e = statics.next().expect("peeked");
                apply_static(acc, e, ctx, &mut rows);
            }
            2 => {
                let (t, r, _) = fixed.next().expect("peeked");
                if r == rank::DEDUCT {
                    deduct::day_end(acc, usage, ctx, &mut rows);
                } else {
                    bill::issue(acc, ctx, t, &mut rows);
                }
            }
            _ => {
                let (t, _, _, d) = dy.expect("picked");
                match d {
                    Dynamic::Arrears(due) => arrears::on_due(acc, due, t, cat, &mut rows),
                    Dynamic::Renewal(id) => renew::renew(acc, &id, t, cat, &mut rows),
                }
            }
        }
    }

    rows.account_status.push(status_row(acc));
    rows
}

fn apply_static(acc: &mut Account, e: &Event, ctx: DayCtx, rows: &mut DayRows) {
    let cat = ctx.catalog;
    match &e.kind {
        EventKind::Txn { amount, kind } => {
            acc.balance += *amount;
            if *amount > Decimal::ZERO {
                arrears::credit(acc, e.time, &format!("{kind} {}", e.id), rows);
            }
        }
        EventKind::Purchase(o) => package::purchase(acc, o, cat, rows),
        EventKind::AutoRenew { package_id, on } => {
            if package::set_auto_renew(acc, package_id, *on, e.time, &cat.zone) {
                rows.ignored.push(format!(
                    "account {}: auto-renew event {} of package {package_id}, which has ended",
                    acc.id, e.id
                ));
            }
        }
        EventKind::Upgrade { package_id, target } => {
            upgrade::upgrade(acc, &e.id, package_id, target.as_deref(), e.time, cat, rows)
        }
        EventKind::AppDisabled { app_id } => arrears::app_disabled(acc, *app_id, e.time, rows),
        EventKind::Violation { app_id } => arrears::violation(acc, *app_id, e.time, rows),
        EventKind::AppReclaim { app_id, violation_at } => {
            arrears::reclaim_app(acc, *app_id, *violation_at, e.time, &cat.zone, rows)
        }
    }
}

fn status_row(acc: &Account) -> AccountStatusRow {
    AccountStatusRow {
        account_id: acc.id,
        balance: acc.balance,
        state: acc.status,
        arrears_since: acc.arrears_since,
        grace_deadline: acc.grace_deadline,
        suspended_at: acc.suspended_at,
        reclaim_at: acc.reclaim_at,
        amount_due: (-acc.balance).max(Decimal::ZERO),
    }
}

/// An upgrade of a package that `packages` does not hold: rejected `unknown_package` with no
/// account (rules.md, Upgrades), by the run whose window holds its time.
pub fn orphan_upgrade(e: &records::PackageEvent) -> OrderRow {
    let (id, package) = (e.event_id.clone(), e.package_id.clone());
    OrderRow::new(OrderKind::Upgrade, None, e.time, id, package, e.target_version.clone())
        .rejected(OrderReason::UnknownPackage, None)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
