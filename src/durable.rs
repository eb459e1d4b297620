//! Durable replacement of a whole file, shared by index publication and log
//! compaction: the new contents go to a temporary file beside the target,
//! which is synced and renamed over it, and the rename is synced too. A
//! reader sees the old file or the new one, never a part, and a crash leaves
//! one of the two.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// Replaces `path` with what `write` writes to the file it is given; returns
/// what `write` returns. The temporary file is removed if anything fails.
/// Errors carry no path: the caller names what it was replacing.
pub fn replace<T>(path: &Path, write: impl FnOnce(&mut File) -> io::Result<T>) -> io::Result<T> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("not a file name"))?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    remove_orphans(dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        let written = write(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself must reach the disk before the file counts as
        // replaced.
        File::open(dir)?.sync_all()?;
        Ok(written)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes temporary files of `prefix` in `dir` left by processes that no
/// longer run (a build killed with SIGKILL leaves one as large as the index).
/// Best effort: what cannot be listed or removed stays.
fn remove_orphans(dir: &Path, prefix: &str) {
    remove_orphans_where(dir, |name| name.strip_prefix(prefix));
}

/// Removes the temporary files of [`replace`] in `dir` that processes no
/// longer running left, whatever file they were to replace. Best effort,
/// as [`replace`]'s own clean-up.
pub fn remove_all_orphans(dir: &Path) {
    remove_orphans_where(dir, |name| {
        let (_, pid) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
        Some(pid)
    });
}

/// Removes the files of `dir` for which `pid_of` names a process that no
/// longer runs.
fn remove_orphans_where(dir: &Path, pid_of: impl Fn(&str) -> Option<&str>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(&pid_of) else {
            continue;
        };
        // Only where /proc tells which processes run; elsewhere nothing is
        // known to be an orphan.
        let alive = Path::new("/proc").join(pid).exists() || !Path::new("/proc/self").exists();
        if pid.bytes().all(|b| b.is_ascii_digit()) && !alive {
            match fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(
                    "removed {}, left by a process that ended",
                    entry.path().display()
                ),
                Err(e) => tracing::warn!("leaving {}: {e}", entry.path().display()),
            }
        }
    }
}
