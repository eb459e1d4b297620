//! Machine faults under the durable logs: a full disk must lose nothing that
//! was counted. Each test mounts a small tmpfs of its own (root is needed,
//! as CI has; elsewhere the test says it was skipped, and under CI it fails).

use std::path::{Path, PathBuf};
use std::process::Command;

use tracescan::code::Gtin;
use tracescan::live::scans::Scans;

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to mount a tmpfs (it runs as root)"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem with a file; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let _ = std::fs::write(&filler, vec![0u8; 64 << 20]);
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_keeps_scan_counts_until_there_is_room_again() {
    let Some(disk) = Tmpfs::mount("256k") else {
        return;
    };
    let log = disk.path().join("scans.log");
    let gtin = Gtin::parse("08930002000017").unwrap();
    let scans = Scans::open(&log, 1_000_000).unwrap();
    scans.count(gtin, "S-before", 100, None);
    assert_eq!(scans.flush().unwrap(), 1);
    let filler = disk.fill();
    for n in 0..200u64 {
        // More lines than the rest of the log's last page holds.
        let serial = format!("S{n:0>18}");
        scans.count(gtin, &serial, 200, None);
    }
    for _ in 0..51 {
        scans.count(gtin, "S-before", 300, None);
    }
    let err = scans.flush().unwrap_err();
    assert!(err.to_string().contains("scans.log"), "{err}");
    assert_eq!(
        scans.unflushed(),
        201,
        "a failed flush keeps its items dirty"
    );
    assert_eq!(
        scans
            .stats
            .flush_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        scans
            .stats
            .failing_since_ms
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(!scans.flush_due(), "a failed flush waits out a backoff");
    // A failed append left no half line behind it.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );

    std::fs::remove_file(filler).unwrap();
    assert_eq!(scans.flush().unwrap(), 201);
    assert_eq!(scans.unflushed(), 0);
    assert_eq!(
        scans
            .stats
            .failing_since_ms
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    drop(scans);
    let reopened = Scans::open(&log, 1_000_000).unwrap();
    assert_eq!(reopened.get(gtin, "S-before").unwrap().count, 52);
    assert_eq!(reopened.items(), 201);
}

#[test]
fn a_full_disk_while_writing_the_index_says_so_and_leaves_no_file() {
    let Some(disk) = Tmpfs::mount("64k") else {
        return;
    };
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let scratch = tempfile::tempdir().unwrap();
    let mut rejects = tracescan::build::RejectLog::new(scratch.path().join("r.jsonl"));
    let (payload, blob) = tracescan::build::in_memory(&sample, &mut rejects).unwrap();
    let out = disk.path().join("sample.tsidx");
    let err = tracescan::index::write::write(payload, &mut &blob[..], 0, &out).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("sample.tsidx") && message.contains("No space left on device"),
        "{message}"
    );
    let left: Vec<_> = std::fs::read_dir(disk.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
