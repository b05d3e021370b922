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
        .args(["--log-format", "json", "run", "--data", data.to_str().unwrap(), "--out", out.path().to_str().unwrap()])
        .args(["--to", "2026-09-03"])
        .env("RTCBILL_LOG", "info")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    let days: Vec<serde_json::Value> = String::from_utf8(o.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| v["fields"]["message"] == "day written")
        .collect();
    assert_eq!(days.len(), 3);
    for d in &days {
        let f = &d["fields"];
        let day = f["day"].as_str().unwrap();
        let raw: i64 = std::fs::read_dir(data.join(format!("usage/usage_date={day}")))
            .unwrap()
            .map(|e| SerializedFileReader::new(File::open(e.unwrap().path()).unwrap()).unwrap().metadata().file_metadata().num_rows())
            .sum();
        assert_eq!(f["slices_read"].as_i64(), Some(raw), "{d}");
        let parts = ["accepted", "rejected", "collapsed"].map(|k| f[k].as_i64().unwrap());
        assert_eq!(parts.iter().sum::<i64>(), raw, "accounting identity in the log: {d}");
        let bills = read_dataset(out.path(), "bills").iter().filter(|b| text(b, "billing_date") == day).count();
        assert_eq!(f["bills"].as_u64(), Some(bills as u64));
        assert!(f["arrears_entered"].is_u64());
    }
    // 2026-09-03 holds the sample's bad rows: rejects and a collapsed duplicate
    let last = &days[2]["fields"];
    assert_eq!(last["day"], "2026-09-03");
    assert!(last["rejected"].as_i64().unwrap() >= 11 && last["collapsed"].as_i64().unwrap() >= 1, "{last}");
}
