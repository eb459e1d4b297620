//! Machine faults under every write path: a full disk, a read-only
//! filesystem, a file or directory removed under a running server. Nothing
//! counted or acknowledged is lost, no partial file is left under a published
//! name, every error names the file, what was being done and the cause, and
//! the server keeps answering. Tests that need a small filesystem mount a
//! tmpfs of their own (root is needed, as CI has; elsewhere the test says it
//! was skipped, and under CI it fails).

use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::atomic::Ordering;

use tracescan::build::{self, BuildError, Options};
use tracescan::code::Gtin;
use tracescan::live::overlay::{Change, NewStatus, Overlay, Target};
use tracescan::live::scans::Scans;

mod common;

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

    /// Remounts the filesystem read-only, or writable again.
    fn read_only(&self, yes: bool) {
        let mode = if yes { "remount,ro" } else { "remount,rw" };
        let done = Command::new("mount")
            .args(["-o", mode])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(done.success(), "mount -o {mode}");
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
        // Lazily: a thread of a stopped server may hold a file a moment
        // longer.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
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
    let Some(disk) = Tmpfs::mount("32k") else {
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

fn gtin() -> Gtin {
    Gtin::parse("08930002000017").unwrap()
}

fn recall(lot: &str) -> Change {
    Change {
        target: Target::Batch(gtin(), lot.into()),
        status: NewStatus::Recalled,
        notice: Some(format!("Thu hồi lô {lot}")),
        at: 1_800_000_000,
    }
}

#[test]
fn a_removed_scan_log_is_written_anew_with_every_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("scans.log");
    let scans = Scans::open(&log, 1_000_000).unwrap();
    scans.count(gtin(), "S1", 100, None);
    scans.count(gtin(), "S2", 100, None);
    scans.flush().unwrap();
    // A clean-up script removes the log under the running server: appends
    // would now go to a file no restart reads.
    std::fs::remove_file(&log).unwrap();
    scans.count(gtin(), "S1", 200, None);
    scans.flush().unwrap();
    assert!(log.exists());
    drop(scans);
    let reopened = Scans::open(&log, 1_000_000).unwrap();
    assert_eq!(reopened.get(gtin(), "S1").unwrap().count, 2);
    assert_eq!(reopened.get(gtin(), "S2").unwrap().count, 1);
}

#[test]
fn a_scan_log_truncated_under_the_server_is_written_anew() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("scans.log");
    let scans = Scans::open(&log, 1_000_000).unwrap();
    for serial in ["S1", "S2", "S3"] {
        scans.count(gtin(), serial, 100, None);
    }
    scans.flush().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(10)
        .unwrap();
    scans.count(gtin(), "S1", 200, None);
    scans.flush().unwrap();
    drop(scans);
    let reopened = Scans::open(&log, 1_000_000).unwrap();
    assert_eq!(reopened.items(), 3, "no count lost with the cut part");
    assert_eq!(reopened.get(gtin(), "S1").unwrap().count, 2);
}

#[test]
fn a_removed_state_directory_keeps_counts_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = state.join("scans.log");
    let scans = Scans::open(&log, 1_000_000).unwrap();
    scans.count(gtin(), "S1", 100, None);
    scans.flush().unwrap();
    std::fs::remove_dir_all(&state).unwrap();
    for _ in 0..5 {
        scans.count(gtin(), "S1", 200, None);
    }
    let err = scans.flush().unwrap_err().to_string();
    assert!(
        err.contains("rewriting")
            && err.contains("scans.log")
            && err.contains("No such file or directory"),
        "{err}"
    );
    assert!(scans.unflushed() >= 1, "the counts stay ahead of the log");
    assert!(scans.stats.failing_since_ms.load(Ordering::Relaxed) > 0);
    std::fs::create_dir(&state).unwrap();
    scans.flush().unwrap();
    assert_eq!(scans.stats.failing_since_ms.load(Ordering::Relaxed), 0);
    drop(scans);
    assert_eq!(
        Scans::open(&log, 1_000_000)
            .unwrap()
            .get(gtin(), "S1")
            .unwrap()
            .count,
        6
    );
}

/// A filesystem cannot be made read-only under files open for writing
/// (`mount` says busy), so a read-only state directory is met where it can
/// be: at start, where it must be refused with its cause. Under a running
/// server a read-only filesystem fails writes as a full disk does, and the
/// tests of a full disk cover that path.
#[test]
fn a_read_only_state_directory_is_refused_at_start_with_the_cause() {
    let Some(disk) = Tmpfs::mount("1m") else {
        return;
    };
    let state = disk.path().join("state");
    {
        let scans = Scans::open(&state.join("scans.log"), 1_000_000).unwrap();
        scans.count(gtin(), "S1", 100, None);
        scans.flush().unwrap();
        Overlay::open(&state.join("overlay.log"))
            .unwrap()
            .set(recall("L1"))
            .unwrap();
    }
    disk.read_only(true);
    let err = Scans::open(&state.join("scans.log"), 1_000_000)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("opening")
            && err.contains("scans.log")
            && err.contains("Read-only file system"),
        "{err}"
    );
    let err = Overlay::open(&state.join("overlay.log"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("overlay.log") && err.contains("Read-only file system"),
        "{err}"
    );
    disk.read_only(false);
    let scans = Scans::open(&state.join("scans.log"), 1_000_000).unwrap();
    assert_eq!(
        scans.get(gtin(), "S1").unwrap().count,
        1,
        "nothing was lost"
    );
}

#[test]
fn a_full_disk_refuses_a_status_change_and_leaves_no_half_line() {
    let Some(disk) = Tmpfs::mount("256k") else {
        return;
    };
    let log = disk.path().join("overlay.log");
    let overlay = Overlay::open(&log).unwrap();
    overlay.set(recall("L1")).unwrap();
    let filler = disk.fill();
    // Changes go in until the log's last page is full.
    let mut taken = 1;
    let refused = loop {
        let mut change = recall(&format!("L{}", taken + 1));
        change.notice = Some("Thu hồi. ".repeat(150));
        match overlay.set(change.clone()) {
            Ok(()) => taken += 1,
            Err(e) => break (change, e.to_string()),
        }
        assert!(taken < 100, "the disk never filled");
    };
    let (change, err) = refused;
    assert!(
        err.contains("appending to")
            && err.contains("overlay.log")
            && err.contains("No space left on device"),
        "{err}"
    );
    let lot = format!("L{}", taken + 1);
    assert!(
        overlay.load().batch(gtin(), &lot).is_none(),
        "a change not saved is not in force"
    );
    assert!(overlay.failing_since.load(Ordering::Relaxed) > 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.ends_with('\n') && text.lines().count() == taken,
        "{text:?}"
    );
    std::fs::remove_file(filler).unwrap();
    overlay.set(change).unwrap();
    assert_eq!(overlay.failing_since.load(Ordering::Relaxed), 0);
    drop(overlay);
    assert_eq!(Overlay::open(&log).unwrap().load().len(), taken + 1);
}

#[test]
fn a_removed_overlay_log_is_written_anew_with_every_change_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("overlay.log");
    let overlay = Overlay::open(&log).unwrap();
    overlay.set(recall("L1")).unwrap();
    std::fs::remove_file(&log).unwrap();
    overlay.set(recall("L2")).unwrap();
    drop(overlay);
    let reopened = Overlay::open(&log).unwrap();
    assert!(
        reopened.load().batch(gtin(), "L1").is_some(),
        "the change set before the removal survives"
    );
    assert!(reopened.load().batch(gtin(), "L2").is_some());
}

#[test]
fn a_full_disk_under_the_rejects_report_fails_the_build_naming_it() {
    let Some(disk) = Tmpfs::mount("16k") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let index = out.path().join("defects.tsidx");
    let report = disk.path().join("rejects.jsonl");
    disk.fill();
    let options = Options {
        rejects: Some(report.clone()),
        max_rejects: 1_000_000,
        ..Options::default()
    };
    let err = build::build(&common::data("fixtures/defects"), &index, &options).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, BuildError::Report { .. }), "{message}");
    assert!(
        message.contains("rejects.jsonl") && message.contains("No space left on device"),
        "{message}"
    );
    assert!(!index.exists(), "no index without its report");
}

#[test]
fn free_space_is_checked_before_a_build_writes() {
    // Smaller than the sample's index (42 kB): at this size the build keeps
    // what it spills in memory, so only the index itself can fill the disk.
    let Some(disk) = Tmpfs::mount("32k") else {
        return;
    };
    let out = disk.path().join("sample.tsidx");
    let err = build::build(&common::data("sample"), &out, &Options::default()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, BuildError::NoSpace { .. }), "{message}");
    assert!(
        message.contains(&disk.path().display().to_string())
            && message.contains("kB is free")
            && message.contains("--ignore-free-space"),
        "{message}"
    );
    // Told to try anyway, it tries, and the write says what failed.
    let options = Options {
        ignore_free_space: true,
        ..Options::default()
    };
    let message = build::build(&common::data("sample"), &out, &options)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&disk.path().display().to_string())
            && message.contains("No space left on device"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(disk.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn the_size_estimate_is_close_to_the_index_built() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = tmp.path().join("snap");
    let config = tracescan::synth::Config {
        products: 300,
        batches_per_product: 3,
        items_per_batch: 20,
        compression: tracescan::synth::Compression::Zstd,
        ..tracescan::synth::Config::default()
    };
    tracescan::synth::generate(&config, &snapshot).unwrap();
    for dir in [snapshot.as_path(), common::data("sample").as_path()] {
        let need = build::space::estimate(dir).unwrap();
        let out = tmp.path().join("x.tsidx");
        build::build(dir, &out, &Options::default()).unwrap();
        let built = std::fs::metadata(&out).unwrap().len();
        let ratio = need.index as f64 / built as f64;
        assert!(
            (1.0..2.0).contains(&ratio),
            "{}: estimated {} for {built} bytes",
            dir.display(),
            need.index
        );
    }
}

#[test]
fn an_index_cache_on_a_full_disk_is_refused_with_the_figures() {
    let Some(disk) = Tmpfs::mount("64k") else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tracescan"))
        .args(["lookup", "--snapshot"])
        .arg(common::data("sample"))
        .arg("8930002000017")
        .env("TMPDIR", disk.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not enough free space")
            && stderr.contains(&disk.path().display().to_string()),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(disk.path()).unwrap().count(), 0);
}

#[test]
fn retention_that_cannot_remove_a_file_still_swaps_and_says_so() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    // The server sees the index directory through a read-only view; new
    // indexes are published through the writable one.
    let writable = disk.path().join("indexes");
    std::fs::create_dir(&writable).unwrap();
    let view = tempfile::tempdir().unwrap();
    for args in [vec!["--bind"], vec!["-o", "remount,bind,ro"]] {
        let ok = Command::new("mount")
            .args(&args)
            .arg(&writable)
            .arg(view.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mount {args:?}");
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _view = Unmount(view.path());
    let service = std::sync::Arc::new(tracescan::service::Service::new(
        Default::default(),
        Overlay::in_memory(),
        Scans::in_memory(),
    ));
    let mut reloader = tracescan::swap::Reloader::new(service.clone(), view.path(), 1);
    for name in ["a.tsidx", "b.tsidx", "c.tsidx"] {
        common::publish(&writable, name);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let outcome = reloader.check().unwrap();
        assert!(
            matches!(outcome, tracescan::swap::Outcome::Swapped { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        service.current().as_ref().unwrap().path,
        view.path().join("c.tsidx")
    );
    assert!(service.retention_errors.load(Ordering::Relaxed) >= 1);
    assert!(
        writable.join("a.tsidx").exists(),
        "what could not be removed stays"
    );
}

/// The server through a full state disk: answers and readiness as usual
/// (lookups need no disk), a status change refused with its cause, and
/// `/metrics` saying which log fails since when.
#[test]
fn the_server_keeps_answering_through_a_full_disk_and_shows_the_fault() {
    let Some(disk) = Tmpfs::mount("256k") else {
        return;
    };
    let state = disk.path().join("state");
    let server = common::Server::sample(|config, dir| {
        common::with_token(config, dir);
        config.state_dir = Some(state.clone());
        config.scan_flush_ms = 50;
        config.scan_repeat_window_s = 0;
    });
    let stamps: Vec<String> = std::fs::read_to_string(common::data("sample/items.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l).ok()?["stamp"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut scanned = 0;
    let mut scan_all = || {
        for stamp in &stamps {
            assert_eq!(
                server.get(&format!("/s/{stamp}")).status,
                200,
                "answers go on"
            );
        }
        scanned += 1;
    };
    scan_all();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let filler = disk.fill();
    let metric = |name: &str| -> u64 {
        let text = server.get("/metrics").text();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    // What is left of the log's last page takes a few flushes; then they fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while metric("tracescan_scan_log_failing_since_timestamp_seconds") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no failing flush seen"
        );
        scan_all();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = server.request(
        "POST",
        "/admin/overlay",
        Some(common::TOKEN),
        r#"{"gtin": "08930002000017", "status": "recalled", "notice": "Thu hồi"}"#,
    );
    assert!(r.status >= 500, "{} {}", r.status, r.text());
    assert!(
        r.text().contains("not in force: no storage space"),
        "{}",
        r.text()
    );
    assert_eq!(server.get("/readyz").status, 200);
    assert!(metric("tracescan_overlay_log_failing_since_timestamp_seconds") > 0);
    assert_eq!(metric("tracescan_overlay_write_errors_total"), 1);
    assert!(metric("tracescan_scan_unflushed_items") >= 1);
    let count = server.get("/s/VN-0011-1010").json()["item"]["scans"]["count"].clone();
    assert_eq!(count, scanned + 1, "every scan counted");
    // Room again: the stop's last flush writes every count kept meanwhile.
    std::fs::remove_file(filler).unwrap();
    drop(server);
    let scans = Scans::open(&state.join("scans.log"), 1_000_000).unwrap();
    assert_eq!(scans.get(gtin(), "S001001").unwrap().count, scanned + 1);
}
