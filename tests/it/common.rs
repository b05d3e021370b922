//! Helpers shared by the integration tests: running the binary, writing data roots, reading
//! outputs back as JSON-like rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Int32Type, Int64Type, Schema, TimeUnit,
    TimestampMicrosecondType,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use rust_decimal::Decimal;
use serde_json::Value;

pub type Row = BTreeMap<String, Value>;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rtcbill"))
}

/// The project's checkout root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("jobs/ has a parent").to_path_buf()
}

pub fn rtcbill(args: &[&str]) -> Output {
    Command::new(bin()).args(args).env("RTCBILL_LOG", "warn").output().expect("runs the binary")
}

/// Asserts a run of the binary succeeded (its stderr otherwise).
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Runs `rtcbill run --data DATA --out OUT` and asserts success.
pub fn run_ok(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(rtcbill(&args))
}

/// Writes one Parquet file of `batch` (creating its folder).
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

pub fn batch(cols: Vec<(&str, ArrayRef, bool)>) -> RecordBatch {
    let fields: Vec<arrow::datatypes::Field> = cols
        .iter()
        .map(|(n, a, null)| arrow::datatypes::Field::new(*n, a.data_type().clone(), *null))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|c| c.1).collect())
        .unwrap()
}

fn cell(a: &ArrayRef, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Int64 => Value::from(a.as_primitive::<Int64Type>().value(i)),
        DataType::Int32 => Value::from(a.as_primitive::<Int32Type>().value(i)),
        DataType::Utf8 => Value::from(a.as_string::<i32>().value(i)),
        DataType::Boolean => Value::from(a.as_boolean().value(i)),
        DataType::Decimal128(_, s) => {
            let v = a.as_primitive::<Decimal128Type>().value(i);
            Value::from(Decimal::from_i128_with_scale(v, *s as u32).normalize().to_string())
        }
        DataType::Date32 => {
            let n = a.as_primitive::<Date32Type>().value(i);
            let d =
                chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(n as u64);
            Value::from(d.format("%Y-%m-%d").to_string())
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            let v = a.as_primitive::<TimestampMicrosecondType>().value(i);
            // Whole seconds as the cases write them; a fraction kept, so it is compared too.
            let f =
                if v % 1_000_000 == 0 { "%Y-%m-%dT%H:%M:%SZ" } else { "%Y-%m-%dT%H:%M:%S%.6fZ" };
            Value::from(chrono::DateTime::from_timestamp_micros(v).unwrap().format(f).to_string())
        }
        t => panic!("unexpected output type {t}"),
    }
}

/// Reads every partition of an output dataset: rows with `billing_date` from the path.
pub fn read_dataset(out: &Path, name: &str) -> Vec<Row> {
    let dir = out.join(name);
    let mut rows = Vec::new();
    if !dir.exists() {
        return rows;
    }
    let mut parts: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    parts.sort();
    for p in parts {
        let date = p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("billing_date=")
            .expect("hive partition")
            .to_string();
        for f in std::fs::read_dir(&p).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) != Some("parquet") {
                continue;
            }
            for mut row in read_file(&f) {
                row.insert("billing_date".into(), Value::from(date.clone()));
                rows.push(row);
            }
        }
    }
    rows
}

/// Reads the rows of one Parquet file.
pub fn read_file(f: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap()).unwrap().build().unwrap();
    for b in reader {
        let b = b.unwrap();
        for i in 0..b.num_rows() {
            let mut row = Row::new();
            for (field, col) in b.schema().fields().iter().zip(b.columns()) {
                row.insert(field.name().clone(), cell(col, i));
            }
            rows.push(row);
        }
    }
    rows
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Parses a JSON-lines file of expected rows.
pub fn read_jsonl(path: &Path) -> Vec<Row> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Canonical text of a value for multiset comparison (decimals compared by value).
pub fn canon(v: &Value, decimal: bool) -> String {
    match v {
        Value::String(s) if decimal => {
            s.parse::<Decimal>().map(|d| d.normalize().to_string()).unwrap_or(s.clone())
        }
        other => other.to_string(),
    }
}

pub fn int(r: &Row, k: &str) -> i64 {
    r[k].as_i64().unwrap_or_else(|| panic!("{k} is not an int in {r:?}"))
}

pub fn text<'a>(r: &'a Row, k: &str) -> &'a str {
    r[k].as_str().unwrap_or_else(|| panic!("{k} is not a string in {r:?}"))
}

pub fn dec(r: &Row, k: &str) -> Decimal {
    text(r, k).parse().unwrap()
}

/// A data root built in a test: the sample catalog, one daily account (10, balance 100.00),
/// apps 101 and 102 of it; usage added per day.
pub struct DataRoot {
    pub dir: tempfile::TempDir,
}

/// One raw usage slice for [`DataRoot::usage`].
#[derive(Clone)]
pub struct Slice {
    pub event_id: Option<&'static str>,
    pub app_id: Option<i64>,
    pub class: Option<&'static str>,
    pub start: Option<&'static str>,
    pub seconds: Option<i64>,
}

/// A well-formed slice of app 101, audio, at `start` (RFC 3339).
pub fn slice(event_id: &'static str, start: &'static str, seconds: i64) -> Slice {
    Slice {
        event_id: Some(event_id),
        app_id: Some(101),
        class: Some("audio"),
        start: Some(start),
        seconds: Some(seconds),
    }
}

pub fn ts_us(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
}

impl DataRoot {
    pub fn new() -> DataRoot {
        use arrow::array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(repo().join("sample-data/catalog.toml"), dir.path().join("catalog.toml"))
            .unwrap();
        let ts = |v: Vec<Option<i64>>| {
            Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) as ArrayRef
        };
        write_parquet(
            &dir.path().join("accounts/part-0.parquet"),
            &batch(vec![
                ("account_id", Arc::new(Int64Array::from(vec![10])), false),
                ("billing_mode", Arc::new(StringArray::from(vec!["daily"])), false),
                (
                    "opening_balance",
                    Arc::new(
                        Decimal128Array::from(vec![10000i128])
                            .with_precision_and_scale(18, 2)
                            .unwrap(),
                    ),
                    false,
                ),
                ("opening_time", ts(vec![Some(ts_us("2026-01-01T00:00:00Z"))]), false),
            ]),
        );
        write_parquet(
            &dir.path().join("apps/part-0.parquet"),
            &batch(vec![
                ("app_id", Arc::new(Int64Array::from(vec![101, 102])), false),
                ("account_id", Arc::new(Int64Array::from(vec![10, 10])), false),
                ("created_at", ts(vec![Some(ts_us("2026-01-01T00:00:00Z")); 2]), false),
                ("disabled_at", ts(vec![None, None]), true),
                ("violation_at", ts(vec![None, None]), true),
            ]),
        );
        DataRoot { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `usage/usage_date=DAY/FILE` with the contract's canonical types.
    pub fn usage(&self, day: &str, file: &str, rows: &[Slice]) -> PathBuf {
        let path = self.path().join(format!("usage/usage_date={day}/{file}"));
        write_usage(&path, rows);
        path
    }
}

/// Writes a usage file with the contract's canonical types.
pub fn write_usage(path: &Path, rows: &[Slice]) {
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    write_parquet(
        path,
        &batch(vec![
            (
                "event_id",
                Arc::new(StringArray::from(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())),
                true,
            ),
            (
                "app_id",
                Arc::new(Int64Array::from(rows.iter().map(|r| r.app_id).collect::<Vec<_>>())),
                true,
            ),
            ("user_id", Arc::new(StringArray::from(vec![Some("u1"); rows.len()])), true),
            ("room_id", Arc::new(StringArray::from(vec![None::<&str>; rows.len()])), true),
            (
                "usage_class",
                Arc::new(StringArray::from(rows.iter().map(|r| r.class).collect::<Vec<_>>())),
                true,
            ),
            (
                "start_time",
                Arc::new(
                    TimestampMicrosecondArray::from(
                        rows.iter().map(|r| r.start.map(ts_us)).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                true,
            ),
            (
                "seconds",
                Arc::new(Int64Array::from(rows.iter().map(|r| r.seconds).collect::<Vec<_>>())),
                true,
            ),
        ]),
    );
}

/// A Python interpreter with `packages`: the one `env_var` names if set, else a virtual
/// environment under `target/<name>` created and filled from PyPI on first use.
pub fn python_venv(env_var: &str, name: &str, packages: &[&str]) -> PathBuf {
    python_venv_of(Path::new("python3"), env_var, name, packages)
}

/// A Python 3.12 interpreter: `python3.12` on the PATH, else pyenv's (`$PYENV_ROOT` or
/// `~/.pyenv`, versions/3.12.*).
pub fn python312() -> PathBuf {
    if Command::new("python3.12").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return PathBuf::from("python3.12");
    }
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".pyenv"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    found
        .retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("3.12.")));
    found.sort();
    let py = found.last().map(|p| p.join("bin/python3.12"));
    py.filter(|p| p.exists()).unwrap_or_else(|| {
        panic!(
            "no Python 3.12: neither python3.12 on the PATH nor {}/versions/3.12.*",
            root.display()
        )
    })
}

/// [`python_venv`] made with a given interpreter.
pub fn python_venv_of(python: &Path, env_var: &str, name: &str, packages: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    let venv = repo().join("target").join(name);
    let py = venv.join("bin/python");
    let ready = venv.join(".ready");
    if !ready.exists() {
        let ok = Command::new(python)
            .args(["-m", "venv", venv.to_str().unwrap()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "python3 -m venv {} failed", venv.display());
        let ok = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet"])
            .args(packages)
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install {packages:?} failed");
        std::fs::write(&ready, b"").unwrap();
    }
    py
}

/// Writes a transactions file: (txn_id, account_id, time RFC 3339, kind, amount in cents).
pub fn write_txns(path: &Path, rows: &[(&str, i64, &str, &str, i128)]) {
    use arrow::array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
    write_parquet(
        path,
        &batch(vec![
            (
                "txn_id",
                Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                false,
            ),
            (
                "account_id",
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                false,
            ),
            (
                "time",
                Arc::new(
                    TimestampMicrosecondArray::from(
                        rows.iter().map(|r| ts_us(r.2)).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                false,
            ),
            (
                "kind",
                Arc::new(StringArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
                false,
            ),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
                false,
            ),
        ]),
    );
}

/// Copies an output root as it is (links kept as links), as `cp -a` does.
pub fn copy_out(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// A package order for [`write_packages`]: (package_id, account, app, kind, product, version,
/// purchased_at RFC 3339, paid_price in cents, auto_renew).
pub type PackageIn<'a> =
    (&'a str, i64, Option<i64>, &'a str, &'a str, &'a str, &'a str, i128, Option<bool>);

/// Writes a packages file with the contract's types (quantity 1).
pub fn write_packages(path: &Path, rows: &[PackageIn]) {
    use arrow::array::{
        BooleanArray, Decimal128Array, Int32Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    let strs = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    write_parquet(
        path,
        &batch(vec![
            ("package_id", strs(rows.iter().map(|r| r.0).collect()), false),
            (
                "account_id",
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                false,
            ),
            (
                "app_id",
                Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
                true,
            ),
            ("kind", strs(rows.iter().map(|r| r.3).collect()), false),
            ("product", strs(rows.iter().map(|r| r.4).collect()), false),
            ("version", strs(rows.iter().map(|r| r.5).collect()), false),
            ("quantity", Arc::new(Int32Array::from(vec![1; rows.len()])), true),
            (
                "purchased_at",
                Arc::new(
                    TimestampMicrosecondArray::from(
                        rows.iter().map(|r| ts_us(r.6)).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                false,
            ),
            (
                "paid_price",
                Arc::new(
                    Decimal128Array::from(rows.iter().map(|r| r.7).collect::<Vec<_>>())
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
                false,
            ),
            (
                "auto_renew",
                Arc::new(BooleanArray::from(rows.iter().map(|r| r.8).collect::<Vec<_>>())),
                true,
            ),
        ]),
    );
}

/// Rewrites a Parquet file through `edit` (its metadata kept), as a new file: the old one may
/// be shared, as a hard link, with an earlier snapshot.
pub fn edit_parquet(path: &Path, edit: impl FnOnce(RecordBatch) -> RecordBatch) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let kv = builder.metadata().file_metadata().key_value_metadata().cloned();
    let reader = builder.build().unwrap();
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let batch = edit(batch);
    std::fs::remove_file(path).unwrap();
    let kv = kv.map(|kv| kv.into_iter().filter(|k| k.key != "ARROW:schema").collect());
    let props =
        parquet::file::properties::WriterProperties::builder().set_key_value_metadata(kv).build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// `batch` with column `name` replaced by `f` of its Int64, Decimal128 or Timestamp(us) values.
pub fn map_column(batch: RecordBatch, name: &str, f: impl Fn(usize, i128) -> i128) -> RecordBatch {
    use arrow::array::{Decimal128Array, Int64Array, TimestampMicrosecondArray};
    let i = batch.schema().index_of(name).unwrap();
    let col = batch.column(i);
    let new: ArrayRef = match col.data_type() {
        DataType::Int64 => Arc::new(
            col.as_primitive::<Int64Type>()
                .iter()
                .enumerate()
                .map(|(r, v)| v.map(|v| f(r, v as i128) as i64))
                .collect::<Int64Array>(),
        ),
        DataType::Decimal128(p, s) => Arc::new(
            col.as_primitive::<Decimal128Type>()
                .iter()
                .enumerate()
                .map(|(r, v)| v.map(|v| f(r, v)))
                .collect::<Decimal128Array>()
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Arc::new(
            col.as_primitive::<TimestampMicrosecondType>()
                .iter()
                .enumerate()
                .map(|(r, v)| v.map(|v| f(r, v as i128) as i64))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone_opt(tz.clone()),
        ),
        t => panic!("map_column: {t}"),
    };
    let mut cols = batch.columns().to_vec();
    cols[i] = new;
    RecordBatch::try_new(batch.schema(), cols).unwrap()
}

/// `batch` without row `row`.
pub fn drop_row(batch: RecordBatch, row: usize) -> RecordBatch {
    let keep: arrow::array::BooleanArray = (0..batch.num_rows()).map(|r| Some(r != row)).collect();
    arrow::compute::filter_record_batch(&batch, &keep).unwrap()
}
