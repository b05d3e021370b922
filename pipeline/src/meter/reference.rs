//! rules.md, Metering with polars lazy frames: the reference path. It says what metering means
//! in a few relational steps (classify, distinct, group), and the streaming path
//! ([`super::stream`]) is tested against it. It loads the whole day, so it is for small days.

use chrono::NaiveDate;
use polars::prelude::*;
use rtcbill_schemas::{self as schemas, c};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::input::{App, Table, UsageFile};

use super::{
    MeterCounts, Metered, RejectReason, RejectedSlice, RejectedText, UsageDaily, MAX_SECONDS,
};

const ACCOUNT: &str = "__account_id";
const CLASS: &str = "__class";
const REASON: &str = "__reason";
const N: &str = "__n";
/// A `start_time` beyond the range of microseconds (it reads as null beside this flag).
const BEYOND: &str = "__beyond";

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

    let raw = slices(files, &e)?;
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
    let t = || col(c::START_TIME);
    let reason = when(col(c::EVENT_ID).is_null().or(col(c::EVENT_ID).eq(lit(""))))
        .then(lit(RejectReason::MissingEventId.as_str()))
        .when(t().is_null().and(col(BEYOND).not()))
        .then(lit(RejectReason::MissingStartTime.as_str()))
        .when(col(BEYOND).or(t().lt(lit(lo))).or(t().gt_eq(lit(hi))))
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

/// The day's slices as read, in canonical types (int64, UTC microseconds, UTF-8). Reading is
/// arrow-rs's, as for every input (any integer width, string kind and time unit, and a damaged
/// page is an error naming the file); what the reference states is the metering after it.
fn slices(files: &[UsageFile], e: &impl Fn(PolarsError) -> Error) -> Result<LazyFrame> {
    let (mut ids, mut apps, mut users, mut rooms, mut classes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut times, mut beyond, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
    for f in files {
        let t = Table::load(&f.path, &schemas::USAGE)?;
        ids.extend(t.opt_str(c::EVENT_ID)?);
        apps.extend(t.opt_i64(c::APP_ID)?);
        users.extend(t.opt_str(c::USER_ID)?);
        rooms.extend(t.opt_str(c::ROOM_ID)?);
        classes.extend(t.opt_str(c::USAGE_CLASS)?);
        let start = t.instants(c::START_TIME)?;
        beyond.extend((0..start.values.len()).map(|i| start.is_beyond(i)));
        times.extend(start.values);
        seconds.extend(t.opt_i64(c::SECONDS)?);
    }
    let columns = vec![
        Column::new(c::EVENT_ID.into(), ids),
        Column::new(c::APP_ID.into(), apps),
        Column::new(c::USER_ID.into(), users),
        Column::new(c::ROOM_ID.into(), rooms),
        Column::new(c::USAGE_CLASS.into(), classes),
        Column::new(c::START_TIME.into(), times),
        Column::new(c::SECONDS.into(), seconds),
        Column::new(BEYOND.into(), beyond),
    ];
    let n = columns[0].len();
    Ok(DataFrame::new(n, columns).map_err(e)?.lazy())
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
