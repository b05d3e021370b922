//! Exit statuses, following sysexits(3) where one fits. Every failure prints one line on
//! stderr: `rtcbill: <reason>`.

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
/// EX_TEMPFAIL: another run holds the output root's lock; try again later.
pub const LOCKED: u8 = 75;

/// A command-line mistake the parser could not catch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        return USAGE;
    }
    match e.downcast_ref::<Error>() {
        Some(e) if e.is_bad_input() => DATA,
        Some(Error::Locked(_)) => LOCKED,
        Some(Error::Io { .. } | Error::Write { .. }) => IO,
        _ => SOFTWARE,
    }
}

/// Prints the one-line reason and returns the matching status.
pub fn report(e: anyhow::Error) -> ExitCode {
    let msg = format!("{e:#}").replace('\n', " ");
    eprintln!("rtcbill: {msg}");
    ExitCode::from(code(&e))
}
