//! `rtcbill`: the scheduled jobs of the metering and invoicing pipeline (README, Jobs).
//! Each subcommand is a job; the work lives in `rtcbill-pipeline`.

/// `print!` to stdout through [`exit::stdout`]: a stdout that cannot be written does not fail
/// the job (nor panic it).
macro_rules! out {
    ($($t:tt)*) => { crate::exit::stdout(format_args!($($t)*)) };
}
macro_rules! outln {
    ($($t:tt)*) => { crate::exit::stdout(format_args!("{}\n", format_args!($($t)*))) };
}

mod exit;
mod summary;

/// mimalloc returns freed memory to the system where glibc's allocator keeps it: at 100M
/// slices a day it lowered the peak RSS of a run (README, Performance).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's own call (in the library `mimalloc` links): with `force`, frees the pages it
    /// holds for reuse and returns them to the system.
    fn mi_collect(force: bool);
}

fn release_freed() {
    // SAFETY: a plain call into the allocator in use, with no pointer passed.
    unsafe { mi_collect(true) }
}

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use rtcbill_pipeline::generate::GenerateOptions;
use rtcbill_pipeline::meter::MeterEngine;
use rtcbill_pipeline::run::{execute, Plan, Source};

#[derive(Parser)]
#[command(
    name = "rtcbill",
    version,
    about = "Batch metering and invoicing for a real-time audio/video service"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Metering implementation: `stream` (default) or `polars` (the reference, for small days).
    #[arg(long, value_enum, default_value_t = Meter::Stream, global = true)]
    meter: Meter,
    /// Read metering from DIR (usage_daily, rejected_usage, meter_counts by billing_date, as
    /// jobs/spark/meter.py writes them) instead of scanning raw usage.
    #[arg(long, global = true, value_name = "DIR")]
    metered: Option<PathBuf>,
    /// Meter each day only once the day before is written (by default the next day is
    /// metered meanwhile): a lower peak memory for very large days, slower chains.
    #[arg(long, global = true)]
    no_overlap: bool,
    /// No summary after `run`, `backfill` or `nightly` (stdout, or one JSON log line).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    job: Job,
}

#[derive(Clone, Copy, ValueEnum)]
enum Meter {
    Stream,
    Polars,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Job {
    /// Run billing days in order, each from the state the previous day left (README, Jobs).
    Run {
        /// Data root (rules.md, Inputs).
        #[arg(long, default_value = "sample-data")]
        data: PathBuf,
        /// Output root (rules.md, Outputs).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// First day to write (default: the epoch, the earliest usage day).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day to run (default: the latest usage day).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Rerun days from --from (to --to) and every later day already done, so the chain of
    /// state stays whole (README, Jobs).
    Backfill {
        #[arg(long, default_value = "sample-data")]
        data: PathBuf,
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// First day to rerun.
        #[arg(long)]
        from: NaiveDate,
        /// Last day to rerun at least (later done days are rerun too).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// The cron entry: rerun done days whose inputs changed, then every day up to yesterday
    /// in the billing zone (README, Jobs).
    Nightly {
        #[arg(long, default_value = "sample-data")]
        data: PathBuf,
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Today in the billing zone (default: the clock's); days up to the day before run.
        #[arg(long)]
        today: Option<NaiveDate>,
    },
    /// Draw the outputs as one self-contained HTML page: headline numbers, revenue, minutes,
    /// packages, arrears, data quality and restatements (README, Report).
    Report {
        #[command(flatten)]
        days: Published,
        /// The page to write.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
        /// Leave out the verification section (it runs `rtcbill verify`, which hashes the data
        /// root's usage files): the page is then made from the outputs alone.
        #[arg(long)]
        no_verify: bool,
    },
    /// Prove a range of outputs against their inputs and the ledger's invariants (README,
    /// Verify): exit 0 when every check holds, 1 with one line per violation otherwise.
    Verify {
        #[command(flatten)]
        days: Published,
        /// One JSON object per violation (and a last one with the counts per check).
        #[arg(long)]
        json: bool,
    },
    /// Replay published days under candidate catalogs and compare with what was billed
    /// (README, Simulate). Writes nothing to the outputs or the data root.
    Simulate {
        /// A candidate catalog.toml (repeat for several; each is named after its file).
        #[arg(long = "catalog", required = true, value_name = "CANDIDATE.toml")]
        catalogs: Vec<PathBuf>,
        #[command(flatten)]
        days: Published,
        /// Folder for the results: one folder per candidate.
        #[arg(long)]
        out: PathBuf,
        /// Also draw the baseline beside each candidate as one self-contained HTML page.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Print the data contract: every dataset, or one, as a data dictionary.
    Schema {
        /// A dataset name (accounts, usage, bills, ...).
        dataset: Option<String>,
    },
    /// Write a deterministic synthetic data root (the generator of `sample-data/`).
    Generate(GenerateArgs),
    /// Export outputs for other tools.
    Export {
        #[command(subcommand)]
        format: Export,
    },
}

/// The published days a reading job works on (`report`, `verify`, `simulate`).
#[derive(clap::Args)]
struct Published {
    /// Output root (its published snapshot is read; no lock is taken).
    #[arg(long, default_value = "out")]
    outputs: PathBuf,
    /// Data root the outputs were billed from.
    #[arg(long, default_value = "sample-data")]
    data: PathBuf,
    /// First billing day (default: the first done day).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last billing day (default: the last done day).
    #[arg(long)]
    to: Option<NaiveDate>,
}

impl Published {
    /// The range asked for, refused as a usage error when it is backwards.
    fn checked(self) -> anyhow::Result<Published> {
        forwards(self.from, self.to)?;
        Ok(self)
    }
}

/// A range of days given backwards is a bad command line (64), whatever the job.
fn forwards(from: Option<NaiveDate>, to: Option<NaiveDate>) -> anyhow::Result<()> {
    match (from, to) {
        (Some(f), Some(t)) if t < f => {
            Err(exit::UsageError(format!("--to {t} is before --from {f}")).into())
        }
        _ => Ok(()),
    }
}

#[derive(Subcommand)]
enum Export {
    /// A month's charges as a FOCUS 1.2 Cost and Usage dataset (one Parquet file).
    Focus {
        /// The month, YYYY-MM (billing zone).
        #[arg(long, value_parser = parse_month)]
        month: NaiveDate,
        /// File to write (default: focus-YYYY-MM.parquet).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Data root the month was run from (catalog, accounts, packages).
        #[arg(long, default_value = "sample-data")]
        data: PathBuf,
        /// Output root of the runs.
        #[arg(long, default_value = "out")]
        outputs: PathBuf,
        /// ProviderName, PublisherName and InvoiceIssuerName.
        #[arg(long, default_value = "rtcbill")]
        provider: String,
    },
}

fn parse_month(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a month YYYY-MM"))
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Random seed: the same seed and options give the same files.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Data root to write.
    #[arg(long, default_value = "sample-data")]
    out: PathBuf,
    /// First usage day (the epoch; the days lie from 2020-01-01 to 9998-12-31).
    #[arg(long, default_value = "2026-09-01")]
    start: NaiveDate,
    /// Number of usage days (at least 1).
    #[arg(long, default_value_t = 62, value_parser = clap::value_parser!(u32).range(1..))]
    days: u32,
    /// Random background accounts besides the scenario accounts.
    #[arg(long, default_value_t = 24)]
    accounts: u32,
    /// Most apps per background account.
    #[arg(long, default_value_t = 3)]
    max_apps: u32,
    /// Mean usage slices per app and day.
    #[arg(long, default_value_t = 40)]
    slices_per_app_day: u32,
    /// Most rows per usage file.
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_file: usize,
    /// Leave out the scenario accounts and the bad usage rows (volume only).
    #[arg(long)]
    no_scenarios: bool,
    /// Background slices followed by a duplicate or bad row, per thousand.
    #[arg(long, default_value_t = 0)]
    dirty_per_mille: u32,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RTCBILL_LOG")
        .unwrap_or_else(|_| "info".into());
    // Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // A log that cannot be written (a full disk under cron's `2>>`) must not stop the job:
    // tracing would say so with `eprintln!`, which panics on that same stderr.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_ansi(colour);
    match format {
        LogFormat::Text => b.with_target(false).init(),
        LogFormat::Json => b.json().init(),
    }
}

fn main() -> ExitCode {
    // A bad command line exits 64 (EX_USAGE), not clap's 2; --help and --version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    init_logs(cli.log_format);
    let _ = rtcbill_pipeline::RELEASE_FREED.set(release_freed);
    let meter = match (cli.metered, cli.meter) {
        (Some(dir), _) => Source::Metered(dir),
        (None, Meter::Stream) => Source::Raw(MeterEngine::Stream),
        (None, Meter::Polars) => Source::Raw(MeterEngine::Polars),
    };
    let json = matches!(cli.log_format, LogFormat::Json);
    let say = Say { quiet: cli.quiet, json };
    let overlap = !cli.no_overlap;
    let result = match cli.job {
        Job::Run { data, out, from, to } => forwards(from, to)
            .and_then(|()| chain(&data, &out, Plan::Run { from, to }, meter.clone(), overlap, say)),
        Job::Backfill { data, out, from, to } => forwards(Some(from), to).and_then(|()| {
            chain(&data, &out, Plan::Backfill { from, to }, meter.clone(), overlap, say)
        }),
        Job::Nightly { data, out, today } => {
            match today.map(Ok).unwrap_or_else(|| today_in_zone(&data)) {
                Ok(today) => chain(&data, &out, Plan::Nightly { today }, meter, overlap, say),
                Err(e) => Err(e),
            }
        }
        Job::Report { days: d, out, no_verify } => d.checked().and_then(|d| {
            report(d.outputs, d.data, metered(&meter), d.from, d.to, &out, !no_verify)
        }),
        Job::Verify { days: d, json } => d.checked().and_then(|d| {
            verify(&d.data, &d.outputs, metered(&meter).as_deref(), d.from, d.to, json)
        }),
        Job::Simulate { catalogs, days: d, out, report } => d.checked().and_then(|d| {
            simulate(&d, metered(&meter).as_deref(), &catalogs, &out, report.as_deref())
        }),
        Job::Schema { dataset } => schema(dataset.as_deref()),
        Job::Generate(g) => rtcbill_pipeline::generate::generate(&GenerateOptions {
            seed: g.seed,
            out: g.out,
            start: g.start,
            days: g.days,
            accounts: g.accounts,
            max_apps: g.max_apps,
            slices_per_app_day: g.slices_per_app_day,
            rows_per_file: g.rows_per_file,
            scenarios: !g.no_scenarios,
            dirty_per_mille: g.dirty_per_mille,
        })
        .map_err(Into::into),
        Job::Export { format: Export::Focus { month, out, data, outputs, provider } } => {
            let dest = out.unwrap_or_else(|| {
                PathBuf::from(format!("focus-{}.parquet", month.format("%Y-%m")))
            });
            rtcbill_pipeline::focus::export(&data, &outputs, month, &provider, &dest)
                .map(|s| {
                    tracing::info!(
                        file = %dest.display(), days = s.days, usage = s.usage, purchases = s.purchases,
                        roundings = s.roundings, corrections = s.corrections, billed = %s.billed,
                        "FOCUS export written"
                    );
                })
                .map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(e, json),
    }
}

/// How a job speaks to a person when it is done.
#[derive(Clone, Copy)]
struct Say {
    quiet: bool,
    json: bool,
}

/// Runs a plan of days, with a progress bar when stderr is a terminal (log lines otherwise),
/// then prints its summary.
fn chain(
    data: &Path,
    out: &Path,
    plan: Plan,
    source: Source,
    overlap: bool,
    say: Say,
) -> anyhow::Result<()> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} days {msg} ({eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.set_prefix("rtcbill");
        b
    });
    let mut on_day = |s: &rtcbill_pipeline::run::DaySummary, i: usize, n: usize| {
        if let Some(b) = &bar {
            b.set_length(n as u64);
            b.set_position(i as u64);
            b.set_message(s.day.to_string());
        }
    };
    let result = execute(data, out, plan, source, overlap, &mut on_day);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let days = result?;
    // A root with nothing published (a nightly with nothing to do on a new root) has no summary.
    let published = out.join(rtcbill_pipeline::store::META).exists();
    if !say.quiet && published {
        summary::print(data, out, &days, say.json)?;
    }
    Ok(())
}

/// The `--metered` folder, if the days were metered from one (verify reads where runs read).
fn metered(source: &Source) -> Option<PathBuf> {
    match source {
        Source::Metered(dir) => Some(dir.clone()),
        Source::Raw(_) => None,
    }
}

/// `rtcbill report`: writes the page and says where.
fn report(
    outputs: PathBuf,
    data: PathBuf,
    metered: Option<PathBuf>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    dest: &Path,
    verify: bool,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let opts = rtcbill_pipeline::report::Options { outputs, data, metered, from, to, verify };
    let r = rtcbill_pipeline::report::write(&opts, dest)?;
    tracing::info!(
        file = %dest.display(), from = %r.from, to = %r.to, days = r.days.len(), bills = r.bills(),
        billed = %r.billed(), seconds = started.elapsed().as_secs_f64(), "report written"
    );
    Ok(())
}

/// Runs the checks; violations make the status 1 (exit::CHECKS_FAILED).
fn verify(
    data: &Path,
    out: &Path,
    metered: Option<&Path>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let outcome = rtcbill_pipeline::verify::verify(data, out, metered, from, to)?;
    for v in &outcome.violations {
        if json {
            outln!("{}", serde_json::to_string(v)?);
        } else {
            outln!("{v}");
        }
    }
    let per_check = outcome.per_check();
    if json {
        let counts: serde_json::Map<String, serde_json::Value> =
            per_check.iter().map(|(c, n)| (c.as_str().to_string(), (*n).into())).collect();
        outln!(
            "{}",
            serde_json::json!({ "days": outcome.days, "violations": outcome.violations.len(), "per_check": counts })
        );
    } else {
        for (c, n) in &per_check {
            outln!(
                "{:<20} {}",
                c.as_str(),
                if *n == 0 { "ok".to_string() } else { format!("{n} violation(s)") }
            );
        }
        outln!(
            "{} days verified in {:.2} s: {}",
            outcome.days,
            started.elapsed().as_secs_f64(),
            if outcome.violations.is_empty() { "every check holds" } else { "CHECKS FAILED" }
        );
    }
    if outcome.violations.is_empty() {
        Ok(())
    } else {
        Err(exit::ChecksFailed(outcome.violations.len()).into())
    }
}

/// Loads the candidates, replays, prints the summary table.
fn simulate(
    d: &Published,
    metered: Option<&Path>,
    catalogs: &[PathBuf],
    out: &Path,
    report: Option<&Path>,
) -> anyhow::Result<()> {
    let (data, outputs, from, to) = (&d.data, &d.outputs, d.from, d.to);
    if let Some(file) = report {
        // (README, Simulate: nothing under --outputs or --data)
        rtcbill_pipeline::destination::outside(
            file,
            &[(outputs, "the outputs"), (data, "the data root")],
        )?;
    }
    use rtcbill_pipeline::simulate::Candidate;
    let mut candidates = Vec::new();
    for path in catalogs {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("candidate").to_string();
        if candidates.iter().any(|c: &Candidate| c.name == name) {
            return Err(exit::UsageError(format!(
                "two candidates named {name:?}: give the files different names"
            ))
            .into());
        }
        candidates.push(Candidate { name, catalog: rtcbill_pipeline::catalog_file::load(path)? });
    }
    let currency = candidates.first().map(|c| c.catalog.currency.clone()).unwrap_or_default();
    let started = std::time::Instant::now();
    let (summaries, (first, last)) =
        rtcbill_pipeline::simulate::simulate(data, outputs, metered, candidates, from, to, out)?;
    outln!(
        "{} days replayed ({first}..{last}) in {:.2} s; results under {}",
        (last - first).num_days() + 1,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    let pct = |b: rust_decimal::Decimal, s: rust_decimal::Decimal| {
        if b.is_zero() {
            "-".to_string()
        } else {
            format!("{:+.2}%", (s - b) / b * rust_decimal::Decimal::from(100))
        }
    };
    outln!(
        "{:<24} {:>14} {:>14} {:>12} {:>9} {:>14} {:>14} {:>11} {:>11} {:>13} {:>13}",
        "candidate",
        "billed base",
        "billed sim",
        "delta",
        "delta %",
        "packages base",
        "packages sim",
        "billed more",
        "billed less",
        "newly susp.",
        "no longer s."
    );
    for s in summaries.iter().map(|w| &w.summary) {
        outln!(
            "{:<24} {:>14} {:>14} {:>+12} {:>9} {:>14} {:>14} {:>11} {:>11} {:>13} {:>13}",
            s.name,
            s.billed_baseline,
            s.billed_simulated,
            s.billed_simulated - s.billed_baseline,
            pct(s.billed_baseline, s.billed_simulated),
            s.packages_baseline,
            s.packages_simulated,
            s.billed_more,
            s.billed_less,
            s.newly_suspended,
            s.no_longer_suspended
        );
        if s.renewals_fail + s.renewals_succeed > 0 {
            outln!(
                "{:<24} renewals that would fail: {}, that would succeed: {}",
                "",
                s.renewals_fail,
                s.renewals_succeed
            );
        }
    }
    if let Some(file) = report {
        let page = rtcbill_pipeline::report::whatif::page((first, last), &currency, &summaries)
            .map_err(|msg| anyhow::anyhow!("drawing {}: {msg}", file.display()))?;
        rtcbill_pipeline::destination::write_whole(file, |tmp| {
            std::fs::write(tmp, page).map_err(|e| rtcbill_pipeline::Error::io(file, e))
        })?;
        outln!("what-if report: {}", file.display());
    }
    Ok(())
}

/// Today's date in the data root's billing zone.
fn today_in_zone(data: &Path) -> anyhow::Result<NaiveDate> {
    let cat = rtcbill_pipeline::catalog_file::load(&data.join("catalog.toml"))?;
    let now = chrono::Utc::now().timestamp_micros();
    Ok(cat.zone.day_of(now))
}

fn schema(name: Option<&str>) -> anyhow::Result<()> {
    match name {
        None => {
            for d in rtcbill_schemas::all() {
                outln!("{}", d.dictionary());
            }
            Ok(())
        }
        Some(n) => match rtcbill_schemas::by_name(n) {
            Some(d) => {
                out!("{}", d.dictionary());
                Ok(())
            }
            None => {
                let names: Vec<_> = rtcbill_schemas::all().iter().map(|d| d.name).collect();
                Err(exit::UsageError(format!("no dataset {n:?}; datasets: {}", names.join(", ")))
                    .into())
            }
        },
    }
}
