//! rules.md, Metering: every slice gets the first reject reason that applies; the slices left
//! are deduplicated by `event_id` (identical copies collapse, differing copies are all rejected
//! `conflicting_duplicate`); the accepted ones are summed per (app, class) in integer seconds
//! and rounded up to minutes once, at the day total. Money never enters this stage.
//!
//! Two implementations give the same result: [`stream`] (the default: parallel row groups,
//! hashed event ids, bounded memory) and [`reference`] (polars lazy frames, the relational
//! reference).

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
pub fn meter_day(
    engine: MeterEngine,
    day: NaiveDate,
    files: &[UsageFile],
    apps: &[App],
    catalog: &Catalog,
) -> Result<Metered> {
    match engine {
        MeterEngine::Stream => stream::meter_day(day, files, apps, catalog),
        MeterEngine::Polars => reference::meter_day(day, files, apps, catalog),
    }
}

/// rules.md, Metering: a slice's seconds must be in 0..=86,400.
pub const MAX_SECONDS: i64 = 86_400;

pub use rtcbill_core::records::UsageDaily;

/// rules.md, Reject reasons, in the order they apply (`RejectReason::ALL`).
pub use rtcbill_core::vocab::RejectReason;

/// A rejected slice, every column as read, with its reason. A day can reject millions of
/// slices, so the four text columns share one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSlice {
    pub reason: RejectReason,
    pub app_id: Option<i64>,
    pub start_time: Option<Ts>,
    pub seconds: Option<i64>,
    /// event_id, user_id, room_id and usage_class, one after the other.
    text: Box<str>,
    /// Where each of the four ends in `text`; `u32::MAX` for a null.
    ends: [u32; 4],
}

/// In the order of `rejected_usage`'s sort key (schemas), nulls first, so the writer finds
/// the rows sorted and writes them as they are.
impl Ord for RejectedSlice {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.reason.as_str(), self.event_id(), self.app_id, self.start_time, self.seconds)
            .cmp(&(o.reason.as_str(), o.event_id(), o.app_id, o.start_time, o.seconds))
            .then_with(|| {
                (self.user_id(), self.room_id(), self.usage_class()).cmp(&(
                    o.user_id(),
                    o.room_id(),
                    o.usage_class(),
                ))
            })
    }
}

impl PartialOrd for RejectedSlice {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// The text columns of a rejected slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectedText<'a> {
    pub event_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub room_id: Option<&'a str>,
    pub usage_class: Option<&'a str>,
}

impl RejectedSlice {
    pub fn new(
        reason: RejectReason,
        t: RejectedText,
        app_id: Option<i64>,
        start_time: Option<Ts>,
        seconds: Option<i64>,
    ) -> Self {
        let mut text = String::new();
        let mut ends = [u32::MAX; 4];
        for (k, v) in [t.event_id, t.user_id, t.room_id, t.usage_class].into_iter().enumerate() {
            if let Some(v) = v {
                text.push_str(v);
                ends[k] = text.len() as u32;
            }
        }
        RejectedSlice { reason, app_id, start_time, seconds, text: text.into_boxed_str(), ends }
    }

    fn field(&self, k: usize) -> Option<&str> {
        let end = self.ends[k];
        (end != u32::MAX).then(|| {
            let start = self.ends[..k].iter().rev().find(|e| **e != u32::MAX).copied().unwrap_or(0);
            &self.text[start as usize..end as usize]
        })
    }
    pub fn event_id(&self) -> Option<&str> {
        self.field(0)
    }
    pub fn user_id(&self) -> Option<&str> {
        self.field(1)
    }
    pub fn room_id(&self) -> Option<&str> {
        self.field(2)
    }
    pub fn usage_class(&self) -> Option<&str> {
        self.field(3)
    }
}

/// Counts for the accounting identity raw = accepted + rejected + collapsed (rules.md, Metering).
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
