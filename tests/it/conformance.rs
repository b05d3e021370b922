//! The conformance cases of `tests/cases/` (and of `RTCBILL_CONFORMANCE=DIR`, when set): each
//! data root run by the binary, each output dataset compared, as a multiset on the expected
//! columns, with its expected rows. A case's `case.toml` may list steps (a first run, then late
//! files copied over the data root and a `nightly` or `backfill`); without it the case is one
//! `rtcbill run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rtcbill_schemas::{ColType, OUTPUTS};

use crate::common::*;

/// The cases: every folder with a `data/` under `tests/cases/`, then under `RTCBILL_CONFORMANCE`.
fn cases() -> Vec<PathBuf> {
    let mut dirs = vec![repo().join("tests/cases")];
    dirs.extend(std::env::var_os("RTCBILL_CONFORMANCE").map(PathBuf::from));
    let mut cases = Vec::new();
    for dir in dirs {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("data").is_dir())
            .collect();
        found.sort();
        cases.extend(found);
    }
    cases
}

/// One step of a case: files of `overlay` (a folder of the case) copied over the data root,
/// then `rtcbill ARGS --data DATA --out OUT`.
#[derive(serde::Deserialize)]
struct Step {
    overlay: Option<String>,
    args: Vec<String>,
}

#[derive(serde::Deserialize)]
struct CaseFile {
    step: Vec<Step>,
}

/// Runs a case's steps into `out`, on a copy of its data root.
fn run_case(case: &Path, out: &Path) {
    let steps = match std::fs::read_to_string(case.join("case.toml")) {
        Ok(text) => {
            toml::from_str::<CaseFile>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", case.display()))
                .step
        }
        Err(_) => vec![Step { overlay: None, args: vec!["run".into()] }],
    };
    let data = tempfile::tempdir().unwrap();
    copy_dir(&case.join("data"), data.path());
    for s in steps {
        if let Some(o) = &s.overlay {
            copy_dir(&case.join(o), data.path());
        }
        let mut args: Vec<&str> = s.args.iter().map(String::as_str).collect();
        args.extend(["--data", data.path().to_str().unwrap(), "--out", out.to_str().unwrap()]);
        ok(rtcbill(&args));
    }
}

#[test]
fn every_conformance_case_matches_its_expected_rows() {
    let cases = cases();
    assert!(cases.len() >= 34, "{} conformance cases under tests/cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = tempfile::tempdir().unwrap();
        run_case(case, tmp.path());
        for ds in OUTPUTS {
            let expected_path = case.join("expected").join(format!("{}.jsonl", ds.name));
            let expected =
                if expected_path.exists() { read_jsonl(&expected_path) } else { Vec::new() };
            let actual = read_dataset(tmp.path(), ds.name);
            // The columns compared: those of the expected rows (all, when there are none).
            let cols: Vec<String> = match expected.first() {
                Some(r) => r.keys().cloned().collect(),
                None => vec!["billing_date".into()],
            };
            let is_dec = |c: &str| {
                ds.columns.iter().any(|x| x.name == c && matches!(x.ty, ColType::Decimal(_)))
            };
            let key = |r: &Row| -> String {
                cols.iter()
                    .map(|c| {
                        format!(
                            "{c}={}",
                            canon(r.get(c).unwrap_or(&serde_json::Value::Null), is_dec(c))
                        )
                    })
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
                failures.push(format!(
                    "{} {}: {what} x{}: {k}",
                    case.file_name().unwrap().to_string_lossy(),
                    ds.name,
                    n.abs()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
