//! `rtcbill report`: the nightly outcome as one self-contained HTML page, for people who read
//! it rather than query it (README, Report).
//!
//! Made from the output datasets of the published snapshot only (rules.md, Outputs), never
//! from raw usage: a published snapshot never changes, so it is read whole without the lock.
//! From the data root it reads only the catalog (the class order) and the accounts' opening
//! times (an order at or before its account's `opening_time` was not charged: rules.md, Clock).
//!
//! - this module: reading each done day's partitions into one small [`Day`] of figures;
//! - [`charts`]: the charts, drawn with plotters' SVG backend into strings;
//! - [`html`]: the page.

pub mod charts;
pub mod html;
pub mod whatif;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rtcbill_schemas::{self as schemas, c};
use rust_decimal::Decimal;

use crate::clock::{add_days, Ts};
use crate::error::{Error, Result};
use crate::input::{parquet_files, Table};
use crate::output::partition_file;
use crate::store::Published;

/// Order kinds that sell packages, in the order the charts stack them.
pub const SALE_KINDS: [&str; 3] = ["purchase", "renewal", "upgrade"];
/// Package kinds, in deduction order (rules.md, Deduction order).
pub const PACKAGE_KINDS: [&str; 3] = ["free", "monthly", "topup"];
/// A cycle "ends soon" when its end (exclusive) is at most this many days after the day.
pub const ENDING_WITHIN_DAYS: i64 = 7;

/// The figures of one billing day (its `billing_date` partitions).
#[derive(Debug, Clone, Default)]
pub struct Day {
    pub day: NaiveDate,
    /// bills: count, sum of amounts, the part paid from prepaid credit, accounts billed,
    /// bills at revision 2 or more.
    pub bills: usize,
    pub billed: Decimal,
    pub collected: Decimal,
    pub accounts_billed: BTreeSet<i64>,
    pub revised_bills: usize,
    /// charges: overage amount by usage class (exact, 6 decimals).
    pub overage: BTreeMap<String, Decimal>,
    /// orders: accepted, charged package sales by kind (purchase, renewal, upgrade).
    pub sales: BTreeMap<String, Decimal>,
    /// usage_daily: billable minutes.
    pub metered_minutes: i64,
    /// deductions: usage minutes covered, by package kind.
    pub covered_minutes: BTreeMap<String, i64>,
    /// charges: overage minutes.
    pub overage_minutes: i64,
    /// package_balances: cycles covering the day, exhausted ones, ones ending within a week.
    pub packages: usize,
    pub exhausted: usize,
    pub ending_soon: usize,
    /// account_status at as_of(D): accounts by state, and the total amount due.
    pub states: BTreeMap<String, usize>,
    pub amount_due: Decimal,
    /// status_events by event.
    pub events: BTreeMap<String, usize>,
    /// rejected_usage by reason.
    pub rejected: BTreeMap<String, usize>,
    /// From the day's record: identical copies counted once.
    pub collapsed: u64,
}

/// A package's fill at the end of the range: minutes used / total.
#[derive(Debug, Clone)]
pub struct Fill {
    pub kind: String,
    pub used: i64,
    pub total: i64,
}

/// An account suspended at the end of the range.
#[derive(Debug, Clone)]
pub struct Suspended {
    pub account_id: i64,
    pub amount_due: Decimal,
    pub suspended_at: Option<Ts>,
    pub reclaim_at: Option<Ts>,
}

/// A superseded or withdrawn bill revision (bill_revisions).
#[derive(Debug, Clone)]
pub struct Revision {
    pub bill_id: String,
    pub account_id: i64,
    pub revision: i64,
    pub amount: Decimal,
    pub replaced_by: Option<i64>,
    pub new_amount: Option<Decimal>,
    pub change: Decimal,
    pub restated_on: NaiveDate,
}

/// One row of `rtcbill verify`'s outcome: check name, passed, violations.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub violations: u64,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub outputs: PathBuf,
    pub snapshot: PathBuf,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currency: String,
    /// The billing zone: `+08:00` and its offset in seconds.
    pub utc_offset: String,
    pub offset_seconds: i64,
    /// Usage classes in catalog order, then any other found in the outputs.
    pub classes: Vec<String>,
    pub days: Vec<Day>,
    /// package_balances of the last day.
    pub fill: Vec<Fill>,
    pub suspended: Vec<Suspended>,
    pub revisions: Vec<Revision>,
    /// `rtcbill verify`'s checks, when it ran; the page says "verify not run" otherwise.
    pub verify: Option<Vec<Check>>,
}

impl Report {
    pub fn billed(&self) -> Decimal {
        self.days.iter().map(|d| d.billed).sum()
    }
    pub fn collected(&self) -> Decimal {
        self.days.iter().map(|d| d.collected).sum()
    }
    pub fn bills(&self) -> usize {
        self.days.iter().map(|d| d.bills).sum()
    }
    pub fn accounts_billed(&self) -> usize {
        self.days.iter().flat_map(|d| d.accounts_billed.iter()).collect::<BTreeSet<_>>().len()
    }
    /// Accounts in a state at the end of the range.
    pub fn in_state(&self, state: &str) -> usize {
        self.days.last().and_then(|d| d.states.get(state)).copied().unwrap_or(0)
    }
}

/// What a report is made from.
#[derive(Debug, Clone)]
pub struct Options {
    pub outputs: PathBuf,
    pub data: PathBuf,
    /// The `--metered` folder the days were metered from, if any (for verify).
    pub metered: Option<PathBuf>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Run `rtcbill verify` over the same days for the last section (it hashes the data
    /// root's usage files); without it the page is made from the outputs alone.
    pub verify: bool,
}

/// What the data root gives a report: the class order and the accounts' opening times.
#[derive(Debug, Default)]
struct Lookups {
    classes: Vec<String>,
    currency: String,
    utc_offset: String,
    offset_seconds: i64,
    opening: BTreeMap<i64, Ts>,
}

impl Lookups {
    fn load(data: &Path) -> Result<Lookups> {
        let cat = crate::catalog_file::load(&data.join("catalog.toml"))?;
        let mut opening = BTreeMap::new();
        for f in parquet_files(&data.join(schemas::ACCOUNTS.name))? {
            let t = Table::load(&f, &schemas::ACCOUNTS)?;
            opening.extend(t.i64(c::ACCOUNT_ID)?.into_iter().zip(t.ts(c::OPENING_TIME)?));
        }
        Ok(Lookups {
            classes: cat.classes.iter().map(|c| c.name.clone()).collect(),
            currency: cat.currency.clone(),
            offset_seconds: cat.zone.offset_us / crate::clock::MICROS_PER_SECOND,
            utc_offset: cat.utc_offset.clone(),
            opening,
        })
    }
}

/// Reads the report's figures from the published outputs.
pub fn build(opts: &Options) -> Result<Report> {
    let published = Published::open(&opts.outputs)?;
    published.confirm(draw(opts, &published))
}

/// The report of one published snapshot, verified against that same snapshot.
fn draw(opts: &Options, published: &Published) -> Result<Report> {
    let days = published.days_in(opts.from, opts.to)?;
    published.check_days(days.iter().copied())?;
    let lk = Lookups::load(&opts.data)?;
    let root = published.root.as_path();
    let mut out = Vec::with_capacity(days.len());
    for &day in &days {
        let mut d = Day { day, ..Day::default() };
        read_bills(root, &mut d)?;
        read_status_events(root, &mut d)?;
        read_charges(root, &mut d)?;
        read_orders(root, &lk, &mut d)?;
        read_usage(root, &mut d)?;
        read_deductions(root, &mut d)?;
        read_packages(root, &mut d, None)?;
        read_account_status(root, &mut d, None)?;
        read_rejected(root, &mut d)?;
        d.collapsed = published.record(day)?.slices_collapsed;
        out.push(d);
    }
    let last = *days.last().expect("not empty");
    let mut fill = Vec::new();
    read_packages(root, &mut Day { day: last, ..Day::default() }, Some(&mut fill))?;
    let mut suspended = Vec::new();
    read_account_status(root, &mut Day { day: last, ..Day::default() }, Some(&mut suspended))?;
    suspended.sort_by(|a, b| b.amount_due.cmp(&a.amount_due).then(a.account_id.cmp(&b.account_id)));
    let mut revisions = Vec::new();
    for &day in &days {
        read_revisions(root, day, &mut revisions)?;
    }
    revisions.sort_by(|a, b| {
        (a.restated_on, &a.bill_id, a.revision).cmp(&(b.restated_on, &b.bill_id, b.revision))
    });
    let mut classes = lk.classes.clone();
    for d in &out {
        for k in d.overage.keys() {
            if !classes.contains(k) {
                classes.push(k.clone());
            }
        }
    }
    Ok(Report {
        outputs: opts.outputs.clone(),
        snapshot: published.root.clone(),
        from: days[0],
        to: last,
        currency: lk.currency,
        utc_offset: lk.utc_offset,
        offset_seconds: lk.offset_seconds,
        classes,
        days: out,
        fill,
        suspended,
        revisions,
        verify: if opts.verify { verify_checks(opts, published, days[0], last) } else { None },
    })
}

/// `rtcbill verify` over the same days, for the page's last section (not run, and said so,
/// when the data root cannot be read).
fn verify_checks(
    opts: &Options,
    published: &Published,
    from: NaiveDate,
    to: NaiveDate,
) -> Option<Vec<Check>> {
    match crate::verify::verify_published(
        &opts.data,
        published,
        opts.metered.as_deref(),
        Some(from),
        Some(to),
    ) {
        Ok(outcome) => Some(
            outcome
                .per_check()
                .into_iter()
                .map(|(c, n)| Check {
                    name: c.as_str().to_string(),
                    passed: n == 0,
                    violations: n as u64,
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!("verify could not run for the report: {e}");
            None
        }
    }
}

/// Builds the report and writes the page to `dest` (a temporary file beside it, renamed).
pub fn write(opts: &Options, dest: &Path) -> Result<Report> {
    crate::destination::for_reader(dest, &opts.outputs, &opts.data)?;
    let report = build(opts)?;
    let page = html::page(&report).map_err(|msg| Error::Write { path: dest.to_path_buf(), msg })?;
    crate::destination::write_whole(dest, |tmp| {
        std::fs::write(tmp, page).map_err(|e| Error::io(dest, e))
    })?;
    Ok(report)
}

fn load<'a>(
    root: &Path,
    ds: &'static schemas::Dataset,
    day: NaiveDate,
    file: &'a mut Option<PathBuf>,
) -> Result<Option<Table<'a>>> {
    *file = partition_file(root, ds, day);
    match file {
        Some(f) => Table::load(f, ds).map(Some),
        None => Ok(None),
    }
}

/// bills: count, amount, the part paid from prepaid credit (min(amount, max(balance_before, 0))),
/// accounts, revised bills.
pub fn read_bills(root: &Path, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::BILLS, d.day, &mut f)? else { return Ok(()) };
    let (acc, amount, before, rev) = (
        t.i64(c::ACCOUNT_ID)?,
        t.money(c::AMOUNT)?,
        t.money("balance_before")?,
        t.i64("revision")?,
    );
    for i in 0..t.rows() {
        d.bills += 1;
        d.billed += amount[i];
        d.collected += amount[i].min(before[i].max(Decimal::ZERO)).max(Decimal::ZERO);
        d.accounts_billed.insert(acc[i]);
        if rev[i] >= 2 {
            d.revised_bills += 1;
        }
    }
    Ok(())
}

/// status_events: counts by event.
pub fn read_status_events(root: &Path, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::STATUS_EVENTS, d.day, &mut f)? else { return Ok(()) };
    for e in t.str("event")? {
        *d.events.entry(e).or_default() += 1;
    }
    Ok(())
}

fn read_charges(root: &Path, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::CHARGES, d.day, &mut f)? else { return Ok(()) };
    let (class, minutes, amount) = (
        t.str(c::USAGE_CLASS)?,
        t.i64("minutes")?,
        t.required(c::AMOUNT, t.opt_decimal(c::AMOUNT)?)?,
    );
    for i in 0..t.rows() {
        *d.overage.entry(class[i].clone()).or_default() += amount[i];
        d.overage_minutes += minutes[i];
    }
    Ok(())
}

/// orders: accepted orders with an amount, not at or before their account's opening_time.
fn read_orders(root: &Path, lk: &Lookups, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::ORDERS, d.day, &mut f)? else { return Ok(()) };
    let (acc, kind, time, status, amount) = (
        t.opt_i64(c::ACCOUNT_ID)?,
        t.str(c::KIND)?,
        t.ts(c::TIME)?,
        t.str("status")?,
        t.opt_money(c::AMOUNT)?,
    );
    for i in 0..t.rows() {
        let (Some(a), Some(amount)) = (acc[i], amount[i]) else { continue };
        if status[i] != "accepted" || lk.opening.get(&a).is_some_and(|o| time[i] <= *o) {
            continue;
        }
        *d.sales.entry(kind[i].clone()).or_default() += amount;
    }
    Ok(())
}

fn read_usage(root: &Path, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::USAGE_DAILY, d.day, &mut f)? else { return Ok(()) };
    d.metered_minutes += t.i64("billable_minutes")?.iter().sum::<i64>();
    Ok(())
}

fn read_deductions(root: &Path, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::DEDUCTIONS, d.day, &mut f)? else { return Ok(()) };
    for (k, m) in t.str("package_kind")?.into_iter().zip(t.i64("usage_minutes")?) {
        *d.covered_minutes.entry(k).or_default() += m;
    }
    Ok(())
}

fn read_packages(root: &Path, d: &mut Day, fill: Option<&mut Vec<Fill>>) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::PACKAGE_BALANCES, d.day, &mut f)? else { return Ok(()) };
    let (kind, end, total, used, status) = (
        t.str(c::KIND)?,
        t.date("cycle_end")?,
        t.i64("minutes_total")?,
        t.i64("minutes_used")?,
        t.str("status")?,
    );
    let soon = add_days(d.day, ENDING_WITHIN_DAYS);
    d.packages = t.rows();
    d.exhausted = status.iter().filter(|s| *s == "exhausted").count();
    d.ending_soon = end.iter().filter(|e| **e <= soon).count();
    if let Some(fill) = fill {
        for i in 0..t.rows() {
            fill.push(Fill { kind: kind[i].clone(), used: used[i], total: total[i] });
        }
    }
    Ok(())
}

fn read_account_status(
    root: &Path,
    d: &mut Day,
    suspended: Option<&mut Vec<Suspended>>,
) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::ACCOUNT_STATUS, d.day, &mut f)? else { return Ok(()) };
    let (acc, state, due) = (t.i64(c::ACCOUNT_ID)?, t.str("state")?, t.money("amount_due")?);
    for i in 0..t.rows() {
        *d.states.entry(state[i].clone()).or_default() += 1;
        d.amount_due += due[i];
    }
    if let Some(out) = suspended {
        let (at, reclaim) = (t.opt_ts("suspended_at")?, t.opt_ts("reclaim_at")?);
        for i in 0..t.rows() {
            if state[i] == "suspended" {
                out.push(Suspended {
                    account_id: acc[i],
                    amount_due: due[i],
                    suspended_at: at[i],
                    reclaim_at: reclaim[i],
                });
            }
        }
    }
    Ok(())
}

fn read_rejected(root: &Path, d: &mut Day) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::REJECTED_USAGE, d.day, &mut f)? else { return Ok(()) };
    for r in t.str(c::REASON)? {
        *d.rejected.entry(r).or_default() += 1;
    }
    Ok(())
}

fn read_revisions(root: &Path, day: NaiveDate, out: &mut Vec<Revision>) -> Result<()> {
    let mut f = None;
    let Some(t) = load(root, &schemas::BILL_REVISIONS, day, &mut f)? else { return Ok(()) };
    let (ids, acc, rev, amount) =
        (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.i64("revision")?, t.money(c::AMOUNT)?);
    let (by, new, change, on) = (
        t.opt_i64("replaced_by_revision")?,
        t.opt_money("new_amount")?,
        t.money("change")?,
        t.date("restated_on")?,
    );
    for i in 0..t.rows() {
        out.push(Revision {
            bill_id: ids[i].clone(),
            account_id: acc[i],
            revision: rev[i],
            amount: amount[i],
            replaced_by: by[i],
            new_amount: new[i],
            change: change[i],
            restated_on: on[i],
        });
    }
    Ok(())
}

/// What a job's days add up to, for the summary a person reads after `run`, `backfill` or
/// `nightly`: read from the published `bills` and `status_events` of those days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobTotals {
    pub bills: usize,
    pub billed: Decimal,
    pub revised_bills: usize,
    pub suspended: usize,
}

/// The totals of `days` in the published outputs of `out`.
pub fn job_totals(out: &Path, days: &[NaiveDate]) -> Result<JobTotals> {
    let published = Published::open(out)?;
    let mut t = JobTotals::default();
    for &day in days {
        let mut d = Day { day, ..Day::default() };
        read_bills(&published.root, &mut d)?;
        read_status_events(&published.root, &mut d)?;
        t.bills += d.bills;
        t.billed += d.billed;
        t.revised_bills += d.revised_bills;
        t.suspended += d.events.get("suspended").copied().unwrap_or(0);
    }
    Ok(t)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Money to the cent (half away from zero) with thousands separators: `-1,234.50`.
pub fn money(d: Decimal) -> String {
    let r = d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let cents = (r * Decimal::ONE_HUNDRED).trunc();
    let cents: i128 = cents.mantissa() / 10i128.pow(cents.scale());
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", thousands((abs / 100) as i128), abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_thousands_separators_and_money_two_decimals() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(money(d("0")), "0.00");
        assert_eq!(money(d("1234567.891")), "1,234,567.89");
        assert_eq!(money(d("0.005")), "0.01");
        assert_eq!(money(d("-2.1")), "-2.10");
        assert_eq!(money(d("-1000.004")), "-1,000.00");
        assert_eq!(money(d("12.3456789")), "12.35");
    }
}
