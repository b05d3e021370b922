//! rules.md, Inputs: a bad input stops the run before anything is written, exit 65 (EX_DATAERR),
//! with one line on stderr naming the file, the column and, for a null, the row.

use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};

use crate::common::*;

fn fails_with(root: &DataRoot, needles: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    // (folders the run makes above the root are removed with it)
    let dest = out.path().join("out/nested/root");
    let o =
        rtcbill(&["run", "--data", root.path().to_str().unwrap(), "--out", dest.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
    assert!(!out.path().join("out").exists(), "nothing is written on bad input");
}

fn good_day(root: &DataRoot) {
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
}

#[test]
fn a_file_that_is_not_parquet() {
    let root = DataRoot::new();
    good_day(&root);
    std::fs::write(
        root.path().join("usage/usage_date=2026-02-10/part-9.parquet"),
        b"not parquet at all",
    )
    .unwrap();
    fails_with(&root, &["usage_date=2026-02-10/part-9.parquet", "not a readable Parquet file"]);
}

/// A data root without its catalog (an output root given as `--data`) is bad input naming the
/// file, exit 65 (it was 74, an I/O error), for the jobs and the reading jobs alike.
#[test]
fn a_data_root_without_its_catalog() {
    let root = DataRoot::new();
    good_day(&root);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    std::fs::remove_file(root.path().join("catalog.toml")).unwrap();
    fails_with(&root, &["catalog.toml", "is --data the data root?"]);
    let o = rtcbill(&[
        "verify",
        "--data",
        out.path().to_str().unwrap(),
        "--outputs",
        out.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(err.contains("catalog.toml: missing"), "{err}");
}

/// A bad file in the second day: an output folder made beforehand (empty, as a deploy makes
/// it) is left empty, with no day of the run written first; and a run that stops before the
/// bad day reads nothing of it, whether its root exists yet or not.
#[test]
fn bad_usage_of_a_later_day_stops_the_run_before_any_day_is_written() {
    let root = DataRoot::new();
    good_day(&root);
    root.usage("2026-02-11", "part-0.parquet", &[slice("b1", "2026-02-11T01:00:00Z", 60)]);
    std::fs::write(root.path().join("usage/usage_date=2026-02-11/part-9.parquet"), b"junk")
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let data = root.path().to_str().unwrap();
    let o = rtcbill(&["run", "--data", data, "--out", out.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "no day written first: {err}");
    assert!(err.contains("usage_date=2026-02-11/part-9.parquet"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "the folder is left empty");
    for made in [false, true] {
        let dest = out.path().join(format!("to-{made}"));
        if made {
            std::fs::create_dir(&dest).unwrap();
        }
        let o = rtcbill(&[
            "run",
            "--data",
            data,
            "--out",
            dest.to_str().unwrap(),
            "--to",
            "2026-02-10",
            "-q",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(read_dataset(&dest, "usage_daily").len(), 1);
    }
}

#[test]
fn a_missing_column() {
    let root = DataRoot::new();
    good_day(&root);
    let ts = Arc::new(TimestampMicrosecondArray::from(vec![0i64]).with_timezone("UTC")) as ArrayRef;
    write_parquet(
        &root.path().join("transactions/part-0.parquet"),
        &batch(vec![
            ("txn_id", Arc::new(StringArray::from(vec!["t1"])), false),
            ("account_id", Arc::new(Int64Array::from(vec![10])), false),
            ("time", ts, false),
            ("kind", Arc::new(StringArray::from(vec!["recharge"])), false),
        ]),
    );
    fails_with(&root, &["transactions/part-0.parquet", "column amount", "missing"]);
}

#[test]
fn a_wrong_type() {
    let root = DataRoot::new();
    good_day(&root);
    let b = batch(vec![
        ("event_id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef, false),
        ("app_id", Arc::new(StringArray::from(vec!["101"])), false),
        ("user_id", Arc::new(StringArray::from(vec!["u"])), false),
        ("room_id", Arc::new(StringArray::from(vec!["r"])), false),
        ("usage_class", Arc::new(StringArray::from(vec!["audio"])), false),
        (
            "start_time",
            Arc::new(TimestampMicrosecondArray::from(vec![0i64]).with_timezone("UTC")),
            false,
        ),
        ("seconds", Arc::new(Int64Array::from(vec![1])), false),
    ]);
    write_parquet(&root.path().join("usage/usage_date=2026-02-10/part-1.parquet"), &b);
    fails_with(&root, &["part-1.parquet", "column app_id", "Utf8"]);
}

#[test]
fn a_null_in_a_required_column_names_the_row() {
    let root = DataRoot::new();
    good_day(&root);
    let ts =
        Arc::new(TimestampMicrosecondArray::from(vec![0i64, 0]).with_timezone("UTC")) as ArrayRef;
    write_parquet(
        &root.path().join("transactions/part-0.parquet"),
        &batch(vec![
            ("txn_id", Arc::new(StringArray::from(vec!["t1", "t2"])), false),
            ("account_id", Arc::new(Int64Array::from(vec![10, 10])), false),
            ("time", ts, false),
            ("kind", Arc::new(StringArray::from(vec!["recharge", "refund"])), false),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from(vec![Some(100i128), None])
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
                true,
            ),
        ]),
    );
    fails_with(&root, &["transactions/part-0.parquet", "column amount", "row 1"]);
}

#[test]
fn an_app_of_an_unknown_account() {
    let root = DataRoot::new();
    good_day(&root);
    let ts = Arc::new(TimestampMicrosecondArray::from(vec![0i64]).with_timezone("UTC")) as ArrayRef;
    let none = Arc::new(TimestampMicrosecondArray::from(vec![None::<i64>]).with_timezone("UTC"))
        as ArrayRef;
    write_parquet(
        &root.path().join("apps/part-1.parquet"),
        &batch(vec![
            ("app_id", Arc::new(Int64Array::from(vec![301])), false),
            ("account_id", Arc::new(Int64Array::from(vec![30])), false),
            ("created_at", ts, false),
            ("disabled_at", none.clone(), true),
            ("violation_at", none, true),
        ]),
    );
    fails_with(
        &root,
        &["apps/part-1.parquet", "column account_id", "row 0", "account 30 is not in accounts"],
    );
}

/// rules.md, Inputs: ids are unique. A package id in two files names the second file and the
/// row of its second occurrence there.
#[test]
fn a_package_id_in_two_files_names_the_file_and_row_of_the_second() {
    let root = DataRoot::new();
    good_day(&root);
    let pkg = |id| {
        (id, 10, Some(101), "monthly", "rtc_engine", "lite", "2026-02-01T02:00:00Z", 990, None)
    };
    write_packages(&root.path().join("packages/part-0.parquet"), &[pkg("m-1"), pkg("m-2")]);
    write_packages(&root.path().join("packages/part-1.parquet"), &[pkg("m-3"), pkg("m-1")]);
    fails_with(
        &root,
        &["packages/part-1.parquet", "column package_id, row 1", "m-1 appears twice"],
    );
}

/// rules.md, Inputs: ids are unique. Every kind of id names the file, column and row of
/// its second occurrence (a transaction id across two files, an event id and an app id within
/// one).
#[test]
fn a_repeated_id_of_every_table_names_the_file_and_row_of_the_second() {
    let root = DataRoot::new();
    good_day(&root);
    let t = |id| (id, 10, "2026-02-01T00:00:00Z", "recharge", 100);
    write_txns(&root.path().join("transactions/part-0.parquet"), &[t("t-1"), t("t-2")]);
    write_txns(&root.path().join("transactions/part-1.parquet"), &[t("t-3"), t("t-4"), t("t-2")]);
    fails_with(
        &root,
        &["transactions/part-1.parquet", "column txn_id, row 2", "txn_id t-2 appears twice"],
    );

    let root = DataRoot::new();
    good_day(&root);
    let ts = Arc::new(TimestampMicrosecondArray::from(vec![0i64; 3]).with_timezone("UTC"));
    write_parquet(
        &root.path().join("package_events/part-0.parquet"),
        &batch(vec![
            ("event_id", Arc::new(StringArray::from(vec!["e-1", "e-2", "e-1"])) as ArrayRef, false),
            ("package_id", Arc::new(StringArray::from(vec!["m-1"; 3])), false),
            ("time", ts, false),
            ("kind", Arc::new(StringArray::from(vec!["auto_renew_off"; 3])), false),
            ("target_version", Arc::new(StringArray::from(vec![None::<&str>; 3])), true),
        ]),
    );
    fails_with(
        &root,
        &["package_events/part-0.parquet", "column event_id, row 2", "event_id e-1 appears twice"],
    );

    let root = DataRoot::new();
    good_day(&root);
    edit_parquet(&root.path().join("apps/part-0.parquet"), |b| map_column(b, "app_id", |_, _| 101));
    fails_with(&root, &["apps/part-0.parquet", "column app_id, row 1", "app_id 101 appears twice"]);
}

#[test]
fn a_bad_catalog() {
    // rules.md, Inputs: a ratio or a block of minutes beyond the catalog's limits would wrap
    // package minutes (a ratio of i64::MAX gave billable 128, package minutes -128).
    for (from, to, needle) in [
        ("audio = \"0.99\"", "audio = 0.99", "no floats for money"),
        ("ratio = 4", "ratio = 9223372036854775807", "ratio must be 1 to 10000"),
        ("minutes = 10000", "minutes = 1000000001", "1000000001 is above 1000000000"),
    ] {
        let root = DataRoot::new();
        good_day(&root);
        let p = root.path().join("catalog.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from));
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
        fails_with(&root, &["catalog.toml", needle]);
    }
}

#[test]
fn a_quantity_beyond_int32_names_its_row() {
    // The contract's quantity is int32; a wider column is read, but 2^50 blocks of minutes
    // wrapped to a negative balance that the run published.
    use arrow::datatypes::{DataType, Field, Schema};
    let root = DataRoot::new();
    good_day(&root);
    let f = root.path().join("packages/part-0.parquet");
    let order = |id| (id, 10, None, "topup", "rtc_engine", "25k", "2026-02-01T00:00:00Z", 0, None);
    write_packages(&f, &[order("top-1"), order("top-2")]);
    edit_parquet(&f, |b| {
        let i = b.schema().index_of("quantity").unwrap();
        let mut fields: Vec<Field> =
            b.schema().fields().iter().map(|x| x.as_ref().clone()).collect();
        fields[i] = Field::new("quantity", DataType::Int64, true);
        let mut cols = b.columns().to_vec();
        cols[i] = Arc::new(Int64Array::from(vec![i32::MAX as i64, 1 << 50]));
        arrow::array::RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    });
    fails_with(
        &root,
        &["packages/part-0.parquet", "column quantity, row 1", "1125899906842624 is beyond int32"],
    );
}

#[test]
fn an_entry_named_like_parquet_that_is_not_a_parquet_file_is_refused() {
    // Rows in any of these were lost unread: apps moved into a folder `apps/part-0.parquet/`
    // (as Spark writes) left no app, and every slice was rejected `unknown_app`, exit 0.
    for (name, kind) in
        [("part-1.parquet", "folder"), ("part-1.parquet", "link"), ("part-1.PARQUET", "copy")]
    {
        let root = DataRoot::new();
        good_day(&root);
        let p = root.path().join("apps").join(name);
        match kind {
            "folder" => std::fs::create_dir(&p).unwrap(),
            "link" => std::os::unix::fs::symlink("nowhere.parquet", &p).unwrap(),
            _ => _ = std::fs::copy(p.with_file_name("part-0.parquet"), &p).unwrap(),
        }
        fails_with(&root, &[&format!("apps/{name}")]);
    }
    // Another kind of file is left unread with a warning; hidden ones (`_SUCCESS`) silently.
    let root = DataRoot::new();
    good_day(&root);
    std::fs::write(root.path().join("apps/README.txt"), "exported nightly").unwrap();
    std::fs::write(root.path().join("apps/_SUCCESS"), "").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_ok(root.path(), out.path(), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("not a *.parquet file: not read").count(), 1, "{err}");
    assert!(err.contains("apps/README.txt"), "{err}");
}

#[test]
fn a_usage_folder_that_is_not_a_partition() {
    let root = DataRoot::new();
    good_day(&root);
    std::fs::create_dir_all(root.path().join("usage/2026-02-11")).unwrap();
    fails_with(&root, &["usage/2026-02-11", "usage_date=YYYY-MM-DD"]);
}

#[test]
fn an_unsigned_value_above_the_int64_range_names_its_row_and_is_not_lost() {
    use arrow::array::UInt64Array;
    let root = DataRoot::new();
    good_day(&root);
    let b = batch(vec![
        ("event_id", Arc::new(StringArray::from(vec!["u1", "u2"])) as ArrayRef, false),
        ("app_id", Arc::new(Int64Array::from(vec![101, 101])), false),
        ("user_id", Arc::new(StringArray::from(vec![None::<&str>, None])), true),
        ("room_id", Arc::new(StringArray::from(vec![None::<&str>, None])), true),
        ("usage_class", Arc::new(StringArray::from(vec!["audio", "audio"])), false),
        (
            "start_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![ts_us("2026-02-10T01:00:00Z"); 2])
                    .with_timezone("UTC"),
            ),
            false,
        ),
        ("seconds", Arc::new(UInt64Array::from(vec![30, u64::MAX])), false),
    ]);
    write_parquet(&root.path().join("usage/usage_date=2026-02-10/part-1.parquet"), &b);
    fails_with(
        &root,
        &["usage_date=2026-02-10/part-1.parquet", "column seconds, row 1", "18446744073709551615"],
    );
}

#[test]
fn a_time_outside_the_years_1_to_9999_outside_usage_names_its_row() {
    // rules.md, Inputs: an instant outside usage lies in the years 1 to 9999. A time in
    // milliseconds beyond what microseconds hold is not wrapped around, and one that fits but
    // is 292 million years ahead is not handed to the clock (it panicked counting days).
    use arrow::array::TimestampMillisecondArray;
    for (far, why) in [
        (i64::MAX / 10, "beyond the range of microseconds"),
        (i64::MAX / 1000, "outside the years 1 to 9999"),
        (253_402_300_800_000, "outside the years 1 to 9999"),
    ] {
        let root = DataRoot::new();
        good_day(&root);
        let b = batch(vec![
            ("txn_id", Arc::new(StringArray::from(vec!["t1", "t2"])) as ArrayRef, false),
            ("account_id", Arc::new(Int64Array::from(vec![10, 10])), false),
            (
                "time",
                Arc::new(
                    TimestampMillisecondArray::from(vec![1_770_000_000_000, far])
                        .with_timezone("UTC"),
                ),
                false,
            ),
            ("kind", Arc::new(StringArray::from(vec!["recharge", "recharge"])), false),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from(vec![100, 100]).with_precision_and_scale(18, 2).unwrap(),
                ),
                false,
            ),
        ]);
        write_parquet(&root.path().join("transactions/part-0.parquet"), &b);
        fails_with(&root, &["transactions/part-0.parquet", "column time, row 1", why]);
    }
}

/// An amount the outputs cannot hold (rules.md, Outputs: money is decimal(18,2)) is found
/// only when a day is written: a recharge of 9,999,999,999,999,999.00 on top of 100.00. Bad
/// input: exit 65 naming the day, dataset and column, and the output root as it was, whether
/// new or with days done (no `work/` left for the next nightly to trip on again).
#[test]
fn an_amount_beyond_the_outputs_decimals_is_bad_input_and_writes_nothing() {
    let root = DataRoot::new();
    good_day(&root);
    root.usage("2026-02-11", "part-0.parquet", &[slice("b1", "2026-02-11T01:00:00Z", 60)]);
    let recharge = 999_999_999_999_999_900;
    write_txns(
        &root.path().join("transactions/part-0.parquet"),
        &[("huge", 10, "2026-02-11T03:00:00Z", "recharge", recharge)],
    );
    fails_with(&root, &["2026-02-11: ", "balance", "does not fit decimal(18,2)", "out of range"]);

    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &["--to", "2026-02-10"]);
    let before = read_dataset(out.path(), "account_status");
    let data = root.path().to_str().unwrap();
    let o = rtcbill(&[
        "nightly",
        "--data",
        data,
        "--out",
        out.path().to_str().unwrap(),
        "--today",
        "2026-02-12",
    ]);
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_dataset(out.path(), "account_status"), before);
    assert!(!out.path().join("_rtcbill/work").exists());
}

/// rules.md, Choices 8: at most 400 days are billed after the last usage day (02-10 here);
/// a mistyped date stops the run before anything is written, whichever command.
#[test]
fn a_date_far_past_the_last_usage_day_is_refused() {
    let root = DataRoot::new();
    good_day(&root);
    let data = root.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("out");
    let dest = dest.to_str().unwrap();
    for args in [
        vec!["run", "--data", data, "--out", dest, "--to", "2027-03-18"],
        vec!["nightly", "--data", data, "--out", dest, "--today", "9999-12-31"],
        vec![
            "backfill",
            "--data",
            data,
            "--out",
            dest,
            "--from",
            "2026-02-10",
            "--to",
            "2099-01-01",
        ],
    ] {
        let o = rtcbill(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(65), "{args:?}: {err}");
        assert!(err.contains("after the last usage day 2026-02-10"), "{err}");
        assert!(!out.path().join("out").exists(), "{args:?} wrote");
    }
    // 400 days after it is still billed.
    let o = rtcbill(&["run", "--data", data, "--out", dest, "--to", "2027-03-17"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_empty_usage_folder_is_no_day_and_a_day_without_usage_is_billed_with_a_warning() {
    // rules.md, Choices: usage on 02-10 and 02-12, an empty folder for 02-15.
    let root = DataRoot::new();
    good_day(&root);
    root.usage("2026-02-12", "part-0.parquet", &[slice("a2", "2026-02-12T01:00:00Z", 90)]);
    std::fs::create_dir_all(root.path().join("usage/usage_date=2026-02-15")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_ok(root.path(), out.path(), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    let mut days: Vec<String> = read_dataset(out.path(), "account_status")
        .iter()
        .map(|r| text(r, "billing_date").to_string())
        .collect();
    days.dedup();
    assert_eq!(days, ["2026-02-10", "2026-02-11", "2026-02-12"]);
    assert!(
        err.contains("usage folder with no Parquet file ignored")
            && err.contains("usage_date=2026-02-15"),
        "{err}"
    );
    assert!(err.contains("no usage file for the day") && err.contains("2026-02-11"), "{err}");
}

#[test]
fn odd_commands_end_cleanly() {
    // README, Exit statuses: no panic, and nothing left behind.
    let root = DataRoot::new();
    good_day(&root);
    let tmp = tempfile::tempdir().unwrap();
    // A nightly with nothing to do on a new root: exit 0, the root as it was found.
    let (fresh, empty) = (tmp.path().join("fresh"), tmp.path().join("empty"));
    std::fs::create_dir(&empty).unwrap();
    for out in [&fresh, &empty] {
        let args = ["nightly", "--data", root.path().to_str().unwrap(), "--out"];
        ok(rtcbill(&[&args[..], &[out.to_str().unwrap(), "--today", "2026-02-10"]].concat()));
    }
    assert!(!fresh.exists());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    // A backfill whose --to is before its --from: a bad command line, nothing written.
    let b = tmp.path().join("b");
    let args = ["backfill", "--data", root.path().to_str().unwrap(), "--out", b.to_str().unwrap()];
    let o = rtcbill(&[&args[..], &["--from", "2026-02-10", "--to", "2026-02-09"]].concat());
    assert_eq!(o.status.code(), Some(64), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!b.exists());
    // No days to generate: a usage error.
    let g = tmp.path().join("g");
    assert_eq!(
        rtcbill(&["generate", "--out", g.to_str().unwrap(), "--days", "0"]).status.code(),
        Some(64)
    );
    // Into a folder that holds something: refused, the folder as it was (an earlier root's
    // files would be read beside the new ones).
    std::fs::create_dir_all(g.join("usage/usage_date=2020-01-01")).unwrap();
    let o = rtcbill(&["generate", "--out", g.to_str().unwrap(), "--days", "1"]);
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not empty"));
    assert_eq!(std::fs::read_dir(&g).unwrap().count(), 1);
    // Days before the generated catalog's prices, or whose events would fall outside the years
    // 1 to 9999: roots `run` refuses.
    let g = tmp.path().join("g9999");
    for (start, days) in [("9999-12-20", "1"), ("0001-01-01", "1"), ("2026-01-01", "4294967295")] {
        let o =
            rtcbill(&["generate", "--out", g.to_str().unwrap(), "--start", start, "--days", days]);
        assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("from 2020-01-01"));
        assert!(!g.exists());
    }
    // A stdout that cannot be written does not fail a job whose work is done.
    let out = tmp.path().join("out");
    let o = std::process::Command::new(bin())
        .args(["run", "--data", root.path().to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("RTCBILL_LOG", "warn")
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("stdout cannot be written"));
    assert!(out.join("current/bills").exists());
    // A reclaim a hundred million days on is refused, naming the key.
    let text = std::fs::read_to_string(root.path().join("catalog.toml")).unwrap();
    let far = text.replace("reclaim_days = 60", "reclaim_days = 100000000");
    assert_ne!(far, text);
    std::fs::write(root.path().join("catalog.toml"), far).unwrap();
    fails_with(&root, &["catalog.toml", "reclaim_days 0 to 36500"]);
}

#[test]
fn a_job_writes_only_where_it_may_and_a_full_log_does_not_stop_it() {
    let data = repo().join("sample-data");
    let d = data.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A folder that is not an output root (no _rtcbill/), with a folder where a root keeps a
    // link: nothing in it is removed or moved (a folder at `current` was removed, the
    // datasets' folders taken for an earlier version's and published). Exit 65.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("current")).unwrap();
    std::fs::create_dir_all(foreign.join("bills")).unwrap();
    std::fs::write(foreign.join("current/keep.txt"), "k").unwrap();
    std::fs::write(foreign.join("notes.txt"), "n").unwrap();
    let before = crate::sample::files(&foreign);
    let o =
        rtcbill(&["run", "--data", d, "--out", foreign.to_str().unwrap(), "--to", "2026-09-01"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(err.contains("is not an rtcbill output root") && err.contains("current"), "{err}");
    assert_eq!(crate::sample::files(&foreign), before);
    // Other entries are never touched: a mount point's lost+found, a page or an export kept
    // at the top of the root.
    let mount = dir.path().join("mount");
    std::fs::create_dir_all(mount.join("lost+found")).unwrap();
    std::fs::write(mount.join("report.html"), "r").unwrap();
    ok(rtcbill(&["run", "--data", d, "--out", mount.to_str().unwrap(), "--to", "2026-09-01"]));
    assert!(mount.join("lost+found").is_dir() && !read_dataset(&mount, "bills").is_empty());
    assert_eq!(std::fs::read(mount.join("report.html")).unwrap(), b"r");
    // An output root inside the data root would be read back as input: refused, not made.
    let copy = dir.path().join("data");
    copy_dir(&data, &copy);
    let inside = copy.join("out");
    let o = rtcbill(&["run", "--data", copy.to_str().unwrap(), "--out", inside.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!inside.exists());
    // cron's `>> log 2>&1` on a full disk: the job still bills and publishes (it panicked,
    // exit 101, with nothing billed), in both log formats.
    for format in ["text", "json"] {
        let out = dir.path().join(format!("out-{format}"));
        let full = || std::fs::File::options().write(true).open("/dev/full").unwrap();
        let o = std::process::Command::new(bin())
            .args(["--log-format", format, "nightly", "--data", d, "--out"])
            .args([out.to_str().unwrap(), "--today", "2026-09-03"])
            .stdout(full())
            .stderr(full())
            .status()
            .unwrap();
        assert_eq!(o.code(), Some(0), "{format}");
        assert_eq!(read_dataset(&out, "bills").len(), 18, "{format}");
    }
}

#[test]
fn a_catalog_in_another_currency_than_the_bills_issued_is_refused() {
    // rules.md, Choices 16: the nightly relabelled every issued bill EUR at revision 1, the
    // amounts unchanged, and said "revised bills 0".
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&repo().join("sample-data"), &data);
    let (d, out) = (data.to_str().unwrap(), dir.path().join("out"));
    let o = out.to_str().unwrap();
    ok(rtcbill(&["run", "--data", d, "--out", o, "--to", "2026-09-03"]));
    let before = crate::sample::files(&out);
    let catalog = data.join("catalog.toml");
    let usd = std::fs::read_to_string(&catalog).unwrap();
    std::fs::write(&catalog, usd.replace("currency = \"USD\"", "currency = \"EUR\"")).unwrap();
    let r = rtcbill(&["nightly", "--data", d, "--out", o, "--today", "2026-09-05"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(65), "{err}");
    assert!(err.contains("currency \"EUR\", but the bills") && err.contains("\"USD\""), "{err}");
    assert_eq!(crate::sample::files(&out), before);
    // A new output root takes it.
    let fresh = dir.path().join("eur");
    ok(rtcbill(&["run", "--data", d, "--out", fresh.to_str().unwrap(), "--to", "2026-09-01"]));
    assert!(read_dataset(&fresh, "bills").iter().all(|b| text(b, "currency") == "EUR"));
}
