//! Publication: an index file uploaded to the store under its own name, a
//! part at a time, then the pointer replaced.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};

use super::pointer::{POINTER, Pointer};
use super::{Remote, RemoteError, runtime, transfer_deadline, within};
use crate::index::Index;

/// The smallest part uploaded (S3 takes parts of 5 MiB and more, 10,000 at
/// most: parts grow past this for files over 150 GB).
const PART_BYTES: u64 = 16 << 20;
/// The most parts a file is cut into.
const MAX_PARTS: u64 = 9_000;
/// Parts uploaded at once: the memory an upload holds is this many parts
/// plus the one being read.
const PARTS_IN_FLIGHT: usize = 4;

/// What a publication did.
#[derive(Clone, Debug)]
pub struct Published {
    /// The pointer written.
    pub pointer: Pointer,
    /// Where the index object and the pointer are.
    pub index_url: String,
    pub pointer_url: String,
    /// False when an object of that name and length was there already (a
    /// publication repeated, or going back to an earlier index).
    pub uploaded: bool,
    /// How long the upload took.
    pub took: Duration,
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.pointer;
        if self.uploaded {
            writeln!(
                f,
                "uploaded {} ({} bytes) in {:.2} s",
                self.index_url,
                p.length,
                self.took.as_secs_f64()
            )?;
        } else {
            writeln!(
                f,
                "{} is there already ({} bytes)",
                self.index_url, p.length
            )?;
        }
        writeln!(
            f,
            "pointer {} -> {} (snapshot {}, checksum {:016x})",
            self.pointer_url, p.key, p.snapshot_id, p.checksum
        )
    }
}

/// Publishes the index at `index` to `remote`: verifies it as a server
/// would (an index that could not serve is not published), uploads it to
/// `indexes/<name>` unless an object of that name and length is there,
/// checks the object's length, then replaces the pointer.
///
/// Cost: one verification of the file (about 0.1 s per million records);
/// its upload in parts of 16 MiB or more, four at a time, so that at most
/// five parts are in memory whatever the file's size. Each request has the
/// remote's timeout; the whole upload, that plus a second per MiB.
///
/// Errors: the index refused, the file unreadable, the store unreachable or
/// refusing, the object's length not the file's. A failed upload writes no
/// pointer: replicas keep following the one before.
pub fn publish(index: &Path, remote: &Remote) -> Result<Published, RemoteError> {
    let header = Index::open(index)
        .map_err(|source| RemoteError::Index {
            path: index.to_owned(),
            source,
        })?
        .header()
        .clone();
    let length = std::fs::metadata(index)
        .map_err(|source| RemoteError::Local {
            what: "reading",
            path: index.to_owned(),
            source,
        })?
        .len();
    let pointer = Pointer::for_index(&header, length, crate::date::unix_now());
    let rt = runtime()?;
    let started = Instant::now();
    let uploaded = rt.block_on(upload_unless_there(remote, index, &pointer))?;
    let took = started.elapsed();
    rt.block_on(write_pointer(remote, &pointer))?;
    Ok(Published {
        index_url: remote.named(&pointer.key),
        pointer_url: remote.named(POINTER),
        pointer,
        uploaded,
        took,
    })
}

/// Uploads `file` as the object `pointer` names unless one of its length is
/// there; checks the object's length after. Returns whether it uploaded.
async fn upload_unless_there(
    remote: &Remote,
    file: &Path,
    pointer: &Pointer,
) -> Result<bool, RemoteError> {
    let path = remote.path(&pointer.key);
    let what = || remote.named(&pointer.key);
    let there = match within(remote.timeout, what, remote.store.head(&path)).await {
        Ok(meta) => meta.size == pointer.length,
        Err(RemoteError::Missing { .. }) => false,
        Err(e) => return Err(e),
    };
    if !there {
        upload(remote, file, pointer).await?;
    }
    let meta = within(remote.timeout, what, remote.store.head(&path)).await?;
    if meta.size != pointer.length {
        return Err(RemoteError::Length {
            what: what(),
            reason: format!(
                "the object is {} bytes after the upload, the file {}",
                meta.size, pointer.length
            ),
        });
    }
    Ok(!there)
}

/// Uploads `file` in parts; an upload that fails is aborted, so that the
/// store drops its parts (one cut short by the deadline is left to the
/// store's clean-up of incomplete uploads: an S3 lifecycle rule).
async fn upload(remote: &Remote, file: &Path, pointer: &Pointer) -> Result<(), RemoteError> {
    let what = || {
        format!(
            "uploading {} to {}",
            file.display(),
            remote.named(&pointer.key)
        )
    };
    let length = pointer.length;
    let total = transfer_deadline(length, remote.timeout);
    let deadline = tokio::time::Instant::now() + total;
    let part = PART_BYTES.max(length.div_ceil(MAX_PARTS)) as usize;
    let path = remote.path(&pointer.key);
    let multipart = within(remote.timeout, what, remote.store.put_multipart(&path)).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(multipart, part);
    let mut reader = File::open(file).map_err(|source| RemoteError::Local {
        what: "reading",
        path: file.to_owned(),
        source,
    })?;
    let mut sent = 0u64;
    while sent < length {
        let room = tokio::time::timeout_at(deadline, writer.wait_for_capacity(PARTS_IN_FLIGHT));
        let failed = match room.await {
            Ok(Ok(())) => None,
            Ok(Err(source)) => Some(RemoteError::Store {
                what: what(),
                source,
            }),
            Err(_) => Some(RemoteError::Timeout {
                what: what(),
                after: total,
            }),
        };
        if let Some(e) = failed {
            let _ = writer.abort().await;
            return Err(e);
        }
        let mut buf = vec![0u8; part.min((length - sent) as usize)];
        if let Err(source) = reader.read_exact(&mut buf) {
            let _ = writer.abort().await;
            return Err(RemoteError::Local {
                what: "reading",
                path: file.to_owned(),
                source,
            });
        }
        sent += buf.len() as u64;
        writer.put(Bytes::from(buf));
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    within(left, what, writer.finish()).await?;
    Ok(())
}

/// Replaces the pointer, in one PUT.
async fn write_pointer(remote: &Remote, pointer: &Pointer) -> Result<(), RemoteError> {
    let what = || format!("writing the pointer {}", remote.named(POINTER));
    let payload = PutPayload::from(pointer.encode());
    let path = remote.path(POINTER);
    within(remote.timeout, what, remote.store.put(&path, payload)).await?;
    Ok(())
}
