//! Building an index from a snapshot, as SPEC sections 1 and 2 state it.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::{copy_snapshot, data, index_bytes, index_of, report_lines};
use tracescan::build::{self, BuildError, Options};
use tracescan::code::Gtin;
use tracescan::snapshot::SnapshotError;

fn options(max_rejects: u64) -> Options {
    Options {
        max_rejects,
        ..Options::default()
    }
}

#[test]
fn rejects_report_names_exactly_the_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("defects.idx");
    let summary = build::build(&data("fixtures/defects"), &out, &options(100)).unwrap();
    let expected: Vec<(String, u64, String)> = [
        ("products.jsonl", 2, "duplicate_key"),
        ("products.jsonl", 3, "invalid_field"),
        ("products.jsonl", 4, "missing_field"),
        ("products.jsonl", 5, "invalid_json"),
        ("products.jsonl", 6, "invalid_field"),
        ("products.jsonl", 7, "invalid_field"),
        ("products.jsonl", 8, "invalid_field"),
        ("products.jsonl", 10, "invalid_json"),
        ("products.jsonl", 11, "invalid_json"),
        ("products.jsonl", 12, "invalid_field"),
        ("products.jsonl", 13, "invalid_field"),
        ("products.jsonl", 14, "invalid_field"),
        ("batches.jsonl", 2, "duplicate_key"),
        ("batches.jsonl", 3, "unknown_product"),
        ("batches.jsonl", 4, "unknown_product"),
        ("batches.jsonl", 5, "invalid_field"),
        ("batches.jsonl", 6, "invalid_field"),
        ("batches.jsonl", 7, "invalid_field"),
        ("batches.jsonl", 8, "invalid_field"),
        ("batches.jsonl", 10, "missing_field"),
        ("items.jsonl", 2, "duplicate_key"),
        ("items.jsonl", 3, "duplicate_key"),
        ("items.jsonl", 4, "unknown_field"),
        ("items.jsonl", 5, "unknown_lot"),
        ("items.jsonl", 6, "unknown_product"),
        ("items.jsonl", 7, "invalid_field"),
        ("items.jsonl", 8, "invalid_field"),
        ("items.jsonl", 9, "missing_field"),
        ("items.jsonl", 10, "invalid_json"),
        ("items.jsonl", 11, "invalid_field"),
    ]
    .iter()
    .map(|(f, l, r)| (f.to_string(), *l, r.to_string()))
    .collect();
    assert_eq!(
        report_lines(summary.rejects_report.as_ref().unwrap()),
        expected
    );
    // read = indexed + rejected, per file.
    let counts: Vec<_> = summary
        .files
        .iter()
        .map(|f| (f.read, f.indexed, f.rejected))
        .collect();
    assert_eq!(counts, vec![(15, 3, 12), (10, 2, 8), (13, 3, 10)]);
    // The later duplicate names the line of the first.
    let text = fs::read_to_string(summary.rejects_report.unwrap()).unwrap();
    assert!(text.contains("already the product of line 1"), "{text}");
    assert!(
        text.contains("was rejected (products.jsonl line 4)"),
        "{text}"
    );
    // What survived is served, unknown fields included, unchanged.
    let index = tracescan::index::Index::open(&out).unwrap();
    let b = index
        .product(Gtin::parse("8934567000017").unwrap())
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(b.json()).unwrap();
    assert_eq!(json["ocop_certificate"]["number"], "OCOP-ND-1");
    assert_eq!(json["zz"], serde_json::json!([1, {"a": null}]));
    assert_eq!(json["gtin"], "08934567000017");
    let a = index
        .product(Gtin::parse("08934567890120").unwrap())
        .unwrap();
    assert!(
        index.item(&a, "S13").is_some(),
        "the unterminated last line parses and is indexed"
    );
}

#[test]
fn more_rejects_than_allowed_fails_and_writes_no_index() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("defects.idx");
    let err = build::build(&data("fixtures/defects"), &out, &options(29)).unwrap_err();
    match err {
        BuildError::TooManyRejects {
            rejected,
            max,
            report,
            at,
        } => {
            assert_eq!((rejected, max), (30, 29));
            let (file, line, _) = report_lines(&report).pop().unwrap();
            assert_eq!(at, format!("{file} line {line}"));
            assert_eq!(
                report_lines(&report).len(),
                30,
                "the report is kept to explain the failure"
            );
        }
        other => panic!("expected TooManyRejects, got {other}"),
    }
    assert!(!out.exists());
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(".tmp")),
        "{leftovers:?}"
    );
}

#[test]
fn the_default_allows_no_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let err = build::build(
        &data("fixtures/defects"),
        &tmp.path().join("x.idx"),
        &Options::default(),
    )
    .unwrap_err();
    // Reading stops at the first reject.
    assert!(
        err.to_string().contains(
            "more lines rejected than --max-rejects 0 allows: reading stopped at products.jsonl line"
        ),
        "{err}"
    );
}

fn expect_truncated(dir: &Path, needle: &str) {
    let out = dir.join("out.idx");
    match build::build(dir, &out, &options(1000)) {
        Err(BuildError::Snapshot(SnapshotError::Truncated { detail, .. })) => {
            assert!(
                detail.contains(needle),
                "{detail:?} should mention {needle:?}"
            )
        }
        other => panic!("expected a truncated snapshot, got {other:?}"),
    }
    assert!(!out.exists());
}

fn compress(path: &Path, ext: &str) -> Vec<u8> {
    let plain = fs::read(path).unwrap();
    match ext {
        "gz" => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&plain).unwrap();
            enc.finish().unwrap()
        }
        _ => zstd::encode_all(&plain[..], 3).unwrap(),
    }
}

#[test]
fn compressed_snapshots_give_the_same_index() {
    let plain = index_bytes(&data("sample"));
    for ext in ["gz", "zst"] {
        let dir = copy_snapshot(&data("sample"));
        for name in ["products.jsonl", "batches.jsonl", "items.jsonl"] {
            let path = dir.path().join(name);
            let packed = compress(&path, ext);
            fs::write(dir.path().join(format!("{name}.{ext}")), packed).unwrap();
            fs::remove_file(path).unwrap();
        }
        let bytes = index_bytes(dir.path());
        assert_eq!(
            bytes[..],
            plain[..],
            "{ext} snapshot gives a different index"
        );
    }
}

#[test]
fn a_broken_compressed_stream_is_truncation() {
    for ext in ["gz", "zst"] {
        let dir = copy_snapshot(&data("sample"));
        let path = dir.path().join("items.jsonl");
        let packed = compress(&path, ext);
        fs::write(
            dir.path().join(format!("items.jsonl.{ext}")),
            &packed[..packed.len() - 20],
        )
        .unwrap();
        fs::remove_file(path).unwrap();
        expect_truncated(dir.path(), "compressed stream is broken");
    }
}

#[test]
fn a_cut_last_line_is_truncation() {
    let dir = copy_snapshot(&data("sample"));
    let path = dir.path().join("batches.jsonl");
    let text = fs::read(&path).unwrap();
    fs::write(&path, &text[..text.len() - 40]).unwrap();
    expect_truncated(dir.path(), "has no newline and does not parse");
}

#[test]
fn a_manifest_count_that_does_not_match_is_truncation() {
    let dir = copy_snapshot(&data("sample"));
    let path = dir.path().join("items.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(80).collect();
    fs::write(&path, kept.join("\n") + "\n").unwrap();
    expect_truncated(
        dir.path(),
        "the manifest counts 85 items but 80 lines were read",
    );
}

#[test]
fn a_missing_file_the_manifest_counts_is_truncation() {
    let dir = copy_snapshot(&data("sample"));
    fs::remove_file(dir.path().join("items.jsonl")).unwrap();
    expect_truncated(
        dir.path(),
        "the manifest counts 85 items but the file is missing",
    );
}

#[test]
fn snapshot_errors_name_the_problem() {
    let empty = tempfile::tempdir().unwrap();
    let err = build::build(
        empty.path(),
        &empty.path().join("x.idx"),
        &Options::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no products.jsonl"), "{err}");

    let dir = copy_snapshot(&data("sample"));
    fs::write(
        dir.path().join("products.jsonl.gz"),
        compress(&dir.path().join("products.jsonl"), "gz"),
    )
    .unwrap();
    let err = build::build(dir.path(), &dir.path().join("x.idx"), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("more than one form"), "{err}");

    let dir = copy_snapshot(&data("sample"));
    fs::write(
        dir.path().join("manifest.json"),
        "{\"counts\": {\"items\": -1}}",
    )
    .unwrap();
    let err = build::build(dir.path(), &dir.path().join("x.idx"), &Options::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"counts.items\" must be a whole number"),
        "{err}"
    );
}

#[test]
fn the_same_snapshot_gives_the_same_bytes_but_the_build_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.idx"), tmp.path().join("b.idx"));
    build::build(&data("sample"), &a, &Options::default()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build::build(&data("sample"), &b, &Options::default()).unwrap();
    let (a, b) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    assert_eq!(a.len(), b.len());
    const HEADER: usize = tracescan::index::format::HEADER_LEN;
    assert_eq!(a[HEADER..], b[HEADER..], "payloads differ");
    let differing: Vec<usize> = (0..HEADER).filter(|&i| a[i] != b[i]).collect();
    // Only the build time (bytes 40..48) and the header's own checksum differ.
    assert!(
        differing
            .iter()
            .all(|&i| (40..48).contains(&i) || i >= HEADER - 8),
        "{differing:?}"
    );
}

#[test]
fn records_round_trip_unchanged_but_the_gtin() {
    let index = index_of(&data("sample"));
    for line in fs::read_to_string(data("sample/products.jsonl"))
        .unwrap()
        .lines()
    {
        let mut original: serde_json::Value = serde_json::from_str(line).unwrap();
        let gtin = Gtin::parse(original["gtin"].as_str().unwrap()).unwrap();
        original["gtin"] = gtin.to_string().into();
        let stored: serde_json::Value =
            serde_json::from_str(index.product(gtin).unwrap().json()).unwrap();
        assert_eq!(stored, original);
        // Field order is kept too.
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&stored), keys(&original));
    }
}

// ---- Hostile snapshots: every input bounded -------------------------------

/// A snapshot directory holding one good product line, then `rest` written
/// by `write` into products.jsonl (or `.gz`).
fn hostile(gz: bool, write: impl FnOnce(&mut dyn Write)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let first = fs::read_to_string(data("sample/products.jsonl")).unwrap();
    let mut plain = Vec::new();
    plain.extend_from_slice(first.lines().next().unwrap().as_bytes());
    plain.push(b'\n');
    write(&mut plain);
    let (name, bytes) = if gz {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&plain).unwrap();
        ("products.jsonl.gz", enc.finish().unwrap())
    } else {
        ("products.jsonl", plain)
    };
    fs::write(tmp.path().join(name), bytes).unwrap();
    tmp
}

#[test]
fn a_line_over_the_limit_is_rejected_unread_and_reported_briefly() {
    let dir = hostile(false, |w| {
        w.write_all(&vec![b'{'; 2 << 20]).unwrap();
        w.write_all(b"\n").unwrap();
    });
    let out = dir.path().join("out.idx");
    let summary = build::build(dir.path(), &out, &options(1)).unwrap();
    assert_eq!((summary.files[0].read, summary.files[0].rejected), (2, 1));
    let report = summary.rejects_report.unwrap();
    assert_eq!(
        report_lines(&report),
        [("products.jsonl".to_string(), 2, "line_too_long".to_string())]
    );
    assert!(fs::metadata(&report).unwrap().len() < 1024);
}

#[test]
fn blank_lines_past_max_rejects_stop_the_reading() {
    let dir = hostile(false, |w| w.write_all(&vec![b'\n'; 1 << 20]).unwrap());
    let out = dir.path().join("out.idx");
    let err = build::build(dir.path(), &out, &options(10)).unwrap_err();
    assert!(
        err.to_string()
            .contains("reading stopped at products.jsonl line 12"),
        "{err}"
    );
    let report = dir.path().join("out.idx.rejects.jsonl");
    assert_eq!(report_lines(&report).len(), 11);
}

#[test]
fn a_compressed_bomb_stops_at_the_count_its_manifest_announced() {
    let dir = hostile(true, |w| {
        for _ in 0..64 {
            w.write_all(&vec![b'\n'; 1 << 20]).unwrap();
        }
    });
    fs::write(
        dir.path().join("manifest.json"),
        r#"{"snapshot_id": "bomb", "counts": {"products": 1, "batches": 0, "items": 0}}"#,
    )
    .unwrap();
    expect_truncated(
        dir.path(),
        "the manifest counts 1 products but the file has more lines; reading stopped at line 2",
    );
}

#[test]
fn an_endless_line_is_not_read_to_its_end() {
    let dir = hostile(true, |w| {
        for _ in 0..80 {
            w.write_all(&vec![b'a'; 1 << 20]).unwrap();
        }
    });
    expect_truncated(
        dir.path(),
        "line 2 runs past 67108864 bytes without a newline",
    );
}

#[test]
fn a_device_or_a_huge_manifest_is_no_snapshot() {
    let dir = hostile(false, |_| {});
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("items.jsonl")).unwrap();
    let err = build::build(dir.path(), &dir.path().join("out.idx"), &options(0)).unwrap_err();
    assert!(
        err.to_string().contains("items.jsonl: not a regular file"),
        "{err}"
    );
    fs::remove_file(dir.path().join("items.jsonl")).unwrap();
    let padding = " ".repeat(70 * 1024);
    fs::write(
        dir.path().join("manifest.json"),
        format!(r#"{{"snapshot_id": "big"{padding}}}"#),
    )
    .unwrap();
    let err = build::build(dir.path(), &dir.path().join("out.idx"), &options(0)).unwrap_err();
    assert!(
        err.to_string().contains("the manifest is over 65536 bytes"),
        "{err}"
    );
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_line() {
    let tmp = copy_snapshot(&data("sample"));
    for name in ["products.jsonl", "batches.jsonl", "manifest.json"] {
        let path = tmp.path().join(name);
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(fs::read(&path).unwrap());
        fs::write(&path, bytes).unwrap();
    }
    let summary = build::build(tmp.path(), &tmp.path().join("out.idx"), &options(0)).unwrap();
    assert!(summary.files.iter().all(|f| f.rejected == 0));
}

#[test]
fn a_temporary_file_left_by_a_killed_build_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    // No process has this number: the kernel's pid_max is far below it.
    let orphan = tmp.path().join(".out.idx.tmp-4000000000");
    fs::write(&orphan, vec![0u8; 4096]).unwrap();
    build::build(&data("sample"), &tmp.path().join("out.idx"), &options(0)).unwrap();
    assert!(!orphan.exists());
}

// ---- Serials and stamps spilled to a file ---------------------------------

/// A generated snapshot whose items' serials and stamps come to a few
/// megabytes, more than a build holds in memory, with two items at the end
/// that repeat the key and the stamp of the first ones.
fn spilling_snapshot(manifest: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tracescan::synth::Config {
        products: 1500,
        batches_per_product: 10,
        items_per_batch: 10,
        compression: tracescan::synth::Compression::None,
        ..tracescan::synth::Config::default()
    };
    tracescan::synth::generate(&cfg, tmp.path()).unwrap();
    let items = tmp.path().join("items.jsonl");
    let text = fs::read_to_string(&items).unwrap();
    let mut lines = text.lines();
    let first: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let second: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let mut same_key = first.clone();
    same_key["stamp"] = "NEVERSEENSTAMP".into();
    let mut same_stamp = second.clone();
    same_stamp["serial"] = "NEVERSEENSERIAL".into();
    let mut file = fs::OpenOptions::new().append(true).open(&items).unwrap();
    writeln!(file, "{same_key}\n{same_stamp}").unwrap();
    let manifest_path = tmp.path().join("manifest.json");
    if manifest {
        let mut m: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
        let n = m["counts"]["items"].as_u64().unwrap();
        m["counts"]["items"] = (n + 2).into();
        fs::write(&manifest_path, m.to_string()).unwrap();
    } else {
        fs::remove_file(&manifest_path).unwrap();
    }
    tmp
}

#[test]
fn spilled_keys_are_read_back_for_checks_and_tables() {
    // With a manifest the tables are laid out once and a duplicate far back
    // is read from the file; without one they are laid out again as they
    // grow, reading every key back in order.
    for manifest in [true, false] {
        let snap = spilling_snapshot(manifest);
        let out = snap.path().join("out.idx");
        let summary = build::build(snap.path(), &out, &options(2)).unwrap();
        let report = summary.rejects_report.clone().unwrap();
        let rejects = report_lines(&report);
        let lines = summary.files[2].read;
        assert_eq!(
            rejects,
            [
                (
                    "items.jsonl".to_owned(),
                    lines - 1,
                    "duplicate_key".to_owned()
                ),
                ("items.jsonl".to_owned(), lines, "duplicate_key".to_owned()),
            ],
            "manifest {manifest}"
        );
        let text = fs::read_to_string(&report).unwrap();
        assert!(text.contains("is already the item of line 1"), "{text}");
        assert!(text.contains("is already on the item of line 2"), "{text}");
        // The file's bytes are those of the same build held in memory.
        let written = fs::read(&out).unwrap();
        let held = index_bytes(snap.path());
        const HEADER: usize = tracescan::index::format::HEADER_LEN;
        assert!(written.len() > 3 << 20, "{} bytes", written.len());
        assert_eq!(written[HEADER..], held[HEADER..], "manifest {manifest}");
        let index = tracescan::index::Index::open(&out).unwrap();
        assert_eq!(index.header().items, lines - 2);
    }
}
