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
mod table;

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
/// slices (and keeps millions of duplicate candidates in this form while metering), so a row
/// is 56 bytes plus one allocation for its four text columns: nulls are bits, not `Option`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSlice {
    /// 0 where null (`nulls` tells).
    app_id: i64,
    start_time: Ts,
    seconds: i64,
    /// event_id, user_id, room_id and usage_class, one after the other.
    text: Box<str>,
    /// Where the first three end in `text` (the last ends with it).
    ends: [u32; 3],
    /// Bit k set: column k is null, counting event_id, user_id, room_id, usage_class,
    /// app_id, start_time, seconds.
    nulls: u8,
    pub reason: RejectReason,
}

/// In the order of `rejected_usage`'s sort key (schemas), nulls first, so the writer finds
/// the rows sorted and writes them as they are.
impl Ord for RejectedSlice {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.reason.as_str(), self.event_id(), self.app_id(), self.start_time(), self.seconds())
            .cmp(&(o.reason.as_str(), o.event_id(), o.app_id(), o.start_time(), o.seconds()))
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

/// Sorts rows as [`Ord`] does, fast at millions of rows: each row's text lives in an
/// allocation of its own, so comparing two rows reads two places at random (at 100M slices,
/// 5M rejects took a tenth of the run's CPU). A key beside each row holds its reason and 16
/// bytes of its event id past the prefix every id shares (ids named by day share a long one);
/// only rows whose keys tie read their text. Then the rows are gathered in that order into a
/// new list (the 56-byte rows are copied for a moment, not their text).
pub fn sort_rows(mut rows: Vec<RejectedSlice>) -> Vec<RejectedSlice> {
    use rayon::slice::ParallelSliceMut;
    let ids = || rows.iter().filter_map(|r| r.event_id());
    let shared = ids().next().map_or(0, |first| {
        ids().fold(first.len(), |n, id| {
            first.as_bytes()[..n].iter().zip(id.as_bytes()).take_while(|(a, b)| a == b).count()
        })
    });
    // (a reason's rank in its own order, which is its text's: a byte to compare, not a str)
    let mut ranked = RejectReason::ALL.to_vec();
    ranked.sort();
    let rank = |r: RejectReason| ranked.iter().position(|&x| x == r).expect("listed") as u8;
    // (past `shared`, ids compare as their next 16 bytes, zeros after the end, and on a tie
    // in full; a null id sorts first)
    let mut keys: Vec<(u64, u64, u32, u8)> = (rows.iter().enumerate())
        .map(|(i, r)| {
            let mut b = [0u8; 16];
            if let Some(id) = r.event_id() {
                let rest = &id.as_bytes()[shared..];
                b[..rest.len().min(16)].copy_from_slice(&rest[..rest.len().min(16)]);
            }
            let [hi, lo] = [&b[..8], &b[8..]].map(|x| u64::from_be_bytes(x.try_into().unwrap()));
            (hi, lo, i as u32, rank(r.reason) << 1 | r.event_id().is_some() as u8)
        })
        .collect();
    // Keys first, without reading a row; then each run of tied keys (copies of one id, mostly:
    // millions at 100M slices) by the rows' own order. Read inside the sort, each tie cost a
    // comparison or more of two rows' text at random places.
    let key = |k: &(u64, u64, u32, u8)| (k.3, k.0, k.1);
    keys.par_sort_unstable_by_key(key);
    let mut runs = Vec::new();
    let mut at = 0;
    for run in keys.chunk_by(|a, b| key(a) == key(b)) {
        if run.len() > 1 {
            runs.push(at..at + run.len());
        }
        at += run.len();
    }
    // (in two halves, one a core)
    let half = runs.get(runs.len() / 2).map_or(keys.len(), |r| r.start);
    let (front, back) = keys.split_at_mut(half);
    let (rf, rb) = runs.split_at(runs.len() / 2);
    rayon::join(|| sort_runs(&rows, front, rf, 0), || sort_runs(&rows, back, rb, half));
    // The rows gathered in that order, each fetched a few rows ahead (and left empty: no text).
    let empty =
        RejectedSlice::new(RejectReason::MissingEventId, Default::default(), None, None, None);
    let mut sorted = Vec::with_capacity(rows.len());
    for (k, at) in keys.iter().enumerate() {
        if let Some(next) = keys.get(k + table::AHEAD) {
            table::prefetch(&rows[next.2 as usize]);
        }
        sorted.push(std::mem::replace(&mut rows[at.2 as usize], empty.clone()));
    }
    sorted
}

/// Sorts each of `runs` (ranges of `keys` offset by `at`) by the rows' own order. The first
/// rows of a run, then their text (whose address is in the row), are fetched a few runs ahead.
fn sort_runs(
    rows: &[RejectedSlice],
    keys: &mut [(u64, u64, u32, u8)],
    runs: &[std::ops::Range<usize>],
    at: usize,
) {
    let of = |r: &std::ops::Range<usize>| r.start - at..r.end - at;
    for (j, run) in runs.iter().enumerate() {
        if let Some(r) = runs.get(j + table::AHEAD) {
            for k in keys[of(r)].iter().take(4) {
                table::prefetch(&rows[k.2 as usize]);
            }
        }
        if let Some(r) = runs.get(j + table::AHEAD / 2) {
            for k in keys[of(r)].iter().take(4) {
                table::prefetch(rows[k.2 as usize].text.as_ptr());
            }
        }
        keys[of(run)].sort_unstable_by(|a, b| rows[a.2 as usize].cmp(&rows[b.2 as usize]));
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
        let texts = [t.event_id, t.user_id, t.room_id, t.usage_class];
        let mut text = String::with_capacity(texts.iter().flatten().map(|v| v.len()).sum());
        let mut ends = [0; 3];
        let mut nulls = 0;
        for (k, v) in texts.into_iter().enumerate() {
            match v {
                Some(v) => text.push_str(v),
                None => nulls |= 1 << k,
            }
            if k < 3 {
                ends[k] = text.len() as u32;
            }
        }
        for (k, v) in [app_id, start_time, seconds].iter().enumerate() {
            nulls |= (v.is_none() as u8) << (4 + k);
        }
        RejectedSlice {
            app_id: app_id.unwrap_or(0),
            start_time: start_time.unwrap_or(0),
            seconds: seconds.unwrap_or(0),
            text: text.into_boxed_str(),
            ends,
            nulls,
            reason,
        }
    }

    fn null(&self, k: usize) -> bool {
        self.nulls & (1 << k) != 0
    }
    fn field(&self, k: usize) -> Option<&str> {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        let end = if k == 3 { self.text.len() } else { self.ends[k] as usize };
        (!self.null(k)).then(|| &self.text[start..end])
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
    pub fn app_id(&self) -> Option<i64> {
        (!self.null(4)).then_some(self.app_id)
    }
    pub fn start_time(&self) -> Option<Ts> {
        (!self.null(5)).then_some(self.start_time)
    }
    pub fn seconds(&self) -> Option<i64> {
        (!self.null(6)).then_some(self.seconds)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Nulls and empty strings stay apart, every column reads back as given, and a row keeps
    /// its 56 bytes (millions are held at 100M slices a day: README, Performance).
    #[test]
    fn a_rejected_slice_reads_back_every_column_as_given() {
        assert_eq!(std::mem::size_of::<RejectedSlice>(), 56);
        let text = RejectedText {
            event_id: Some("e1"),
            user_id: None,
            room_id: Some(""),
            usage_class: Some("video_hd"),
        };
        let r = RejectedSlice::new(RejectReason::InvalidSeconds, text, None, Some(-5), Some(0));
        assert_eq!(
            (r.event_id(), r.user_id(), r.room_id(), r.usage_class()),
            (Some("e1"), None, Some(""), Some("video_hd"))
        );
        assert_eq!((r.app_id(), r.start_time(), r.seconds()), (None, Some(-5), Some(0)));
        let none = RejectedSlice::new(
            RejectReason::MissingEventId,
            Default::default(),
            Some(0),
            None,
            None,
        );
        assert_eq!(
            (none.event_id(), none.usage_class(), none.app_id(), none.start_time(), none.seconds()),
            (None, None, Some(0), None, None)
        );
        // A null app sorts before app 0 (nulls first), whatever the zero stored under it.
        let zero =
            RejectedSlice::new(RejectReason::InvalidSeconds, text, Some(0), Some(-5), Some(0));
        assert!(r < zero && r != zero);
    }

    proptest::proptest! {
        /// `sort_rows` gives `Ord`'s order, whatever the ids share: null and empty ids, ids
        /// that are prefixes of others, end inside the 16 key bytes or go past them, equal
        /// keys, every reason.
        #[test]
        fn sort_rows_sorts_as_ord_does(
            shared in "(20260901-)?",
            rows in proptest::collection::vec(
                (0..7usize, proptest::option::of("[ab]{0,20}"), proptest::option::of(0..3i64), 0..3i64),
                0..200,
            ),
        ) {
            let rows: Vec<RejectedSlice> = (rows.iter())
                .map(|(reason, id, app, secs)| {
                    let id = id.as_ref().map(|id| format!("{shared}{id}"));
                    let text = RejectedText { event_id: id.as_deref(), user_id: Some("u"), ..Default::default() };
                    RejectedSlice::new(RejectReason::ALL[*reason], text, *app, Some(*secs), Some(*secs))
                })
                .collect();
            let mut want = rows.clone();
            want.sort();
            let rows = sort_rows(rows);
            proptest::prop_assert_eq!(rows, want);
        }
    }
}
