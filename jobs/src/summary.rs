//! The few lines a person reads after `run`, `backfill` or `nightly` (README, Jobs): the days
//! billed, bills issued and their total, revised and withdrawn bills, accounts entering arrears and
//! suspended, rejected slices, where the outputs are and the command that draws the report.
//! On stdout; in JSON log mode one JSON object on stderr like the log lines; `--quiet`: none.

use std::path::Path;

use rtcbill_pipeline::report::{job_totals, money, thousands};
use rtcbill_pipeline::run::DaySummary;
use rtcbill_pipeline::store::Published;
use rust_decimal::Decimal;

/// What the summary says.
#[derive(Debug)]
struct Summary {
    first: Option<chrono::NaiveDate>,
    last: Option<chrono::NaiveDate>,
    days: usize,
    bills: usize,
    billed: Decimal,
    currency: String,
    revised_bills: usize,
    withdrawn_bills: usize,
    arrears_entered: usize,
    suspended: usize,
    rejected: u64,
    outputs: String,
    /// The last done day, when the job wrote none.
    done_to: Option<chrono::NaiveDate>,
    report: String,
}

/// A word for a POSIX shell, quoted only when it needs to be.
fn sh(word: &str) -> String {
    if !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=+@,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn gather(data: &Path, out: &Path, days: &[DaySummary]) -> anyhow::Result<Summary> {
    let written: Vec<_> = days.iter().map(|d| d.day).collect();
    let totals = job_totals(out, &written)?;
    let currency = rtcbill_pipeline::catalog_file::load(&data.join("catalog.toml"))
        .map(|c| c.currency)
        .unwrap_or_default();
    let (first, last) = (written.iter().min().copied(), written.iter().max().copied());
    let done_to = if written.is_empty() {
        Published::open(out).ok().and_then(|p| p.done_days().ok()).and_then(|d| d.last().copied())
    } else {
        None
    };
    let mut report = format!(
        "rtcbill report --outputs {} --data {}",
        sh(&out.display().to_string()),
        sh(&data.display().to_string())
    );
    if let (Some(f), Some(l)) = (first, last) {
        report.push_str(&format!(" --from {f} --to {l}"));
    }
    report.push_str(" --out report.html");
    Ok(Summary {
        first,
        last,
        days: written.len(),
        bills: totals.bills,
        billed: totals.billed,
        currency,
        revised_bills: totals.revised_bills,
        withdrawn_bills: days.iter().map(|d| d.withdrawn_bills).sum(),
        arrears_entered: days.iter().map(|d| d.arrears_entered).sum(),
        suspended: totals.suspended,
        rejected: days.iter().map(|d| d.meter.rejected).sum(),
        outputs: out.display().to_string(),
        done_to,
        report,
    })
}

fn text(s: &Summary) -> String {
    let (Some(first), Some(last)) = (s.first, s.last) else {
        let done =
            s.done_to.map(|d| format!(": every day up to {d} is billed")).unwrap_or_default();
        return format!(
            "Nothing to do{done}.\n  outputs           {}\n  report            {}\n",
            s.outputs, s.report
        );
    };
    let range = if first == last { first.to_string() } else { format!("{first} to {last}") };
    let plural = |n: usize, one: &str, many: &str| {
        format!("{} {}", thousands(n as i128), if n == 1 { one } else { many })
    };
    format!(
        "Billed {} ({range}).\n  bills issued      {}, total {} {}\n  revised bills     {}\n  withdrawn bills   {}\n  arrears           {} entering arrears, {} suspended\n  rejected slices   {}\n  outputs           {}\n  report            {}\n",
        plural(s.days, "day", "days"),
        thousands(s.bills as i128),
        money(s.billed),
        s.currency,
        thousands(s.revised_bills as i128),
        thousands(s.withdrawn_bills as i128),
        plural(s.arrears_entered, "account", "accounts"),
        thousands(s.suspended as i128),
        thousands(s.rejected as i128),
        s.outputs,
        s.report,
    )
}

fn json(s: &Summary) -> serde_json::Value {
    serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "INFO",
        "fields": {
            "message": "summary",
            "days": s.days,
            "first_day": s.first.map(|d| d.to_string()),
            "last_day": s.last.map(|d| d.to_string()),
            "bills": s.bills,
            "billed": s.billed.round_dp(2).to_string(),
            "currency": s.currency,
            "revised_bills": s.revised_bills,
            "withdrawn_bills": s.withdrawn_bills,
            "arrears_entered": s.arrears_entered,
            "suspended": s.suspended,
            "rejected_slices": s.rejected,
            "outputs": s.outputs,
            "report_command": s.report,
        },
        "target": "rtcbill",
    })
}

/// Prints the summary of a job that wrote `days` (stdout, or a JSON line on stderr).
pub fn print(data: &Path, out: &Path, days: &[DaySummary], as_json: bool) -> anyhow::Result<()> {
    let s = gather(data, out, days)?;
    if as_json {
        crate::exit::say(&json(&s).to_string());
    } else {
        out!("{}", text(&s));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(sh("/srv/rtcbill/out"), "/srv/rtcbill/out");
        assert_eq!(sh("my out"), "'my out'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }
}
