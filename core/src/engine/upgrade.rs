//! rules.md, Upgrades (seed 000): a monthly package of an upgradable product moves to a higher
//! version for the rest of the cycle covering the upgrade day U.
//! price = round_half_up((list(target) − base) × remaining / total, 2), not below 0;
//! added minutes = max(0, floor((minutes(target) − minutes(current)) × remaining / total)).

use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::Ts;
use crate::rows::OrderRow;
use crate::vocab::{OrderKind, OrderReason};

use super::{Account, DayRows, Kind};

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
    rows: &mut DayRows,
) {
    let u = cat.zone.day_of(t);
    let row = OrderRow::new(
        OrderKind::Upgrade,
        Some(acc.id),
        t,
        event_id.to_string(),
        package_id.to_string(),
        target.map(str::to_string),
    );
    let mut reject = |reason, amount| rows.orders.push(row.clone().rejected(reason, amount));
    let Some(pi) = acc.packages.iter().position(|p| p.id == package_id) else {
        // A retired package has no cycle covering U (package::retire).
        let reason = match acc.retired.ids.get(package_id) {
            None => OrderReason::UnknownPackage,
            Some((Kind::Monthly, true)) => OrderReason::NotInForce,
            Some(_) => OrderReason::NotUpgradable,
        };
        return reject(reason, None);
    };
    let p = &acc.packages[pi];
    if p.kind != Kind::Monthly || !UPGRADABLE.contains(&p.product.as_str()) {
        return reject(OrderReason::NotUpgradable, None);
    }
    let Some(ci) = p.cycle_covering(u) else {
        return reject(OrderReason::NotInForce, None);
    };
    let cycle = &p.cycles[ci];
    let current = cat.version(&p.product, &cycle.version, u);
    let tgt = target.and_then(|v| cat.version(&p.product, v, u));
    let (Some(current), Some(tgt)) = (current, tgt) else {
        return reject(OrderReason::NotHigherVersion, None);
    };
    if tgt.rank <= current.rank {
        return reject(OrderReason::NotHigherVersion, None);
    }
    let total = cycle.days();
    let remaining = (cycle.end - u).num_days();
    let amount = price(tgt.list_price, cycle.base, remaining, total);
    let added = added_minutes(tgt.minutes, current.minutes, remaining, total);
    if let Err(reason) = acc.charge(amount, t) {
        return reject(reason, Some(amount));
    }
    let cycle = &mut acc.packages[pi].cycles[ci];
    cycle.version = tgt.version.clone();
    cycle.base = tgt.list_price;
    cycle.minutes_total += added;
    cycle.minutes_left += added;
    let accepted = row.accepted(amount, added, (cycle.start, cycle.end));
    rows.orders.push(accepted);
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
