//! Structured logs: with `--log-format json`, each written day is one JSON line on stderr with
//! its counts; stdout stays empty.

use std::fs::File;
use std::process::Command;

use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::common::*;

#[test]
fn json_logs_carry_the_per_day_counts() {
    let out = tempfile::tempdir().unwrap();
    let data = repo().join("sample-data");
    let o = Command::new(bin())
        .args([
            "--log-format",
            "json",
            "run",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ])
        .args(["--to", "2026-09-03"])
        .env("RTCBILL_LOG", "info")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    let days: Vec<serde_json::Value> = String::from_utf8(o.stderr)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
        })
        .filter(|v| v["fields"]["message"] == "day written")
        .collect();
    assert_eq!(days.len(), 3);
    for d in &days {
        let f = &d["fields"];
        let day = f["day"].as_str().unwrap();
        let raw: i64 = std::fs::read_dir(data.join(format!("usage/usage_date={day}")))
            .unwrap()
            .map(|e| {
                SerializedFileReader::new(File::open(e.unwrap().path()).unwrap())
                    .unwrap()
                    .metadata()
                    .file_metadata()
                    .num_rows()
            })
            .sum();
        assert_eq!(f["slices_read"].as_i64(), Some(raw), "{d}");
        let parts = ["accepted", "rejected", "collapsed"].map(|k| f[k].as_i64().unwrap());
        assert_eq!(parts.iter().sum::<i64>(), raw, "accounting identity in the log: {d}");
        let bills = read_dataset(out.path(), "bills")
            .iter()
            .filter(|b| text(b, "billing_date") == day)
            .count();
        assert_eq!(f["bills"].as_u64(), Some(bills as u64));
        assert!(f["arrears_entered"].is_u64());
    }
    // 2026-09-03 holds the sample's bad rows: rejects and a collapsed duplicate
    let last = &days[2]["fields"];
    assert_eq!(last["day"], "2026-09-03");
    assert!(
        last["rejected"].as_i64().unwrap() >= 11 && last["collapsed"].as_i64().unwrap() >= 1,
        "{last}"
    );
}

#[test]
fn text_logs_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    let out = tempfile::tempdir().unwrap();
    let data = repo().join("sample-data");
    let args = [
        "run",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--to",
        "2026-09-01",
    ];
    // stderr to a pipe (cron mail, journald, a file): no escape codes
    let o = Command::new(bin())
        .args(args)
        .env("RTCBILL_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("day written"), "{err}");
    assert!(!err.contains('\u{1b}'), "escape codes off a terminal: {err:?}");
    // on a terminal (script(1) gives the run a pseudo-terminal): coloured, unless NO_COLOR is set
    let on_tty = |no_color: Option<&str>| -> String {
        let cmd = format!(
            "{} run --data {} --out {} --to 2026-09-01",
            bin().display(),
            data.display(),
            out.path().display()
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env("RTCBILL_LOG", "info").env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        String::from_utf8_lossy(&c.output().expect("script(1) from util-linux").stdout).to_string()
    };
    let tty = on_tty(None);
    assert!(
        tty.contains("day written") && tty.contains('\u{1b}'),
        "no colour on a terminal: {tty:?}"
    );
    let plain = on_tty(Some("1"));
    assert!(
        plain.contains("day written") && !plain.contains("\u{1b}[2m"),
        "colour despite NO_COLOR: {plain:?}"
    );
}

#[test]
fn a_failure_is_one_json_line_in_json_mode_and_names_each_cause_once() {
    // A data root with no usage: exit 65; in JSON mode the last line is a JSON object.
    let root = DataRoot::new();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args([
            "--log-format",
            "json",
            "run",
            "--data",
            root.path().to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(65));
    let err = String::from_utf8_lossy(&o.stderr);
    let last: serde_json::Value = serde_json::from_str(err.trim_end().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(
        (last["level"].as_str(), last["fields"]["exit_status"].as_u64()),
        (Some("ERROR"), Some(65)),
        "{last}"
    );
    assert!(
        last["fields"]["message"].as_str().unwrap().contains("no usage_date= partition"),
        "{last}"
    );
    // An I/O error (a dataset folder that is a file) names its cause once, exit 74.
    std::fs::write(root.path().join("transactions"), b"").unwrap();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let o = rtcbill(&[
        "run",
        "--data",
        root.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(74), "{err}");
    assert_eq!(err.matches("os error 20").count(), 1, "{err}");
}
