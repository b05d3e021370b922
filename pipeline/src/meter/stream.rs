//! The streaming metering path: row groups of every file of the day are read in parallel
//! (rayon) with arrow-rs, text as string views, and classified on the fly. Accepted slices
//! are summed per (app, class) into each worker's counters, and only a 42-bit fingerprint of
//! each accepted `event_id` is kept, in one of 1,024 buckets by its low 10 bits (4 bytes a
//! slice; at 100M slices about 1,100 pairs of different ids share one, and are merely
//! compared). Sorting each bucket (in cache) finds the few event ids that may repeat; a second
//! pass keeps just those slices, in full (compactly: one allocation for their text),
//! and settles them: identical copies collapse, differing copies are rejected, and the
//! counters are corrected. Hash collisions only make a slice a candidate: the second pass
//! compares the real ids and every column.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use rtcbill_schemas::{self as schemas, c};
use rustc_hash::FxBuildHasher;

use crate::catalog::Catalog;
use crate::clock::{add_days, Ts};
use crate::error::{Error, Result};
use crate::input::{timestamps_us, App, Micros, UsageFile};

use super::table::{prefetch, AppIndex, FingerprintSet, AHEAD};
use super::{
    MeterCounts, Metered, RejectReason, RejectedSlice, RejectedText, UsageDaily, MAX_SECONDS,
};

const BATCH_ROWS: usize = 64 * 1024;
/// A 42-bit fingerprint of an event id: its bucket (the low bits), then 32 bits kept in it.
type Fingerprint = u64;
const BUCKET_BITS: u32 = 10;
const BUCKETS: usize = 1 << BUCKET_BITS;
/// Fingerprints are kept in blocks of this many: a worker's last block of a bucket is all it
/// can leave unused (at most 16 MiB over 1,024 buckets).
const BLOCK: usize = 4096;

/// One row group of one file: the unit of parallel work.
struct Task<'a> {
    file: &'a UsageFile,
    /// The file's footer, read once, with its text columns read as views.
    meta: ArrowReaderMetadata,
    row_group: usize,
    rows: usize,
}

/// What metering needs to know about the day.
struct Ctx<'a> {
    day_start: Ts,
    day_end: Ts,
    /// app id → index into `apps`.
    app_index: AppIndex,
    apps: &'a [App],
    catalog: &'a Catalog,
}

/// A duplicate candidate as the second pass keeps it: the slice in full (copies are
/// identical when every column is), with the counter it was added to.
struct Candidate {
    slice: RejectedSlice,
    app: u32,
    class: u32,
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

/// The usage columns of one read batch, in canonical form (int64, UTC microseconds).
struct SliceCols<'a> {
    event_id: Strs<'a>,
    app_id: arrow::array::Int64Array,
    user_id: Strs<'a>,
    room_id: Strs<'a>,
    usage_class: Strs<'a>,
    start_time: Micros,
    seconds: arrow::array::Int64Array,
}

/// Integers of any width as int64 (a u64 above i64::MAX is refused when the inputs load).
fn int64(a: &ArrayRef) -> std::result::Result<arrow::array::Int64Array, String> {
    let x = cast(a, &DataType::Int64).map_err(|e| e.to_string())?;
    Ok(x.as_primitive::<Int64Type>().clone())
}

impl<'a> SliceCols<'a> {
    fn new(b: &'a RecordBatch) -> std::result::Result<SliceCols<'a>, String> {
        let col = |n: &str| b.column_by_name(n).expect("projected");
        Ok(SliceCols {
            event_id: Strs::new(col(c::EVENT_ID)),
            app_id: int64(col(c::APP_ID))?,
            user_id: Strs::new(col(c::USER_ID)),
            room_id: Strs::new(col(c::ROOM_ID)),
            usage_class: Strs::new(col(c::USAGE_CLASS)),
            start_time: timestamps_us(col(c::START_TIME))?,
            seconds: int64(col(c::SECONDS))?,
        })
    }

    /// Row `i` as a reject, every column as read.
    fn rejected(&self, i: usize, reason: RejectReason) -> RejectedSlice {
        let text = RejectedText {
            event_id: self.event_id.get(i),
            user_id: self.user_id.get(i),
            room_id: self.room_id.get(i),
            usage_class: self.usage_class.get(i),
        };
        let (app, secs) = (&self.app_id, &self.seconds);
        RejectedSlice::new(
            reason,
            text,
            app.is_valid(i).then(|| app.value(i)),
            self.start_time.values[i],
            secs.is_valid(i).then(|| secs.value(i)),
        )
    }
}

impl Ctx<'_> {
    /// The index of row `i`'s app, if it is known.
    fn app_of(&self, cols: &SliceCols, i: usize) -> Option<u32> {
        let a = &cols.app_id;
        a.is_valid(i).then(|| a.value(i)).and_then(|a| self.app_index.get(a))
    }

    /// [`Ctx::app_of`] every row of a batch, into `apps`, in a loop of its own with each app
    /// fetched a few rows ahead: at 1M apps every look-up misses the cache, and among the
    /// slices' other work the misses would not overlap.
    fn apps_of(&self, cols: &SliceCols, apps: &mut Vec<Option<u32>>) {
        let ids = cols.app_id.values();
        apps.clear();
        for i in 0..ids.len() {
            if let Some(&next) = ids.get(i + AHEAD) {
                self.app_index.prefetch(next);
            }
            apps.push(self.app_of(cols, i));
        }
    }
}

/// rules.md, Metering: the first reject reason that applies, or the slice's (app index, class,
/// seconds). `app` is [`Ctx::app_of`] the row.
fn classify(
    cols: &SliceCols,
    i: usize,
    app: Option<u32>,
    ctx: &Ctx,
) -> std::result::Result<(u32, usize, i64), RejectReason> {
    match cols.event_id.get(i) {
        None | Some("") => return Err(RejectReason::MissingEventId),
        _ => {}
    }
    let Some(t) = cols.start_time.values[i] else {
        // rules.md, Reject reasons: a time beyond microseconds is on no billing day.
        return Err(if cols.start_time.is_beyond(i) {
            RejectReason::WrongPartition
        } else {
            RejectReason::MissingStartTime
        });
    };
    if t < ctx.day_start || t >= ctx.day_end {
        return Err(RejectReason::WrongPartition);
    }
    let Some(app) = app else { return Err(RejectReason::UnknownApp) };
    let class =
        cols.usage_class.get(i).and_then(|s| ctx.catalog.classes.iter().position(|k| k.name == s));
    let Some(class) = class else { return Err(RejectReason::UnknownUsageClass) };
    match cols.seconds.is_valid(i).then(|| cols.seconds.value(i)) {
        Some(s) if (0..=MAX_SECONDS).contains(&s) => Ok((app, class, s)),
        _ => Err(RejectReason::InvalidSeconds),
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

/// Stands for a missing event id among fingerprints (which are below 2^42).
const NO_ID: Fingerprint = u64::MAX;

fn event_hash(id: &str) -> Fingerprint {
    let mut h = FxBuildHasher.build_hasher();
    h.write(id.as_bytes());
    h.write_u8(0xff);
    h.finish() & ((1 << (BUCKET_BITS + 32)) - 1)
}

fn read_err(f: &UsageFile, e: impl std::fmt::Display) -> Error {
    Error::Input { file: f.path.clone(), msg: format!("cannot read ({e})") }
}

/// Reads one row group in batches, calling `each` on every batch.
fn scan(task: &Task, mut each: impl FnMut(&SliceCols) -> Result<()>) -> Result<()> {
    let f = File::open(&task.file.path).map_err(|e| Error::io(&task.file.path, e))?;
    let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, task.meta.clone());
    let schema = b.schema().clone();
    let roots: Vec<usize> = schemas::USAGE
        .columns
        .iter()
        .map(|col| schema.index_of(col.name).expect("footer checked"))
        .collect();
    let mask = ProjectionMask::roots(b.parquet_schema(), roots);
    let reader = b
        .with_projection(mask)
        .with_row_groups(vec![task.row_group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_err(task.file, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| read_err(task.file, e))?;
        let cols = SliceCols::new(&batch).map_err(|e| read_err(task.file, e))?;
        each(&cols)?;
    }
    Ok(())
}

/// Per (app index, class): accepted slices and their seconds, side by side (one cache line
/// per update).
struct Counters {
    classes: usize,
    cells: Vec<[i64; 2]>,
}

impl Counters {
    fn new(apps: usize, classes: usize) -> Counters {
        Counters { classes, cells: vec![[0; 2]; apps * classes] }
    }
    fn cell(&self, app: u32, class: usize) -> usize {
        app as usize * self.classes + class
    }
    fn add(&mut self, app: u32, class: usize, slices: i64, seconds: i64) {
        let k = self.cell(app, class);
        let [n, s] = &mut self.cells[k];
        *n += slices;
        *s += seconds;
    }
    /// Counts a batch's accepted slices (cell, seconds) in a loop of their own, each cell
    /// fetched a few slices ahead: at 1M apps the cells are far out of cache, and among the
    /// slices' other work the misses would not overlap.
    fn count(&mut self, slices: &[(usize, i64)]) {
        for (k, &(cell, seconds)) in slices.iter().enumerate() {
            if let Some(&(next, _)) = slices.get(k + AHEAD) {
                prefetch(&self.cells[next]);
            }
            let [n, s] = &mut self.cells[cell];
            *n += 1;
            *s += seconds;
        }
    }
    fn merge(mut self, o: Counters) -> Counters {
        for (a, b) in self.cells.iter_mut().zip(o.cells) {
            a[0] += b[0];
            a[1] += b[1];
        }
        self
    }
}

/// Tables a worker fills alone, handed from task to task (as many as tasks run at once): plain
/// adds and pushes, no atomic and no lock per slice, so the cache misses of consecutive slices
/// overlap (at 1M apps the counters are far out of cache).
struct Pool<T, F> {
    make: F,
    free: Mutex<Vec<T>>,
}

impl<T, F: Fn() -> T> Pool<T, F> {
    fn new(make: F) -> Self {
        Pool { make, free: Mutex::default() }
    }
    fn take(&self) -> T {
        let free = self.free.lock().expect("not poisoned").pop();
        free.unwrap_or_else(&self.make)
    }
    fn give(&self, t: T) {
        self.free.lock().expect("not poisoned").push(t);
    }
    fn all(self) -> Vec<T> {
        self.free.into_inner().expect("not poisoned")
    }
}

/// A worker's fingerprints, by bucket, in blocks of [`BLOCK`].
struct Buckets(Vec<Vec<Vec<u32>>>);

impl Buckets {
    fn new() -> Buckets {
        Buckets((0..BUCKETS).map(|_| Vec::new()).collect())
    }
    fn push(&mut self, f: Fingerprint) {
        let blocks = &mut self.0[f as usize & (BUCKETS - 1)];
        match blocks.last_mut() {
            Some(b) if b.len() < BLOCK => b.push((f >> BUCKET_BITS) as u32),
            _ => {
                let mut b = Vec::with_capacity(BLOCK);
                b.push((f >> BUCKET_BITS) as u32);
                blocks.push(b);
            }
        }
    }
}

/// rules.md, Metering of billing day `day` from its files, in two passes over the row groups:
/// classify and count every slice, keeping a fingerprint of each accepted id; then read the
/// slices whose fingerprint repeats in full, and settle them.
pub fn meter_day(
    day: NaiveDate,
    files: &[UsageFile],
    apps: &[App],
    catalog: &Catalog,
) -> Result<Metered> {
    let tasks = row_groups(files)?;
    let raw: usize = tasks.iter().map(|t| t.rows).sum();
    let ctx = Ctx {
        day_start: catalog.zone.start_of(day),
        day_end: catalog.zone.start_of(add_days(day, 1)),
        app_index: AppIndex::new(apps.iter().map(|a| a.id)),
        apps,
        catalog,
    };
    let classes = catalog.classes.len();
    let counters = Pool::new(|| Counters::new(apps.len(), classes));
    let fingerprints = Pool::new(Buckets::new);

    let clock = std::time::Instant::now();
    let mut rejected = classify_all(&tasks, &ctx, &counters, &fingerprints)?;
    let mut counters = (counters.all().into_iter())
        .reduce(Counters::merge)
        .unwrap_or_else(|| Counters::new(apps.len(), classes));
    tracing::debug!(
        %day,
        secs = clock.elapsed().as_secs_f64(),
        peak_mib = crate::peak_mib(),
        "metering pass 1 (classify, count, fingerprint) done"
    );
    let candidates = repeated(fingerprints.all());
    tracing::debug!(
        %day,
        candidates = candidates.len(),
        secs = clock.elapsed().as_secs_f64(),
        peak_mib = crate::peak_mib(),
        "fingerprints seen more than once"
    );
    if !candidates.is_empty() {
        let found = candidates_of(&tasks, &candidates, &ctx)?;
        settle(found, &mut counters, &mut rejected);
        tracing::debug!(
            %day,
            secs = clock.elapsed().as_secs_f64(),
            peak_mib = crate::peak_mib(),
            "metering pass 2 (candidates read in full and settled) done"
        );
    }
    tracing::debug!(%day, secs = clock.elapsed().as_secs_f64(),
        peak_mib = crate::peak_mib(), "metering passes done");

    let mut usage = counters.usage(&ctx);
    usage.sort();
    // Rows that compare equal are equal in every column: any order of them is the same file.
    let rejected = super::sort_rows(rejected);
    tracing::debug!(%day, secs = clock.elapsed().as_secs_f64(), "usage summed, rejects sorted");
    let accepted: u64 = usage.iter().map(|u| u.slices as u64).sum();
    let rejected_n = rejected.len() as u64;
    crate::release_freed();
    let counts = MeterCounts {
        raw: raw as u64,
        accepted,
        rejected: rejected_n,
        collapsed: raw as u64 - accepted - rejected_n,
    };
    Ok(Metered { usage, rejected, counts })
}

/// The row groups of the day's files: the unit of parallel work.
fn row_groups(files: &[UsageFile]) -> Result<Vec<Task<'_>>> {
    let mut tasks = Vec::new();
    for f in files {
        let file = File::open(&f.path).map_err(|e| Error::io(&f.path, e))?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| read_err(f, e))?;
        // Text read as string views points into the decoded pages instead of copying every
        // string into one buffer: most of the text is read only to be hashed or compared.
        let fields: Vec<Field> = meta
            .schema()
            .fields()
            .iter()
            .map(|x| {
                // Every type the contract takes as text, dictionary-encoded text (pandas
                // categoricals) included, as plain views.
                if schemas::ColType::Utf8.accepts(x.data_type()) {
                    x.as_ref().clone().with_data_type(DataType::Utf8View)
                } else {
                    x.as_ref().clone()
                }
            })
            .collect();
        let views = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
        let meta = ArrowReaderMetadata::try_new(meta.metadata().clone(), views)
            .map_err(|e| read_err(f, e))?;
        for (rg, md) in meta.metadata().row_groups().iter().enumerate() {
            tasks.push(Task {
                file: f,
                meta: meta.clone(),
                row_group: rg,
                rows: md.num_rows() as usize,
            });
        }
    }
    Ok(tasks)
}

/// Pass 1: classifies every slice, counts the accepted ones and keeps the fingerprint of their
/// ids; returns the rejects.
fn classify_all(
    tasks: &[Task],
    ctx: &Ctx,
    counters: &Pool<Counters, impl Fn() -> Counters + Sync>,
    fingerprints: &Pool<Buckets, impl Fn() -> Buckets + Sync>,
) -> Result<Vec<RejectedSlice>> {
    let rejects: Vec<Vec<RejectedSlice>> = tasks
        .par_iter()
        .map(|task| {
            let (mut rejected, mut accepted, mut apps) = (Vec::new(), Vec::new(), Vec::new());
            let (mut mine, mut seen) = (counters.take(), fingerprints.take());
            scan(task, |cols| {
                ctx.apps_of(cols, &mut apps);
                accepted.clear();
                for (i, &app) in apps.iter().enumerate() {
                    match classify(cols, i, app, ctx) {
                        Ok((app, class, secs)) => {
                            accepted.push((mine.cell(app, class), secs));
                            seen.push(event_hash(cols.event_id.get(i).expect("classified")));
                        }
                        Err(reason) => rejected.push(cols.rejected(i, reason)),
                    }
                }
                mine.count(&accepted);
                Ok(())
            })?;
            counters.give(mine);
            fingerprints.give(seen);
            Ok(rejected)
        })
        .collect::<Result<_>>()?;
    Ok(concat(rejects))
}

/// The fingerprints seen more than once: the event ids that may repeat. Each bucket is
/// gathered from every worker and sorted on its own, in cache; its blocks are freed as they
/// are gathered.
fn repeated(workers: Vec<Buckets>) -> Vec<Fingerprint> {
    let mut by_bucket: Vec<Vec<Vec<u32>>> = (0..BUCKETS).map(|_| Vec::new()).collect();
    for w in workers {
        for (k, blocks) in w.0.into_iter().enumerate() {
            by_bucket[k].extend(blocks);
        }
    }
    let found: Vec<Vec<Fingerprint>> = by_bucket
        .into_par_iter()
        .enumerate()
        .map(|(k, blocks)| {
            let mut kept = Vec::with_capacity(blocks.iter().map(Vec::len).sum());
            for b in blocks {
                kept.extend_from_slice(&b);
            }
            radix_sort(&mut kept);
            let mut repeats = Vec::new();
            for w in kept.windows(2) {
                if w[0] == w[1] && repeats.last() != Some(&w[0]) {
                    repeats.push(w[0]);
                }
            }
            repeats.into_iter().map(|x| (x as u64) << BUCKET_BITS | k as u64).collect()
        })
        .collect();
    found.into_iter().flatten().collect()
}

/// Sorts 32-bit keys a byte at a time (least significant first): four passes over a bucket
/// that fits in cache, where comparison sorts take several times longer.
fn radix_sort(v: &mut Vec<u32>) {
    let mut out = vec![0u32; v.len()];
    for shift in [0, 8, 16, 24] {
        let mut at = [0usize; 256];
        for &x in v.iter() {
            at[(x >> shift) as usize & 255] += 1;
        }
        let mut sum = 0;
        for c in at.iter_mut() {
            (*c, sum) = (sum, sum + *c);
        }
        for &x in v.iter() {
            let d = (x >> shift) as usize & 255;
            out[at[d]] = x;
            at[d] += 1;
        }
        std::mem::swap(v, &mut out);
    }
}

/// Pass 2: the accepted slices whose fingerprint repeats, in full, in one list per task (not
/// concatenated: at 100M slices that copy would double their memory for a moment).
fn candidates_of(
    tasks: &[Task],
    candidates: &[Fingerprint],
    ctx: &Ctx,
) -> Result<Vec<Vec<Candidate>>> {
    let candidates = FingerprintSet::new(candidates);
    tasks
        .par_iter()
        .map(|task| {
            let (mut found, mut fingerprints, mut maybe) = (Vec::new(), Vec::new(), Vec::new());
            scan(task, |cols| {
                // In three loops, each fetching its table a few rows ahead: at 100M slices
                // neither the sieve nor the set is in cache.
                fingerprints.clear();
                let ids = (0..cols.seconds.len()).map(|i| cols.event_id.get(i));
                fingerprints.extend(ids.map(|id| id.map_or(NO_ID, event_hash)));
                maybe.clear();
                for (i, &f) in fingerprints.iter().enumerate() {
                    if let Some(&next) = fingerprints.get(i + AHEAD) {
                        candidates.prefetch_sieve(next);
                    }
                    if f != NO_ID && candidates.may_hold(f) {
                        maybe.push(i);
                    }
                }
                for (k, &i) in maybe.iter().enumerate() {
                    if let Some(&next) = maybe.get(k + AHEAD) {
                        candidates.prefetch(fingerprints[next]);
                    }
                    if !candidates.contains(fingerprints[i]) {
                        continue;
                    }
                    if let Ok((app, class, _)) = classify(cols, i, ctx.app_of(cols, i), ctx) {
                        let slice = cols.rejected(i, RejectReason::ConflictingDuplicate);
                        found.push(Candidate { slice, app, class: class as u32 });
                    }
                }
                Ok(())
            })?;
            Ok(found)
        })
        .collect()
}

/// rules.md, Duplicates: identical copies of an id count once (the extra ones are taken off
/// the counters); differing copies are all taken off, and added to `rejected`.
fn settle(
    mut found: Vec<Vec<Candidate>>,
    counters: &mut Counters,
    rejected: &mut Vec<RejectedSlice>,
) {
    let at = |&(_, t, i): &(u64, u32, u32)| &found[t as usize][i as usize];
    // Copies are brought together by a hash of their id, without reading a candidate; then
    // each run of one hash (the copies of one id, but for ids that share a hash) is ordered by
    // id. Each candidate, then its text and its counter, is fetched a few places ahead: at 100M
    // slices the 6M candidates are far out of cache, and sorting them by id read two of them
    // at random for every comparison.
    let mut order: Vec<(u64, u32, u32)> = (found.iter().enumerate())
        .flat_map(|(t, f)| {
            (f.iter().enumerate())
                .map(move |(i, c)| (FxBuildHasher.hash_one(c.slice.event_id()), t as u32, i as u32))
        })
        .collect();
    order.par_sort_unstable_by_key(|o| o.0);
    let mut differ: Vec<Vec<bool>> = found.iter().map(|f| vec![false; f.len()]).collect();
    let mut n_differ = 0;
    let seconds = |g: &Candidate| g.slice.seconds().expect("accepted");
    let n = order.len();
    let mut start = 0;
    while start < n {
        let hash = order[start].0;
        let end = start + order[start..].iter().take_while(|o| o.0 == hash).count();
        for o in &order[(start + 2 * AHEAD).min(n)..(end + 2 * AHEAD).min(n)] {
            prefetch(at(o));
        }
        for o in &order[(start + AHEAD).min(n)..(end + AHEAD).min(n)] {
            prefetch(at(o).slice.text.as_ptr());
            prefetch(&counters.cells[counters.cell(at(o).app, at(o).class as usize)]);
        }
        let run = &mut order[start..end];
        run.sort_unstable_by(|a, b| at(a).slice.event_id().cmp(&at(b).slice.event_id()));
        for group in run.chunk_by(|a, b| at(a).slice.event_id() == at(b).slice.event_id()) {
            let first = at(&group[0]);
            if group.len() > 1 && group.iter().all(|g| at(g).slice == first.slice) {
                // identical copies count once: the extra ones are collapsed
                let extra = group.len() as i64 - 1;
                counters.add(first.app, first.class as usize, -extra, -extra * seconds(first));
            } else if group.len() > 1 {
                for g @ &(_, t, i) in group {
                    counters.add(at(g).app, at(g).class as usize, -1, -seconds(at(g)));
                    differ[t as usize][i as usize] = true;
                }
                n_differ += group.len();
            }
        }
        start = end;
    }
    drop(order);
    // The copies that collapse are freed before the rejects grow (reserved once): at 100M
    // slices the candidates and the grown rejects side by side are the run's peak.
    for (f, d) in found.iter_mut().zip(differ) {
        let mut d = d.into_iter();
        f.retain(|_| d.next().expect("one flag a candidate"));
        f.shrink_to_fit();
    }
    rejected.reserve_exact(n_differ);
    for f in found {
        rejected.extend(f.into_iter().map(|f| f.slice));
    }
}

impl Counters {
    /// The day's usage: one row per (app, class) with accepted slices.
    fn usage(&self, ctx: &Ctx) -> Vec<UsageDaily> {
        let mut usage = Vec::new();
        for (k, &[slices, seconds]) in self.cells.iter().enumerate() {
            if slices == 0 {
                continue;
            }
            let (app, class) = (k / self.classes, k % self.classes);
            usage.push(UsageDaily::from_total(
                ctx.apps[app].account_id,
                ctx.apps[app].id,
                class,
                ctx.catalog.classes[class].ratio,
                slices,
                seconds,
            ));
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    /// The radix sort agrees with the standard sort, repeats and extremes included.
    #[test]
    fn radix_sort_sorts() {
        let mut x = 0x9e37_79b9_u32;
        let mut v: Vec<u32> = (0..10_000)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 7 == 0 {
                    x % 50
                } else {
                    x
                }
            })
            .chain([0, u32::MAX, u32::MAX, 0])
            .collect();
        let mut want = v.clone();
        want.sort_unstable();
        radix_sort(&mut v);
        assert_eq!(v, want);
    }

    /// Every repeated fingerprint is found once, whichever worker and block holds its copies,
    /// and none that is seen once.
    #[test]
    fn repeated_fingerprints_are_found_across_workers_and_blocks() {
        let (mut one, mut two) = (Buckets::new(), Buckets::new());
        let twice = 7 << BUCKET_BITS | 3;
        let thrice = (u32::MAX as u64) << BUCKET_BITS | (BUCKETS as u64 - 1);
        for i in 0..(3 * BLOCK as u64) {
            one.push((i + 100) << BUCKET_BITS | 3); // fills blocks of bucket 3, each once
        }
        one.push(twice);
        two.push(twice);
        for _ in 0..3 {
            two.push(thrice);
        }
        let mut found = repeated(vec![one, two]);
        found.sort();
        assert_eq!(found, [twice, thrice]);
    }
    use crate::catalog_file::tests::CATALOG;
    use crate::output::{write_file, Cols};

    /// Two ids with one fingerprint (found by search: 42 bits collide after about two million
    /// ids) are different slices: both are counted, neither collapses. A true copy of one of
    /// them still collapses.
    #[test]
    fn ids_that_share_a_fingerprint_are_both_counted() {
        let mut seen = FxHashMap::default();
        let (a, b) = (0u64..)
            .find_map(|i| seen.insert(event_hash(&format!("e{i}")), i).map(|first| (first, i)))
            .map(|(a, b)| (format!("e{a}"), format!("e{b}")))
            .expect("a collision exists");
        assert_ne!(a, b);
        assert_eq!(event_hash(&a), event_hash(&b));
        let cat = crate::catalog_file::parse(CATALOG).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
        let t = cat.zone.start_of(day) + 3_600_000_000;
        let ids = [a.as_str(), b.as_str(), b.as_str()];
        let (_, batch) = Cols::new(&schemas::USAGE)
            .str("event_id", ids.iter().map(|s| Some(*s)))
            .i64("app_id", [Some(7); 3])
            .str("user_id", [None::<&str>; 3])
            .str("room_id", [None::<&str>; 3])
            .str("usage_class", [Some("audio"); 3])
            .ts("start_time", [Some(t); 3])
            .i64("seconds", [Some(90), Some(30), Some(30)])
            .finish()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.parquet");
        write_file(&path, &schemas::USAGE, &batch).unwrap();
        let files = [UsageFile { path }];
        let apps =
            [App { id: 7, account_id: 1, created_at: 0, disabled_at: None, violation_at: None }];
        let m = meter_day(day, &files, &apps, &cat).unwrap();
        assert_eq!(m.counts, MeterCounts { raw: 3, accepted: 2, rejected: 0, collapsed: 1 });
        assert_eq!(
            (m.usage[0].slices, m.usage[0].seconds, m.usage[0].billable_minutes),
            (2, 120, 2)
        );
    }
}
