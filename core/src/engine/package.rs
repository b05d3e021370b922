//! rules.md, Packages: kinds, cycles and validity, purchases.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::clock::{add_days, add_months, month_start, Ts, Zone};
use crate::records::PackageOrder;
use crate::rows::{OrderRow, PackageBalanceRow};
use crate::vocab::{OrderKind, OrderReason, PackageStatus};

use super::{Account, DayRows};

/// Products whose packages count as "a TRTC product" (rules.md, Free quota exhausted).
pub const TRTC_PRODUCTS: [&str; 4] = ["call", "conference", "live", "rtc_engine"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Free,
    Monthly,
    Topup,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "free" => Some(Kind::Free),
            "monthly" => Some(Kind::Monthly),
            "topup" => Some(Kind::Topup),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Free => "free",
            Kind::Monthly => "monthly",
            Kind::Topup => "topup",
        }
    }
}

/// One validity cycle of a package: days `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub version: String,
    /// What was paid for the cycle (rules.md, Packages): the upgrade price base.
    pub base: Decimal,
    pub minutes_total: i64,
    pub minutes_left: i64,
}

impl Cycle {
    pub fn covers(&self, d: NaiveDate) -> bool {
        self.start <= d && d < self.end
    }
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }
}

/// An accepted package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub id: String,
    pub app_id: Option<i64>,
    pub kind: Kind,
    pub product: String,
    pub purchased_at: Ts,
    /// S: the billing day of `purchased_at`.
    pub purchase_day: NaiveDate,
    pub auto_renew: bool,
    /// A failed renewal or a reclaim ends the package with its cycle.
    pub ended: bool,
    pub cycles: Vec<Cycle>,
}

impl Package {
    pub fn cycle_covering(&self, d: NaiveDate) -> Option<usize> {
        self.cycles.iter().position(|c| c.covers(d))
    }
    pub fn covers_app(&self, app: i64) -> bool {
        self.app_id.is_none_or(|a| a == app)
    }
    /// The number of the cycle a renewal adds. Cycle n starts `add_months(S, n)` (every cycle is
    /// one: purchase adds cycle 0, each renewal the next), so n follows from the last cycle's
    /// start, whatever earlier cycles [`retire`] dropped.
    pub fn next_cycle(&self) -> u32 {
        let last = self.cycles.last().expect("a package has a cycle").start;
        let months = |d: NaiveDate| d.year() * 12 + d.month0() as i32;
        (months(last) - months(self.purchase_day) + 1) as u32
    }
    /// rules.md, Validity: cycle n of a free or monthly package is
    /// `[add_months(S, n), add_months(S, n+1))`.
    pub fn monthly_cycle(s: NaiveDate, n: u32) -> (NaiveDate, NaiveDate) {
        (add_months(s, n), add_months(s, n + 1))
    }
}

/// rules.md, Validity: a top-up runs from S to the last day of S's month one year later.
pub fn topup_end(s: NaiveDate) -> NaiveDate {
    add_months(month_start(s), 13)
}

/// The purchase order `o`, not yet decided.
fn order(o: &PackageOrder) -> OrderRow {
    let id = o.package_id.clone();
    let version = Some(o.version.clone());
    OrderRow::new(OrderKind::Purchase, Some(o.account_id), o.purchased_at, id.clone(), id, version)
}

fn rejected(o: &PackageOrder, reason: OrderReason) -> OrderRow {
    order(o).rejected(reason, Some(o.paid_price))
}

/// rules.md, Purchases: validates the order, charges `paid_price` and adds the package.
pub fn purchase(acc: &mut Account, o: &PackageOrder, cat: &Catalog, rows: &mut DayRows) {
    let s = cat.zone.day_of(o.purchased_at);
    let Some(kind) = Kind::parse(&o.kind) else {
        return rows.orders.push(rejected(o, OrderReason::UnknownVersion));
    };
    let minutes = match kind {
        Kind::Free | Kind::Monthly => cat.version(&o.product, &o.version, s).map(|v| v.minutes),
        Kind::Topup if o.product == "rtc_engine" => cat.topup(&o.version, s).map(|t| t.minutes),
        Kind::Topup => None,
    };
    let Some(unit_minutes) = minutes else {
        return rows.orders.push(rejected(o, OrderReason::UnknownVersion));
    };
    let minutes = match kind {
        Kind::Topup => match o.quantity {
            Some(q) if q >= 1 => unit_minutes * q,
            _ => return rows.orders.push(rejected(o, OrderReason::InvalidQuantity)),
        },
        _ => unit_minutes,
    };
    if kind == Kind::Monthly
        && acc.packages.iter().any(|p| {
            p.kind == Kind::Monthly
                && p.app_id == o.app_id
                && p.product == o.product
                && p.cycle_covering(s).is_some()
        })
    {
        return rows.orders.push(rejected(o, OrderReason::OverlappingMonthly));
    }
    if let Err(reason) = acc.charge(o.paid_price, o.purchased_at) {
        return rows.orders.push(rejected(o, reason));
    }
    let (start, end) = match kind {
        Kind::Topup => (s, topup_end(s)),
        _ => Package::monthly_cycle(s, 0),
    };
    acc.packages.push(Package {
        id: o.package_id.clone(),
        app_id: o.app_id,
        kind,
        product: o.product.clone(),
        purchased_at: o.purchased_at,
        purchase_day: s,
        // rules.md, Auto-renewal: null means on; free and top-up packages never renew.
        auto_renew: kind == Kind::Monthly && o.auto_renew.unwrap_or(true),
        ended: false,
        cycles: vec![Cycle {
            start,
            end,
            version: o.version.clone(),
            base: o.paid_price,
            minutes_total: minutes,
            minutes_left: minutes,
        }],
    });
    rows.orders.push(order(o).accepted(o.paid_price, minutes, (start, end)));
}

/// What the state keeps of the packages no cycle covers from the next day on: only what later
/// events still ask of them. They can never be deducted from, shown in `package_balances`,
/// upgraded or renewed again (their renewal instant, 00:00 of their last day, has passed), so
/// the state grows with the packages in force, not with the history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// Id → kind, and whether the product is upgradable: an upgrade of one is rejected
    /// `not_in_force` or `not_upgradable`, not `unknown_package`; an auto-renew event of a
    /// monthly one is ignored as of a package that has ended.
    pub ids: BTreeMap<String, (Kind, bool)>,
    /// Whether one was a paid package of a TRTC product (rules.md, Free quota exhausted).
    pub paid_trtc: bool,
    /// The latest cycle start of the free packages, by the app they cover (none: every app).
    #[serde(with = "super::pairs")]
    pub free_starts: BTreeMap<Option<i64>, NaiveDate>,
}

/// After day `day`: packages whose last cycle ends by `day + 1` leave for [`Retired`]; the
/// others drop the cycles that ended by then (every rule reads the cycle covering a day from
/// `day + 1` on, or the last one).
pub fn retire(acc: &mut Account, day: NaiveDate) {
    let next = add_days(day, 1);
    let retired = &mut acc.retired;
    acc.packages.retain_mut(|p| {
        let last = p.cycles.last().expect("a package has a cycle");
        if last.end > next {
            let ended = p.cycles.iter().take_while(|c| c.end <= next).count();
            p.cycles.drain(..ended);
            return true;
        }
        let upgradable = super::upgrade::UPGRADABLE.contains(&p.product.as_str());
        retired.ids.insert(std::mem::take(&mut p.id), (p.kind, upgradable));
        match p.kind {
            Kind::Free => {
                let start = retired.free_starts.entry(p.app_id).or_insert(last.start);
                *start = (*start).max(last.start);
            }
            _ if TRTC_PRODUCTS.contains(&p.product.as_str()) => retired.paid_trtc = true,
            _ => {}
        }
        false
    });
}

/// rules.md, Auto-renewal flag events: they set the flag of monthly packages only, and of no
/// package that has ended (reclaimed, renewal failed, or its last cycle past its renewal
/// instant without one): such a package can never renew, so its flag stays as it is
/// (rules.md, Choices). Returns whether the event was ignored for that reason.
pub fn set_auto_renew(acc: &mut Account, package_id: &str, on: bool, t: Ts, zone: &Zone) -> bool {
    let Some(p) = acc.packages.iter_mut().find(|p| p.id == package_id) else {
        return acc.retired.ids.get(package_id).is_some_and(|(kind, _)| *kind == Kind::Monthly);
    };
    if p.kind != Kind::Monthly {
        return false;
    }
    let last = p.cycles.last().expect("a package has a cycle");
    if p.ended || t > zone.start_of(add_days(last.end, -1)) {
        return true;
    }
    p.auto_renew = on;
    false
}

/// `package_balances` of D: every package with a cycle covering D, right after deduction.
pub fn snapshot(acc: &Account, day: NaiveDate, rows: &mut DayRows) {
    for p in &acc.packages {
        let Some(c) = p.cycle_covering(day) else { continue };
        let cy = &p.cycles[c];
        rows.package_balances.push(PackageBalanceRow {
            account_id: acc.id,
            package_id: p.id.clone(),
            app_id: p.app_id,
            kind: p.kind,
            product: p.product.clone(),
            version: cy.version.clone(),
            cycle_start: cy.start,
            cycle_end: cy.end,
            minutes_total: cy.minutes_total,
            minutes_used: cy.minutes_total - cy.minutes_left,
            minutes_left: cy.minutes_left,
            status: if cy.minutes_left > 0 {
                PackageStatus::Active
            } else {
                PackageStatus::Exhausted
            },
            auto_renew: p.auto_renew,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn monthly_cycles_clamp_at_month_end() {
        // rules.md, Packages: bought Jan 31: Jan 31–Feb 27, Feb 28–Mar 30, Mar 31–…
        assert_eq!(Package::monthly_cycle(d("2026-01-31"), 0), (d("2026-01-31"), d("2026-02-28")));
        assert_eq!(Package::monthly_cycle(d("2026-01-31"), 1), (d("2026-02-28"), d("2026-03-31")));
        // leap February
        assert_eq!(Package::monthly_cycle(d("2028-01-30"), 0), (d("2028-01-30"), d("2028-02-29")));
        assert_eq!(Package::monthly_cycle(d("2028-01-30"), 1), (d("2028-02-29"), d("2028-03-30")));
    }

    #[test]
    fn topup_runs_to_month_end_a_year_later() {
        // rules.md, Packages: bought 2025-12-15 → valid to 2026-12-31 inclusive (conformance
        // `order`).
        assert_eq!(topup_end(d("2025-12-15")), d("2027-01-01"));
        assert_eq!(topup_end(d("2026-02-01")), d("2027-03-01"));
        assert_eq!(topup_end(d("2027-02-28")), d("2028-03-01"));
    }
}
