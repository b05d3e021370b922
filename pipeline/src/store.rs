//! The output root as a store of days: the published snapshot readers see, the snapshot a run
//! builds, and each day's record (README, State).
//!
//! ```text
//! OUT/bills -> current/bills             one link per dataset: the plain Hive path
//! OUT/current -> _rtcbill/snapshots/N    switched by one atomic rename when a run ends
//! OUT/_rtcbill/snapshots/N/<dataset>/billing_date=D/part-0.parquet
//! OUT/_rtcbill/snapshots/N/_days/D.json  the day's record; D.state.zst the state it left
//! OUT/_rtcbill/work/                     the snapshot a run is building (hard links of N + its days)
//! OUT/_rtcbill/lock
//! ```
//!
//! A run never touches a published snapshot: it copies the current one as hard links into
//! `work/`, replaces the partitions of the days it writes (each file renamed over its link, so
//! the old snapshot keeps the old file), then renames `work/` to the next snapshot and switches
//! `current` to it. A reader sees every dataset as it was before the run or as it is after it.
//! A run killed on the way leaves `work/`, which the next run takes up: every day in it is
//! checked against its record like any other, so whatever the kill cut short is redone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use rayon::prelude::*;
use rtcbill_schemas::Dataset;
use serde::{Deserialize, Serialize};

use crate::engine::Account;
use crate::error::{Error, Result};
use crate::output::{partition_dir, PartWriter, PART_FILE};

pub const META: &str = "_rtcbill";
/// The link to the published snapshot, in the output root.
pub const CURRENT: &str = "current";
const SNAPSHOTS: &str = "snapshots";
const WORK: &str = "work";
const DAYS: &str = "_days";
const STAGING: &str = "_staging";
/// The record of the run that is building `work/` (for the operator: what it was doing).
const RUN: &str = "RUN.json";
/// Published snapshots kept: the current one and two before it, for readers still on them
/// and as a view of the outputs before a restatement.
const KEEP: usize = 3;
/// The day record's format: a record of another format is not trusted (its day is redone).
pub const RECORD_FORMAT: u32 = 3;

/// A file as a run wrote or saw it: size and time to notice a change cheaply, the hash to
/// tell whether it really changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSeen {
    pub path: String,
    pub size: u64,
    pub modified_ns: i128,
    pub blake3: String,
}

/// A done day's record: what it was computed from and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub day: NaiveDate,
    pub code_version: String,
    /// Hash of the catalog, accounts and apps: what every day depends on.
    pub chain_hash: String,
    /// Hash of the balance and package events in the day's window.
    pub window_hash: String,
    pub usage_files: Vec<FileSeen>,
    /// The hash of the state the day started from (the day before's `state`); none at the epoch.
    pub start_state: Option<String>,
    /// The state the day left (`_days/D.state.zst`).
    pub state: FileSeen,
    /// Every output file of the day, relative to the snapshot.
    pub outputs: Vec<FileSeen>,
    pub slices_read: u64,
    pub slices_accepted: u64,
    pub slices_rejected: u64,
    pub slices_collapsed: u64,
    /// Rows written per dataset.
    pub rows_out: Vec<(String, usize)>,
}

/// A day's record as found.
#[derive(Debug)]
pub enum Record {
    Missing,
    /// Unreadable, of another day or of another format: the reason, naming the file.
    Damaged(String),
    Found(Box<Manifest>),
}

/// What a run does, recorded in `work/` before its first day is written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The output root, locked for one run.
pub struct Store {
    pub out: PathBuf,
    /// Where the done days are read: `work/` once a run has started one, else the published
    /// snapshot.
    root: PathBuf,
    working: bool,
    _lock: File,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))
}

/// The state as zstd-compressed JSON, streamed (no full copy in memory), fsynced.
fn write_state(path: &Path, state: &[Account]) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut enc =
        zstd::Encoder::new(std::io::BufWriter::new(f), 3).map_err(|e| Error::io(path, e))?;
    serde_json::to_writer(&mut enc, state)
        .map_err(|e| Error::Write { path: path.to_path_buf(), msg: e.to_string() })?;
    let w = enc.finish().map_err(|e| Error::io(path, e))?;
    let f = w.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

fn day_name(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn record_name(d: NaiveDate) -> String {
    format!("{DAYS}/{}.json", day_name(d))
}

fn state_name(d: NaiveDate) -> String {
    format!("{DAYS}/{}.state.zst", day_name(d))
}

/// The snapshot `current` points to, if any.
fn current_snapshot(out: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(out.join(CURRENT)).ok()?;
    let dir = out.join(target);
    dir.is_dir().then_some(dir)
}

/// The published snapshots by number.
fn snapshots(out: &Path) -> Result<BTreeMap<u64, PathBuf>> {
    let dir = out.join(META).join(SNAPSHOTS);
    let mut found = BTreeMap::new();
    if !dir.exists() {
        return Ok(found);
    }
    for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let p = e.map_err(|e| Error::io(&dir, e))?.path();
        if let Some(n) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u64>().ok())
        {
            found.insert(n, p);
        }
    }
    Ok(found)
}

/// Snapshot `n`'s path relative to the output root (what `current` points to).
fn snapshot_name(n: u64) -> PathBuf {
    PathBuf::from(META).join(SNAPSHOTS).join(format!("{n:08}"))
}

/// The name the next published snapshot takes: one past the newest.
fn next_snapshot(out: &Path) -> Result<PathBuf> {
    Ok(snapshot_name(snapshots(out)?.last_key_value().map_or(1, |(n, _)| n + 1)))
}

/// The days recorded in a snapshot.
fn recorded_days(root: &Path) -> Result<BTreeSet<NaiveDate>> {
    let dir = root.join(DAYS);
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let p = e.map_err(|e| Error::io(&dir, e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(d) = name.strip_suffix(".json").and_then(|n| n.parse().ok()) {
            out.insert(d);
        }
    }
    Ok(out)
}

/// Copies a snapshot's tree as hard links (folders made, files linked): cheap, and a file
/// later replaced in the copy stays as it was in the original.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for e in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let e = e.map_err(|e| Error::io(from, e))?;
        let (src, dest) = (e.path(), to.join(e.file_name()));
        if e.file_type().map_err(|e| Error::io(&src, e))?.is_dir() {
            link_tree(&src, &dest)?;
        } else {
            std::fs::hard_link(&src, &dest).map_err(|e| Error::io(&dest, e))?;
        }
    }
    Ok(())
}

/// Points `link` at `target` atomically (a new link renamed over the old one).
fn switch_link(link: &Path, target: &Path) -> Result<()> {
    let tmp = link.with_extension("switching");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, link).map_err(|e| Error::io(link, e))
}

impl Store {
    /// Opens (creating) the output root and takes its lock; a second run gets `Error::Locked`.
    /// Finishes a publication a killed run left half done, and takes up its `work/`.
    pub fn open(out: &Path) -> Result<Store> {
        let meta = out.join(META);
        std::fs::create_dir_all(&meta).map_err(|e| Error::io(&meta, e))?;
        let lock_path = meta.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(out.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        migrate_legacy(out)?;
        // A run killed between naming its snapshot and switching `current` to it.
        if let Some((n, _)) = snapshots(out)?.last_key_value() {
            let target = snapshot_name(*n);
            if std::fs::read_link(out.join(CURRENT)).ok().as_deref() != Some(target.as_path()) {
                tracing::warn!(snapshot = %target.display(), "finishing the publication of a run that was interrupted");
                publish_links(out, &target)?;
            }
        }
        let work = meta.join(WORK);
        let working = work.is_dir();
        if working {
            let run = std::fs::read(work.join(RUN))
                .ok()
                .and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok());
            tracing::warn!(run = ?run, "taking up the work of an interrupted run: each of its days is checked before it is kept");
            let staging = work.join(STAGING);
            if staging.exists() {
                std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
            }
        }
        let root = if working { work } else { current_snapshot(out).unwrap_or(work) };
        Ok(Store { out: out.to_path_buf(), root, working, _lock: lock })
    }

    /// Whether this run has a `work/` snapshot (its own, or one an interrupted run left).
    pub fn working(&self) -> bool {
        self.working
    }

    /// Where the done days' partitions are read (the outputs as this run sees them).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Days with a record.
    pub fn done_days(&self) -> Result<BTreeSet<NaiveDate>> {
        recorded_days(&self.root)
    }

    /// A day's record as found.
    pub fn record(&self, d: NaiveDate) -> Record {
        read_record(&self.root, d)
    }

    /// Whether a recorded file is still as the record says (size and time, else its hash);
    /// the reason when it is not.
    pub fn check_file(&self, f: &FileSeen) -> std::result::Result<(), String> {
        check_file(&self.root, f)
    }

    /// The state day `d` left, when its file is the one its record names (else `None`, with
    /// a warning naming the file).
    pub fn state(&self, m: &Manifest) -> Option<Vec<Account>> {
        read_state(&self.root, m)
    }

    /// Starts (or goes on with) this run's `work/` snapshot, recording what the run does.
    pub fn begin(&mut self, run: &RunRecord) -> Result<()> {
        let work = self.out.join(META).join(WORK);
        if !self.working {
            if work.exists() {
                std::fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
            }
            match current_snapshot(&self.out) {
                Some(cur) => link_tree(&cur, &work)?,
                None => std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?,
            }
            self.working = true;
            self.root = work.clone();
        }
        let bytes = serde_json::to_vec_pretty(run)
            .map_err(|e| Error::Write { path: work.clone(), msg: e.to_string() })?;
        write_synced(&work.join(RUN), &bytes)?;
        sync_dir(&work)
    }

    /// Starts writing a day (module docs).
    pub fn stage(&self, day: NaiveDate) -> Result<Staged<'_>> {
        assert!(self.working, "a day is staged inside a run's work/ (Store::begin)");
        let dir = self.root.join(STAGING).join(day_name(day));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staged { store: self, day, dir, writers: BTreeMap::new() })
    }

    /// Publishes `work/` as the next snapshot: readers switch to it at once.
    pub fn publish(&mut self) -> Result<()> {
        if !self.working {
            return Ok(());
        }
        let meta = self.out.join(META);
        let work = meta.join(WORK);
        for f in [work.join(RUN), work.join(STAGING)] {
            if f.is_dir() {
                std::fs::remove_dir_all(&f).map_err(|e| Error::io(&f, e))?;
            } else if f.exists() {
                std::fs::remove_file(&f).map_err(|e| Error::io(&f, e))?;
            }
        }
        let name = next_snapshot(&self.out)?;
        let dest = self.out.join(&name);
        std::fs::create_dir_all(dest.parent().expect("has a parent"))
            .map_err(|e| Error::io(&dest, e))?;
        std::fs::rename(&work, &dest).map_err(|e| Error::io(&dest, e))?;
        sync_dir(&meta)?;
        crash_point("published");
        publish_links(&self.out, &name)?;
        self.root = dest;
        self.working = false;
        // Old snapshots beyond the few kept for readers still on them.
        for (_, old) in snapshots(&self.out)?.iter().rev().skip(KEEP) {
            std::fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
        }
        Ok(())
    }

    /// Drops this run's `work/`: the output root stays as it was before the run.
    pub fn discard(&mut self) -> Result<()> {
        let work = self.out.join(META).join(WORK);
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
        }
        self.working = false;
        self.root = current_snapshot(&self.out).unwrap_or(work);
        Ok(())
    }
}

/// Switches `current` to `snapshot` and makes sure each dataset's plain path links through it.
fn publish_links(out: &Path, snapshot: &Path) -> Result<()> {
    switch_link(&out.join(CURRENT), snapshot)?;
    for ds in rtcbill_schemas::OUTPUTS {
        let link = out.join(ds.name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(CURRENT).join(ds.name), &link)
                .map_err(|e| Error::io(&link, e))?;
        }
    }
    sync_dir(out)?;
    crash_point("switched");
    Ok(())
}

/// An output root written by an earlier version (datasets as plain folders, bookkeeping in
/// `_rtcbill/manifests` and `_rtcbill/state`): its partitions become the first snapshot, with
/// no day recorded, so the next run recomputes every day and compares (no bill changes
/// revision unless its amount or lines do).
fn migrate_legacy(out: &Path) -> Result<()> {
    let legacy: Vec<&Dataset> = rtcbill_schemas::OUTPUTS
        .iter()
        .copied()
        .filter(|ds| std::fs::symlink_metadata(out.join(ds.name)).is_ok_and(|m| m.is_dir()))
        .collect();
    if legacy.is_empty() {
        return Ok(());
    }
    tracing::warn!(out = %out.display(), "output root of an earlier version: its partitions become a snapshot and every day is recomputed");
    let work = out.join(META).join(WORK);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    for ds in legacy {
        let dest = work.join(ds.name);
        if !dest.exists() {
            std::fs::rename(out.join(ds.name), &dest).map_err(|e| Error::io(&dest, e))?;
        }
    }
    for old in ["manifests", "state", "staging"] {
        let p = out.join(META).join(old);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    let name = next_snapshot(out)?;
    std::fs::create_dir_all(out.join(META).join(SNAPSHOTS)).map_err(|e| Error::io(out, e))?;
    std::fs::rename(&work, out.join(&name)).map_err(|e| Error::io(&work, e))?;
    publish_links(out, &name)
}

/// Whether a file a record names, under snapshot `root`, is still as recorded (size and
/// time, else its hash); the reason when it is not.
pub fn check_file(root: &Path, f: &FileSeen) -> std::result::Result<(), String> {
    let path = root.join(&f.path);
    match file_seen(&path, f.path.clone(), Some(f)) {
        Ok(now) if now.blake3 == f.blake3 && now.size == f.size => Ok(()),
        Ok(_) => Err(format!("{} differs from what its day recorded", path.display())),
        Err(_) => Err(format!("{} is missing", path.display())),
    }
}

/// The state a day left, from snapshot `root`, when its file is the one its record names
/// (else `None`, with a warning naming the file).
pub fn read_state(root: &Path, m: &Manifest) -> Option<Vec<Account>> {
    let path = root.join(&m.state.path);
    if let Err(why) = check_file(root, &m.state) {
        tracing::warn!(file = %path.display(), "state not used: {why}");
        return None;
    }
    let read =
        File::open(&path).and_then(zstd::Decoder::new).map_err(|e| e.to_string()).and_then(|r| {
            serde_json::from_reader::<_, Vec<Account>>(std::io::BufReader::new(r))
                .map_err(|e| e.to_string())
        });
    match read {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(file = %path.display(), "state not used: unreadable: {e}");
            None
        }
    }
}

impl Record {
    /// Day `d`'s record in the snapshot at `root`.
    pub fn read(root: &Path, d: NaiveDate) -> Record {
        read_record(root, d)
    }
}

fn read_record(root: &Path, d: NaiveDate) -> Record {
    let p = root.join(record_name(d));
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Record::Missing,
        Err(e) => return Record::Damaged(format!("{}: {e}", p.display())),
    };
    match serde_json::from_slice::<Manifest>(&bytes) {
        Err(e) => Record::Damaged(format!("{}: unreadable record: {e}", p.display())),
        Ok(m) if m.format != RECORD_FORMAT => Record::Damaged(format!(
            "{}: record of format {}, not {RECORD_FORMAT}",
            p.display(),
            m.format
        )),
        Ok(m) if m.day != d => {
            Record::Damaged(format!("{}: the record of {}, not of {d}", p.display(), m.day))
        }
        Ok(m) => Record::Found(Box::new(m)),
    }
}

/// The outputs as a reader sees them: the published snapshot, read without the lock (a run
/// never changes a published snapshot).
pub struct Published {
    pub root: PathBuf,
}

impl Published {
    pub fn open(out: &Path) -> Result<Published> {
        match current_snapshot(out) {
            Some(root) => Ok(Published { root }),
            None => Err(Error::Invalid(format!(
                "{} is not an rtcbill output root (no published run): run a job first",
                out.display()
            ))),
        }
    }

    pub fn done_days(&self) -> Result<BTreeSet<NaiveDate>> {
        recorded_days(&self.root)
    }

    /// The done days within `from..=to` (each end optional); none is bad input, naming the
    /// days there are.
    pub fn days_in(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<NaiveDate>> {
        let done = self.done_days()?;
        let days: Vec<NaiveDate> = done
            .iter()
            .copied()
            .filter(|d| from.is_none_or(|f| *d >= f) && to.is_none_or(|t| *d <= t))
            .collect();
        if days.is_empty() {
            let range = match (done.first(), done.last()) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                _ => "none".into(),
            };
            return Err(Error::Invalid(format!(
                "{} holds no billed day in the range asked (days billed: {range})",
                self.root.display()
            )));
        }
        Ok(days)
    }

    /// A done day's record (its slice counts: the collapsed duplicates are kept only there).
    pub fn record(&self, day: NaiveDate) -> Result<Manifest> {
        match read_record(&self.root, day) {
            Record::Found(m) => Ok(*m),
            Record::Missing => {
                Err(Error::Invalid(format!("{}: no record of {day}", self.root.display())))
            }
            Record::Damaged(why) => Err(Error::Invalid(why)),
        }
    }
}

/// A day being written: one file per dataset, written in parts, then committed.
pub struct Staged<'a> {
    store: &'a Store,
    day: NaiveDate,
    dir: PathBuf,
    writers: BTreeMap<&'static str, PartWriter>,
}

impl Staged<'_> {
    /// Appends a part to a dataset's file (parts in the dataset's key order).
    pub fn write(&mut self, ds: &'static Dataset, batch: &RecordBatch) -> Result<()> {
        self.write_all(&[(ds, batch.clone())])
    }

    /// Appends a part to each of several datasets' files, the files written in parallel.
    pub fn write_all(&mut self, parts: &[(&'static Dataset, RecordBatch)]) -> Result<()> {
        for (ds, _) in parts {
            if !self.writers.contains_key(ds.name) {
                let w = self.file(ds)?;
                self.writers.insert(ds.name, w);
            }
        }
        self.writers.par_iter_mut().try_for_each(|(name, w)| {
            parts.iter().filter(|(ds, _)| ds.name == *name).try_for_each(|(_, b)| w.write(b))
        })
    }

    /// A dataset's file, to be written apart (on another thread) and then [`Staged::adopt`]ed.
    pub fn file(&self, ds: &'static Dataset) -> Result<PartWriter> {
        let sub = self.dir.join(ds.name);
        std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
        PartWriter::create(&sub.join(PART_FILE), ds)
    }

    /// Takes back a file written apart.
    pub fn adopt(&mut self, ds: &'static Dataset, w: PartWriter) {
        let before = self.writers.insert(ds.name, w);
        assert!(before.is_none(), "{} written apart and in place", ds.name);
    }

    /// Rows written so far, per dataset.
    pub fn rows_out(&self) -> Vec<(String, usize)> {
        self.writers.iter().map(|(n, w)| (n.to_string(), w.rows)).collect()
    }

    /// Closes every file (an empty one for a dataset with no rows), writes the state, records
    /// every file in the manifest, then moves the files into the run's snapshot, the record
    /// last: until it is in place the day is not done, and a day whose files do not match its
    /// record is redone by the next run. Returns the hash of the state file.
    pub fn commit(mut self, state: &[Account], mut manifest: Manifest) -> Result<String> {
        for ds in rtcbill_schemas::OUTPUTS {
            if !self.writers.contains_key(ds.name) {
                self.write(ds, &RecordBatch::new_empty(ds.schema()))?;
            }
        }
        let root = self.store.root.clone();
        let (dir, day) = (&self.dir, self.day);
        let writers: Vec<_> = std::mem::take(&mut self.writers).into_iter().collect();
        let state_src = self.dir.join("state.zst");
        // The files are closed and hashed, and the state written, in parallel.
        let (outputs, state_seen) = rayon::join(
            || {
                writers
                    .into_par_iter()
                    .map(|(name, w)| {
                        w.finish()?;
                        let ds = rtcbill_schemas::by_name(name).expect("an output dataset");
                        let src = dir.join(name).join(PART_FILE);
                        let dest = partition_dir(&root, ds, day).join(PART_FILE);
                        let rel = dest.strip_prefix(&root).expect("inside the root");
                        let seen = file_seen(&src, rel.to_string_lossy().to_string(), None)?;
                        Ok((seen, (src, dest)))
                    })
                    .collect::<Result<Vec<_>>>()
            },
            || {
                write_state(&state_src, state)?;
                file_seen(&state_src, state_name(day), None)
            },
        );
        let mut moves = Vec::new();
        for (seen, mv) in outputs? {
            manifest.outputs.push(seen);
            moves.push(mv);
        }
        manifest.state = state_seen?;
        moves.push((state_src, root.join(state_name(self.day))));
        crash_point("staged");
        let record_src = self.dir.join("record.json");
        let m = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Write { path: record_src.clone(), msg: e.to_string() })?;
        write_synced(&record_src, &m)?;
        moves.push((record_src, root.join(record_name(self.day))));
        for (src, dest) in moves {
            let parent = dest.parent().expect("has a parent");
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            std::fs::rename(&src, &dest).map_err(|e| Error::io(&dest, e))?;
            sync_dir(parent)?;
            crash_point("renamed");
        }
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        crash_point("day");
        Ok(manifest.state.blake3)
    }
}

/// Fault injection for the crash tests: `RTCBILL_CRASH_AT=<point>[:<n>]` aborts the process
/// (as a SIGKILL would end it) the n-th time (default the first) a run reaches that point.
fn crash_point(point: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("RTCBILL_CRASH_AT") else { return };
    let (name, n) =
        spec.split_once(':').map_or((spec.as_str(), 1), |(p, n)| (p, n.parse().unwrap_or(1)));
    if name == point && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == n {
        std::process::abort();
    }
}

/// Reads a file's size, modification time and content hash; `name` is how a record names
/// it. With `previous` of the same name, size and time, the hash is taken as unchanged.
pub fn file_seen(path: &Path, name: String, previous: Option<&FileSeen>) -> Result<FileSeen> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let modified_ns = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    if let Some(prev) =
        previous.filter(|f| f.path == name && f.size == md.len() && f.modified_ns == modified_ns)
    {
        return Ok(prev.clone());
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(File::open(path).map_err(|e| Error::io(path, e))?)
        .map_err(|e| Error::io(path, e))?;
    Ok(FileSeen {
        path: name,
        size: md.len(),
        modified_ns,
        blake3: h.finalize().to_hex().to_string(),
    })
}
