//! rtcbill's pipeline: everything around the pure core (`rtcbill-core`) that touches files.
//! The data flows one way: read -> meter -> core -> write.
//!
//! - [`input`] and [`catalog_file`]: footer checks and loading of a data root (rules.md, Inputs)
//! - [`meter`]: metering of raw usage: arrow-rs streaming, and polars as the reference
//!   (rules.md, Metering); [`metered`]: metering read from a folder (the Spark job's)
//! - [`run`]: the chain of days shared by the jobs (README, Jobs), over [`store`], the output
//!   root's snapshots and day records (README, State)
//! - [`output`]: Parquet writing; [`partition`]: the `key=YYYY-MM-DD` folders; [`revision`]: bill
//!   revisions (rules.md, Revisions)
//! - [`report`]: the outputs drawn as one self-contained HTML page (README, Report)
//! - [`simulate`]: what-if re-rating of published days under candidate catalogs
//! - [`verify`]: the audit of a range of outputs against their inputs and the ledger
//! - [`focus`]: the FOCUS export; [`generate`]: synthetic data roots; [`destination`]: where
//!   the jobs that read the outputs may write

pub mod catalog_file;
pub mod destination;
pub mod error;
pub mod focus;
pub mod generate;
pub mod input;
pub mod meter;
pub mod metered;
pub mod output;
pub mod partition;
pub mod report;
pub mod revision;
pub mod run;
pub mod simulate;
pub mod store;
pub mod verify;

// The core's modules, under the names the pipeline has always used for them.
pub use rtcbill_core::{catalog, clock, engine, rows, vocab};

pub use error::{Error, Result};

/// Set once by the binary: hands the memory freed so far back to the system (its allocator's
/// own call). The allocator keeps freed pages for a while for reuse; at 100M slices a day the
/// writing phase would grow on top of what metering freed (README, Performance).
pub static RELEASE_FREED: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

pub(crate) fn release_freed() {
    if let Some(f) = RELEASE_FREED.get() {
        f()
    }
}

/// The process's peak resident memory so far in MiB (Linux; `None` elsewhere), for the
/// debug log of each phase.
pub(crate) fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}
