//! rules.md, Arrears and suspension: current → in_arrears (a bill leaves the balance below 0)
//! → suspended (at the grace deadline) → reclaimed (60 days later); credits clear or restore.
//! Every `status_events` row is raised here: these transitions, the app events (disabled,
//! violation, its reclaim), a failed renewal and the free quota exhausted.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::{fmt_ts, Ts, Zone, MICROS_PER_DAY, MICROS_PER_HOUR};

use crate::vocab::StatusEvent;

use super::package::TRTC_PRODUCTS;
use super::{Account, AccountState, DayCtx, DayRows, Kind};

/// After a bill's debit at `t`: a bill that leaves the balance below 0 starts arrears. With no
/// grace (`grace_hours = 0`) the deadline is the bill's own instant: suspended at once.
pub fn bill(acc: &mut Account, t: Ts, bill_id: &str, cat: &Catalog, rows: &mut DayRows) {
    if acc.status == AccountState::Current && acc.balance < Decimal::ZERO {
        acc.status = AccountState::InArrears;
        acc.arrears_since = Some(t);
        acc.grace_deadline = Some(t + cat.grace_hours * MICROS_PER_HOUR);
        rows.event(
            acc,
            None,
            StatusEvent::ArrearsEntered,
            t,
            format!("bill {bill_id} left the balance at {}", acc.balance),
        );
        if cat.grace_hours == 0 {
            deadline(acc, t, cat, rows);
        }
    }
}

/// After a credit at `t`: a balance back at ≥ 0 clears arrears (at or before the deadline,
/// which is processed after credits of its instant) or restores a suspended account.
pub fn credit(acc: &mut Account, t: Ts, what: &str, rows: &mut DayRows) {
    if acc.balance < Decimal::ZERO {
        return;
    }
    let event = match acc.status {
        AccountState::InArrears => StatusEvent::ArrearsCleared,
        AccountState::Suspended => StatusEvent::Restored,
        AccountState::Current | AccountState::Reclaimed => return,
    };
    acc.status = AccountState::Current;
    acc.arrears_since = None;
    acc.grace_deadline = None;
    acc.suspended_at = None;
    acc.reclaim_at = None;
    rows.event(acc, None, event, t, format!("{what} brought the balance to {}", acc.balance));
}

/// The grace deadline: an account still in arrears is suspended. With `reclaim_days = 0` it
/// is reclaimed at the same instant.
pub fn deadline(acc: &mut Account, t: Ts, cat: &Catalog, rows: &mut DayRows) {
    if acc.status != AccountState::InArrears {
        return;
    }
    acc.status = AccountState::Suspended;
    acc.suspended_at = Some(t);
    acc.reclaim_at = Some(t + cat.reclaim_days * MICROS_PER_DAY);
    rows.event(
        acc,
        None,
        StatusEvent::Suspended,
        t,
        format!("still in arrears at the grace deadline, balance {}", acc.balance),
    );
    if cat.reclaim_days == 0 {
        reclaim(acc, t, &cat.zone, rows);
    }
}

/// `reclaim_days` after suspension: the account is reclaimed and loses its usage packages.
pub fn reclaim(acc: &mut Account, t: Ts, zone: &Zone, rows: &mut DayRows) {
    if acc.status != AccountState::Suspended {
        return;
    }
    acc.status = AccountState::Reclaimed;
    clear_packages(acc, None, t, zone);
    let since = acc.suspended_at.map(fmt_ts).unwrap_or_default();
    rows.event(
        acc,
        None,
        StatusEvent::ReclaimDue,
        t,
        format!("suspended since {since}; usage packages cleared"),
    );
}

/// `reclaim_days` after a violation: the app's app-scoped packages are cleared.
pub fn reclaim_app(
    acc: &mut Account,
    app_id: i64,
    violation_at: Ts,
    t: Ts,
    zone: &Zone,
    rows: &mut DayRows,
) {
    clear_packages(acc, Some(app_id), t, zone);
    rows.event(
        acc,
        Some(app_id),
        StatusEvent::ReclaimDue,
        t,
        format!("violation at {}; app packages cleared", fmt_ts(violation_at)),
    );
}

/// Every cycle not yet ended at `t` loses its minutes left; auto-renew goes off.
fn clear_packages(acc: &mut Account, app: Option<i64>, t: Ts, zone: &Zone) {
    let today = zone.day_of(t);
    for p in acc.packages.iter_mut().filter(|p| app.is_none() || p.app_id == app) {
        for c in p.cycles.iter_mut().filter(|c| c.end > today) {
            c.minutes_left = 0;
        }
        p.auto_renew = false;
        p.ended = true;
    }
}

/// A deadline the account's state schedules (rules.md, Grace, Reclaim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    GraceDeadline,
    Reclaim,
}

/// The account's next deadline, with the id it sorts by among the events of its instant.
pub fn next_due(acc: &Account) -> Option<(Ts, &'static str, Due)> {
    match acc.status {
        AccountState::InArrears => Some((
            acc.grace_deadline.expect("set in arrears"),
            "grace_deadline",
            Due::GraceDeadline,
        )),
        AccountState::Suspended => {
            Some((acc.reclaim_at.expect("set when suspended"), "reclaim_due", Due::Reclaim))
        }
        AccountState::Current | AccountState::Reclaimed => None,
    }
}

/// Runs the deadline `due` at `t`.
pub fn on_due(acc: &mut Account, due: Due, t: Ts, cat: &Catalog, rows: &mut DayRows) {
    match due {
        Due::GraceDeadline => deadline(acc, t, cat, rows),
        Due::Reclaim => reclaim(acc, t, &cat.zone, rows),
    }
}

/// rules.md, App events: an app disabled at `t`.
pub fn app_disabled(acc: &Account, app_id: i64, t: Ts, rows: &mut DayRows) {
    rows.event(acc, Some(app_id), StatusEvent::AppDisabled, t, "app disabled".into());
}

/// rules.md, App events: an app suspended for a policy violation at `t`.
pub fn violation(acc: &Account, app_id: i64, t: Ts, rows: &mut DayRows) {
    let detail = "suspended for a policy violation".into();
    rows.event(acc, Some(app_id), StatusEvent::Violation, t, detail);
}

/// rules.md, Auto-renewal: a renewal refused at `t`; the package ends with its cycle.
pub fn renewal_failed(
    acc: &Account,
    app_id: Option<i64>,
    t: Ts,
    detail: String,
    rows: &mut DayRows,
) {
    rows.event(acc, app_id, StatusEvent::RenewalFailed, t, detail);
}

/// rules.md, Arrears and suspension `free_quota_exhausted`: at 00:00 of the first day D an app has
/// overage while its account has no paid TRTC package bought on or before D; again only after a new
/// free cycle covering the app has started.
pub fn free_quota(acc: &mut Account, apps: &[i64], ctx: DayCtx, rows: &mut DayRows) {
    let day = ctx.day;
    // Retired packages were bought before D (package::retire).
    let paid = acc.retired.paid_trtc
        || acc.packages.iter().any(|p| {
            p.kind != Kind::Free
                && TRTC_PRODUCTS.contains(&p.product.as_str())
                && p.purchase_day <= day
        });
    if paid {
        return;
    }
    for &app in apps {
        let raise = match acc.free_quota_raised.get(&app) {
            None => true,
            Some(&last) => {
                let new = |start: NaiveDate| start > last && start <= day;
                let retired = &acc.retired.free_starts;
                retired.iter().any(|(a, &start)| a.is_none_or(|a| a == app) && new(start))
                    || acc.packages.iter().any(|p| {
                        p.kind == Kind::Free
                            && p.covers_app(app)
                            && p.cycles.iter().any(|c| new(c.start))
                    })
            }
        };
        if raise {
            acc.free_quota_raised.insert(app, day);
            let t = ctx.catalog.zone.start_of(day);
            rows.event(
                acc,
                Some(app),
                StatusEvent::FreeQuotaExhausted,
                t,
                "overage with no paid TRTC package".into(),
            );
        }
    }
}
