//! The rejects report: one JSON line per line not indexed, naming its file,
//! line, key, reason and detail.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::BuildError;
use crate::snapshot::record::Rejection;

/// The rejects report: JSON Lines, created on the first reject.
pub struct RejectLog {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Rejects so far.
    pub count: u64,
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
        }
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
            "key": r.key,
            "reason": r.reason.as_str(),
            "detail": r.detail,
        });
        let out = self.out.as_mut().expect("created above");
        writeln!(out, "{entry}").map_err(|error| BuildError::Report {
            path: self.path.clone(),
            error,
        })
    }

    /// Flushes the report, so that a write error fails the build instead of
    /// being lost when the writer is dropped.
    pub(super) fn finish(self) -> Result<(), BuildError> {
        if let Some(mut out) = self.out {
            out.flush().map_err(|error| BuildError::Report {
                path: self.path.clone(),
                error,
            })?;
        }
        Ok(())
    }
}
