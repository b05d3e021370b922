//! rules.md, Deduction order: day D's usage is taken from the packages at D+1 00:00; what no
//! package covers is overage, rated at the pay-as-you-go price in force on D.

use rust_decimal::Decimal;

use crate::records::BillingMode;
use crate::records::UsageDaily;
use crate::rows::{ChargeRow, DeductionRow};

use super::{arrears, package, Account, DayCtx, DayRows};

/// Amount of `minutes` at `price_per_1000`, exact (rules.md, Bills: Decimal(18,6)).
pub fn line_amount(minutes: i64, price_per_1000: Decimal) -> Decimal {
    Decimal::from(minutes) * price_per_1000 / Decimal::from(1000)
}

/// rules.md, Day end: D's usage at D+1 00:00, in named steps: each (app, class) from the
/// packages, what is left as overage, added to the month of a monthly account; then the
/// free-quota events and the `package_balances` snapshot.
pub fn day_end(acc: &mut Account, usage: &[UsageDaily], ctx: DayCtx, rows: &mut DayRows) {
    let mut apps_with_overage = Vec::new();
    // DayRows 1: apps ascending, classes in catalog order (`usage` is sorted so).
    for u in usage {
        let uncovered = from_packages(acc, u, ctx, rows);
        if uncovered > 0 {
            let price = overage(acc, u, uncovered, ctx, rows);
            add_to_month(acc, u, uncovered, price);
            if apps_with_overage.last() != Some(&u.app_id) {
                apps_with_overage.push(u.app_id);
            }
        }
    }
    arrears::free_quota(acc, &apps_with_overage, ctx, rows);
    package::snapshot(acc, ctx.day, rows);
}

/// rules.md, Deduction order, steps 2–3: takes the usage `u` from the packages in force on D,
/// in deduction order, never splitting a usage minute; returns the minutes left uncovered.
fn from_packages(acc: &mut Account, u: &UsageDaily, ctx: DayCtx, rows: &mut DayRows) -> i64 {
    let day = ctx.day;
    let ratio = ctx.catalog.classes[u.class].ratio;
    // DayRows 2: candidate packages, in deduction order.
    let mut cands: Vec<(usize, usize)> = acc
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.covers_app(u.app_id))
        .filter_map(|(i, p)| p.cycle_covering(day).map(|c| (i, c)))
        .filter(|&(i, c)| acc.packages[i].cycles[c].minutes_left > 0)
        .collect();
    cands.sort_by(|&(a, ac), &(b, bc)| {
        let (pa, pb) = (&acc.packages[a], &acc.packages[b]);
        (pa.kind, pa.app_id.is_none(), pa.cycles[ac].end, pa.purchased_at, &pa.id).cmp(&(
            pb.kind,
            pb.app_id.is_none(),
            pb.cycles[bc].end,
            pb.purchased_at,
            &pb.id,
        ))
    });
    let mut uncovered = u.billable_minutes;
    for (i, c) in cands {
        if uncovered == 0 {
            break;
        }
        let p = &mut acc.packages[i];
        let cycle = &mut p.cycles[c];
        // DayRows 3: a usage minute is never split across packages.
        let covered = uncovered.min(cycle.minutes_left / ratio);
        if covered == 0 {
            continue;
        }
        cycle.minutes_left -= covered * ratio;
        uncovered -= covered;
        rows.deductions.push(DeductionRow {
            account_id: acc.id,
            app_id: u.app_id,
            class: u.class,
            package_id: p.id.clone(),
            package_kind: p.kind,
            usage_minutes: covered,
            package_minutes: covered * ratio,
            remaining_after: cycle.minutes_left,
        });
    }
    uncovered
}

/// rules.md, Overage (rows 4): the uncovered minutes charged at the pay-as-you-go price in
/// force on D; returns that price.
fn overage(
    acc: &Account,
    u: &UsageDaily,
    minutes: i64,
    ctx: DayCtx,
    rows: &mut DayRows,
) -> Decimal {
    let price =
        ctx.catalog.payg(u.class, ctx.day).expect("run checks the catalog prices every run day");
    rows.charges.push(ChargeRow {
        account_id: acc.id,
        app_id: u.app_id,
        class: u.class,
        minutes,
        unit_price_per_1000: price,
        amount: line_amount(minutes, price),
    });
    price
}

/// rules.md, Daily and monthly bills: a monthly account's overage adds up to its month's bill.
fn add_to_month(acc: &mut Account, u: &UsageDaily, minutes: i64, price: Decimal) {
    if acc.mode == BillingMode::Monthly {
        *acc.month_overage.entry((u.app_id, u.class, price)).or_insert(0) += minutes;
    }
}
