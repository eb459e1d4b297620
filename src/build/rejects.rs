//! The rejects report: one JSON line per line not indexed, naming its file,
//! line, key, reason and detail.
//!
//! Bounded: an entry's key and detail are cut at [`MAX_TEXT`] bytes, and a
//! report with a limit stops the build at the first reject past it, so the
//! report holds at most the limit plus one entries.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::BuildError;
use crate::snapshot::record::Rejection;

/// The longest key or detail written to the report, in bytes.
pub const MAX_TEXT: usize = 512;

/// The rejects report: JSON Lines, created on the first reject.
pub struct RejectLog {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Rejects so far.
    pub count: u64,
    /// More rejects than this stop the build (`--max-rejects`).
    limit: u64,
}

impl RejectLog {
    /// A report at `path`. A stale report from an earlier build is removed at
    /// once, so a report on disk always belongs to the latest build.
    pub fn new(path: PathBuf) -> RejectLog {
        let _ = fs::remove_file(&path);
        RejectLog {
            path,
            out: None,
            count: 0,
            limit: u64::MAX,
        }
    }

    /// Stops the build at the first reject past `limit`.
    pub fn with_limit(mut self, limit: u64) -> RejectLog {
        self.limit = limit;
        self
    }

    /// Reports line `line` of `file` as rejected for `r`.
    pub(super) fn add(&mut self, file: &str, line: u64, r: &Rejection) -> Result<(), BuildError> {
        self.count += 1;
        let report = |error| BuildError::Report {
            path: self.path.clone(),
            error,
        };
        if self.out.is_none() {
            self.out = Some(BufWriter::new(File::create(&self.path).map_err(report)?));
        }
        let entry = serde_json::json!({
            "file": file,
            "line": line,
            "key": r.key.as_deref().map(cut),
            "reason": r.reason.as_str(),
            "detail": cut(&r.detail),
        });
        let out = self.out.as_mut().expect("created above");
        let report = |error| BuildError::Report {
            path: self.path.clone(),
            error,
        };
        writeln!(out, "{entry}").map_err(report)?;
        if self.count > self.limit {
            // The report explains the failure: it must be complete on disk.
            out.flush().map_err(report)?;
            return Err(BuildError::TooManyRejects {
                rejected: self.count,
                max: self.limit,
                report: self.path.clone(),
                at: format!("{file} line {line}"),
            });
        }
        Ok(())
    }

    /// Flushes the report, so that a write error fails the build instead of
    /// being lost when the writer is dropped; returns its path.
    pub(super) fn finish(self) -> Result<PathBuf, BuildError> {
        if let Some(mut out) = self.out {
            out.flush().map_err(|error| BuildError::Report {
                path: self.path.clone(),
                error,
            })?;
        }
        Ok(self.path)
    }
}

/// `text` cut to at most [`MAX_TEXT`] bytes, on a character boundary, with
/// an ellipsis where it was cut.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
