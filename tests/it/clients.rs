//! The outputs as analysts read them: DuckDB, pyarrow and polars (the Python packages, in a
//! virtual environment under `target/` made on first use) read every dataset of a sample run
//! and find the contract's names and types, decimal scales, UTC instants and the partition
//! key; DuckDB reconciles bills with their lines and usage with deductions and charges.

use std::process::Command;

use rtcbill_schemas::OUTPUTS;

use crate::common::*;
use crate::sample::run_sample;

#[test]
fn duckdb_pyarrow_and_polars_read_every_dataset_with_the_contract_types() {
    let out = tempfile::tempdir().unwrap();
    run_sample(out.path(), 2);
    let contract: serde_json::Map<String, serde_json::Value> = OUTPUTS
        .iter()
        .map(|ds| {
            let cols: Vec<serde_json::Value> = ds
                .columns
                .iter()
                .map(|c| serde_json::json!([c.name, c.ty.describe(), c.nullable]))
                .collect();
            (ds.name.to_string(), serde_json::Value::from(cols))
        })
        .collect();
    let contract_path = out.path().join("contract.json");
    std::fs::write(&contract_path, serde_json::to_vec(&contract).unwrap()).unwrap();
    let o = Command::new(python_venv(
        "RTCBILL_PYTHON",
        "py-clients",
        &["duckdb==1.4.*", "pyarrow>=18", "polars>=1.30"],
    ))
    .arg(repo().join("tests/clients/read_outputs.py"))
    .args([out.path(), &contract_path])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert_eq!(stdout.matches("with pyarrow, duckdb and polars").count(), OUTPUTS.len());
}
