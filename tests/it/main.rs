//! Integration tests: they run the real `rtcbill` binary on data roots built in the test or
//! kept in `tests/cases/`, and read its Parquet outputs back.

mod chain;
mod clients;
mod common;
mod conformance;
mod focus;
mod inputs;
mod integrity;
mod logs;
mod metering;
mod report;
mod sample;
mod simulate;
mod spark;
mod verify;
