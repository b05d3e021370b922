//! `rtcbill verify`: proves a range of published outputs against their inputs and the ledger's
//! invariants, from the files alone (the engine is never run again), so an engine bug or a
//! tampered file shows. Each check is one function below, named after what it proves (README,
//! Verify). Days are read a few at a time, in parallel; what one day hands the next (balances,
//! package minutes, arrears history) is carried in [`Carry`], so a range is never held whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use parquet::file::reader::{FileReader, SerializedFileReader};
use rayon::prelude::*;
use rtcbill_schemas::{self as schemas, c, Dataset, OUTPUTS, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::clock::{add_days, Ts, MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::engine::charged;
use crate::error::{Error, Result};
use crate::input::{Inputs, Table};
use crate::output::partition_file;
use crate::run::{Chain, Source, WindowHashes};
use crate::store::{Manifest, Published, Record};
use crate::vocab::{OrderStatus, StatusEvent};

/// The checks, in the order the README lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    InputsUnchanged,
    AccountingIdentity,
    MinutesCovered,
    BillAmounts,
    BalanceChain,
    PackageMinutes,
    ArrearsTimeline,
    RevisionHistory,
    FilesAndSchema,
}

impl Check {
    pub const ALL: [Check; 9] = [
        Check::InputsUnchanged,
        Check::AccountingIdentity,
        Check::MinutesCovered,
        Check::BillAmounts,
        Check::BalanceChain,
        Check::PackageMinutes,
        Check::ArrearsTimeline,
        Check::RevisionHistory,
        Check::FilesAndSchema,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::InputsUnchanged => "inputs_unchanged",
            Check::AccountingIdentity => "accounting_identity",
            Check::MinutesCovered => "minutes_covered",
            Check::BillAmounts => "bill_amounts",
            Check::BalanceChain => "balance_chain",
            Check::PackageMinutes => "package_minutes",
            Check::ArrearsTimeline => "arrears_timeline",
            Check::RevisionHistory => "revision_history",
            Check::FilesAndSchema => "files_and_schema",
        }
    }
}

/// One thing that does not hold, with the row it was found on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    pub check: Check,
    pub day: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_class: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.check.as_str())?;
        if let Some(d) = self.day {
            write!(f, " day={d}")?;
        }
        if let Some(b) = &self.bill_id {
            write!(f, " bill_id={b}")?;
        }
        if let Some(a) = self.account_id {
            write!(f, " account_id={a}")?;
        }
        if let Some(a) = self.app_id {
            write!(f, " app_id={a}")?;
        }
        if let Some(u) = &self.usage_class {
            write!(f, " usage_class={u}")?;
        }
        if let Some(p) = &self.file {
            write!(f, " file={p}")?;
        }
        write!(f, ": {}", self.message)
    }
}

fn v(check: Check, day: NaiveDate, message: String) -> Violation {
    Violation {
        check,
        day: Some(day),
        file: None,
        bill_id: None,
        account_id: None,
        app_id: None,
        usage_class: None,
        message,
    }
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub days: usize,
    pub violations: Vec<Violation>,
}

impl Outcome {
    /// Violations per check (every check listed, 0 included).
    pub fn per_check(&self) -> Vec<(Check, usize)> {
        Check::ALL
            .iter()
            .map(|c| (*c, self.violations.iter().filter(|v| v.check == *c).count()))
            .collect()
    }
}

/// Verifies the published done days `from..=to` (default: all) of `out` against `data` (and
/// the `--metered` folder the days were metered from, if any).
pub fn verify(
    data: &Path,
    out: &Path,
    metered: Option<&Path>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Outcome> {
    let published = Published::open(out)?;
    published.confirm(verify_published(data, &published, metered, from, to))
}

/// [`verify`] of one published snapshot (the report verifies the snapshot it draws).
pub fn verify_published(
    data: &Path,
    published: &Published,
    metered: Option<&Path>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Outcome> {
    let root = published.root.clone();
    let done = published.done_days()?;
    let days = published.days_in(from, to)?;
    let chain = Chain::load(data, Source::of_billed(metered))?;
    let inputs = Inputs::load(data)?;
    let ctx = Ctx::new(&chain, &inputs, root.clone());
    let mut outcome = Outcome { days: days.len(), violations: Vec::new() };
    // A gap among the done days: a day of the chain was never published.
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let mut d = *first;
        while d <= *last {
            if !done.contains(&d) {
                outcome.violations.push(v(
                    Check::FilesAndSchema,
                    d,
                    "no record: the day is missing from the chain of done days".into(),
                ));
            }
            d = add_days(d, 1);
        }
    }
    outcome.violations.extend(not_of_a_day(&root, &done)?);
    let mut carry = Carry::start(&ctx, days.first().copied())?;
    // A few days at a time in parallel; the carried checks then walk them in order.
    let batch = rayon::current_num_threads().max(1) * 2;
    for group in days.chunks(batch) {
        let read: Vec<Result<Day>> = group.par_iter().map(|d| Day::read(&ctx, *d)).collect();
        for day in read {
            let mut day = day?;
            outcome.violations.append(&mut day.violations);
            carry.walk(&ctx, &day, &mut outcome.violations);
        }
    }
    outcome.violations.sort();
    Ok(outcome)
}

/// What every day's checks share.
struct Ctx<'a> {
    chain: &'a Chain,
    root: PathBuf,
    chain_hash: String,
    windows: WindowHashes,
    /// Credits and debits by account, in time order: (time, amount).
    txns: BTreeMap<i64, Vec<(Ts, Decimal)>>,
    opening: BTreeMap<i64, (Decimal, Ts)>,
}

impl<'a> Ctx<'a> {
    fn new(chain: &'a Chain, inputs: &Inputs, root: PathBuf) -> Ctx<'a> {
        let mut txns: BTreeMap<i64, Vec<(Ts, Decimal)>> = BTreeMap::new();
        for t in &inputs.txns {
            txns.entry(t.account_id).or_default().push((t.time, t.amount));
        }
        for v in txns.values_mut() {
            v.sort();
        }
        let opening =
            inputs.accounts.iter().map(|a| (a.id, (a.opening_balance, a.opening_time))).collect();
        Ctx {
            chain,
            root,
            chain_hash: chain.chain_hash(),
            windows: chain.window_hashes(),
            txns,
            opening,
        }
    }

    /// Day `day`'s file of `ds`. The checks after [`files_and_schema`] read only what it found
    /// readable: gone since only when the snapshot is recycled under this job
    /// ([`Published::confirm`] says so).
    fn file(&self, ds: &Dataset, day: NaiveDate) -> Result<PathBuf> {
        partition_file(&self.root, ds, day)
            .ok_or_else(|| Error::Invalid(format!("{} of {day}: gone while being read", ds.name)))
    }
}

/// The rows one day's checks read, reduced to what the carried checks need.
#[derive(Default)]
struct Day {
    day: NaiveDate,
    violations: Vec<Violation>,
    /// account → balance at the end of the window.
    balances: BTreeMap<i64, Decimal>,
    /// account → what the window debited through orders and bills.
    debits: BTreeMap<i64, Decimal>,
    /// (package, cycle start) → (minutes used, file).
    package_used: BTreeMap<(String, NaiveDate), i64>,
    /// (account, app, event, time), in time order.
    events: Vec<(i64, Option<i64>, String, Ts)>,
}

impl Day {
    fn read(ctx: &Ctx, day: NaiveDate) -> Result<Day> {
        let mut d = Day { day, ..Day::default() };
        let record = match Record::read(&ctx.root, day) {
            Record::Found(m) => Some(*m),
            Record::Missing => {
                d.violations.push(v(Check::FilesAndSchema, day, "no record for the day".into()));
                None
            }
            Record::Damaged(why) => {
                d.violations.push(v(Check::FilesAndSchema, day, why));
                None
            }
        };
        // 9 first: a file that is missing or of another schema is not read by the others.
        let readable = files_and_schema(ctx, day, record.as_ref(), &mut d.violations)?;
        if let Some(m) = &record {
            inputs_unchanged(ctx, day, m, &mut d.violations)?;
        }
        let has = |ds: &Dataset| readable.contains(ds.name);
        if let Some(m) = &record {
            if has(&schemas::REJECTED_USAGE) && has(&schemas::USAGE_DAILY) {
                accounting_identity(ctx, day, m, &mut d.violations)?;
            }
        }
        if has(&schemas::USAGE_DAILY) && has(&schemas::DEDUCTIONS) && has(&schemas::CHARGES) {
            minutes_covered(ctx, day, &mut d.violations)?;
        }
        if has(&schemas::BILLS) && has(&schemas::BILL_LINES) && has(&schemas::CHARGES) {
            bill_amounts(ctx, day, &mut d)?;
        }
        if has(&schemas::BILLS) && has(&schemas::BILL_REVISIONS) {
            revision_history(ctx, day, &mut d.violations)?;
        }
        if has(&schemas::ACCOUNT_STATUS) && has(&schemas::ORDERS) && has(&schemas::BILLS) {
            day_balances(ctx, day, &mut d)?;
        }
        if has(&schemas::PACKAGE_BALANCES) {
            package_rows(ctx, day, &mut d)?;
        }
        if has(&schemas::STATUS_EVENTS) {
            let f = ctx.file(&schemas::STATUS_EVENTS, day)?;
            let t = Table::load(&f, &schemas::STATUS_EVENTS)?;
            let (acc, app, ev, time) =
                (t.i64(c::ACCOUNT_ID)?, t.opt_i64(c::APP_ID)?, t.str("event")?, t.ts(c::TIME)?);
            d.events = (0..t.rows()).map(|i| (acc[i], app[i], ev[i].clone(), time[i])).collect();
            d.events.sort_by_key(|e| e.3);
        }
        Ok(d)
    }
}

/// Check 9 outside the days: an entry of a dataset folder that is not the partition of a done
/// day (readers of the dataset read it too; the next run leaves it out of its snapshot).
fn not_of_a_day(root: &Path, done: &BTreeSet<NaiveDate>) -> Result<Vec<Violation>> {
    let mut found = Vec::new();
    for ds in OUTPUTS {
        let dir = root.join(ds.name);
        // (a dataset folder missing is named by each day's check)
        let Ok(listing) = std::fs::read_dir(&dir) else { continue };
        for e in listing {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            if crate::partition::day(&e.file_name()).is_some_and(|d| done.contains(&d)) {
                continue;
            }
            found.push(Violation {
                day: None,
                file: Some(Path::new(ds.name).join(e.file_name()).display().to_string()),
                ..v(
                    Check::FilesAndSchema,
                    NaiveDate::MIN,
                    "not the partition of a done day: readers of the dataset read it too; the \
                     next run leaves it out"
                        .into(),
                )
            });
        }
    }
    Ok(found)
}

/// Check 9: every dataset has its partition for a done day, with the contract's schema and
/// `schema_version`, and the bytes its day record names. Returns the datasets readable.
fn files_and_schema(
    ctx: &Ctx,
    day: NaiveDate,
    record: Option<&Manifest>,
    out: &mut Vec<Violation>,
) -> Result<BTreeSet<&'static str>> {
    let mut readable = BTreeSet::new();
    for ds in OUTPUTS {
        let Ok(path) = ctx.file(ds, day) else {
            out.push(v(
                Check::FilesAndSchema,
                day,
                format!("the {} partition is missing", ds.name),
            ));
            continue;
        };
        let name = path.strip_prefix(&ctx.root).unwrap_or(&path).to_string_lossy().to_string();
        let bad = |msg: String| Violation {
            file: Some(name.clone()),
            ..v(Check::FilesAndSchema, day, msg)
        };
        // Readers of the dataset read whatever else the folder holds too.
        let folder = path.parent().expect("in a partition folder");
        for (other, _) in crate::partition::strays(folder)? {
            let why = "not written by a run: readers of the dataset read it too; \
                       `backfill --from` the day removes it";
            let other = other.strip_prefix(&ctx.root).unwrap_or(&other).display().to_string();
            out.push(Violation { file: Some(other), ..v(Check::FilesAndSchema, day, why.into()) });
        }
        let meta = File::open(&path)
            .ok()
            .and_then(|f| SerializedFileReader::new(f).ok())
            .map(|r| r.metadata().file_metadata().clone());
        let Some(meta) = meta else {
            out.push(bad("not a readable Parquet file".into()));
            continue;
        };
        let version = meta
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == SCHEMA_VERSION_KEY))
            .and_then(|k| k.value.clone());
        if version.as_deref() != Some(SCHEMA_VERSION) {
            out.push(bad(format!("schema_version {version:?}, not {SCHEMA_VERSION:?}")));
        }
        let want = ds.schema();
        let got =
            parquet::arrow::parquet_to_arrow_schema(meta.schema_descr(), meta.key_value_metadata())
                .map_err(|e| Error::Input { file: path.clone(), msg: e.to_string() })?;
        let shape = |s: &arrow::datatypes::Schema| {
            s.fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
                .collect::<Vec<_>>()
        };
        if shape(&got) != shape(&want) {
            out.push(bad(format!(
                "columns differ from the contract: {:?}",
                shape(&got).iter().map(|c| format!("{} {}", c.0, c.1)).collect::<Vec<_>>()
            )));
            continue;
        }
        if let Some(f) = record.and_then(|m| m.outputs.iter().find(|f| f.path == name)) {
            let now = crate::store::file_seen(&path, name.clone(), None)?;
            if (now.size, &now.blake3) != (f.size, &f.blake3) {
                out.push(bad("its bytes differ from what the day's record says it wrote".into()));
            }
        }
        readable.insert(ds.name);
    }
    // The state the day left: later days start from it.
    if let Some(m) = record {
        let path = ctx.root.join(&m.state.path);
        let now = crate::store::file_seen(&path, m.state.path.clone(), None).ok();
        if now.is_none_or(|now| (now.size, &now.blake3) != (m.state.size, &m.state.blake3)) {
            out.push(Violation {
                file: Some(m.state.path.clone()),
                ..v(
                    Check::FilesAndSchema,
                    day,
                    "the state the day left is missing or differs from its record".into(),
                )
            });
        }
    }
    Ok(readable)
}

/// Check 1: the inputs the day was billed from are still those: usage files (size and hash), the
/// events of its window, the catalog, accounts and apps.
fn inputs_unchanged(
    ctx: &Ctx,
    day: NaiveDate,
    m: &Manifest,
    out: &mut Vec<Violation>,
) -> Result<()> {
    let hint =
        "changed since the day was billed: run `rtcbill nightly` (or `backfill --from` the day)";
    if m.chain_hash != ctx.chain_hash {
        out.push(v(Check::InputsUnchanged, day, format!("the catalog, accounts or apps {hint}")));
    }
    if m.window_hash != ctx.windows.of(day) {
        out.push(v(
            Check::InputsUnchanged,
            day,
            format!("the transactions, packages or package events of its window {hint}"),
        ));
    }
    let now = ctx.chain.usage_seen(day, None)?;
    let then: BTreeMap<&str, _> = m.usage_files.iter().map(|f| (f.path.as_str(), f)).collect();
    let seen: BTreeMap<&str, _> = now.iter().map(|f| (f.path.as_str(), f)).collect();
    for name in then.keys().chain(seen.keys()).collect::<BTreeSet<_>>() {
        let msg = match (then.get(name), seen.get(name)) {
            (Some(_), None) => format!("usage file removed: it {hint}"),
            (None, Some(_)) => format!("usage file added: the day {hint}"),
            (Some(a), Some(b)) if (a.size, &a.blake3) != (b.size, &b.blake3) => {
                format!("usage file {hint}")
            }
            _ => continue,
        };
        out.push(Violation { file: Some(name.to_string()), ..v(Check::InputsUnchanged, day, msg) });
    }
    Ok(())
}

/// Check 2: raw slices = accepted + rejected + collapsed duplicates, and the outputs hold them.
fn accounting_identity(
    ctx: &Ctx,
    day: NaiveDate,
    m: &Manifest,
    out: &mut Vec<Violation>,
) -> Result<()> {
    let mut bad = |msg: String| out.push(v(Check::AccountingIdentity, day, msg));
    if m.slices_read != m.slices_accepted + m.slices_rejected + m.slices_collapsed {
        bad(format!(
            "{} slices read, but {} accepted + {} rejected + {} collapsed",
            m.slices_read, m.slices_accepted, m.slices_rejected, m.slices_collapsed
        ));
    }
    // The slices read are the rows of the day's usage files (footers), so a metering that
    // lost or invented rows does not pass on its own counts. Nothing to compare for a day
    // metered from a `--metered` folder with no raw partition here, nor when a usage file no
    // longer reads (`inputs_unchanged` names it: its hash moved).
    if let Some(files) = ctx.chain.inputs.usage.get(&day) {
        if let Ok(rows) = files.iter().map(|f| footer_rows(f)).sum::<Result<u64>>() {
            if rows != m.slices_read {
                bad(format!(
                    "the day's usage files hold {rows} rows, the day read {}",
                    m.slices_read
                ));
            }
        }
    }
    let f = ctx.file(&schemas::REJECTED_USAGE, day)?;
    let rejected = footer_rows(&f)?;
    if rejected != m.slices_rejected {
        bad(format!(
            "rejected_usage holds {rejected} rows, the day rejected {}",
            m.slices_rejected
        ));
    }
    let f = ctx.file(&schemas::USAGE_DAILY, day)?;
    let t = Table::load(&f, &schemas::USAGE_DAILY)?;
    let accepted: i64 = t.i64("slices")?.iter().sum();
    if accepted as u64 != m.slices_accepted {
        bad(format!(
            "usage_daily counts {accepted} slices, the day accepted {}",
            m.slices_accepted
        ));
    }
    Ok(())
}

fn footer_rows(f: &Path) -> Result<u64> {
    let reader = SerializedFileReader::new(File::open(f).map_err(|e| Error::io(f, e))?)
        .map_err(|e| Error::Input { file: f.to_path_buf(), msg: e.to_string() })?;
    Ok(reader.metadata().file_metadata().num_rows() as u64)
}

/// Check 3: per (app, class): billable minutes = minutes deducted from packages + overage minutes.
fn minutes_covered(ctx: &Ctx, day: NaiveDate, out: &mut Vec<Violation>) -> Result<()> {
    // (account, app, class) → (billable, deducted, overage)
    let mut m: BTreeMap<(i64, i64, String), (i64, i64, i64)> = BTreeMap::new();
    let mut read = |ds: &'static Dataset, col: &str, slot: usize| -> Result<()> {
        let f = ctx.file(ds, day)?;
        let t = Table::load(&f, ds)?;
        let (acc, app, class, n) =
            (t.i64(c::ACCOUNT_ID)?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?, t.i64(col)?);
        for i in 0..t.rows() {
            let e = m.entry((acc[i], app[i], class[i].clone())).or_default();
            match slot {
                0 => e.0 += n[i],
                1 => e.1 += n[i],
                _ => e.2 += n[i],
            }
        }
        Ok(())
    };
    read(&schemas::USAGE_DAILY, "billable_minutes", 0)?;
    read(&schemas::DEDUCTIONS, "usage_minutes", 1)?;
    read(&schemas::CHARGES, "minutes", 2)?;
    for ((acc, app, class), (billable, deducted, overage)) in m {
        if billable != deducted + overage {
            out.push(Violation {
                account_id: Some(acc),
                app_id: Some(app),
                usage_class: Some(class),
                ..v(
                    Check::MinutesCovered,
                    day,
                    format!(
                        "{billable} billable minutes, but {deducted} deducted + {overage} overage"
                    ),
                )
            });
        }
    }
    Ok(())
}

/// Minutes × price per 1,000 minutes, exact: computed here again, not with the engine's
/// `line_amount`, so that a bug in the engine's arithmetic shows.
fn line_amount(minutes: i64, price: Decimal) -> Decimal {
    Decimal::from(minutes) * price / Decimal::from(1000)
}

/// Check 4: each bill = its lines' sum rounded half-up once; each line and charge = minutes × price
/// / 1000; `balance_after = balance_before - amount`.
fn bill_amounts(ctx: &Ctx, day: NaiveDate, d: &mut Day) -> Result<()> {
    let out = &mut d.violations;
    let f = ctx.file(&schemas::BILL_LINES, day)?;
    let t = Table::load(&f, &schemas::BILL_LINES)?;
    let (ids, acc, app, class) =
        (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?);
    let (price, minutes) = (
        t.required("unit_price_per_1000", t.opt_decimal("unit_price_per_1000")?)?,
        t.i64("minutes")?,
    );
    let amount = t.required(c::AMOUNT, t.opt_decimal(c::AMOUNT)?)?;
    let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
    for i in 0..t.rows() {
        *sums.entry(&ids[i]).or_default() += amount[i];
        if amount[i] != line_amount(minutes[i], price[i]) {
            out.push(Violation {
                bill_id: Some(ids[i].clone()),
                account_id: Some(acc[i]),
                app_id: Some(app[i]),
                usage_class: Some(class[i].clone()),
                ..v(
                    Check::BillAmounts,
                    day,
                    format!(
                        "line of {} minutes at {} is {}, not {}",
                        minutes[i],
                        price[i].normalize(),
                        amount[i].normalize(),
                        line_amount(minutes[i], price[i]).normalize()
                    ),
                )
            });
        }
    }
    let f = ctx.file(&schemas::CHARGES, day)?;
    let t = Table::load(&f, &schemas::CHARGES)?;
    let (cacc, capp, cclass, cmin) =
        (t.i64(c::ACCOUNT_ID)?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?, t.i64("minutes")?);
    let (cprice, camount) = (
        t.required("unit_price_per_1000", t.opt_decimal("unit_price_per_1000")?)?,
        t.required(c::AMOUNT, t.opt_decimal(c::AMOUNT)?)?,
    );
    for i in 0..t.rows() {
        if camount[i] != line_amount(cmin[i], cprice[i]) {
            out.push(Violation {
                account_id: Some(cacc[i]),
                app_id: Some(capp[i]),
                usage_class: Some(cclass[i].clone()),
                ..v(
                    Check::BillAmounts,
                    day,
                    format!(
                        "charge of {} minutes at {} is {}",
                        cmin[i],
                        cprice[i].normalize(),
                        camount[i].normalize()
                    ),
                )
            });
        }
    }
    let f = ctx.file(&schemas::BILLS, day)?;
    let t = Table::load(&f, &schemas::BILLS)?;
    let (bids, bacc, bamount) = (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.money(c::AMOUNT)?);
    let (before, after) = (t.money("balance_before")?, t.money("balance_after")?);
    for i in 0..t.rows() {
        let bill = |msg: String| Violation {
            bill_id: Some(bids[i].clone()),
            account_id: Some(bacc[i]),
            ..v(Check::BillAmounts, day, msg)
        };
        let lines = sums
            .get(bids[i].as_str())
            .copied()
            .unwrap_or_default()
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        if lines != bamount[i] {
            out.push(bill(format!(
                "amount {} is not its lines' sum rounded once, {lines}",
                bamount[i]
            )));
        }
        if after[i] != before[i] - bamount[i] {
            out.push(bill(format!(
                "balance_after {} is not balance_before {} - amount {}",
                after[i], before[i], bamount[i]
            )));
        }
    }
    Ok(())
}

/// Check 8: every bill at revision r > 1 has revisions 1..r-1 in `bill_revisions`, and each
/// bill's first amount plus the changes there is what it bills now (0 once withdrawn).
fn revision_history(ctx: &Ctx, day: NaiveDate, out: &mut Vec<Violation>) -> Result<()> {
    let f = ctx.file(&schemas::BILL_REVISIONS, day)?;
    let t = Table::load(&f, &schemas::BILL_REVISIONS)?;
    let (ids, revs, racc) = (t.str("bill_id")?, t.i64("revision")?, t.i64(c::ACCOUNT_ID)?);
    let (by, ramount, change) =
        (t.opt_i64("replaced_by_revision")?, t.money(c::AMOUNT)?, t.money("change")?);
    let kept: BTreeSet<(&str, i64)> = (0..t.rows()).map(|i| (ids[i].as_str(), revs[i])).collect();
    // Per bill: its first amount (the first revision's row; of the two a withdrawn revision
    // issued again has, the withdrawal) and the sum of its changes.
    struct Ledger {
        account: i64,
        first: (i64, bool),
        first_amount: Decimal,
        changes: Decimal,
    }
    let mut ledger: BTreeMap<&str, Ledger> = BTreeMap::new();
    for i in 0..t.rows() {
        let first = (revs[i], by[i].is_some());
        let e = ledger.entry(ids[i].as_str()).or_insert(Ledger {
            account: racc[i],
            first,
            first_amount: ramount[i],
            changes: Decimal::ZERO,
        });
        if first < e.first {
            (e.first, e.first_amount) = (first, ramount[i]);
        }
        e.changes += change[i];
    }
    let f = ctx.file(&schemas::BILLS, day)?;
    let t = Table::load(&f, &schemas::BILLS)?;
    let (bids, acc, rev) = (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.i64("revision")?);
    let amount = t.money(c::AMOUNT)?;
    let now: BTreeMap<&str, Decimal> =
        (0..t.rows()).map(|i| (bids[i].as_str(), amount[i])).collect();
    for (bill, Ledger { account, first_amount: first, changes, .. }) in &ledger {
        let bills = now.get(bill).copied().unwrap_or_default();
        if first + changes != bills {
            out.push(Violation {
                bill_id: Some(bill.to_string()),
                account_id: Some(*account),
                ..v(
                    Check::RevisionHistory,
                    day,
                    format!(
                        "first billed {first}, changed by {changes} in bill_revisions, but it bills {bills} now"
                    ),
                )
            });
        }
    }
    for i in 0..t.rows() {
        let missing: Vec<i64> =
            (1..rev[i]).filter(|r| !kept.contains(&(bids[i].as_str(), *r))).collect();
        if !missing.is_empty() {
            out.push(Violation {
                bill_id: Some(bids[i].clone()),
                account_id: Some(acc[i]),
                ..v(
                    Check::RevisionHistory,
                    day,
                    format!(
                        "at revision {}, but revisions {missing:?} are not in bill_revisions",
                        rev[i]
                    ),
                )
            });
        }
    }
    Ok(())
}

/// Balances at the end of the window, and what orders and bills debited in it (for 5).
fn day_balances(ctx: &Ctx, day: NaiveDate, d: &mut Day) -> Result<()> {
    let f = ctx.file(&schemas::BILLS, day)?;
    let t = Table::load(&f, &schemas::BILLS)?;
    let (acc, amount) = (t.i64(c::ACCOUNT_ID)?, t.money(c::AMOUNT)?);
    for i in 0..t.rows() {
        *d.debits.entry(acc[i]).or_default() += amount[i];
    }
    let f = ctx.file(&schemas::ACCOUNT_STATUS, day)?;
    let t = Table::load(&f, &schemas::ACCOUNT_STATUS)?;
    let (acc, bal) = (t.i64(c::ACCOUNT_ID)?, t.money("balance")?);
    d.balances = (0..t.rows()).map(|i| (acc[i], bal[i])).collect();
    let f = ctx.file(&schemas::ORDERS, day)?;
    let t = Table::load(&f, &schemas::ORDERS)?;
    let (acc, status, time, amount) =
        (t.opt_i64(c::ACCOUNT_ID)?, t.str("status")?, t.ts(c::TIME)?, t.opt_money(c::AMOUNT)?);
    for i in 0..t.rows() {
        let (Some(a), Some(amount)) = (acc[i], amount[i]) else { continue };
        // Charged when accepted and after the account's opening_time (rules.md, Clock).
        let charged = status[i] == OrderStatus::Accepted.as_str()
            && ctx.opening.get(&a).is_some_and(|(_, ot)| charged(*ot, time[i]));
        if charged {
            *d.debits.entry(a).or_default() += amount;
        }
    }
    Ok(())
}

/// Check 6 (within the day): used + left = total, neither below zero; the minutes used, for the
/// day-to-day part.
fn package_rows(ctx: &Ctx, day: NaiveDate, d: &mut Day) -> Result<()> {
    let f = ctx.file(&schemas::PACKAGE_BALANCES, day)?;
    let t = Table::load(&f, &schemas::PACKAGE_BALANCES)?;
    let (pkg, acc, start) = (t.str(c::PACKAGE_ID)?, t.i64(c::ACCOUNT_ID)?, t.date("cycle_start")?);
    let (total, used, left) =
        (t.i64("minutes_total")?, t.i64("minutes_used")?, t.i64("minutes_left")?);
    for i in 0..t.rows() {
        if used[i] + left[i] != total[i] || used[i] < 0 || left[i] < 0 {
            d.violations.push(Violation {
                account_id: Some(acc[i]),
                ..v(
                    Check::PackageMinutes,
                    day,
                    format!(
                        "package {}: used {} + left {} against total {}",
                        pkg[i], used[i], left[i], total[i]
                    ),
                )
            });
        }
        d.package_used.insert((pkg[i].clone(), start[i]), used[i]);
    }
    Ok(())
}

/// What one day hands the next.
struct Carry {
    /// The day before the next one walked, when known.
    prev: Option<NaiveDate>,
    balances: BTreeMap<i64, Decimal>,
    package_used: BTreeMap<(String, NaiveDate), i64>,
    /// Per account: last `arrears_entered` and `suspended` instants; per app: `violation`.
    arrears: BTreeMap<i64, Ts>,
    suspended: BTreeMap<i64, Ts>,
    violations_at: BTreeMap<i64, Ts>,
    /// Whether the walk starts at the epoch (history before it is complete).
    complete: bool,
}

impl Carry {
    /// Before the first day: the opening balances at the epoch, else the day before's status.
    fn start(ctx: &Ctx, first: Option<NaiveDate>) -> Result<Carry> {
        let mut c = Carry {
            prev: None,
            balances: BTreeMap::new(),
            package_used: BTreeMap::new(),
            arrears: BTreeMap::new(),
            suspended: BTreeMap::new(),
            violations_at: BTreeMap::new(),
            complete: first == Some(ctx.chain.epoch),
        };
        let Some(first) = first else { return Ok(c) };
        if c.complete {
            c.balances = ctx.opening.iter().map(|(a, (b, _))| (*a, *b)).collect();
            c.prev = Some(add_days(first, -1));
        } else if let Ok(f) = ctx.file(&schemas::ACCOUNT_STATUS, add_days(first, -1)) {
            let t = Table::load(&f, &schemas::ACCOUNT_STATUS)?;
            let (acc, bal) = (t.i64(c::ACCOUNT_ID)?, t.money("balance")?);
            c.balances = (0..t.rows()).map(|i| (acc[i], bal[i])).collect();
            c.prev = Some(add_days(first, -1));
        }
        Ok(c)
    }

    fn walk(&mut self, ctx: &Ctx, d: &Day, out: &mut Vec<Violation>) {
        let day = d.day;
        let follows = self.prev == Some(add_days(day, -1));
        // 5. balance after D-1 + credits - debits in the window of D = balance after D.
        if follows && !d.balances.is_empty() {
            let zone = ctx.chain.inputs.catalog.zone;
            let (w_start, w_end) = zone.window(day);
            let epoch = day == ctx.chain.epoch;
            for (acc, after) in &d.balances {
                let Some(before) = self.balances.get(acc) else { continue };
                let opening_time = ctx.opening.get(acc).map_or(Ts::MIN, |o| o.1);
                let moved: Decimal = ctx
                    .txns
                    .get(acc)
                    .into_iter()
                    .flatten()
                    .filter(|(t, _)| *t > opening_time && *t <= w_end && (epoch || *t > w_start))
                    .map(|(_, a)| *a)
                    .sum();
                let want = before + moved - d.debits.get(acc).copied().unwrap_or_default();
                if want != *after {
                    out.push(Violation {
                        account_id: Some(*acc),
                        ..v(Check::BalanceChain, day, format!("balance {after}, but {before} before + {moved} transactions - {} orders and bills = {want}", d.debits.get(acc).copied().unwrap_or_default()))
                    });
                }
            }
        }
        // 6. minutes used never decrease within a cycle.
        if follows {
            for (key, used) in &d.package_used {
                if let Some(before) = self.package_used.get(key) {
                    if used < before {
                        out.push(v(
                            Check::PackageMinutes,
                            day,
                            format!(
                                "package {} cycle {}: minutes used fell from {before} to {used}",
                                key.0, key.1
                            ),
                        ));
                    }
                }
            }
        }
        // 7. suspension = arrears + grace; reclaim = suspension (or violation) + reclaim period;
        // restored and arrears_cleared only at a credit.
        let cat = &ctx.chain.inputs.catalog;
        let (grace, reclaim) =
            (cat.grace_hours * MICROS_PER_HOUR, cat.reclaim_days * MICROS_PER_DAY);
        for (acc, app, event, t) in &d.events {
            let bad = |msg: String| Violation {
                account_id: Some(*acc),
                app_id: *app,
                ..v(Check::ArrearsTimeline, day, msg)
            };
            match (StatusEvent::parse(event), app) {
                (Some(StatusEvent::ArrearsEntered), None) => {
                    self.arrears.insert(*acc, *t);
                }
                (Some(StatusEvent::Suspended), None) => {
                    match self.arrears.get(acc) {
                        Some(a) if a + grace == *t => {}
                        Some(a) => out.push(bad(format!(
                            "suspended at {}, arrears entered at {}: not {} hours later",
                            fmt(*t),
                            fmt(*a),
                            cat.grace_hours
                        ))),
                        None if self.complete => out.push(bad(format!(
                            "suspended at {} with no arrears entered before",
                            fmt(*t)
                        ))),
                        None => {}
                    }
                    self.suspended.insert(*acc, *t);
                }
                (Some(StatusEvent::Violation), Some(app)) => {
                    self.violations_at.insert(*app, *t);
                }
                (Some(StatusEvent::ReclaimDue), _) => {
                    let since = match app {
                        None => self.suspended.get(acc),
                        Some(app) => self.violations_at.get(app),
                    };
                    match since {
                        Some(s) if s + reclaim == *t => {}
                        Some(s) => out.push(bad(format!(
                            "reclaimed at {}, {} days after {} expected",
                            fmt(*t),
                            cat.reclaim_days,
                            fmt(*s)
                        ))),
                        None if self.complete => out.push(bad(format!(
                            "reclaimed at {} with no suspension or violation before",
                            fmt(*t)
                        ))),
                        None => {}
                    }
                }
                (Some(StatusEvent::Restored | StatusEvent::ArrearsCleared), None) => {
                    let credit = ctx
                        .txns
                        .get(acc)
                        .is_some_and(|v| v.iter().any(|(ct, a)| ct == t && *a > Decimal::ZERO));
                    if !credit {
                        out.push(bad(format!(
                            "{event} at {} with no credit at that instant",
                            fmt(*t)
                        )));
                    }
                }
                _ => {}
            }
        }
        // A day whose status could not be read breaks the chain: the next is not compared.
        self.balances = d.balances.clone();
        self.package_used = d.package_used.clone();
        self.prev = (!d.balances.is_empty()).then_some(day);
    }
}

fn fmt(t: Ts) -> String {
    crate::clock::fmt_ts(t)
}
