//! Where a job that reads the outputs may write: not inside their datasets or bookkeeping
//! (simulate: not inside the outputs or the data root at all). A file in a dataset folder is
//! read by the dataset's readers, `verify` names it, and the next run leaves it out of its
//! snapshot: the page or export would vanish.

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

/// `dest` lies outside each of `roots` (root, what it is), links resolved.
pub fn outside(dest: &Path, roots: &[(&Path, &str)]) -> Result<()> {
    let to = resolved(dest);
    for (root, what) in roots {
        let root = resolved(root);
        if to.starts_with(&root) {
            return Err(Error::Invalid(format!(
                "--out {} is inside {what} ({})",
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
