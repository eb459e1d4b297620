//! Where an index built on the fly from a snapshot directory is kept, and
//! whether it can still be used: `serve --snapshot DIR` and `lookup
//! --snapshot DIR` build once and reuse the file until the snapshot changes.

use std::io;
use std::path::{Path, PathBuf};

use super::format::Header;

/// Where an index built from `dir` is kept: the system temporary directory,
/// named after the snapshot's absolute path.
pub fn path_for(dir: &Path) -> io::Result<PathBuf> {
    let abs = dir.canonicalize().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("snapshot directory {}: {e}", dir.display()),
        )
    })?;
    let hash = xxhash_rust::xxh3::xxh3_64(abs.as_os_str().as_encoded_bytes());
    Ok(std::env::temp_dir().join(format!("tracescan-{hash:016x}.idx")))
}

/// Whether `index` exists, is of this version's format, and is newer than
/// every file of the snapshot in `dir`.
pub fn is_fresh(index: &Path, dir: &Path) -> io::Result<bool> {
    let Ok(built) = index.metadata().and_then(|m| m.modified()) else {
        return Ok(false);
    };
    // An index left by another version of tracescan is rebuilt, not refused.
    if Header::read(index).is_err() {
        return Ok(false);
    }
    let listing = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(listing)? {
        if entry.map_err(listing)?.metadata()?.modified()? > built {
            return Ok(false);
        }
    }
    Ok(true)
}
