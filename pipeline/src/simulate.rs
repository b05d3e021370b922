//! `rtcbill simulate`: what-if re-rating. The published days `from..=to` are replayed, from the
//! state kept for the day before `from`, under each candidate catalog, and compared with what
//! was billed (README, Simulate). The engine is the same pure core the jobs run; metering is
//! reused from the outputs' `usage_daily`, read once per day for every candidate. Nothing is
//! written to the output root or the data root, and no lock is taken: only published
//! snapshots are read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rtcbill_schemas::{self as schemas, c, Dataset};
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::{add_days, month_start, Ts};
use crate::engine::{charged, Account};
use crate::error::{Error, Result};
use crate::input::Table;
use crate::meter::UsageDaily;
use crate::output::{partition_file, write_file, Cols};
use crate::rows::DayRows;
use crate::run::{Chain, Source};
use crate::store::{read_state, FileSeen, Published, Record};
use rtcbill_core::vocab::{OrderKind, OrderStatus, StatusEvent};

// The vocabularies as both sides hold them: text, as read from the outputs.
const ACCEPTED: &str = OrderStatus::Accepted.as_str();
const REJECTED: &str = OrderStatus::Rejected.as_str();
const PURCHASE: &str = OrderKind::Purchase.as_str();
const RENEWAL: &str = OrderKind::Renewal.as_str();
const SUSPENDED: &str = StatusEvent::Suspended.as_str();

/// A candidate catalog: its name (the file's stem) and its contents.
pub struct Candidate {
    pub name: String,
    pub catalog: Catalog,
}

/// An order as one side has it: (account, kind, status, reason, amount).
type OrderSide = (Option<i64>, String, String, Option<String>, Option<Decimal>);

/// One side of a comparison: what the days billed, bought and ended in.
#[derive(Default)]
struct Ledger {
    /// bill id → (account, cycle, period start, amount)
    bills: BTreeMap<String, (i64, String, NaiveDate, Decimal)>,
    /// order id → (account, kind, status, reason, amount)
    orders: BTreeMap<String, OrderSide>,
    /// (month, "usage" | "package", class or product/version) → amount
    revenue: BTreeMap<(NaiveDate, &'static str, String), Decimal>,
    /// account → state at the end of the last day
    states: BTreeMap<i64, String>,
    /// account → first suspension
    suspended: BTreeMap<i64, Ts>,
}

/// What the summary table says of one candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub billed_baseline: Decimal,
    pub billed_simulated: Decimal,
    pub packages_baseline: Decimal,
    pub packages_simulated: Decimal,
    pub billed_more: usize,
    pub billed_less: usize,
    pub newly_suspended: usize,
    pub no_longer_suspended: usize,
    pub renewals_fail: usize,
    pub renewals_succeed: usize,
}

/// What `simulate --report` draws of one candidate (and the summary table's line).
#[derive(Debug, Clone)]
pub struct WhatIf {
    pub summary: Summary,
    /// (month of the bill's period, baseline, simulated), one per bill.
    pub months: Vec<(NaiveDate, Decimal, Decimal)>,
    /// `revenue_diff`: (month, usage | package, item, baseline, simulated).
    pub revenue: Vec<(NaiveDate, &'static str, String, Decimal, Decimal)>,
    /// The accounts billed most differently: (account, baseline, simulated), largest change
    /// first, at most ten.
    pub top_accounts: Vec<(i64, Decimal, Decimal)>,
}

/// The facts a day's rows add to a ledger (the same for the outputs read back and the rows
/// a candidate's replay makes).
struct Facts<'a> {
    opening: &'a BTreeMap<i64, Ts>,
    products: &'a BTreeMap<String, String>,
    zone: crate::clock::Zone,
}

impl Facts<'_> {
    fn order(&self, l: &mut Ledger, o: OrderFact) {
        let paid = o.status == ACCEPTED
            && o.amount.is_some()
            && o.account
                .is_some_and(|a| self.opening.get(&a).is_some_and(|ot| charged(*ot, o.time)));
        if paid {
            let product = self.products.get(&o.package_id).cloned().unwrap_or_default();
            let item = format!("{product}/{}", o.version.unwrap_or_default());
            let month = month_start(self.zone.day_of(o.time));
            *l.revenue.entry((month, "package", item)).or_default() += o.amount.unwrap_or_default();
        }
        l.orders.insert(o.id, (o.account, o.kind, o.status, o.reason, o.amount));
    }
}

struct OrderFact {
    id: String,
    account: Option<i64>,
    package_id: String,
    kind: String,
    status: String,
    reason: Option<String>,
    amount: Option<Decimal>,
    time: Ts,
    version: Option<String>,
}

/// Adds the rows a replay made for `day` to a candidate's ledger.
fn add_rows(f: &Facts, l: &mut Ledger, day: NaiveDate, cat: &Catalog, rows: DayRows) {
    for b in rows.bills {
        l.bills.insert(b.bill_id, (b.account_id, b.cycle.to_string(), b.period_start, b.amount));
    }
    for o in rows.orders {
        f.order(
            l,
            OrderFact {
                id: o.order_id,
                account: o.account_id,
                package_id: o.package_id,
                kind: o.kind.to_string(),
                status: o.status.to_string(),
                reason: o.reason.map(|r| r.as_str().to_string()),
                amount: o.amount,
                time: o.time,
                version: o.version,
            },
        );
    }
    for ch in rows.charges {
        let key = (month_start(day), "usage", cat.classes[ch.class].name.clone());
        *l.revenue.entry(key).or_default() += ch.amount;
    }
    for s in rows.account_status {
        l.states.insert(s.account_id, s.state.to_string());
    }
    for e in rows
        .status_events
        .iter()
        .filter(|e| e.event == StatusEvent::Suspended && e.app_id.is_none())
    {
        l.suspended.entry(e.account_id).or_insert(e.time);
    }
}

/// Adds what the outputs of `day` hold to the baseline ledger.
fn add_outputs(f: &Facts, l: &mut Ledger, root: &Path, day: NaiveDate) -> Result<()> {
    let load = |ds: &'static Dataset| partition_file(root, ds, day);
    if let Some(p) = load(&schemas::BILLS) {
        let t = Table::load(&p, &schemas::BILLS)?;
        let (id, acc, cycle) = (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.str("cycle")?);
        let (start, amount) = (t.date("period_start")?, t.money(c::AMOUNT)?);
        for i in 0..t.rows() {
            l.bills.insert(id[i].clone(), (acc[i], cycle[i].clone(), start[i], amount[i]));
        }
    }
    if let Some(p) = load(&schemas::ORDERS) {
        let t = Table::load(&p, &schemas::ORDERS)?;
        let (id, acc, pkg, kind) =
            (t.str("order_id")?, t.opt_i64(c::ACCOUNT_ID)?, t.str(c::PACKAGE_ID)?, t.str(c::KIND)?);
        let (status, reason, amount) =
            (t.str("status")?, t.opt_str(c::REASON)?, t.opt_money(c::AMOUNT)?);
        let (time, version) = (t.ts(c::TIME)?, t.opt_str(c::VERSION)?);
        for i in 0..t.rows() {
            let o = OrderFact {
                id: id[i].clone(),
                account: acc[i],
                package_id: pkg[i].clone(),
                kind: kind[i].clone(),
                status: status[i].clone(),
                reason: reason[i].clone(),
                amount: amount[i],
                time: time[i],
                version: version[i].clone(),
            };
            f.order(l, o);
        }
    }
    if let Some(p) = load(&schemas::CHARGES) {
        let t = Table::load(&p, &schemas::CHARGES)?;
        let (class, amount) =
            (t.str(c::USAGE_CLASS)?, t.required(c::AMOUNT, t.opt_decimal(c::AMOUNT)?)?);
        for i in 0..t.rows() {
            *l.revenue.entry((month_start(day), "usage", class[i].clone())).or_default() +=
                amount[i];
        }
    }
    if let Some(p) = load(&schemas::ACCOUNT_STATUS) {
        let t = Table::load(&p, &schemas::ACCOUNT_STATUS)?;
        let (acc, state) = (t.i64(c::ACCOUNT_ID)?, t.str("state")?);
        for i in 0..t.rows() {
            l.states.insert(acc[i], state[i].clone());
        }
    }
    if let Some(p) = load(&schemas::STATUS_EVENTS) {
        let t = Table::load(&p, &schemas::STATUS_EVENTS)?;
        let (acc, app, event, time) =
            (t.i64(c::ACCOUNT_ID)?, t.opt_i64(c::APP_ID)?, t.str("event")?, t.ts(c::TIME)?);
        for i in 0..t.rows() {
            if event[i] == SUSPENDED && app[i].is_none() {
                let first = l.suspended.entry(acc[i]).or_insert(time[i]);
                *first = (*first).min(time[i]);
            }
        }
    }
    Ok(())
}

/// A day's metering as the outputs recorded it, by class name: (account, app, class, slices,
/// seconds, billable minutes).
type Metering = Vec<(i64, i64, String, i64, i64, i64)>;

fn read_usage(root: &Path, day: NaiveDate) -> Result<Metering> {
    let Some(p) = partition_file(root, &schemas::USAGE_DAILY, day) else {
        return Err(Error::Invalid(format!(
            "{day}: no usage_daily partition in the published outputs"
        )));
    };
    let t = Table::load(&p, &schemas::USAGE_DAILY)?;
    let (acc, app, class) = (t.i64(c::ACCOUNT_ID)?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?);
    let (slices, seconds, billable) =
        (t.i64("slices")?, t.i64("seconds")?, t.i64("billable_minutes")?);
    Ok((0..t.rows())
        .map(|i| (acc[i], app[i], class[i].clone(), slices[i], seconds[i], billable[i]))
        .collect())
}

/// The day's metering under a candidate's classes: package minutes by its ratios, sorted as
/// the engine wants (account, app, class order).
fn usage_for(cat: &Catalog, m: &Metering, candidate: &str) -> Result<Vec<UsageDaily>> {
    let mut out = Vec::with_capacity(m.len());
    for (account_id, app_id, class, slices, seconds, billable) in m {
        let Some(ci) = cat.class_index(class) else {
            return Err(Error::Invalid(format!(
                "candidate {candidate}: no usage class {class:?}: a candidate must keep every class that was metered (re-metering is not supported)"
            )));
        };
        out.push(UsageDaily {
            account_id: *account_id,
            app_id: *app_id,
            class: ci,
            slices: *slices,
            seconds: *seconds,
            billable_minutes: *billable,
            package_minutes: billable * cat.classes[ci].ratio,
        });
    }
    out.sort_by_key(|u| (u.account_id, u.app_id, u.class));
    Ok(out)
}

/// Replays the published days `from..=to` of `outputs` under each candidate and writes, under
/// `out/<candidate>/`, the four diff datasets; returns one summary per candidate. `metered` is
/// the folder the days were metered from, if any (the usage files their records name).
pub fn simulate(
    data: &Path,
    outputs: &Path,
    metered: Option<&Path>,
    candidates: Vec<Candidate>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    out: &Path,
) -> Result<(Vec<WhatIf>, (NaiveDate, NaiveDate))> {
    check_destination(data, outputs, &candidates, out)?;
    let published = Published::open(outputs)?;
    let root = published.root.clone();
    let days = published.days_in(from, to)?;
    // Every day of the range present and whole (no gap, no missing partition).
    published.check_days(days.iter().copied())?;
    let (first, last) = (days[0], days[days.len() - 1]);
    let chain = Chain::load(data, Source::of_billed(metered))?;
    inputs_as_billed(&chain, &root, &days)?;
    let start: Vec<Account> = if first == chain.epoch {
        chain.opening_state()
    } else {
        let before = add_days(first, -1);
        match Record::read(&root, before) {
            Record::Found(m) => read_state(&root, &m).ok_or_else(|| {
                Error::Invalid(format!(
                    "the state kept for {before} is unusable: run `rtcbill nightly` to heal it"
                ))
            })?,
            _ => {
                return Err(Error::Invalid(format!(
                    "no usable record for {before}, the day before --from"
                )))
            }
        }
    };
    let opening = chain.opening_times();
    let products = chain.package_products();
    let facts = Facts { opening: &opening, products: &products, zone: chain.inputs.catalog.zone };
    let mut runs: Vec<(Candidate, Chain, Vec<Account>, Ledger)> = candidates
        .into_iter()
        .map(|c| {
            // The billing day of every slice and event follows the offset: the days replayed
            // would not be the days metered.
            if c.catalog.zone != chain.inputs.catalog.zone {
                return Err(Error::Invalid(format!(
                    "candidate {}: [billing] utc_offset differs from the data root's catalog: it \
                     moves every slice to another billing day, which needs re-metering (simulate \
                     does not re-meter: run the jobs on a copy of the data root instead)",
                    c.name
                )));
            }
            // Its amounts are compared with the baseline's, in the data root's currency.
            if c.catalog.currency != chain.inputs.catalog.currency {
                return Err(Error::Invalid(format!(
                    "candidate {}: currency {:?} differs from the data root's catalog ({:?}): \
                     the diff would compare amounts in two currencies",
                    c.name, c.catalog.currency, chain.inputs.catalog.currency
                )));
            }
            let ch = chain.for_catalog(c.catalog.clone());
            ch.check_prices(first)?;
            Ok((c, ch, start.clone(), Ledger::default()))
        })
        .collect::<Result<_>>()?;
    let mut baseline = Ledger::default();
    for &day in &days {
        add_outputs(&facts, &mut baseline, &root, day)?;
        let metering = read_usage(&root, day)?;
        for (cand, ch, state, ledger) in runs.iter_mut() {
            let usage = usage_for(&ch.inputs.catalog, &metering, &cand.name)?;
            let cat = &ch.inputs.catalog;
            // Upgrades of packages `packages` does not hold, as the jobs write them.
            let orphans = DayRows { orders: ch.orphan_orders(day), ..DayRows::default() };
            add_rows(&facts, ledger, day, cat, orphans);
            ch.advance(state, day, &usage, |rows| {
                add_rows(&facts, ledger, day, cat, rows);
                Ok(())
            })?;
        }
    }
    // Everything of the snapshot is read by now: still there, it was read whole.
    published.confirm(Ok(()))?;
    let mut summaries = Vec::new();
    for (cand, _, _, ledger) in &runs {
        let dir = out.join(&cand.name);
        summaries.push(write_diffs(&baseline, ledger, &cand.name, &dir)?);
    }
    Ok((summaries, (first, last)))
}

/// The days replayed were billed from the inputs the data root holds now: else the diff would
/// hold what changed since as the candidate's effect (a late refund, or another data root).
fn inputs_as_billed(chain: &Chain, root: &Path, days: &[NaiveDate]) -> Result<()> {
    let (chain_hash, windows) = (chain.chain_hash(), chain.window_hashes());
    for &day in days {
        let Record::Found(m) = Record::read(root, day) else {
            return Err(Error::Invalid(format!("{day}: no usable record")));
        };
        let changed = if m.chain_hash != chain_hash {
            "the catalog, accounts or apps"
        } else if m.window_hash != windows.of(day) {
            "the transactions, packages or package events of its window"
        } else if !FileSeen::same_bytes(&chain.usage_seen(day, Some(&m))?, &m.usage_files) {
            "its usage files"
        } else {
            continue;
        };
        return Err(Error::Invalid(format!(
            "{day}: {changed} changed since the day was billed (or --data is another data \
             root): run `rtcbill nightly` first, so the diff holds only the candidate's effect"
        )));
    }
    Ok(())
}

/// README, Simulate writes nothing to the outputs or the data root, and replaces a folder
/// only where an earlier simulate wrote one: `out` outside both roots, each candidate named
/// plainly (not `..`, not hidden), and `out/<candidate>/` absent or a simulate result.
fn check_destination(data: &Path, outputs: &Path, cands: &[Candidate], out: &Path) -> Result<()> {
    crate::destination::outside(out, &[(outputs, "the outputs"), (data, "the data root")])?;
    let (to, bad) = (crate::destination::resolved(out), |msg: String| Err(Error::Invalid(msg)));
    for c in cands {
        let plain = !c.name.is_empty()
            && !c.name.starts_with('.')
            && !c.name.chars().any(char::is_control)
            && Path::new(&c.name).components().count() == 1;
        if !plain {
            return bad(format!("candidate {:?}: its file needs a plain name", c.name));
        }
        let dir = to.join(&c.name);
        let known = |e: &std::fs::DirEntry| {
            let name = e.file_name();
            rtcbill_schemas::SIMULATION.iter().any(|ds| name == ds.name)
        };
        if dir.symlink_metadata().is_ok() {
            let ours = dir.is_dir()
                && std::fs::read_dir(&dir)
                    .map_err(|e| Error::io(&dir, e))?
                    .all(|e| e.as_ref().is_ok_and(known));
            if !ours {
                return bad(format!(
                    "{} exists and is not an earlier simulate's result: not replaced",
                    dir.display()
                ));
            }
        }
    }
    Ok(())
}

fn werr(dir: &Path) -> impl Fn(crate::output::BatchError) -> Error + '_ {
    move |e| match e {
        // A candidate's prices can lead beyond the contract's decimals: its input's fault.
        crate::output::BatchError::OutOfRange(m) => {
            Error::Invalid(format!("{}: {m}: an amount is out of range", dir.display()))
        }
        crate::output::BatchError::Contract(msg) => Error::Write { path: dir.to_path_buf(), msg },
    }
}

/// Writes the four datasets of one candidate (into a folder renamed into place at the end)
/// and sums them up.
fn write_diffs(base: &Ledger, sim: &Ledger, name: &str, dir: &Path) -> Result<WhatIf> {
    let tmp = dir.with_file_name(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let mut s = Summary { name: name.to_string(), ..Summary::default() };
    let file = |ds: &Dataset| -> Result<PathBuf> {
        let d = tmp.join(ds.name);
        std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        Ok(d.join("part-0.parquet"))
    };

    // bill_diff: every bill of either side
    let ids: BTreeSet<&String> = base.bills.keys().chain(sim.bills.keys()).collect();
    let rows: Vec<_> = ids
        .iter()
        .map(|id| {
            let (b, m) = (base.bills.get(*id), sim.bills.get(*id));
            let meta = b.or(m).expect("on one side");
            let (ba, ma) = (b.map(|x| x.3), m.map(|x| x.3));
            (
                id.as_str(),
                meta.0,
                meta.1.as_str(),
                meta.2,
                ba,
                ma,
                ma.unwrap_or_default() - ba.unwrap_or_default(),
            )
        })
        .collect();
    let (ds, batch) = Cols::new(&schemas::BILL_DIFF)
        .str("bill_id", rows.iter().map(|r| Some(r.0)))
        .i64("account_id", rows.iter().map(|r| Some(r.1)))
        .str("cycle", rows.iter().map(|r| Some(r.2)))
        .date("period_start", rows.iter().map(|r| Some(r.3)))
        .dec("baseline_amount", rows.iter().map(|r| r.4))
        .map_err(werr(dir))?
        .dec("simulated_amount", rows.iter().map(|r| r.5))
        .map_err(werr(dir))?
        .dec("delta", rows.iter().map(|r| Some(r.6)))
        .map_err(werr(dir))?
        .finish()
        .map_err(werr(dir))?;
    write_file(&file(ds)?, ds, &batch)?;
    s.billed_baseline = base.bills.values().map(|b| b.3).sum();
    s.billed_simulated = sim.bills.values().map(|b| b.3).sum();

    // account_diff
    let accounts: BTreeSet<i64> = base
        .states
        .keys()
        .chain(sim.states.keys())
        .copied()
        .chain(base.bills.values().map(|b| b.0))
        .chain(sim.bills.values().map(|b| b.0))
        .collect();
    // Per account, in one pass over each side's bills and orders.
    let per_account = |l: &Ledger| {
        let mut m: BTreeMap<i64, (Decimal, i64, i64)> = BTreeMap::new();
        for b in l.bills.values() {
            m.entry(b.0).or_default().0 += b.3;
        }
        for o in l.orders.values().filter(|o| o.2 == ACCEPTED) {
            if let Some(a) = o.0 {
                let e = m.entry(a).or_default();
                match o.1.as_str() {
                    PURCHASE => e.1 += 1,
                    RENEWAL => e.2 += 1,
                    _ => {}
                }
            }
        }
        m
    };
    let (pb, ps) = (per_account(base), per_account(sim));
    let rows: Vec<_> = accounts
        .iter()
        .map(|&a| {
            let b = pb.get(&a).copied().unwrap_or_default();
            let m = ps.get(&a).copied().unwrap_or_default();
            (a, b.0, m.0, b.1, m.1, b.2, m.2)
        })
        .collect();
    let mut top: Vec<(i64, Decimal, Decimal)> = rows.iter().map(|r| (r.0, r.1, r.2)).collect();
    for r in &rows {
        if r.2 > r.1 {
            s.billed_more += 1;
        } else if r.2 < r.1 {
            s.billed_less += 1;
        }
    }
    for a in &accounts {
        match (base.suspended.contains_key(a), sim.suspended.contains_key(a)) {
            (false, true) => s.newly_suspended += 1,
            (true, false) => s.no_longer_suspended += 1,
            _ => {}
        }
    }
    let state = |l: &Ledger, a: i64| l.states.get(&a).cloned().unwrap_or_default();
    let (ds, batch) = Cols::new(&schemas::ACCOUNT_DIFF)
        .i64("account_id", rows.iter().map(|r| Some(r.0)))
        .dec("billed_baseline", rows.iter().map(|r| Some(r.1)))
        .map_err(werr(dir))?
        .dec("billed_simulated", rows.iter().map(|r| Some(r.2)))
        .map_err(werr(dir))?
        .dec("billed_delta", rows.iter().map(|r| Some(r.2 - r.1)))
        .map_err(werr(dir))?
        .i64("purchases_baseline", rows.iter().map(|r| Some(r.3)))
        .i64("purchases_simulated", rows.iter().map(|r| Some(r.4)))
        .i64("renewals_baseline", rows.iter().map(|r| Some(r.5)))
        .i64("renewals_simulated", rows.iter().map(|r| Some(r.6)))
        .str("final_state_baseline", rows.iter().map(|r| Some(state(base, r.0))))
        .str("final_state_simulated", rows.iter().map(|r| Some(state(sim, r.0))))
        .ts("first_suspension_baseline", rows.iter().map(|r| base.suspended.get(&r.0).copied()))
        .ts("first_suspension_simulated", rows.iter().map(|r| sim.suspended.get(&r.0).copied()))
        .finish()
        .map_err(werr(dir))?;
    write_file(&file(ds)?, ds, &batch)?;

    // revenue_diff
    let keys: BTreeSet<_> = base.revenue.keys().chain(sim.revenue.keys()).collect();
    let rows: Vec<_> = keys
        .iter()
        .map(|k| {
            let (b, m) = (
                base.revenue.get(*k).copied().unwrap_or_default(),
                sim.revenue.get(*k).copied().unwrap_or_default(),
            );
            (k.0, k.1, k.2.as_str(), b, m)
        })
        .collect();
    s.packages_baseline = rows.iter().filter(|r| r.1 == "package").map(|r| r.3).sum();
    s.packages_simulated = rows.iter().filter(|r| r.1 == "package").map(|r| r.4).sum();
    let (ds, batch) = Cols::new(&schemas::REVENUE_DIFF)
        .date("month", rows.iter().map(|r| Some(r.0)))
        .str("category", rows.iter().map(|r| Some(r.1)))
        .str("item", rows.iter().map(|r| Some(r.2)))
        .dec("baseline", rows.iter().map(|r| Some(r.3)))
        .map_err(werr(dir))?
        .dec("simulated", rows.iter().map(|r| Some(r.4)))
        .map_err(werr(dir))?
        .dec("delta", rows.iter().map(|r| Some(r.4 - r.3)))
        .map_err(werr(dir))?
        .finish()
        .map_err(werr(dir))?;
    write_file(&file(ds)?, ds, &batch)?;

    // order_diff: orders whose status, reason or amount differ
    let ids: BTreeSet<&String> = base.orders.keys().chain(sim.orders.keys()).collect();
    let rows: Vec<_> = ids
        .into_iter()
        .filter_map(|id| {
            let (b, m) = (base.orders.get(id), sim.orders.get(id));
            let same =
                matches!((b, m), (Some(b), Some(m)) if (&b.2, &b.3, b.4) == (&m.2, &m.3, m.4));
            if same {
                return None;
            }
            let meta = b.or(m).expect("on one side");
            Some((id.as_str(), meta.0, meta.1.as_str(), b, m))
        })
        .collect();
    for r in rows.iter().filter(|r| r.2 == RENEWAL) {
        match (r.3.map(|o| o.2.as_str()), r.4.map(|o| o.2.as_str())) {
            (Some(ACCEPTED), Some(REJECTED)) => s.renewals_fail += 1,
            (Some(REJECTED), Some(ACCEPTED)) => s.renewals_succeed += 1,
            _ => {}
        }
    }
    let (ds, batch) = Cols::new(&schemas::ORDER_DIFF)
        .str("order_id", rows.iter().map(|r| Some(r.0)))
        .i64("account_id", rows.iter().map(|r| r.1))
        .str("kind", rows.iter().map(|r| Some(r.2)))
        .str("baseline_status", rows.iter().map(|r| r.3.map(|o| o.2.as_str())))
        .str("simulated_status", rows.iter().map(|r| r.4.map(|o| o.2.as_str())))
        .str("baseline_reason", rows.iter().map(|r| r.3.and_then(|o| o.3.as_deref())))
        .str("simulated_reason", rows.iter().map(|r| r.4.and_then(|o| o.3.as_deref())))
        .dec("baseline_amount", rows.iter().map(|r| r.3.and_then(|o| o.4)))
        .map_err(werr(dir))?
        .dec("simulated_amount", rows.iter().map(|r| r.4.and_then(|o| o.4)))
        .map_err(werr(dir))?
        .finish()
        .map_err(werr(dir))?;
    write_file(&file(ds)?, ds, &batch)?;

    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    let ids: BTreeSet<&String> = base.bills.keys().chain(sim.bills.keys()).collect();
    let months = ids
        .into_iter()
        .map(|id| {
            let (b, m) = (base.bills.get(id), sim.bills.get(id));
            let start = b.or(m).expect("on one side").2;
            (month_start(start), b.map_or(Decimal::ZERO, |x| x.3), m.map_or(Decimal::ZERO, |x| x.3))
        })
        .collect();
    let keys: BTreeSet<_> = base.revenue.keys().chain(sim.revenue.keys()).collect();
    let revenue = keys
        .into_iter()
        .map(|k| {
            let b = base.revenue.get(k).copied().unwrap_or_default();
            (k.0, k.1, k.2.clone(), b, sim.revenue.get(k).copied().unwrap_or_default())
        })
        .collect();
    top.sort_by_key(|(a, b, m)| (std::cmp::Reverse((*m - *b).abs()), *a));
    top.truncate(10);
    Ok(WhatIf { summary: s, months, revenue, top_accounts: top })
}
