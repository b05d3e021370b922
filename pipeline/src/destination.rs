//! Where a job that reads the outputs may write: not inside their datasets or bookkeeping,
//! nor inside the data root (simulate: not inside the outputs at all either). A file in a dataset folder is
//! read by the dataset's readers, `verify` names it, and the next run leaves it out of its
//! snapshot: the page or export would vanish. And how they write there: whole or not at all.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `dest` lies outside the datasets and the bookkeeping of output root `out` (beside them, at
/// the root's top level, is fine).
pub fn outside_outputs(dest: &Path, out: &Path) -> Result<()> {
    // (a dataset's path leads into the bookkeeping, where its snapshots are: named first)
    let mut inner: Vec<(PathBuf, &str)> = (rtcbill_schemas::OUTPUTS.iter())
        .map(|ds| (out.join(ds.name), "an output dataset"))
        .collect();
    inner.push((out.join(crate::store::META), "the outputs' bookkeeping"));
    let roots: Vec<(&Path, &str)> = inner.iter().map(|(p, w)| (p.as_path(), *w)).collect();
    outside(dest, &roots)
}

/// Where `report` and `export` may write: outside the datasets and bookkeeping of `out`, and
/// outside the data root `data` (a file there is read as input on the next run, or replaces
/// one: the catalog).
pub fn for_reader(dest: &Path, out: &Path, data: &Path) -> Result<()> {
    outside_outputs(dest, out)?;
    outside(dest, &[(data, "the data root")])
}

/// Writes `dest` whole or not at all: `write` fills a hidden temporary file beside it
/// (`.<name>.tmp`), renamed over `dest`, and removed when anything fails (a full disk keeps
/// no half file, nor the space it took).
pub fn write_whole(dest: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dest.with_file_name(format!(".{name}.tmp"));
    let done =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e)));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// `dest` lies outside each of `roots` (root, what it is), links resolved.
pub fn outside(dest: &Path, roots: &[(&Path, &str)]) -> Result<()> {
    let to = resolved(dest);
    for (root, what) in roots {
        let root = resolved(root);
        if to.starts_with(&root) {
            return Err(Error::Invalid(format!(
                "{} is inside {what} ({}): not written there",
                dest.display(),
                root.display()
            )));
        }
    }
    Ok(())
}

/// `p` made absolute with its links resolved, as far as it exists (the rest appended).
pub fn resolved(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut tail: Vec<std::ffi::OsString> = Vec::new();
    let mut head = abs.as_path();
    loop {
        if let Ok(real) = head.canonicalize() {
            return tail.iter().rev().fold(real, |mut acc: PathBuf, part| {
                match part.to_str() {
                    Some("..") => _ = acc.pop(),
                    Some(".") => {}
                    _ => acc.push(part),
                }
                acc
            });
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return abs,
        }
    }
}
