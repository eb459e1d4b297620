//! tracescan: a scan-lookup engine for product traceability.
//!
//! Codemap, in the order data flows:
//!
//! - [`code`]: the raw text of a scan turned into a typed code (GTIN, GS1
//!   element string, Digital Link, stamp). Pure: no I/O, no index.
//! - [`snapshot`]: a snapshot export read line by line, each line judged on its
//!   own ([`snapshot::record`]).
//! - [`build`]: the whole snapshot checked across records (duplicates,
//!   references) and turned into an index payload; the rejects report.
//! - [`index`]: the index file. [`index::format`] owns the bytes on disk and
//!   every `unsafe` access; [`index::write`] publishes a file; [`index::Index`]
//!   opens and verifies one and answers key lookups.
//! - [`lookup`]: a parsed code resolved item → batch → product, with warnings.
//! - [`live`]: what changes while an index serves: status changes on top of
//!   it and scan counts, kept in append-only logs.
//! - [`response`]: the JSON answer, assembled around pre-rendered records.
//! - [`server`]: the HTTP front; [`admin`]: its admin API; [`swap`]: the
//!   newest index of a directory, swapped in without downtime.
//!
//! Beside the pipeline: [`date`] (the calendar), [`durable`] (whole files
//! replaced atomically), [`synth`] (synthetic snapshots for tests, benches and
//! load tests).
pub mod admin;
pub mod build;
pub mod code;
pub mod date;
pub mod durable;
pub mod index;
pub mod live;
pub mod lookup;
pub mod response;
pub mod server;
pub mod snapshot;
pub mod swap;
pub mod synth;
