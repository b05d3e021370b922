//! `--metered DIR`: metering done elsewhere (the Spark job in `jobs/spark/`), read instead of
//! scanning raw usage. `DIR` holds `usage_daily/`, `rejected_usage/` (rules.md, Outputs layout and
//! types) and `meter_counts/`, each partitioned by `billing_date=D`; a day is present when its
//! `meter_counts` partition is. Everything is validated like any input: every footer before the run
//! starts, then each day's values against the catalog, the apps and the counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rtcbill_schemas::{self as schemas, c, Dataset, PARTITION_KEY};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::input::{check_footer, parquet_files, App, Table};
use crate::meter::{MeterCounts, Metered, RejectReason, RejectedSlice, RejectedText, UsageDaily};
use crate::partition;

/// The datasets a metered directory holds.
pub const DATASETS: [&Dataset; 3] =
    [&schemas::METER_COUNTS, &schemas::USAGE_DAILY, &schemas::REJECTED_USAGE];

/// The days of a metered directory, every file's footer checked.
pub fn days(dir: &Path) -> Result<BTreeSet<NaiveDate>> {
    let root = dir.join(schemas::METER_COUNTS.name);
    if !root.is_dir() {
        return Err(Error::Input {
            file: root,
            msg: "no meter_counts/ folder: not a metered directory".into(),
        });
    }
    let days: BTreeSet<NaiveDate> = partition::list(&root, PARTITION_KEY)?.into_keys().collect();
    for &day in &days {
        for f in files(dir, day)? {
            check_footer(&f.1, f.0)?;
        }
    }
    Ok(days)
}

/// Every file of a metered day, with its dataset.
pub fn files(dir: &Path, day: NaiveDate) -> Result<Vec<(&'static Dataset, PathBuf)>> {
    let mut out = Vec::new();
    for ds in DATASETS {
        for f in parquet_files(&partition::of(dir, ds, day))? {
            out.push((ds, f));
        }
    }
    Ok(out)
}

fn bad(file: &Path, column: &str, row: usize, msg: String) -> Error {
    Error::Row { file: file.to_path_buf(), column: column.into(), row, msg }
}

/// Reads and checks one metered day.
pub fn load(dir: &Path, day: NaiveDate, apps: &[App], cat: &Catalog) -> Result<Metered> {
    let accounts: BTreeMap<i64, i64> = apps.iter().map(|a| (a.id, a.account_id)).collect();
    let mut counts = Vec::new();
    let mut usage = Vec::new();
    let mut rejected = Vec::new();
    for (ds, f) in files(dir, day)? {
        let t = Table::load(&f, ds)?;
        match ds.name {
            "meter_counts" => {
                let (r, a, j, k) = (
                    t.i64("slices_read")?,
                    t.i64("accepted")?,
                    t.i64("rejected")?,
                    t.i64("collapsed")?,
                );
                for i in 0..t.rows() {
                    counts.push((f.clone(), [r[i], a[i], j[i], k[i]]));
                }
            }
            "usage_daily" => {
                let (acc, app, class) =
                    (t.i64(c::ACCOUNT_ID)?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?);
                let (slices, secs) = (t.i64("slices")?, t.i64(c::SECONDS)?);
                let (billable, pkg) = (t.i64("billable_minutes")?, t.i64("package_minutes")?);
                for i in 0..t.rows() {
                    if accounts.get(&app[i]) != Some(&acc[i]) {
                        return Err(bad(
                            &f,
                            c::APP_ID,
                            i,
                            format!("app {} is not an app of account {}", app[i], acc[i]),
                        ));
                    }
                    let k = cat.class_index(&class[i]).ok_or_else(|| {
                        bad(&f, c::USAGE_CLASS, i, format!("{:?} is not a catalog class", class[i]))
                    })?;
                    let u = UsageDaily::from_total(
                        acc[i],
                        app[i],
                        k,
                        cat.classes[k].ratio,
                        slices[i],
                        secs[i],
                    );
                    // rules.md, Metering: the minutes must be those of the seconds.
                    if slices[i] < 1
                        || secs[i] < 0
                        || billable[i] != u.billable_minutes
                        || pkg[i] != u.package_minutes
                    {
                        return Err(bad(
                            &f,
                            "billable_minutes",
                            i,
                            "slices, seconds and minutes do not agree (rules.md, Metering)".into(),
                        ));
                    }
                    usage.push(u);
                }
            }
            _ => {
                let (ev, app, user, room, class) = (
                    t.opt_str(c::EVENT_ID)?,
                    t.opt_i64(c::APP_ID)?,
                    t.opt_str(c::USER_ID)?,
                    t.opt_str(c::ROOM_ID)?,
                    t.opt_str(c::USAGE_CLASS)?,
                );
                let (start, secs, reason) =
                    (t.opt_ts(c::START_TIME)?, t.opt_i64(c::SECONDS)?, t.str(c::REASON)?);
                for i in 0..t.rows() {
                    let Some(why) = RejectReason::parse(&reason[i]) else {
                        return Err(bad(
                            &f,
                            c::REASON,
                            i,
                            format!("{:?} is not a reject reason", reason[i]),
                        ));
                    };
                    let text = RejectedText {
                        event_id: ev[i].as_deref(),
                        user_id: user[i].as_deref(),
                        room_id: room[i].as_deref(),
                        usage_class: class[i].as_deref(),
                    };
                    rejected.push(RejectedSlice::new(why, text, app[i], start[i], secs[i]));
                }
            }
        }
    }
    let part = partition::of(dir, &schemas::METER_COUNTS, day);
    let [(_, [raw, accepted, rej, collapsed])] = counts.as_slice() else {
        return Err(Error::Input {
            file: part,
            msg: format!("{} rows of counts; one is needed", counts.len()),
        });
    };
    usage.sort();
    if usage.windows(2).any(|w| (w[0].app_id, w[0].class) == (w[1].app_id, w[1].class)) {
        return Err(Error::Input {
            file: part,
            msg: "usage_daily has two rows for one app and class".into(),
        });
    }
    rejected.sort();
    let sum: i64 = usage.iter().map(|u| u.slices).sum();
    if sum != *accepted
        || rejected.len() as i64 != *rej
        || raw != &(accepted + rej + collapsed)
        || *collapsed < 0
    {
        return Err(Error::Input {
            file: part,
            msg: format!(
                "counts do not add up: read {raw}, accepted {accepted} (usage_daily: {sum}), rejected {rej} (rejected_usage: {}), collapsed {collapsed}",
                rejected.len()
            ),
        });
    }
    let counts = MeterCounts {
        raw: *raw as u64,
        accepted: *accepted as u64,
        rejected: *rej as u64,
        collapsed: *collapsed as u64,
    };
    Ok(Metered { usage, rejected, counts })
}
