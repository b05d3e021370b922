//! `rtcbill verify`: a clean run verifies; each targeted damage to the outputs or the inputs is
//! named by exactly its check (README, Verify).

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

struct Verified {
    code: Option<i32>,
    stdout: String,
    /// The checks with violations (from `--json`).
    failed: BTreeSet<String>,
    lines: Vec<serde_json::Value>,
}

fn verify(data: &Path, out: &Path) -> Verified {
    let args = ["verify", "--data", data.to_str().unwrap(), "--outputs", out.to_str().unwrap()];
    let text = rtcbill(&args);
    let json = rtcbill(&[&args[..], &["--json"]].concat());
    assert_eq!(text.status.code(), json.status.code());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = lines.iter().filter_map(|l| l["check"].as_str().map(str::to_string)).collect();
    Verified {
        code: text.status.code(),
        stdout: String::from_utf8_lossy(&text.stdout).to_string(),
        failed,
        lines,
    }
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The sample billed to 2026-11-01, and a copy of its outputs to damage.
struct Case {
    data: tempfile::TempDir,
    out: tempfile::TempDir,
}

fn case(base: &Path) -> Case {
    let data = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("sample-data"), data.path());
    let out = tempfile::tempdir().unwrap();
    copy_out(base, out.path());
    Case { data, out }
}

fn part(out: &Path, ds: &str, day: &str) -> std::path::PathBuf {
    out.join(ds).join(format!("billing_date={day}")).join("part-0.parquet")
}

#[test]
fn a_clean_run_verifies_and_each_damage_is_named_by_its_check() {
    let base = tempfile::tempdir().unwrap();
    run_ok(&repo().join("sample-data"), base.path(), &[]);
    let clean = verify(&repo().join("sample-data"), base.path());
    assert_eq!(clean.code, Some(0), "{}", clean.stdout);
    assert!(
        clean.stdout.contains("62 days verified") && clean.stdout.contains("every check holds"),
        "{}",
        clean.stdout
    );
    let day = "2026-10-15";

    // 4. a bill off by one cent: its bill named; the balance it left no longer follows either
    // (and the file is no longer the one recorded)
    let c = case(base.path());
    let bill = read_file(&part(c.out.path(), "bills", day))[0].clone();
    edit_parquet(&part(c.out.path(), "bills", day), |b| {
        map_column(b, "amount", |r, v| if r == 0 { v + 1 } else { v })
    });
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.failed,
        set(&["bill_amounts", "balance_chain", "files_and_schema"]),
        "{}",
        r.stdout
    );
    let named = r.lines.iter().find(|l| l["check"] == "bill_amounts").unwrap();
    assert_eq!(
        (named["bill_id"].as_str(), named["day"].as_str()),
        (Some(text(&bill, "bill_id")), Some(day)),
        "{named}"
    );

    // 3. a deduction row dropped: its app and class named
    let c = case(base.path());
    let ded = read_file(&part(c.out.path(), "deductions", day))[0].clone();
    edit_parquet(&part(c.out.path(), "deductions", day), |b| drop_row(b, 0));
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["minutes_covered", "files_and_schema"]), "{}", r.stdout);
    let named = r.lines.iter().find(|l| l["check"] == "minutes_covered").unwrap();
    assert_eq!(
        (named["app_id"].as_i64(), named["usage_class"].as_str()),
        (Some(int(&ded, "app_id")), Some(text(&ded, "usage_class")))
    );

    // 1. a usage file changed after the run: the file named, with the hint
    let c = case(base.path());
    let usage = c.data.path().join(format!("usage/usage_date={day}/part-0.parquet"));
    edit_parquet(&usage, |b| map_column(b, "seconds", |r, v| if r == 0 { v + 1 } else { v }));
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["inputs_unchanged"]), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("file=usage/usage_date={day}/part-0.parquet"))
            && r.stdout.contains("rtcbill nightly"),
        "{}",
        r.stdout
    );

    // 9. a partition deleted
    let c = case(base.path());
    std::fs::remove_file(part(c.out.path(), "bill_lines", day)).unwrap();
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["files_and_schema"]), "{}", r.stdout);
    assert!(r.stdout.contains("the bill_lines partition is missing"), "{}", r.stdout);

    // 9. a copy of a bills file beside it (readers would count every bill twice): named, and
    // removed by a backfill of the day, which writes the same bytes
    let c = case(base.path());
    let copy = part(c.out.path(), "bills", day).with_file_name("copy.parquet");
    std::fs::copy(part(c.out.path(), "bills", day), &copy).unwrap();
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["files_and_schema"]), "{}", r.stdout);
    let named = r.lines.iter().find(|l| l["check"] == "files_and_schema").unwrap();
    assert_eq!(
        named["file"].as_str(),
        Some(format!("bills/billing_date={day}/copy.parquet").as_str()),
        "{named}"
    );
    let args = ["backfill", "--data", c.data.path().to_str().unwrap(), "--from", day];
    ok(rtcbill(&[&args[..], &["--out", c.out.path().to_str().unwrap()]].concat()));
    assert!(!copy.exists());
    assert_eq!(verify(c.data.path(), c.out.path()).code, Some(0));
    assert_eq!(read_dataset(c.out.path(), "bills"), read_dataset(base.path(), "bills"));

    // 9. a partition of no done day and a file beside the partitions (readers read both; the
    // nightly carried them into each new snapshot): named, and left out of the snapshot the
    // next run publishes
    let c = case(base.path());
    let bills = c.out.path().join("bills");
    let (stray_day, stray) = (bills.join("billing_date=2030-01-01"), bills.join("stray.parquet"));
    std::fs::create_dir(&stray_day).unwrap();
    std::fs::copy(part(c.out.path(), "bills", day), stray_day.join("part-0.parquet")).unwrap();
    std::fs::copy(part(c.out.path(), "bills", day), &stray).unwrap();
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["files_and_schema"]), "{}", r.stdout);
    let named: BTreeSet<&str> = (r.lines.iter())
        .filter(|l| l["check"] == "files_and_schema")
        .filter_map(|l| l["file"].as_str())
        .collect();
    assert_eq!(named, BTreeSet::from(["bills/billing_date=2030-01-01", "bills/stray.parquet"]));
    let args = ["backfill", "--data", c.data.path().to_str().unwrap(), "--from", day];
    let o = ok(rtcbill(&[&args[..], &["--out", c.out.path().to_str().unwrap()]].concat()));
    assert!(String::from_utf8_lossy(&o.stderr).contains("left out of the next snapshot"));
    assert!(!stray_day.exists() && !stray.exists());
    assert_eq!(verify(c.data.path(), c.out.path()).code, Some(0));

    // 5. a balance edited: that account's chain breaks on that day and the next
    let c = case(base.path());
    let st = read_file(&part(c.out.path(), "account_status", day))[0].clone();
    edit_parquet(&part(c.out.path(), "account_status", day), |b| {
        map_column(b, "balance", |r, v| if r == 0 { v + 100 } else { v })
    });
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["balance_chain", "files_and_schema"]), "{}", r.stdout);
    let chain: Vec<_> = r.lines.iter().filter(|l| l["check"] == "balance_chain").collect();
    assert_eq!(chain.len(), 2, "{chain:?}");
    assert!(chain.iter().all(|l| l["account_id"].as_i64() == Some(int(&st, "account_id"))));

    // 6. a package's minutes left edited
    let c = case(base.path());
    edit_parquet(&part(c.out.path(), "package_balances", day), |b| {
        map_column(b, "minutes_left", |r, v| if r == 0 { v - 1 } else { v })
    });
    let r = verify(c.data.path(), c.out.path());
    assert!(r.failed.contains("package_minutes"), "{}", r.stdout);
    assert!(r.failed.is_subset(&set(&["package_minutes", "files_and_schema"])), "{}", r.stdout);

    // 7. a suspension one second late
    let c = case(base.path());
    let events = read_dataset(c.out.path(), "status_events");
    let s = events
        .iter()
        .find(|e| text(e, "event") == "suspended")
        .expect("the sample suspends an account");
    let (sday, sacc) = (text(s, "billing_date").to_string(), int(s, "account_id"));
    let rows = read_file(&part(c.out.path(), "status_events", &sday));
    let at = rows
        .iter()
        .position(|e| text(e, "event") == "suspended" && int(e, "account_id") == sacc)
        .unwrap();
    edit_parquet(&part(c.out.path(), "status_events", &sday), |b| {
        map_column(b, "time", |r, v| if r == at { v + 1_000_000 } else { v })
    });
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["arrears_timeline", "files_and_schema"]), "{}", r.stdout);
    assert!(r
        .lines
        .iter()
        .any(|l| l["check"] == "arrears_timeline" && l["account_id"].as_i64() == Some(sacc)));

    // 8. a bill at revision 2 with no revision 1 kept
    let c = case(base.path());
    edit_parquet(&part(c.out.path(), "bills", day), |b| {
        map_column(b, "revision", |r, v| if r == 0 { 2 } else { v })
    });
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["revision_history", "files_and_schema"]), "{}", r.stdout);

    // 2. a rejected slice dropped from the outputs
    let c = case(base.path());
    edit_parquet(&part(c.out.path(), "rejected_usage", "2026-09-03"), |b| drop_row(b, 0));
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["accounting_identity", "files_and_schema"]), "{}", r.stdout);

    // 2. counts that add up, but not to the rows of the day's usage files (a metering that
    // invented a slice and called it a collapsed duplicate)
    let c = case(base.path());
    let record = c.out.path().join("current/_days/2026-09-03.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    for k in ["slices_read", "slices_collapsed"] {
        m[k] = (m[k].as_u64().unwrap() + 1).into();
    }
    std::fs::write(&record, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["accounting_identity"]), "{}", r.stdout);
    assert!(r.stdout.contains("the day read"), "{}", r.stdout);

    // 9. the state a day left, gone (every later day starts from it)
    let c = case(base.path());
    std::fs::remove_file(c.out.path().join("current/_days/2026-09-03.state.zst")).unwrap();
    let r = verify(c.data.path(), c.out.path());
    assert_eq!(r.failed, set(&["files_and_schema"]), "{}", r.stdout);
    assert!(r.stdout.contains("the state the day left"), "{}", r.stdout);
}
