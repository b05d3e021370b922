//! rules.md, Metering with polars lazy frames: the reference path. It says what metering means
//! in a few relational steps (classify, distinct, group), and the streaming path
//! ([`super::stream`]) is tested against it. It loads the whole day, so it is for small days.

use arrow::datatypes::TimeUnit as ArrowTimeUnit;
use chrono::NaiveDate;
use polars::prelude::*;
use rtcbill_schemas::c;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::input::{App, UsageFile};

use super::{
    MeterCounts, Metered, RejectReason, RejectedSlice, RejectedText, UsageDaily, MAX_SECONDS,
};

const ACCOUNT: &str = "__account_id";
const CLASS: &str = "__class";
const REASON: &str = "__reason";
const N: &str = "__n";

fn perr(day: NaiveDate) -> impl Fn(PolarsError) -> Error {
    move |source| Error::Polars { day: day.to_string(), source }
}

/// Meters billing day `day` from its partition's files.
pub fn meter_day(
    day: NaiveDate,
    files: &[UsageFile],
    apps: &[App],
    catalog: &Catalog,
) -> Result<Metered> {
    if files.is_empty() {
        return Ok(Metered::default());
    }
    let e = perr(day);

    // One scan per file, each cast to the canonical types (files may differ in int width,
    // string kind and timestamp unit: rules.md, Inputs), then concatenated.
    let mut frames = Vec::with_capacity(files.len());
    for f in files {
        let path = PlRefPath::new(f.path.to_string_lossy().as_ref());
        // start_time as UTC microseconds, from the physical value in the file's unit.
        let t = col(c::START_TIME).cast(DataType::Int64);
        let start_us = match f.time_unit {
            ArrowTimeUnit::Second => t * lit(1_000_000i64),
            ArrowTimeUnit::Millisecond => t * lit(1_000i64),
            ArrowTimeUnit::Microsecond => t,
            // floor division (Rust's `/` truncates toward zero)
            ArrowTimeUnit::Nanosecond => when(t.clone().gt_eq(lit(0i64)))
                .then(t.clone() / lit(1_000i64))
                .otherwise((t - lit(999i64)) / lit(1_000i64)),
        };
        // The day comes from the folder, checked per slice; polars must not add its own
        // `usage_date` column from the Hive path.
        let args =
            ScanArgsParquet { hive_options: HiveOptions::new_disabled(), ..Default::default() };
        let lf = LazyFrame::scan_parquet(path, args).map_err(&e)?;
        frames.push(lf.select([
            col(c::EVENT_ID).cast(DataType::String),
            col(c::APP_ID).cast(DataType::Int64),
            col(c::USER_ID).cast(DataType::String),
            col(c::ROOM_ID).cast(DataType::String),
            col(c::USAGE_CLASS).cast(DataType::String),
            start_us.alias(c::START_TIME),
            col(c::SECONDS).cast(DataType::Int64),
        ]));
    }
    let raw = concat(frames, UnionArgs::default()).map_err(&e)?;

    let apps_df = DataFrame::new(
        apps.len(),
        vec![
            Column::new(c::APP_ID.into(), apps.iter().map(|a| a.id).collect::<Vec<_>>()),
            Column::new(ACCOUNT.into(), apps.iter().map(|a| a.account_id).collect::<Vec<_>>()),
        ],
    )
    .map_err(&e)?;
    let classes_df = DataFrame::new(
        catalog.classes.len(),
        vec![
            Column::new(
                c::USAGE_CLASS.into(),
                catalog.classes.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            ),
            Column::new(CLASS.into(), (0..catalog.classes.len() as u32).collect::<Vec<_>>()),
        ],
    )
    .map_err(&e)?;

    let (lo, hi) =
        (catalog.zone.start_of(day), catalog.zone.start_of(crate::clock::add_days(day, 1)));
    let s = || col(c::SECONDS);
    let reason = when(col(c::EVENT_ID).is_null().or(col(c::EVENT_ID).eq(lit(""))))
        .then(lit(RejectReason::MissingEventId.as_str()))
        .when(col(c::START_TIME).is_null())
        .then(lit(RejectReason::MissingStartTime.as_str()))
        .when(col(c::START_TIME).lt(lit(lo)).or(col(c::START_TIME).gt_eq(lit(hi))))
        .then(lit(RejectReason::WrongPartition.as_str()))
        .when(col(ACCOUNT).is_null())
        .then(lit(RejectReason::UnknownApp.as_str()))
        .when(col(CLASS).is_null())
        .then(lit(RejectReason::UnknownUsageClass.as_str()))
        .when(s().is_null().or(s().lt(lit(0i64))).or(s().gt(lit(MAX_SECONDS))))
        .then(lit(RejectReason::InvalidSeconds.as_str()))
        .otherwise(lit(NULL).cast(DataType::String));

    let left = JoinArgs::new(JoinType::Left);
    let classified = raw
        .join(apps_df.lazy(), [col(c::APP_ID)], [col(c::APP_ID)], left.clone())
        .join(classes_df.lazy(), [col(c::USAGE_CLASS)], [col(c::USAGE_CLASS)], left)
        .with_column(reason.alias(REASON))
        .collect()
        .map_err(&e)?;
    let raw_n = classified.height() as u64;

    let first_rejects =
        classified.clone().lazy().filter(col(REASON).is_not_null()).collect().map_err(&e)?;
    let valid = classified.lazy().filter(col(REASON).is_null());
    let distinct = valid.clone().unique(None, UniqueKeepStrategy::Any);
    let conflicts = distinct
        .clone()
        .group_by([col(c::EVENT_ID)])
        .agg([len().alias(N)])
        .filter(col(N).gt(lit(1u32)))
        .select([col(c::EVENT_ID)]);
    let conflicting = valid
        .semi_join(conflicts.clone(), col(c::EVENT_ID), col(c::EVENT_ID))
        .with_column(lit(RejectReason::ConflictingDuplicate.as_str()).alias(REASON))
        .collect()
        .map_err(&e)?;
    let accepted = distinct.anti_join(conflicts, col(c::EVENT_ID), col(c::EVENT_ID));
    let agg = accepted
        .group_by([col(ACCOUNT), col(c::APP_ID), col(CLASS)])
        .agg([len().cast(DataType::Int64).alias(N), col(c::SECONDS).sum().alias(c::SECONDS)])
        .collect()
        .map_err(&e)?;

    let mut usage = Vec::with_capacity(agg.height());
    {
        let acc = agg.column(ACCOUNT).and_then(|c| c.i64()).map_err(&e)?;
        let app = agg.column(c::APP_ID).and_then(|c| c.i64()).map_err(&e)?;
        let cls = agg.column(CLASS).and_then(|c| c.u32()).map_err(&e)?;
        let n = agg.column(N).and_then(|c| c.i64()).map_err(&e)?;
        let secs = agg.column(c::SECONDS).and_then(|c| c.i64()).map_err(&e)?;
        for i in 0..agg.height() {
            let class = cls.get(i).expect("joined") as usize;
            let seconds = secs.get(i).unwrap_or(0);
            usage.push(UsageDaily::from_total(
                acc.get(i).expect("joined"),
                app.get(i).expect("not null"),
                class,
                catalog.classes[class].ratio,
                n.get(i).unwrap_or(0),
                seconds,
            ));
        }
    }
    usage.sort();

    let mut rejected = Vec::new();
    for df in [&first_rejects, &conflicting] {
        rejected.extend(rejected_rows(df).map_err(&e)?);
    }
    rejected.sort();
    let accepted_n: u64 = usage.iter().map(|u| u.slices as u64).sum();
    let rejected_n = rejected.len() as u64;
    let counts = MeterCounts {
        raw: raw_n,
        accepted: accepted_n,
        rejected: rejected_n,
        collapsed: raw_n - accepted_n - rejected_n,
    };
    Ok(Metered { usage, rejected, counts })
}

fn rejected_rows(df: &DataFrame) -> PolarsResult<Vec<RejectedSlice>> {
    let ev = df.column(c::EVENT_ID)?.str()?;
    let app = df.column(c::APP_ID)?.i64()?;
    let user = df.column(c::USER_ID)?.str()?;
    let room = df.column(c::ROOM_ID)?.str()?;
    let class = df.column(c::USAGE_CLASS)?.str()?;
    let start = df.column(c::START_TIME)?.i64()?;
    let secs = df.column(c::SECONDS)?.i64()?;
    let reason = df.column(REASON)?.str()?;
    Ok((0..df.height())
        .map(|i| {
            let why = reason
                .get(i)
                .and_then(RejectReason::parse)
                .expect("the reference query names rules.md, Reject reasons");
            let text = RejectedText {
                event_id: ev.get(i),
                user_id: user.get(i),
                room_id: room.get(i),
                usage_class: class.get(i),
            };
            RejectedSlice::new(why, text, app.get(i), start.get(i), secs.get(i))
        })
        .collect())
}
