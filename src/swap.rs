//! Hot swap: serving the newest index of a directory, replaced without
//! downtime when `tracescan build` publishes another.
//!
//! `tracescan build --out DIR/NAME.tsidx` publishes by rename, so a file named
//! `*.tsidx` is always complete (temporary files start with a dot and are never
//! looked at). The newest by modification time, then name, is served. A new
//! file is opened and fully verified before it is swapped in; one that fails
//! is refused, logged and counted, and the index in service keeps serving.
//! Each file is tried once: a refused file is not retried until a newer one
//! appears.
//!
//! Retention: after a swap, the `keep` newest published files are kept, and
//! always the one served and the one before it (the rollback target); older
//! ones are deleted. A file in use by a process is only unlinked: its mapping
//! stays valid until the last request on it ends.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::index::Index;
use crate::service::Service;

/// What a check of the directory did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing newer than what was already tried.
    Unchanged,
    /// A newer index is served, as `generation`.
    Swapped { generation: u64, path: PathBuf },
    /// A newer file failed verification; the index in service is kept.
    Refused { path: PathBuf, error: String },
}

/// Why a check or a rollback could not be done (a refused index is an
/// [`Outcome`], not an error: the index in service keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("reading the index directory {dir}: {source}")]
    Dir { dir: PathBuf, source: io::Error },
    #[error("retention: removing {path}: {source}")]
    Retain { path: PathBuf, source: io::Error },
    #[error("there is no earlier index to roll back to")]
    NoEarlier,
    #[error("the reloader is unavailable")]
    Poisoned,
}

/// Watches one index directory for one service.
pub struct Reloader {
    service: Arc<Service>,
    dir: PathBuf,
    /// How many published files to keep (besides the served and previous).
    keep: usize,
    /// The newest file already tried, served or refused.
    tried: Option<(SystemTime, PathBuf)>,
    /// Files served, in order, for rollback.
    served: Vec<PathBuf>,
}

impl Reloader {
    pub fn new(service: Arc<Service>, dir: &Path, keep: usize) -> Reloader {
        Reloader {
            service,
            dir: dir.to_owned(),
            // The one served is always kept, whatever was asked.
            keep: keep.max(1),
            tried: None,
            served: Vec::new(),
        }
    }

    /// Swaps in the newest published index if it is newer than any tried.
    ///
    /// Cost: a directory listing; a full verification of a new file (about
    /// 0.1 s per million records) before it serves.
    pub fn check(&mut self) -> Result<Outcome, SwapError> {
        let Some(newest) = self.published()?.pop() else {
            return Ok(Outcome::Unchanged);
        };
        if self.tried.as_ref() == Some(&newest) {
            return Ok(Outcome::Unchanged);
        }
        self.tried = Some(newest.clone());
        let outcome = self.serve(&newest.1);
        if let Outcome::Swapped { .. } = outcome
            && let Err(e) = self.retain()
        {
            // The swap happened, and is what the caller asked about: a file
            // that could not be removed (a read-only or failing disk) stays,
            // is counted, and is tried again after the next swap.
            self.service
                .retention_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!("{e}; the file stays until a later swap removes it");
        }
        Ok(outcome)
    }

    /// Serves the index served before the current one again. It stays in
    /// service until a file newer than any tried is published.
    pub fn rollback(&mut self) -> Result<Outcome, SwapError> {
        if self.served.len() < 2 {
            return Err(SwapError::NoEarlier);
        }
        let previous = self.served[self.served.len() - 2].clone();
        Ok(self.serve(&previous))
    }

    fn serve(&mut self, path: &Path) -> Outcome {
        match Index::open(path) {
            Ok(index) => {
                let generation = self.service.install(index, path);
                tracing::info!("serving {} as generation {generation}", path.display());
                self.served.retain(|p| p != path);
                self.served.push(path.to_owned());
                Outcome::Swapped {
                    generation,
                    path: path.to_owned(),
                }
            }
            Err(e) => {
                self.service.refused.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "refused {}: {e}; the index in service keeps serving",
                    path.display()
                );
                Outcome::Refused {
                    path: path.to_owned(),
                    error: e.to_string(),
                }
            }
        }
    }

    /// Deletes published files beyond the `keep` newest, sparing the served
    /// one and the one before it.
    fn retain(&mut self) -> Result<(), SwapError> {
        let files = self.published()?;
        let spared: Vec<PathBuf> = self.served.iter().rev().take(2).cloned().collect();
        for (_, path) in files.iter().rev().skip(self.keep) {
            if !spared.contains(path) {
                fs::remove_file(path).map_err(|source| SwapError::Retain {
                    path: path.clone(),
                    source,
                })?;
                tracing::info!("retention: removed {}", path.display());
            }
        }
        self.served.retain(|p| p.exists());
        Ok(())
    }

    fn published(&self) -> Result<Vec<(SystemTime, PathBuf)>, SwapError> {
        published(&self.dir).map_err(|source| SwapError::Dir {
            dir: self.dir.clone(),
            source,
        })
    }
}

/// Checks `reloader`'s directory every `poll`, and at once whenever `wake`
/// receives (SIGHUP); calls `first_served` once, after the first swap.
/// Runs until the process ends.
pub fn watch(
    reloader: &Mutex<Reloader>,
    poll: Duration,
    wake: &Receiver<()>,
    first_served: impl FnOnce(),
) -> ! {
    let mut first_served = Some(first_served);
    loop {
        let checked = reloader
            .lock()
            .map_err(|_| SwapError::Poisoned)
            .and_then(|mut r| r.check());
        match checked {
            Ok(Outcome::Swapped { .. }) => {
                if let Some(announce) = first_served.take() {
                    announce();
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
        // Woken by SIGHUP, or after the poll interval; with no sender left,
        // by the interval alone.
        if let Err(RecvTimeoutError::Disconnected) = wake.recv_timeout(poll) {
            std::thread::sleep(poll);
        }
    }
}

/// The published indexes of `dir`, oldest first: `*.tsidx` files whose
/// name does not start with a dot, by modification time, then name.
pub(crate) fn published(dir: &Path) -> io::Result<Vec<(SystemTime, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".tsidx") {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() {
            files.push((meta.modified()?, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}
