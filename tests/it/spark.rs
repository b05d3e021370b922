//! The metering stage on Apache Spark (`jobs/spark/meter.py`, pyspark in local mode, in a
//! virtual environment under `target/` made on first use): on the sample and on the
//! conformance cases its `usage_daily` and `rejected_usage` equal rtcbill's row for row, and
//! `rtcbill run --metered` on its output writes the same bytes as a plain run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::sample::files;

fn multiset(rows: Vec<Row>) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(serde_json::to_string(&r).unwrap()).or_default() += 1;
    }
    m
}

#[test]
fn spark_metering_equals_rtcbill_and_feeds_the_same_chain() {
    let py = python_venv("RTCBILL_SPARK_PYTHON", "py-spark", &["pyspark==3.5.*"]);
    let mut roots = vec![repo().join("sample-data")];
    roots.extend(["metering", "order"].map(|c| repo().join("tests/cases").join(c).join("data")));
    for data in roots {
        let d = data.to_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (metered, plain, via) =
            (tmp.path().join("metered"), tmp.path().join("plain"), tmp.path().join("via"));
        let o = Command::new(&py)
            .arg(repo().join("jobs/spark/meter.py"))
            .args(["--master", "local[2]", "--data", d, "--out", metered.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "spark job failed on {d}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        run_ok(&data, &plain, &[]);
        for ds in ["usage_daily", "rejected_usage"] {
            let (spark, ours) = (read_dataset(&metered, ds), read_dataset(&plain, ds));
            assert!(!ours.is_empty() || ds == "rejected_usage");
            assert_eq!(multiset(spark), multiset(ours), "{ds} of {d}: Spark and rtcbill differ");
        }
        let o = rtcbill(&[
            "--metered",
            metered.to_str().unwrap(),
            "run",
            "--data",
            d,
            "--out",
            via.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (m, v) = (metered.to_str().unwrap(), via.to_str().unwrap());
        ok(rtcbill(&["--metered", m, "verify", "--data", d, "--outputs", v]));
        let (a, b) = (files(&plain), files(&via));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, v) in &a {
            assert!(v == &b[k], "{d}: {k} differs between a plain run and --metered");
        }
    }
}

/// A metered folder built without Spark: rtcbill's own outputs of the metering case, with
/// `meter_counts` of 2026-02-10 set to `counts` (read, accepted, rejected, collapsed).
fn metered_folder(tmp: &Path, counts: [i64; 4]) -> PathBuf {
    use arrow::array::{ArrayRef, Int64Array};
    use std::sync::Arc;
    let metered = tmp.join("metered");
    run_ok(&repo().join("tests/cases/metering/data"), &metered, &[]);
    let counts = batch(
        ["slices_read", "accepted", "rejected", "collapsed"]
            .iter()
            .zip(counts)
            .map(|(n, v)| (*n, Arc::new(Int64Array::from(vec![v])) as ArrayRef, false))
            .collect(),
    );
    write_parquet(&metered.join("meter_counts/billing_date=2026-02-10/part-0.parquet"), &counts);
    metered
}

#[test]
fn a_metered_directory_whose_counts_do_not_add_up_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let metered = metered_folder(tmp.path(), [21, 8, 10, 2]);
    let data = repo().join("tests/cases/metering/data");
    let out = tmp.path().join("out");
    let o = rtcbill(&[
        "--metered",
        metered.to_str().unwrap(),
        "run",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(err.contains("counts do not add up: read 21, accepted 8"), "{err}");
}

#[test]
fn days_metered_from_a_folder_verify_against_that_folder() {
    // README, Verify: counts that add up (the metering case's 20 slices: 8 accepted, 10
    // rejected, 2 collapsed). `verify` reads the usage files where the run read them: with
    // `--metered` every check holds; without it, the raw files are not the ones recorded.
    let tmp = tempfile::tempdir().unwrap();
    let metered = metered_folder(tmp.path(), [20, 8, 10, 2]);
    let data = repo().join("tests/cases/metering/data");
    let (m, d, out) = (metered.to_str().unwrap(), data.to_str().unwrap(), tmp.path().join("out"));
    let o = out.to_str().unwrap();
    ok(rtcbill(&["--metered", m, "run", "--data", d, "--out", o]));
    let verified = rtcbill(&["--metered", m, "verify", "--data", d, "--outputs", o]);
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stdout));
    let raw = rtcbill(&["verify", "--data", d, "--outputs", o]);
    assert_eq!(raw.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&raw.stdout).contains("inputs_unchanged"));
    // simulate alike: its days are the ones billed only with `--metered`
    let cat = data.join("catalog.toml");
    let sim = |meter: &[&str], dest: &str| {
        let args = ["simulate", "--data", d, "--outputs", o, "--catalog", cat.to_str().unwrap()];
        let dest = tmp.path().join(dest);
        rtcbill(&[meter, &args[..], &["--out", dest.to_str().unwrap()]].concat())
    };
    ok(sim(&["--metered", m], "sim"));
    let raw = sim(&[], "raw");
    assert_eq!(raw.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&raw.stderr).contains("its usage files changed"));
}

/// Spark's reader turns millisecond timestamps into microseconds with overflow checks: a
/// `start_time` beyond what microseconds hold (which rtcbill's own metering rejects
/// `wrong_partition`) stops the job with one line naming the file, and nothing is written.
#[test]
fn a_start_time_beyond_microseconds_stops_the_spark_job_naming_its_file() {
    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
    use std::sync::Arc;
    let py = python_venv("RTCBILL_SPARK_PYTHON", "py-spark", &["pyspark==3.5.*"]);
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let strs = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let far = root.path().join("usage/usage_date=2026-02-10/far.parquet");
    write_parquet(
        &far,
        &batch(vec![
            ("event_id", strs("far"), true),
            ("app_id", Arc::new(Int64Array::from(vec![101])), true),
            ("user_id", strs("u1"), true),
            ("room_id", strs("r1"), true),
            ("usage_class", strs("audio"), true),
            (
                "start_time",
                Arc::new(TimestampMillisecondArray::from(vec![i64::MAX / 10]).with_timezone("UTC")),
                true,
            ),
            ("seconds", Arc::new(Int64Array::from(vec![60])), true),
        ]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let metered = tmp.path().join("metered");
    let o = Command::new(&py)
        .arg(repo().join("jobs/spark/meter.py"))
        .args(["--master", "local[2]", "--data", root.path().to_str().unwrap()])
        .args(["--out", metered.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("meter.py: Spark cannot read"), "{err}");
    assert!(
        last.contains("far.parquet") && last.contains("beyond what microseconds hold"),
        "{last}"
    );
    assert!(!metered.join("usage_daily").exists());
}
