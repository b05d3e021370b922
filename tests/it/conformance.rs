//! The conformance cases of `../shared/conformance/`: each data root run by the binary, each
//! output dataset compared, as a multiset on the expected columns, with its expected rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rtcbill_schemas::{ColType, OUTPUTS};

use crate::common::*;

fn cases_dir() -> PathBuf {
    std::env::var_os("RTCBILL_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/conformance"))
}

#[test]
fn every_conformance_case_matches_its_expected_rows() {
    let dir = cases_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set RTCBILL_CONFORMANCE)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("data").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 2, "no conformance cases under {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = tempfile::tempdir().unwrap();
        run_ok(&case.join("data"), tmp.path(), &[]);
        for ds in OUTPUTS {
            let expected_path = case.join("expected").join(format!("{}.jsonl", ds.name));
            let expected = if expected_path.exists() { read_jsonl(&expected_path) } else { Vec::new() };
            let actual = read_dataset(tmp.path(), ds.name);
            // The columns compared: those of the expected rows (all, when there are none).
            let cols: Vec<String> = match expected.first() {
                Some(r) => r.keys().cloned().collect(),
                None => vec!["billing_date".into()],
            };
            let is_dec = |c: &str| ds.columns.iter().any(|x| x.name == c && matches!(x.ty, ColType::Decimal(_)));
            let key = |r: &Row| -> String {
                cols.iter()
                    .map(|c| format!("{c}={}", canon(r.get(c).unwrap_or(&serde_json::Value::Null), is_dec(c))))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
            for r in &expected {
                *counts.entry(key(r)).or_default() += 1;
            }
            for r in &actual {
                *counts.entry(key(r)).or_default() -= 1;
            }
            for (k, n) in counts.into_iter().filter(|(_, n)| *n != 0) {
                let what = if n > 0 { "missing" } else { "unexpected" };
                failures.push(format!("{} {}: {what} x{}: {k}", case.file_name().unwrap().to_string_lossy(), ds.name, n.abs()));
            }
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
