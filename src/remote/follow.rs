//! The replica's side: the pointer polled, the index it names downloaded
//! into the index directory, checked, and published there by rename for the
//! directory's watcher ([`crate::swap`]) to verify and swap in.
//!
//! What a poll refuses is never published into the directory, so never
//! served: a pointer that is not one or too large, a pointer naming an
//! object that is not there, a download cut off or past its deadline, an
//! object of another length than the pointer's, a header that is no index's
//! or that differs from the pointer, bytes whose checksum is not the
//! header's. Each is logged, counted under its reason
//! ([`crate::service::FOLLOW_ERROR_REASONS`]) and retried after a backoff,
//! while the index in service keeps serving.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use object_store::{GetOptions, GetRange, ObjectStoreExt};
use xxhash_rust::xxh3::Xxh3;

use super::pointer::{MAX_POINTER_BYTES, Mismatch, POINTER, Pointer};
use super::{Remote, RemoteError, runtime, transfer_deadline, within};
use crate::index::format::{HEADER_LEN, Header};
use crate::service::{FOLLOW_ERROR_REASONS, Service};

/// The most bytes asked for in one request: each must arrive within the
/// remote's timeout, and is all a download holds in memory.
const RANGE_BYTES: u64 = 16 << 20;
/// The longest wait between polls after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What a poll found.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    /// The index the pointer names is the newest of the directory already.
    Current { path: PathBuf },
    /// It was in the directory but not the newest (the pointer went back
    /// to an earlier index): it was made the newest.
    Promoted { path: PathBuf },
    /// It was downloaded, checked, and published into the directory.
    Downloaded { path: PathBuf, bytes: u64 },
}

/// Follows the pointer of one remote into one index directory.
pub struct Follower {
    remote: Remote,
    dir: PathBuf,
    service: Arc<Service>,
    /// Wakes the directory's watcher once an index is published there.
    wake: Sender<()>,
    rt: tokio::runtime::Runtime,
}

impl Follower {
    /// A follower of `remote` into `dir` reporting to `service`'s
    /// [`crate::service::FollowStats`]; `wake` is the watcher's wake
    /// channel. Makes `dir` if it is missing, and removes the temporary
    /// files that a process killed while downloading left there.
    pub fn new(
        remote: Remote,
        dir: &Path,
        service: Arc<Service>,
        wake: Sender<()>,
    ) -> Result<Follower, RemoteError> {
        fs::create_dir_all(dir).map_err(|source| RemoteError::Local {
            what: "making the index directory",
            path: dir.to_owned(),
            source,
        })?;
        crate::durable::remove_all_orphans(dir);
        service.follow.enabled.store(true, Ordering::Relaxed);
        Ok(Follower {
            remote,
            dir: dir.to_owned(),
            service,
            wake,
            rt: runtime()?,
        })
    }

    /// Reads the pointer and brings the index it names into the directory
    /// unless it is there; counts the poll, and the error under its reason.
    ///
    /// Cost: one small request when nothing changed; otherwise one request
    /// per 16 MiB of the index, written to disk and summed as it arrives,
    /// one sync. Each request has the remote's timeout, the whole download
    /// that plus a second per MiB.
    pub fn poll(&self) -> Result<Polled, RemoteError> {
        let stats = &self.service.follow;
        stats.polls.fetch_add(1, Ordering::Relaxed);
        let polled = self.poll_once();
        match &polled {
            Ok(_) => {
                let now = crate::date::unix_now().max(0) as u64;
                stats.last_success.store(now, Ordering::Relaxed);
            }
            Err(e) => {
                let reason = FOLLOW_ERROR_REASONS
                    .iter()
                    .position(|r| *r == e.reason())
                    .unwrap_or(FOLLOW_ERROR_REASONS.len() - 1);
                stats.errors[reason].fetch_add(1, Ordering::Relaxed);
            }
        }
        polled
    }

    /// Polls every `poll`, and after a failure waits twice as long each
    /// time, up to 64 polls or five minutes. Runs until the process ends.
    pub fn run(self, poll: Duration) -> ! {
        tracing::info!(
            "following {} into {}",
            self.remote.named(POINTER),
            self.dir.display()
        );
        let mut failures = 0u32;
        loop {
            let wait = match self.poll() {
                Ok(polled) => {
                    failures = 0;
                    match polled {
                        Polled::Current { .. } => {}
                        Polled::Promoted { path } => tracing::info!(
                            "the pointer names {}, an earlier index: made the newest",
                            path.display()
                        ),
                        Polled::Downloaded { path, bytes } => tracing::info!(
                            "downloaded {} ({bytes} bytes), checked, and published it",
                            path.display()
                        ),
                    }
                    poll
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(poll, failures);
                    let meanwhile = if self.service.current().is_some() {
                        "the index in service keeps serving"
                    } else {
                        "nothing is served until an index arrives"
                    };
                    tracing::error!(
                        reason = e.reason(),
                        "{e}; refused, retrying in {wait:?}; {meanwhile}"
                    );
                    wait
                }
            };
            std::thread::sleep(wait);
        }
    }

    fn poll_once(&self) -> Result<Polled, RemoteError> {
        let pointer = self.rt.block_on(self.read_pointer())?;
        let published = pointer.published_at.max(0) as u64;
        let stats = &self.service.follow;
        stats.pointer_published.store(published, Ordering::Relaxed);
        let path = self.dir.join(pointer.file_name());
        let local = |what, source| RemoteError::Local {
            what,
            path: path.clone(),
            source,
        };
        match fs::metadata(&path) {
            Ok(meta) if meta.len() == pointer.length => {
                let promoted = make_newest(&self.dir, &path).map_err(|e| local("dating", e))?;
                if !promoted {
                    return Ok(Polled::Current { path });
                }
                let _ = self.wake.send(());
                return Ok(Polled::Promoted { path });
            }
            Ok(meta) => {
                return Err(RemoteError::Length {
                    what: path.display().to_string(),
                    reason: format!(
                        "a file of {} bytes has the name of the index the pointer names ({} bytes); it is left as it is",
                        meta.len(),
                        pointer.length
                    ),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(local("reading", e)),
        }
        self.download(&pointer, &path)?;
        make_newest(&self.dir, &path).map_err(|e| local("dating", e))?;
        stats.downloads.fetch_add(1, Ordering::Relaxed);
        stats
            .downloaded_bytes
            .fetch_add(pointer.length, Ordering::Relaxed);
        let _ = self.wake.send(());
        Ok(Polled::Downloaded {
            path,
            bytes: pointer.length,
        })
    }

    /// Reads and checks the pointer, at most [`MAX_POINTER_BYTES`] of it.
    async fn read_pointer(&self) -> Result<Pointer, RemoteError> {
        let remote = &self.remote;
        let url = remote.named(POINTER);
        let path = remote.path(POINTER);
        let read = async {
            let got = remote.store.get(&path).await?;
            if got.meta.size > MAX_POINTER_BYTES {
                return Ok(Err(got.meta.size));
            }
            let mut body = Vec::new();
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                if (body.len() + chunk.len()) as u64 > MAX_POINTER_BYTES {
                    return Ok(Err((body.len() + chunk.len()) as u64));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Ok(body))
        };
        let what = || format!("reading the pointer {url}");
        let body = within(remote.timeout, what, read)
            .await
            .map_err(|e| match e {
                RemoteError::Missing { what, .. } => RemoteError::Missing {
                    what,
                    hint: " (nothing is published there yet)",
                },
                e => e,
            })?;
        let body = body.map_err(|size| RemoteError::Pointer {
            url: url.clone(),
            reason: format!("{size} bytes or more, and a pointer is at most {MAX_POINTER_BYTES}"),
        })?;
        Pointer::decode(&body).map_err(|reason| RemoteError::Pointer { url, reason })
    }

    /// Downloads the index `pointer` names into a temporary file of the
    /// directory, checked, synced and renamed to `path`; on any failure the
    /// temporary file is removed.
    fn download(&self, pointer: &Pointer, path: &Path) -> Result<(), RemoteError> {
        let available =
            crate::build::space::available(&self.dir).map_err(|source| RemoteError::Local {
                what: "reading the free space of",
                path: self.dir.clone(),
                source,
            })?;
        if available < pointer.length {
            return Err(RemoteError::NoSpace {
                dir: self.dir.clone(),
                name: pointer.file_name().to_owned(),
                length: pointer.length,
                available,
            });
        }
        let mut failure = None;
        let written = crate::durable::replace(path, |file| {
            self.rt
                .block_on(self.stream_into(pointer, file))
                .map_err(|e| {
                    let io = io::Error::other(e.to_string());
                    failure = Some(e);
                    io
                })
        });
        match (written, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(source), None) => Err(RemoteError::Local {
                what: "publishing",
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Streams the object `pointer` names into `file` a range at a time,
    /// checking its length, its header against the pointer and its bytes
    /// against the header's checksum.
    async fn stream_into(&self, pointer: &Pointer, file: &mut File) -> Result<(), RemoteError> {
        let remote = &self.remote;
        let what = || remote.named(&pointer.key);
        let object = remote.path(&pointer.key);
        let meta = within(remote.timeout, what, remote.store.head(&object))
            .await
            .map_err(|e| match e {
                RemoteError::Missing { what, .. } => RemoteError::Missing {
                    what,
                    hint: ", though the pointer names it",
                },
                e => e,
            })?;
        let length = pointer.length;
        if meta.size != length {
            return Err(RemoteError::Length {
                what: what(),
                reason: format!(
                    "the object is {} bytes, the pointer says {length}",
                    meta.size
                ),
            });
        }
        let total = transfer_deadline(length, remote.timeout);
        let deadline = tokio::time::Instant::now() + total;
        let mut check = Check::new(pointer, what());
        let mut got = 0u64;
        while got < length {
            let end = (got + RANGE_BYTES).min(length);
            let interrupted = |reason: String| RemoteError::Interrupted {
                what: what(),
                got,
                length,
                reason,
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(interrupted(format!(
                    "past the download's deadline, {total:?}"
                )));
            }
            let options = GetOptions {
                range: Some(GetRange::Bounded(got..end)),
                // The same object throughout, or the download fails.
                if_match: meta.e_tag.clone(),
                ..GetOptions::default()
            };
            let range = async { remote.store.get_opts(&object, options).await?.bytes().await };
            let bytes = match tokio::time::timeout(left.min(remote.timeout), range).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(e)) => return Err(interrupted(e.to_string())),
                Err(_) => {
                    return Err(interrupted(format!(
                        "no answer within {:?}",
                        left.min(remote.timeout)
                    )));
                }
            };
            if bytes.len() as u64 != end - got {
                return Err(interrupted(format!(
                    "{} bytes came for a range of {}",
                    bytes.len(),
                    end - got
                )));
            }
            check.update(&bytes)?;
            file.write_all(&bytes)
                .map_err(|source| RemoteError::Local {
                    what: "writing the download of",
                    path: PathBuf::from(pointer.file_name()),
                    source,
                })?;
            got = end;
        }
        check.finish()
    }
}

/// The checks of a download as its bytes arrive: the header decoded and set
/// against the pointer once its 256 bytes are in, the rest summed.
struct Check<'a> {
    pointer: &'a Pointer,
    what: String,
    head: Vec<u8>,
    header: Option<Header>,
    sum: Xxh3,
}

impl<'a> Check<'a> {
    fn new(pointer: &'a Pointer, what: String) -> Check<'a> {
        Check {
            pointer,
            what,
            head: Vec::with_capacity(HEADER_LEN),
            header: None,
            sum: Xxh3::new(),
        }
    }

    fn update(&mut self, mut bytes: &[u8]) -> Result<(), RemoteError> {
        if self.header.is_none() {
            let take = (HEADER_LEN - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.head.len() == HEADER_LEN {
                let header = Header::decode(&self.head).map_err(|source| RemoteError::Format {
                    what: self.what.clone(),
                    source,
                })?;
                self.pointer.describes(&header).map_err(|m| match m {
                    Mismatch::Length(reason) => RemoteError::Length {
                        what: self.what.clone(),
                        reason,
                    },
                    Mismatch::Content(reason) => RemoteError::Checksum {
                        what: self.what.clone(),
                        reason,
                    },
                })?;
                self.header = Some(header);
            }
        }
        self.sum.update(bytes);
        Ok(())
    }

    fn finish(self) -> Result<(), RemoteError> {
        let expected = self.header.map_or(self.pointer.checksum, |h| h.checksum);
        let got = self.sum.digest();
        if got != expected {
            return Err(RemoteError::Checksum {
                what: self.what,
                reason: format!(
                    "its bytes sum to {got:016x}, its header says {expected:016x}: the object is damaged"
                ),
            });
        }
        Ok(())
    }
}

/// Makes `path` the newest published index of `dir`, as the watcher orders
/// them, unless it is; returns whether it was not.
fn make_newest(dir: &Path, path: &Path) -> io::Result<bool> {
    let published = crate::swap::published(dir)?;
    let Some((newest, newest_path)) = published.last() else {
        return Ok(false);
    };
    if newest_path == path {
        return Ok(false);
    }
    let after = *newest + Duration::from_millis(1);
    File::open(path)?.set_modified(SystemTime::now().max(after))?;
    Ok(true)
}

/// How long to wait after `failures` failed polls in a row.
fn backoff(poll: Duration, failures: u32) -> Duration {
    let doubled = poll.saturating_mul(1 << failures.saturating_sub(1).min(6));
    doubled.min(MAX_BACKOFF).max(poll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_bound() {
        let poll = Duration::from_secs(5);
        let waits: Vec<u64> = (1..=9).map(|f| backoff(poll, f).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        let fast = Duration::from_millis(20);
        assert_eq!(backoff(fast, 30), Duration::from_millis(1280));
    }
}
