//! Exit statuses, following sysexits(3) where one fits. Every failure prints one line on
//! stderr: `rtcbill: <reason>`, or in JSON log mode one JSON object like the log lines.

use std::process::ExitCode;

use rtcbill_pipeline::Error;

/// EX_USAGE: the command line is wrong.
pub const USAGE: u8 = 64;
/// EX_DATAERR: the input data is bad (the message names the file, column or row).
pub const DATA: u8 = 65;
/// EX_SOFTWARE: an internal error.
pub const SOFTWARE: u8 = 70;
/// EX_IOERR: reading or writing files failed.
pub const IO: u8 = 74;
/// EX_TEMPFAIL: try again later: another run holds the output root's lock, or recycled the
/// snapshot a reading job was reading.
pub const TEMPFAIL: u8 = 75;

/// `rtcbill verify` found violations (listed on stdout).
pub const CHECKS_FAILED: u8 = 1;

/// Violations found by `rtcbill verify`.
#[derive(Debug, thiserror::Error)]
#[error("{0} violation(s) found")]
pub struct ChecksFailed(pub usize);

/// A command-line mistake the parser could not catch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        return USAGE;
    }
    if e.downcast_ref::<ChecksFailed>().is_some() {
        return CHECKS_FAILED;
    }
    match e.downcast_ref::<Error>() {
        Some(e) if e.is_bad_input() => DATA,
        Some(Error::Locked(_) | Error::Recycled(_)) => TEMPFAIL,
        Some(Error::Io { .. } | Error::Write { .. }) => IO,
        _ => SOFTWARE,
    }
}

/// The error and its causes, each once: a cause whose text its parent already shows (an
/// I/O error named with its path) is not repeated.
fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg.replace('\n', " ")
}

/// Writes a line on stderr, if it can be written: a full log disk changes nothing of the
/// job's outcome (`eprintln!` would panic).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Prints the one-line reason (a JSON object in JSON log mode) and returns the status.
pub fn report(e: anyhow::Error, json: bool) -> ExitCode {
    let (msg, status) = (message(&e), code(&e));
    if json {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "fields": { "message": msg, "exit_status": status },
            "target": "rtcbill",
        });
        say(&line.to_string());
    } else {
        say(&format!("rtcbill: {msg}"));
    }
    ExitCode::from(status)
}

/// Writes to stdout. A stdout that is closed or full (a pipe closed early, `>/dev/full`) is
/// said once on stderr and otherwise ignored: the job's work is done and its status stands
/// (cron must not see a published run as failed because its summary could not be printed).
pub fn stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!("stdout cannot be written ({e}): output dropped");
        }
    }
}
