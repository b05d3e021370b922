//! SPEC §2 metering: every slice gets the first reject reason that applies; the slices left
//! are deduplicated by `event_id` (identical copies collapse, differing copies are all rejected
//! `conflicting_duplicate`); the accepted ones are summed per (app, class) in integer seconds
//! and rounded up to minutes once, at the day total. Money never enters this stage.
//!
//! Two implementations give the same result: [`stream`] (the default: parallel row groups,
//! hashed event ids, bounded memory) and [`reference`] (polars lazy frames, the relational reference).

pub mod reference;
pub mod stream;

use chrono::NaiveDate;

use crate::catalog::Catalog;
use crate::clock::Ts;
use crate::error::Result;
use crate::input::{App, UsageFile};

/// Which implementation meters raw usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MeterEngine {
    #[default]
    Stream,
    Polars,
}

/// Meters billing day `day` from its partition's files.
pub fn meter_day(engine: MeterEngine, day: NaiveDate, files: &[UsageFile], apps: &[App], catalog: &Catalog) -> Result<Metered> {
    match engine {
        MeterEngine::Stream => stream::meter_day(day, files, apps, catalog),
        MeterEngine::Polars => reference::meter_day(day, files, apps, catalog),
    }
}

/// SPEC §2: a slice's seconds must be in 0..=86,400.
pub const MAX_SECONDS: i64 = 86_400;

/// One (app, class) of the day with accepted usage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsageDaily {
    pub account_id: i64,
    pub app_id: i64,
    /// Index into the catalog's usage classes.
    pub class: usize,
    pub slices: i64,
    pub seconds: i64,
    pub billable_minutes: i64,
    pub package_minutes: i64,
}

/// A rejected slice, every column as read, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RejectedSlice {
    pub reason: String,
    pub event_id: Option<String>,
    pub app_id: Option<i64>,
    pub start_time: Option<Ts>,
    pub seconds: Option<i64>,
    pub user_id: Option<String>,
    pub room_id: Option<String>,
    pub usage_class: Option<String>,
}

/// Counts for the accounting identity raw = accepted + rejected + collapsed (SPEC §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeterCounts {
    pub raw: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub collapsed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Metered {
    pub usage: Vec<UsageDaily>,
    pub rejected: Vec<RejectedSlice>,
    pub counts: MeterCounts,
}

