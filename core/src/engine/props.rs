//! Property tests of the pure core over random accounts (rules.md, Outputs invariants): every
//! billable minute is covered or charged, no package goes below zero, a bill is the rounded sum of
//! its lines, and the balance is the opening balance plus the ledger of the account's events.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::catalog::tests::catalog;
use crate::records::{self, PackageEvent, Txn};
use crate::vocab::{AccountState, OrderStatus};

const DAYS: i64 = 45;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 2, 20).unwrap()
}

/// A random order: (kind, version, app, purchase day, paid cents, auto_renew, of beauty_ar
/// rather than rtc_engine: not a TRTC product, not upgradable).
type OrderSpec = (u8, u8, Option<i64>, i64, i64, Option<bool>, bool);

#[derive(Debug, Clone)]
struct Spec {
    monthly: bool,
    balance_cents: i64,
    orders: Vec<OrderSpec>,
    upgrades: Vec<(usize, i64, u8)>,
    /// Auto-renew events: (package, day, on).
    toggles: Vec<(usize, i64, bool)>,
    txns: Vec<(i64, i64)>,
    usage: Vec<(i64, i64, usize, i64)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        0i64..20_000,
        prop::collection::vec(
            (
                0u8..3,
                0u8..4,
                prop::option::of(11i64..13),
                -40i64..DAYS,
                0i64..12_000,
                prop::option::of(any::<bool>()),
                prop::bool::weighted(0.2),
            ),
            0..6,
        ),
        prop::collection::vec((0usize..6, 0i64..DAYS, 0u8..4), 0..3),
        prop::collection::vec((0usize..6, -5i64..DAYS, any::<bool>()), 0..3),
        prop::collection::vec((0i64..DAYS * 24, -3_000i64..20_000), 0..6),
        prop::collection::vec((0i64..DAYS, 11i64..13, 0usize..2, 0i64..40_000), 0..40),
    )
        .prop_map(|(monthly, balance_cents, orders, upgrades, toggles, txns, usage)| Spec {
            monthly,
            balance_cents,
            orders,
            upgrades,
            toggles,
            txns,
            usage,
        })
}

const VERSIONS: [&str; 4] = ["free", "lite", "standard", "pro"];

/// Runs the spec's days; `retire`: as [`run_day`] does, or keeping every package in the state.
fn run(s: &Spec, retire: bool) -> (Account, Vec<DayRows>, Decimal) {
    let cat = catalog();
    let z = cat.zone;
    let at = |day: i64, hour: i64| {
        z.start_of(add_days(start(), day)) + hour * crate::clock::MICROS_PER_HOUR
    };
    let account = records::AccountRecord {
        id: 1,
        mode: if s.monthly { BillingMode::Monthly } else { BillingMode::Daily },
        opening_balance: Decimal::new(s.balance_cents, 2),
        opening_time: at(-10, 0),
    };
    let orders: Vec<PackageOrder> = s
        .orders
        .iter()
        .enumerate()
        .map(|(i, &(kind, v, app, day, paid, ar, beauty))| {
            let kind = ["free", "monthly", "topup"][kind as usize];
            PackageOrder {
                package_id: format!("p{i}"),
                account_id: 1,
                app_id: app,
                kind: kind.into(),
                product: if beauty { "beauty_ar" } else { "rtc_engine" }.into(),
                version: if kind == "topup" {
                    ["25k", "25k", "x", "25k"][v as usize]
                } else {
                    VERSIONS[v as usize]
                }
                .into(),
                quantity: Some(v as i64),
                purchased_at: at(day, 3),
                paid_price: Decimal::new(paid, 2),
                auto_renew: ar,
            }
        })
        .collect();
    let upgrades = s.upgrades.iter().enumerate().map(|(i, &(p, day, v))| PackageEvent {
        event_id: format!("u{i}"),
        package_id: format!("p{p}"),
        time: at(day, 5),
        kind: records::PackageEventKind::Upgrade,
        target_version: Some(VERSIONS[v as usize].into()),
    });
    let toggles = s.toggles.iter().enumerate().map(|(i, &(p, day, on))| PackageEvent {
        event_id: format!("a{i}"),
        package_id: format!("p{p}"),
        time: at(day, 1),
        kind: if on {
            records::PackageEventKind::AutoRenewOn
        } else {
            records::PackageEventKind::AutoRenewOff
        },
        target_version: None,
    });
    let pevents: Vec<PackageEvent> = upgrades.chain(toggles).collect();
    let txns: Vec<Txn> = s
        .txns
        .iter()
        .enumerate()
        .map(|(i, &(h, cents))| Txn {
            id: format!("t{i}"),
            account_id: 1,
            time: at(0, h),
            kind: "adjustment".into(),
            amount: Decimal::new(cents, 2),
        })
        .collect();
    let ev = AccountEvents::build(
        &account,
        &[],
        &txns.iter().collect::<Vec<_>>(),
        orders,
        &pevents.iter().collect::<Vec<_>>(),
        &cat,
    );
    let mut by_day: BTreeMap<(i64, i64, usize), i64> = BTreeMap::new();
    for &(day, app, class, m) in &s.usage {
        *by_day.entry((day, app, class)).or_default() += m;
    }
    let mut acc = Account::open(&account);
    let mut days = Vec::new();
    for n in 0..DAYS {
        let day = add_days(start(), n);
        let usage: Vec<UsageDaily> = by_day
            .range((n, i64::MIN, 0)..=(n, i64::MAX, usize::MAX))
            .map(|(&(_, app, class), &m)| UsageDaily {
                account_id: 1,
                app_id: app,
                class,
                slices: 1,
                seconds: m * 60,
                billable_minutes: m,
                package_minutes: m * cat.classes[class].ratio,
            })
            .collect();
        let ctx = DayCtx { catalog: &cat, day, epoch: n == 0 };
        let rows = if retire {
            run_day(&mut acc, &ev, &usage, ctx)
        } else {
            run_window(&mut acc, &ev, &usage, ctx)
        };
        // billable = covered + overage, per (app, class)
        for u in &usage {
            let covered: i64 = rows
                .deductions
                .iter()
                .filter(|d| d.app_id == u.app_id && d.class == u.class)
                .map(|d| d.usage_minutes)
                .sum();
            let over: i64 = rows
                .charges
                .iter()
                .filter(|c| c.app_id == u.app_id && c.class == u.class)
                .map(|c| c.minutes)
                .sum();
            assert_eq!(covered + over, u.billable_minutes, "{day} {u:?}");
        }
        for d in &rows.deductions {
            assert_eq!(d.package_minutes, d.usage_minutes * cat.classes[d.class].ratio);
            assert!(d.usage_minutes > 0 && d.remaining_after >= 0);
        }
        days.push(rows);
    }
    // The ledger: opening + transactions after opening − charged orders − bills.
    let mut ledger = account.opening_balance + txns.iter().map(|t| t.amount).sum::<Decimal>();
    for r in &days {
        for o in r
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::Accepted && o.time > account.opening_time)
        {
            ledger -= o.amount.unwrap();
        }
        for b in &r.bills {
            ledger -= b.amount;
        }
    }
    (acc, days, ledger)
}

proptest! {
    // Retired packages' paths need many accounts to be hit (a run takes about 0.1 ms).
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn invariants_hold_on_random_accounts(s in spec()) {
        let (acc, days, ledger) = run(&s, true);
        prop_assert_eq!(acc.balance, ledger);
        for p in &acc.packages {
            for c in &p.cycles {
                prop_assert!(c.minutes_left >= 0 && c.minutes_left <= c.minutes_total);
            }
        }
        for r in &days {
            for b in &r.bills {
                let sum: Decimal = r.bill_lines.iter().filter(|l| l.bill_id == b.bill_id).map(|l| l.amount).sum();
                prop_assert_eq!(b.amount, bill::round_cents(sum));
                prop_assert_eq!(b.balance_after, b.balance_before - b.amount);
            }
            for p in &r.package_balances {
                prop_assert!(p.minutes_left >= 0);
                prop_assert_eq!(p.minutes_used, p.minutes_total - p.minutes_left);
            }
            let s = &r.account_status[0];
            prop_assert_eq!(s.amount_due, (-s.balance).max(Decimal::ZERO));
            prop_assert_eq!(s.arrears_since.is_some(), s.state != AccountState::Current);
        }
        // the core is pure: the same inputs give the same rows
        let (_, again, _) = run(&s, true);
        prop_assert_eq!(&days, &again);
        // what leaves the state (package::retire) changes no row
        let (whole, kept, _) = run(&s, false);
        prop_assert_eq!(days, kept);
        prop_assert_eq!(acc.balance, whole.balance);
        prop_assert!(acc.packages.len() <= whole.packages.len());
    }
}
