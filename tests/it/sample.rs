//! The committed `sample-data/` run end to end: every dataset of rules.md, Outputs with its exact
//! types and file metadata, the invariants of rules.md, Outputs, and determinism (same bytes twice,
//! and with 1 or 2 threads).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Command;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use rtcbill_schemas::{OUTPUTS, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use rust_decimal::Decimal;

use crate::common::*;

pub fn run_sample(out: &Path, threads: usize) {
    let o = Command::new(bin())
        .args([
            "run",
            "--data",
            repo().join("sample-data").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env("POLARS_MAX_THREADS", threads.to_string())
        .env("RTCBILL_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every output file under `dir` by path, as a reader of the plain dataset paths sees them
/// (not the `_rtcbill` bookkeeping, nor the same files again through `current`).
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !(p.ends_with("_rtcbill") || d == dir && p.ends_with("current")) {
                    stack.push(p);
                }
            } else {
                m.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    m
}

#[test]
fn sample_run_writes_every_dataset_with_the_contract_types_deterministically() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run_sample(a.path(), 1);
    run_sample(b.path(), 2);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{k} differs between 1 and 2 threads");
    }
    // 62 days × 11 datasets, one file each.
    assert_eq!(fa.len(), 62 * OUTPUTS.len());
    for ds in OUTPUTS {
        let f = a.path().join(ds.name).join("billing_date=2026-10-01/part-0.parquet");
        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&f).unwrap()).unwrap();
        assert_eq!(r.schema().fields(), ds.schema().fields(), "{}", ds.name);
        let md = r.metadata().file_metadata();
        let kv = md.key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|k| k.key == SCHEMA_VERSION_KEY && k.value.as_deref() == Some(SCHEMA_VERSION)));
        for rg in r.metadata().row_groups() {
            assert!(rg.columns().iter().all(|c| matches!(c.compression(), Compression::ZSTD(_))));
            assert!(rg.columns().iter().all(|c| c.statistics().is_some()), "{}", ds.name);
            assert_eq!(
                rg.sorting_columns().map(|s| s.len()),
                Some(ds.sort_key.len()),
                "{}",
                ds.name
            );
        }
    }
}

#[test]
fn sample_run_keeps_the_invariants_of_spec_7() {
    let out = tempfile::tempdir().unwrap();
    run_sample(out.path(), 2);
    let usage = read_dataset(out.path(), "usage_daily");
    let deductions = read_dataset(out.path(), "deductions");
    let charges = read_dataset(out.path(), "charges");
    type K = (String, i64, String);
    let k = |r: &Row| -> K {
        (text(r, "billing_date").to_string(), int(r, "app_id"), text(r, "usage_class").to_string())
    };
    let mut covered: BTreeMap<K, i64> = BTreeMap::new();
    for r in &deductions {
        *covered.entry(k(r)).or_default() += int(r, "usage_minutes");
        assert_eq!(int(r, "package_minutes") % int(r, "usage_minutes"), 0);
    }
    for r in &charges {
        *covered.entry(k(r)).or_default() += int(r, "minutes");
    }
    assert!(usage.len() > 1000, "the sample is not trivial");
    for r in &usage {
        // billable = Σ deductions.usage_minutes + charges.minutes
        assert_eq!(covered.remove(&k(r)).unwrap_or(0), int(r, "billable_minutes"), "{r:?}");
    }
    assert!(covered.values().all(|v| *v == 0), "deductions or charges without usage: {covered:?}");
    for r in read_dataset(out.path(), "package_balances") {
        assert!(int(&r, "minutes_left") >= 0);
        assert_eq!(int(&r, "minutes_used"), int(&r, "minutes_total") - int(&r, "minutes_left"));
    }
    let lines = read_dataset(out.path(), "bill_lines");
    let bills = read_dataset(out.path(), "bills");
    assert!(bills.len() > 100);
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for l in &lines {
        *sums.entry(text(l, "bill_id").to_string()).or_default() += dec(l, "amount");
    }
    for b in &bills {
        let sum = sums[text(b, "bill_id")];
        assert_eq!(
            dec(b, "amount"),
            sum.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        );
        assert_eq!(dec(b, "balance_after"), dec(b, "balance_before") - dec(b, "amount"));
    }
    // Every rule the sample is meant to show appears at least once.
    let events: Vec<String> = read_dataset(out.path(), "status_events")
        .iter()
        .map(|r| text(r, "event").to_string())
        .collect();
    for e in [
        "arrears_entered",
        "arrears_cleared",
        "suspended",
        "restored",
        "reclaim_due",
        "renewal_failed",
        "app_disabled",
        "violation",
        "free_quota_exhausted",
    ] {
        assert!(events.iter().any(|x| x == e), "no {e} in the sample");
    }
    let orders = read_dataset(out.path(), "orders");
    for reason in [
        "overlapping_monthly",
        "invalid_quantity",
        "unknown_version",
        "insufficient_balance",
        "not_higher_version",
        "not_upgradable",
        "not_in_force",
        "unknown_package",
    ] {
        assert!(
            orders.iter().any(|r| r["reason"].as_str() == Some(reason)),
            "no order rejected {reason}"
        );
    }
    for kind in ["purchase", "upgrade", "renewal"] {
        assert!(
            orders.iter().any(|r| text(r, "kind") == kind && text(r, "status") == "accepted"),
            "no accepted {kind}"
        );
    }
    assert!(bills.iter().any(|b| text(b, "cycle") == "monthly"));
    let rejected: Vec<String> = read_dataset(out.path(), "rejected_usage")
        .iter()
        .map(|r| text(r, "reason").to_string())
        .collect();
    for reason in [
        "missing_event_id",
        "missing_start_time",
        "wrong_partition",
        "unknown_app",
        "unknown_usage_class",
        "invalid_seconds",
        "conflicting_duplicate",
    ] {
        assert!(rejected.iter().any(|x| x == reason), "no usage rejected {reason}");
    }
}

#[test]
fn sample_data_is_the_generator_output() {
    // `rtcbill generate` with its defaults writes exactly the committed sample-data/.
    let tmp = tempfile::tempdir().unwrap();
    let o = rtcbill(&["generate", "--out", tmp.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // (what-if/ holds hand-written candidate catalogs for `rtcbill simulate`)
    let mut want = files(&repo().join("sample-data"));
    want.retain(|k, _| !k.starts_with("what-if/"));
    let got = files(tmp.path());
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, v) in &got {
        assert!(v == &want[k], "{k} differs from the committed sample-data");
    }
}

#[test]
fn schema_command_prints_the_data_dictionary() {
    let o = rtcbill(&["schema", "bills"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("bills (output)"), "{text}");
    assert!(text.contains("amount          decimal(18,2)"), "{text}");
    assert!(text.contains("partition: billing_date=YYYY-MM-DD"));
    let o = rtcbill(&["schema", "nope"]);
    assert_eq!(o.status.code(), Some(64));
}

#[test]
fn the_streaming_and_the_polars_metering_give_the_same_bytes() {
    // rules.md, Metering two ways: the default streaming path and the polars reference, on the
    // sample (every reject reason, identical and differing duplicates) and on both conformance
    // cases.
    let mut roots = vec![repo().join("sample-data")];
    roots.extend(["metering", "order"].map(|c| repo().join("tests/cases").join(c).join("data")));
    for data in roots {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (out, meter) in [(a.path(), "stream"), (b.path(), "polars")] {
            let o = Command::new(bin())
                .args([
                    "--meter",
                    meter,
                    "run",
                    "--data",
                    data.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                ])
                .env("RTCBILL_LOG", "warn")
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let (fa, fb) = (files(a.path()), files(b.path()));
        assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        for (k, v) in &fa {
            assert!(v == &fb[k], "{}: {k} differs between the metering engines", data.display());
        }
    }
}
