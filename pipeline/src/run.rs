//! SPEC §8: the chain of billing days shared by the jobs. Each day is metered (polars), then
//! every account is run through its window in parallel (rayon), then the day's partitions are
//! written. Days before `from` are run for their state only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;
use rtcbill_schemas as schemas;

use crate::clock::add_days;
use crate::engine::{self, Account, AccountEvents, DayCtx};
use crate::error::{Error, Result};
use crate::input::{Inputs, PackageEventKind};
use crate::meter::{self, MeterCounts, MeterEngine, UsageDaily};
use crate::metered;
use crate::output;
use crate::revision::{self, revise, Previous};
use crate::rows::DayRows;
use crate::store::{self, FileSeen, Manifest, Store};

/// What one written day did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySummary {
    pub day: NaiveDate,
    pub meter: MeterCounts,
    pub bills: usize,
    /// Bills of the day at revision 2 or more.
    pub revised_bills: usize,
    pub arrears_entered: usize,
}

/// The data root with its per-account events, ready to run any day of the chain.
pub struct Chain {
    /// The catalog, apps and usage files; accounts, transactions and packages live in `events`.
    pub inputs: Inputs,
    pub epoch: NaiveDate,
    accounts: Vec<crate::input::Account>,
    events: Vec<AccountEvents>,
    orphan_upgrades: Vec<crate::input::PackageEvent>,
    source: Source,
    data: PathBuf,
    /// The days with usage (raw partitions, or metered ones).
    usage_days: BTreeSet<NaiveDate>,
}

/// Where each day's metering comes from (SPEC §2 either way).
#[derive(Debug, Clone)]
pub enum Source {
    /// Scan `usage/usage_date=D/` with this implementation.
    Raw(MeterEngine),
    /// Read a metered directory (`--metered DIR`, e.g. written by the Spark job).
    Metered(PathBuf),
}

impl Chain {
    pub fn load(data: &Path, source: Source) -> Result<Chain> {
        let mut inputs = Inputs::load(data)?;
        let usage_days: BTreeSet<NaiveDate> = match &source {
            Source::Raw(_) => inputs.usage.keys().copied().collect(),
            Source::Metered(dir) => metered::days(dir)?,
        };
        let epoch = usage_days.first().copied().ok_or_else(|| match &source {
            Source::Raw(_) => Error::Input { file: data.join("usage"), msg: "no usage_date= partition: nothing to run".into() },
            Source::Metered(dir) => Error::Input { file: dir.join("meter_counts"), msg: "no billing_date= partition: nothing to run".into() },
        })?;
        let mut accounts = std::mem::take(&mut inputs.accounts);
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
        // The events hold what the runs need of these: keep one copy.
        drop((apps, txns, pkgs, pevs, owner));
        inputs.txns = Vec::new();
        inputs.packages = Vec::new();
        inputs.package_events = Vec::new();
        Ok(Chain { epoch, accounts, events, orphan_upgrades, inputs, source, data: data.to_path_buf(), usage_days })
    }

    /// The last usage day present.
    pub fn last_usage_day(&self) -> NaiveDate {
        *self.usage_days.last().expect("epoch exists")
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

    /// Meters billing day `day` (no state needed: days can be metered ahead of the chain).
    pub fn meter(&self, day: NaiveDate) -> Result<meter::Metered> {
        let (apps, cat) = (&self.inputs.apps, &self.inputs.catalog);
        match &self.source {
            Source::Raw(engine) => {
                let files = self.inputs.usage.get(&day).map(Vec::as_slice).unwrap_or(&[]);
                meter::meter_day(*engine, day, files, apps, cat)
            }
            Source::Metered(dir) if self.usage_days.contains(&day) => metered::load(dir, day, apps, cat),
            Source::Metered(_) => Ok(meter::Metered::default()),
        }
    }

    /// Runs one chunk of accounts (`state` with their `events`) through day `day`.
    fn advance_chunk(&self, state: &mut [Account], events: &[AccountEvents], day: NaiveDate, usage: &[UsageDaily]) -> DayRows {
        let cat = &self.inputs.catalog;
        let ctx = DayCtx { catalog: cat, day, epoch: day == self.epoch };
        let parts: Vec<DayRows> = state
            .par_iter_mut()
            .zip(events.par_iter())
            .map(|(acc, ev)| {
                let lo = usage.partition_point(|u| u.account_id < acc.id);
                let hi = usage.partition_point(|u| u.account_id <= acc.id);
                engine::run_day(acc, ev, &usage[lo..hi], ctx)
            })
            .collect();
        // In account order; the writer sorts each part by its dataset's full key.
        DayRows::concat(parts)
    }

    /// Runs every account through day `day`, calling `each` with the rows of each chunk of
    /// [`CHUNK`] accounts, in account order (the outputs' sort keys start with the account).
    pub fn advance(&self, state: &mut [Account], day: NaiveDate, usage: &[UsageDaily], mut each: impl FnMut(DayRows) -> Result<()>) -> Result<()> {
        self.check_prices(day)?;
        for (st, ev) in state.chunks_mut(CHUNK).zip(self.events.chunks(CHUNK)) {
            each(self.advance_chunk(st, ev, day, usage))?;
        }
        Ok(())
    }

    /// Upgrades of packages `packages` does not hold, in the day's window (SPEC §3 upgrade).
    pub fn orphan_orders(&self, day: NaiveDate) -> Vec<crate::rows::OrderRow> {
        let mut v: Vec<_> = self.orphan_upgrades.iter().filter(|e| self.in_window(day, e.time)).map(engine::orphan_upgrade).collect();
        v.sort();
        v
    }

    fn in_window(&self, day: NaiveDate, t: crate::clock::Ts) -> bool {
        let (w_start, w_end) = self.inputs.catalog.zone.window(day);
        t <= w_end && (day == self.epoch || t > w_start)
    }

    /// Hash of what every day depends on: the catalog, the accounts and the apps.
    pub fn chain_hash(&self) -> String {
        use std::io::Write;
        let mut h = blake3::Hasher::new();
        // Streamed into the hasher: at 1M apps the text would be a few hundred MB.
        write!(h, "{:?}{:?}{:?}", self.inputs.catalog, self.accounts, self.inputs.apps).expect("hashing does not fail");
        h.finalize().to_hex().to_string()
    }

    /// Hash of the events in day `day`'s window (SPEC §1).
    pub fn window_hash(&self, day: NaiveDate) -> String {
        let mut h = blake3::Hasher::new();
        for ev in &self.events {
            for e in ev.events.iter().filter(|e| self.in_window(day, e.time)) {
                h.update(format!("{e:?}").as_bytes());
            }
        }
        for e in self.orphan_upgrades.iter().filter(|e| self.in_window(day, e.time)) {
            h.update(format!("{e:?}").as_bytes());
        }
        h.finalize().to_hex().to_string()
    }

    /// The usage files of a day as seen now (hashing only those whose size or time moved).
    pub fn usage_seen(&self, day: NaiveDate, previous: Option<&Manifest>) -> Result<Vec<FileSeen>> {
        // Paths are recorded relative to their root, so a data root moved or named another
        // way (relative, absolute) is not taken as changed.
        let (root, paths): (&Path, Vec<PathBuf>) = match &self.source {
            Source::Raw(_) => (
                &self.data,
                self.inputs.usage.get(&day).map(|v| v.iter().map(|f| f.path.clone()).collect()).unwrap_or_default(),
            ),
            Source::Metered(dir) => (dir, metered::files(dir, day)?.into_iter().map(|f| f.1).collect()),
        };
        paths
            .iter()
            .map(|p| {
                let name = p.strip_prefix(root).unwrap_or(p).to_string_lossy().to_string();
                let prev = previous.and_then(|m| m.usage_files.iter().find(|s| s.path == name));
                store::file_seen(p, name, prev)
            })
            .collect()
    }

    /// Whether a done day's inputs differ from what its manifest recorded.
    fn changed_since(&self, day: NaiveDate, m: &Manifest, chain_hash: &str) -> Result<bool> {
        Ok(m.chain_hash != chain_hash || m.window_hash != self.window_hash(day) || m.usage_files != self.usage_seen(day, Some(m))?)
    }
}

/// Accounts run and written together: bounds the memory a day's rows take, whatever the
/// number of accounts. Fixed (not tied to threads) so the files are the same on any machine.
pub const CHUNK: usize = 65_536;

/// Which days a job runs.
#[derive(Debug, Clone, Copy)]
pub enum Plan {
    /// `rtcbill run`: `from` (default the epoch) to `to` (default the last usage day).
    Run { from: Option<NaiveDate>, to: Option<NaiveDate> },
    /// `rtcbill backfill`: `from` to `to`, and every later day already done.
    Backfill { from: NaiveDate, to: Option<NaiveDate> },
    /// `rtcbill nightly`: from the earliest done day whose inputs changed (or the first day
    /// not done) to yesterday.
    Nightly { today: NaiveDate },
}

/// Runs a plan over a data root into an output root. `on_day` hears of each written day with
/// its position and the number of days to write. With `overlap`, the next day is metered while
/// this one runs (faster chains; at 100M slices a day, a higher peak).
pub fn execute(
    data: &Path,
    out: &Path,
    plan: Plan,
    source: Source,
    overlap: bool,
    on_day: &mut dyn FnMut(&DaySummary, usize, usize),
) -> Result<Vec<DaySummary>> {
    let chain = Chain::load(data, source)?;
    let store = Store::open(out)?;
    let chain_hash = chain.chain_hash();
    let done = store.done_days()?;
    let last_done = done.iter().next_back().copied();
    let (from, to) = match plan {
        Plan::Run { from, to } => (from.unwrap_or(chain.epoch), to.unwrap_or_else(|| chain.last_usage_day())),
        Plan::Backfill { from, to } => (from, to.unwrap_or(from).max(last_done.unwrap_or(from))),
        Plan::Nightly { today } => {
            let mut start = None;
            if let Some(last) = last_done {
                let mut day = chain.epoch;
                while day <= last && start.is_none() {
                    let changed = match store.manifest(day)? {
                        None => true,
                        Some(m) => chain.changed_since(day, &m, &chain_hash)?,
                    };
                    if changed {
                        tracing::info!(day = %day, "inputs changed since the day was done (or it is missing): rerunning from it");
                        start = Some(day);
                    }
                    day = add_days(day, 1);
                }
            }
            let from = start.or(last_done.map(|d| add_days(d, 1))).unwrap_or(chain.epoch);
            (from, add_days(today, -1))
        }
    };
    if from < chain.epoch {
        return Err(Error::Invalid(format!("--from {from} is before the epoch {} (the earliest usage day)", chain.epoch)));
    }
    if to < from {
        if matches!(plan, Plan::Nightly { .. }) {
            tracing::info!(last_done = ?last_done, "nothing to do: every day up to yesterday is done and unchanged");
            return Ok(Vec::new());
        }
        return Err(Error::Invalid(format!("--to {to} is before --from {from}")));
    }
    let mut state = start_state(&chain, &store, from, &chain_hash)?;
    let head = last_done.map_or(to, |l| l.max(to));
    let total = (to - from).num_days() as usize + 1;
    let mut summaries = Vec::with_capacity(total);
    let mut done = |i: usize, day: NaiveDate, metered: Result<meter::Metered>| -> Result<()> {
        let s = write_day(&chain, &store, &mut state, day, metered?, &chain_hash, head)?;
        on_day(&s, i + 1, total);
        summaries.push(s);
        Ok(())
    };
    if !overlap {
        let mut day = from;
        for i in 0..total {
            done(i, day, chain.meter(day))?;
            day = add_days(day, 1);
        }
        return Ok(summaries);
    }
    // Metering of the next day runs on its own thread while the chain runs this one; it
    // waits for the chain before metering a third.
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(0);
        let chain_ref = &chain;
        scope.spawn(move || {
            let mut day = from;
            while day <= to {
                if tx.send((day, chain_ref.meter(day))).is_err() {
                    break;
                }
                day = add_days(day, 1);
            }
        });
        for (i, (day, metered)) in rx.iter().enumerate() {
            done(i, day, metered)?;
        }
        Ok(())
    })?;
    Ok(summaries)
}

/// The state day `from` starts from: the opening at the epoch, else the state the day before
/// left when it was kept for the same catalog, accounts and apps, else the chain rerun from
/// the epoch without writing.
fn start_state(chain: &Chain, store: &Store, from: NaiveDate, chain_hash: &str) -> Result<Vec<Account>> {
    if from == chain.epoch {
        return Ok(chain.opening_state());
    }
    let prev = add_days(from, -1);
    if let (Some(m), Some(s)) = (store.manifest(prev)?, store.state(prev)?) {
        if m.chain_hash == chain_hash && s.len() == chain.accounts.len() {
            return Ok(s);
        }
    }
    tracing::warn!(day = %prev, "no usable state for the day before --from: recomputing it from the epoch");
    let mut state = chain.opening_state();
    let mut day = chain.epoch;
    while day < from {
        let metered = chain.meter(day)?;
        chain.advance(&mut state, day, &metered.usage, |_| Ok(()))?;
        day = add_days(day, 1);
    }
    Ok(state)
}

/// `head` is the last day done once this run ends: the day a bill change it makes is reported on.
fn write_day(
    chain: &Chain,
    store: &Store,
    state: &mut [Account],
    day: NaiveDate,
    metered: meter::Metered,
    chain_hash: &str,
    head: NaiveDate,
) -> Result<DaySummary> {
    let cat = &chain.inputs.catalog;
    let werr = |m: String| Error::Write { path: store.out.clone(), msg: m };
    let previous = Previous::load(&store.out, day)?;
    let mut staged = store.stage(day)?;
    let mut s = DaySummary { day, meter: metered.counts, bills: 0, revised_bills: 0, arrears_entered: 0 };
    // Orders of no account sort first; then every chunk of accounts in order.
    let orphans = DayRows { orders: chain.orphan_orders(day), ..DayRows::default() };
    for (ds, b) in output::rows_batches(orphans, cat).map_err(werr)? {
        if ds.name == schemas::ORDERS.name {
            staged.write(ds, &b)?;
        }
    }
    let mut changed = Vec::new();
    let mut issued = BTreeSet::new();
    // The rejects go first, and are freed: a day can reject millions of slices.
    let meter::Metered { usage, rejected, counts } = metered;
    let (ds, b) = output::rejected_batch(rejected).map_err(werr)?;
    staged.write(ds, &b)?;
    drop(b);
    chain.advance(state, day, &usage, |mut rows| {
        changed.extend(revise(&mut rows, &previous, cat, head));
        issued.extend(rows.bills.iter().map(|b| b.bill_id.clone()));
        s.bills += rows.bills.len();
        s.revised_bills += rows.bills.iter().filter(|b| b.revision > 1).count();
        s.arrears_entered += rows.status_events.iter().filter(|e| e.event == "arrears_entered").count();
        for (ds, b) in output::rows_batches(rows, cat).map_err(werr)? {
            staged.write(ds, &b)?;
        }
        Ok(())
    })?;
    let revisions = revision::finish(&previous, changed, &issued, head);
    let (ds, b) = output::revisions_batch(&revisions).map_err(werr)?;
    staged.write(ds, &b)?;
    let (ds, b) = output::usage_daily_batch(&usage, cat).map_err(werr)?;
    staged.write(ds, &b)?;
    let manifest = Manifest {
        day,
        code_version: env!("CARGO_PKG_VERSION").to_string(),
        chain_hash: chain_hash.to_string(),
        window_hash: chain.window_hash(day),
        usage_files: chain.usage_seen(day, store.manifest(day)?.as_ref())?,
        slices_read: counts.raw,
        slices_accepted: counts.accepted,
        slices_rejected: counts.rejected,
        slices_collapsed: counts.collapsed,
        rows_out: staged.rows_out(),
    };
    staged.commit(state, &manifest)?;
    tracing::info!(
        day = %day,
        slices_read = s.meter.raw,
        accepted = s.meter.accepted,
        rejected = s.meter.rejected,
        collapsed = s.meter.collapsed,
        bills = s.bills,
        revised_bills = s.revised_bills,
        arrears_entered = s.arrears_entered,
        "day written"
    );
    Ok(s)
}
