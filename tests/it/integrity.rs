//! The chain of days is never trusted blindly (README, State): a restating `nightly` killed at
//! any point is finished by the next one; damaged bookkeeping or outputs are healed with a
//! warning naming the file; readers never see half a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::common::*;
use crate::sample::files;

const TODAY: &str = "2026-11-02";

fn job(data: &Path, out: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(bin());
    c.args(args)
        .args(["--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("RTCBILL_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn nightly(data: &Path, out: &Path, env: &[(&str, &str)]) -> std::process::Output {
    job(data, out, &["nightly", "--today", TODAY], env)
}

fn assert_same(want: &BTreeMap<String, Vec<u8>>, got: &BTreeMap<String, Vec<u8>>, what: &str) {
    let (a, b): (Vec<_>, Vec<_>) = (want.keys().collect(), got.keys().collect());
    assert_eq!(a, b, "{what}: not the same files");
    let differ: Vec<_> = want.iter().filter(|(k, v)| got[*k] != **v).map(|(k, _)| k).collect();
    assert!(differ.is_empty(), "{what}: {} files differ: {differ:?}", differ.len());
}

/// The sample copied to a data root of its own, and its outputs up to 2026-11-01.
struct Setup {
    data: tempfile::TempDir,
    base: tempfile::TempDir,
}

fn setup() -> Setup {
    let data = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("sample-data"), data.path());
    let base = tempfile::tempdir().unwrap();
    ok(nightly(data.path(), base.path(), &[]));
    Setup { data, base }
}

impl Setup {
    /// A copy of the base outputs to damage or to restate.
    fn out(&self) -> tempfile::TempDir {
        let out = tempfile::tempdir().unwrap();
        copy_out(self.base.path(), out.path());
        out
    }
}

fn balance(out: &Path, account: i64, day: &str) -> Decimal {
    let rows = read_dataset(out, "account_status");
    let r = rows
        .iter()
        .find(|r| int(r, "account_id") == account && text(r, "billing_date") == day)
        .expect("a status row");
    dec(r, "balance")
}

#[test]
fn a_restating_nightly_killed_at_any_point_is_finished_by_the_next_one() {
    let s = setup();
    let before = files(s.base.path());
    let old_balance = balance(s.base.path(), 1004, "2026-11-01");
    // Late data: an adjustment of -5.00 for account 1004 in the window of 2026-10-20.
    write_txns(
        &s.data.path().join("transactions/late-0.parquet"),
        &[("late-adj-1", 1004, "2026-10-20T03:00:00Z", "adjustment", -500)],
    );
    let clean = s.out();
    ok(nightly(s.data.path(), clean.path(), &[]));
    let want = files(clean.path());
    assert_eq!(balance(clean.path(), 1004, "2026-11-01"), old_balance - Decimal::new(500, 2));
    // 13 days are restated (10-20..11-01); each commit renames 11 outputs, the state, the record.
    let points = [
        "staged:1",
        "renamed:1",
        "renamed:6",
        "renamed:13",
        "day:1",
        "renamed:20",
        "day:2",
        "day:7",
        "staged:13",
        "day:13",
        "published",
        "switched",
    ];
    for point in points {
        let out = s.out();
        let o = nightly(s.data.path(), out.path(), &[("RTCBILL_CRASH_AT", point)]);
        assert!(!o.status.success(), "{point}: the crash point was not reached");
        // Until the run is published, readers see the outputs as they were before it.
        if point != "switched" {
            assert_same(
                &before,
                &files(out.path()),
                &format!("{point}: what readers see after the kill"),
            );
        }
        let o = ok(nightly(s.data.path(), out.path(), &[("RTCBILL_LOG", "info")]));
        let err = String::from_utf8_lossy(&o.stderr);
        // (killed once the new snapshot was named, the run is finished as the root is opened)
        if !["published", "switched"].contains(&point) {
            assert!(
                !err.contains("nothing to do"),
                "{point}: the interrupted restatement was taken as done:\n{err}"
            );
        }
        assert_same(&want, &files(out.path()), point);
        assert_eq!(
            balance(out.path(), 1004, "2026-11-01"),
            old_balance - Decimal::new(500, 2),
            "{point}"
        );
        // and a further night has nothing to do
        let o = ok(nightly(s.data.path(), out.path(), &[("RTCBILL_LOG", "info")]));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nothing to do"),
            "{point}: a second night reran days"
        );
    }
    // Real kills at a few moments of the restating run, then a kill of the resuming run too.
    for ms in [60u64, 250, 600] {
        let out = s.out();
        for wait in [ms, ms / 2] {
            let mut child = Command::new(bin())
                .args([
                    "nightly",
                    "--today",
                    TODAY,
                    "--data",
                    s.data.path().to_str().unwrap(),
                    "--out",
                    out.path().to_str().unwrap(),
                ])
                .env("RTCBILL_LOG", "warn")
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(wait));
            let _ = child.kill();
            let _ = child.wait();
        }
        ok(nightly(s.data.path(), out.path(), &[]));
        assert_same(&want, &files(out.path()), &format!("killed after {ms} ms"));
    }
}

#[test]
fn late_usage_restated_by_an_interrupted_nightly_revises_the_bill_and_every_later_balance() {
    let s = setup();
    // 6000 s of audio more on 2026-10-20 for app 100401 of account 1004 (daily, no package).
    let late = Slice { app_id: Some(100401), ..slice("late-u-1", "2026-10-20T03:00:00Z", 6000) };
    write_usage(
        &s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet"),
        std::slice::from_ref(&late),
    );
    let clean = s.out();
    ok(nightly(s.data.path(), clean.path(), &[]));
    let want = files(clean.path());
    // (each commit renames 13 files in order: renamed:3 and :16 fall after a day's
    // bill_revisions is in place and before its bills are)
    for point in ["day:1", "day:3", "renamed:3", "renamed:15", "renamed:16"] {
        let out = s.out();
        assert!(!nightly(s.data.path(), out.path(), &[("RTCBILL_CRASH_AT", point)])
            .status
            .success());
        ok(nightly(s.data.path(), out.path(), &[]));
        assert_same(&want, &files(out.path()), point);
    }
    // Killed one night and taken up the next, a restatement reports its bill changes
    // (`restated_on`) on the next night's day, as a run not interrupted then would.
    let next = ["nightly", "--today", "2026-11-03"];
    let uninterrupted = s.out();
    ok(job(s.data.path(), uninterrupted.path(), &next, &[]));
    for point in ["day:1", "day:5"] {
        let out = s.out();
        assert!(!nightly(s.data.path(), out.path(), &[("RTCBILL_CRASH_AT", point)])
            .status
            .success());
        ok(job(s.data.path(), out.path(), &next, &[]));
        assert_same(
            &files(uninterrupted.path()),
            &files(out.path()),
            &format!("{point}, next night"),
        );
    }
    // The state the day before the restatement left rotted in place, its size and time kept
    // (the scan trusts those): the restatement reads it whole, finds it differs from its
    // record, and redoes that day too. Worked around, the state stayed wrong and every later
    // night restated again.
    let out = s.out();
    let f = std::fs::canonicalize(out.path().join("current/_days/2026-10-19.state.zst")).unwrap();
    let mut bytes = std::fs::read(&f).unwrap();
    let modified = std::fs::metadata(&f).unwrap().modified().unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let mut file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
    std::io::Write::write_all(&mut file, &bytes).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    let o = ok(nightly(s.data.path(), out.path(), &[]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2026-10-19.state.zst") && err.contains("WARN"), "{err}");
    assert_same(&want, &files(out.path()), "a rotted state before the restatement");
    let o = ok(nightly(s.data.path(), out.path(), &[("RTCBILL_LOG", "info")]));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to do"), "restated again");
    // Bills are revised against what readers saw: a restatement killed before it was
    // published, whose late usage is then withdrawn, leaves no revision behind.
    let late_file = s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet");
    for point in ["day:1", "day:3", "renamed:3"] {
        let out = s.out();
        write_usage(&late_file, std::slice::from_ref(&late));
        assert!(!nightly(s.data.path(), out.path(), &[("RTCBILL_CRASH_AT", point)])
            .status
            .success());
        std::fs::remove_file(&late_file).unwrap();
        ok(nightly(s.data.path(), out.path(), &[]));
        assert_same(&files(s.base.path()), &files(out.path()), &format!("{point}, withdrawn"));
    }
    // The bill of 10-20 is at revision 2, and the next day's bill starts from its new balance.
    let bills = read_dataset(clean.path(), "bills");
    let bill = |id: &str| bills.iter().find(|b| text(b, "bill_id") == id).unwrap().clone();
    let (b20, b21) = (bill("daily-1004-20261020"), bill("daily-1004-20261021"));
    assert_eq!(int(&b20, "revision"), 2);
    assert_eq!(dec(&b21, "balance_before"), dec(&b20, "balance_after"));
}

/// Damages a copy of the outputs, runs `nightly`, and checks the warning names `names` and
/// the outputs are healed to the bytes they had.
fn heals(s: &Setup, what: &str, names: &str, damage: impl Fn(&Path)) {
    let want = files(s.base.path());
    let out = s.out();
    damage(out.path());
    let o = ok(nightly(s.data.path(), out.path(), &[]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(names) && err.contains("WARN"),
        "{what}: no warning naming {names}:\n{err}"
    );
    assert_same(&want, &files(out.path()), what);
}

#[test]
fn damaged_outputs_and_bookkeeping_are_healed_by_the_next_nightly_with_a_warning() {
    let s = setup();
    let cur = |out: &Path| out.join("current");
    heals(&s, "a deleted bills partition", "bills/billing_date=2026-10-15/part-0.parquet", |out| {
        std::fs::remove_file(out.join("bills/billing_date=2026-10-15/part-0.parquet")).unwrap();
    });
    heals(
        &s,
        "a deleted bill_lines partition",
        "bill_lines/billing_date=2026-10-15/part-0.parquet",
        |out| {
            std::fs::remove_file(out.join("bill_lines/billing_date=2026-10-15/part-0.parquet"))
                .unwrap();
        },
    );
    heals(&s, "a bills file cut short", "bills/billing_date=2026-10-16/part-0.parquet", |out| {
        let f = out.join("bills/billing_date=2026-10-16/part-0.parquet");
        let bytes = std::fs::read(&f).unwrap();
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    });
    heals(&s, "another day's valid state copied over", "2026-10-15.state.zst", |out| {
        let days = cur(out).join("_days");
        std::fs::remove_file(days.join("2026-10-15.state.zst")).unwrap();
        std::fs::copy(days.join("2026-10-14.state.zst"), days.join("2026-10-15.state.zst"))
            .unwrap();
    });
    heals(&s, "a corrupt state", "2026-10-15.state.zst", |out| {
        let f = cur(out).join("_days/2026-10-15.state.zst");
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, b"not zstd").unwrap();
    });
    heals(&s, "a corrupt record", "2026-10-15.json", |out| {
        let f = cur(out).join("_days/2026-10-15.json");
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, b"{ not json").unwrap();
    });
    heals(&s, "the record of another day", "the record of 2026-10-14", |out| {
        let days = cur(out).join("_days");
        std::fs::remove_file(days.join("2026-10-15.json")).unwrap();
        std::fs::copy(days.join("2026-10-14.json"), days.join("2026-10-15.json")).unwrap();
    });
    // A stray folder among the snapshots is not taken for an interrupted publication (it
    // was: `current` switched to it, and readers saw no outputs).
    for stray in ["00000099", "00000002"] {
        for inside in ["", "bills"] {
            heals(&s, "a stray snapshot folder", stray, |out| {
                std::fs::create_dir_all(out.join("_rtcbill/snapshots").join(stray).join(inside))
                    .unwrap();
            });
        }
    }
    // Entries of the wrong kind where the bookkeeping goes never block a job (each exited 74
    // until removed by hand), and the datasets' plain paths are linked again.
    heals(&s, "a folder at current", "current", |out| {
        std::fs::remove_file(out.join("current")).unwrap();
        std::fs::create_dir(out.join("current")).unwrap();
    });
    heals(&s, "a folder at a record", "2026-10-15.json", |out| {
        let f = cur(out).join("_days/2026-10-15.json");
        std::fs::remove_file(&f).unwrap();
        std::fs::create_dir(&f).unwrap();
    });
    heals(&s, "a folder at the lock", "lock", |out| {
        let f = out.join("_rtcbill/lock");
        let _ = std::fs::remove_file(&f);
        std::fs::create_dir(&f).unwrap();
    });
    for tree in ["work", "recycling"] {
        heals(&s, "a file at work/ or recycling/", tree, |out| {
            std::fs::write(out.join("_rtcbill").join(tree), b"x").unwrap();
            // (with work to do: the record of a day gone)
            std::fs::remove_file(cur(out).join("_days/2026-10-30.json")).unwrap();
        });
    }
    // (not taken for an earlier version's root, whose datasets were folders: it has no
    // snapshots)
    heals(&s, "a folder at a dataset link", "bills", |out| {
        std::fs::remove_file(out.join("bills")).unwrap();
        std::fs::create_dir(out.join("bills")).unwrap();
    });
    heals(&s, "a dataset link deleted", "bills", |out| {
        std::fs::remove_file(out.join("bills")).unwrap();
    });
    heals(&s, "a dataset link pointing elsewhere", "bills", |out| {
        std::fs::remove_file(out.join("bills")).unwrap();
        std::os::unix::fs::symlink("current/bill_lines", out.join("bills")).unwrap();
    });
    // A file where a folder of a snapshot goes (exited 74 every night).
    for folder in ["bills/billing_date=2026-10-15", "bill_lines", "_days"] {
        heals(&s, "a file where a folder goes", folder, |out| {
            let d = cur(out).join(folder);
            std::fs::remove_dir_all(&d).unwrap();
            std::fs::write(&d, b"x").unwrap();
        });
    }
    heals(&s, "a record deleted mid-history", "2026-10-15", |out| {
        std::fs::remove_file(cur(out).join("_days/2026-10-15.json")).unwrap();
    });
    // A corrupt record never blocks `run` either, nor makes it exit 65.
    let out = s.out();
    let f = cur(out.path()).join("_days/2026-10-20.json");
    std::fs::remove_file(&f).unwrap();
    std::fs::write(&f, b"garbage").unwrap();
    ok(job(s.data.path(), out.path(), &["run", "--to", "2026-11-01"], &[]));
    assert_same(&files(s.base.path()), &files(out.path()), "run over a corrupt record");
}

#[test]
fn bad_input_found_during_a_run_leaves_the_outputs_as_they_were() {
    // The catalog prices nothing before 2026-10-01 once edited: every day before is bad input,
    // found before anything is written (exit 65), and the outputs stay as they were.
    let s = setup();
    let out = s.out();
    let want = files(out.path());
    let cat = s.data.path().join("catalog.toml");
    let text = std::fs::read_to_string(&cat).unwrap();
    let from = text.find("[[payg]]").unwrap();
    let edited = format!(
        "{}{}",
        &text[..from],
        text[from..].replacen(
            "effective_from = \"2020-01-01\"",
            "effective_from = \"2026-10-01\"",
            1
        )
    );
    assert_ne!(edited, text, "the sample's catalog changed: adapt the test");
    std::fs::write(&cat, edited).unwrap();
    let o = job(s.data.path(), out.path(), &["run"], &[]);
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(&want, &files(out.path()), "after exit 65");
    assert!(!out.path().join("_rtcbill/work").exists(), "the failed run left its work");
}

/// Reads every bill and its lines from the snapshot `current` points to now.
fn mismatched_bills(out: &Path) -> Vec<String> {
    let snap = out.join(std::fs::read_link(out.join("current")).unwrap());
    let read = |ds: &str| -> Vec<Row> {
        let dir = snap.join(ds);
        let mut rows = Vec::new();
        for p in std::fs::read_dir(&dir).unwrap() {
            rows.extend(read_file(&p.unwrap().path().join("part-0.parquet")));
        }
        rows
    };
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for l in read("bill_lines") {
        *sums.entry(text(&l, "bill_id").to_string()).or_default() += dec(&l, "amount");
    }
    read("bills")
        .iter()
        .filter(|b| {
            sums.get(text(b, "bill_id"))
                .map(|s| s.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
                != Some(dec(b, "amount"))
        })
        .map(|b| text(b, "bill_id").to_string())
        .collect()
}

#[test]
fn a_reader_during_restating_reruns_never_sees_a_bill_its_lines_do_not_add_up_to() {
    let s = setup();
    let out = s.out();
    let late_file: PathBuf = s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet");
    let stop = AtomicBool::new(false);
    let (reads, bad) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let m = mismatched_bills(out.path());
                if !m.is_empty() {
                    eprintln!("mismatched: {m:?}");
                    bad.fetch_add(1, Ordering::SeqCst);
                }
                reads.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Each night adds or takes back 20,000 s of late audio of account 1004 on 2026-10-20:
        // the bill of that day changes every time, and every later balance with it.
        for i in 0..12 {
            if i % 2 == 0 {
                let late = Slice {
                    app_id: Some(100401),
                    ..slice("late-r-1", "2026-10-20T03:00:00Z", 20_000)
                };
                write_usage(&late_file, &[late]);
            } else {
                std::fs::remove_file(&late_file).unwrap();
            }
            ok(nightly(s.data.path(), out.path(), &[]));
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert!(reads.load(Ordering::SeqCst) >= 12, "only {} reads", reads.load(Ordering::SeqCst));
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "{} of {} reads saw a bill its lines do not add up to",
        bad.load(Ordering::SeqCst),
        reads.load(Ordering::SeqCst)
    );
    // Every night changed the bill: 12 revisions after the first.
    let bills = read_dataset(out.path(), "bills");
    let b = bills.iter().find(|b| text(b, "bill_id") == "daily-1004-20261020").unwrap();
    assert_eq!(int(b, "revision"), 13, "{b:?}");
}

/// Every entry of a tree by path: a folder (`None`), or a file by inode (hard links share it).
fn tree(root: &Path) -> BTreeMap<String, Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let name = p.strip_prefix(root).unwrap().display().to_string();
            if md.is_dir() {
                stack.push(p);
                m.insert(name, None);
            } else {
                m.insert(name, Some(md.ino()));
            }
        }
    }
    m
}

fn current_snapshot(out: &Path) -> PathBuf {
    out.join(std::fs::read_link(out.join("current")).unwrap())
}

fn snapshot_dirs(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.join("_rtcbill/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The days a run wrote, from its log (`day written day=D`).
fn written_days(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("day written"))
        .filter_map(|l| l.split("day=").nth(1))
        .map(|d| d[..10].to_string())
        .collect()
}

/// Whether a snapshot path belongs to one of `days` (a partition or a `_days/` file).
fn of_days(path: &str, days: &[String]) -> bool {
    days.iter().any(|d| {
        path.contains(&format!("billing_date={d}")) || path.starts_with(&format!("_days/{d}."))
    })
}

#[test]
fn recycled_work_is_exactly_a_link_copy_of_current_and_the_three_newest_snapshots_stay_whole() {
    let s = setup();
    let out = s.out();
    // The same nights on a root kept at three snapshots: no spare to recycle, every run links
    // the whole snapshot as before.
    let control = s.out();
    let late_file = s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet");
    let mut at_publish: BTreeMap<PathBuf, BTreeMap<String, Option<u64>>> = BTreeMap::new();
    let mut recycled = 0;
    // (the log of a run that brought a spare snapshot up to date as its work/)
    let recycles = |err: &str| {
        err.lines().any(|l| {
            l.contains("brought up to date")
                && l.split(" from=").nth(1).is_some_and(|f| f.contains("_rtcbill/snapshots/"))
        })
    };
    for (night, dd) in ["03", "04", "05", "06", "07", "08", "09", "10", "11"].iter().enumerate() {
        // Each night adds a day; every other night also restates 13 days (late usage of
        // 2026-10-20 added, then taken back).
        let today = format!("2026-11-{dd}");
        if night % 2 == 1 {
            if late_file.exists() {
                std::fs::remove_file(&late_file).unwrap();
            } else {
                let late =
                    Slice { app_id: Some(100401), ..slice("late-x", "2026-10-20T03:00:00Z", 9000) };
                write_usage(&late_file, &[late]);
            }
        }
        let run = |out: &Path, env: &[(&str, &str)]| {
            job(s.data.path(), out, &["nightly", "--today", &today], env)
        };
        for old in snapshot_dirs(control.path()).iter().rev().skip(3) {
            std::fs::remove_dir_all(old).unwrap();
        }
        ok(run(control.path(), &[]));
        let before = current_snapshot(out.path());
        let before_tree = tree(&before);
        // Every third night, stopped once work/ is made: it must be current, linked.
        let o = if night % 3 == 2 {
            let o = run(out.path(), &[("RTCBILL_CRASH_AT", "begun"), ("RTCBILL_LOG", "debug")]);
            assert!(!o.status.success(), "night {night}: the crash point was not reached");
            let err = String::from_utf8_lossy(&o.stderr);
            recycled += recycles(&err) as usize;
            let mut work = tree(&out.path().join("_rtcbill/work"));
            assert!(work.remove("RUN.json").is_some());
            assert_eq!(work, before_tree, "night {night}: work/ is not current linked");
            ok(run(out.path(), &[("RTCBILL_LOG", "info")]))
        } else {
            let o = ok(run(out.path(), &[("RTCBILL_LOG", "debug")]));
            recycled += recycles(&String::from_utf8_lossy(&o.stderr)) as usize;
            o
        };
        // The new snapshot is the one before with the written days replaced: every other
        // entry is the same file (inode), and none is missing or added.
        let written = written_days(&o.stderr);
        assert!(!written.is_empty(), "night {night}: no day written");
        let after = current_snapshot(out.path());
        assert_ne!(after, before, "night {night}: nothing published");
        let after_tree = tree(&after);
        for (path, ino) in &before_tree {
            assert!(after_tree.contains_key(path), "night {night}: {path} is gone");
            if ino.is_some() && !of_days(path, &written) {
                assert_eq!(after_tree[path], *ino, "night {night}: {path} is another file");
            }
        }
        for path in after_tree.keys() {
            assert!(
                before_tree.contains_key(path) || of_days(path, &written),
                "night {night}: {path} appeared"
            );
        }
        at_publish.insert(after.clone(), after_tree);
        // The three newest snapshots are as they were published; one older at most is kept.
        let snaps = snapshot_dirs(out.path());
        assert!(snaps.len() <= 4, "night {night}: {} snapshots kept", snaps.len());
        for snap in snaps.iter().rev().take(3) {
            if let Some(t) = at_publish.get(snap) {
                assert_eq!(&tree(snap), t, "night {night}: {} changed", snap.display());
            }
        }
        assert_same(&files(control.path()), &files(out.path()), &format!("night {night}"));
    }
    assert!(recycled >= 5, "only {recycled} nights recycled a snapshot");
}

/// A root with four published snapshots (the sample's days, then three nights adding a day):
/// the next run recycles the oldest.
fn four_snapshots(s: &Setup) -> tempfile::TempDir {
    let out = s.out();
    for today in ["2026-11-03", "2026-11-04", "2026-11-05"] {
        ok(job(s.data.path(), out.path(), &["nightly", "--today", today], &[]));
    }
    assert_eq!(snapshot_dirs(out.path()).len(), 4);
    out
}

#[test]
fn a_restating_nightly_killed_while_recycling_a_snapshot_is_finished_by_the_next_one() {
    let s = setup();
    let base = four_snapshots(&s);
    let before = files(base.path());
    // An ordinary nightly with nothing to redo takes the tree made beside the checks.
    let plain = tempfile::tempdir().unwrap();
    copy_out(base.path(), plain.path());
    let o = ok(job(
        s.data.path(),
        plain.path(),
        &["nightly", "--today", "2026-11-06"],
        &[("RTCBILL_LOG", "debug")],
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("brought up to date").count(), 1, "{err}");
    write_txns(
        &s.data.path().join("transactions/late-0.parquet"),
        &[("late-adj-2", 1004, "2026-10-20T03:00:00Z", "adjustment", -700)],
    );
    // Redoing the done days from 2026-10-20 (one refresh of the spare); then the same with
    // a new day, an ordinary nightly: its tree is brought up to date while the done days are
    // checked, then again, for the days redone, when they are found changed.
    for (today, refreshes) in [("2026-11-05", 1), ("2026-11-06", 2)] {
        restated_while_recycling(&s, base.path(), &before, today, refreshes);
    }
}

/// A nightly `--today` on copies of `base` that redoes the days from 2026-10-20, bringing its
/// tree up to date `refreshes` times: killed at each point, readers still see `before`, and
/// the next nightly ends with the bytes and snapshot of a run never killed.
fn restated_while_recycling(
    s: &Setup,
    base: &Path,
    before: &BTreeMap<String, Vec<u8>>,
    today: &str,
    refreshes: usize,
) {
    let copy = || {
        let out = tempfile::tempdir().unwrap();
        copy_out(base, out.path());
        out
    };
    let run = |out: &Path, env: &[(&str, &str)]| {
        job(s.data.path(), out, &["nightly", "--today", today], env)
    };
    let clean = copy();
    let o = ok(run(clean.path(), &[("RTCBILL_LOG", "debug")]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("from=") && err.contains("snapshots/00000001"), "no recycling:\n{err}");
    assert_eq!(err.matches("brought up to date").count(), refreshes, "{today}:\n{err}");
    let want = files(clean.path());
    assert_ne!(&want, before, "the late adjustment changed nothing");
    // (11 datasets, then `_days/`: "relinked:12" is the end of a refresh, "relinked:13" the
    // first point of the second one)
    let mut kills: Vec<&[&str]> = vec![
        &["recycling"],
        &["relinked:1"],
        &["relinked:6"],
        &["relinked:12"],
        &["begun"],
        &["relinked:3", "relinked:8", "begun"],
    ];
    if refreshes == 2 {
        kills.extend([&["relinked:13"][..], &["relinked:18", "relinked:4"]]);
    }
    for points in kills {
        let what = format!("{today} {points:?}");
        let out = copy();
        for point in points {
            let o = run(out.path(), &[("RTCBILL_CRASH_AT", point)]);
            assert!(!o.status.success(), "{what}: {point} was not reached");
            assert_same(before, &files(out.path()), &format!("{what}: readers after {point}"));
        }
        let o = ok(run(out.path(), &[("RTCBILL_LOG", "info")]));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("nothing to do"), "{what}: the restatement was skipped:\n{err}");
        assert_same(&want, &files(out.path()), &what);
        assert_eq!(
            tree(&current_snapshot(out.path())).keys().collect::<Vec<_>>(),
            tree(&current_snapshot(clean.path())).keys().collect::<Vec<_>>(),
            "{what}: not the same snapshot"
        );
        assert!(String::from_utf8_lossy(&run(out.path(), &[("RTCBILL_LOG", "info")]).stderr)
            .contains("nothing to do"));
    }
}

#[test]
fn the_work_of_a_run_dropped_for_bad_input_is_recycled_by_the_next_run() {
    let s = setup();
    let out = four_snapshots(&s);
    let want = files(out.path());
    // A usage file of 2026-11-04 whose footer is sound but whose pages are not: bad input
    // found only when the day is metered, inside the run.
    let bad = s.data.path().join("usage/usage_date=2026-11-04/bad.parquet");
    let rows: Vec<Slice> = (0..200).map(|_| slice("bad-1", "2026-11-04T03:00:00Z", 60)).collect();
    write_usage(&bad, &rows);
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[4..40].fill(0xff); // the first page's header
    std::fs::write(&bad, &bytes).unwrap();
    let o =
        job(s.data.path(), out.path(), &["run", "--from", "2026-10-30", "--to", "2026-11-04"], &[]);
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(&want, &files(out.path()), "after exit 65");
    assert!(!out.path().join("_rtcbill/work").exists(), "the failed run left its work");
    assert!(out.path().join("_rtcbill/recycling").is_dir(), "the failed run's tree is not kept");
    std::fs::remove_file(&bad).unwrap();
    let o = ok(job(
        s.data.path(),
        out.path(),
        &["run", "--from", "2026-10-30", "--to", "2026-11-04"],
        &[("RTCBILL_LOG", "debug")],
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("from=what a killed or discarded run left"), "{err}");
    assert_same(&want, &files(out.path()), "rerun after the bad input is gone");
    assert!(!out.path().join("_rtcbill/recycling").exists());
}

#[test]
fn a_commit_cut_short_is_redone_whole_even_when_its_files_hash_as_recorded() {
    // A rerun of unchanged days writes the same bytes: killed inside the commit of its first
    // day, that day's files are half new files with the recorded hashes, under its old record.
    let s = setup();
    let out = s.out();
    let base = tree(&current_snapshot(out.path()));
    let rerun = ["run", "--from", "2026-10-20", "--to", "2026-10-22"];
    let o = job(s.data.path(), out.path(), &rerun, &[("RTCBILL_CRASH_AT", "renamed:4")]);
    assert!(!o.status.success(), "the crash point was not reached");
    let o = ok(nightly(s.data.path(), out.path(), &[]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("_staging/2026-10-20: the run writing this day was interrupted"),
        "no warning naming the interrupted day:\n{err}"
    );
    assert_same(&files(s.base.path()), &files(out.path()), "after the resumed run");
    // Every file of the day is of one commit: none is the file it was before the rerun.
    let now = tree(&current_snapshot(out.path()));
    let day: Vec<_> = now.keys().filter(|p| of_days(p, &["2026-10-20".into()])).collect();
    assert_eq!(day.iter().filter(|p| now[**p].is_some()).count(), 13, "{day:?}");
    for p in day {
        if now[p].is_some() {
            assert_ne!(now[p], base[p], "{p} is still the file of the day's earlier commit");
        }
    }
}

/// A restated day whose published `bills` file is gone: what readers saw is read from an older
/// snapshot still holding it, so the changed bill still gets its revision and its
/// `bill_revisions` row (it was published at revision 1 without a trace of the old amount).
#[test]
fn a_restated_day_whose_published_bills_are_gone_is_revised_from_an_older_snapshot() {
    let s = setup();
    let late = |id: &'static str, day: &str, at: &'static str| {
        let slice = Slice { app_id: Some(100401), ..slice(id, at, 6000) };
        write_usage(
            &s.data.path().join(format!("usage/usage_date={day}/late-{id}.parquet")),
            &[slice],
        );
    };
    // A first restatement (10-25 on) publishes a second snapshot; 10-20 is as it was.
    late("l1", "2026-10-25", "2026-10-25T03:00:00Z");
    let out = s.out();
    ok(nightly(s.data.path(), out.path(), &[]));
    let want_out = s.out();
    ok(nightly(s.data.path(), want_out.path(), &[]));
    // Then late usage of 10-20, with the published bills of 10-20 deleted meanwhile.
    late("l2", "2026-10-20", "2026-10-20T03:00:00Z");
    ok(nightly(s.data.path(), want_out.path(), &[]));
    std::fs::remove_file(out.path().join("bills/billing_date=2026-10-20/part-0.parquet")).unwrap();
    let o = ok(nightly(s.data.path(), out.path(), &[]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("read from an older snapshot"), "{err}");
    assert_same(&files(want_out.path()), &files(out.path()), "bills gone, then restated");
    let bills = read_dataset(out.path(), "bills");
    let b = bills.iter().find(|b| text(b, "bill_id") == "daily-1004-20261020").unwrap();
    assert_eq!(int(b, "revision"), 2);
    let revs = read_dataset(out.path(), "bill_revisions");
    assert!(revs
        .iter()
        .any(|r| text(r, "bill_id") == "daily-1004-20261020" && int(r, "revision") == 1));
}

/// A restatement killed on the night of the 2nd (reporting its changes on 11-01) and taken up
/// by a run of the 1st (which reports on 10-31): the interrupted work is dropped and the run
/// writes what it would have written had the other never run (it published the killed run's
/// days, changes dated in the next month, and said there was nothing to do).
#[test]
fn a_restatement_taken_up_by_a_run_reporting_on_an_earlier_day_is_dropped() {
    let s = setup();
    let (o31, want) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = ["nightly", "--today", "2026-11-01"];
    ok(job(s.data.path(), o31.path(), &first, &[]));
    let late = Slice { app_id: Some(100401), ..slice("late-u-1", "2026-10-20T03:00:00Z", 6000) };
    write_usage(&s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet"), &[late]);
    copy_out(o31.path(), want.path());
    ok(job(s.data.path(), want.path(), &first, &[]));
    for point in ["day:1", "day:5", "renamed:3"] {
        let out = tempfile::tempdir().unwrap();
        copy_out(o31.path(), out.path());
        assert!(!nightly(s.data.path(), out.path(), &[("RTCBILL_CRASH_AT", point)])
            .status
            .success());
        ok(job(s.data.path(), out.path(), &first, &[]));
        assert_same(&files(want.path()), &files(out.path()), point);
    }
}

/// `current`'s snapshot lost (moved away, the link left dangling): readers are switched to the
/// newest snapshot kept with day records, and the nightly restates from there. It billed every
/// day again as a new root, the restated bills back at revision 1 without their revisions.
#[test]
fn a_lost_current_snapshot_is_replaced_by_the_newest_kept_one() {
    let s = setup();
    let late = Slice { app_id: Some(100401), ..slice("late-u-1", "2026-10-20T03:00:00Z", 6000) };
    write_usage(&s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet"), &[late]);
    let out = s.out();
    ok(nightly(s.data.path(), out.path(), &[]));
    let want = files(out.path());
    assert!(!read_dataset(out.path(), "bill_revisions").is_empty());
    let away = tempfile::tempdir().unwrap();
    std::fs::rename(current_snapshot(out.path()), away.path().join("lost")).unwrap();
    let o = ok(nightly(s.data.path(), out.path(), &[]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("readers are switched to the newest snapshot kept"), "{err}");
    assert_same(&want, &files(out.path()), "current's snapshot lost");
}

/// A numbered link or file among the snapshots is no snapshot: it is removed with a warning
/// and never written through. Before, a link in the spare's place to `current`'s own snapshot
/// had the nightly write its days into that snapshot while readers were on it; a link to a
/// folder outside the root had that folder emptied and filled with the tree; a file made the
/// nightly exit 74. `_rtcbill` or its `snapshots/` as a file never blocks a job either (exit
/// 74 every night), and a lost `current` is not reported as an interrupted publication.
#[test]
fn numbered_links_and_files_among_the_snapshots_are_removed_never_followed() {
    let s = setup();
    let four = four_snapshots(&s);
    let tonight = |out: &Path| job(s.data.path(), out, &["nightly", "--today", "2026-11-06"], &[]);
    let clean = tempfile::tempdir().unwrap();
    copy_out(four.path(), clean.path());
    ok(tonight(clean.path()));
    let want = files(clean.path());
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious.txt"), b"keep me").unwrap();
    let current_of = |out: &Path| std::fs::canonicalize(current_snapshot(out)).unwrap();
    for what in ["a link to current's snapshot", "a link to a folder outside the root", "a file"] {
        let out = tempfile::tempdir().unwrap();
        copy_out(four.path(), out.path());
        let spare = snapshot_dirs(out.path())[0].clone();
        std::fs::remove_dir_all(&spare).unwrap();
        match what {
            "a file" => std::fs::write(&spare, b"x").unwrap(),
            "a link to current's snapshot" => {
                std::os::unix::fs::symlink(current_of(out.path()), &spare).unwrap()
            }
            _ => std::os::unix::fs::symlink(outside.path(), &spare).unwrap(),
        }
        let published = files(&current_of(out.path()));
        let before = current_of(out.path());
        let o = ok(tonight(out.path()));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("not a snapshot folder (a link or a file): removed"), "{what}: {err}");
        assert_same(&want, &files(out.path()), what);
        assert_same(&published, &files(&before), &format!("{what}: the snapshot readers were on"));
        assert!(snapshot_dirs(out.path()).iter().all(|d| d.symlink_metadata().unwrap().is_dir()));
    }
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "the folder outside the root was written"
    );
    assert_eq!(std::fs::read(outside.path().join("precious.txt")).unwrap(), b"keep me");
    // A numbered file older than the spare (removed by the publication: exit 74 after it).
    let out = tempfile::tempdir().unwrap();
    copy_out(four.path(), out.path());
    std::fs::write(out.path().join("_rtcbill/snapshots/00000000"), b"x").unwrap();
    ok(tonight(out.path()));
    assert_same(&want, &files(out.path()), "a numbered file before the snapshots");
    // `_rtcbill` or `snapshots/` as a file: the outputs are gone with it, so every day is
    // billed again (at revision 1) and the job exits 0.
    let fresh = tempfile::tempdir().unwrap();
    ok(tonight(fresh.path()));
    for at in ["_rtcbill/snapshots", "_rtcbill"] {
        let out = tempfile::tempdir().unwrap();
        copy_out(four.path(), out.path());
        let p = out.path().join(at);
        std::fs::remove_dir_all(&p).unwrap();
        std::fs::write(&p, b"x").unwrap();
        let err = String::from_utf8_lossy(&ok(tonight(out.path())).stderr).to_string();
        assert!(err.contains("not a folder: removed"), "{at}: {err}");
        assert_same(&files(fresh.path()), &files(out.path()), at);
    }
    // `current` lost (deleted, or pointing at a snapshot never made) is reported as lost.
    for lose in ["deleted", "dangling"] {
        let out = tempfile::tempdir().unwrap();
        copy_out(four.path(), out.path());
        std::fs::remove_file(out.path().join("current")).unwrap();
        if lose == "dangling" {
            std::os::unix::fs::symlink("_rtcbill/snapshots/00000099", out.path().join("current"))
                .unwrap();
        }
        let err = String::from_utf8_lossy(&ok(tonight(out.path())).stderr).to_string();
        assert!(err.contains("current is missing or points at nothing"), "{lose}: {err}");
        assert!(
            !err.contains("finishing the publication") && !err.contains("left alone"),
            "{lose}: {err}"
        );
        assert_same(&want, &files(out.path()), lose);
    }
}

/// The summary counts the bills a restatement withdrew (README, Jobs): a done day's usage
/// cut to one slice withdraws that day's other bills (and a few later ones, which packages
/// now cover), each kept in `bill_revisions` with no revision replacing it. (The summary said
/// nothing of them.)
#[test]
fn the_summary_counts_the_bills_a_restatement_withdrew() {
    let s = setup();
    let out = s.out();
    let day = "2026-10-20";
    let folder = s.data.path().join(format!("usage/usage_date={day}"));
    std::fs::remove_dir_all(&folder).unwrap();
    let one = Slice { app_id: Some(100401), ..slice("only-1", "2026-10-20T03:00:00Z", 60) };
    write_usage(&folder.join("part-0.parquet"), &[one]);
    let o = ok(nightly(s.data.path(), out.path(), &[]));
    let summary = String::from_utf8(o.stdout).unwrap();
    let withdrawn: Vec<_> = read_dataset(out.path(), "bill_revisions")
        .into_iter()
        .filter(|r| r["replaced_by_revision"] == serde_json::Value::Null)
        .collect();
    assert!(withdrawn.iter().filter(|r| text(r, "billing_date") == day).count() > 5);
    let line = format!("  withdrawn bills   {}\n", withdrawn.len());
    assert!(summary.contains(&line), "{line:?} not in:\n{summary}");
}
