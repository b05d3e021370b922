//! rules.md, Outputs: rows to Arrow with the contract's exact types, sorted by the dataset's
//! sort key, written with zstd, statistics, sorting metadata and `schema_version`. The store
//! ([`crate::store`]) stages the files of a day and swaps them in.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::{
    lexsort_to_indices, take_record_batch, LexicographicalComparator, SortColumn, SortOptions,
};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rayon::prelude::*;
use rtcbill_schemas::{self as schemas, ColType, Dataset, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::{day_number, Ts};
use crate::error::{Error, Result};
use crate::meter::{RejectReason, RejectedSlice, UsageDaily};
use crate::rows::{
    AccountStatusRow, BillLineRow, BillRow, ChargeRow, DayRows, DeductionRow, OrderRow,
    PackageBalanceRow, RevisionRow, StatusEventRow,
};

pub use crate::partition::{file as partition_file, of as partition_dir, PART_FILE};

/// Builds the columns of one dataset, each pushed with its name: a name that is not the
/// contract's column at that position (two columns swapped, one missing or extra) makes
/// [`finish`](Cols::finish) an error naming the dataset and both names.
pub(crate) struct Cols {
    ds: &'static Dataset,
    cols: Vec<ArrayRef>,
    /// The first column pushed out of place.
    misplaced: Option<String>,
}

/// Why a dataset's rows could not become a batch.
#[derive(Debug)]
pub enum BatchError {
    /// A value the contract's type cannot hold (an amount beyond decimal(18,2)): the inputs
    /// led there, so the run stops as on bad input.
    OutOfRange(String),
    /// The rows do not match the contract: a defect.
    Contract(String),
}

impl From<String> for BatchError {
    fn from(m: String) -> BatchError {
        BatchError::Contract(m)
    }
}

impl From<BatchError> for String {
    fn from(e: BatchError) -> String {
        match e {
            BatchError::OutOfRange(m) | BatchError::Contract(m) => m,
        }
    }
}

fn dec(d: Decimal, scale: u32) -> std::result::Result<i128, String> {
    let mut x = d;
    x.rescale(scale);
    if x.scale() != scale || x.mantissa().abs() >= 10i128.pow(18) {
        return Err(format!("{d} does not fit decimal(18,{scale})"));
    }
    Ok(x.mantissa())
}

impl Cols {
    pub(crate) fn new(ds: &'static Dataset) -> Cols {
        Cols { ds, cols: Vec::with_capacity(ds.columns.len()), misplaced: None }
    }
    /// Checks that `name` is the next column of the contract, then adds `a` as it.
    fn push(mut self, name: &str, a: ArrayRef) -> Self {
        let at = self.cols.len();
        if self.misplaced.is_none() {
            match self.ds.columns.get(at) {
                Some(c) if c.name == name => {}
                Some(c) => {
                    self.misplaced = Some(format!(
                        "{}: column {at} is {}, written as {name}",
                        self.ds.name, c.name
                    ))
                }
                None => {
                    self.misplaced =
                        Some(format!("{}: {name} written past the last column", self.ds.name))
                }
            }
        }
        self.cols.push(a);
        self
    }
    pub(crate) fn i64(self, name: &str, v: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.push(name, Arc::new(Int64Array::from_iter(v)))
    }
    pub(crate) fn i32(self, name: &str, v: impl IntoIterator<Item = Option<i32>>) -> Self {
        self.push(name, Arc::new(arrow::array::Int32Array::from_iter(v)))
    }
    pub(crate) fn str<S: AsRef<str>>(
        self,
        name: &str,
        v: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        self.push(name, Arc::new(StringArray::from_iter(v)))
    }
    pub(crate) fn bool(self, name: &str, v: impl IntoIterator<Item = Option<bool>>) -> Self {
        self.push(name, Arc::new(BooleanArray::from_iter(v)))
    }
    pub(crate) fn ts(self, name: &str, v: impl IntoIterator<Item = Option<Ts>>) -> Self {
        self.push(name, Arc::new(TimestampMicrosecondArray::from_iter(v).with_timezone("UTC")))
    }
    pub(crate) fn date(self, name: &str, v: impl IntoIterator<Item = Option<NaiveDate>>) -> Self {
        let days = v.into_iter().map(|d| d.map(|d| day_number(d) as i32));
        self.push(name, Arc::new(Date32Array::from_iter(days)))
    }
    /// A decimal column at the contract's scale for `name`.
    pub(crate) fn dec(
        self,
        name: &str,
        v: impl IntoIterator<Item = Option<Decimal>>,
    ) -> std::result::Result<Self, BatchError> {
        let ty = self.ds.columns.iter().find(|c| c.name == name).map(|c| c.ty);
        let Some(ColType::Decimal(scale)) = ty else {
            return Err(format!("{}: {name} is not a decimal column", self.ds.name).into());
        };
        let vals: Vec<Option<i128>> = v
            .into_iter()
            .map(|d| d.map(|d| dec(d, scale as u32)).transpose())
            .collect::<std::result::Result<_, _>>()
            .map_err(|m| BatchError::OutOfRange(format!("{}.{name}: {m}", self.ds.name)))?;
        let a = Decimal128Array::from_iter(vals)
            .with_precision_and_scale(18, scale)
            .map_err(|e| e.to_string())?;
        Ok(self.push(name, Arc::new(a)))
    }
    pub(crate) fn finish(self) -> Batch {
        if let Some(m) = self.misplaced {
            return Err(m.into());
        }
        let b = RecordBatch::try_new(self.ds.schema(), self.cols)
            .map_err(|e| format!("{}: {e}", self.ds.name))?;
        Ok((self.ds, b))
    }
}

fn s(x: &str) -> Option<&str> {
    Some(x)
}

/// A day's `usage_daily` as an Arrow batch, built in the dataset's key order (classes by
/// name) so the writer makes no sorted copy: at 100M slices a day has millions of rows.
pub fn usage_daily_batch(u: &[UsageDaily], cat: &Catalog) -> Batch {
    let class = |i: usize| cat.classes[i].name.as_str();
    let mut order: Vec<&UsageDaily> = u.iter().collect();
    order.par_sort_unstable_by_key(|r| (r.account_id, r.app_id, class(r.class)));
    Cols::new(&schemas::USAGE_DAILY)
        .i64("account_id", order.iter().map(|r| Some(r.account_id)))
        .i64("app_id", order.iter().map(|r| Some(r.app_id)))
        .str("usage_class", order.iter().map(|r| Some(class(r.class))))
        .i64("slices", order.iter().map(|r| Some(r.slices)))
        .i64("seconds", order.iter().map(|r| Some(r.seconds)))
        .i64("billable_minutes", order.iter().map(|r| Some(r.billable_minutes)))
        .i64("package_minutes", order.iter().map(|r| Some(r.package_minutes)))
        .finish()
}

/// Rows of `rejected_usage` in one part: the writer's row group size, so the file is the
/// same as one written from a single batch.
const REJECTS_PART: usize = parquet::file::properties::DEFAULT_MAX_ROW_GROUP_ROW_COUNT;

/// A day's `rejected_usage` (rows in key order) as Arrow batches of at most [`REJECTS_PART`]
/// rows, at least one; each part's text is freed once it is built, and no part is copied
/// out, so a day that rejects millions of slices never holds them twice.
pub fn rejected_batches(mut r: Vec<RejectedSlice>) -> impl Iterator<Item = Batch> {
    let mut at = 0;
    let mut first = true;
    std::iter::from_fn(move || {
        (std::mem::take(&mut first) || at < r.len()).then(|| {
            let end = (at + REJECTS_PART).min(r.len());
            let part = &mut r[at..end];
            let batch = rejected_batch(part);
            // The part's text is freed in place (an empty one allocates nothing).
            let empty = RejectedSlice::new(
                RejectReason::MissingEventId,
                Default::default(),
                None,
                None,
                None,
            );
            part.fill(empty);
            at += part.len();
            batch
        })
    })
}

/// Rejects as one Arrow batch.
fn rejected_batch(r: &[RejectedSlice]) -> Batch {
    Cols::new(&schemas::REJECTED_USAGE)
        .str("event_id", r.iter().map(|r| r.event_id()))
        .i64("app_id", r.iter().map(|r| r.app_id()))
        .str("user_id", r.iter().map(|r| r.user_id()))
        .str("room_id", r.iter().map(|r| r.room_id()))
        .str("usage_class", r.iter().map(|r| r.usage_class()))
        .ts("start_time", r.iter().map(|r| r.start_time()))
        .i64("seconds", r.iter().map(|r| r.seconds()))
        .str("reason", r.iter().map(|r| Some(r.reason.as_str())))
        .finish()
}

/// One dataset's rows as an Arrow batch, or why they do not fit its contract.
pub type Batch = std::result::Result<(&'static Dataset, RecordBatch), BatchError>;

/// The engine's datasets of (part of) a day as Arrow batches; each dataset's rows are freed
/// once converted.
pub fn rows_batches(
    mut rows: DayRows,
    cat: &Catalog,
) -> std::result::Result<Vec<(&'static Dataset, RecordBatch)>, BatchError> {
    // Each statement frees its dataset's rows.
    let deductions = deductions_batch(&std::mem::take(&mut rows.deductions), cat)?;
    let charges = charges_batch(&std::mem::take(&mut rows.charges), cat)?;
    let bills = bills_batch(&std::mem::take(&mut rows.bills), cat)?;
    let bill_lines = bill_lines_batch(&std::mem::take(&mut rows.bill_lines), cat)?;
    let orders = orders_batch(&std::mem::take(&mut rows.orders))?;
    let package_balances = package_balances_batch(&std::mem::take(&mut rows.package_balances))?;
    let account_status = account_status_batch(&std::mem::take(&mut rows.account_status))?;
    let status_events = status_events_batch(&std::mem::take(&mut rows.status_events))?;
    Ok(vec![
        deductions,
        charges,
        bills,
        bill_lines,
        orders,
        package_balances,
        account_status,
        status_events,
    ])
}

/// `deductions` as an Arrow batch.
fn deductions_batch(d: &[DeductionRow], cat: &Catalog) -> Batch {
    let class = |i: usize| Some(cat.classes[i].name.as_str());
    Cols::new(&schemas::DEDUCTIONS)
        .i64("account_id", d.iter().map(|r| Some(r.account_id)))
        .i64("app_id", d.iter().map(|r| Some(r.app_id)))
        .str("usage_class", d.iter().map(|r| class(r.class)))
        .str("package_id", d.iter().map(|r| s(&r.package_id)))
        .str("package_kind", d.iter().map(|r| s(r.package_kind.as_str())))
        .i64("usage_minutes", d.iter().map(|r| Some(r.usage_minutes)))
        .i64("package_minutes", d.iter().map(|r| Some(r.package_minutes)))
        .i64("remaining_after", d.iter().map(|r| Some(r.remaining_after)))
        .finish()
}

/// `charges` as an Arrow batch.
fn charges_batch(c: &[ChargeRow], cat: &Catalog) -> Batch {
    let class = |i: usize| Some(cat.classes[i].name.as_str());
    Cols::new(&schemas::CHARGES)
        .i64("account_id", c.iter().map(|r| Some(r.account_id)))
        .i64("app_id", c.iter().map(|r| Some(r.app_id)))
        .str("usage_class", c.iter().map(|r| class(r.class)))
        .i64("minutes", c.iter().map(|r| Some(r.minutes)))
        .dec("unit_price_per_1000", c.iter().map(|r| Some(r.unit_price_per_1000)))?
        .dec("amount", c.iter().map(|r| Some(r.amount)))?
        .finish()
}

/// `bills` as an Arrow batch.
fn bills_batch(b: &[BillRow], cat: &Catalog) -> Batch {
    Cols::new(&schemas::BILLS)
        .str("bill_id", b.iter().map(|r| s(&r.bill_id)))
        .i64("account_id", b.iter().map(|r| Some(r.account_id)))
        .str("cycle", b.iter().map(|r| s(r.cycle.as_str())))
        .date("period_start", b.iter().map(|r| Some(r.period_start)))
        .date("period_end", b.iter().map(|r| Some(r.period_end)))
        .ts("issued_at", b.iter().map(|r| Some(r.issued_at)))
        .str("currency", b.iter().map(|_| s(&cat.currency)))
        .dec("amount", b.iter().map(|r| Some(r.amount)))?
        .dec("balance_before", b.iter().map(|r| Some(r.balance_before)))?
        .dec("balance_after", b.iter().map(|r| Some(r.balance_after)))?
        .i64("revision", b.iter().map(|r| Some(r.revision)))
        .finish()
}

/// `bill_lines` as an Arrow batch.
fn bill_lines_batch(l: &[BillLineRow], cat: &Catalog) -> Batch {
    let class = |i: usize| Some(cat.classes[i].name.as_str());
    Cols::new(&schemas::BILL_LINES)
        .str("bill_id", l.iter().map(|r| s(&r.bill_id)))
        .i64("account_id", l.iter().map(|r| Some(r.account_id)))
        .i64("app_id", l.iter().map(|r| Some(r.app_id)))
        .str("usage_class", l.iter().map(|r| class(r.class)))
        .dec("unit_price_per_1000", l.iter().map(|r| Some(r.unit_price_per_1000)))?
        .i64("minutes", l.iter().map(|r| Some(r.minutes)))
        .dec("amount", l.iter().map(|r| Some(r.amount)))?
        .finish()
}

/// `orders` as an Arrow batch.
pub fn orders_batch(o: &[OrderRow]) -> Batch {
    Cols::new(&schemas::ORDERS)
        .str("order_id", o.iter().map(|r| s(&r.order_id)))
        .i64("account_id", o.iter().map(|r| r.account_id))
        .str("package_id", o.iter().map(|r| s(&r.package_id)))
        .str("kind", o.iter().map(|r| s(r.kind.as_str())))
        .ts("time", o.iter().map(|r| Some(r.time)))
        .str("status", o.iter().map(|r| s(r.status.as_str())))
        .str("reason", o.iter().map(|r| r.reason.map(|x| x.as_str())))
        .dec("amount", o.iter().map(|r| r.amount))?
        .i64("minutes_added", o.iter().map(|r| r.minutes_added))
        .date("cycle_start", o.iter().map(|r| r.cycle_start))
        .date("cycle_end", o.iter().map(|r| r.cycle_end))
        .str("version", o.iter().map(|r| r.version.as_deref()))
        .finish()
}

/// `package_balances` as an Arrow batch.
fn package_balances_batch(p: &[PackageBalanceRow]) -> Batch {
    Cols::new(&schemas::PACKAGE_BALANCES)
        .str("package_id", p.iter().map(|r| s(&r.package_id)))
        .i64("account_id", p.iter().map(|r| Some(r.account_id)))
        .i64("app_id", p.iter().map(|r| r.app_id))
        .str("kind", p.iter().map(|r| s(r.kind.as_str())))
        .str("product", p.iter().map(|r| s(&r.product)))
        .str("version", p.iter().map(|r| s(&r.version)))
        .date("cycle_start", p.iter().map(|r| Some(r.cycle_start)))
        .date("cycle_end", p.iter().map(|r| Some(r.cycle_end)))
        .i64("minutes_total", p.iter().map(|r| Some(r.minutes_total)))
        .i64("minutes_used", p.iter().map(|r| Some(r.minutes_used)))
        .i64("minutes_left", p.iter().map(|r| Some(r.minutes_left)))
        .str("status", p.iter().map(|r| s(r.status.as_str())))
        .bool("auto_renew", p.iter().map(|r| Some(r.auto_renew)))
        .finish()
}

/// `account_status` as an Arrow batch.
fn account_status_batch(a: &[AccountStatusRow]) -> Batch {
    Cols::new(&schemas::ACCOUNT_STATUS)
        .i64("account_id", a.iter().map(|r| Some(r.account_id)))
        .dec("balance", a.iter().map(|r| Some(r.balance)))?
        .str("state", a.iter().map(|r| s(r.state.as_str())))
        .ts("arrears_since", a.iter().map(|r| r.arrears_since))
        .ts("grace_deadline", a.iter().map(|r| r.grace_deadline))
        .ts("suspended_at", a.iter().map(|r| r.suspended_at))
        .ts("reclaim_at", a.iter().map(|r| r.reclaim_at))
        .dec("amount_due", a.iter().map(|r| Some(r.amount_due)))?
        .finish()
}

/// `status_events` as an Arrow batch.
fn status_events_batch(e: &[StatusEventRow]) -> Batch {
    Cols::new(&schemas::STATUS_EVENTS)
        .i64("account_id", e.iter().map(|r| Some(r.account_id)))
        .i64("app_id", e.iter().map(|r| r.app_id))
        .str("event", e.iter().map(|r| s(r.event.as_str())))
        .ts("time", e.iter().map(|r| Some(r.time)))
        .str("detail", e.iter().map(|r| s(&r.detail)))
        .finish()
}

/// The `bill_revisions` batch.
pub fn revisions_batch(r: &[RevisionRow]) -> Batch {
    Cols::new(&schemas::BILL_REVISIONS)
        .str("bill_id", r.iter().map(|r| s(&r.bill_id)))
        .i64("account_id", r.iter().map(|r| Some(r.account_id)))
        .i64("revision", r.iter().map(|r| Some(r.revision)))
        .ts("issued_at", r.iter().map(|r| Some(r.issued_at)))
        .dec("amount", r.iter().map(|r| Some(r.amount)))?
        .dec("balance_before", r.iter().map(|r| Some(r.balance_before)))?
        .dec("balance_after", r.iter().map(|r| Some(r.balance_after)))?
        .i64("replaced_by_revision", r.iter().map(|r| r.replaced_by_revision))
        .dec("new_amount", r.iter().map(|r| r.new_amount))?
        .dec("change", r.iter().map(|r| Some(r.change)))?
        .date("restated_on", r.iter().map(|r| Some(r.restated_on)))
        .finish()
}

/// Sorts a batch by its dataset's sort key (nulls first, ascending).
fn sort_batch(ds: &Dataset, b: &RecordBatch) -> std::result::Result<RecordBatch, String> {
    if ds.sort_key.is_empty() || b.num_rows() < 2 {
        return Ok(b.clone());
    }
    let opts = SortOptions { descending: false, nulls_first: true };
    let cols: Vec<SortColumn> = ds
        .sort_indices()
        .into_iter()
        .map(|i| SortColumn { values: b.column(i).clone(), options: Some(opts) })
        .collect();
    // Rows mostly come in key order already: then no sorted copy is made.
    let cmp = LexicographicalComparator::try_new(&cols).map_err(|e| e.to_string())?;
    if (1..b.num_rows()).all(|i| cmp.compare(i - 1, i).is_le()) {
        return Ok(b.clone());
    }
    let idx = lexsort_to_indices(&cols, None).map_err(|e| e.to_string())?;
    take_record_batch(b, &idx).map_err(|e| e.to_string())
}

fn writer_props(ds: &Dataset) -> WriterProperties {
    let sorting = ds
        .sort_indices()
        .into_iter()
        .map(|i| SortingColumn { column_idx: i as i32, descending: false, nulls_first: true })
        .collect();
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SCHEMA_VERSION_KEY.to_string(),
            SCHEMA_VERSION.to_string(),
        )]))
        .build()
}

fn werr(path: &Path, msg: impl ToString) -> Error {
    Error::Write { path: path.to_path_buf(), msg: msg.to_string() }
}

/// One output file written in parts: each part sorted by the dataset's key (parts must come
/// in key order), fsynced on finish.
pub struct PartWriter {
    path: PathBuf,
    ds: &'static Dataset,
    w: ArrowWriter<File>,
    pub rows: usize,
}

impl PartWriter {
    pub fn create(path: &Path, ds: &'static Dataset) -> Result<PartWriter> {
        let f = File::create(path).map_err(|e| Error::io(path, e))?;
        let w = ArrowWriter::try_new(f, ds.schema(), Some(writer_props(ds)))
            .map_err(|e| werr(path, e))?;
        Ok(PartWriter { path: path.to_path_buf(), ds, w, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let sorted = sort_batch(self.ds, batch).map_err(|m| werr(&self.path, m))?;
        self.rows += sorted.num_rows();
        self.w.write(&sorted).map_err(|e| werr(&self.path, e))
    }

    pub fn finish(self) -> Result<()> {
        let f = self.w.into_inner().map_err(|e| werr(&self.path, e))?;
        f.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

/// Writes one Parquet file (sorted by the dataset's key) and fsyncs it.
pub fn write_file(path: &Path, ds: &'static Dataset, batch: &RecordBatch) -> Result<()> {
    let mut w = PartWriter::create(path, ds)?;
    w.write(batch)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use rtcbill_core::engine::Kind;
    use rtcbill_core::vocab::{
        AccountState, BillCycle, OrderKind, OrderReason, OrderStatus, PackageStatus, RejectReason,
        StatusEvent,
    };

    use super::*;

    /// A column written under another name than the contract's at its place is an error.
    #[test]
    fn columns_are_written_by_name() {
        let ok = Cols::new(&schemas::METER_COUNTS)
            .i64("slices_read", [Some(3)])
            .i64("accepted", [Some(2)])
            .i64("rejected", [Some(1)])
            .i64("collapsed", [Some(0)])
            .finish();
        assert!(ok.is_ok());
        let swapped = Cols::new(&schemas::METER_COUNTS)
            .i64("slices_read", [Some(3)])
            .i64("rejected", [Some(1)])
            .i64("accepted", [Some(2)])
            .i64("collapsed", [Some(0)])
            .finish();
        assert_eq!(
            String::from(swapped.unwrap_err()),
            "meter_counts: column 1 is accepted, written as rejected"
        );
        let extra = Cols::new(&schemas::METER_COUNTS)
            .i64("slices_read", [Some(3)])
            .i64("accepted", [Some(2)])
            .i64("rejected", [Some(1)])
            .i64("collapsed", [Some(0)])
            .i64("late", [Some(0)])
            .finish();
        assert_eq!(
            String::from(extra.unwrap_err()),
            "meter_counts: late written past the last column"
        );
        let missing = Cols::new(&schemas::METER_COUNTS).i64("slices_read", [Some(3)]).finish();
        assert!(missing.is_err());
    }

    /// Rejects sorted by their own order are in `rejected_usage`'s key order (nulls first), so
    /// the writer keeps the batch as it is; a batch out of order is still sorted.
    #[test]
    fn sorted_rejects_need_no_sorted_copy() {
        use crate::meter::{RejectedSlice, RejectedText};
        use arrow::array::{Array, AsArray};
        let r = |reason, id: Option<&str>, app: Option<i64>, user: Option<&str>| {
            let text = RejectedText { event_id: id, user_id: user, ..Default::default() };
            RejectedSlice::new(reason, text, app, Some(5), Some(60))
        };
        let mut rows = vec![
            r(RejectReason::UnknownApp, Some("e2"), Some(9), None),
            r(RejectReason::MissingEventId, None, Some(1), Some("u")),
            r(RejectReason::ConflictingDuplicate, Some("e10"), Some(3), Some("b")),
            r(RejectReason::ConflictingDuplicate, Some("e10"), Some(3), Some("a")),
            r(RejectReason::ConflictingDuplicate, Some("e10"), None, Some("z")),
            r(RejectReason::InvalidSeconds, Some(""), Some(2), None),
            r(RejectReason::ConflictingDuplicate, Some("e1"), Some(3), None),
        ];
        let (ds, unsorted) = rejected_batch(&rows).unwrap();
        rows.sort();
        let (_, sorted) = rejected_batch(&rows).unwrap();
        let ids = |b: &RecordBatch| {
            let c = b.column_by_name("event_id").unwrap().as_string::<i32>().clone();
            c.iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>()
        };
        let same = sort_batch(ds, &sorted).unwrap();
        assert!(same.column(0).to_data().ptr_eq(&sorted.column(0).to_data()), "no copy made");
        assert_eq!(ids(&sort_batch(ds, &unsorted).unwrap()), ids(&sorted));
        let want = ["e1", "e10", "e10", "e10", "", "", "e2"];
        let got = ids(&sorted);
        assert_eq!(got[..4], want[..4].iter().map(|s| Some(s.to_string())).collect::<Vec<_>>());
        assert_eq!(got[4], Some(String::new()), "invalid_seconds, then missing_event_id");
        assert_eq!(got[5], None);
    }

    /// The schema docs list every value of each vocabulary the writer writes.
    #[test]
    fn schema_docs_list_the_vocabularies() {
        let checks: [(&Dataset, &str, Vec<&str>); 9] = [
            (&schemas::ORDERS, "kind", OrderKind::ALL.iter().map(|v| v.as_str()).collect()),
            (&schemas::ORDERS, "status", OrderStatus::ALL.iter().map(|v| v.as_str()).collect()),
            (&schemas::ORDERS, "reason", OrderReason::ALL.iter().map(|v| v.as_str()).collect()),
            (
                &schemas::STATUS_EVENTS,
                "event",
                StatusEvent::ALL.iter().map(|v| v.as_str()).collect(),
            ),
            (&schemas::BILLS, "cycle", BillCycle::ALL.iter().map(|v| v.as_str()).collect()),
            (
                &schemas::ACCOUNT_STATUS,
                "state",
                AccountState::ALL.iter().map(|v| v.as_str()).collect(),
            ),
            (
                &schemas::PACKAGE_BALANCES,
                "status",
                PackageStatus::ALL.iter().map(|v| v.as_str()).collect(),
            ),
            (
                &schemas::REJECTED_USAGE,
                "reason",
                RejectReason::ALL.iter().map(|v| v.as_str()).collect(),
            ),
            (
                &schemas::DEDUCTIONS,
                "package_kind",
                [Kind::Free, Kind::Monthly, Kind::Topup].iter().map(|k| k.as_str()).collect(),
            ),
        ];
        for (ds, col, values) in checks {
            let doc = ds.columns[ds.index(col)].doc;
            for v in values {
                assert!(doc.contains(v), "{}.{col}: the doc does not list {v}", ds.name);
            }
        }
    }
}
