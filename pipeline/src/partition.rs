//! Hive partition folders, `<key>=YYYY-MM-DD`: the one place their paths are made, parsed and
//! listed (usage inputs under `usage_date=`, outputs and metered folders under
//! `billing_date=`, README, Layout of a data root).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rtcbill_schemas::{Dataset, PARTITION_KEY};

use crate::error::{Error, Result};

/// The file name of the one file in each output partition.
pub const PART_FILE: &str = "part-0.parquet";

/// `parent/<key>=D`.
pub fn dir(parent: &Path, key: &str, day: NaiveDate) -> PathBuf {
    parent.join(format!("{key}={}", day.format("%Y-%m-%d")))
}

/// `root/<dataset>/billing_date=D/`: a partition of an output or metered dataset.
pub fn of(root: &Path, ds: &Dataset, day: NaiveDate) -> PathBuf {
    dir(&root.join(ds.name), PARTITION_KEY, day)
}

/// The file of a partition of `ds` for `day`, if a run wrote it.
pub fn file(root: &Path, ds: &Dataset, day: NaiveDate) -> Option<PathBuf> {
    let f = of(root, ds, day).join(PART_FILE);
    f.exists().then_some(f)
}

/// The day of an output partition folder's name (`billing_date=D`).
pub fn day(name: &std::ffi::OsStr) -> Option<NaiveDate> {
    name.to_str()?.strip_prefix(PARTITION_KEY)?.strip_prefix('=')?.parse().ok()
}

/// What an output partition folder holds besides its one file (a reader of the dataset
/// reads it too), each with whether it is a folder.
pub fn strays(dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        if e.file_name() != PART_FILE {
            let is_dir = e.file_type().map_err(|x| Error::io(e.path(), x))?.is_dir();
            out.push((e.path(), is_dir));
        }
    }
    Ok(out)
}

/// The partition folders `parent/<key>=D` by day. Names starting with `.` or `_` are skipped;
/// any other entry that is not such a folder is an input error. A missing `parent` has none.
pub fn list(parent: &Path, key: &str) -> Result<BTreeMap<NaiveDate, PathBuf>> {
    let mut out = BTreeMap::new();
    let listing = match std::fs::read_dir(parent) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        listing => listing.map_err(|e| Error::io(parent, e))?,
    };
    let prefix = format!("{key}=");
    for e in listing {
        let e = e.map_err(|e| Error::io(parent, e))?;
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let day = name
            .strip_prefix(&prefix)
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .filter(|_| crate::input::listed_type(&e).is_some_and(|t| t.is_dir()))
            .ok_or_else(|| Error::Input {
                file: p.clone(),
                msg: format!("not a partition folder {prefix}YYYY-MM-DD"),
            })?;
        out.insert(day, p);
    }
    Ok(out)
}
