//! rtcbill's library: the data contract's readers and writers around a pure billing core.
//!
//! - [`input`]: footer validation and loading of a data root (rules.md, Inputs)
//! - [`meter`]: metering of raw usage with polars (rules.md, Metering)
//! - [`engine`]: the pure per-account core (rules.md, Clock and Packages, §4, §5)
//! - [`output`]: Parquet writing and the atomic partition swap (rules.md, Outputs)
//! - [`run`]: the chain of days shared by the jobs (README, Jobs)
//! - [`report`]: the outputs drawn as one self-contained HTML page (README, Report)

pub mod catalog;
pub mod clock;
pub mod engine;
pub mod error;
pub mod focus;
pub mod generate;
pub mod input;
pub mod meter;
pub mod metered;
pub mod output;
pub mod report;
pub mod revision;
pub mod rows;
pub mod run;
pub mod store;

pub use error::{Error, Result};
