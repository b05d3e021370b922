//! rules.md, Upgrades (seed 000): a monthly package of an upgradable product moves to a higher
//! version for the rest of the cycle covering the upgrade day U.
//! price = round_half_up((list(target) − base) × remaining / total, 2), not below 0;
//! added minutes = max(0, floor((minutes(target) − minutes(current)) × remaining / total)).

use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::Ts;
use crate::rows::OrderRow;
use crate::vocab::{OrderKind, OrderReason, OrderStatus};

use super::{Account, Kind, Step};

/// Products whose monthly packages can be upgraded.
pub const UPGRADABLE: [&str; 5] = ["call", "conference", "live", "rtc_engine", "chat"];

/// Upgrade price in cents: `(diff × remaining / total)` rounded half up once, not below 0.
pub fn price(list_target: Decimal, base: Decimal, remaining: i64, total: i64) -> Decimal {
    let exact = (list_target - base) * Decimal::from(remaining) / Decimal::from(total);
    super::bill::round_cents(exact).max(Decimal::ZERO)
}

/// Minutes the upgrade adds: floor of the prorated difference, not below 0.
pub fn added_minutes(target: i64, current: i64, remaining: i64, total: i64) -> i64 {
    ((target - current) * remaining).div_euclid(total).max(0)
}

pub fn upgrade(
    acc: &mut Account,
    event_id: &str,
    package_id: &str,
    target: Option<&str>,
    t: Ts,
    cat: &Catalog,
    step: &mut Step,
) {
    let u = cat.zone.day_of(t);
    let mut row = OrderRow {
        account_id: Some(acc.id),
        time: t,
        order_id: event_id.to_string(),
        package_id: package_id.to_string(),
        kind: OrderKind::Upgrade,
        status: OrderStatus::Rejected,
        reason: None,
        amount: None,
        minutes_added: None,
        cycle_start: None,
        cycle_end: None,
        version: target.map(str::to_string),
    };
    let reject = |mut row: OrderRow, reason: OrderReason, step: &mut Step| {
        row.reason = Some(reason);
        step.orders.push(row);
    };
    let (opening, balance) = (acc.opening_time, acc.balance);
    let Some(p) = acc.packages.iter_mut().find(|p| p.id == package_id) else {
        return reject(row, OrderReason::UnknownPackage, step);
    };
    if p.kind != Kind::Monthly || !UPGRADABLE.contains(&p.product.as_str()) {
        return reject(row, OrderReason::NotUpgradable, step);
    }
    let Some(ci) = p.cycle_covering(u) else {
        return reject(row, OrderReason::NotInForce, step);
    };
    let cycle = &p.cycles[ci];
    let current = cat.version(&p.product, &cycle.version, u);
    let tgt = target.and_then(|v| cat.version(&p.product, v, u));
    let (Some(current), Some(tgt)) = (current, tgt) else {
        return reject(row, OrderReason::NotHigherVersion, step);
    };
    if tgt.rank <= current.rank {
        return reject(row, OrderReason::NotHigherVersion, step);
    }
    let total = cycle.days();
    let remaining = (cycle.end - u).num_days();
    let amount = price(tgt.list_price, cycle.base, remaining, total);
    let added = added_minutes(tgt.minutes, current.minutes, remaining, total);
    row.amount = Some(amount);
    let charged = t > opening;
    if charged && amount > Decimal::ZERO && balance < amount {
        return reject(row, OrderReason::InsufficientBalance, step);
    }
    let cycle = &mut p.cycles[ci];
    cycle.version = tgt.version.clone();
    cycle.base = tgt.list_price;
    cycle.minutes_total += added;
    cycle.minutes_left += added;
    row.status = OrderStatus::Accepted;
    row.minutes_added = Some(added);
    row.cycle_start = Some(cycle.start);
    row.cycle_end = Some(cycle.end);
    if charged {
        acc.balance -= amount;
    }
    step.orders.push(row);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn price_uses_the_base_and_rounds_once() {
        // lite bought at 9.90 on a 31-day cycle, upgraded to standard (99.00) with 16 days left:
        // (99.00 − 9.90) × 16 / 31 = 45.987… → 45.99
        assert_eq!(price(dec("99.00"), dec("9.90"), 16, 31), dec("45.99"));
        // discounted purchase (paid 5.00): (99.00 − 5.00) × 16 / 31 = 48.516… → 48.52
        assert_eq!(price(dec("99.00"), dec("5.00"), 16, 31), dec("48.52"));
        // first day: the whole difference; last day: 1/total of it
        assert_eq!(price(dec("99.00"), dec("9.90"), 31, 31), dec("89.10"));
        assert_eq!(price(dec("99.00"), dec("9.90"), 1, 31), dec("2.87"));
        // half up: 0.01 × 1 / 2 = 0.005 → 0.01
        assert_eq!(price(dec("0.01"), dec("0.00"), 1, 2), dec("0.01"));
        // never below 0 (base above the target's list price)
        assert_eq!(price(dec("99.00"), dec("120.00"), 10, 30), dec("0"));
    }

    #[test]
    fn added_minutes_are_floored() {
        // (250000 − 50000) × 16 / 31 = 103225.8… → 103225
        assert_eq!(added_minutes(250_000, 50_000, 16, 31), 103_225);
        assert_eq!(added_minutes(250_000, 50_000, 31, 31), 200_000);
        assert_eq!(added_minutes(0, 0, 3, 30), 0);
    }
}
