//! `rtcbill`: the scheduled jobs of the metering and invoicing pipeline (SPEC §8).
//! Each subcommand is a job; the work lives in `rtcbill-pipeline`.

mod exit;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use rtcbill_pipeline::generate::GenerateOptions;
use rtcbill_pipeline::run::{run, RunOptions};

#[derive(Parser)]
#[command(name = "rtcbill", version, about = "Batch metering and invoicing for a real-time audio/video service")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    job: Job,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Job {
    /// Run billing days in order, each from the state the previous day left (SPEC §8).
    Run {
        /// Data root (SPEC §6).
        #[arg(long, default_value = "sample-data")]
        data: PathBuf,
        /// Output root (SPEC §7).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// First day to write (default: the epoch, the earliest usage day).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day to run (default: the latest usage day).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Print the data contract: every dataset, or one, as a data dictionary.
    Schema {
        /// A dataset name (accounts, usage, bills, ...).
        dataset: Option<String>,
    },
    /// Write a deterministic synthetic data root (the generator of `sample-data/`).
    Generate(GenerateArgs),
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Random seed: the same seed and options give the same files.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Data root to write.
    #[arg(long, default_value = "sample-data")]
    out: PathBuf,
    /// First usage day (the epoch).
    #[arg(long, default_value = "2026-09-01")]
    start: NaiveDate,
    /// Number of usage days.
    #[arg(long, default_value_t = 62)]
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
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RTCBILL_LOG").unwrap_or_else(|_| "info".into());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.with_target(false).init(),
        LogFormat::Json => b.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let result = match cli.job {
        Job::Run { data, out, from, to } => run(&RunOptions { data, out, from, to }).map(|_| ()).map_err(Into::into),
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
        })
        .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(e),
    }
}

fn schema(name: Option<&str>) -> anyhow::Result<()> {
    match name {
        None => {
            for d in rtcbill_schemas::all() {
                println!("{}", d.dictionary());
            }
            Ok(())
        }
        Some(n) => match rtcbill_schemas::by_name(n) {
            Some(d) => {
                print!("{}", d.dictionary());
                Ok(())
            }
            None => {
                let names: Vec<_> = rtcbill_schemas::all().iter().map(|d| d.name).collect();
                Err(exit::UsageError(format!("no dataset {n:?}; datasets: {}", names.join(", "))).into())
            }
        },
    }
}
