//! rules.md, Outputs outputs: rows to Arrow with the contract's exact types, sorted by the dataset's
//! sort key, written with zstd, statistics, sorting metadata and `schema_version`. The store
//! ([`crate::store`]) stages the files of a day and swaps them in.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn, SortOptions};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rtcbill_schemas::{self as schemas, ColType, Dataset, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::{day_number, Ts};
use crate::error::{Error, Result};
use crate::meter::{RejectedSlice, UsageDaily};
use crate::rows::{DayRows, RevisionRow};

pub use crate::partition::{file as partition_file, of as partition_dir, PART_FILE};

/// Builds the columns of one dataset, in the contract's order.
pub(crate) struct Cols {
    ds: &'static Dataset,
    cols: Vec<ArrayRef>,
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
        Cols { ds, cols: Vec::with_capacity(ds.columns.len()) }
    }
    pub(crate) fn next_ty(&self) -> ColType {
        self.ds.columns[self.cols.len()].ty
    }
    pub(crate) fn i64(mut self, v: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.cols.push(Arc::new(Int64Array::from_iter(v)));
        self
    }
    pub(crate) fn i32(mut self, v: impl IntoIterator<Item = Option<i32>>) -> Self {
        self.cols.push(Arc::new(arrow::array::Int32Array::from_iter(v)));
        self
    }
    pub(crate) fn str<S: AsRef<str>>(mut self, v: impl IntoIterator<Item = Option<S>>) -> Self {
        self.cols.push(Arc::new(StringArray::from_iter(v)));
        self
    }
    pub(crate) fn bool(mut self, v: impl IntoIterator<Item = Option<bool>>) -> Self {
        self.cols.push(Arc::new(BooleanArray::from_iter(v)));
        self
    }
    pub(crate) fn ts(mut self, v: impl IntoIterator<Item = Option<Ts>>) -> Self {
        self.cols.push(Arc::new(TimestampMicrosecondArray::from_iter(v).with_timezone("UTC")));
        self
    }
    pub(crate) fn date(mut self, v: impl IntoIterator<Item = Option<NaiveDate>>) -> Self {
        self.cols.push(Arc::new(Date32Array::from_iter(
            v.into_iter().map(|d| d.map(|d| day_number(d) as i32)),
        )));
        self
    }
    pub(crate) fn dec(
        mut self,
        v: impl IntoIterator<Item = Option<Decimal>>,
    ) -> std::result::Result<Self, String> {
        let ColType::Decimal(scale) = self.next_ty() else {
            panic!("column {} is not a decimal", self.cols.len())
        };
        let vals: Vec<Option<i128>> = v
            .into_iter()
            .map(|d| d.map(|d| dec(d, scale as u32)).transpose())
            .collect::<std::result::Result<_, _>>()?;
        let a = Decimal128Array::from_iter(vals)
            .with_precision_and_scale(18, scale)
            .map_err(|e| e.to_string())?;
        self.cols.push(Arc::new(a));
        Ok(self)
    }
    pub(crate) fn finish(self) -> std::result::Result<(&'static Dataset, RecordBatch), String> {
        let b = RecordBatch::try_new(self.ds.schema(), self.cols)
            .map_err(|e| format!("{}: {e}", self.ds.name))?;
        Ok((self.ds, b))
    }
}

fn s(x: &str) -> Option<&str> {
    Some(x)
}

/// A day's `usage_daily` as an Arrow batch.
pub fn usage_daily_batch(
    u: &[UsageDaily],
    cat: &Catalog,
) -> std::result::Result<(&'static Dataset, RecordBatch), String> {
    let class = |i: usize| Some(cat.classes[i].name.as_str());
    Cols::new(&schemas::USAGE_DAILY)
        .i64(u.iter().map(|r| Some(r.account_id)))
        .i64(u.iter().map(|r| Some(r.app_id)))
        .str(u.iter().map(|r| class(r.class)))
        .i64(u.iter().map(|r| Some(r.slices)))
        .i64(u.iter().map(|r| Some(r.seconds)))
        .i64(u.iter().map(|r| Some(r.billable_minutes)))
        .i64(u.iter().map(|r| Some(r.package_minutes)))
        .finish()
}

/// A day's `rejected_usage` as an Arrow batch (the rows are freed).
pub fn rejected_batch(
    r: Vec<RejectedSlice>,
) -> std::result::Result<(&'static Dataset, RecordBatch), String> {
    Cols::new(&schemas::REJECTED_USAGE)
        .str(r.iter().map(|r| r.event_id()))
        .i64(r.iter().map(|r| r.app_id))
        .str(r.iter().map(|r| r.user_id()))
        .str(r.iter().map(|r| r.room_id()))
        .str(r.iter().map(|r| r.usage_class()))
        .ts(r.iter().map(|r| r.start_time))
        .i64(r.iter().map(|r| r.seconds))
        .str(r.iter().map(|r| Some(r.reason.as_str())))
        .finish()
}

/// The engine's datasets of (part of) a day as Arrow batches; each dataset's rows are freed
/// once converted.
pub fn rows_batches(
    mut rows: DayRows,
    cat: &Catalog,
) -> std::result::Result<Vec<(&'static Dataset, RecordBatch)>, String> {
    let class = |i: usize| Some(cat.classes[i].name.as_str());
    let mut out = Vec::new();
    let d = std::mem::take(&mut rows.deductions);
    out.push(
        Cols::new(&schemas::DEDUCTIONS)
            .i64(d.iter().map(|r| Some(r.account_id)))
            .i64(d.iter().map(|r| Some(r.app_id)))
            .str(d.iter().map(|r| class(r.class)))
            .str(d.iter().map(|r| s(&r.package_id)))
            .str(d.iter().map(|r| s(r.package_kind.as_str())))
            .i64(d.iter().map(|r| Some(r.usage_minutes)))
            .i64(d.iter().map(|r| Some(r.package_minutes)))
            .i64(d.iter().map(|r| Some(r.remaining_after)))
            .finish()?,
    );
    drop(d);
    let c = std::mem::take(&mut rows.charges);
    out.push(
        Cols::new(&schemas::CHARGES)
            .i64(c.iter().map(|r| Some(r.account_id)))
            .i64(c.iter().map(|r| Some(r.app_id)))
            .str(c.iter().map(|r| class(r.class)))
            .i64(c.iter().map(|r| Some(r.minutes)))
            .dec(c.iter().map(|r| Some(r.unit_price_per_1000)))?
            .dec(c.iter().map(|r| Some(r.amount)))?
            .finish()?,
    );
    drop(c);
    let b = std::mem::take(&mut rows.bills);
    out.push(
        Cols::new(&schemas::BILLS)
            .str(b.iter().map(|r| s(&r.bill_id)))
            .i64(b.iter().map(|r| Some(r.account_id)))
            .str(b.iter().map(|r| s(r.cycle.as_str())))
            .date(b.iter().map(|r| Some(r.period_start)))
            .date(b.iter().map(|r| Some(r.period_end)))
            .ts(b.iter().map(|r| Some(r.issued_at)))
            .str(b.iter().map(|_| s(&cat.currency)))
            .dec(b.iter().map(|r| Some(r.amount)))?
            .dec(b.iter().map(|r| Some(r.balance_before)))?
            .dec(b.iter().map(|r| Some(r.balance_after)))?
            .i64(b.iter().map(|r| Some(r.revision)))
            .finish()?,
    );
    drop(b);
    let l = std::mem::take(&mut rows.bill_lines);
    out.push(
        Cols::new(&schemas::BILL_LINES)
            .str(l.iter().map(|r| s(&r.bill_id)))
            .i64(l.iter().map(|r| Some(r.account_id)))
            .i64(l.iter().map(|r| Some(r.app_id)))
            .str(l.iter().map(|r| class(r.class)))
            .dec(l.iter().map(|r| Some(r.unit_price_per_1000)))?
            .i64(l.iter().map(|r| Some(r.minutes)))
            .dec(l.iter().map(|r| Some(r.amount)))?
            .finish()?,
    );
    drop(l);
    let o = std::mem::take(&mut rows.orders);
    out.push(
        Cols::new(&schemas::ORDERS)
            .str(o.iter().map(|r| s(&r.order_id)))
            .i64(o.iter().map(|r| r.account_id))
            .str(o.iter().map(|r| s(&r.package_id)))
            .str(o.iter().map(|r| s(r.kind.as_str())))
            .ts(o.iter().map(|r| Some(r.time)))
            .str(o.iter().map(|r| s(r.status.as_str())))
            .str(o.iter().map(|r| r.reason.map(|x| x.as_str())))
            .dec(o.iter().map(|r| r.amount))?
            .i64(o.iter().map(|r| r.minutes_added))
            .date(o.iter().map(|r| r.cycle_start))
            .date(o.iter().map(|r| r.cycle_end))
            .str(o.iter().map(|r| r.version.as_deref()))
            .finish()?,
    );
    drop(o);
    let p = std::mem::take(&mut rows.package_balances);
    out.push(
        Cols::new(&schemas::PACKAGE_BALANCES)
            .str(p.iter().map(|r| s(&r.package_id)))
            .i64(p.iter().map(|r| Some(r.account_id)))
            .i64(p.iter().map(|r| r.app_id))
            .str(p.iter().map(|r| s(r.kind.as_str())))
            .str(p.iter().map(|r| s(&r.product)))
            .str(p.iter().map(|r| s(&r.version)))
            .date(p.iter().map(|r| Some(r.cycle_start)))
            .date(p.iter().map(|r| Some(r.cycle_end)))
            .i64(p.iter().map(|r| Some(r.minutes_total)))
            .i64(p.iter().map(|r| Some(r.minutes_used)))
            .i64(p.iter().map(|r| Some(r.minutes_left)))
            .str(p.iter().map(|r| s(r.status.as_str())))
            .bool(p.iter().map(|r| Some(r.auto_renew)))
            .finish()?,
    );
    drop(p);
    let a = std::mem::take(&mut rows.account_status);
    out.push(
        Cols::new(&schemas::ACCOUNT_STATUS)
            .i64(a.iter().map(|r| Some(r.account_id)))
            .dec(a.iter().map(|r| Some(r.balance)))?
            .str(a.iter().map(|r| s(r.state.as_str())))
            .ts(a.iter().map(|r| r.arrears_since))
            .ts(a.iter().map(|r| r.grace_deadline))
            .ts(a.iter().map(|r| r.suspended_at))
            .ts(a.iter().map(|r| r.reclaim_at))
            .dec(a.iter().map(|r| Some(r.amount_due)))?
            .finish()?,
    );
    drop(a);
    let e = std::mem::take(&mut rows.status_events);
    out.push(
        Cols::new(&schemas::STATUS_EVENTS)
            .i64(e.iter().map(|r| Some(r.account_id)))
            .i64(e.iter().map(|r| r.app_id))
            .str(e.iter().map(|r| s(r.event.as_str())))
            .ts(e.iter().map(|r| Some(r.time)))
            .str(e.iter().map(|r| s(&r.detail)))
            .finish()?,
    );
    drop(e);
    Ok(out)
}

/// The `bill_revisions` batch.
pub fn revisions_batch(
    r: &[RevisionRow],
) -> std::result::Result<(&'static Dataset, RecordBatch), String> {
    Cols::new(&schemas::BILL_REVISIONS)
        .str(r.iter().map(|r| s(&r.bill_id)))
        .i64(r.iter().map(|r| Some(r.account_id)))
        .i64(r.iter().map(|r| Some(r.revision)))
        .ts(r.iter().map(|r| Some(r.issued_at)))
        .dec(r.iter().map(|r| Some(r.amount)))?
        .dec(r.iter().map(|r| Some(r.balance_before)))?
        .dec(r.iter().map(|r| Some(r.balance_after)))?
        .i64(r.iter().map(|r| r.replaced_by_revision))
        .dec(r.iter().map(|r| r.new_amount))?
        .dec(r.iter().map(|r| Some(r.change)))?
        .date(r.iter().map(|r| Some(r.restated_on)))
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
