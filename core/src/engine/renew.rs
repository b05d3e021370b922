//! rules.md, Auto-renewal: at 00:00 of the last day of its last cycle, a monthly package whose
//! flag is on is charged the list price of that cycle's version and given the next cycle.

use crate::catalog::Catalog;
use crate::clock::{add_days, Ts, Zone};
use crate::rows::OrderRow;
use crate::vocab::{OrderKind, OrderReason, OrderStatus, StatusEvent};

use super::{Account, Cycle, Kind, Package, Step};

/// When the package's next renewal is due, if it will renew at all.
pub fn renewal_time(p: &Package, zone: &Zone) -> Option<Ts> {
    if p.kind != Kind::Monthly || !p.auto_renew || p.ended {
        return None;
    }
    let last = p.cycles.last()?;
    Some(zone.start_of(add_days(last.end, -1)))
}

pub fn renew(acc: &mut Account, package_id: &str, t: Ts, cat: &Catalog, step: &mut Step) {
    let opening = acc.opening_time;
    let balance = acc.balance;
    let Some(p) = acc.packages.iter_mut().find(|p| p.id == package_id) else { return };
    let last = p.cycles.last().expect("a package has a cycle").clone();
    let n = p.cycles.len() as u32;
    let (start, end) = Package::monthly_cycle(p.purchase_day, n);
    let order_id = format!("{}@{}", p.id, start.format("%Y-%m-%d"));
    let day = cat.zone.day_of(t);
    let mut row = OrderRow {
        account_id: Some(acc.id),
        time: t,
        order_id,
        package_id: p.id.clone(),
        kind: OrderKind::Renewal,
        status: OrderStatus::Rejected,
        reason: None,
        amount: None,
        minutes_added: None,
        cycle_start: None,
        cycle_end: None,
        version: Some(last.version.clone()),
    };
    let Some(v) = cat.version(&p.product, &last.version, day) else {
        // The version left the catalog: nothing to renew into.
        p.ended = true;
        row.reason = Some(OrderReason::UnknownVersion);
        step.orders.push(row);
        return;
    };
    let (price, minutes) = (v.list_price, v.minutes);
    row.amount = Some(price);
    let charged = t > opening;
    if charged && price > rust_decimal::Decimal::ZERO && balance < price {
        // rules.md, Packages: rejected, `renewal_failed` raised, the package ends with its cycle.
        p.ended = true;
        row.reason = Some(OrderReason::InsufficientBalance);
        let app = p.app_id;
        let detail = format!("renewal of {} needs {price}, balance {balance}", p.id);
        step.orders.push(row);
        step.event(acc, app, StatusEvent::RenewalFailed, t, detail);
        return;
    }
    p.cycles.push(Cycle {
        start,
        end,
        version: last.version,
        base: price,
        minutes_total: minutes,
        minutes_left: minutes,
    });
    if charged {
        acc.balance -= price;
    }
    row.status = OrderStatus::Accepted;
    row.minutes_added = Some(minutes);
    row.cycle_start = Some(start);
    row.cycle_end = Some(end);
    step.orders.push(row);
}
