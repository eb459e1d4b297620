//! `serve`'s settings from a TOML file, the environment and flags, in that
//! order of precedence; unknown keys refused; structured logs. Run through
//! the binary, as an operator runs it.

mod common;

use std::ffi::OsStr;
use std::process::Command;

fn tracescan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracescan"));
    // Only what a test sets: none of the caller's TRACESCAN_… variables.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TRACESCAN_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn settings(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn flags_beat_the_environment_which_beats_the_file_which_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tracescan.toml");
    std::fs::write(
        &file,
        r#"
scan-flush-ms = 111
poll-ms = 222
keep = 5
trusted-proxy = ["10.0.0.1", "10.0.0.2"]
utc-offset = "+08:00"
"#,
    )
    .unwrap();
    let (code, out, err) = settings(
        tracescan()
            .args(["serve", "--check-config", "--config"])
            .arg(&file)
            .args(["--keep", "7"])
            .env("TRACESCAN_POLL_MS", "333")
            .env("TRACESCAN_KEEP", "9"),
    );
    assert_eq!(code, Some(0), "{err}");
    for expected in [
        "scan_flush_ms: 111,",  // the file
        "poll_ms: 333,",        // the environment over the file
        "keep: 7,",             // the flag over both
        "10.0.0.2,",            // a list from the file
        "utc_offset: 28800,",   // parsed as the flag would be
        "scan_warn_above: 20,", // the default
    ] {
        assert!(out.contains(expected), "{expected} in:\n{out}");
    }
    // The file may also be named by the environment.
    let (code, out, _) = settings(
        tracescan()
            .args(["serve", "--check-config"])
            .env("TRACESCAN_CONFIG", &file),
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("scan_flush_ms: 111,"), "{out}");
}

#[test]
fn an_unknown_key_or_a_bad_value_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tracescan.toml");
    for (text, says) in [
        (
            "scan-flush = 100\n",
            "unknown key `scan-flush`; the keys are index, snapshot",
        ),
        ("scan_flush_ms = 100\n", "unknown key `scan_flush_ms`"),
        (
            "scan-flush-ms = \"soon\"\n",
            "invalid value 'soon' for '--scan-flush-ms",
        ),
        (
            "scan-flush-ms = 1.5\n",
            "`scan-flush-ms` must be a string, a whole number or a list of them",
        ),
        ("scan-flush-ms = \n", "TOML parse error at line 1"),
    ] {
        std::fs::write(&file, text).unwrap();
        let (code, _, err) = settings(
            tracescan()
                .args(["serve", "--check-config", "--config"])
                .arg(&file),
        );
        assert_eq!(code, Some(2), "{text}: {err}");
        assert!(
            err.contains("tracescan.toml") && err.contains(says),
            "{text}: {err}"
        );
    }
    let (code, _, err) = settings(tracescan().args(["serve", "--config", "/no/such/file.toml"]));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("/no/such/file.toml") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn a_scan_count_room_larger_than_the_machine_is_refused_before_anything_starts() {
    let (code, _, err) = settings(tracescan().args([
        "serve",
        "--scan-count-room",
        "100000000000",
        "--listen",
        "127.0.0.1:0",
    ]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--scan-count-room 100000000000")
            && err.contains("more than half of this machine"),
        "{err}"
    );
}

#[test]
fn the_example_file_in_the_repository_is_accepted() {
    let (code, out, err) = settings(
        tracescan()
            .args(["serve", "--check-config", "--config"])
            .arg(common::data("../packaging/tracescan.toml")),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("log_format: Json"), "{out}");
}

/// With `--log-format json` every line on standard error is one JSON
/// object; an access log line carries the request's fields, and a path full
/// of what a terminal would act on stays inside its string.
#[test]
fn json_logs_are_one_object_a_line_with_the_events_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let args = ["--log-format", "json", "--access-log-sample", "1"].map(OsStr::new);
    let (mut child, addr) = common::spawn_serve(&args, &[], &log);
    let r = common::request(
        addr,
        "GET",
        "/v1/scan?code=%1B%5B31mEVIL%0Aforged",
        None,
        "",
    );
    assert_eq!(r.status, 404);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l:?}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for l in &lines {
        assert!(
            l["timestamp"].is_string() && l["level"].is_string() && l["message"].is_string(),
            "{l}"
        );
    }
    let access = lines
        .iter()
        .find(|l| l["target"] == "tracescan::access")
        .unwrap_or_else(|| panic!("no access line in {stderr}"));
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/v1/scan");
    assert_eq!(access["status"], 404);
    assert!(access["micros"].is_u64());
    assert!(!stderr.contains('\u{1b}'), "no raw escape reaches the log");
}

/// A published file named to look like a log line of its own stays inside
/// the line that names it, in text logs.
#[test]
fn text_logs_cannot_be_forged_by_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let forged = "a\n2026-12-01T00:00:00Z  INFO tracescan: forged.tsidx";
    common::publish(dir.path(), forged);
    let log = dir.path().join("log");
    let args = [
        OsStr::new("--log-format"),
        OsStr::new("text"),
        OsStr::new("--index-dir"),
        dir.path().as_os_str(),
    ];
    let (mut child, _) = common::spawn_serve(&args, &[], &log);
    // The swap may be logged after the server listens.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let serving = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("tracescan::swap: serving"))
        {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the swap is never logged:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        serving.contains("/a\\n2026-12-01T00:00:00Z  INFO tracescan: forged.tsidx as generation 1"),
        "{serving}"
    );
}
