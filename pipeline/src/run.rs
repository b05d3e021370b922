//! README, Jobs: the chain of billing days shared by the jobs. Each day is metered
//! ([`crate::meter`]: arrow-rs streaming by default, polars as the reference, or read from a
//! metered folder), then every account is run through its window in parallel (rayon), then the
//! day's partitions are written. Days before `from` are run for their state only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::clock::add_days;
use crate::engine::{self, Account, AccountEvents, DayCtx};
use crate::error::{Error, Result};
use crate::input::{Inputs, PackageEventKind};
use crate::meter::{self, MeterCounts, MeterEngine, UsageDaily};
use crate::metered;
use crate::output;
use crate::revision::{self, revise, Previous};
use crate::rows::DayRows;
use crate::store::{self, FileSeen, Manifest, Record, RunRecord, Store};
use crate::vocab::StatusEvent;

/// What one written day did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySummary {
    pub day: NaiveDate,
    pub meter: MeterCounts,
    pub bills: usize,
    /// Bills of the day at revision 2 or more.
    pub revised_bills: usize,
    /// Bills the day held before this run that it no longer issues (`bill_revisions` keeps
    /// them, without a revision replacing them).
    pub withdrawn_bills: usize,
    pub arrears_entered: usize,
}

/// The data root with its per-account events, ready to run any day of the chain.
pub struct Chain {
    /// The catalog, apps and usage files; accounts, transactions and packages live in `events`.
    pub inputs: Inputs,
    pub epoch: NaiveDate,
    accounts: Vec<crate::input::AccountRecord>,
    events: Vec<AccountEvents>,
    orphan_upgrades: Vec<crate::input::PackageEvent>,
    source: Source,
    data: PathBuf,
    /// The days with usage (raw partitions, or metered ones).
    usage_days: BTreeSet<NaiveDate>,
}

/// Where each day's metering comes from (rules.md, Metering either way).
#[derive(Debug, Clone)]
pub enum Source {
    /// Scan `usage/usage_date=D/` with this implementation.
    Raw(MeterEngine),
    /// Read a metered directory (`--metered DIR`, e.g. written by the Spark job).
    Metered(PathBuf),
}

impl Source {
    /// Where the runs read the usage files of the days a reading job checks (`verify`,
    /// `simulate`): a `--metered` folder, or the raw files.
    pub fn of_billed(metered: Option<&Path>) -> Source {
        match metered {
            Some(dir) => Source::Metered(dir.to_path_buf()),
            None => Source::Raw(MeterEngine::Stream),
        }
    }
}

impl Chain {
    pub fn load(data: &Path, source: Source) -> Result<Chain> {
        let mut inputs = Inputs::load(data)?;
        let usage_days: BTreeSet<NaiveDate> = match &source {
            Source::Raw(_) => inputs.usage.keys().copied().collect(),
            Source::Metered(dir) => metered::days(dir)?,
        };
        let epoch = usage_days.first().copied().ok_or_else(|| match &source {
            Source::Raw(_) => Error::Input {
                file: data.join("usage"),
                msg: "no usage_date= partition: nothing to run".into(),
            },
            Source::Metered(dir) => Error::Input {
                file: dir.join("meter_counts"),
                msg: "no billing_date= partition: nothing to run".into(),
            },
        })?;
        let mut accounts = std::mem::take(&mut inputs.accounts);
        accounts.sort_by_key(|a| a.id);
        let index: BTreeMap<i64, usize> =
            accounts.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
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
        // Owners of the packages events name (a year of packages is loaded every night: the
        // others need no look-up).
        let mut owner: FxHashMap<&str, Option<usize>> =
            inputs.package_events.iter().map(|e| (e.package_id.as_str(), None)).collect();
        for p in std::mem::take(&mut inputs.packages) {
            let i = index[&p.account_id];
            if let Some(o) = owner.get_mut(p.package_id.as_str()) {
                *o = Some(i);
            }
            pkgs[i].push(p);
        }
        let mut orphan_upgrades = Vec::new();
        for e in &inputs.package_events {
            match owner[e.package_id.as_str()] {
                Some(i) => pevs[i].push(e),
                None if e.kind == PackageEventKind::Upgrade => orphan_upgrades.push(e.clone()),
                None => {
                    tracing::warn!(event_id = %e.event_id, package_id = %e.package_id, "auto-renew event of an unknown package ignored")
                }
            }
        }
        let events = pkgs
            .into_par_iter()
            .enumerate()
            .map(|(i, pkgs)| {
                AccountEvents::build(
                    &accounts[i],
                    &apps[i],
                    &txns[i],
                    pkgs,
                    &pevs[i],
                    &inputs.catalog,
                )
            })
            .collect();
        // The events hold what the runs need of these: keep one copy.
        drop((apps, txns, pevs, owner));
        inputs.txns = Vec::new();
        inputs.package_events = Vec::new();
        Ok(Chain {
            epoch,
            accounts,
            events,
            orphan_upgrades,
            inputs,
            source,
            data: data.to_path_buf(),
            usage_days,
        })
    }

    /// The last usage day present.
    pub fn last_usage_day(&self) -> NaiveDate {
        *self.usage_days.last().expect("epoch exists")
    }

    /// Fresh state at the epoch: every account at its opening balance.
    pub fn opening_state(&self) -> Vec<Account> {
        self.accounts.iter().map(Account::open).collect()
    }

    /// The same chain under another catalog (`rtcbill simulate`): its only effect on the
    /// events is the time of an app's reclaim after a violation (`reclaim_days`).
    pub fn for_catalog(&self, catalog: crate::catalog::Catalog) -> Chain {
        let reclaim = catalog.reclaim_days * crate::clock::MICROS_PER_DAY;
        let events = self
            .events
            .iter()
            .map(|ev| {
                let mut ev = ev.clone();
                for e in ev.events.iter_mut() {
                    if let engine::EventKind::AppReclaim { violation_at, .. } = e.kind {
                        e.time = violation_at + reclaim;
                    }
                }
                ev.events.sort_by(|a, b| (a.time, a.rank, &a.id).cmp(&(b.time, b.rank, &b.id)));
                ev
            })
            .collect();
        let mut inputs = self.inputs.clone();
        inputs.catalog = catalog;
        Chain {
            inputs,
            epoch: self.epoch,
            accounts: self.accounts.clone(),
            events,
            orphan_upgrades: self.orphan_upgrades.clone(),
            source: self.source.clone(),
            data: self.data.clone(),
            usage_days: self.usage_days.clone(),
        }
    }

    /// Every account's `opening_time`.
    pub fn opening_times(&self) -> BTreeMap<i64, crate::clock::Ts> {
        self.accounts.iter().map(|a| (a.id, a.opening_time)).collect()
    }

    /// The product of every package, by id (from the purchase events).
    pub fn package_products(&self) -> BTreeMap<String, String> {
        let purchases = self.events.iter().flat_map(|ev| ev.events.iter());
        purchases
            .filter_map(|e| match &e.kind {
                engine::EventKind::Purchase(o) => Some((o.package_id.clone(), o.product.clone())),
                _ => None,
            })
            .collect()
    }

    /// Checks that the catalog prices every class on `day`.
    pub(crate) fn check_prices(&self, day: NaiveDate) -> Result<()> {
        let cat = &self.inputs.catalog;
        if cat.payg(0, day).is_none() {
            return Err(Error::Invalid(format!(
                "catalog.toml: no [[payg]] entry in force on {day}"
            )));
        }
        Ok(())
    }

    /// Checks the footer of every raw usage file of days `from..=to`.
    fn check_usage_footers(&self, from: NaiveDate, to: NaiveDate) -> Result<()> {
        if let Source::Raw(_) = self.source {
            for paths in self.inputs.usage.range(from..=to).map(|(_, p)| p) {
                crate::input::usage_files(paths)?;
            }
        }
        Ok(())
    }

    /// Meters billing day `day` (no state needed: days can be metered ahead of the chain).
    pub fn meter(&self, day: NaiveDate) -> Result<meter::Metered> {
        let (apps, cat) = (&self.inputs.apps, &self.inputs.catalog);
        match &self.source {
            Source::Raw(engine) => {
                let paths = self.inputs.usage.get(&day).map(Vec::as_slice).unwrap_or(&[]);
                meter::meter_day(*engine, day, &crate::input::usage_files(paths)?, apps, cat)
            }
            Source::Metered(dir) if self.usage_days.contains(&day) => {
                metered::load(dir, day, apps, cat)
            }
            Source::Metered(_) => Ok(meter::Metered::default()),
        }
    }

    /// Runs one chunk of accounts (`state` with their `events`) through day `day`.
    fn advance_chunk(
        &self,
        state: &mut [Account],
        events: &[AccountEvents],
        day: NaiveDate,
        usage: &[UsageDaily],
    ) -> DayRows {
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
    pub fn advance(
        &self,
        state: &mut [Account],
        day: NaiveDate,
        usage: &[UsageDaily],
        mut each: impl FnMut(DayRows) -> Result<()>,
    ) -> Result<()> {
        self.check_prices(day)?;
        for (st, ev) in state.chunks_mut(CHUNK).zip(self.events.chunks(CHUNK)) {
            each(self.advance_chunk(st, ev, day, usage))?;
        }
        Ok(())
    }

    /// Upgrades of packages `packages` does not hold, in the day's window (rules.md, Upgrades).
    pub fn orphan_orders(&self, day: NaiveDate) -> Vec<crate::rows::OrderRow> {
        let mut v: Vec<_> = self
            .orphan_upgrades
            .iter()
            .filter(|e| self.in_window(day, e.time))
            .map(engine::orphan_upgrade)
            .collect();
        v.sort();
        v
    }

    fn in_window(&self, day: NaiveDate, t: crate::clock::Ts) -> bool {
        let (w_start, w_end) = self.inputs.catalog.zone.window(day);
        t <= w_end && (day == self.epoch || t > w_start)
    }

    /// Hash of what every day depends on: the catalog, the accounts and the apps, as their
    /// bincode encoding.
    pub fn chain_hash(&self) -> String {
        let mut h = blake3::Hasher::new();
        // Streamed into the hasher (at 1M apps the bytes would be tens of MB), in 64 KiB
        // updates (small updates are slow).
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut h);
        let all = (&self.inputs.catalog, &self.accounts, &self.inputs.apps);
        bincode::serde::encode_into_std_write(all, &mut w, bincode::config::standard())
            .expect("hashing does not fail");
        std::io::Write::flush(&mut w).expect("hashing does not fail");
        drop(w);
        h.finalize().to_hex().to_string()
    }

    /// Hash of the events in each day's window (rules.md, Clock), for every day with events: one
    /// pass over the events, whatever the number of days. Each event is hashed as its bincode
    /// encoding (every field, self-delimiting), in account order.
    pub fn window_hashes(&self) -> WindowHashes {
        let zone = self.inputs.catalog.zone;
        // The epoch's window also holds everything before it.
        let day_of = |t: crate::clock::Ts| zone.window_day(t).max(self.epoch);
        let mut hashers: BTreeMap<NaiveDate, blake3::Hasher> = BTreeMap::new();
        // Each day's bytes, in event order, hashed in one update a batch (small updates are
        // slow): the bytes hashed are the same as one event at a time.
        let mut bytes: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
        let mut flush = |bytes: &mut BTreeMap<NaiveDate, Vec<u8>>| {
            for (d, b) in bytes.iter_mut() {
                hashers.entry(*d).or_default().update(b);
                b.clear();
            }
        };
        // A year of events is hashed every night: the accounts of a bounded batch are encoded
        // in parallel, then taken in their order.
        for batch in self.events.chunks(WINDOW_BATCH) {
            let encoded: Vec<_> = batch
                .par_iter()
                .map(|ev| {
                    let (mut buf, mut ends) = (Vec::new(), Vec::new());
                    for e in &ev.events {
                        encode_event(e, &mut buf);
                        ends.push((day_of(e.time), buf.len()));
                    }
                    (buf, ends)
                })
                .collect();
            for (buf, ends) in &encoded {
                let mut from = 0;
                for &(d, to) in ends {
                    bytes.entry(d).or_default().extend_from_slice(&buf[from..to]);
                    from = to;
                }
            }
            flush(&mut bytes);
        }
        for e in &self.orphan_upgrades {
            encode_event(e, bytes.entry(day_of(e.time)).or_default());
        }
        flush(&mut bytes);
        WindowHashes(
            hashers.into_iter().map(|(d, h)| (d, h.finalize().to_hex().to_string())).collect(),
        )
    }

    /// The usage files of a day as seen now (hashing only those whose size or time moved).
    pub fn usage_seen(&self, day: NaiveDate, previous: Option<&Manifest>) -> Result<Vec<FileSeen>> {
        // Paths are recorded relative to their root, so a data root moved or named another
        // way (relative, absolute) is not taken as changed.
        let (root, paths): (&Path, Vec<PathBuf>) = match &self.source {
            Source::Raw(_) => {
                (&self.data, self.inputs.usage.get(&day).cloned().unwrap_or_default())
            }
            Source::Metered(dir) => {
                (dir, metered::files(dir, day)?.into_iter().map(|f| f.1).collect())
            }
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
}

/// Appends an event's bincode encoding to `buf` (what [`Chain::window_hashes`] hashes).
fn encode_event(e: &impl serde::Serialize, buf: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(e, buf, bincode::config::standard())
        .expect("encoding into memory does not fail");
}

/// Accounts whose events [`Chain::window_hashes`] encodes at once.
const WINDOW_BATCH: usize = 4096;

/// The hash of each day's window events ([`Chain::window_hashes`]).
pub struct WindowHashes(BTreeMap<NaiveDate, String>);

impl WindowHashes {
    /// Day `day`'s hash; a window without events hashes as nothing.
    pub fn of(&self, day: NaiveDate) -> String {
        self.0
            .get(&day)
            .cloned()
            .unwrap_or_else(|| blake3::Hasher::new().finalize().to_hex().to_string())
    }
}

/// Why a recorded day cannot be trusted as done.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unsound {
    /// No record: the day was never done (or its record is gone).
    NotDone,
    /// Its record, state or outputs are damaged, missing or foreign.
    Damaged(String),
    /// Its inputs changed since, or the day before it was redone (its start no longer matches).
    Changed(String),
}

/// What the chain of done days looks like to this run.
struct Scan {
    /// The first day from the epoch that is not soundly done, and why.
    first_unsound: Option<(NaiveDate, Unsound)>,
    last_done: Option<NaiveDate>,
}

/// Walks the done days from the epoch, checking each record against what it links to: the
/// inputs, the state the day before left, its own state and output files. Stops at the first
/// day that fails; every day before it is sound.
///
/// The checks of a day that need nothing of the day before (reading its record, the sizes and
/// times of its inputs and files, hashing those that moved) run in parallel over a batch of
/// days, then the batch is walked in order: the verdict is the one a walk day by day gives.
/// Batches grow from 4 days to [`SCAN_BATCH`], so a walk that stops early has checked at most
/// one batch more than it needed.
fn scan(chain: &Chain, store: &Store, chain_hash: &str, windows: &WindowHashes) -> Result<Scan> {
    let last_done = store.done_days()?.last().copied();
    let Some(last) = last_done else { return Ok(Scan { first_unsound: None, last_done }) };
    let mut prev_state: Option<String> = None;
    let mut day = chain.epoch;
    let mut batch = 4;
    while day <= last {
        let days: Vec<NaiveDate> =
            (0..batch).map(|i| add_days(day, i)).take_while(|d| *d <= last).collect();
        let checked: Vec<(Record, Checked)> = days
            .par_iter()
            .map(|d| {
                let record = store.record(*d);
                let own = match &record {
                    Record::Found(m) => check_day(chain, store, m),
                    _ => Checked::default(),
                };
                (record, own)
            })
            .collect();
        for (d, (record, own)) in days.iter().copied().zip(checked) {
            let m = match record {
                Record::Missing => {
                    return Ok(Scan { first_unsound: Some((d, Unsound::NotDone)), last_done })
                }
                Record::Damaged(why) => {
                    return Ok(Scan { first_unsound: Some((d, Unsound::Damaged(why))), last_done })
                }
                Record::Found(m) => m,
            };
            let why = if m.chain_hash != chain_hash {
                Some(Unsound::Changed("the catalog, accounts or apps changed".into()))
            } else if m.start_state != prev_state {
                Some(Unsound::Changed(
                    "the day before was redone: the state it started from is gone".into(),
                ))
            } else if m.window_hash != windows.of(d) {
                Some(Unsound::Changed("events in its window changed".into()))
            } else if !own.usage_same? {
                Some(Unsound::Changed("its usage files changed".into()))
            } else {
                own.damaged.map(Unsound::Damaged)
            };
            if let Some(why) = why {
                return Ok(Scan { first_unsound: Some((d, why)), last_done });
            }
            prev_state = Some(m.state.blake3.clone());
        }
        day = add_days(day, days.len() as i64);
        batch = (batch * 2).min(SCAN_BATCH);
    }
    Ok(Scan { first_unsound: None, last_done })
}

/// rules.md, Choices: the bills a root holds keep their currency. A catalog in another one is
/// bad input (rebilling would relabel every issued bill at the same revision, the amounts
/// unchanged): bill it into a new output root. Read from the bills of the last done days that
/// have any (a damaged file is the chain's business, not this check's).
fn same_currency(store: &Store, currency: &str) -> Result<()> {
    for day in store.done_days()?.iter().rev().take(CURRENCY_DAYS) {
        let Some(f) = crate::partition::file(store.root(), &rtcbill_schemas::BILLS, *day) else {
            continue;
        };
        let Ok(t) = crate::input::Table::load(&f, &rtcbill_schemas::BILLS) else { continue };
        let Some(issued) = t.str("currency").ok().and_then(|c| c.first().cloned()) else {
            continue;
        };
        if issued != currency {
            return Err(Error::Invalid(format!(
                "catalog.toml: currency {currency:?}, but the bills {} holds are in {issued:?}: bill the new currency into a new output root",
                store.out.display()
            )));
        }
        return Ok(());
    }
    Ok(())
}

/// How many done days back [`same_currency`] looks for a bill.
const CURRENCY_DAYS: usize = 62;

/// Most days a run bills after the last usage day (rules.md, Choices: empty usage folders).
const DAYS_PAST_USAGE: i64 = 400;

/// Most days [`scan`] checks at once.
const SCAN_BATCH: i64 = 64;

/// What [`scan`] finds of a day by itself: whether its usage files are the ones recorded (an
/// error reading them is reported only if the walk gets to that check), and the first of its
/// files that is missing or differs.
struct Checked {
    usage_same: Result<bool>,
    damaged: Option<String>,
}

impl Default for Checked {
    fn default() -> Self {
        Checked { usage_same: Ok(true), damaged: None }
    }
}

fn check_day(chain: &Chain, store: &Store, m: &Manifest) -> Checked {
    Checked {
        usage_same: chain.usage_seen(m.day, Some(m)).map(|now| now == m.usage_files),
        damaged: m.outputs.iter().chain([&m.state]).find_map(|f| store.check_file(f).err()),
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
///
/// Every job first checks the chain of done days ([`scan`]): a day that is damaged, or whose
/// inputs or starting state changed, and every day after it, is redone, whatever the plan
/// asked. Nothing is visible to readers until the whole run is published; bad input found
/// during the run drops its work, so the output root stays as it was.
pub fn execute(
    data: &Path,
    out: &Path,
    plan: Plan,
    source: Source,
    overlap: bool,
    on_day: &mut dyn FnMut(&DaySummary, usize, usize),
) -> Result<Vec<DaySummary>> {
    // (outputs in the data root would be read back as input: every dataset folder a stray)
    crate::destination::outside(out, &[(data, "the data root")])?;
    let clock = std::time::Instant::now();
    let chain = Chain::load(data, source)?;
    tracing::debug!(
        secs = clock.elapsed().as_secs_f64(),
        peak_mib = crate::peak_mib(),
        "inputs loaded"
    );
    // The topmost folder of `out` not there yet: what the run made, removed if it forgets.
    let made = out.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).last();
    let bookkept = out.join(store::META).exists();
    let mut store = Store::open(out)?;
    same_currency(&store, &chain.inputs.catalog.currency)?;
    let result = std::thread::scope(|scope| {
        let chain = &chain;
        // An ordinary nightly meters its one new day while the history is checked: metering
        // needs nothing of the history, and the checks leave a core idle much of the time.
        let new_day = ahead_day(chain, &store, plan, overlap);
        let ahead = new_day.map(|day| (day, scope.spawn(move || chain.meter(day))));
        // Its `work/` tree too: the day is the only one it rewrites unless the checks find
        // a day to redo (then the tree is brought up to date again for those days).
        let prepared = new_day
            .and_then(|day| store.preparer((day, day)))
            .map(|p| scope.spawn(move || p.prepare()));
        run_plan(chain, &mut store, plan, overlap, ahead, prepared, on_day)
    });
    // A year of events is freed beside the publication (and not waited for at exit).
    std::thread::spawn(move || drop(chain));
    match result {
        // Nothing to do on a root that had no bookkeeping: it is left as the run found it.
        Ok(s) if s.is_empty() && !bookkept && !store.working() => {
            store.forget(made)?;
            Ok(s)
        }
        Ok(s) => {
            store.publish()?;
            Ok(s)
        }
        Err(e) if e.is_bad_input() => {
            store.discard()?;
            // A root that had no bookkeeping is left as the run found it.
            if !bookkept {
                store.forget(made)?;
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The day an ordinary nightly adds (the day after the last done day is yesterday), metered
/// ahead of the checks of the done days: it is in the plan whatever they find (a restatement
/// starts earlier and ends there too).
fn ahead_day(chain: &Chain, store: &Store, plan: Plan, overlap: bool) -> Option<NaiveDate> {
    let Plan::Nightly { today } = plan else { return None };
    let day = add_days(today, -1);
    let last = store.done_days().ok()?.last().copied();
    (overlap && day > chain.epoch && last == Some(add_days(day, -1))).then_some(day)
}

/// A day metered ahead ([`ahead_day`]), to be taken when the run gets to it.
type Ahead<'s> = Option<(NaiveDate, std::thread::ScopedJoinHandle<'s, Result<meter::Metered>>)>;

/// A `work/` tree made ahead ([`store::Store::preparer`]), to be taken when the run begins.
type Prepared<'s> = Option<std::thread::ScopedJoinHandle<'s, store::Prepared>>;

/// Day `day` metered: the one metered ahead if it is that day, else metered now.
fn metered_day(chain: &Chain, ahead: &mut Ahead, day: NaiveDate) -> Result<meter::Metered> {
    match ahead.take() {
        Some((d, handle)) if d == day => {
            tracing::debug!(%day, "metered ahead of the checks of the done days");
            handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }
        other => {
            *ahead = other;
            chain.meter(day)
        }
    }
}

fn run_plan(
    chain: &Chain,
    store: &mut Store,
    plan: Plan,
    overlap: bool,
    mut ahead: Ahead,
    prepared: Prepared,
    on_day: &mut dyn FnMut(&DaySummary, usize, usize),
) -> Result<Vec<DaySummary>> {
    let clock = std::time::Instant::now();
    let chain_hash = chain.chain_hash();
    let windows = chain.window_hashes();
    tracing::debug!(secs = clock.elapsed().as_secs_f64(), "inputs and window events hashed");
    let clock = std::time::Instant::now();
    let Scan { first_unsound, last_done } = scan(chain, store, &chain_hash, &windows)?;
    tracing::debug!(last_done = ?last_done, secs = clock.elapsed().as_secs_f64(), "done days checked");
    if let Some((day, why)) = &first_unsound {
        match why {
            // A hole in the chain: the record of a day before the last done one is gone.
            Unsound::NotDone if last_done.is_some_and(|l| *day < l) => {
                tracing::warn!(day = %day, "no record of the day though later days are done: the day and every day after it are redone")
            }
            Unsound::NotDone => {}
            Unsound::Damaged(why) => {
                tracing::warn!(day = %day, "{why}: the day and every day after it are redone")
            }
            Unsound::Changed(why) => tracing::info!(day = %day, "{why}: rerunning from it"),
        }
    }
    // A damaged or changed done day heals before anything after it is written.
    let heal = first_unsound.as_ref().filter(|(_, why)| *why != Unsound::NotDone).map(|(d, _)| *d);
    let (asked, to) = match plan {
        Plan::Run { from, to } => {
            (from.unwrap_or(chain.epoch), to.unwrap_or_else(|| chain.last_usage_day()))
        }
        Plan::Backfill { from, to: Some(to) } if to < from => {
            return Err(Error::Invalid(format!("--to {to} is before --from {from}")));
        }
        Plan::Backfill { from, to } => (from, to.unwrap_or(from).max(last_done.unwrap_or(from))),
        Plan::Nightly { today } => {
            let from = first_unsound
                .as_ref()
                .map(|(d, _)| *d)
                .or(last_done.map(|d| add_days(d, 1)))
                .unwrap_or(chain.epoch);
            (from, add_days(today, -1))
        }
    };
    // The days an interrupted run committed report their bill changes (`restated_on`) on its
    // own last day. Taken up by a run that would report on another one (counted from what
    // readers saw), its work is dropped: this run does what it would have done had the
    // interrupted one never run.
    let taken_up = store.taken_up().map(|r| r.head.unwrap_or(r.to));
    if let Some(then) = taken_up {
        let published = store.published_days()?.last().copied();
        let now = published.map_or(to, |l| l.max(to));
        if then != now {
            tracing::info!(then = %then, now = %now, "the interrupted run reported its changes on another day: its work is dropped");
            store.discard()?;
            return run_plan(chain, store, plan, overlap, ahead, prepared, on_day);
        }
    }
    if asked < chain.epoch {
        return Err(Error::Invalid(format!(
            "--from {asked} is before the epoch {} (the earliest usage day)",
            chain.epoch
        )));
    }
    if to < asked {
        if matches!(plan, Plan::Nightly { .. }) {
            if store.working() {
                tracing::info!(last_done = ?last_done, "every day of the interrupted run is sound: publishing it");
            } else {
                tracing::info!(last_done = ?last_done, "nothing to do: every day up to yesterday is done and unchanged");
            }
            return Ok(Vec::new());
        }
        return Err(Error::Invalid(format!("--to {to} is before --from {asked}")));
    }
    // A mistyped date would bill years of empty days, a partition of every dataset each.
    let last_usage = chain.last_usage_day();
    if (to - last_usage).num_days() > DAYS_PAST_USAGE {
        return Err(Error::Invalid(format!(
            "{to} is {} days after the last usage day {last_usage}: a run bills at most \
             {DAYS_PAST_USAGE} days without usage after it (is --today or --to right?)",
            (to - last_usage).num_days()
        )));
    }
    let from = heal.map_or(asked, |h| h.min(asked));
    let to = if heal.is_some_and(|h| h < asked) { to.max(last_done.unwrap_or(to)) } else { to };
    // The day this run's bill changes are reported on (`restated_on`).
    let head = last_done.map_or(to, |l| l.max(to));
    // The days a run computes without writing (a `--from` past a gap) start at the last sound one.
    let sound_until = first_unsound.as_ref().map(|(d, _)| add_days(*d, -1)).or(last_done);
    // The state the day before `from` left is read whole here (the scan trusts sizes and
    // times): one whose bytes differ from its record makes its day unsound too, and the day is
    // redone, its state written again. Worked around instead, the next day's start would not
    // match it, and every later night would restate from there.
    let (mut from, mut start, reading) = (from, None, std::time::Instant::now());
    while from > chain.epoch && sound_until.is_some_and(|s| add_days(from, -1) <= s) {
        let prev = add_days(from, -1);
        if let Record::Found(m) = store.record(prev) {
            if let Some(s) = store.state(&m).filter(|s| s.len() == chain.accounts.len()) {
                start = Some((s, Some(m.state.blake3.clone())));
                break;
            }
        }
        tracing::warn!(day = %prev, "the state this day left is unusable: the day is redone");
        from = prev;
    }
    let reading = reading.elapsed();
    let first_computed =
        from.min(sound_until.map_or(chain.epoch, |d| add_days(d, 1)).max(chain.epoch));
    chain.check_prices(first_computed)?;
    // The footers of every day the run meters, before anything is written: bad usage stops
    // it here, not days in. The done days' are not read (a nightly's cost stays flat).
    chain.check_usage_footers(first_computed, to)?;
    let job = match plan {
        Plan::Run { .. } => "run",
        Plan::Backfill { .. } => "backfill",
        Plan::Nightly { .. } => "nightly",
    };
    // (days the interrupted run taken up wrote are this run's too)
    let first = store.taken_up().map_or(from, |r| r.from.min(from));
    let prepared =
        prepared.map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
    store.begin(&RunRecord { job: job.into(), from: first, to, head: Some(head) }, prepared)?;
    let clock = std::time::Instant::now();
    let (mut state, start_hash) = match start {
        Some(start) => start,
        None => start_state(chain, store, from, sound_until)?,
    };
    tracing::debug!(secs = (reading + clock.elapsed()).as_secs_f64(), "start state read");
    let total = (to - from).num_days() as usize + 1;
    let mut summaries = Vec::with_capacity(total);
    let mut start_hash = start_hash;
    let mut done = |i: usize, day: NaiveDate, metered: Result<meter::Metered>| -> Result<()> {
        let ctx =
            DayWrite { chain, store, chain_hash: &chain_hash, window_hash: windows.of(day), head };
        let (s, end_hash) = run_and_write_day(&ctx, &mut state, day, metered?, start_hash.take())?;
        start_hash = Some(end_hash);
        on_day(&s, i + 1, total);
        summaries.push(s);
        Ok(())
    };
    if !overlap {
        let mut day = from;
        for i in 0..total {
            done(i, day, metered_day(chain, &mut ahead, day))?;
            day = add_days(day, 1);
        }
        return Ok(summaries);
    }
    // Metering of the next day runs on its own thread while the chain runs this one; it
    // waits for the chain before metering a third.
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(0);
        scope.spawn(move || {
            let mut day = from;
            while day <= to {
                if tx.send((day, metered_day(chain, &mut ahead, day))).is_err() {
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

/// The state day `from` starts from, with the hash of the file it came from (none at the
/// epoch, or when computed): the opening at the epoch; else the state the day before left
/// when that day is sound; else the chain run without writing from the last sound day's state
/// (`sound_until`), or from the epoch.
fn start_state(
    chain: &Chain,
    store: &Store,
    from: NaiveDate,
    sound_until: Option<NaiveDate>,
) -> Result<(Vec<Account>, Option<String>)> {
    if from == chain.epoch {
        return Ok((chain.opening_state(), None));
    }
    let prev = add_days(from, -1);
    let base = sound_until.map(|d| d.min(prev)).filter(|d| *d >= chain.epoch);
    let (mut state, mut day) = (chain.opening_state(), chain.epoch);
    if let Some(d) = base {
        if let Record::Found(m) = store.record(d) {
            match store.state(&m).filter(|s| s.len() == chain.accounts.len()) {
                Some(s) if d == prev => return Ok((s, Some(m.state.blake3.clone()))),
                Some(s) => (state, day) = (s, add_days(d, 1)),
                None => {}
            }
        }
    }
    tracing::warn!(from = %day, to = %prev, "no usable state for the day before --from: computing it without writing");
    while day < from {
        let metered = chain.meter(day)?;
        chain.advance(&mut state, day, &metered.usage, |_| Ok(()))?;
        day = add_days(day, 1);
    }
    Ok((state, None))
}

/// What every written day of a run shares.
struct DayWrite<'a> {
    chain: &'a Chain,
    store: &'a Store,
    chain_hash: &'a str,
    window_hash: String,
    /// The last day done once this run ends: the day a bill change it makes is reported on.
    head: NaiveDate,
}

/// Runs day `day` from `state` and writes it into the run's snapshot; returns its summary and
/// the hash of the state it left (the next day's start).
fn run_and_write_day(
    w: &DayWrite,
    state: &mut [Account],
    day: NaiveDate,
    metered: meter::Metered,
    start_state: Option<String>,
) -> Result<(DaySummary, String)> {
    let (chain, store) = (w.chain, w.store);
    let cat = &chain.inputs.catalog;
    if !chain.usage_days.contains(&day) {
        tracing::warn!(day = %day, "no usage file for the day: billed as a day without usage");
    }
    // An amount beyond the contract's decimals came from the inputs: bad input, nothing kept.
    let werr = |e: output::BatchError| match e {
        output::BatchError::OutOfRange(m) => Error::Invalid(format!(
            "{day}: {m}: an input amount (balance, transaction, price) is out of range"
        )),
        output::BatchError::Contract(m) => Error::Write { path: store.out.clone(), msg: m },
    };
    let published = store.published_day(day);
    let previous = Previous::load(|ds| published.file(ds), day)?;
    let mut staged = store.stage(day)?;
    let mut s = DaySummary {
        day,
        meter: metered.counts,
        bills: 0,
        revised_bills: 0,
        withdrawn_bills: 0,
        arrears_entered: 0,
    };
    // Orders of no account sort first; then every chunk of accounts in order.
    let (ds, b) = output::orders_batch(&chain.orphan_orders(day)).map_err(werr)?;
    staged.write(ds, &b)?;
    let mut changed = Vec::new();
    let mut issued = BTreeSet::new();
    let meter::Metered { usage, rejected, counts } = metered;
    let (clock, mut writing) = (std::time::Instant::now(), std::time::Duration::ZERO);
    // The rejects (a day can reject millions of slices) are written, and freed, on their
    // own while the accounts run.
    let rejects_file = staged.file(&rtcbill_schemas::REJECTED_USAGE)?;
    let (rejects, advanced) = rayon::join(
        || -> Result<_> {
            let mut w = rejects_file;
            for part in output::rejected_batches(rejected) {
                w.write(&part.map_err(werr)?.1)?;
                crate::release_freed();
            }
            Ok((w, clock.elapsed()))
        },
        || {
            let run = chain.advance(state, day, &usage, |mut rows| {
                let began = std::time::Instant::now();
                changed.extend(revise(&mut rows, &previous, cat, w.head));
                issued.extend(rows.bills.iter().map(|b| b.bill_id.clone()));
                s.bills += rows.bills.len();
                s.revised_bills += rows.bills.iter().filter(|b| b.revision > 1).count();
                s.arrears_entered += rows
                    .status_events
                    .iter()
                    .filter(|e| e.event == StatusEvent::ArrearsEntered)
                    .count();
                for why in std::mem::take(&mut rows.ignored) {
                    tracing::info!(day = %day, "ignored: {why}");
                }
                staged.write_all(&output::rows_batches(rows, cat).map_err(werr)?)?;
                crate::release_freed();
                writing += began.elapsed();
                Ok(())
            });
            run.map(|()| clock.elapsed())
        },
    );
    let (rejects, rejects_secs) = rejects?;
    // The accounts' own time: the rejects may still be writing when they are done.
    let advanced_secs = advanced?;
    staged.adopt(&rtcbill_schemas::REJECTED_USAGE, rejects);
    tracing::debug!(
        %day,
        rejects_secs = rejects_secs.as_secs_f64(),
        engine_secs = (advanced_secs - writing).as_secs_f64(),
        writing_secs = writing.as_secs_f64(),
        peak_mib = crate::peak_mib(),
        "rejects written beside the accounts run and written"
    );
    let clock = std::time::Instant::now();
    s.withdrawn_bills = previous.withdrawn_count(&issued);
    let revisions = revision::finish(&previous, changed, &issued, w.head);
    staged.write_all(&[
        output::revisions_batch(&revisions).map_err(werr)?,
        output::usage_daily_batch(&usage, cat).map_err(werr)?,
    ])?;
    let seen_before = match store.record(day) {
        Record::Found(m) => Some(m),
        _ => None,
    };
    let manifest = Manifest {
        format: store::RECORD_FORMAT,
        day,
        code_version: env!("CARGO_PKG_VERSION").to_string(),
        chain_hash: w.chain_hash.to_string(),
        window_hash: w.window_hash.clone(),
        usage_files: chain.usage_seen(day, seen_before.as_deref())?,
        start_state,
        state: FileSeen { path: String::new(), size: 0, modified_ns: 0, blake3: String::new() },
        outputs: Vec::new(),
        slices_read: counts.raw,
        slices_accepted: counts.accepted,
        slices_rejected: counts.rejected,
        slices_collapsed: counts.collapsed,
        rows_out: staged.rows_out(),
    };
    let end_state = staged.commit(state, manifest)?;
    tracing::debug!(%day, secs = clock.elapsed().as_secs_f64(),
        peak_mib = crate::peak_mib(), "usage written and day committed");
    tracing::info!(
        day = %day,
        slices_read = s.meter.raw,
        accepted = s.meter.accepted,
        rejected = s.meter.rejected,
        collapsed = s.meter.collapsed,
        bills = s.bills,
        revised_bills = s.revised_bills,
        withdrawn_bills = s.withdrawn_bills,
        arrears_entered = s.arrears_entered,
        "day written"
    );
    Ok((s, end_state))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window hashes are those of each event's encoding hashed one at a time, in account
    /// order (the records of done days hold them: batching must not move a byte).
    #[test]
    fn window_hashes_hash_each_days_events_in_account_order() {
        let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sample-data"));
        let chain = Chain::load(data, Source::Raw(meter::MeterEngine::Stream)).unwrap();
        let zone = chain.inputs.catalog.zone;
        let mut want: BTreeMap<NaiveDate, blake3::Hasher> = BTreeMap::new();
        fn encoded(e: &impl serde::Serialize) -> Vec<u8> {
            bincode::serde::encode_to_vec(e, bincode::config::standard()).unwrap()
        }
        let events =
            chain.events.iter().flat_map(|ev| ev.events.iter().map(|e| (e.time, encoded(e))));
        let orphans = chain.orphan_upgrades.iter().map(|e| (e.time, encoded(e)));
        for (t, bytes) in events.chain(orphans) {
            let day = zone.window_day(t).max(chain.epoch);
            want.entry(day).or_default().update(&bytes);
        }
        assert!(want.len() > 20, "the sample has events on many days");
        let got = chain.window_hashes();
        assert_eq!(got.0.len(), want.len());
        for (d, h) in want {
            assert_eq!(got.of(d), h.finalize().to_hex().to_string(), "{d}");
        }
    }
}
