//! The output root as a store of days (SPEC §7, §8): the dataset partitions, and beside them,
//! under `_rtcbill/`, each done day's state and manifest, the lock and the staging area.
//!
//! A day is committed in three steps: every file is written and fsynced under
//! `_rtcbill/staging/D/`; a `COMMIT` marker is written and fsynced; then each file is renamed
//! over its final place (an atomic replace) and the staging folder removed. A run that dies
//! before the marker leaves the old day; one that dies after it is rolled forward by the next
//! run ([`Store::recover`]). Readers see each partition either old or new, never half.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use rtcbill_schemas::Dataset;
use serde::{Deserialize, Serialize};

use crate::engine::Account;
use crate::error::{Error, Result};
use crate::output::{partition_dir, PartWriter, PART_FILE};

pub const META: &str = "_rtcbill";
const COMMIT: &str = "COMMIT";

/// A usage file as a run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSeen {
    pub path: String,
    pub size: u64,
    pub modified_ns: i128,
    pub blake3: String,
}

/// What produced a day's outputs: for the auditor, and for `nightly` to find changed inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub day: NaiveDate,
    pub code_version: String,
    /// Hash of the catalog, accounts and apps: what every day depends on.
    pub chain_hash: String,
    /// Hash of the balance and package events in the day's window.
    pub window_hash: String,
    pub usage_files: Vec<FileSeen>,
    pub slices_read: u64,
    pub slices_accepted: u64,
    pub slices_rejected: u64,
    pub slices_collapsed: u64,
    /// Rows written per dataset.
    pub rows_out: Vec<(String, usize)>,
}

/// The output root.
pub struct Store {
    pub out: PathBuf,
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
    let mut enc = zstd::Encoder::new(std::io::BufWriter::new(f), 3).map_err(|e| Error::io(path, e))?;
    serde_json::to_writer(&mut enc, state).map_err(|e| Error::Write { path: path.to_path_buf(), msg: e.to_string() })?;
    let w = enc.finish().map_err(|e| Error::io(path, e))?;
    let f = w.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

fn day_name(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl Store {
    /// Opens (creating) the output root and takes its lock; a second run gets `Error::Locked`.
    pub fn open(out: &Path) -> Result<Store> {
        let meta = out.join(META);
        std::fs::create_dir_all(&meta).map_err(|e| Error::io(&meta, e))?;
        let lock_path = meta.join("lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(out.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let store = Store { out: out.to_path_buf(), _lock: lock };
        store.recover()?;
        Ok(store)
    }

    fn meta(&self, sub: &str) -> PathBuf {
        self.out.join(META).join(sub)
    }

    fn state_path(&self, d: NaiveDate) -> PathBuf {
        self.meta("state").join(format!("{}.json.zst", day_name(d)))
    }

    fn manifest_path(&self, d: NaiveDate) -> PathBuf {
        self.meta("manifests").join(format!("{}.json", day_name(d)))
    }

    /// Rolls committed staging folders forward and drops uncommitted ones.
    pub fn recover(&self) -> Result<()> {
        let staging = self.meta("staging");
        if !staging.exists() {
            return Ok(());
        }
        let mut days: Vec<PathBuf> = std::fs::read_dir(&staging)
            .map_err(|e| Error::io(&staging, e))?
            .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(&staging, e)))
            .collect::<Result<_>>()?;
        days.sort();
        for dir in days {
            if dir.join(COMMIT).exists() {
                let day = dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok());
                let Some(day) = day else { continue };
                tracing::warn!(day = %day, "finishing a day an interrupted run had committed");
                self.apply(day, &dir)?;
            } else {
                tracing::warn!(dir = %dir.display(), "dropping a day an interrupted run had not committed");
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
        }
        Ok(())
    }

    /// Days with a manifest: the days done.
    pub fn done_days(&self) -> Result<BTreeSet<NaiveDate>> {
        let dir = self.meta("manifests");
        let mut out = BTreeSet::new();
        if !dir.exists() {
            return Ok(out);
        }
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let p = e.map_err(|e| Error::io(&dir, e))?.path();
            if let Some(d) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse().ok()) {
                out.insert(d);
            }
        }
        Ok(out)
    }

    pub fn manifest(&self, d: NaiveDate) -> Result<Option<Manifest>> {
        let p = self.manifest_path(d);
        if !p.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Input { file: p, msg: format!("unreadable manifest: {e}") })
    }

    /// The state a done day left, if kept.
    pub fn state(&self, d: NaiveDate) -> Result<Option<Vec<Account>>> {
        let p = self.state_path(d);
        if !p.exists() {
            return Ok(None);
        }
        let f = File::open(&p).map_err(|e| Error::io(&p, e))?;
        let r = zstd::Decoder::new(f).map_err(|e| Error::io(&p, e))?;
        serde_json::from_reader(std::io::BufReader::new(r))
            .map(Some)
            .map_err(|e| Error::Input { file: p, msg: format!("unreadable state: {e}") })
    }

    /// Starts writing a day under the staging area (module docs).
    pub fn stage(&self, day: NaiveDate) -> Result<Staged<'_>> {
        let dir = self.meta("staging").join(day_name(day));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staged { store: self, day, dir, writers: BTreeMap::new() })
    }

    /// Moves a committed staging folder's files into place (idempotent), then removes it.
    fn apply(&self, day: NaiveDate, dir: &Path) -> Result<()> {
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let sub = e.map_err(|e| Error::io(dir, e))?.path();
            if !sub.is_dir() {
                continue;
            }
            let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let Some(ds) = rtcbill_schemas::by_name(&name) else { continue };
            let src = sub.join(PART_FILE);
            if src.exists() {
                let dest_dir = partition_dir(&self.out, ds, day);
                std::fs::create_dir_all(&dest_dir).map_err(|e| Error::io(&dest_dir, e))?;
                let dest = dest_dir.join(PART_FILE);
                std::fs::rename(&src, &dest).map_err(|e| Error::io(&dest, e))?;
                sync_dir(&dest_dir)?;
                crash_point("renamed");
            }
        }
        for (file, dest) in [("state.json.zst", self.state_path(day)), ("manifest.json", self.manifest_path(day))] {
            let src = dir.join(file);
            if src.exists() {
                let parent = dest.parent().expect("has a parent");
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                std::fs::rename(&src, &dest).map_err(|e| Error::io(&dest, e))?;
                sync_dir(parent)?;
            }
        }
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
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
        if !self.writers.contains_key(ds.name) {
            let sub = self.dir.join(ds.name);
            std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
            self.writers.insert(ds.name, PartWriter::create(&sub.join(PART_FILE), ds)?);
        }
        self.writers.get_mut(ds.name).expect("inserted").write(batch)
    }

    /// Rows written so far, per dataset.
    pub fn rows_out(&self) -> Vec<(String, usize)> {
        self.writers.iter().map(|(n, w)| (n.to_string(), w.rows)).collect()
    }

    /// Closes every file (an empty one for a dataset with no rows), writes the state and the
    /// manifest, marks the day committed and moves it into place.
    pub fn commit(mut self, state: &[Account], manifest: &Manifest) -> Result<()> {
        for ds in rtcbill_schemas::OUTPUTS {
            if !self.writers.contains_key(ds.name) {
                self.write(ds, &RecordBatch::new_empty(ds.schema()))?;
            }
        }
        for (name, w) in std::mem::take(&mut self.writers) {
            w.finish()?;
            sync_dir(&self.dir.join(name))?;
        }
        let dir = &self.dir;
        write_state(&dir.join("state.json.zst"), state)?;
        let m = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Write { path: dir.clone(), msg: e.to_string() })?;
        write_synced(&dir.join("manifest.json"), &m)?;
        sync_dir(dir)?;
        crash_point("staged");
        write_synced(&dir.join(COMMIT), b"")?;
        sync_dir(dir)?;
        crash_point("committed");
        self.store.apply(self.day, dir)
    }
}

/// Fault injection for the crash tests: `RTCBILL_CRASH_AT=<point>` aborts the process (as a
/// SIGKILL would end it) the first time the commit reaches that point.
fn crash_point(point: &str) {
    if std::env::var("RTCBILL_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

/// Reads a usage file's size, modification time and content hash; `name` is how the manifest
/// records it.
pub fn file_seen(path: &Path, name: String, previous: Option<&FileSeen>) -> Result<FileSeen> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let modified_ns = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    // Same size and time as last seen: the content hash is taken as unchanged.
    if let Some(prev) = previous.filter(|f| f.path == name && f.size == md.len() && f.modified_ns == modified_ns) {
        return Ok(prev.clone());
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(File::open(path).map_err(|e| Error::io(path, e))?).map_err(|e| Error::io(path, e))?;
    Ok(FileSeen { path: name, size: md.len(), modified_ns, blake3: h.finalize().to_hex().to_string() })
}
