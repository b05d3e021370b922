//! SPEC §8: the chain of billing days shared by the jobs. Each day is metered (polars), then
//! every account is run through its window in parallel (rayon), then the day's partitions are
//! written. Days before `from` are run for their state only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::clock::add_days;
use crate::engine::{self, Account, AccountEvents, DayCtx};
use crate::error::{Error, Result};
use crate::input::{Inputs, PackageEventKind};
use crate::meter::{self, MeterCounts};
use crate::output;
use crate::rows::DayRows;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub data: PathBuf,
    pub out: PathBuf,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// What one written day did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySummary {
    pub day: NaiveDate,
    pub meter: MeterCounts,
    pub bills: usize,
    pub arrears_entered: usize,
}

/// The data root with its per-account events, ready to run any day of the chain.
pub struct Chain {
    pub inputs: Inputs,
    pub epoch: NaiveDate,
    accounts: Vec<crate::input::Account>,
    events: Vec<AccountEvents>,
    orphan_upgrades: Vec<crate::input::PackageEvent>,
}

impl Chain {
    pub fn load(data: &Path) -> Result<Chain> {
        let inputs = Inputs::load(data)?;
        let epoch = inputs
            .epoch()
            .ok_or_else(|| Error::Input { file: data.join("usage"), msg: "no usage_date= partition: nothing to run".into() })?;
        let mut accounts = inputs.accounts.clone();
        accounts.sort_by_key(|a| a.id);
        let index: BTreeMap<i64, usize> = accounts.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        let n = accounts.len();
        let mut apps = vec![Vec::new(); n];
        let mut txns = vec![Vec::new(); n];
        let mut pkgs = vec![Vec::new(); n];
        let mut pevs = vec![Vec::new(); n];
        for a in &inputs.apps {
            apps[index[&a.account_id]].push(a);
        }
        for t in &inputs.txns {
            txns[index[&t.account_id]].push(t);
        }
        let mut owner = BTreeMap::new();
        for p in &inputs.packages {
            owner.insert(p.package_id.as_str(), index[&p.account_id]);
            pkgs[index[&p.account_id]].push(p);
        }
        let mut orphan_upgrades = Vec::new();
        for e in &inputs.package_events {
            match owner.get(e.package_id.as_str()) {
                Some(&i) => pevs[i].push(e),
                None if e.kind == PackageEventKind::Upgrade => orphan_upgrades.push(e.clone()),
                None => tracing::warn!(event_id = %e.event_id, package_id = %e.package_id, "auto-renew event of an unknown package ignored"),
            }
        }
        let events = (0..n)
            .map(|i| AccountEvents::build(&accounts[i], &apps[i], &txns[i], &pkgs[i], &pevs[i], &inputs.catalog))
            .collect();
        Ok(Chain { epoch, accounts, events, orphan_upgrades, inputs })
    }

    /// The last usage day present.
    pub fn last_usage_day(&self) -> NaiveDate {
        *self.inputs.usage.keys().next_back().expect("epoch exists")
    }

    /// Fresh state at the epoch: every account at its opening balance.
    pub fn opening_state(&self) -> Vec<Account> {
        self.accounts.iter().map(Account::open).collect()
    }

    /// Checks that the catalog prices every class on `day`.
    fn check_prices(&self, day: NaiveDate) -> Result<()> {
        let cat = &self.inputs.catalog;
        if cat.payg(0, day).is_none() {
            return Err(Error::Invalid(format!("catalog.toml: no [[payg]] entry in force on {day}")));
        }
        Ok(())
    }

    /// Runs day `day` over `state` (the state the previous day left). Returns the metering
    /// result and the rows, without writing.
    pub fn run_day(&self, state: &mut [Account], day: NaiveDate) -> Result<(meter::Metered, DayRows)> {
        self.check_prices(day)?;
        let cat = &self.inputs.catalog;
        let files = self.inputs.usage.get(&day).map(Vec::as_slice).unwrap_or(&[]);
        let metered = meter::meter_day(day, files, &self.inputs.apps, cat)?;
        let ctx = DayCtx { catalog: cat, day, epoch: day == self.epoch };
        let usage = &metered.usage;
        let parts: Vec<DayRows> = state
            .par_iter_mut()
            .zip(self.events.par_iter())
            .map(|(acc, ev)| {
                let lo = usage.partition_point(|u| u.account_id < acc.id);
                let hi = usage.partition_point(|u| u.account_id <= acc.id);
                engine::run_day(acc, ev, &usage[lo..hi], ctx)
            })
            .collect();
        let mut rows = DayRows::default();
        for p in parts {
            rows.append(p);
        }
        let (w_start, w_end) = cat.zone.window(day);
        for e in &self.orphan_upgrades {
            if e.time <= w_end && (ctx.epoch || e.time > w_start) {
                rows.orders.push(engine::orphan_upgrade(e));
            }
        }
        rows.sort();
        Ok((metered, rows))
    }
}

/// `rtcbill run`: days from the epoch (or `from`) to `to` (or the last usage day).
pub fn run(opts: &RunOptions) -> Result<Vec<DaySummary>> {
    let chain = Chain::load(&opts.data)?;
    let from = opts.from.unwrap_or(chain.epoch);
    let to = opts.to.unwrap_or_else(|| chain.last_usage_day());
    if from < chain.epoch {
        return Err(Error::Invalid(format!("--from {from} is before the epoch {} (the earliest usage day)", chain.epoch)));
    }
    if to < from {
        return Err(Error::Invalid(format!("--to {to} is before --from {from}")));
    }
    let mut state = chain.opening_state();
    let mut summaries = Vec::new();
    let mut day = chain.epoch;
    while day <= to {
        let (metered, rows) = chain.run_day(&mut state, day)?;
        if day >= from {
            let batches = output::day_batches(&metered.usage, &metered.rejected, &rows, &chain.inputs.catalog)
                .map_err(|m| Error::Write { path: opts.out.clone(), msg: m })?;
            output::write_day(&opts.out, day, &batches)?;
            let s = DaySummary {
                day,
                meter: metered.counts,
                bills: rows.bills.len(),
                arrears_entered: rows.status_events.iter().filter(|e| e.event == "arrears_entered").count(),
            };
            tracing::info!(
                day = %day,
                slices_read = s.meter.raw,
                accepted = s.meter.accepted,
                rejected = s.meter.rejected,
                collapsed = s.meter.collapsed,
                bills = s.bills,
                arrears_entered = s.arrears_entered,
                "day written"
            );
            summaries.push(s);
        }
        day = add_days(day, 1);
    }
    Ok(summaries)
}
