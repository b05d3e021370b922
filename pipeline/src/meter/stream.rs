//! The streaming metering path: row groups of every file of the day are read in parallel
//! (rayon) with arrow-rs and classified on the fly. Accepted slices are summed per
//! (app, class) into shared counters, and only a 64-bit hash of each accepted `event_id` is
//! kept (8 bytes a slice). Sorting the hashes finds the few event ids that may repeat; a
//! second, targeted pass reads just those slices in full and settles them (identical copies
//! collapse, differing copies are rejected), correcting the counters. Hash collisions only
//! make a slice a candidate: the second pass compares the real ids and columns.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use rtcbill_schemas::{self as schemas, c};
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::catalog::Catalog;
use crate::clock::{add_days, Ts};
use crate::error::{Error, Result};
use crate::input::{timestamps_us, App, UsageFile};

use super::{MeterCounts, Metered, RejectedSlice, UsageDaily, MAX_SECONDS};

const BATCH_ROWS: usize = 64 * 1024;
/// Marks a rejected slice's place in the hash array (real hashes are kept below it).
const NO_HASH: u64 = u64::MAX;

/// One row group of one file: the unit of parallel work.
struct Task<'a> {
    file: &'a UsageFile,
    row_group: usize,
    rows: usize,
}

/// What metering needs to know about the day.
struct Ctx<'a> {
    day_start: Ts,
    day_end: Ts,
    /// app id → index into `apps`.
    app_index: FxHashMap<i64, u32>,
    apps: &'a [App],
    catalog: &'a Catalog,
}

/// A slice as read, with its classification.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    event_id: Option<String>,
    app_id: Option<i64>,
    user_id: Option<String>,
    room_id: Option<String>,
    usage_class: Option<String>,
    start_time: Option<Ts>,
    seconds: Option<i64>,
}

impl Row {
    fn rejected(self, reason: &str) -> RejectedSlice {
        RejectedSlice {
            reason: reason.to_string(),
            event_id: self.event_id,
            app_id: self.app_id,
            start_time: self.start_time,
            seconds: self.seconds,
            user_id: self.user_id,
            room_id: self.room_id,
            usage_class: self.usage_class,
        }
    }
}

/// A string column of any Arrow string kind.
enum Strs<'a> {
    Small(&'a arrow::array::StringArray),
    Large(&'a arrow::array::LargeStringArray),
    View(&'a arrow::array::StringViewArray),
}

impl<'a> Strs<'a> {
    fn new(a: &'a ArrayRef) -> Strs<'a> {
        match a.data_type() {
            DataType::Utf8 => Strs::Small(a.as_string::<i32>()),
            DataType::LargeUtf8 => Strs::Large(a.as_string::<i64>()),
            DataType::Utf8View => Strs::View(a.as_string_view()),
            t => unreachable!("footer check accepted {t} as a string"),
        }
    }
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strs::Small(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// The columns of one batch, in canonical form.
struct Cols<'a> {
    event_id: Strs<'a>,
    app_id: arrow::array::Int64Array,
    user_id: Strs<'a>,
    room_id: Strs<'a>,
    usage_class: Strs<'a>,
    start_time: Vec<Option<Ts>>,
    seconds: arrow::array::Int64Array,
}

/// Integers of any width as int64. A value that does not fit (a u64 above i64::MAX) becomes
/// null: for `seconds` an `invalid_seconds` reject, for `app_id` an `unknown_app`.
fn int64(a: &ArrayRef) -> std::result::Result<arrow::array::Int64Array, String> {
    let x = cast(a, &DataType::Int64).map_err(|e| e.to_string())?;
    Ok(x.as_primitive::<Int64Type>().clone())
}

impl<'a> Cols<'a> {
    fn new(b: &'a RecordBatch) -> std::result::Result<Cols<'a>, String> {
        let col = |n: &str| b.column_by_name(n).expect("projected");
        Ok(Cols {
            event_id: Strs::new(col(c::EVENT_ID)),
            app_id: int64(col(c::APP_ID))?,
            user_id: Strs::new(col(c::USER_ID)),
            room_id: Strs::new(col(c::ROOM_ID)),
            usage_class: Strs::new(col(c::USAGE_CLASS)),
            start_time: timestamps_us(col(c::START_TIME))?,
            seconds: int64(col(c::SECONDS))?,
        })
    }

    fn row(&self, i: usize) -> Row {
        Row {
            event_id: self.event_id.get(i).map(str::to_owned),
            app_id: self.app_id.is_valid(i).then(|| self.app_id.value(i)),
            user_id: self.user_id.get(i).map(str::to_owned),
            room_id: self.room_id.get(i).map(str::to_owned),
            usage_class: self.usage_class.get(i).map(str::to_owned),
            start_time: self.start_time[i],
            seconds: self.seconds.is_valid(i).then(|| self.seconds.value(i)),
        }
    }
}

/// SPEC §2: the first reject reason that applies, or the slice's (app index, class, seconds).
fn classify(cols: &Cols, i: usize, ctx: &Ctx) -> std::result::Result<(u32, usize, i64), &'static str> {
    match cols.event_id.get(i) {
        None | Some("") => return Err("missing_event_id"),
        _ => {}
    }
    let Some(t) = cols.start_time[i] else { return Err("missing_start_time") };
    if t < ctx.day_start || t >= ctx.day_end {
        return Err("wrong_partition");
    }
    let app = cols.app_id.is_valid(i).then(|| cols.app_id.value(i)).and_then(|a| ctx.app_index.get(&a).copied());
    let Some(app) = app else { return Err("unknown_app") };
    let class = cols.usage_class.get(i).and_then(|s| ctx.catalog.classes.iter().position(|k| k.name == s));
    let Some(class) = class else { return Err("unknown_usage_class") };
    match cols.seconds.is_valid(i).then(|| cols.seconds.value(i)) {
        Some(s) if (0..=MAX_SECONDS).contains(&s) => Ok((app, class, s)),
        _ => Err("invalid_seconds"),
    }
}

/// Concatenates per-task results, freeing each part as it is moved (one copy resident).
fn concat<T>(parts: Vec<Vec<T>>) -> Vec<T> {
    let mut all = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for p in parts {
        all.extend(p);
    }
    all
}

fn event_hash(id: &str) -> u64 {
    let mut h = FxBuildHasher.build_hasher();
    h.write(id.as_bytes());
    h.write_u8(0xff);
    h.finish().min(NO_HASH - 1)
}

fn read_err(f: &UsageFile, e: impl std::fmt::Display) -> Error {
    Error::Input { file: f.path.clone(), msg: format!("cannot read ({e})") }
}

/// Reads one row group in batches, calling `each` on every batch.
fn scan(task: &Task, mut each: impl FnMut(&Cols) -> Result<()>) -> Result<()> {
    let f = File::open(&task.file.path).map_err(|e| Error::io(&task.file.path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| read_err(task.file, e))?;
    let schema = b.schema().clone();
    let roots: Vec<usize> = schemas::USAGE.columns.iter().map(|col| schema.index_of(col.name).expect("footer checked")).collect();
    let mask = ProjectionMask::roots(b.parquet_schema(), roots);
    let reader = b
        .with_projection(mask)
        .with_row_groups(vec![task.row_group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_err(task.file, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| read_err(task.file, e))?;
        let cols = Cols::new(&batch).map_err(|e| read_err(task.file, e))?;
        each(&cols)?;
    }
    Ok(())
}

/// Per (app index, class): accepted slices and their seconds.
struct Counters {
    classes: usize,
    slices: Vec<AtomicI64>,
    seconds: Vec<AtomicI64>,
}

impl Counters {
    fn new(apps: usize, classes: usize) -> Counters {
        let n = apps * classes;
        Counters { classes, slices: (0..n).map(|_| AtomicI64::new(0)).collect(), seconds: (0..n).map(|_| AtomicI64::new(0)).collect() }
    }
    fn add(&self, app: u32, class: usize, slices: i64, seconds: i64) {
        let k = app as usize * self.classes + class;
        self.slices[k].fetch_add(slices, Ordering::Relaxed);
        self.seconds[k].fetch_add(seconds, Ordering::Relaxed);
    }
}

pub fn meter_day(day: NaiveDate, files: &[UsageFile], apps: &[App], catalog: &Catalog) -> Result<Metered> {
    let mut tasks = Vec::new();
    for f in files {
        let file = File::open(&f.path).map_err(|e| Error::io(&f.path, e))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(f, e))?;
        for (rg, md) in b.metadata().row_groups().iter().enumerate() {
            tasks.push(Task { file: f, row_group: rg, rows: md.num_rows() as usize });
        }
    }
    let raw: usize = tasks.iter().map(|t| t.rows).sum();
    let ctx = Ctx {
        day_start: catalog.zone.start_of(day),
        day_end: catalog.zone.start_of(add_days(day, 1)),
        app_index: apps.iter().enumerate().map(|(i, a)| (a.id, i as u32)).collect(),
        apps,
        catalog,
    };
    let counters = Counters::new(apps.len(), catalog.classes.len());

    // Pass 1: classify, count, hash. Each task fills its own slice of the hash array.
    let mut hashes = vec![NO_HASH; raw];
    let mut parts: Vec<(&Task, &mut [u64])> = Vec::with_capacity(tasks.len());
    let mut rest = hashes.as_mut_slice();
    for t in &tasks {
        let (mine, more) = rest.split_at_mut(t.rows);
        parts.push((t, mine));
        rest = more;
    }
    let rejects: Vec<Vec<RejectedSlice>> = parts
        .into_par_iter()
        .map(|(task, out)| {
            let mut rejected = Vec::new();
            let mut at = 0;
            scan(task, |cols| {
                for i in 0..cols.seconds.len() {
                    match classify(cols, i, &ctx) {
                        Ok((app, class, secs)) => {
                            counters.add(app, class, 1, secs);
                            out[at] = event_hash(cols.event_id.get(i).expect("classified"));
                        }
                        Err(reason) => rejected.push(cols.row(i).rejected(reason)),
                    }
                    at += 1;
                }
                Ok(())
            })?;
            Ok(rejected)
        })
        .collect::<Result<_>>()?;
    let mut rejected = concat(rejects);

    // Event ids that may repeat: equal hashes.
    hashes.par_sort_unstable();
    let mut candidates = FxHashSet::default();
    for w in hashes.windows(2) {
        if w[0] == w[1] && w[0] != NO_HASH {
            candidates.insert(w[0]);
        }
    }
    drop(hashes);

    // Pass 2: read the candidates in full and settle them.
    if !candidates.is_empty() {
        let found: Vec<Vec<(Row, u32, usize)>> = tasks
            .par_iter()
            .map(|task| {
                let mut rows = Vec::new();
                scan(task, |cols| {
                    for i in 0..cols.seconds.len() {
                        let Some(id) = cols.event_id.get(i) else { continue };
                        if !candidates.contains(&event_hash(id)) {
                            continue;
                        }
                        if let Ok((app, class, _)) = classify(cols, i, &ctx) {
                            rows.push((cols.row(i), app, class));
                        }
                    }
                    Ok(())
                })?;
                Ok(rows)
            })
            .collect::<Result<_>>()?;
        let mut found = concat(found);
        found.sort();
        let mut start = 0;
        while start < found.len() {
            let end = start + found[start..].partition_point(|f| f.0.event_id == found[start].0.event_id);
            let group = &mut found[start..end];
            if group.len() > 1 && group.iter().all(|g| g.0 == group[0].0) {
                // identical copies count once: the extra ones are collapsed
                let (row, app, class) = &group[0];
                let extra = group.len() as i64 - 1;
                counters.add(*app, *class, -extra, -extra * row.seconds.unwrap_or(0));
            } else if group.len() > 1 {
                for (row, app, class) in group.iter_mut() {
                    counters.add(*app, *class, -1, -row.seconds.unwrap_or(0));
                    rejected.push(std::mem::take(row).rejected("conflicting_duplicate"));
                }
            }
            start = end;
        }
    }

    let mut usage = Vec::new();
    for (k, n) in counters.slices.iter().enumerate() {
        let slices = n.load(Ordering::Relaxed);
        if slices == 0 {
            continue;
        }
        let (app, class) = (k / counters.classes, k % counters.classes);
        let seconds = counters.seconds[k].load(Ordering::Relaxed);
        // SPEC §2: billable minutes = ceil(sum(seconds) / 60), at the day total.
        let billable = (seconds + 59) / 60;
        usage.push(UsageDaily {
            account_id: ctx.apps[app].account_id,
            app_id: ctx.apps[app].id,
            class,
            slices,
            seconds,
            billable_minutes: billable,
            package_minutes: billable * catalog.classes[class].ratio,
        });
    }
    usage.sort();
    rejected.sort();
    let accepted: u64 = usage.iter().map(|u| u.slices as u64).sum();
    let rejected_n = rejected.len() as u64;
    let counts = MeterCounts { raw: raw as u64, accepted, rejected: rejected_n, collapsed: raw as u64 - accepted - rejected_n };
    Ok(Metered { usage, rejected, counts })
}
