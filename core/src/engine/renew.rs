//! rules.md, Auto-renewal: at 00:00 of the last day of its last cycle, a monthly package whose
//! flag is on is charged the list price of that cycle's version and given the next cycle.

use crate::catalog::Catalog;
use crate::clock::{add_days, Ts, Zone};
use crate::rows::OrderRow;
use crate::vocab::{OrderKind, OrderReason};

use super::{arrears, Account, Cycle, DayRows, Kind, Package};

/// When the package's next renewal is due, if it will renew at all.
pub fn renewal_time(p: &Package, zone: &Zone) -> Option<Ts> {
    if p.kind != Kind::Monthly || !p.auto_renew || p.ended {
        return None;
    }
    let last = p.cycles.last()?;
    Some(zone.start_of(add_days(last.end, -1)))
}

pub fn renew(acc: &mut Account, package_id: &str, t: Ts, cat: &Catalog, rows: &mut DayRows) {
    let Some(pi) = acc.packages.iter().position(|p| p.id == package_id) else { return };
    let p = &acc.packages[pi];
    let last = p.cycles.last().expect("a package has a cycle").clone();
    let n = p.next_cycle();
    let (start, end) = Package::monthly_cycle(p.purchase_day, n);
    let order_id = format!("{}@{}", p.id, start.format("%Y-%m-%d"));
    let row = OrderRow::new(
        OrderKind::Renewal,
        Some(acc.id),
        t,
        order_id,
        p.id.clone(),
        Some(last.version.clone()),
    );
    let Some(v) = cat.version(&p.product, &last.version, cat.zone.day_of(t)) else {
        // The version left the catalog: nothing to renew into.
        acc.packages[pi].ended = true;
        rows.orders.push(row.rejected(OrderReason::UnknownVersion, None));
        return;
    };
    let (price, minutes) = (v.list_price, v.minutes);
    if let Err(reason) = acc.charge(price, t) {
        // rules.md, Packages: rejected, `renewal_failed` raised, the package ends with its cycle.
        let p = &mut acc.packages[pi];
        p.ended = true;
        let app = p.app_id;
        let detail = format!("renewal of {} needs {price}, balance {}", p.id, acc.balance);
        rows.orders.push(row.rejected(reason, Some(price)));
        arrears::renewal_failed(acc, app, t, detail, rows);
        return;
    }
    acc.packages[pi].cycles.push(Cycle {
        start,
        end,
        version: last.version,
        base: price,
        minutes_total: minutes,
        minutes_left: minutes,
    });
    rows.orders.push(row.accepted(price, minutes, (start, end)));
}
