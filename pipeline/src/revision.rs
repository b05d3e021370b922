//! rules.md, Revisions: a rerun that changes an issued bill gives it `revision + 1`, and the
//! superseded version stays visible in `bill_revisions` (what it was, what replaced it, the
//! change). A bill is "changed" when its amount or its lines differ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::NaiveDate;
use rtcbill_schemas::{self as schemas, c};
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::Ts;
use crate::error::Result;
use crate::input::Table;
use crate::rows::{BillRow, DayRows, RevisionRow};

/// A bill as an earlier run wrote it.
#[derive(Debug, Clone)]
struct OldBill {
    account_id: i64,
    revision: i64,
    issued_at: Ts,
    amount: Decimal,
    balance_before: Decimal,
    balance_after: Decimal,
}

/// A bill line by (app, class name, price) → minutes.
type Lines = BTreeMap<(i64, String, Decimal), i64>;

/// What the day's partitions held before this run.
#[derive(Debug)]
pub struct Previous {
    bills: BTreeMap<String, OldBill>,
    lines: BTreeMap<String, Lines>,
    /// False when the bills were read but their lines could not be.
    lines_known: bool,
    revisions: Vec<RevisionRow>,
}

impl Default for Previous {
    fn default() -> Previous {
        Previous {
            bills: BTreeMap::new(),
            lines: BTreeMap::new(),
            lines_known: true,
            revisions: Vec::new(),
        }
    }
}

impl Previous {
    /// Reads the `bills`, `bill_lines` and `bill_revisions` partitions of `day` where `file`
    /// finds them. A partition that is missing or unreadable (a damaged day being healed) is
    /// taken as empty, with a warning; without its lines, a bill is compared by its amount alone.
    pub fn load(
        file: impl Fn(&'static schemas::Dataset) -> Option<PathBuf>,
        day: NaiveDate,
    ) -> Result<Previous> {
        let mut p = Previous::default();
        let [bills, lines, revisions] =
            [&schemas::BILLS, &schemas::BILL_LINES, &schemas::BILL_REVISIONS]
                .map(|ds| (ds, file(ds)));
        fn read<'a>(
            (ds, f): &'a (&'static schemas::Dataset, Option<PathBuf>),
            day: NaiveDate,
        ) -> Option<Table<'a>> {
            let f = f.as_ref()?;
            Table::load(f, ds)
                .map_err(|e| {
                    tracing::warn!("earlier {} of {day} not read, taken as none: {e}", ds.name)
                })
                .ok()
        }
        if let Some(t) = read(&bills, day) {
            p.load_bills(&t)?;
        }
        match read(&lines, day) {
            Some(t) => p.load_lines(&t)?,
            None if !p.bills.is_empty() => p.lines_known = false,
            None => {}
        }
        if let Some(t) = read(&revisions, day) {
            p.load_revisions(&t)?;
        }
        Ok(p)
    }

    fn load_bills(&mut self, t: &Table) -> Result<()> {
        let (ids, acc, rev, at) =
            (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.i64("revision")?, t.ts("issued_at")?);
        let (amt, bb, ba) =
            (t.money(c::AMOUNT)?, t.money("balance_before")?, t.money("balance_after")?);
        for i in 0..t.rows() {
            self.bills.insert(
                ids[i].clone(),
                OldBill {
                    account_id: acc[i],
                    revision: rev[i],
                    issued_at: at[i],
                    amount: amt[i],
                    balance_before: bb[i],
                    balance_after: ba[i],
                },
            );
        }
        Ok(())
    }

    fn load_lines(&mut self, t: &Table) -> Result<()> {
        let (ids, app, class) = (t.str("bill_id")?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?);
        let (price, minutes) = (
            t.required("unit_price_per_1000", t.opt_decimal("unit_price_per_1000")?)?,
            t.i64("minutes")?,
        );
        for i in 0..t.rows() {
            self.lines
                .entry(ids[i].clone())
                .or_default()
                .insert((app[i], class[i].clone(), price[i].normalize()), minutes[i]);
        }
        Ok(())
    }

    fn load_revisions(&mut self, t: &Table) -> Result<()> {
        let (ids, acc, rev, at) =
            (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.i64("revision")?, t.ts("issued_at")?);
        let (amt, bb, ba) =
            (t.money(c::AMOUNT)?, t.money("balance_before")?, t.money("balance_after")?);
        let (by, new, change) =
            (t.opt_i64("replaced_by_revision")?, t.opt_money("new_amount")?, t.money("change")?);
        let restated = t.date("restated_on")?;
        for i in 0..t.rows() {
            self.revisions.push(RevisionRow {
                account_id: acc[i],
                bill_id: ids[i].clone(),
                revision: rev[i],
                issued_at: at[i],
                amount: amt[i],
                balance_before: bb[i],
                balance_after: ba[i],
                replaced_by_revision: by[i],
                new_amount: new[i],
                change: change[i],
                restated_on: restated[i],
            });
        }
        Ok(())
    }

    /// The row withdrawing the bill's latest revision `last`, when that is where the bill
    /// stands (not when the partition's bills were lost: their revision was never withdrawn).
    fn withdrawal(&self, bill_id: &str, last: i64) -> Option<&RevisionRow> {
        self.revisions.iter().find(|r| {
            r.bill_id == bill_id && r.revision == last && r.replaced_by_revision.is_none()
        })
    }

    /// The highest revision number the bill has had.
    fn last_revision(&self, bill_id: &str) -> i64 {
        let old = self.bills.get(bill_id).map(|b| b.revision).unwrap_or(0);
        self.revisions
            .iter()
            .filter(|r| r.bill_id == bill_id)
            .map(|r| r.revision.max(r.replaced_by_revision.unwrap_or(0)))
            .fold(old, i64::max)
    }
}

/// Sets each bill's revision against what the partition held; returns a `bill_revisions` row
/// for each bill of `rows` this run changed. `restated_on` is the last day of the run making
/// the change (the chain's head), whose month reports it (`rtcbill export focus`).
pub fn revise(
    rows: &mut DayRows,
    prev: &Previous,
    cat: &Catalog,
    restated_on: NaiveDate,
) -> Vec<RevisionRow> {
    let mut new_lines: BTreeMap<&str, Lines> = BTreeMap::new();
    for l in &rows.bill_lines {
        new_lines.entry(l.bill_id.as_str()).or_default().insert(
            (l.app_id, cat.classes[l.class].name.clone(), l.unit_price_per_1000.normalize()),
            l.minutes,
        );
    }
    let mut changed = Vec::new();
    let empty = Lines::new();
    for b in rows.bills.iter_mut() {
        let lines = new_lines.get(b.bill_id.as_str()).unwrap_or(&empty);
        match prev.bills.get(&b.bill_id) {
            Some(old)
                if old.amount == b.amount
                    && (!prev.lines_known
                        || prev.lines.get(&b.bill_id).unwrap_or(&empty) == lines) =>
            {
                b.revision = old.revision;
            }
            Some(old) => {
                b.revision = prev.last_revision(&b.bill_id) + 1;
                changed.push(superseded(
                    &b.bill_id,
                    old,
                    Some((b.revision, b.amount)),
                    restated_on,
                ));
            }
            None => {
                let last = prev.last_revision(&b.bill_id);
                b.revision = last + 1;
                if let Some(w) = prev.withdrawal(&b.bill_id, last) {
                    changed.push(reissued(w, b, restated_on));
                }
            }
        }
    }
    changed
}

/// The row of a withdrawn revision issued again: while withdrawn, nothing was billed (amount
/// 0.00, the balance the new bill starts from), so each bill's first amount plus its changes
/// is what it bills now, and an export's corrections add up (rules.md, Revisions).
fn reissued(withdrawn: &RevisionRow, b: &BillRow, restated_on: NaiveDate) -> RevisionRow {
    RevisionRow {
        account_id: b.account_id,
        bill_id: b.bill_id.clone(),
        revision: withdrawn.revision,
        issued_at: withdrawn.issued_at,
        amount: Decimal::ZERO,
        balance_before: b.balance_before,
        balance_after: b.balance_before,
        replaced_by_revision: Some(b.revision),
        new_amount: Some(b.amount),
        change: b.amount,
        restated_on,
    }
}

/// The day's `bill_revisions`: the earlier rows, the `changed` ones, and one for each bill the
/// partition held that this run (which issued `issued`) no longer issues.
pub fn finish(
    prev: &Previous,
    changed: Vec<RevisionRow>,
    issued: &BTreeSet<String>,
    restated_on: NaiveDate,
) -> Vec<RevisionRow> {
    let mut all = prev.revisions.clone();
    all.extend(changed);
    for (id, old) in prev.withdrawn(issued) {
        all.push(superseded(id, old, None, restated_on));
    }
    all.sort();
    all
}

impl Previous {
    /// The bills the partition held that a run issuing `issued` no longer issues.
    fn withdrawn<'a>(
        &'a self,
        issued: &'a BTreeSet<String>,
    ) -> impl Iterator<Item = (&'a String, &'a OldBill)> {
        self.bills.iter().filter(|(id, _)| !issued.contains(*id))
    }

    /// How many bills [`finish`] records as withdrawn (for the job's summary).
    pub fn withdrawn_count(&self, issued: &BTreeSet<String>) -> usize {
        self.withdrawn(issued).count()
    }
}

fn superseded(
    id: &str,
    old: &OldBill,
    by: Option<(i64, Decimal)>,
    restated_on: NaiveDate,
) -> RevisionRow {
    RevisionRow {
        account_id: old.account_id,
        bill_id: id.to_string(),
        revision: old.revision,
        issued_at: old.issued_at,
        amount: old.amount,
        balance_before: old.balance_before,
        balance_after: old.balance_after,
        replaced_by_revision: by.map(|b| b.0),
        new_amount: by.map(|b| b.1),
        change: by.map(|b| b.1).unwrap_or(Decimal::ZERO) - old.amount,
        restated_on,
    }
}
