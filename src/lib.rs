//! tracescan: scan-lookup engine for product traceability.
pub mod build;
pub mod code;
pub mod date;
pub mod index;
pub mod lookup;
pub mod response;
pub mod server;
pub mod snapshot;
pub mod swap;
pub mod synth;
