//! rules.md, Deduction order: day D's usage is taken from the packages at D+1 00:00; what no
//! package covers is overage, rated at the pay-as-you-go price in force on D.

use rust_decimal::Decimal;

use crate::records::BillingMode;
use crate::records::UsageDaily;
use crate::rows::{ChargeRow, DeductionRow, PackageBalanceRow};
use crate::vocab::{PackageStatus, StatusEvent};

use super::package::TRTC_PRODUCTS;
use super::{Account, DayCtx, Kind, Step};

/// Amount of `minutes` at `price_per_1000`, exact (rules.md, Bills: Decimal(18,6)).
pub fn line_amount(minutes: i64, price_per_1000: Decimal) -> Decimal {
    Decimal::from(minutes) * price_per_1000 / Decimal::from(1000)
}

/// rules.md, Deduction order: step 1–4 for one account's day `ctx.day`, at `at` = D+1 00:00.
pub fn day_end(acc: &mut Account, usage: &[UsageDaily], ctx: DayCtx, step: &mut Step) {
    let day = ctx.day;
    let cat = ctx.catalog;
    let mut apps_with_overage = Vec::new();
    // Step 1: apps ascending, classes in catalog order (`usage` is sorted so).
    for u in usage {
        let ratio = cat.classes[u.class].ratio;
        // Step 2: candidate packages, in deduction order.
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
            // Step 3: a usage minute is never split across packages.
            let covered = uncovered.min(cycle.minutes_left / ratio);
            if covered == 0 {
                continue;
            }
            cycle.minutes_left -= covered * ratio;
            uncovered -= covered;
            step.deductions.push(DeductionRow {
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
        // Step 4: overage at the price in force on D.
        if uncovered > 0 {
            let price =
                cat.payg(u.class, day).expect("run checks the catalog prices every run day");
            step.charges.push(ChargeRow {
                account_id: acc.id,
                app_id: u.app_id,
                class: u.class,
                minutes: uncovered,
                unit_price_per_1000: price,
                amount: line_amount(uncovered, price),
            });
            if acc.mode == BillingMode::Monthly {
                *acc.month_overage.entry((u.app_id, u.class, price)).or_insert(0) += uncovered;
            }
            if apps_with_overage.last() != Some(&u.app_id) {
                apps_with_overage.push(u.app_id);
            }
        }
    }
    free_quota(acc, &apps_with_overage, ctx, step);
    snapshot(acc, ctx, step);
}

/// rules.md, Arrears and suspension `free_quota_exhausted`: at 00:00 of the first day D an app has overage while its
/// account has no paid TRTC package bought on or before D; again only after a new free cycle
/// covering the app has started.
fn free_quota(acc: &mut Account, apps: &[i64], ctx: DayCtx, step: &mut Step) {
    let day = ctx.day;
    let paid = acc.packages.iter().any(|p| {
        p.kind != Kind::Free && TRTC_PRODUCTS.contains(&p.product.as_str()) && p.purchase_day <= day
    });
    if paid {
        return;
    }
    for &app in apps {
        let raise = match acc.free_quota_raised.get(&app) {
            None => true,
            Some(&last) => acc.packages.iter().any(|p| {
                p.kind == Kind::Free
                    && p.covers_app(app)
                    && p.cycles.iter().any(|c| c.start > last && c.start <= day)
            }),
        };
        if raise {
            acc.free_quota_raised.insert(app, day);
            let t = ctx.catalog.zone.start_of(day);
            step.event(
                acc,
                Some(app),
                StatusEvent::FreeQuotaExhausted,
                t,
                "overage with no paid TRTC package".into(),
            );
        }
    }
}

/// `package_balances` of D: every package with a cycle covering D, right after deduction.
fn snapshot(acc: &Account, ctx: DayCtx, step: &mut Step) {
    for p in &acc.packages {
        let Some(c) = p.cycle_covering(ctx.day) else { continue };
        let cy = &p.cycles[c];
        step.package_balances.push(PackageBalanceRow {
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
