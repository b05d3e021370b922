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
    write_usage(&s.data.path().join("usage/usage_date=2026-10-20/late-0.parquet"), &[late]);
    let clean = s.out();
    ok(nightly(s.data.path(), clean.path(), &[]));
    let want = files(clean.path());
    for point in ["day:1", "day:3", "renamed:15"] {
        let out = s.out();
        assert!(!nightly(s.data.path(), out.path(), &[("RTCBILL_CRASH_AT", point)])
            .status
            .success());
        ok(nightly(s.data.path(), out.path(), &[]));
        assert_same(&want, &files(out.path()), point);
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
