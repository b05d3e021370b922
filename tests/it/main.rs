//! Integration tests: they run the real `rtcbill` binary on data roots built in the test or
//! shipped beside the project (`../shared/conformance`), and read its Parquet outputs back.

mod common;
mod chain;
mod clients;
mod conformance;
mod focus;
mod inputs;
mod logs;
mod metering;
mod sample;
mod spark;
