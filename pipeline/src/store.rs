//! The output root as a store of days: the published snapshot readers see, the snapshot a run
//! builds, and each day's record (README, State).
//!
//! ```text
//! OUT/bills -> current/bills             one link per dataset: the plain Hive path
//! OUT/current -> _rtcbill/snapshots/N    switched by one atomic rename when a run ends
//! OUT/_rtcbill/snapshots/N/<dataset>/billing_date=D/part-0.parquet
//! OUT/_rtcbill/snapshots/N/_days/D.json  the day's record; D.state.zst the state it left
//! OUT/_rtcbill/work/                     the snapshot a run is building (hard links of N + its days)
//! OUT/_rtcbill/recycling/                the spare snapshot being brought up to date as `work/`
//! OUT/_rtcbill/lock
//! ```
//!
//! A run never touches a published snapshot: it copies the current one as hard links into
//! `work/`, replaces the partitions of the days it writes (each file renamed over its link, so
//! the old snapshot keeps the old file), then renames `work/` to the next snapshot and switches
//! `current` to it. A reader sees every dataset as it was before the run or as it is after it.
//! A run killed on the way leaves `work/`, which the next run takes up: every day in it is
//! checked against its record like any other, so whatever the kill cut short is redone.
//!
//! The copy is not made from nothing each time: making and removing a folder per partition is
//! what a long history would cost every night. The oldest snapshot kept (the spare, beyond the
//! [`KEEP`] readable ones) is renamed away and brought up to date instead ([`refresh`]): a day
//! whose record and state are the same files (inodes) in both trees was committed with the same
//! outputs, so only the days that differ are linked again. An ordinary nightly does it while
//! the done days are checked ([`Store::preparer`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind, Write};
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
/// The tree being brought up to date with the current snapshot before it becomes `work/`.
const RECYCLING: &str = "recycling";
const DAYS: &str = "_days";
const STAGING: &str = "_staging";
/// The record of the run that is building `work/` (for the operator: what it was doing).
const RUN: &str = "RUN.json";
/// Published snapshots readable at every moment: the current one and two before it, for readers
/// still on them and as a view of the outputs before a restatement. One more, older, is kept
/// between runs as the spare the next run recycles into its `work/`.
const KEEP: usize = 3;
/// The day record's format: a record of another format is not trusted (its day is redone).
/// 4: window events, catalog, accounts and apps hashed as their bincode encoding (3 hashed
/// their debug text).
pub const RECORD_FORMAT: u32 = 4;

/// A file as a run wrote or saw it: size and time to notice a change cheaply, the hash to
/// tell whether it really changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSeen {
    pub path: String,
    pub size: u64,
    pub modified_ns: i128,
    pub blake3: String,
}

impl FileSeen {
    /// The same files with the same bytes, whatever their times (a data root copied or
    /// restored without them holds the inputs the days were billed from).
    pub fn same_bytes(a: &[FileSeen], b: &[FileSeen]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (&x.path, x.size, &x.blake3) == (&y.path, y.size, &y.blake3))
    }
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
    /// The first day written (by this run, or by the interrupted run it took up).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The day its bill changes are reported on (`restated_on`).
    #[serde(default)]
    pub head: Option<NaiveDate>,
}

/// The output root, locked for one run.
pub struct Store {
    pub out: PathBuf,
    /// Where the done days are read: `work/` once a run has started one, else the published
    /// snapshot.
    root: PathBuf,
    working: bool,
    /// Days the interrupted run taken up was writing when it stopped (left in its `_staging/`):
    /// their files may be half replaced under a record that still looks sound.
    interrupted: BTreeSet<NaiveDate>,
    /// The snapshot readers saw when the run began: what a bill a run changes was.
    published: Option<PathBuf>,
    /// What the interrupted run whose `work/` this run takes up was doing, if it said.
    taken_up: Option<RunRecord>,
    _lock: File,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))
}

/// Opens a state file: bincode (serde) after this line, zstd-compressed. Only records of this
/// format ([`RECORD_FORMAT`]) lead to a state, so states of earlier releases (bincode 1, JSON)
/// are never read: their days are redone.
const STATE_MAGIC: &[u8] = b"rtcbill state bincode 2\n";

/// The state as zstd-compressed bincode, streamed (no full copy in memory), fsynced. Binary,
/// not JSON: a nightly reads and writes the state of every account, and JSON's text made that
/// the largest cost that grows with history (a year of packages: 8.6 MB of JSON at 2,000
/// accounts, parsed in about 30 ms).
fn write_state(path: &Path, state: &[Account]) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut enc =
        zstd::Encoder::new(std::io::BufWriter::new(f), 3).map_err(|e| Error::io(path, e))?;
    // bincode writes a field at a time: buffered, the compressor is called once per 64 KiB.
    let mut buf = std::io::BufWriter::with_capacity(1 << 16, &mut enc);
    buf.write_all(STATE_MAGIC).map_err(|e| Error::io(path, e))?;
    bincode::serde::encode_into_std_write(state, &mut buf, bincode::config::standard())
        .map_err(|e| Error::Write { path: path.to_path_buf(), msg: e.to_string() })?;
    buf.flush().map_err(|e| Error::io(path, e))?;
    drop(buf);
    let w = enc.finish().map_err(|e| Error::io(path, e))?;
    let f = w.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// A state file's accounts, from its decompressed bytes.
fn parse_state(bytes: &[u8]) -> std::result::Result<Vec<Account>, String> {
    let body = bytes.strip_prefix(STATE_MAGIC).ok_or("not a state of this release")?;
    let (state, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| e.to_string())?;
    if read != body.len() {
        return Err(format!("{} bytes after the accounts", body.len() - read));
    }
    Ok(state)
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

/// The published snapshots by number: the numbered folders of `snapshots/` (a numbered link
/// or file is none: [`clear_numbered_strays`]).
fn snapshots(out: &Path) -> Result<BTreeMap<u64, PathBuf>> {
    Ok(numbered(out)?.into_iter().filter(|(_, (_, dir))| *dir).map(|(n, (p, _))| (n, p)).collect())
}

/// The numbered entries of `snapshots/`, each with whether it is a folder of its own (a link
/// is not, wherever it leads).
fn numbered(out: &Path) -> Result<BTreeMap<u64, (PathBuf, bool)>> {
    let dir = out.join(META).join(SNAPSHOTS);
    Ok(entries(&dir)?
        .into_iter()
        .filter_map(|(name, e)| Some((name.to_str()?.parse().ok()?, (dir.join(&name), e.dir))))
        .collect())
}

/// Removes, with a warning, a numbered entry of `snapshots/` that is not a folder of its own:
/// a run would write through a link into whatever it points at (another snapshot, readers'
/// outputs, a folder outside the root), and recycling a file as a tree fails.
fn clear_numbered_strays(out: &Path) -> Result<()> {
    for (p, _) in numbered(out)?.into_values().filter(|(_, dir)| !dir) {
        tracing::warn!(path = %p.display(), "not a snapshot folder (a link or a file): removed");
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// Removes, with a warning, what sits where a bookkeeping folder goes and is not one, even
/// through a link (a file, a link to nothing); a link to a folder is used as that folder.
fn clear_non_folder(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() && !path.is_dir() {
        tracing::warn!(path = %path.display(), "not a folder: removed");
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
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
    if !dir.is_dir() {
        if dir.exists() {
            tracing::warn!(path = %dir.display(), "not a folder: no day is recorded");
        }
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

/// Removes, with a warning, what sits at a bookkeeping path with the wrong kind (a folder
/// where a file or a link goes, or the other way round): nothing there may block a job.
fn clear_stray(path: &Path, dir: bool) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() != dir => {
            let want = if dir { "a folder" } else { "a file or link" };
            tracing::warn!(path = %path.display(), "not {want}: removed");
            remove_entry(path, m.is_dir())
        }
        _ => Ok(()),
    }
}

/// Removes, with a warning, what a partition folder holds besides its one file: readers of
/// the dataset would read it too (`verify` names it; a rerun of the day heals it).
fn clear_partition(dir: &Path) -> Result<()> {
    for (path, is_dir) in crate::partition::strays(dir)? {
        tracing::warn!(path = %path.display(), "not written by a run: removed");
        remove_entry(&path, is_dir)?;
    }
    Ok(())
}

/// Links each dataset's plain path through `current` again where it is missing or points
/// elsewhere (with a warning): readers of the plain paths see the published outputs.
fn repair_links(out: &Path) -> Result<()> {
    let mut repaired = false;
    for ds in rtcbill_schemas::OUTPUTS {
        let (link, want) = (out.join(ds.name), Path::new(CURRENT).join(ds.name));
        if std::fs::read_link(&link).is_ok_and(|t| t == want) {
            continue;
        }
        tracing::warn!(link = %link.display(), "dataset link missing or pointing elsewhere: linked through current again");
        clear_stray(&link, false)?;
        switch_link(&link, &want)?;
        repaired = true;
    }
    if repaired {
        sync_dir(out)?;
    }
    Ok(())
}

/// In a folder without `_rtcbill/`, what stands where a root keeps its links (`current`, the
/// datasets' paths) must be links: a folder or file there is someone else's, and opening the
/// folder as a root would remove it (`current`) or move it into a snapshot (a dataset's path,
/// as an earlier version's root). Anything else in the folder is never touched.
fn refuse_foreign(out: &Path) -> Result<()> {
    if std::fs::symlink_metadata(out.join(META)).is_ok() {
        return Ok(());
    }
    let names = [CURRENT].into_iter().chain(rtcbill_schemas::OUTPUTS.iter().map(|ds| ds.name));
    for name in names {
        let path = out.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_symlink() => {
                return Err(Error::Invalid(format!(
                    "{} is not an rtcbill output root (no {META}/), and {} is not one of its links: give a new or empty folder",
                    out.display(),
                    path.display()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

impl Store {
    /// Opens (creating) the output root and takes its lock; a second run gets `Error::Locked`.
    /// Finishes a publication a killed run left half done, and takes up its `work/`.
    pub fn open(out: &Path) -> Result<Store> {
        refuse_foreign(out)?;
        let meta = out.join(META);
        // (while `_rtcbill` is not a folder, no run holds its lock)
        clear_non_folder(&meta)?;
        std::fs::create_dir_all(&meta).map_err(|e| Error::io(&meta, e))?;
        let lock_path = meta.join("lock");
        clear_stray(&lock_path, false)?;
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
        clear_stray(&out.join(CURRENT), false)?;
        for tree in [WORK, RECYCLING] {
            clear_stray(&meta.join(tree), true)?;
        }
        clear_non_folder(&meta.join(SNAPSHOTS))?;
        clear_numbered_strays(out)?;
        // (an earlier version's root has neither; in this one's, a folder at a dataset's path
        // is a wrong-kind entry, replaced by its link below)
        if snapshots(out)?.is_empty() && std::fs::symlink_metadata(out.join(CURRENT)).is_err() {
            migrate_legacy(out)?;
        }
        // A run killed between naming its snapshot and switching `current` to it: the newest
        // snapshot, next after `current` (or the only one, `current` not made yet), with day
        // records. Any other folder is not a publication (a stray one would otherwise be shown
        // to readers). A `current` lost is not taken for this: it has a warning of its own.
        let snaps = snapshots(out)?;
        if let Some((n, dir)) = snaps.last_key_value() {
            let target = snapshot_name(*n);
            let linked = std::fs::read_link(out.join(CURRENT)).ok();
            let current_n =
                linked.as_deref().filter(|_| current_snapshot(out).is_some()).and_then(|l| {
                    l.parent().filter(|p| *p == Path::new(META).join(SNAPSHOTS))?;
                    l.file_name()?.to_str()?.parse::<u64>().ok()
                });
            let next = match current_n {
                Some(c) => c + 1 == *n,
                None => linked.is_none() && snaps.len() == 1,
            };
            let whole = recorded_days(dir).is_ok_and(|d| !d.is_empty());
            if linked.as_deref() != Some(target.as_path()) {
                if next && whole {
                    tracing::warn!(snapshot = %target.display(), "finishing the publication of a run that was interrupted (the snapshot right after current, with day records; to go back to an older snapshot, remove the newer ones first)");
                    publish_links(out, &target)?;
                } else if current_n.is_some() {
                    tracing::warn!(snapshot = %target.display(), "not a publication of this root (not the one after current, or without day records): left alone");
                }
            }
        }
        if current_snapshot(out).is_none() {
            // `current` lost (missing, or its snapshot gone) on a root with snapshots: the
            // newest one kept with day records is the latest the root still holds of what
            // readers saw. Starting afresh would bill every day again, every bill at revision 1.
            let newest =
                snaps.iter().rev().find(|(_, d)| recorded_days(d).is_ok_and(|d| !d.is_empty()));
            if let Some((n, _)) = newest {
                let target = snapshot_name(*n);
                tracing::warn!(snapshot = %target.display(), "current is missing or points at nothing: readers are switched to the newest snapshot kept with day records, and the days after it are billed again");
                publish_links(out, &target)?;
            }
        }
        if current_snapshot(out).is_some() {
            repair_links(out)?;
        }
        let work = meta.join(WORK);
        let working = work.is_dir();
        let mut interrupted = BTreeSet::new();
        let mut taken_up = None;
        if working {
            taken_up = std::fs::read(work.join(RUN))
                .ok()
                .and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok());
            tracing::warn!(run = ?taken_up, "taking up the work of an interrupted run: each of its days is checked before it is kept");
            // A day's folder stays in `_staging/` until every file of the day is in place: it
            // marks the day as not done until it is written again whole.
            interrupted = staged_days(&work)?;
        }
        let published = current_snapshot(out);
        let root = if working { work } else { published.clone().unwrap_or(work) };
        Ok(Store {
            out: out.to_path_buf(),
            root,
            working,
            interrupted,
            published,
            taken_up,
            _lock: lock,
        })
    }

    /// Whether this run has a `work/` snapshot (its own, or one an interrupted run left).
    pub fn working(&self) -> bool {
        self.working
    }

    /// Where the done days' partitions are read (the outputs as this run sees them).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What readers saw of day `day`: its record in the snapshot published when the run began
    /// (read once for the day's files, [`PublishedDay::file`]).
    pub fn published_day(&self, day: NaiveDate) -> PublishedDay<'_> {
        let record = self.published.as_deref().map(|p| read_record(p, day));
        PublishedDay { store: self, day, record }
    }

    /// The days recorded in the snapshot published when the run began.
    pub fn published_days(&self) -> Result<BTreeSet<NaiveDate>> {
        self.published.as_deref().map_or(Ok(BTreeSet::new()), recorded_days)
    }

    /// What the interrupted run this one takes up was doing (none for a fresh `work/`).
    pub fn taken_up(&self) -> Option<&RunRecord> {
        self.taken_up.as_ref()
    }

    /// Days with a record.
    pub fn done_days(&self) -> Result<BTreeSet<NaiveDate>> {
        recorded_days(&self.root)
    }

    /// What a reading job got from this snapshot, if it is still there (`confirmed`).
    pub fn confirm<T>(&self, read: Result<T>) -> Result<T> {
        confirmed(&self.root, read)
    }

    /// A day's record as found (damaged when the day was being written by the interrupted run
    /// taken up).
    pub fn record(&self, d: NaiveDate) -> Record {
        if self.interrupted.contains(&d) {
            let dir = self.root.join(STAGING).join(day_name(d));
            return Record::Damaged(format!(
                "{}: the run writing this day was interrupted",
                dir.display()
            ));
        }
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

    /// Starts (or goes on with) this run's `work/` snapshot, recording what the run does: a
    /// tree equal to the current snapshot (every file a hard link of its file), in which the
    /// run rewrites days `run.from..=run.to`.
    ///
    /// `prepared` is the tree [`Store::preparer`] made, if one was made: taken when it was
    /// made from the current snapshot for the days this run rewrites, else brought up to date
    /// again.
    pub fn begin(&mut self, run: &RunRecord, prepared: Option<Prepared>) -> Result<()> {
        let work = self.out.join(META).join(WORK);
        if !self.working {
            if work.exists() {
                std::fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
            }
            match current_snapshot(&self.out) {
                Some(cur) => {
                    let rewrite = (run.from, run.to);
                    let tree = match prepared {
                        Some(Prepared { cur: c, rewrite: r, tree: Ok(tree) })
                            if c == cur && r == rewrite =>
                        {
                            tree
                        }
                        _ => prepare_work(&self.out, &cur, rewrite)?,
                    };
                    std::fs::rename(&tree, &work).map_err(|e| Error::io(&work, e))?;
                }
                None => std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?,
            }
            self.working = true;
            self.root = work.clone();
        }
        let bytes = serde_json::to_vec_pretty(run)
            .map_err(|e| Error::Write { path: work.clone(), msg: e.to_string() })?;
        write_synced(&work.join(RUN), &bytes)?;
        sync_dir(&work)?;
        crash_point("begun");
        Ok(())
    }

    /// What makes this run's `work/` tree ahead of [`Store::begin`], for a run that will
    /// rewrite days `rewrite` (inclusive): an ordinary nightly brings the spare snapshot up to
    /// date while the done days are checked, since the tree depends only on the current
    /// snapshot and those days. None when there is nothing to make it from or into (no
    /// published snapshot, or an interrupted run's `work/` is taken up).
    pub fn preparer(&self, rewrite: (NaiveDate, NaiveDate)) -> Option<Preparer> {
        let cur = self.published.clone().filter(|_| !self.working)?;
        Some(Preparer { out: self.out.clone(), cur, rewrite })
    }

    /// Starts writing a day (module docs). The day's folder in `_staging/` stays until the
    /// day is committed whole: a run killed meanwhile leaves it, and the next run does not
    /// trust the day's record ([`Store::record`]).
    pub fn stage(&self, day: NaiveDate) -> Result<Staged<'_>> {
        assert!(self.working, "a day is staged inside a run's work/ (Store::begin)");
        let dir = self.root.join(STAGING).join(day_name(day));
        // emptied, not removed: the mark stays while the day's files may be mixed
        for (name, e) in entries(&dir)? {
            remove_entry(&dir.join(name), e.dir)?;
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
        // Old snapshots beyond the few kept for readers still on them and the spare (none
        // in the steady state: the run took the spare as its work/).
        for (_, old) in snapshots(&self.out)?.iter().rev().skip(KEEP + 1) {
            std::fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
        }
        Ok(())
    }

    /// Removes the bookkeeping this run made in a root that had none (and the root with the
    /// folders above it the run made, `made` the topmost), unless a snapshot was published
    /// from it (an earlier version's outputs, taken up when the store opened).
    pub fn forget(self, made: Option<&Path>) -> Result<()> {
        let out = self.out.clone();
        drop(self);
        if current_snapshot(&out).is_some() {
            return Ok(());
        }
        let meta = out.join(META);
        std::fs::remove_dir_all(&meta).map_err(|e| Error::io(&meta, e))?;
        // The root and the folders above it the run made, up to the first that was there.
        if let Some(top) = made {
            for dir in out.ancestors().take_while(|d| d.starts_with(top)) {
                std::fs::remove_dir(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        Ok(())
    }

    /// Drops this run's `work/`: the published outputs stay as they were before the run. The
    /// tree is kept aside, to be brought up to date by the next run rather than linked anew.
    pub fn discard(&mut self) -> Result<()> {
        let meta = self.out.join(META);
        let (work, aside) = (meta.join(WORK), meta.join(RECYCLING));
        if work.exists() {
            if aside.exists() {
                std::fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
            } else {
                std::fs::rename(&work, &aside).map_err(|e| Error::io(&aside, e))?;
            }
        }
        self.working = false;
        self.root = current_snapshot(&self.out).unwrap_or(work);
        (self.interrupted, self.taken_up) = (BTreeSet::new(), None);
        Ok(())
    }
}

/// [`Store::preparer`]'s work, to be run on a thread of its own.
pub struct Preparer {
    out: PathBuf,
    cur: PathBuf,
    rewrite: (NaiveDate, NaiveDate),
}

impl Preparer {
    /// The tree, in `_rtcbill/recycling/` ([`prepare_work`]). A run that ends before it
    /// begins (nothing to do, bad input) leaves it there, as a discarded run leaves its tree.
    pub fn prepare(self) -> Prepared {
        let tree = prepare_work(&self.out, &self.cur, self.rewrite);
        Prepared { cur: self.cur, rewrite: self.rewrite, tree }
    }
}

/// A tree [`Preparer::prepare`] made: for the days `rewrite`, from snapshot `cur`.
pub struct Prepared {
    cur: PathBuf,
    rewrite: (NaiveDate, NaiveDate),
    tree: Result<PathBuf>,
}

/// A day as the snapshot published when the run began shows it ([`Store::published_day`]).
pub struct PublishedDay<'a> {
    store: &'a Store,
    day: NaiveDate,
    record: Option<Record>,
}

impl PublishedDay<'_> {
    /// The day's file of `ds` as readers saw it (bills are revised against what readers saw,
    /// never against the unpublished work of an interrupted run, whose half-committed day or
    /// restatement of data since withdrawn no reader saw): the published snapshot's, or where
    /// that one is missing or differs from the day's record, an older kept snapshot's holding
    /// the recorded bytes (each is a link of the same file until a run replaced it). None when
    /// nothing was published, the day recorded no such file, or no snapshot kept holds it (a
    /// warning: a bill this run changes that day cannot show what it was).
    pub fn file(&self, ds: &Dataset) -> Option<PathBuf> {
        let published = self.store.published.as_ref()?;
        let Some(Record::Found(m)) = &self.record else {
            return crate::partition::file(published, ds, self.day);
        };
        let name =
            crate::partition::of(Path::new(""), ds, self.day).join(crate::partition::PART_FILE);
        let f = m.outputs.iter().find(|f| Path::new(&f.path) == name)?;
        let older = snapshots(&self.store.out).unwrap_or_default().into_values().rev();
        for root in std::iter::once(published.clone()).chain(older) {
            if check_file(&root, f).is_ok() {
                if &root != published {
                    tracing::warn!(file = %published.join(&f.path).display(), from = %root.display(), "published file missing or damaged: what readers saw read from an older snapshot");
                }
                return Some(root.join(&f.path));
            }
        }
        tracing::warn!(file = %published.join(&f.path).display(), "published file missing or damaged in every snapshot kept: bills this run changes that day are written without their earlier revision");
        None
    }
}

/// The days with a folder in a tree's `_staging/`: being written when the run stopped.
fn staged_days(tree: &Path) -> Result<BTreeSet<NaiveDate>> {
    Ok(entries(&tree.join(STAGING))?
        .keys()
        .filter_map(|n| n.to_str().and_then(|n| n.parse().ok()))
        .collect())
}

/// A folder's entry as its listing gives it: no `stat` needed.
#[derive(Debug, Clone, Copy)]
struct Entry {
    ino: u64,
    dir: bool,
}

/// A folder's entries by name (none when it is missing).
fn entries(dir: &Path) -> Result<BTreeMap<OsString, Entry>> {
    use std::os::unix::fs::DirEntryExt;
    let mut found = BTreeMap::new();
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        // (a file where the folder goes is mirrored as the file it is, then cleared)
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(found)
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in listing {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let dir = e.file_type().map_err(|x| Error::io(e.path(), x))?.is_dir();
        found.insert(e.file_name(), Entry { ino: e.ino(), dir });
    }
    Ok(found)
}

/// What a reading job got from snapshot `root`, if the snapshot is still there: a reader
/// slower than three publications sees it recycled under it (files gone, or rewritten for
/// other days), and what it read then is neither snapshot.
fn confirmed<T>(root: &Path, read: Result<T>) -> Result<T> {
    if std::fs::symlink_metadata(root).is_err() {
        return Err(Error::Recycled(root.to_path_buf()));
    }
    read
}

fn remove_entry(path: &Path, dir: bool) -> Result<()> {
    if dir { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) }
        .map_err(|e| Error::io(path, e))
}

/// Makes `to` what `from` is (`f` and `t` their entries, if any): the same file (left alone
/// when it already is: same inode), or a folder of the same entries.
fn mirror_entry(from: &Path, to: &Path, f: Option<Entry>, t: Option<Entry>) -> Result<()> {
    match (f, t) {
        (Some(a), Some(b)) if !a.dir && !b.dir && a.ino == b.ino && a.ino != 0 => return Ok(()),
        (Some(a), Some(b)) if a.dir && b.dir => return mirror(from, to),
        _ => {}
    }
    if let Some(b) = t {
        remove_entry(to, b.dir)?;
    }
    match f {
        Some(a) if a.dir => link_tree(from, to),
        Some(_) => std::fs::hard_link(from, to).map_err(|e| Error::io(to, e)),
        None => Ok(()),
    }
}

/// Makes folder `to` hold what folder `from` holds, as hard links.
fn mirror(from: &Path, to: &Path) -> Result<()> {
    let (f, t) = (entries(from)?, entries(to)?);
    for name in f.keys().chain(t.keys()).collect::<BTreeSet<_>>() {
        mirror_entry(&from.join(name), &to.join(name), f.get(name).copied(), t.get(name).copied())?;
    }
    Ok(())
}

/// The day a `_days/` entry belongs to, and whether it is the day's record.
fn days_entry(name: &OsStr) -> Option<(NaiveDate, bool)> {
    let name = name.to_str()?;
    if let Some(d) = name.strip_suffix(".json") {
        return Some((d.parse().ok()?, true));
    }
    Some((name.strip_suffix(".state.zst")?.parse().ok()?, false))
}

/// What [`refresh`] did.
#[derive(Debug, Default)]
struct Refreshed {
    /// Days left as they were: the same record and state in both trees.
    kept: usize,
    /// Days compared file by file, their files linked again where they differ.
    relinked: usize,
}

/// The tree that becomes this run's `work/`: the current snapshot `cur` as hard links, in
/// `_rtcbill/recycling/`. It is made from what is there already: a tree a killed or discarded
/// run left there, else the spare snapshot (renamed away first: a reader still on it loses
/// it as when it was removed), else nothing; [`refresh`] brings it up to date with `cur`.
/// Any doubt about it and it is linked from nothing.
fn prepare_work(out: &Path, cur: &Path, rewrite: (NaiveDate, NaiveDate)) -> Result<PathBuf> {
    let meta = out.join(META);
    let tree = meta.join(RECYCLING);
    let mut from = "what a killed or discarded run left".to_string();
    if !tree.exists() {
        let snaps = snapshots(out)?;
        match snaps.values().rev().skip(KEEP).find(|p| p.as_path() != cur) {
            Some(spare) => {
                from = spare.display().to_string();
                std::fs::rename(spare, &tree).map_err(|e| Error::io(&tree, e))?;
                sync_dir(&meta)?;
                crash_point("recycling");
            }
            None => {
                from = "nothing".into();
                std::fs::create_dir_all(&tree).map_err(|e| Error::io(&tree, e))?;
            }
        }
    }
    let started = std::time::Instant::now();
    let done = match refresh(&tree, cur, rewrite, true) {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(tree = %tree.display(), "not brought up to date ({e}): linking the whole snapshot instead");
            std::fs::remove_dir_all(&tree).map_err(|e| Error::io(&tree, e))?;
            std::fs::create_dir_all(&tree).map_err(|e| Error::io(&tree, e))?;
            refresh(&tree, cur, rewrite, false)?
        }
    };
    tracing::debug!(
        from = %from,
        kept = done.kept,
        relinked = done.relinked,
        secs = started.elapsed().as_secs_f64(),
        "work/ brought up to date with {}",
        cur.display()
    );
    Ok(tree)
}

/// Brings `tree` up to date with snapshot `cur`: afterwards it holds the same folders and the
/// same files (hard links, so the same inodes) as a copy of `cur` made with [`link_tree`].
///
/// With `trust`, a day whose record and state are the same inodes in both trees is left as it
/// is without looking into its partitions: every file of a day is committed with its record
/// (the record last, and a day's `_staging/` folder marks a commit cut short), so the same
/// record means the same outputs. The days a run rewrites (`rewrite`, inclusive) are always
/// linked file by file, as are days named in the tree's `_staging/`. Every other entry is
/// compared by inode. Records are linked last, after every other file: in a tree refreshed
/// only in part (a kill), a day whose record is already current's has all its files, and any
/// other day is linked again by the next run. An error is a doubt: the caller links the whole
/// snapshot instead.
fn refresh(
    tree: &Path,
    cur: &Path,
    rewrite: (NaiveDate, NaiveDate),
    trust: bool,
) -> Result<Refreshed> {
    let (cur_days, tree_days) = (cur.join(DAYS), tree.join(DAYS));
    let (c, t) = (entries(&cur_days)?, entries(&tree_days)?);
    let mut trusted = BTreeSet::new();
    if trust {
        // Inodes stand for files only when the file system gives each its own.
        let mut inos = std::collections::HashSet::new();
        if c.values().any(|e| e.dir || e.ino == 0 || !inos.insert(e.ino)) {
            return Err(Error::Invalid(format!(
                "{}: entries without inodes of their own",
                cur_days.display()
            )));
        }
        let same = |name: String| match (c.get(OsStr::new(&name)), t.get(OsStr::new(&name))) {
            (Some(a), Some(b)) => !b.dir && a.ino == b.ino,
            _ => false,
        };
        let staged = staged_days(tree)?;
        trusted = c
            .keys()
            .filter_map(|n| days_entry(n).filter(|(_, record)| *record).map(|(d, _)| d))
            .filter(|d| *d < rewrite.0 || *d > rewrite.1)
            .filter(|d| !staged.contains(d))
            .filter(|d| {
                same(format!("{}.json", day_name(*d)))
                    && same(format!("{}.state.zst", day_name(*d)))
            })
            .collect();
    }
    let recorded: BTreeSet<NaiveDate> =
        c.keys().filter_map(|n| days_entry(n).filter(|(_, r)| *r).map(|(d, _)| d)).collect();
    let mut relinked = BTreeSet::new();
    let (ce, te) = (entries(cur)?, entries(tree)?);
    let datasets: BTreeSet<&OsStr> =
        rtcbill_schemas::OUTPUTS.iter().map(|ds| OsStr::new(ds.name)).collect();
    for name in ce.keys().chain(te.keys()).collect::<BTreeSet<_>>() {
        let (f, to) = (ce.get(name).copied(), te.get(name).copied());
        if name == DAYS {
            continue;
        }
        let (from_dir, to_dir) = (cur.join(name), tree.join(name));
        match (f, to) {
            (Some(a), t) if a.dir && datasets.contains(name.as_os_str()) => {
                if !t.is_some_and(|b| b.dir) {
                    if let Some(b) = t {
                        remove_entry(&to_dir, b.dir)?;
                    }
                    std::fs::create_dir(&to_dir).map_err(|e| Error::io(&to_dir, e))?;
                }
                let (fp, tp) = (entries(&from_dir)?, entries(&to_dir)?);
                for part in fp.keys().chain(tp.keys()).collect::<BTreeSet<_>>() {
                    let (pf, pt) = (fp.get(part).copied(), tp.get(part).copied());
                    let day = crate::partition::day(part);
                    // What no run wrote (not the partition of a recorded day) is not carried
                    // into the next snapshot: readers of the dataset would read it too. (An
                    // earlier version's root, migrated, has no records yet.)
                    if !recorded.is_empty() && !day.is_some_and(|d| recorded.contains(&d)) {
                        if pf.is_some() {
                            tracing::warn!(path = %from_dir.join(part).display(), "not written by a run: left out of the next snapshot");
                        }
                        mirror_entry(&from_dir.join(part), &to_dir.join(part), None, pt)?;
                        continue;
                    }
                    let both_dirs = pf.is_some_and(|e| e.dir) && pt.is_some_and(|e| e.dir);
                    if both_dirs && day.is_some_and(|d| trusted.contains(&d)) {
                        continue;
                    }
                    relinked.extend(day);
                    mirror_entry(&from_dir.join(part), &to_dir.join(part), pf, pt)?;
                }
            }
            _ => mirror_entry(&from_dir, &to_dir, f, to)?,
        }
        crash_point("relinked");
    }
    // `_days/` last, each day's record after its state.
    match (ce.get(OsStr::new(DAYS)).copied(), te.get(OsStr::new(DAYS)).copied()) {
        (Some(a), Some(b)) if a.dir && b.dir => {
            let mut names: Vec<&OsString> = c
                .keys()
                .chain(t.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|n| days_entry(n).is_none_or(|(d, _)| !trusted.contains(&d)))
                .collect();
            names.sort_by_key(|n| days_entry(n).is_some_and(|(_, record)| record));
            for name in names {
                relinked.extend(days_entry(name).map(|(d, _)| d));
                mirror_entry(
                    &cur_days.join(name),
                    &tree_days.join(name),
                    c.get(name).copied(),
                    t.get(name).copied(),
                )?;
            }
        }
        (f, to) => mirror_entry(&cur_days, &tree_days, f, to)?,
    }
    crash_point("relinked");
    Ok(Refreshed { kept: trusted.len(), relinked: relinked.len() })
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
/// (else `None`, with a warning naming the file). Its bytes are always hashed: every later
/// day is computed from it, so a file whose size and time stayed the same while its bytes
/// changed (bit rot) must not be trusted on its metadata.
pub fn read_state(root: &Path, m: &Manifest) -> Option<Vec<Account>> {
    let path = root.join(&m.state.path);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(file = %path.display(), "state not used: {e}");
            return None;
        }
    };
    if blake3::hash(&bytes).to_hex().as_str() != m.state.blake3 {
        tracing::warn!(file = %path.display(), "state not used: it differs from what its day recorded");
        return None;
    }
    // Parsed from memory: a reader is read a few bytes at a time.
    let read = zstd::decode_all(bytes.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|bytes| parse_state(&bytes));
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
        Err(e) if e.kind() == ErrorKind::NotFound => return Record::Missing,
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

    /// What a reading job got from this snapshot, if it is still there (`confirmed`).
    pub fn confirm<T>(&self, read: Result<T>) -> Result<T> {
        confirmed(&self.root, read)
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

    /// Checks that `days` (ascending) follow one another, each with a readable record and
    /// every output file it names (a reader must not take a missing partition, or a missing
    /// day, for an empty one): bad input naming the file, with the hint to heal it.
    pub fn check_days(&self, days: impl IntoIterator<Item = NaiveDate>) -> Result<()> {
        let heal = "run `rtcbill nightly` to heal it";
        let mut prev: Option<NaiveDate> = None;
        for day in days {
            if let Some(p) = prev.filter(|p| p.succ_opt() != Some(day)) {
                return Err(Error::Invalid(format!(
                    "{}: no billed day between {p} and {day}: {heal}",
                    self.root.display()
                )));
            }
            prev = Some(day);
            let m = self.record(day)?;
            for f in &m.outputs {
                let path = self.root.join(&f.path);
                if std::fs::metadata(&path).ok().map(|md| md.len()) != Some(f.size) {
                    return Err(Error::Invalid(format!(
                        "{}: missing or not the file its day recorded: {heal}",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
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
                let clock = std::time::Instant::now();
                write_state(&state_src, state)?;
                tracing::debug!(secs = clock.elapsed().as_secs_f64(), "state written");
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
            // A file where a folder of the tree goes (damage in the snapshot the work was
            // linked from) would block every later job.
            let dirs: Vec<&Path> = parent.ancestors().take_while(|d| *d != root).collect();
            for dir in dirs.into_iter().rev() {
                clear_stray(dir, true)?;
            }
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            if dest.file_name() == Some(OsStr::new(PART_FILE)) {
                clear_partition(parent)?;
            }
            clear_stray(&dest, false)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Chain, Source};

    /// What a reader read is refused once its snapshot is recycled under it (`verify` panicked,
    /// `export focus` wrote a short month), and passed on while the snapshot is there.
    #[test]
    fn a_read_is_confirmed_only_while_its_snapshot_is_there() {
        let out = tempfile::tempdir().unwrap();
        let snap = out.path().join(snapshot_name(3));
        std::fs::create_dir_all(&snap).unwrap();
        std::os::unix::fs::symlink(snapshot_name(3), out.path().join(CURRENT)).unwrap();
        let published = Published::open(out.path()).unwrap();
        assert_eq!(published.confirm(Ok(7)).unwrap(), 7);
        let read: Result<()> = Err(Error::Invalid("no record of 2026-09-05".into()));
        assert!(published.confirm(read).unwrap_err().to_string().contains("no record"));
        std::fs::rename(&snap, out.path().join(META).join(RECYCLING)).unwrap();
        for read in [Ok(7), Err(Error::Invalid("no record of 2026-09-05".into()))] {
            let e = published.confirm(read).unwrap_err().to_string();
            assert!(e.contains("recycled by a later run while this job read it"), "{e}");
        }
    }

    /// A state file round-trips; bytes of another kind are refused.
    #[test]
    fn states_read_back() {
        let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sample-data"));
        let chain = Chain::load(data, Source::Raw(crate::meter::MeterEngine::Stream)).unwrap();
        let (mut state, mut day) = (chain.opening_state(), chain.epoch);
        // Mid-month, so monthly overage is held.
        while day <= crate::clock::add_days(chain.epoch, 44) {
            let usage = chain.meter(day).unwrap().usage;
            chain.advance(&mut state, day, &usage, |_| Ok(())).unwrap();
            day = crate::clock::add_days(day, 1);
        }
        // Every part of the state is exercised.
        assert!(state.iter().any(|a| a.packages.iter().any(|p| p.next_cycle() > 1)));
        assert!(state.iter().any(|a| !a.retired.ids.is_empty()));
        assert!(state.iter().any(|a| !a.retired.free_starts.is_empty()));
        assert!(state.iter().any(|a| !a.month_overage.is_empty()));
        assert!(state.iter().any(|a| !a.free_quota_raised.is_empty()));
        assert!(state.iter().any(|a| a.reclaim_at.is_some()));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.zst");
        write_state(&path, &state).unwrap();
        let bytes = zstd::decode_all(File::open(&path).unwrap()).unwrap();
        assert!(bytes.starts_with(STATE_MAGIC));
        assert_eq!(parse_state(&bytes).unwrap(), state);
        let json = serde_json::to_vec(&state).unwrap();
        assert_eq!(parse_state(&json).unwrap_err(), "not a state of this release");

        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(parse_state(&longer).unwrap_err(), "1 bytes after the accounts");
        assert!(parse_state(&bytes[..bytes.len() - 1]).is_err());

        // Bit rot, or any change that keeps size and time: here the file of another valid
        // state (an account without its packages), padded to the same size with a zstd
        // skippable frame. It decodes, but it is not the state the day left.
        let seen = file_seen(&path, "state.zst".into(), None).unwrap();
        let m = Manifest {
            format: 0,
            day: chain.epoch,
            code_version: String::new(),
            chain_hash: String::new(),
            window_hash: String::new(),
            usage_files: Vec::new(),
            start_state: None,
            state: seen.clone(),
            outputs: Vec::new(),
            slices_read: 0,
            slices_accepted: 0,
            slices_rejected: 0,
            slices_collapsed: 0,
            rows_out: Vec::new(),
        };
        assert_eq!(read_state(dir.path(), &m).as_ref(), Some(&state));
        let mut other = state.clone();
        other.iter_mut().max_by_key(|a| a.packages.len()).unwrap().packages.clear();
        let other_path = dir.path().join("other.zst");
        write_state(&other_path, &other).unwrap();
        let mut rotted = std::fs::read(&other_path).unwrap();
        let pad = seen.size as usize - rotted.len() - 8;
        rotted.extend(0x184D_2A50u32.to_le_bytes());
        rotted.extend((pad as u32).to_le_bytes());
        rotted.resize(seen.size as usize, 0);
        assert_eq!(parse_state(&zstd::decode_all(rotted.as_slice()).unwrap()).unwrap(), other);
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, &rotted).unwrap();
        File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
        assert_eq!(file_seen(&path, "state.zst".into(), Some(&seen)).unwrap(), seen);
        assert_eq!(read_state(dir.path(), &m), None);
    }
}
