//! README, Jobs of days: reruns are deterministic and idempotent, a part of a chain equals
//! the same days inside a longer one, a backfill of the middle equals the full run, a killed
//! run resumes to the same bytes, late data makes `nightly` revise bills, and the output root
//! takes one run at a time.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use crate::sample::{files, run_sample};

fn sample() -> String {
    repo().join("sample-data").to_string_lossy().to_string()
}

fn job(out: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(bin());
    c.args(args).args(["--out", out.to_str().unwrap()]).env("RTCBILL_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The files of `dir` for days up to `last`.
fn files_until(dir: &Path, last: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|(k, _)| k.split("billing_date=").nth(1).is_some_and(|d| &d[..10] <= last))
        .collect()
}

fn assert_same(
    a: &std::collections::BTreeMap<String, Vec<u8>>,
    b: &std::collections::BTreeMap<String, Vec<u8>>,
) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in a {
        assert!(v == &b[k], "{k} differs");
    }
}

#[test]
fn a_rerun_a_split_run_and_a_backfill_of_the_middle_give_the_same_bytes() {
    let full = tempfile::tempdir().unwrap();
    run_sample(full.path(), 2);
    let want = files(full.path());
    // (a) the same run again over the same output: nothing changes, no revision
    run_sample(full.path(), 2);
    assert_same(&want, &files(full.path()));
    // a run of days D1..D2 equals the same days inside the longer run (from the kept state)
    let split = tempfile::tempdir().unwrap();
    ok(job(split.path(), &["run", "--data", &sample(), "--to", "2026-09-15"], &[]));
    ok(job(split.path(), &["run", "--data", &sample(), "--from", "2026-09-16"], &[]));
    assert_same(&want, &files(split.path()));
    // metering each day only after the day before is written changes nothing
    let one_by_one = tempfile::tempdir().unwrap();
    ok(job(one_by_one.path(), &["--no-overlap", "run", "--data", &sample()], &[]));
    assert_same(&want, &files(one_by_one.path()));
    // (b) a backfill of the middle reruns it and every later done day: same bytes
    ok(job(
        full.path(),
        &["backfill", "--data", &sample(), "--from", "2026-09-20", "--to", "2026-09-25"],
        &[],
    ));
    assert_same(&want, &files(full.path()));
}

#[test]
fn a_run_killed_at_any_point_resumes_to_the_same_bytes() {
    let want_dir = tempfile::tempdir().unwrap();
    ok(job(want_dir.path(), &["run", "--data", &sample(), "--to", "2026-09-20"], &[]));
    let want = files(want_dir.path());
    // (c) aborted inside the commit of 2026-09-11 at each step, then resumed by nightly
    for point in ["staged", "renamed", "day", "published"] {
        let out = tempfile::tempdir().unwrap();
        ok(job(out.path(), &["run", "--data", &sample(), "--to", "2026-09-10"], &[]));
        let o = job(
            out.path(),
            &["nightly", "--data", &sample(), "--today", "2026-09-21"],
            &[("RTCBILL_CRASH_AT", point)],
        );
        assert!(!o.status.success(), "{point}: the crash point was not reached");
        every_file_is_whole(out.path());
        ok(job(out.path(), &["nightly", "--data", &sample(), "--today", "2026-09-21"], &[]));
        assert_same(&want, &files(out.path()));
    }
    // and by a real SIGKILL at a few moments of a long run
    for ms in [30u64, 150, 400] {
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin())
            .args([
                "run",
                "--data",
                &sample(),
                "--to",
                "2026-09-20",
                "--out",
                out.path().to_str().unwrap(),
            ])
            .env("RTCBILL_LOG", "warn")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        every_file_is_whole(out.path());
        ok(job(out.path(), &["nightly", "--data", &sample(), "--today", "2026-09-21"], &[]));
        assert_same(&want, &files_until(out.path(), "2026-09-20"));
    }
}

/// Every visible Parquet file is complete (readable to the end).
fn every_file_is_whole(out: &Path) {
    for (name, bytes) in files(out) {
        assert!(name.ends_with("part-0.parquet"), "stray file {name}");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1", "{name} is cut");
    }
}

#[test]
fn late_usage_found_by_nightly_gives_revision_2_and_keeps_the_first() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("sample-data"), data.path());
    let d = data.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    ok(job(out.path(), &["nightly", "--data", d, "--today", "2026-11-02"], &[]));
    let before = read_dataset(out.path(), "bills");
    let old = before
        .iter()
        .find(|b| text(b, "bill_id") == "daily-1004-20260910")
        .expect("1004 is billed daily")
        .clone();
    assert_eq!(int(&old, "revision"), 1);
    // nothing changed: nightly has nothing to do
    ok(job(out.path(), &["nightly", "--data", d, "--today", "2026-11-02"], &[]));
    assert_eq!(read_dataset(out.path(), "bills"), before);
    // a late file for 2026-09-10: 6000 s more audio for app 100401 (account 1004, no package)
    let late = Slice { app_id: Some(100401), ..slice("late-1", "2026-09-10T03:00:00Z", 6000) };
    write_usage(&data.path().join("usage/usage_date=2026-09-10/late-0.parquet"), &[late]);
    ok(job(out.path(), &["nightly", "--data", d, "--today", "2026-11-02"], &[]));
    let after = read_dataset(out.path(), "bills");
    let new = after.iter().find(|b| text(b, "bill_id") == "daily-1004-20260910").unwrap();
    assert_eq!(int(new, "revision"), 2);
    // 100 minutes more at 0.99 per 1,000 = 0.099: the amount grows by 0.09 or 0.10 after rounding
    let delta = dec(new, "amount") - dec(&old, "amount");
    assert!(delta == "0.10".parse().unwrap() || delta == "0.09".parse().unwrap(), "{delta}");
    let revs = read_dataset(out.path(), "bill_revisions");
    assert_eq!(revs.len(), 1, "{revs:?}");
    let r = &revs[0];
    assert_eq!(
        (text(r, "bill_id"), int(r, "revision"), int(r, "replaced_by_revision")),
        ("daily-1004-20260910", 1, 2)
    );
    assert_eq!((dec(r, "amount"), dec(r, "change")), (dec(&old, "amount"), delta));
    // the change is reported in the month of the run's last day (README, FOCUS export)
    assert_eq!(text(r, "restated_on"), "2026-11-01");
    // every other bill keeps its amount and revision 1 (1004's later balances move by the delta)
    let others = |v: &[Row]| {
        v.iter()
            .filter(|b| text(b, "bill_id") != "daily-1004-20260910")
            .map(|b| (text(b, "bill_id").to_string(), dec(b, "amount"), int(b, "revision")))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&after), others(&before));
    assert!(others(&after).iter().all(|b| b.2 == 1));
}

/// An ordinary nightly meters its new day while the done days are checked (README, State):
/// the bytes are those of a nightly that meters after the checks (`--no-overlap`), also when
/// the checks find a day to restate and the day metered ahead waits for the restated ones.
#[test]
fn a_nightly_metering_its_day_ahead_gives_the_bytes_of_one_that_does_not() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("sample-data"), data.path());
    let d = data.path().to_str().unwrap();
    let (ahead, after) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for out in [&ahead, &after] {
        ok(job(out.path(), &["run", "--data", d, "--to", "2026-10-30"], &[]));
    }
    let debug = [("RTCBILL_LOG", "debug")];
    let both = |today: &str| {
        let o = job(ahead.path(), &["nightly", "--data", d, "--today", today], &debug);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        ok(o);
        assert!(err.contains("metered ahead of the checks"), "{err}");
        let o =
            job(after.path(), &["--no-overlap", "nightly", "--data", d, "--today", today], &debug);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        ok(o);
        assert!(!err.contains("metered ahead"), "{err}");
        assert_same(&files(ahead.path()), &files(after.path()));
    };
    both("2026-11-01");
    // late usage of 2026-09-10 (account 1004): the next nightly restates from there
    let late = Slice { app_id: Some(100401), ..slice("late-1", "2026-09-10T03:00:00Z", 6000) };
    write_usage(&data.path().join("usage/usage_date=2026-09-10/late-0.parquet"), &[late]);
    both("2026-11-02");
    let revs = read_dataset(ahead.path(), "bill_revisions");
    assert_eq!(revs.len(), 1, "the late usage revised one bill: {revs:?}");
}

#[test]
fn a_second_run_on_a_locked_output_is_refused_and_changes_nothing() {
    let out = tempfile::tempdir().unwrap();
    ok(job(out.path(), &["run", "--data", &sample(), "--to", "2026-09-03"], &[]));
    let before = files(out.path());
    let lock = File::options().write(true).open(out.path().join("_rtcbill/lock")).unwrap();
    lock.lock().unwrap();
    let o = job(out.path(), &["run", "--data", &sample()], &[]);
    assert_eq!(o.status.code(), Some(75));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("another run holds the lock"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
    assert_same(&before, &files(out.path()));
    drop(lock);
}

#[test]
fn nightly_finds_nothing_changed_when_the_data_root_is_named_another_way() {
    // Manifests record usage paths relative to the data root: relative then absolute is the
    // same root, so nightly has nothing to rerun.
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .current_dir(repo())
        .args([
            "run",
            "--data",
            "sample-data",
            "--to",
            "2026-09-05",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .env("RTCBILL_LOG", "warn")
        .output()
        .unwrap();
    ok(o);
    let before = files(out.path());
    let o = job(
        out.path(),
        &["nightly", "--data", &sample(), "--today", "2026-09-06"],
        &[("RTCBILL_LOG", "info")],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    ok(o);
    assert!(err.contains("nothing to do"), "{err}");
    assert_same(&before, &files(out.path()));
}

#[test]
fn more_accounts_than_one_chunk_give_sorted_files_and_the_same_bytes() {
    // 70,000 accounts: the engine and the writer work in two chunks (run::CHUNK = 65,536).
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let o = rtcbill(&[
        "generate",
        "--no-scenarios",
        "--out",
        d,
        "--days",
        "2",
        "--accounts",
        "70000",
        "--max-apps",
        "1",
        "--slices-per-app-day",
        "2",
        "--dirty-per-mille",
        "50",
    ]);
    assert!(o.status.success());
    let (one, two, split) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(job(one.path(), &["run", "--data", d], &[("RAYON_NUM_THREADS", "1")]));
    ok(job(two.path(), &["run", "--data", d], &[("RAYON_NUM_THREADS", "2")]));
    ok(job(split.path(), &["run", "--data", d, "--to", "2026-09-01"], &[]));
    ok(job(split.path(), &["run", "--data", d, "--from", "2026-09-02"], &[]));
    let want = files(one.path());
    assert_same(&want, &files(two.path()));
    assert_same(&want, &files(split.path()));
    // the files are sorted by account across the chunk boundary, as their metadata says
    for ds in ["account_status", "package_balances", "usage_daily"] {
        let ids: Vec<i64> = read_dataset(one.path(), ds)
            .iter()
            .filter(|r| text(r, "billing_date") == "2026-09-02")
            .map(|r| int(r, "account_id"))
            .collect();
        assert!(ids.len() > 65_536, "{ds}: {} rows", ids.len());
        assert!(ids.windows(2).all(|w| w[0] <= w[1]), "{ds} is not sorted by account");
    }
}
