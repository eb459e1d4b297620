//! tracescan: scan-lookup engine for product traceability.
pub mod code;
