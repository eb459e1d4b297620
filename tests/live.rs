//! Status changes and scan counts: kept across restarts, torn last lines cut
//! off, bad lines reported, changes retired when a snapshot carries them, and
//! the scan log compacted without losing a count.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::{copy_snapshot, data, index_of};
use tracescan::code::Gtin;
use tracescan::date::Date;
use tracescan::live::overlay::{Change, NewStatus, Overlay, OverlayError, Target};
use tracescan::live::scans::{Scans, Seen};
use tracescan::service;

fn gtin(s: &str) -> Gtin {
    Gtin::parse(s).unwrap()
}

fn change(target: Target, status: NewStatus, notice: Option<&str>) -> Change {
    Change {
        target,
        status,
        notice: notice.map(str::to_owned),
        at: 1_795_000_000,
    }
}

#[test]
fn overlay_changes_survive_a_restart_and_a_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/overlay.log");
    let recall = change(
        Target::Product(gtin("08930002000017")),
        NewStatus::Recalled,
        Some("Thu hồi khẩn cấp."),
    );
    let void = change(
        Target::Item(gtin("08930002000017"), "S001001".into()),
        NewStatus::Void,
        None,
    );
    let withdrawn = change(
        Target::Batch(gtin("08930002000086"), "L2517".into()),
        NewStatus::Withdrawn,
        None,
    );
    {
        let overlay = Overlay::open(&path).unwrap();
        overlay.set(recall.clone()).unwrap();
        overlay.set(void.clone()).unwrap();
        overlay.set(withdrawn.clone()).unwrap();
        overlay.undo(&withdrawn.target).unwrap();
        assert!(matches!(
            overlay.undo(&withdrawn.target),
            Err(OverlayError::NoChange(_))
        ));
        // What the overlay refuses, it does not log.
        for (target, status) in [
            (Target::Product(gtin("08930002000017")), NewStatus::Void),
            (
                Target::Item(gtin("08930002000017"), "S1".into()),
                NewStatus::Recalled,
            ),
        ] {
            let refused = overlay.set(change(target, status, None));
            assert!(matches!(refused, Err(OverlayError::Invalid(_))));
        }
    }
    // A crash in the middle of the next append.
    let mut log = OpenOptions::new().append(true).open(&path).unwrap();
    log.write_all(br#"{"op":"set","gtin":"0893000200"#).unwrap();
    drop(log);

    let overlay = Overlay::open(&path).unwrap();
    let changes = overlay.load();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes.product(gtin("8930002000017")), Some(&recall));
    assert_eq!(changes.item(gtin("08930002000017"), "S001001"), Some(&void));
    assert_eq!(changes.batch(gtin("08930002000086"), "L2517"), None);
    assert!(
        fs::read(&path).unwrap().ends_with(b"}\n"),
        "torn line cut off"
    );
    // And the log still takes changes after the cut.
    overlay.set(withdrawn.clone()).unwrap();
    drop(overlay);
    assert_eq!(Overlay::open(&path).unwrap().load().len(), 3);
}

#[test]
fn a_bad_line_inside_the_overlay_log_stops_the_start_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overlay.log");
    {
        let overlay = Overlay::open(&path).unwrap();
        overlay
            .set(change(
                Target::Product(gtin("08930002000017")),
                NewStatus::Recalled,
                None,
            ))
            .unwrap();
    }
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{}{text}", text.replace("recalled", "lost"))).unwrap();
    let err = Overlay::open(&path).err().expect("a bad line is an error");
    assert!(err.to_string().contains("overlay.log line 1"), "{err}");
}

#[test]
fn overlay_without_a_log_refuses_changes() {
    let overlay = Overlay::in_memory();
    let refused = overlay.set(change(
        Target::Product(gtin("08930002000017")),
        NewStatus::Recalled,
        None,
    ));
    assert!(matches!(refused, Err(OverlayError::NotDurable)));
    assert!(overlay.load().is_empty());
}

#[test]
fn a_change_retires_once_a_newer_snapshot_carries_it_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overlay.log");
    let overlay = Overlay::open(&path).unwrap();
    let product = Target::Product(gtin("08930002000017"));
    let batch = Target::Batch(gtin("08930002000017"), "L2611".into());
    overlay
        .set(change(
            product.clone(),
            NewStatus::Recalled,
            Some("Urgent."),
        ))
        .unwrap();
    overlay
        .set(change(batch.clone(), NewStatus::Withdrawn, None))
        .unwrap();

    // The sample does not carry either change.
    assert_eq!(
        overlay.retire_carried(&index_of(&data("sample"))).unwrap(),
        0
    );
    assert_eq!(overlay.load().len(), 2);

    // A newer snapshot recalls the product (with a notice of its own) but
    // still has the batch active.
    let newer = copy_snapshot(&data("sample"));
    let products = fs::read_to_string(newer.path().join("products.jsonl")).unwrap();
    let mut lines: Vec<String> = products.lines().map(str::to_owned).collect();
    let mut first: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["gtin"], "08930002000017");
    first.insert("status".into(), "recalled".into());
    first.insert("recall_notice".into(), "Recalled by the producer.".into());
    lines[0] = serde_json::to_string(&first).unwrap();
    fs::write(newer.path().join("products.jsonl"), lines.join("\n") + "\n").unwrap();
    let index = index_of(newer.path());

    assert_eq!(overlay.retire_carried(&index).unwrap(), 1);
    let changes = overlay.load();
    assert_eq!(changes.product(gtin("08930002000017")), None);
    assert!(changes.batch(gtin("08930002000017"), "L2611").is_some());
    drop(changes);
    drop(overlay);
    // Retirement is logged: the restart agrees.
    let reopened = Overlay::open(&path).unwrap();
    assert_eq!(reopened.load().len(), 1);
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .contains(r#""op":"retire""#)
    );
}

#[test]
fn scan_counts_survive_a_restart_and_compaction_keeps_every_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scans.log");
    let a = (gtin("08930002000017"), "S001001");
    let b = (gtin("08930002000086"), "S9");
    let mut expected_a = 0;
    {
        // Compaction from 10 lines on.
        let scans = Scans::open(&path, 10).unwrap();
        assert_eq!(
            scans.count(a.0, a.1, 100, None),
            Seen {
                count: 1,
                first_at: 100
            }
        );
        expected_a += 1;
        assert_eq!(scans.count(b.0, b.1, 150, None).count, 1);
        for round in 0..30 {
            scans.count(a.0, a.1, 200 + round, None);
            expected_a += 1;
            scans.flush().unwrap();
        }
        assert!(
            scans
                .stats
                .compactions
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 1
        );
        // Counted after the last flush: not in the log yet.
        scans.count(b.0, b.1, 900, None);
    }
    let lines = fs::read_to_string(&path).unwrap().lines().count();
    assert!(lines <= 10, "the log was compacted, {lines} lines");
    let scans = Scans::open(&path, 10).unwrap();
    assert_eq!(
        scans.get(a.0, a.1),
        Some(Seen {
            count: expected_a,
            first_at: 100
        })
    );
    // b's second scan came after the last flush and is the loss of a crash.
    assert_eq!(
        scans.get(b.0, b.1),
        Some(Seen {
            count: 1,
            first_at: 150
        })
    );
    assert_eq!(scans.items(), 2);
}

#[test]
fn sizing_and_touching_the_counts_before_serving_keeps_every_replayed_count_and_adds_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scans.log");
    let a = (gtin("08930002000017"), "S001001");
    let b = (gtin("08930002000086"), "S9");
    {
        let scans = Scans::open(&path, 1000).unwrap();
        scans.count(a.0, a.1, 100, None);
        scans.count(a.0, a.1, 120, None);
        scans.count(b.0, b.1, 150, None);
        scans.flush().unwrap();
    }
    // A room larger than the map's: the replayed counts move to a new map.
    let scans = Scans::open(&path, 1000)
        .unwrap()
        .with_repeat_window(60)
        .with_room(1 << 20);
    scans.touch();
    assert_eq!(scans.items(), 2, "no placeholder is left in the map");
    assert_eq!(scans.unflushed(), 0, "nor on the way to the log");
    assert_eq!(
        scans.get(a.0, a.1),
        Some(Seen {
            count: 2,
            first_at: 100
        })
    );
    assert_eq!(scans.get(b.0, b.1).map(|s| s.count), Some(1));
    // Counting goes on from the replayed counts, repeats recognised.
    assert_eq!(scans.count(a.0, a.1, 200, Some(7)).count, 3);
    assert_eq!(scans.count(a.0, a.1, 201, Some(7)).count, 3);
    assert_eq!(scans.flush().unwrap(), 1);
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3);
}

#[test]
fn a_flush_writes_each_item_scanned_since_the_last_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scans.log");
    let a = (gtin("08930002000017"), "S001001");
    let b = (gtin("08930002000086"), "S9");
    let scans = Scans::open(&path, 1000).unwrap();
    for _ in 0..5 {
        scans.count(a.0, a.1, 100, None);
        scans.count(b.0, b.1, 100, None);
    }
    assert_eq!(scans.unflushed(), 2);
    assert_eq!(scans.flush().unwrap(), 2);
    assert_eq!(scans.unflushed(), 0);
    assert_eq!(scans.flush().unwrap(), 0, "nothing scanned since");
    scans.count(a.0, a.1, 200, None);
    scans.count(a.0, a.1, 201, None);
    assert_eq!(scans.flush().unwrap(), 1);
    let log = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[2].starts_with("08930002000017\t7\t100\t"), "{log}");
}

#[test]
fn a_torn_scan_log_keeps_every_complete_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scans.log");
    let a = (gtin("08930002000017"), "S001001");
    {
        let scans = Scans::open(&path, 1000).unwrap();
        for _ in 0..3 {
            scans.count(a.0, a.1, 100, None);
        }
        scans.flush().unwrap();
    }
    let mut log = OpenOptions::new().append(true).open(&path).unwrap();
    log.write_all(b"08930002000017\t9").unwrap();
    drop(log);
    let scans = Scans::open(&path, 1000).unwrap();
    assert_eq!(scans.get(a.0, a.1).map(|s| s.count), Some(3));

    fs::write(&path, "08930002000017\tmany\t100\tS1\n").unwrap();
    let err = Scans::open(&path, 1000)
        .err()
        .expect("a bad line is an error");
    assert!(err.to_string().contains("scans.log line 1"), "{err}");
}

#[test]
fn an_answer_shows_a_change_exactly_like_a_snapshot_status() {
    // The same recall, once from the snapshot and once from the overlay,
    // gives the same product record and the same warning.
    let recalled = "8930002000369";
    let index = index_of(&data("sample"));
    let today = Date {
        year: 2026,
        month: 11,
        day: 22,
    };
    let from_snapshot =
        service::answer_from_index(&index, &service::Request::json(recalled), today);
    let snapshot: serde_json::Value = serde_json::from_slice(&from_snapshot.body).unwrap();
    let notice = snapshot["product"]["recall_notice"]
        .as_str()
        .unwrap()
        .to_owned();

    // Undo the snapshot's recall with an `active` change, then recall again
    // through the overlay with the same notice.
    let dir = tempfile::tempdir().unwrap();
    let overlay = Overlay::open(&dir.path().join("overlay.log")).unwrap();
    let target = Target::Product(gtin(recalled));
    let answer = |overlay: &Overlay| {
        let changes = overlay.load();
        let live = tracescan::live::Context {
            changes: &changes,
            scans: None,
            client: None,
            warn_above: u64::MAX,
            now: 0,
            today,
        };
        let a = service::answer(&index, &service::Request::json(recalled), &live);
        serde_json::from_slice::<serde_json::Value>(&a.body).unwrap()
    };
    overlay
        .set(change(target.clone(), NewStatus::Active, None))
        .unwrap();
    let lifted = answer(&overlay);
    assert_eq!(lifted["product"]["status"], "active");
    assert!(lifted["product"].get("recall_notice").is_none());
    assert_eq!(lifted["warnings"], serde_json::json!([]));

    overlay
        .set(change(target, NewStatus::Recalled, Some(&notice)))
        .unwrap();
    let again = answer(&overlay);
    assert_eq!(again["product"], snapshot["product"]);
    assert_eq!(again["warnings"], snapshot["warnings"]);
}
