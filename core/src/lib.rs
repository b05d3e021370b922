//! rtcbill's pure core: per account, `(state, the window's events, the day's metered usage) ->
//! (state', rows)`. No I/O, no clock, no Arrow or polars: the compiler keeps it so (this crate
//! depends on chrono, rust_decimal and serde only). The pipeline reads the inputs into
//! [`records`], runs [`engine::run_day`] for every account, and writes the [`rows`].
//!
//! - [`clock`]: the billing zone, billing days and windows (rules.md, Clock)
//! - [`catalog`]: prices, versions and top-ups in force on a day (rules.md, Inputs)
//! - [`records`]: what the engine reads
//! - [`engine`]: packages, deduction, upgrades, renewals, bills, arrears (rules.md, Packages to
//!   Arrears and suspension)
//! - [`rows`]: what the engine produces, one type per output dataset

pub mod catalog;
pub mod clock;
pub mod engine;
pub mod records;
pub mod rows;
pub mod vocab;
