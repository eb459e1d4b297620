//! An append-only log of text lines: what makes overlay changes and scan
//! counts survive a restart.
//!
//! Each record is one line. A crash can leave the last line half-written; it
//! was never acknowledged (appends are acknowledged after `sync`), so reopening
//! cuts it off and reports it. Compaction replaces the whole log atomically:
//! the new contents go to a temporary file, which is synced and renamed over
//! the log, and the rename is synced too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// An open log, positioned for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes in the log.
    len: u64,
    /// Lines in the log.
    lines: u64,
}

/// What reopening a log found.
pub struct Replayed {
    /// Its complete lines, in order, without their newlines.
    pub lines: Vec<String>,
    /// Bytes of a half-written last line that were cut off.
    pub torn: usize,
}

impl Journal {
    /// Opens the log at `path`, creating it (and its directory) if needed,
    /// and returns its complete lines.
    pub fn open(path: &Path) -> io::Result<(Journal, Replayed)> {
        let context = |e: io::Error| context("opening", path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(context)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(context)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(context)?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let torn = bytes.len() - complete;
        if torn > 0 {
            file.set_len(complete as u64).map_err(context)?;
            file.sync_all().map_err(context)?;
        }
        bytes.truncate(complete);
        let text = String::from_utf8(bytes).map_err(|e| {
            context(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            ))
        })?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let journal = Journal {
            path: path.to_owned(),
            file,
            len: complete as u64,
            lines: lines.len() as u64,
        };
        Ok((journal, Replayed { lines, torn }))
    }

    /// Appends `records`, complete lines each ending in a newline. They are
    /// durable only after [`Journal::sync`]. An append that fails (a full
    /// disk) is cut off again, so that the next one does not follow half a
    /// line and leave a bad line inside the log.
    pub fn append(&mut self, records: &[u8]) -> io::Result<()> {
        debug_assert!(records.is_empty() || records.ends_with(b"\n"));
        if let Err(e) = self.file.write_all(records) {
            if let Err(cut) = self.file.set_len(self.len) {
                tracing::error!(
                    "{}: cutting off a failed append: {cut}",
                    self.path.display()
                );
            }
            return Err(context("appending to", &self.path, e));
        }
        self.len += records.len() as u64;
        self.lines += records.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file
            .sync_data()
            .map_err(|e| context("syncing", &self.path, e))
    }

    /// Replaces the whole log with `records`, atomically and durably.
    pub fn replace(&mut self, records: &[u8]) -> io::Result<()> {
        let result = crate::durable::replace(&self.path, |file| file.write_all(records))
            .and_then(|()| OpenOptions::new().append(true).open(&self.path));
        match result {
            Ok(file) => {
                self.file = file;
                self.len = records.len() as u64;
                self.lines = records.iter().filter(|&&b| b == b'\n').count() as u64;
                Ok(())
            }
            Err(e) => Err(context("rewriting", &self.path, e)),
        }
    }

    /// Whether the file at the log's path is still the one this journal
    /// writes to, as long as it wrote it. A log removed, replaced or
    /// truncated under a running server (by a clean-up script, an operator,
    /// a restored backup) would otherwise take appends into a file no
    /// restart can read, or after a hole: its owner then writes the whole
    /// state anew with [`Journal::replace`].
    ///
    /// Cost: two `stat` calls.
    pub fn in_place(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(&self.path), self.file.metadata()) {
            (Ok(at_path), Ok(open)) => {
                at_path.dev() == open.dev() && at_path.ino() == open.ino() && open.len() == self.len
            }
            _ => false,
        }
    }

    /// Bytes in the log.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// Lines in the log.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `e`, saying what was being done to which file.
fn context(doing: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{doing} {}: {e}", path.display()))
}
