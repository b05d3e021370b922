//! Hand-computed cases of rules.md, Packages to Arrears and suspension on the pure core: one
//! account walked through days.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::catalog::tests::catalog;
use crate::records::{self, App, PackageEvent, Txn};
use crate::vocab::{AccountState, OrderKind, StatusEvent};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}
fn t(s: &str) -> Ts {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
}
fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}
fn cat() -> Catalog {
    catalog()
}

struct Case {
    cat: Catalog,
    account: records::AccountRecord,
    apps: Vec<App>,
    txns: Vec<Txn>,
    orders: Vec<PackageOrder>,
    pevents: Vec<PackageEvent>,
}

fn case(mode: BillingMode, balance: &str) -> Case {
    Case {
        cat: cat(),
        account: records::AccountRecord {
            id: 1,
            mode,
            opening_balance: dec(balance),
            opening_time: t("2026-01-01T00:00:00Z"),
        },
        apps: vec![],
        txns: vec![],
        orders: vec![],
        pevents: vec![],
    }
}

/// A package order; times are `+08:00` local strings for readability.
fn order(
    id: &str,
    kind: &str,
    product: &str,
    version: &str,
    app: Option<i64>,
    at: &str,
    paid: &str,
) -> PackageOrder {
    PackageOrder {
        package_id: id.into(),
        account_id: 1,
        app_id: app,
        kind: kind.into(),
        product: product.into(),
        version: version.into(),
        quantity: Some(1),
        purchased_at: t(at),
        paid_price: dec(paid),
        auto_renew: None,
    }
}

fn use_(app: i64, class: usize, minutes: i64) -> UsageDaily {
    UsageDaily {
        account_id: 1,
        app_id: app,
        class,
        slices: 1,
        seconds: minutes * 60,
        billable_minutes: minutes,
        package_minutes: 0,
    }
}

impl Case {
    /// Runs days `from..=to` (the first is the epoch), with `usage(day)` for each.
    fn run(
        &self,
        from: &str,
        to: &str,
        usage: impl Fn(NaiveDate) -> Vec<UsageDaily>,
    ) -> (Account, Vec<DayRows>) {
        let apps: Vec<&App> = self.apps.iter().collect();
        let txns: Vec<&Txn> = self.txns.iter().collect();
        let pev: Vec<&PackageEvent> = self.pevents.iter().collect();
        let ev =
            AccountEvents::build(&self.account, &apps, &txns, self.orders.clone(), &pev, &self.cat);
        let mut acc = Account::open(&self.account);
        let mut out = Vec::new();
        let (mut day, to) = (d(from), d(to));
        while day <= to {
            let ctx = DayCtx { catalog: &self.cat, day, epoch: day == d(from) };
            out.push(run_day(&mut acc, &ev, &usage(day), ctx));
            day = add_days(day, 1);
        }
        (acc, out)
    }
}

fn all<T: Clone>(days: &[DayRows], f: impl Fn(&DayRows) -> &Vec<T>) -> Vec<T> {
    days.iter().flat_map(|r| f(r).clone()).collect()
}

#[test]
fn deduction_order_kind_scope_end_purchase_time_id() {
    // rules.md, Deduction order: step 2: free, monthly, top-up; app before account; earlier end;
    // earlier purchase; id.
    let mut c = case(BillingMode::Daily, "1000.00");
    c.orders = vec![
        order("top-b", "topup", "rtc_engine", "25k", None, "2026-02-01T01:00:00Z", "24.00"),
        order("top-a", "topup", "rtc_engine", "25k", None, "2026-02-01T01:00:00Z", "24.00"),
        order("top-app", "topup", "rtc_engine", "25k", Some(11), "2026-02-02T01:00:00Z", "24.00"),
        order("mon-acct", "monthly", "rtc_engine", "lite", None, "2026-02-01T01:00:00Z", "9.90"),
        order("free-app", "free", "rtc_engine", "free", Some(11), "2026-02-01T01:00:00Z", "0.00"),
    ];
    // Day 2026-02-10: 10000 free + 50000 monthly + 25000 app top-up + 25000 + 25000.
    let (_, rows) = c.run("2026-02-10", "2026-02-10", |_| vec![use_(11, 0, 130_000)]);
    let ded: Vec<(String, i64)> =
        rows[0].deductions.iter().map(|r| (r.package_id.clone(), r.usage_minutes)).collect();
    // deductions are sorted by package id in the output; check the amounts each took
    let get = |id: &str| ded.iter().find(|x| x.0 == id).map(|x| x.1).unwrap_or(0);
    assert_eq!(get("free-app"), 10_000);
    assert_eq!(get("mon-acct"), 50_000);
    assert_eq!(get("top-app"), 25_000, "app scope before account scope");
    assert_eq!(get("top-a"), 25_000, "same end and purchase time: id order");
    assert_eq!(get("top-b"), 20_000);
    assert!(rows[0].charges.is_empty());
}

#[test]
fn earlier_cycle_end_first_and_no_minute_split() {
    let mut c = case(BillingMode::Daily, "1000.00");
    c.orders = vec![
        // bought later but ends earlier (2027-03-01 vs 2027-04-01)
        order("top-late", "topup", "rtc_engine", "25k", None, "2026-03-02T01:00:00Z", "24.00"),
        order("top-early", "topup", "rtc_engine", "25k", None, "2026-02-27T01:00:00Z", "24.00"),
    ];
    let (acc, rows) = c.run("2026-03-10", "2026-03-11", |day| {
        if day == d("2026-03-10") {
            vec![use_(11, 0, 24_997)]
        } else {
            vec![use_(11, 1, 2)]
        }
    });
    // Day 1: top-early (ends 2027-03-01) takes all 24997 audio minutes, 3 left.
    assert_eq!(rows[0].deductions.len(), 1);
    assert_eq!(rows[0].deductions[0].package_id, "top-early");
    // Day 2: 2 video_hd minutes (ratio 4): top-early's 3 minutes cover none (no split),
    // top-late covers both and loses 8.
    let d2 = &rows[1].deductions;
    assert_eq!(d2.len(), 1);
    assert_eq!(
        (
            d2[0].package_id.as_str(),
            d2[0].usage_minutes,
            d2[0].package_minutes,
            d2[0].remaining_after
        ),
        ("top-late", 2, 8, 24_992)
    );
    let early = acc.packages.iter().find(|p| p.id == "top-early").unwrap();
    assert_eq!(early.cycles[0].minutes_left, 3);
}

#[test]
fn overage_is_priced_in_force_on_the_usage_day() {
    // Catalog: audio 0.99 until 2026-03-14, 0.89 from 2026-03-15.
    let c = case(BillingMode::Daily, "100.00");
    let (acc, rows) = c.run("2026-03-14", "2026-03-15", |_| vec![use_(11, 0, 1000)]);
    assert_eq!(rows[0].charges[0].amount, dec("0.99"));
    assert_eq!(rows[1].charges[0].amount, dec("0.89"));
    // Daily bills at D+1 08:00 (+08:00): 2026-03-15T00:00Z and 2026-03-16T00:00Z.
    let bills = all(&rows, |r| &r.bills);
    assert_eq!(
        bills.iter().map(|b| (b.bill_id.as_str(), b.issued_at)).collect::<Vec<_>>(),
        vec![
            ("daily-1-20260314", t("2026-03-15T00:00:00Z")),
            ("daily-1-20260315", t("2026-03-16T00:00:00Z"))
        ]
    );
    assert_eq!(acc.balance, dec("98.12"));
}

#[test]
fn monthly_bill_has_a_line_per_price_and_one_rounding() {
    // rules.md, Bills: lines per (app, class, unit price) summed over the month; issued on the 1st
    // 08:00.
    let c = case(BillingMode::Monthly, "100.00");
    let (acc, rows) = c.run("2026-03-13", "2026-03-31", |_| vec![use_(11, 0, 1), use_(12, 0, 1)]);
    let bills = all(&rows, |r| &r.bills);
    assert_eq!(bills.len(), 1);
    let b = &bills[0];
    assert_eq!(b.bill_id, "monthly-1-20260301");
    assert_eq!((b.period_start, b.period_end), (d("2026-03-01"), d("2026-04-01")));
    assert_eq!(b.issued_at, t("2026-04-01T00:00:00Z"));
    let lines = all(&rows, |r| &r.bill_lines);
    // per app: 2 days at 0.99 (13, 14), 17 days at 0.89 (15..31)
    assert_eq!(lines.len(), 4);
    let l: Vec<(i64, Decimal, i64, Decimal)> =
        lines.iter().map(|l| (l.app_id, l.unit_price_per_1000, l.minutes, l.amount)).collect();
    assert!(l.contains(&(11, dec("0.99"), 2, dec("0.00198"))));
    assert!(l.contains(&(11, dec("0.89"), 17, dec("0.01513"))));
    // sum 2 × (0.00198 + 0.01513) = 0.03422 → 0.03 (per-line rounding would give 0.04)
    assert_eq!(b.amount, dec("0.03"));
    assert_eq!(acc.balance, dec("99.97"));
}

fn arrears_case(recharge_at: &str) -> (Account, Vec<DayRows>) {
    // 1000 audio minutes a day at 0.99 → a 0.99 bill at D+1 08:00; balance 0.50.
    let mut c = case(BillingMode::Daily, "0.50");
    c.txns = vec![Txn {
        id: "r1".into(),
        account_id: 1,
        time: t(recharge_at),
        kind: "recharge".into(),
        amount: dec("10.00"),
    }];
    c.run("2026-02-10", "2026-02-13", |day| {
        if day == d("2026-02-10") {
            vec![use_(11, 0, 1000)]
        } else {
            vec![]
        }
    })
}

/// Account-level and renewal events (free_quota_exhausted is checked on its own).
fn events(rows: &[DayRows]) -> Vec<(&'static str, Ts)> {
    all(rows, |r| &r.status_events)
        .iter()
        .filter(|e| e.event != StatusEvent::FreeQuotaExhausted)
        .map(|e| (e.event.as_str(), e.time))
        .collect()
}

#[test]
fn arrears_cleared_one_second_before_and_at_the_deadline() {
    // Bill at 2026-02-11T00:00Z leaves −0.49; deadline +24 h = 2026-02-12T00:00Z.
    for at in ["2026-02-11T23:59:59Z", "2026-02-12T00:00:00Z"] {
        let (acc, rows) = arrears_case(at);
        assert_eq!(
            events(&rows),
            vec![("arrears_entered", t("2026-02-11T00:00:00Z")), ("arrears_cleared", t(at))],
            "{at}"
        );
        assert_eq!(acc.status, AccountState::Current);
        assert_eq!(rows[0].account_status[0].grace_deadline, Some(t("2026-02-12T00:00:00Z")));
        assert_eq!(rows[0].account_status[0].amount_due, dec("0.49"));
        // rules.md, Arrears and suspension: overage with no paid package: free_quota_exhausted at
        // 00:00 of the day, once.
        let fq: Vec<_> = all(&rows, |r| &r.status_events)
            .into_iter()
            .filter(|e| e.event == StatusEvent::FreeQuotaExhausted)
            .collect();
        assert_eq!((fq.len(), fq[0].time, fq[0].app_id), (1, t("2026-02-09T16:00:00Z"), Some(11)));
    }
}

#[test]
fn arrears_one_second_late_is_suspended_then_restored() {
    let (acc, rows) = arrears_case("2026-02-12T00:00:01Z");
    assert_eq!(
        events(&rows),
        vec![
            ("arrears_entered", t("2026-02-11T00:00:00Z")),
            ("suspended", t("2026-02-12T00:00:00Z")),
            ("restored", t("2026-02-12T00:00:01Z")),
        ]
    );
    assert_eq!(acc.status, AccountState::Current);
    // run of 2026-02-11 (window ending 2026-02-12T00:00Z) shows the suspension
    let s = &rows[1].account_status[0];
    assert_eq!(
        (s.state.as_str(), s.suspended_at, s.reclaim_at),
        ("suspended", Some(t("2026-02-12T00:00:00Z")), Some(t("2026-04-13T00:00:00Z")))
    );
    assert_eq!(rows[2].account_status[0].arrears_since, None);
}

#[test]
fn reclaimed_sixty_days_to_the_microsecond_and_packages_cleared() {
    let mut c = case(BillingMode::Daily, "0.50");
    c.orders =
        vec![order("top", "topup", "rtc_engine", "25k", Some(12), "2025-12-01T00:00:00Z", "24.00")];
    // suspended 2026-02-12T00:00Z → reclaim_due 2026-04-13T00:00Z, in the run of 2026-04-12.
    let (acc, rows) = c.run("2026-02-10", "2026-04-12", |day| {
        if day == d("2026-02-10") {
            vec![use_(11, 0, 1000)]
        } else {
            vec![]
        }
    });
    let ev = events(&rows);
    assert_eq!(ev.last(), Some(&("reclaim_due", t("2026-04-13T00:00:00Z"))));
    assert_eq!(rows[rows.len() - 2].account_status[0].state.as_str(), "suspended");
    assert_eq!(rows.last().unwrap().account_status[0].state.as_str(), "reclaimed");
    assert_eq!(acc.packages[0].cycles[0].minutes_left, 0);
}

#[test]
fn renewal_at_list_price_then_failure_on_low_balance() {
    let mut c = case(BillingMode::Daily, "15.00");
    // bought 2026-02-10 10:00 +08:00 at a discount (5.00): cycle [02-10, 03-10), renews at
    // 2026-03-09 00:00 +08:00 for 9.90 (list); next renewal at 2026-04-09 00:00 fails (0.10 left).
    c.orders = vec![order(
        "mon",
        "monthly",
        "rtc_engine",
        "lite",
        Some(11),
        "2026-02-10T02:00:00Z",
        "5.00",
    )];
    let (acc, rows) = c.run("2026-02-10", "2026-04-10", |_| vec![]);
    let orders = all(&rows, |r| &r.orders);
    let renewals: Vec<_> = orders.iter().filter(|o| o.kind == OrderKind::Renewal).collect();
    assert_eq!(renewals.len(), 2);
    assert_eq!(
        (renewals[0].order_id.as_str(), renewals[0].status.as_str(), renewals[0].amount),
        ("mon@2026-03-10", "accepted", Some(dec("9.90")))
    );
    assert_eq!(renewals[0].time, t("2026-03-08T16:00:00Z"));
    assert_eq!(
        (renewals[0].cycle_start, renewals[0].cycle_end),
        (Some(d("2026-03-10")), Some(d("2026-04-10")))
    );
    assert_eq!(
        (renewals[1].status.as_str(), renewals[1].reason.map(|r| r.as_str())),
        ("rejected", Some("insufficient_balance"))
    );
    assert_eq!(events(&rows), vec![("renewal_failed", t("2026-04-08T16:00:00Z"))]);
    assert_eq!(acc.balance, dec("0.10"));
    // it ends with its cycle: no package balance on 2026-04-10
    assert!(rows.last().unwrap().package_balances.is_empty());
}

#[test]
fn upgrade_prorates_price_from_the_discounted_base_and_minutes() {
    let mut c = case(BillingMode::Daily, "200.00");
    // cycle [2026-03-01, 2026-04-01): 31 days; upgrade on 2026-03-16 → 16 days remaining.
    c.orders = vec![order(
        "mon",
        "monthly",
        "rtc_engine",
        "lite",
        Some(11),
        "2026-03-01T02:00:00Z",
        "5.00",
    )];
    c.pevents = vec![PackageEvent {
        event_id: "up1".into(),
        package_id: "mon".into(),
        time: t("2026-03-16T02:00:00Z"),
        kind: PackageEventKind::Upgrade,
        target_version: Some("standard".into()),
    }];
    let (acc, rows) = c.run("2026-03-01", "2026-03-16", |_| vec![use_(11, 0, 1000)]);
    let up = all(&rows, |r| &r.orders).into_iter().find(|o| o.kind == OrderKind::Upgrade).unwrap();
    // (99.00 − 5.00) × 16/31 = 48.516 → 48.52; (250000 − 50000) × 16/31 = 103225.8 → 103225
    assert_eq!(
        (up.status.as_str(), up.amount, up.minutes_added),
        ("accepted", Some(dec("48.52")), Some(103_225))
    );
    let p = &acc.packages[0];
    assert_eq!(
        (p.cycles[0].version.as_str(), p.cycles[0].base, p.cycles[0].minutes_total),
        ("standard", dec("99.00"), 153_225)
    );
    // 16 days of 1000 minutes used, none overage
    assert_eq!(p.cycles[0].minutes_left, 153_225 - 16_000);
    assert_eq!(acc.balance, dec("200.00") - dec("5.00") - dec("48.52"));
}

#[test]
fn purchase_rejections_in_order() {
    let mut c = case(BillingMode::Daily, "10.00");
    let mut q0 = order("q0", "topup", "rtc_engine", "25k", None, "2026-03-01T03:00:00Z", "24.00");
    q0.quantity = Some(0);
    let mut bad_kind =
        order("k", "weekly", "rtc_engine", "lite", None, "2026-03-01T03:00:00Z", "1.00");
    bad_kind.quantity = None;
    c.orders = vec![
        order("m1", "monthly", "rtc_engine", "lite", Some(11), "2026-03-01T01:00:00Z", "9.90"),
        order("m2", "monthly", "rtc_engine", "standard", Some(11), "2026-03-05T01:00:00Z", "0.00"),
        order("m3", "monthly", "rtc_engine", "lite", Some(12), "2026-03-05T01:00:00Z", "9.90"),
        order("x", "monthly", "rtc_engine", "ultra", None, "2026-03-01T02:00:00Z", "1.00"),
        order("t", "topup", "call", "25k", None, "2026-03-01T02:00:00Z", "1.00"),
        q0,
        bad_kind,
    ];
    let (_, rows) = c.run("2026-03-01", "2026-03-05", |_| vec![]);
    let got: Vec<(String, &str, Option<&str>)> = all(&rows, |r| &r.orders)
        .iter()
        .map(|o| (o.order_id.clone(), o.status.as_str(), o.reason.map(|r| r.as_str())))
        .collect();
    let want = |id: &str| got.iter().find(|g| g.0 == id).map(|g| (g.1, g.2)).unwrap();
    assert_eq!(want("m1"), ("accepted", None));
    assert_eq!(want("m2"), ("rejected", Some("overlapping_monthly")));
    assert_eq!(want("m3"), ("rejected", Some("insufficient_balance")), "0.10 left");
    assert_eq!(want("x"), ("rejected", Some("unknown_version")));
    assert_eq!(want("t"), ("rejected", Some("unknown_version")), "top-ups are rtc_engine only");
    assert_eq!(want("q0"), ("rejected", Some("invalid_quantity")));
    assert_eq!(want("k"), ("rejected", Some("unknown_version")));
}

fn upgrade_event(id: &str, pkg: &str, at: &str, target: &str) -> PackageEvent {
    PackageEvent {
        event_id: id.into(),
        package_id: pkg.into(),
        time: t(at),
        kind: PackageEventKind::Upgrade,
        target_version: Some(target.into()),
    }
}

#[test]
fn upgrade_on_the_first_and_last_day_of_a_cycle_and_to_each_higher_rank() {
    // cycle [2026-03-01, 2026-04-01), 31 days, bought at list (9.90).
    let mut c = case(BillingMode::Daily, "1000.00");
    c.orders = vec![order(
        "mon",
        "monthly",
        "rtc_engine",
        "lite",
        Some(11),
        "2026-03-01T02:00:00Z",
        "9.90",
    )];
    // first day (U = 03-01, 31 of 31 days): lite → standard: 89.10, 200000 minutes
    // last day (U = 03-31, 1 of 31): standard → pro: (359 − 99) × 1/31 = 8.387 → 8.39,
    // (1000000 − 250000) × 1/31 = 24193.5 → 24193
    c.orders[0].auto_renew = Some(false);
    c.pevents = vec![
        upgrade_event("u1", "mon", "2026-03-01T03:00:00Z", "standard"),
        upgrade_event("u2", "mon", "2026-03-31T03:00:00Z", "pro"),
    ];
    let (acc, rows) = c.run("2026-03-01", "2026-03-31", |_| vec![]);
    let ups: Vec<_> =
        all(&rows, |r| &r.orders).into_iter().filter(|o| o.kind == OrderKind::Upgrade).collect();
    assert_eq!(
        ups.iter().map(|u| (u.amount, u.minutes_added)).collect::<Vec<_>>(),
        vec![(Some(dec("89.10")), Some(200_000)), (Some(dec("8.39")), Some(24_193))]
    );
    let last = all(&rows, |r| &r.package_balances).pop().unwrap();
    assert_eq!((last.version.as_str(), last.minutes_total), ("pro", 50_000 + 200_000 + 24_193));
    assert_eq!(acc.balance, dec("1000.00") - dec("9.90") - dec("89.10") - dec("8.39"));
    // Its last cycle over and no renewal: only what an upgrade of it would be told is kept.
    assert!(acc.packages.is_empty());
    assert_eq!(acc.retired.ids["mon"], (Kind::Monthly, true));
}

#[test]
fn upgrade_rejections_in_order() {
    let mut c = case(BillingMode::Daily, "20.00");
    c.orders = vec![
        order("mon", "monthly", "rtc_engine", "lite", Some(11), "2026-03-01T02:00:00Z", "9.90"),
        order("bar", "monthly", "beauty_ar", "standard", Some(11), "2026-03-01T02:00:00Z", "0.00"),
        order("top", "topup", "rtc_engine", "25k", None, "2026-03-01T02:00:00Z", "0.00"),
        order("old", "monthly", "rtc_engine", "lite", Some(12), "2025-11-01T02:00:00Z", "9.90"),
        order("gone", "free", "rtc_engine", "free", Some(12), "2025-11-01T02:00:00Z", "0.00"),
    ];
    c.orders[3].auto_renew = Some(false);
    c.pevents = vec![
        upgrade_event("e1", "nope", "2026-03-02T03:00:00Z", "pro"),
        upgrade_event("e2", "bar", "2026-03-02T03:00:00Z", "pro"),
        upgrade_event("e3", "top", "2026-03-02T03:00:00Z", "pro"),
        upgrade_event("e4", "old", "2026-03-02T03:00:00Z", "pro"),
        upgrade_event("e5", "mon", "2026-03-02T03:00:00Z", "free"),
        upgrade_event("e6", "mon", "2026-03-02T03:00:00Z", "lite"),
        upgrade_event("e7", "mon", "2026-03-02T03:00:00Z", "ultra"),
        // (99.00 − 9.90) × 30/31 = 86.23 > 10.10 left
        upgrade_event("e8", "mon", "2026-03-02T03:00:00Z", "standard"),
        // Both retired after the first day (package::retire): the reasons stay.
        upgrade_event("e9", "gone", "2026-03-02T03:00:00Z", "pro"),
    ];
    let (acc, rows) = c.run("2026-03-01", "2026-03-02", |_| vec![]);
    let got: BTreeMap<String, (Option<&str>, Option<Decimal>)> = all(&rows, |r| &r.orders)
        .iter()
        .filter(|o| o.kind == OrderKind::Upgrade)
        .map(|o| (o.order_id.clone(), (o.reason.map(|r| r.as_str()), o.amount)))
        .collect();
    assert_eq!(got["e1"], (Some("unknown_package"), None));
    assert_eq!(got["e2"].0, Some("not_upgradable"));
    assert_eq!(got["e3"].0, Some("not_upgradable"));
    assert_eq!(got["e4"].0, Some("not_in_force"));
    assert_eq!(got["e5"].0, Some("not_higher_version"));
    assert_eq!(got["e6"].0, Some("not_higher_version"));
    assert_eq!(got["e7"].0, Some("not_higher_version"));
    assert_eq!(got["e8"], (Some("insufficient_balance"), Some(dec("86.23"))));
    assert_eq!(got["e9"].0, Some("not_upgradable"));
    assert!(acc.retired.ids.contains_key("old") && acc.retired.ids.contains_key("gone"));
    assert_eq!(acc.balance, dec("10.10"));
}

#[test]
fn a_renewed_cycle_keeps_its_version_when_the_old_cycle_is_upgraded_on_its_last_day() {
    let mut c = case(BillingMode::Daily, "1000.00");
    // cycle [03-01, 04-01); renewal at 03-31 00:00 (+08:00) as lite; upgrade later on 03-31.
    c.orders = vec![order(
        "mon",
        "monthly",
        "rtc_engine",
        "lite",
        Some(11),
        "2026-03-01T02:00:00Z",
        "9.90",
    )];
    c.pevents = vec![upgrade_event("u", "mon", "2026-03-31T03:00:00Z", "standard")];
    let (acc, rows) = c.run("2026-03-01", "2026-04-01", |_| vec![]);
    let seen: Vec<_> = all(&rows, |r| &r.package_balances)
        .into_iter()
        .map(|b| (b.cycle_start, b.version, b.minutes_total))
        .skip(30)
        .collect();
    assert_eq!(
        seen,
        vec![
            (d("2026-03-01"), "standard".to_string(), 50_000 + 200_000 / 31),
            (d("2026-04-01"), "lite".to_string(), 50_000),
        ]
    );
    // The ended cycle left the state; the renewal count goes on from the last cycle's start.
    let p = &acc.packages[0];
    assert_eq!((p.cycles.len(), p.next_cycle()), (1, 2));
}

#[test]
fn monthly_account_enters_arrears_at_the_monthly_bill() {
    // rules.md, Arrears and suspension with a monthly account: the bill on 2026-04-01 08:00
    // (+08:00), 1000 minutes at 0.89 (the price from 03-15), leaves −0.39; a recharge after the
    // deadline restores it.
    let mut c = case(BillingMode::Monthly, "0.50");
    c.txns = vec![Txn {
        id: "r".into(),
        account_id: 1,
        time: t("2026-04-02T00:00:01Z"),
        kind: "recharge".into(),
        amount: dec("1.00"),
    }];
    let (acc, rows) = c.run("2026-03-30", "2026-04-02", |day| {
        if day == d("2026-03-31") {
            vec![use_(11, 0, 1000)]
        } else {
            vec![]
        }
    });
    assert_eq!(
        events(&rows),
        vec![
            ("arrears_entered", t("2026-04-01T00:00:00Z")),
            ("suspended", t("2026-04-02T00:00:00Z")),
            ("restored", t("2026-04-02T00:00:01Z")),
        ]
    );
    assert!(rows[0].bills.is_empty() && rows[1].bills.len() == 1);
    assert_eq!(acc.balance, dec("0.61"));
}

#[test]
fn further_bills_in_arrears_and_other_debits_change_nothing() {
    let mut c = case(BillingMode::Daily, "0.50");
    // a refund drives the balance below 0 without starting arrears
    c.txns = vec![Txn {
        id: "f".into(),
        account_id: 1,
        time: t("2026-02-10T01:00:00Z"),
        kind: "refund".into(),
        amount: dec("-1.00"),
    }];
    let (acc, rows) = c.run("2026-02-10", "2026-02-10", |_| vec![]);
    assert!(events(&rows).is_empty());
    assert_eq!((acc.status, acc.balance), (AccountState::Current, dec("-0.50")));
    // with usage, the 0.00 bill (1 minute = 0.00099) is still a bill: arrears
    let (_, rows) = c.run("2026-02-10", "2026-02-11", |_| vec![use_(11, 0, 1)]);
    assert_eq!(
        all(&rows, |r| &r.bills).iter().map(|b| b.amount).collect::<Vec<_>>(),
        vec![dec("0.00"), dec("0.00")]
    );
    assert_eq!(
        events(&rows),
        vec![
            ("arrears_entered", t("2026-02-11T00:00:00Z")),
            ("suspended", t("2026-02-12T00:00:00Z"))
        ]
    );
}

/// `arrears_case` (bill of 0.99 at 2026-02-11T00:00Z leaves −0.49, recharge only in March)
/// under other grace and reclaim periods.
fn no_grace_case(grace_hours: i64, reclaim_days: i64) -> (Account, Vec<DayRows>) {
    let mut c = case(BillingMode::Daily, "0.50");
    c.cat.grace_hours = grace_hours;
    c.cat.reclaim_days = reclaim_days;
    c.orders =
        vec![order("top", "topup", "rtc_engine", "25k", Some(12), "2025-12-01T00:00:00Z", "24.00")];
    c.run("2026-02-10", "2026-02-13", |day| {
        if day == d("2026-02-10") {
            vec![use_(11, 0, 1000)]
        } else {
            vec![]
        }
    })
}

#[test]
fn with_no_grace_the_bill_suspends_at_its_own_instant() {
    // rules.md, Choices: grace_hours = 0 → the deadline is the bill's instant, suspended then;
    // reclaim 60 days later (2026-04-12T00:00Z), outside the days run.
    let (acc, rows) = no_grace_case(0, 60);
    let bill = t("2026-02-11T00:00:00Z");
    assert_eq!(events(&rows), vec![("arrears_entered", bill), ("suspended", bill)]);
    let s = &rows[0].account_status[0];
    assert_eq!(
        (s.state.as_str(), s.grace_deadline, s.suspended_at, s.reclaim_at),
        ("suspended", Some(bill), Some(bill), Some(t("2026-04-12T00:00:00Z")))
    );
    assert_eq!(acc.status, AccountState::Suspended);
}

#[test]
fn with_no_grace_and_one_reclaim_day_the_account_is_reclaimed_a_day_after_the_bill() {
    let (acc, rows) = no_grace_case(0, 1);
    let bill = t("2026-02-11T00:00:00Z");
    // reclaim_due at 2026-02-12T00:00Z = the end of the window of 2026-02-11 (rows[1])
    assert_eq!(
        events(&rows),
        vec![
            ("arrears_entered", bill),
            ("suspended", bill),
            ("reclaim_due", t("2026-02-12T00:00:00Z"))
        ]
    );
    assert_eq!(
        (rows[0].account_status[0].state.as_str(), rows[1].account_status[0].state.as_str()),
        ("suspended", "reclaimed")
    );
    assert_eq!(acc.packages[0].cycles[0].minutes_left, 0);
}

#[test]
fn with_no_reclaim_period_the_account_is_reclaimed_at_its_suspension() {
    for grace in [0, 24] {
        let (acc, rows) = no_grace_case(grace, 0);
        let deadline = t("2026-02-11T00:00:00Z") + grace * crate::clock::MICROS_PER_HOUR;
        let ev = events(&rows);
        assert_eq!(ev[1..], [("suspended", deadline), ("reclaim_due", deadline)], "grace {grace}");
        assert_eq!(
            (acc.status, acc.packages[0].cycles[0].minutes_left, acc.packages[0].auto_renew),
            (AccountState::Reclaimed, 0, false)
        );
    }
}

#[test]
fn an_auto_renew_event_on_a_package_that_has_ended_is_ignored() {
    // rules.md, Choices: reclaimed at 2026-02-12T00:00Z (no grace, one reclaim day), then
    // `auto_renew_on` on 02-12: the flag stays off and package_balances says so.
    let mut c = case(BillingMode::Daily, "0.50");
    c.cat.grace_hours = 0;
    c.cat.reclaim_days = 1;
    // a free-of-charge lite cycle [02-01, 03-01) of app 12, auto-renew on; usage is app 11's
    c.orders = vec![order(
        "mon",
        "monthly",
        "rtc_engine",
        "lite",
        Some(12),
        "2026-02-01T02:00:00Z",
        "0.00",
    )];
    c.pevents = vec![PackageEvent {
        event_id: "on-1".into(),
        package_id: "mon".into(),
        time: t("2026-02-12T03:00:00Z"),
        kind: PackageEventKind::AutoRenewOn,
        target_version: None,
    }];
    let (acc, rows) = c.run("2026-02-10", "2026-02-13", |day| {
        if day == d("2026-02-10") {
            vec![use_(11, 0, 1000)]
        } else {
            vec![]
        }
    });
    assert_eq!(acc.status, AccountState::Reclaimed);
    assert!(!acc.packages[0].auto_renew);
    // on before the reclaim (02-10, 02-11); off on 02-12, after the event, and 02-13
    let flags: Vec<bool> = rows.iter().map(|r| r.package_balances[0].auto_renew).collect();
    assert_eq!(flags, [true, true, false, false]);
    // and on a package whose last cycle passed its renewal instant (00:00 of its last day):
    // bought 2026-02-10 with the flag off, cycle [02-10, 03-10); `on` at 03-09 01:00 is too late.
    let mut c = case(BillingMode::Daily, "50.00");
    c.orders = vec![order(
        "m2",
        "monthly",
        "rtc_engine",
        "lite",
        Some(11),
        "2026-02-10T02:00:00Z",
        "9.90",
    )];
    c.orders[0].auto_renew = Some(false);
    c.pevents = vec![PackageEvent {
        event_id: "on-2".into(),
        package_id: "m2".into(),
        time: t("2026-03-08T17:00:00Z"),
        kind: PackageEventKind::AutoRenewOn,
        target_version: None,
    }];
    let (acc, rows) = c.run("2026-02-10", "2026-03-10", |_| vec![]);
    assert!(all(&rows, |r| &r.orders).iter().all(|o| o.kind != OrderKind::Renewal));
    let balances = all(&rows, |r| &r.package_balances);
    assert_eq!(balances.last().unwrap().cycle_end, d("2026-03-10"));
    assert!(balances.iter().all(|b| !b.auto_renew));
    assert!(acc.packages.is_empty());
}
