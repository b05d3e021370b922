//! `rtcbill simulate --report FILE`: the baseline beside each candidate on one self-contained
//! page, with the report's charts and tables (README, Simulate).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::charts::{grouped_bars, Frame, Series};
use super::html::{escape, figure, table, STYLE};
use super::money;
use crate::simulate::WhatIf;

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Baseline and candidate side by side per label, as grouped bars.
fn pair(
    title: &str,
    x_desc: &str,
    name: &str,
    rows: &[(String, Decimal, Decimal)],
) -> Result<String, String> {
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let frame =
        Frame { title, x_desc, y_desc: "USD", labels: &labels, size: (640, 320), y_decimals: 2 };
    let series = [
        Series::new("baseline (as billed)", rows.iter().map(|r| f(r.1)).collect()),
        Series::new(name, rows.iter().map(|r| f(r.2)).collect()),
    ];
    grouped_bars(&frame, &series)
}

/// Sums of (baseline, simulated) by a key.
fn by<K: Ord>(
    rows: impl Iterator<Item = (K, Decimal, Decimal)>,
) -> BTreeMap<K, (Decimal, Decimal)> {
    let mut m: BTreeMap<K, (Decimal, Decimal)> = BTreeMap::new();
    for (k, b, s) in rows {
        let e = m.entry(k).or_default();
        e.0 += b;
        e.1 += s;
    }
    m
}

/// The page for the days `range` and every candidate.
pub fn page(
    range: (NaiveDate, NaiveDate),
    currency: &str,
    whatifs: &[WhatIf],
) -> Result<String, String> {
    let mut body = String::new();
    let summary: Vec<Vec<String>> = whatifs
        .iter()
        .map(|w| {
            let s = &w.summary;
            vec![
                escape(&s.name),
                money(s.billed_baseline),
                money(s.billed_simulated),
                money(s.billed_simulated - s.billed_baseline),
                money(s.packages_simulated - s.packages_baseline),
                s.billed_more.to_string(),
                s.billed_less.to_string(),
                s.newly_suspended.to_string(),
                s.no_longer_suspended.to_string(),
                s.renewals_fail.to_string(),
                s.renewals_succeed.to_string(),
            ]
        })
        .collect();
    let head = [
        "candidate",
        "#billed baseline",
        "#billed simulated",
        "#billed delta",
        "#package sales delta",
        "#accounts billed more",
        "#billed less",
        "#newly suspended",
        "#no longer suspended",
        "#renewals that would fail",
        "#would succeed",
    ];
    let _ = writeln!(
        body,
        "<section id=\"summary\"><h2>Summary</h2>{}</section>",
        table("table-summary", &head, &summary)
    );
    for (i, w) in whatifs.iter().enumerate() {
        let name = &w.summary.name;
        let months: Vec<(String, Decimal, Decimal)> = by(w.months.iter().map(|m| (m.0, m.1, m.2)))
            .into_iter()
            .map(|(m, (b, s))| (m.format("%Y-%m").to_string(), b, s))
            .collect();
        let usage: Vec<(String, Decimal, Decimal)> =
            by(w.revenue.iter().filter(|r| r.1 == "usage").map(|r| (r.2.clone(), r.3, r.4)))
                .into_iter()
                .map(|(k, (b, s))| (k, b, s))
                .collect();
        let packages: Vec<(String, Decimal, Decimal)> =
            by(w.revenue.iter().filter(|r| r.1 == "package").map(|r| (r.2.clone(), r.3, r.4)))
                .into_iter()
                .map(|(k, (b, s))| (k, b, s))
                .collect();
        let _ = write!(
            body,
            "<section id=\"candidate-{i}\"><h2>{}</h2><div class=\"row\">",
            escape(name)
        );
        let charts = [
            (
                "months",
                "Billed per month (USD)",
                "month of the bill's period",
                &months,
                "Sum of bills by the month of their period, as billed and under the candidate.",
            ),
            (
                "usage",
                "Overage revenue by usage class (USD)",
                "usage class",
                &usage,
                "Pay-as-you-go charges over the days replayed.",
            ),
            (
                "packages",
                "Package sales by product/version (USD)",
                "product/version",
                &packages,
                "Charged purchases, renewals and upgrades over the days replayed.",
            ),
        ];
        for (id, title, x_desc, rows, caption) in charts {
            // A chart with no category has no axis to draw: said in words instead.
            if rows.is_empty() {
                let _ = write!(
                    body,
                    "<p class=\"empty\" id=\"chart-{id}-{i}\">{}: none on either side.</p>",
                    escape(title)
                );
                continue;
            }
            body.push_str(&figure(
                &format!("chart-{id}-{i}"),
                &pair(title, x_desc, name, rows)?,
                caption,
            ));
        }
        body.push_str("</div>");
        let top: Vec<Vec<String>> = w
            .top_accounts
            .iter()
            .map(|(a, b, s)| vec![a.to_string(), money(*b), money(*s), money(*s - *b)])
            .collect();
        body.push_str(&table(
            &format!("table-accounts-{i}"),
            &["account", "#billed baseline", "#billed simulated", "#delta"],
            &top,
        ));
        body.push_str("</section>\n");
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>rtcbill what-if {} to {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header><h1>rtcbill what-if</h1><p>Billing days {} to {} replayed under each candidate catalog and compared with what was billed. Money in {}, to the cent.</p></header>\n{body}<footer>Drawn by <code>rtcbill simulate --report</code>; the figures are those of its bill_diff, account_diff and revenue_diff datasets.</footer>\n</main>\n</body>\n</html>",
        range.0,
        range.1,
        range.0,
        range.1,
        escape(currency)
    ))
}
