//! The library's error type: every input problem names the file, the column and, where
//! known, the row.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {msg}")]
    Input { file: PathBuf, msg: String },
    #[error("{file}: column {column}: {msg}")]
    Column { file: PathBuf, column: String, msg: String },
    #[error("{file}: column {column}, row {row}: {msg}")]
    Row { file: PathBuf, column: String, row: usize, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("metering {day}: {source}")]
    Polars { day: String, source: polars::error::PolarsError },
    #[error("another run holds the lock on {0}; nothing was changed")]
    Locked(PathBuf),
    /// A reading job's snapshot was recycled by later runs while it read it.
    #[error(
        "{0}: recycled by a later run while this job read it (a snapshot stays readable for the \
         next three publications): run the job again"
    )]
    Recycled(PathBuf),
    #[error("writing {path}: {msg}")]
    Write { path: PathBuf, msg: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    /// Whether the error is the input's fault (sysexits EX_DATAERR) rather than the machine's.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Input { .. } | Error::Column { .. } | Error::Row { .. } | Error::Invalid(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;
