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
//!   every `unsafe` access; [`index::write`] publishes a file (its pages
//!   readied ahead of it, [`index::ahead`]); [`index::Index`]
//!   opens and verifies one and answers key lookups.
//! - [`lookup`]: a parsed code resolved item → batch → product under the
//!   changes in force, the item's scan counted, every warning made.
//! - [`live`]: what changes while an index serves: status changes on top of
//!   it and scan counts, kept in append-only logs.
//! - [`resolver`]: tracescan as a GS1 Digital Link resolver: record links
//!   validated, each level's linkset pre-rendered at build time, the link a
//!   request goes to chosen.
//! - [`render`]: the bytes of an answer (the JSON answer, assembled around
//!   pre-rendered records; the one error-body writer).
//! - [`service`]: the generation in service, the live state and the
//!   settings; one scan taken through parse → resolve → count → render.
//! - [`remote`]: indexes in object storage: an index published to a bucket
//!   (uploaded, then a pointer to it), and a replica that follows the
//!   pointer, downloading each new index into the directory [`swap`] watches.
//! - [`swap`]: the newest index of a directory, swapped in without downtime.
//! - [`fleet`]: a fleet's live state shared in Redis: status changes set on
//!   any replica in force on all, scan counts summed over the replicas.
//! - [`http`]: the HTTP front (transport, routes, the error → status
//!   mapping, metrics, the admin API).
//! - [`serve`]: the `serve` command's wiring, one `start` for the binary and
//!   the tests.
//!
//! Dependencies run one way: `http` → `service` → `lookup`, `render`, `live`,
//! `index` → `code`; `swap` → `service`; `remote` → `swap`, `service`,
//! `index`; `fleet` → `service`, `live`; nothing imports `http` but
//! `serve`, and `http` knows nothing of `remote`.
//!
//! Beside the pipeline: [`date`] (the calendar), [`durable`] (whole files
//! replaced atomically), [`log`] (log lines, JSON or text, never forged by
//! input), [`synth`] (synthetic snapshots for tests, benches and load tests).
pub mod build;
pub mod code;
pub mod date;
pub mod durable;
pub mod fleet;
pub mod http;
pub mod index;
pub mod live;
pub mod log;
pub mod lookup;
pub mod remote;
pub mod render;
pub mod resolver;
pub mod serve;
pub mod service;
pub mod snapshot;
pub mod swap;
pub mod synth;
