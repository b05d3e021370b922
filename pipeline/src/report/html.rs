//! The report page: one HTML file with its style and every chart inline (SVG), no script and
//! no reference outside itself, so it opens from disk anywhere (README, Report).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::charts::{self, Frame, Series};
use super::{money, thousands, Check, Report, ENDING_WITHIN_DAYS, PACKAGE_KINDS, SALE_KINDS};
use crate::clock::Ts;

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) const STYLE: &str = r#"
:root { --ink: #1d2530; --muted: #5b6573; --line: #d9dee5; --bg: #f5f7fa; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 1360px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin-top: 20px; }
section h2 { margin: 0 0 4px; font-size: 19px; }
section > p.lead { margin: 0 0 12px; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fff; }
.kpi .label { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.kpi .note { color: var(--muted); font-size: 13px; }
.row { display: flex; gap: 16px; flex-wrap: wrap; }
.row > figure, .row > .col { flex: 1 1 560px; min-width: 0; }
.row > .wide { flex: 3 1 760px; min-width: 0; }
.row > .side { flex: 1 1 300px; min-width: 0; }
td { white-space: nowrap; }
figure.chart { margin: 8px 0; }
figure.chart svg { width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
table { border-collapse: collapse; margin: 10px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: left; }
th { font-weight: 600; background: var(--bg); }
td.num, th.num { text-align: right; }
.pass { color: #007a4d; font-weight: 600; }
.fail { color: #b3261e; font-weight: 600; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 13px; margin-top: 20px; }
"#;

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// A chart in its figure; the SVG without its namespace attribute (HTML gives inline `<svg>`
/// its namespace), so the page holds no URL at all.
pub(crate) fn figure(id: &str, svg: &str, caption: &str) -> String {
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    format!(
        "<figure class=\"chart\" id=\"{}\">{svg}<figcaption>{}</figcaption></figure>\n",
        escape(id),
        escape(caption)
    )
}

/// A table: header cells (a leading `#` marks a numeric column) and rows of cells (already
/// escaped HTML).
pub(crate) fn table(id: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let num: Vec<bool> = head.iter().map(|h| h.starts_with('#')).collect();
    let mut s = format!("<table id=\"{}\"><thead><tr>", escape(id));
    for h in head {
        let (class, h) = match h.strip_prefix('#') {
            Some(h) => (" class=\"num\"", h),
            None => ("", *h),
        };
        let _ = write!(s, "<th{class}>{}</th>", escape(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if num.get(i).copied().unwrap_or(false) { " class=\"num\"" } else { "" };
            let _ = write!(s, "<td{class}>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>\n");
    s
}

fn kpi(id: &str, label: &str, value: &str, note: &str) -> String {
    format!(
        "<div class=\"kpi\" id=\"{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"note\">{}</div></div>",
        escape(id),
        escape(label),
        escape(value),
        escape(note)
    )
}

/// An instant in the billing zone: `2026-10-22 08:00`.
fn instant(t: Option<Ts>, offset_seconds: i64) -> String {
    match t.and_then(|t| chrono::DateTime::from_timestamp_micros(t + offset_seconds * 1_000_000)) {
        Some(dt) => dt.format("%Y-%m-%d %H:%M").to_string(),
        None => String::new(),
    }
}

fn count<K: Ord + ?Sized>(m: &BTreeMap<String, usize>, k: &K) -> usize
where
    String: std::borrow::Borrow<K>,
{
    m.get(k).copied().unwrap_or(0)
}

fn day_frame<'a>(
    labels: &'a [String],
    title: &'a str,
    y_desc: &'a str,
    size: (u32, u32),
    y_decimals: usize,
) -> Frame<'a> {
    Frame { title, x_desc: "billing day", y_desc, labels, size, y_decimals }
}

/// The page.
pub fn page(r: &Report) -> Result<String, String> {
    let labels: Vec<String> = r.days.iter().map(|d| d.day.format("%m-%d").to_string()).collect();
    let mut body = String::new();

    // Headline numbers.
    let billed = r.billed();
    let last = r.days.last().expect("a report has days");
    let _ = writeln!(
        body,
        "<section id=\"headline\"><h2>Headline</h2><p class=\"lead\">Bills issued by the runs of {} to {} ({} billing days); states at the end of {}.</p><div class=\"kpis\">{}{}{}{}{}</div></section>",
        r.from,
        r.to,
        r.days.len(),
        r.to,
        kpi("kpi-billed", "Billed", &format!("{} {}", money(billed), r.currency), &format!("{} bills", thousands(r.bills() as i128))),
        kpi(
            "kpi-collected",
            "Collected credits",
            &format!("{} {}", money(r.collected()), r.currency),
            "billed amounts the prepaid balance covered"
        ),
        kpi("kpi-accounts", "Accounts billed", &thousands(r.accounts_billed() as i128), "with at least one bill"),
        kpi(
            "kpi-arrears",
            "In arrears",
            &thousands(r.in_state("in_arrears") as i128),
            &format!("accounts; amount due of all accounts {} {}", money(last.amount_due), r.currency)
        ),
        kpi("kpi-suspended", "Suspended", &thousands(r.in_state("suspended") as i128), &format!("accounts; {} reclaimed", thousands(r.in_state("reclaimed") as i128))),
    );

    // 1. Revenue.
    let overage: Vec<Series> = r
        .classes
        .iter()
        .map(|c| {
            Series::new(
                c.as_str(),
                r.days.iter().map(|d| f(d.overage.get(c).copied().unwrap_or_default())).collect(),
            )
        })
        .collect();
    let sales: Vec<Series> = SALE_KINDS
        .iter()
        .map(|k| {
            Series::new(
                format!("{k}s"),
                r.days.iter().map(|d| f(d.sales.get(*k).copied().unwrap_or_default())).collect(),
            )
        })
        .collect();
    let title_overage = format!("Overage revenue per day by usage class ({})", r.currency);
    let title_sales = format!("Package sales per day ({})", r.currency);
    let y_money = format!("{} per day", r.currency);
    let svg_overage = charts::stacked_bars(
        &day_frame(&labels, &title_overage, &y_money, (680, 360), 2),
        &overage,
        &[],
    )?;
    let svg_sales = charts::stacked_bars(
        &day_frame(&labels, &title_sales, &y_money, (680, 360), 2),
        &sales,
        &[],
    )?;
    let overage_total: Decimal = r.days.iter().flat_map(|d| d.overage.values()).sum();
    let sales_total: Decimal = r.days.iter().flat_map(|d| d.sales.values()).sum();
    let mut head: Vec<String> = r.classes.iter().map(|c| format!("#{c}")).collect();
    head.push(format!("#overage ({})", r.currency));
    let mut row: Vec<String> = r
        .classes
        .iter()
        .map(|c| money(r.days.iter().filter_map(|d| d.overage.get(c)).sum()))
        .collect();
    row.push(format!("<b>{}</b>", money(overage_total)));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let overage_table = table("table-revenue", &head, &[row]);
    let mut row: Vec<String> = SALE_KINDS
        .iter()
        .map(|k| money(r.days.iter().filter_map(|d| d.sales.get(*k)).sum()))
        .collect();
    row.push(format!("<b>{}</b>", money(sales_total)));
    let sales_head = format!("#package sales ({})", r.currency);
    let sales_table =
        table("table-sales", &["#purchases", "#renewals", "#upgrades", &sales_head], &[row]);
    let _ = writeln!(
        body,
        "<section id=\"revenue\"><h2>1. Revenue</h2><p class=\"lead\">Overage is usage beyond packages at pay-as-you-go prices (<code>charges</code>, by usage day; monthly accounts are billed it at month end). Package sales are accepted, charged orders (<code>orders</code>). Totals over the range below each chart.</p><div class=\"row\"><div class=\"col\">{}{}</div><div class=\"col\">{}{}</div></div></section>",
        figure("chart-revenue", &svg_overage, "Stacked by usage class; a day's bar is the overage of that billing day's usage."),
        overage_table,
        figure("chart-sales", &svg_sales, "Purchases, renewals and upgrades processed by the day's run (free grants are 0)."),
        sales_table
    );

    // 2. Minutes.
    let covered: Vec<Series> = PACKAGE_KINDS
        .iter()
        .map(|k| {
            Series::new(
                format!("covered: {k}"),
                r.days
                    .iter()
                    .map(|d| d.covered_minutes.get(*k).copied().unwrap_or(0) as f64)
                    .collect(),
            )
        })
        .chain(std::iter::once(Series::new(
            "overage",
            r.days.iter().map(|d| d.overage_minutes as f64).collect(),
        )))
        .collect();
    let metered = Series::new("metered", r.days.iter().map(|d| d.metered_minutes as f64).collect());
    let svg_minutes = charts::stacked_areas(
        &day_frame(
            &labels,
            "Minutes per day: metered, covered by packages, overage (minutes)",
            "minutes per day",
            (1300, 380),
            0,
        ),
        &covered,
        &[metered],
    )?;
    let sum_kind = |k: &str| {
        r.days.iter().map(|d| d.covered_minutes.get(k).copied().unwrap_or(0)).sum::<i64>()
    };
    let rows = vec![vec![
        thousands(r.days.iter().map(|d| d.metered_minutes).sum::<i64>() as i128),
        thousands(sum_kind("free") as i128),
        thousands(sum_kind("monthly") as i128),
        thousands(sum_kind("topup") as i128),
        thousands(r.days.iter().map(|d| d.overage_minutes).sum::<i64>() as i128),
    ]];
    let _ = writeln!(
        body,
        "<section id=\"minutes\"><h2>2. Minutes</h2><p class=\"lead\">Billable minutes metered (<code>usage_daily</code>) and how they were covered: by free, monthly and top-up packages (<code>deductions</code>), the rest overage (<code>charges</code>). The layers add up to the metered line.</p>{}{}</section>",
        figure("chart-minutes", &svg_minutes, "Stacked areas: covered by each package kind, then overage; black line: metered."),
        table("table-minutes", &["#metered", "#free", "#monthly", "#top-up", "#overage"], &rows)
    );

    // 3. Packages.
    let bins: Vec<String> = (0..10)
        .map(|b| format!("{}–{}%", b * 10, b * 10 + 10))
        .chain(std::iter::once("full".to_string()))
        .collect();
    let fill: Vec<Series> = PACKAGE_KINDS
        .iter()
        .map(|k| {
            let mut v = vec![0.0; bins.len()];
            for p in r.fill.iter().filter(|p| p.kind == *k && p.total > 0) {
                let b = if p.used >= p.total {
                    10
                } else {
                    ((p.used * 10) / p.total).clamp(0, 9) as usize
                };
                v[b] += 1.0;
            }
            Series::new(*k, v)
        })
        .collect();
    let fill_title = format!("How full packages are on {} (packages)", r.to);
    let svg_fill = charts::stacked_bars(
        &Frame {
            title: &fill_title,
            x_desc: "minutes used / minutes total",
            y_desc: "packages",
            labels: &bins,
            size: (680, 360),
            y_decimals: 0,
        },
        &fill,
        &[],
    )?;
    let failed: Vec<f64> =
        r.days.iter().map(|d| count(&d.events, "renewal_failed") as f64).collect();
    let svg_pk = charts::lines(
        &day_frame(
            &labels,
            "Packages per day: exhausted, ending soon, failed renewals (packages)",
            "packages",
            (680, 360),
            0,
        ),
        &[
            Series::new("exhausted", r.days.iter().map(|d| d.exhausted as f64).collect()),
            Series::new(
                format!("cycle ends within {ENDING_WITHIN_DAYS} days"),
                r.days.iter().map(|d| d.ending_soon as f64).collect(),
            ),
            Series::new("failed renewals", failed.clone()),
        ],
    )?;
    let rows = vec![vec![
        thousands(last.packages as i128),
        thousands(last.exhausted as i128),
        thousands(last.ending_soon as i128),
        thousands(failed.iter().sum::<f64>() as i128),
    ]];
    let _ = writeln!(
        body,
        "<section id=\"packages\"><h2>3. Packages</h2><p class=\"lead\">Package cycles covering each day after its deduction (<code>package_balances</code>); failed renewals from <code>status_events</code>.</p><div class=\"row\">{}{}</div>{}</section>",
        figure("chart-package-fill", &svg_fill, "Cycles covering the last day by share of their minutes used, stacked by kind; full: nothing left."),
        figure("chart-packages", &svg_pk, &format!("Exhausted cycles and cycles whose end (exclusive) is within {ENDING_WITHIN_DAYS} days, at each day; renewals refused for lack of balance that day.")),
        table(
            "table-packages",
            &[&format!("#cycles on {}", r.to), "#exhausted", &format!("#ending within {ENDING_WITHIN_DAYS} days"), "#failed renewals (range)"],
            &rows
        )
    );

    // 4. Arrears.
    let svg_arrears = charts::lines(
        &day_frame(&labels, "Arrears per day (accounts)", "accounts", (1300, 330), 0),
        &[
            Series::new(
                "in arrears",
                r.days.iter().map(|d| count(&d.states, "in_arrears") as f64).collect(),
            ),
            Series::new(
                "suspended",
                r.days.iter().map(|d| count(&d.states, "suspended") as f64).collect(),
            ),
            Series::new(
                "restored (that day)",
                r.days.iter().map(|d| count(&d.events, "restored") as f64).collect(),
            ),
            Series::new(
                "reclaimed",
                r.days.iter().map(|d| count(&d.states, "reclaimed") as f64).collect(),
            ),
        ],
    )?;
    let offset = r.offset_seconds;
    let rows: Vec<Vec<String>> = r
        .suspended
        .iter()
        .map(|s| {
            vec![
                s.account_id.to_string(),
                money(s.amount_due),
                escape(&instant(s.suspended_at, offset)),
                escape(&instant(s.reclaim_at, offset)),
            ]
        })
        .collect();
    let suspended_table = if rows.is_empty() {
        format!("<p class=\"empty\" id=\"table-suspended\">No account is suspended at the end of {}.</p>", r.to)
    } else {
        table(
            "table-suspended",
            &[
                "account",
                &format!("#due ({})", r.currency),
                &format!("suspended ({})", r.utc_offset),
                &format!("reclaim ({})", r.utc_offset),
            ],
            &rows,
        )
    };
    let _ = writeln!(
        body,
        "<section id=\"arrears\"><h2>4. Arrears</h2><p class=\"lead\">Accounts by state at the end of each day's window (<code>account_status</code>), and accounts restored that day (<code>status_events</code>).</p>{}<h3>Accounts suspended at the end of {}</h3>{}</section>",
        figure("chart-arrears", &svg_arrears, "In arrears, suspended and reclaimed: accounts in that state; restored: accounts back to current that day."),
        r.to,
        suspended_table
    );

    // 5. Data quality.
    let mut reasons: Vec<String> = r.days.iter().flat_map(|d| d.rejected.keys().cloned()).collect();
    reasons.sort();
    reasons.dedup();
    let rejected: Vec<Series> = reasons
        .iter()
        .map(|k| {
            Series::new(
                k.as_str(),
                r.days.iter().map(|d| count(&d.rejected, k.as_str()) as f64).collect(),
            )
        })
        .collect();
    let collapsed =
        Series::new("collapsed duplicates", r.days.iter().map(|d| d.collapsed as f64).collect());
    let svg_quality = charts::stacked_bars(
        &day_frame(
            &labels,
            "Rejected usage slices per day by reason, and collapsed duplicates (slices)",
            "slices per day",
            (960, 360),
            0,
        ),
        &rejected,
        &[collapsed],
    )?;
    let mut rows: Vec<Vec<String>> = reasons
        .iter()
        .map(|k| {
            vec![
                escape(k),
                thousands(
                    r.days.iter().map(|d| count(&d.rejected, k.as_str())).sum::<usize>() as i128
                ),
            ]
        })
        .collect();
    rows.push(vec![
        "<b>rejected</b>".into(),
        format!(
            "<b>{}</b>",
            thousands(
                r.days.iter().map(|d| d.rejected.values().sum::<usize>()).sum::<usize>() as i128
            )
        ),
    ]);
    rows.push(vec![
        "collapsed duplicates".into(),
        thousands(r.days.iter().map(|d| d.collapsed).sum::<u64>() as i128),
    ]);
    let _ = writeln!(
        body,
        "<section id=\"quality\"><h2>5. Data quality</h2><p class=\"lead\">Slices metering did not bill, with the first reason that applies (<code>rejected_usage</code>), and identical copies counted once (the day records).</p><div class=\"row\"><div class=\"wide\">{}</div><div class=\"side\">{}</div></div></section>",
        figure("chart-quality", &svg_quality, "Bars: rejected slices stacked by reason; line: collapsed duplicates."),
        table("table-quality", &["reason", "#slices"], &rows)
    );

    // 6. Restatements.
    let mut shown: Vec<&super::Revision> = r.revisions.iter().collect();
    shown.sort_by(|a, b| b.change.abs().cmp(&a.change.abs()).then(a.bill_id.cmp(&b.bill_id)));
    shown.truncate(30);
    shown.sort_by(|a, b| {
        (&a.bill_id, a.revision, a.restated_on).cmp(&(&b.bill_id, b.revision, b.restated_on))
    });
    let bill_labels: Vec<String> = if shown.is_empty() {
        vec!["none".into()]
    } else {
        // (a withdrawn revision issued again has two rows: withdrawn, and replaced from 0.00)
        shown
            .iter()
            .map(|v| match v.replaced_by {
                Some(n) => format!("{} r{}→r{n}", v.bill_id, v.revision),
                None => format!("{} r{} withdrawn", v.bill_id, v.revision),
            })
            .collect()
    };
    let restate_title = format!("Restated bills: old and new amounts ({})", r.currency);
    let svg_restate = charts::grouped_bars(
        &Frame {
            title: &restate_title,
            x_desc: "bill and superseded revision",
            y_desc: &r.currency,
            labels: &bill_labels,
            size: (1300, 300),
            y_decimals: 2,
        },
        &[
            Series::new("old amount", shown.iter().map(|v| f(v.amount)).collect()),
            Series::new(
                "new amount",
                shown.iter().map(|v| f(v.new_amount.unwrap_or_default())).collect(),
            ),
        ],
    )?;
    let rows: Vec<Vec<String>> = r
        .revisions
        .iter()
        .map(|v| {
            vec![
                escape(&v.bill_id),
                v.account_id.to_string(),
                v.revision.to_string(),
                money(v.amount),
                v.replaced_by.map(|n| n.to_string()).unwrap_or_else(|| "withdrawn".into()),
                v.new_amount.map(money).unwrap_or_default(),
                money(v.change),
                v.restated_on.to_string(),
            ]
        })
        .collect();
    let restate_table = if rows.is_empty() {
        format!(
            "<p class=\"empty\" id=\"table-restatements\">No bill of {} to {} was restated.</p>",
            r.from, r.to
        )
    } else {
        table(
            "table-restatements",
            &[
                "bill",
                "account",
                "#revision",
                &format!("#old amount ({})", r.currency),
                "#replaced by",
                &format!("#new amount ({})", r.currency),
                "#change",
                "restated on",
            ],
            &rows,
        )
    };
    let _ = writeln!(
        body,
        "<section id=\"restatements\"><h2>6. Restatements</h2><p class=\"lead\">Bills a rerun changed or withdrew (<code>bill_revisions</code>): every superseded revision with its amount and the amount that replaced it{}.</p>{}{}</section>",
        if r.revisions.len() > shown.len() { format!(" (the chart shows the {} largest changes)", shown.len()) } else { String::new() },
        figure("chart-restatements", &svg_restate, "Per restated bill: the superseded amount and the amount of the revision that replaced it (0 when withdrawn)."),
        restate_table
    );

    // 7. Verify.
    body.push_str(&verify_section(r.verify.as_deref()));

    let mut page = String::with_capacity(body.len() + 4096);
    let _ = writeln!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>rtcbill report {} to {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header><h1>rtcbill billing report</h1><p>Billing days {} to {} from the published outputs {} (snapshot {}). Money in {}, to the cent; instants in the billing zone ({}).</p></header>\n{body}<footer>Drawn by <code>rtcbill report</code> from the output datasets only. Each figure can be checked with the README's query of its dataset.</footer>\n</main>\n</body>\n</html>",
        r.from,
        r.to,
        r.from,
        r.to,
        escape(&r.outputs.display().to_string()),
        escape(&r.snapshot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
        escape(&r.currency),
        escape(&r.utc_offset),
    );
    Ok(page)
}

/// The place for `rtcbill verify`'s outcome: a table of its checks, or "verify not run".
pub fn verify_section(checks: Option<&[Check]>) -> String {
    let inner = match checks {
        None => "<p class=\"empty\" id=\"verify-status\">verify not run</p>".to_string(),
        Some(checks) => {
            let failed = checks.iter().filter(|c| !c.passed).count();
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    vec![
                        escape(&c.name),
                        if c.passed {
                            "<span class=\"pass\">passed</span>".into()
                        } else {
                            "<span class=\"fail\">failed</span>".into()
                        },
                        thousands(c.violations as i128),
                    ]
                })
                .collect();
            format!(
                "<p id=\"verify-status\">{} checks, {} failed.</p>{}",
                thousands(checks.len() as i128),
                thousands(failed as i128),
                table("table-verify", &["check", "result", "#violations"], &rows)
            )
        }
    };
    format!("<section id=\"verify\"><h2>7. Verification</h2><p class=\"lead\">The checks of <code>rtcbill verify</code> over the same outputs.</p>{inner}</section>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_verify_renders_either_way() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert!(verify_section(None).contains("verify not run"));
        let s = verify_section(Some(&[
            Check { name: "bills <= lines".into(), passed: true, violations: 0 },
            Check { name: "balances".into(), passed: false, violations: 1234 },
        ]));
        assert!(
            s.contains("bills &lt;= lines")
                && s.contains("1,234")
                && s.contains("2 checks, 1 failed"),
            "{s}"
        );
        assert!(!s.contains("verify not run"));
    }
}
