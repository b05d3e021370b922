//! rules.md, Inputs: footer validation of every Parquet file before anything is loaded, then
//! loading of the small datasets into plain Rust values. Usage is only validated here; the
//! metering stage ([`crate::meter`]) scans it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rtcbill_schemas::{self as schemas, c, Dataset};
use rust_decimal::Decimal;
use rustc_hash::FxHashSet;

use crate::catalog::Catalog;
use crate::clock::Ts;
use crate::error::{Error, Result};
use crate::partition;

pub use rtcbill_core::records::{
    AccountRecord, App, BillingMode, PackageEvent, PackageEventKind, PackageOrder, Txn,
};

/// Everything of a data root but the raw usage.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub catalog: Catalog,
    pub accounts: Vec<AccountRecord>,
    pub apps: Vec<App>,
    pub txns: Vec<Txn>,
    pub packages: Vec<PackageOrder>,
    pub package_events: Vec<PackageEvent>,
    /// usage_date partitions present: day -> files, sorted (footers checked by
    /// [`usage_files`] when the day is metered).
    pub usage: BTreeMap<NaiveDate, Vec<PathBuf>>,
}

/// A raw usage file whose footer was checked.
#[derive(Debug, Clone)]
pub struct UsageFile {
    pub path: PathBuf,
}

/// A listed entry's type, from the listing itself: that spares a stat per entry (a nightly
/// lists every day's folder and files). A link is followed; `None` if it leads nowhere.
pub(crate) fn listed_type(e: &std::fs::DirEntry) -> Option<std::fs::FileType> {
    match e.file_type() {
        Ok(t) if !t.is_symlink() => Some(t),
        _ => std::fs::metadata(e.path()).ok().map(|m| m.file_type()),
    }
}

/// The `*.parquet` files of a dataset folder, sorted; a missing folder is an empty dataset.
/// Hidden names (`.` or `_`, as Spark's `_SUCCESS` and `.crc` files) are skipped; an entry
/// named like Parquet that is not a file (a folder, a link to nothing, `.PARQUET`) is an input
/// error, since rows there would be lost unread; any other entry is skipped with a warning.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let listing = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        listing => listing.map_err(|e| Error::io(dir, e))?,
    };
    let mut out = Vec::new();
    for e in listing {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let file = listed_type(&e).is_some_and(|t| t.is_file());
        match (name.ends_with(".parquet"), file) {
            (true, true) => out.push(p),
            (true, false) => {
                return Err(Error::Input {
                    file: p,
                    msg: "not a file (a folder, or a link to nothing): its rows would not be \
                          read; a dataset's Parquet files go in its folder itself"
                        .into(),
                })
            }
            _ if name.to_ascii_lowercase().ends_with(".parquet") => {
                return Err(Error::Input {
                    file: p,
                    msg: "not read: a Parquet file's name ends in .parquet (lower case)".into(),
                })
            }
            _ => tracing::warn!(path = %p.display(), "not a *.parquet file: not read"),
        }
    }
    out.sort();
    Ok(out)
}

/// Lists `usage/usage_date=YYYY-MM-DD/*.parquet`.
pub fn usage_partitions(data: &Path) -> Result<BTreeMap<NaiveDate, Vec<PathBuf>>> {
    let mut out = BTreeMap::new();
    for (day, p) in partition::list(&data.join("usage"), schemas::USAGE_PARTITION_KEY)? {
        let files = parquet_files(&p)?;
        // An empty folder is no day of usage: it neither sets the epoch nor extends a run.
        if files.is_empty() {
            tracing::warn!(folder = %p.display(), "usage folder with no Parquet file ignored");
            continue;
        }
        out.insert(day, files);
    }
    Ok(out)
}

/// Integer columns of usage stored unsigned: a value above the int64 range cannot be billed
/// nor kept in `rejected_usage` (int64), so the file is bad input, named with its row.
fn check_unsigned(path: &Path, b: &ParquetRecordBatchReaderBuilder<File>) -> Result<()> {
    for name in [c::APP_ID, c::SECONDS] {
        let Ok(field) = b.schema().field_with_name(name) else { continue };
        if field.data_type() != &DataType::UInt64 {
            continue;
        }
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| Error::Input { file: path.to_path_buf(), msg: e.to_string() })?;
        let idx = builder.schema().index_of(name).expect("present");
        let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| Error::Input { file: path.to_path_buf(), msg: e.to_string() })?;
        let mut row = 0;
        for batch in reader {
            let batch = batch.map_err(|e| Error::Input {
                file: path.to_path_buf(),
                msg: format!("cannot read ({e})"),
            })?;
            let values = batch.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
            if let Some((i, v)) = values
                .iter()
                .enumerate()
                .find_map(|(i, v)| v.filter(|v| *v > i64::MAX as u64).map(|v| (i, v)))
            {
                return Err(Error::Row {
                    file: path.to_path_buf(),
                    column: name.into(),
                    row: row + i,
                    msg: format!("{v} is above the int64 range: the value could be neither billed nor kept as a reject"),
                });
            }
            row += batch.num_rows();
        }
    }
    Ok(())
}

/// Opens a Parquet file and checks its footer against a dataset of the contract: every column
/// present with an accepted type. Returns the reader builder for loading.
pub fn check_footer(path: &Path, ds: &Dataset) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| Error::Input {
        file: path.to_path_buf(),
        msg: format!("not a readable Parquet file ({e})"),
    })?;
    let schema = builder.schema().clone();
    for col in ds.columns {
        let field = schema.field_with_name(col.name).map_err(|_| Error::Column {
            file: path.to_path_buf(),
            column: col.name.into(),
            msg: format!("missing (dataset {} needs it as {})", ds.name, col.ty.describe()),
        })?;
        if !col.ty.accepts(field.data_type()) {
            return Err(Error::Column {
                file: path.to_path_buf(),
                column: col.name.into(),
                msg: format!(
                    "type {} is not accepted; expected {}",
                    field.data_type(),
                    col.ty.describe()
                ),
            });
        }
    }
    Ok(builder)
}

/// A loaded file: the contract's columns, in contract order.
pub(crate) struct Table<'a> {
    file: &'a Path,
    ds: &'static Dataset,
    batches: Vec<RecordBatch>,
}

impl<'a> Table<'a> {
    pub(crate) fn load(file: &'a Path, ds: &'static Dataset) -> Result<Table<'a>> {
        let builder = check_footer(file, ds)?;
        let arrow_schema = builder.schema().clone();
        let parquet_schema = builder.parquet_schema();
        // Project the contract's columns (leaf indices of top-level primitive columns).
        let roots: Vec<usize> =
            ds.columns.iter().map(|c| arrow_schema.index_of(c.name).expect("checked")).collect();
        let mask = ProjectionMask::roots(parquet_schema, roots);
        let reader = builder.with_projection(mask).build().map_err(|e| Error::Input {
            file: file.to_path_buf(),
            msg: format!("cannot read ({e})"),
        })?;
        let mut batches = Vec::new();
        for b in reader {
            batches.push(b.map_err(|e| Error::Input {
                file: file.to_path_buf(),
                msg: format!("cannot read ({e})"),
            })?);
        }
        Ok(Table { file, ds, batches })
    }

    fn arrays(&self, name: &str) -> Vec<ArrayRef> {
        self.batches.iter().map(|b| b.column_by_name(name).expect("projected").clone()).collect()
    }

    fn col_err(&self, name: &str, msg: String) -> Error {
        Error::Column { file: self.file.to_path_buf(), column: name.into(), msg }
    }

    fn null_err(&self, name: &str, row: usize) -> Error {
        Error::Row {
            file: self.file.to_path_buf(),
            column: name.into(),
            row,
            msg: "null in a column that must be set".into(),
        }
    }

    pub(crate) fn opt_i64(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let mut out = Vec::new();
        for a in self.arrays(name) {
            let orig_nulls = a.null_count();
            let a = cast(&a, &DataType::Int64).map_err(|e| self.col_err(name, e.to_string()))?;
            if a.null_count() != orig_nulls {
                return Err(self.col_err(name, "an integer does not fit in int64".into()));
            }
            out.extend(a.as_primitive::<Int64Type>().iter());
        }
        Ok(out)
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Vec<Option<String>>> {
        let mut out = Vec::new();
        for a in self.arrays(name) {
            let a = cast(&a, &DataType::Utf8).map_err(|e| self.col_err(name, e.to_string()))?;
            out.extend(a.as_string::<i32>().iter().map(|s| s.map(str::to_owned)));
        }
        Ok(out)
    }

    pub(crate) fn opt_bool(&self, name: &str) -> Result<Vec<Option<bool>>> {
        Ok(self
            .arrays(name)
            .iter()
            .flat_map(|a| a.as_boolean().iter().collect::<Vec<_>>())
            .collect())
    }

    /// Instants as UTC microseconds; one beyond their range is an error here (usage files
    /// read theirs with [`Table::instants`]: a bad slice is a reject, not an error).
    pub(crate) fn opt_ts(&self, name: &str) -> Result<Vec<Option<Ts>>> {
        let t = self.instants(name)?;
        match t.beyond.first() {
            Some(&row) => Err(self.bad_value(name, row, "beyond the range of microseconds".into())),
            None => Ok(t.values),
        }
    }

    /// An input table's instants (rules.md, Inputs): in the years 1 to 9999, UTC, else an
    /// error naming the row (the clock counts days and months from them).
    fn opt_instant(&self, name: &str) -> Result<Vec<Option<Ts>>> {
        let v = self.opt_ts(name)?;
        match v.iter().position(|t| t.is_some_and(|t| !INSTANTS.contains(&t))) {
            Some(row) => Err(self.bad_value(
                name,
                row,
                format!("{} µs since 1970 is outside the years 1 to 9999", v[row].unwrap_or(0)),
            )),
            None => Ok(v),
        }
    }

    fn instant(&self, name: &str) -> Result<Vec<Ts>> {
        self.required(name, self.opt_instant(name)?)
    }

    pub(crate) fn instants(&self, name: &str) -> Result<Micros> {
        let mut out = Micros { values: Vec::new(), beyond: Vec::new() };
        for a in self.arrays(name) {
            let t = timestamps_us(&a).map_err(|m| self.col_err(name, m))?;
            let offset = out.values.len();
            out.beyond.extend(t.beyond.iter().map(|r| r + offset));
            out.values.extend(t.values);
        }
        Ok(out)
    }

    /// Decimals of any scale ≤ 6, exact.
    pub(crate) fn opt_decimal(&self, name: &str) -> Result<Vec<Option<Decimal>>> {
        let mut out = Vec::new();
        for a in self.arrays(name) {
            let (p, s) = match a.data_type() {
                DataType::Decimal32(p, s)
                | DataType::Decimal64(p, s)
                | DataType::Decimal128(p, s) => (*p, *s),
                t => return Err(self.col_err(name, format!("type {t} is not a decimal"))),
            };
            let a = cast(&a, &DataType::Decimal128(p.max(18), s))
                .map_err(|e| self.col_err(name, e.to_string()))?;
            for v in a.as_primitive::<Decimal128Type>().iter() {
                out.push(
                    v.map(|m| Decimal::try_from_i128_with_scale(m, s as u32))
                        .transpose()
                        .map_err(|e| self.col_err(name, e.to_string()))?,
                );
            }
        }
        Ok(out)
    }

    /// Money: decimals of scale ≤ 6 whose value has at most 2 decimals (rules.md, Inputs and
    /// Outputs), at scale 2.
    pub(crate) fn opt_money(&self, name: &str) -> Result<Vec<Option<Decimal>>> {
        let mut out = self.opt_decimal(name)?;
        for (row, v) in out.iter_mut().enumerate() {
            if let Some(d) = v {
                if d.normalize().scale() > 2 {
                    return Err(self.bad_value(
                        name,
                        row,
                        format!("{d} is not a whole number of cents"),
                    ));
                }
                d.rescale(2);
            }
        }
        Ok(out)
    }

    pub(crate) fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    pub(crate) fn required<T>(&self, name: &str, v: Vec<Option<T>>) -> Result<Vec<T>> {
        let nullable = self.ds.columns[self.ds.index(name)].nullable;
        debug_assert!(!nullable, "{name} is nullable");
        v.into_iter().enumerate().map(|(i, x)| x.ok_or_else(|| self.null_err(name, i))).collect()
    }

    pub(crate) fn i64(&self, name: &str) -> Result<Vec<i64>> {
        self.required(name, self.opt_i64(name)?)
    }
    pub(crate) fn str(&self, name: &str) -> Result<Vec<String>> {
        self.required(name, self.opt_str(name)?)
    }
    pub(crate) fn ts(&self, name: &str) -> Result<Vec<Ts>> {
        self.required(name, self.opt_ts(name)?)
    }
    pub(crate) fn money(&self, name: &str) -> Result<Vec<Decimal>> {
        self.required(name, self.opt_money(name)?)
    }
    /// Dates (`date32`, as outputs are written).
    pub(crate) fn opt_date(&self, name: &str) -> Result<Vec<Option<NaiveDate>>> {
        let mut out = Vec::new();
        for a in self.arrays(name) {
            let a = a.as_primitive_opt::<Date32Type>().ok_or_else(|| {
                self.col_err(name, format!("type {} is not date32", a.data_type()))
            })?;
            out.extend(a.iter().map(|d| d.map(|d| crate::clock::date_of_number(d as i64))));
        }
        Ok(out)
    }
    pub(crate) fn date(&self, name: &str) -> Result<Vec<NaiveDate>> {
        self.required(name, self.opt_date(name)?)
    }

    fn bad_value(&self, name: &str, row: usize, msg: String) -> Error {
        Error::Row { file: self.file.to_path_buf(), column: name.into(), row, msg }
    }

    /// rules.md, Inputs: ids are unique; the second occurrence is named (the first may be
    /// in an earlier file).
    fn twice(&self, name: &str, row: usize, id: impl std::fmt::Display) -> Error {
        self.bad_value(name, row, format!("{name} {id} appears twice"))
    }
}

/// Instants the inputs outside usage may hold: 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59.999999Z.
const INSTANTS: std::ops::RangeInclusive<Ts> = -62_135_596_800_000_000..=253_402_300_799_999_999;

/// A timestamp column as UTC microseconds (floor for sub-microsecond units), with the rows
/// whose value lies beyond what microseconds hold (about 292,000 years either side of 1970,
/// possible in seconds or milliseconds): those read as `None` here, so a caller cannot take
/// them for a time.
pub struct Micros {
    pub values: Vec<Option<Ts>>,
    /// Rows out of range, ascending.
    pub beyond: Vec<usize>,
}

impl Micros {
    pub fn is_beyond(&self, row: usize) -> bool {
        self.beyond.binary_search(&row).is_ok()
    }
}

pub fn timestamps_us(a: &ArrayRef) -> std::result::Result<Micros, String> {
    fn scaled<T: ArrowPrimitiveType<Native = i64>>(
        a: &ArrayRef,
        to_us: impl Fn(i64) -> Option<i64>,
    ) -> Micros {
        let mut beyond = Vec::new();
        let values = a
            .as_primitive::<T>()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let us = to_us(v?);
                if us.is_none() {
                    beyond.push(i);
                }
                us
            })
            .collect();
        Micros { values, beyond }
    }
    Ok(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(a, |x| x.checked_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(a, |x| x.checked_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(a, Some)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(a, |x| Some(x.div_euclid(1_000)))
        }
        t => return Err(format!("type {t} is not a timestamp")),
    })
}

fn load_dataset<T>(
    data: &Path,
    ds: &'static Dataset,
    mut f: impl FnMut(&Table) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for file in parquet_files(&data.join(ds.name))? {
        let t = Table::load(&file, ds)?;
        out.extend(f(&t)?);
    }
    Ok(out)
}

impl Inputs {
    /// Loads and validates a data root. Stops at the first bad file, naming file, column, row.
    pub fn load(data: &Path) -> Result<Inputs> {
        if !data.is_dir() {
            return Err(Error::Input {
                file: data.to_path_buf(),
                msg: "data root is not a directory".into(),
            });
        }
        let catalog_path = data.join("catalog.toml");
        match std::fs::symlink_metadata(&catalog_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Input {
                    file: catalog_path,
                    msg: "missing: every data root holds its catalog (is --data the data root?)"
                        .into(),
                })
            }
            // (a data root that cannot be read is an I/O error, not a missing catalog)
            Err(e) => return Err(Error::io(&catalog_path, e)),
            Ok(_) => {}
        }
        let catalog = crate::catalog_file::load(&catalog_path)?;

        let (accounts, known) = load_accounts(data)?;
        // Two halves loaded side by side (read every night, a year of history included); the
        // first bad file in the order below is the one reported, whichever finished first.
        let ((apps, txns, usage), (packages, package_events)) = rayon::join(
            || (load_apps(data, &known), load_txns(data, &known), usage_partitions(data)),
            || (load_packages(data, &known), load_package_events(data)),
        );
        let (apps, txns, packages) = (apps?, txns?, packages?);
        let (package_events, usage) = (package_events?, usage?);
        Ok(Inputs { catalog, accounts, apps, txns, packages, package_events, usage })
    }
}

/// `accounts`, with the set of their ids.
fn load_accounts(data: &Path) -> Result<(Vec<AccountRecord>, FxHashSet<i64>)> {
    let mut seen = FxHashSet::default();
    let accounts = load_dataset(data, &schemas::ACCOUNTS, |t| {
        let ids = t.i64(c::ACCOUNT_ID)?;
        let modes = t.str(c::BILLING_MODE)?;
        let bal = t.money(c::OPENING_BALANCE)?;
        let ot = t.instant(c::OPENING_TIME)?;
        let mut v = Vec::with_capacity(t.rows());
        for i in 0..t.rows() {
            let mode = match modes[i].as_str() {
                "daily" => BillingMode::Daily,
                "monthly" => BillingMode::Monthly,
                m => {
                    return Err(t.bad_value(
                        c::BILLING_MODE,
                        i,
                        format!("{m:?} is not daily or monthly"),
                    ))
                }
            };
            if !seen.insert(ids[i]) {
                return Err(t.twice(c::ACCOUNT_ID, i, ids[i]));
            }
            v.push(AccountRecord {
                id: ids[i],
                mode,
                opening_balance: bal[i],
                opening_time: ot[i],
            });
        }
        Ok(v)
    })?;
    Ok((accounts, seen))
}

/// `apps`, each of a known account.
fn load_apps(data: &Path, known_accounts: &FxHashSet<i64>) -> Result<Vec<App>> {
    let mut seen = FxHashSet::default();
    load_dataset(data, &schemas::APPS, |t| {
        let ids = t.i64(c::APP_ID)?;
        let acc = t.i64(c::ACCOUNT_ID)?;
        let created = t.instant(c::CREATED_AT)?;
        let dis = t.opt_instant(c::DISABLED_AT)?;
        let vio = t.opt_instant(c::VIOLATION_AT)?;
        let mut v = Vec::with_capacity(t.rows());
        for i in 0..t.rows() {
            if !known_accounts.contains(&acc[i]) {
                return Err(t.bad_value(
                    c::ACCOUNT_ID,
                    i,
                    format!("account {} is not in accounts", acc[i]),
                ));
            }
            if !seen.insert(ids[i]) {
                return Err(t.twice(c::APP_ID, i, ids[i]));
            }
            v.push(App {
                id: ids[i],
                account_id: acc[i],
                created_at: created[i],
                disabled_at: dis[i],
                violation_at: vio[i],
            });
        }
        Ok(v)
    })
}

/// `transactions` of known accounts.
fn load_txns(data: &Path, known_accounts: &FxHashSet<i64>) -> Result<Vec<Txn>> {
    let mut seen = FxHashSet::default();
    load_dataset(data, &schemas::TRANSACTIONS, |t| {
        let ids = t.str(c::TXN_ID)?;
        let acc = t.i64(c::ACCOUNT_ID)?;
        let time = t.instant(c::TIME)?;
        let kind = t.str(c::KIND)?;
        let amount = t.money(c::AMOUNT)?;
        let mut v = Vec::with_capacity(t.rows());
        for i in 0..t.rows() {
            if !matches!(kind[i].as_str(), "recharge" | "refund" | "adjustment") {
                return Err(t.bad_value(
                    c::KIND,
                    i,
                    format!("{:?} is not recharge, refund or adjustment", kind[i]),
                ));
            }
            if !known_accounts.contains(&acc[i]) {
                return Err(t.bad_value(
                    c::ACCOUNT_ID,
                    i,
                    format!("account {} is not in accounts", acc[i]),
                ));
            }
            if !seen.insert(ids[i].clone()) {
                return Err(t.twice(c::TXN_ID, i, &ids[i]));
            }
            v.push(Txn {
                id: ids[i].clone(),
                account_id: acc[i],
                time: time[i],
                kind: kind[i].clone(),
                amount: amount[i],
            });
        }
        Ok(v)
    })
}

/// `packages` (orders) of known accounts.
fn load_packages(data: &Path, known_accounts: &FxHashSet<i64>) -> Result<Vec<PackageOrder>> {
    // Each file with the number of packages before it, to name where a duplicate is.
    let (mut files, mut before) = (Vec::new(), 0);
    let packages = load_dataset(data, &schemas::PACKAGES, |t| {
        files.push((before, t.file.to_path_buf()));
        before += t.rows();
        package_rows(t, known_accounts)
    })?;
    // Ids borrowed, not copied (every package of the history is loaded every night).
    let mut seen = FxHashSet::with_capacity_and_hasher(packages.len(), Default::default());
    match packages.iter().position(|p| !seen.insert(p.package_id.as_str())) {
        Some(i) => {
            let (first, file) = files.iter().rev().find(|(first, _)| *first <= i).expect("a file");
            Err(Error::Row {
                file: file.clone(),
                column: c::PACKAGE_ID.into(),
                row: i - first,
                msg: format!("package_id {} appears twice", packages[i].package_id),
            })
        }
        None => Ok(packages),
    }
}

/// One file's packages.
fn package_rows(t: &Table, known_accounts: &FxHashSet<i64>) -> Result<Vec<PackageOrder>> {
    let ids = t.str(c::PACKAGE_ID)?;
    let acc = t.i64(c::ACCOUNT_ID)?;
    let app = t.opt_i64(c::APP_ID)?;
    let kind = t.str(c::KIND)?;
    let product = t.str(c::PRODUCT)?;
    let version = t.str(c::VERSION)?;
    let qty = t.opt_i64(c::QUANTITY)?;
    let at = t.instant(c::PURCHASED_AT)?;
    let price = t.money(c::PAID_PRICE)?;
    let ar = t.opt_bool(c::AUTO_RENEW)?;
    let mut v = Vec::with_capacity(t.rows());
    // The text columns are moved into the rows, not copied (every package of the
    // history is loaded every night).
    let mut text = ids.into_iter().zip(kind).zip(product).zip(version);
    for i in 0..t.rows() {
        let (((id, kind), product), version) = text.next().expect("a value per row");
        if !known_accounts.contains(&acc[i]) {
            return Err(t.bad_value(
                c::ACCOUNT_ID,
                i,
                format!("account {} is not in accounts", acc[i]),
            ));
        }
        if price[i].is_sign_negative() && !price[i].is_zero() {
            return Err(t.bad_value(c::PAID_PRICE, i, format!("{} is negative", price[i])));
        }
        // The contract's int32, whatever width the file uses: minutes of a larger quantity
        // could wrap.
        if let Some(q) = qty[i].filter(|q| i32::try_from(*q).is_err()) {
            return Err(t.bad_value(c::QUANTITY, i, format!("{q} is beyond int32")));
        }
        v.push(PackageOrder {
            package_id: id,
            account_id: acc[i],
            app_id: app[i],
            kind,
            product,
            version,
            quantity: qty[i],
            purchased_at: at[i],
            paid_price: price[i],
            auto_renew: ar[i],
        });
    }
    Ok(v)
}

/// `package_events`.
fn load_package_events(data: &Path) -> Result<Vec<PackageEvent>> {
    let mut seen = FxHashSet::default();
    load_dataset(data, &schemas::PACKAGE_EVENTS, |t| {
        let ids = t.str(c::EVENT_ID)?;
        let pkg = t.str(c::PACKAGE_ID)?;
        let time = t.instant(c::TIME)?;
        let kind = t.str(c::KIND)?;
        let target = t.opt_str(c::TARGET_VERSION)?;
        let mut v = Vec::with_capacity(t.rows());
        for i in 0..t.rows() {
            let k = match kind[i].as_str() {
                "upgrade" => PackageEventKind::Upgrade,
                "auto_renew_on" => PackageEventKind::AutoRenewOn,
                "auto_renew_off" => PackageEventKind::AutoRenewOff,
                k => {
                    return Err(t.bad_value(
                        c::KIND,
                        i,
                        format!("{k:?} is not upgrade, auto_renew_on or auto_renew_off"),
                    ))
                }
            };
            if !seen.insert(ids[i].clone()) {
                return Err(t.twice(c::EVENT_ID, i, &ids[i]));
            }
            v.push(PackageEvent {
                event_id: ids[i].clone(),
                package_id: pkg[i].clone(),
                time: time[i],
                kind: k,
                target_version: target[i].clone(),
            });
        }
        Ok(v)
    })
}

/// A day's usage files, each footer checked (when the day is metered: the footers of days a
/// run does not meter are never read, so a nightly's cost does not grow with the history).
pub fn usage_files(paths: &[PathBuf]) -> Result<Vec<UsageFile>> {
    paths
        .iter()
        .map(|path| {
            let b = check_footer(path, &schemas::USAGE)?;
            check_unsigned(path, &b)?;
            Ok(UsageFile { path: path.clone() })
        })
        .collect()
}
