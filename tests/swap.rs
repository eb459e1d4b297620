//! Hot swap under load: indexes published into a directory replace each other
//! while requests flow; corrupt ones are refused; no answer fails or is wrong.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Server;
use common::data;
use tracescan::build::{self, RejectLog};
use tracescan::index::write;
use tracescan::swap::Outcome;

/// Publishes the sample as `name` in `dir`, under snapshot id `id`, the way
/// `tracescan build` does (temporary file, then rename).
fn publish(dir: &Path, name: &str, id: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let mut rejects = RejectLog::new(scratch.path().join("r.jsonl"));
    let (mut payload, blob) = build::in_memory(&data("sample"), &mut rejects).unwrap();
    payload.snapshot_id = id.to_owned();
    write::write(payload, &mut &blob[..], 0, &dir.join(name)).unwrap();
}

/// Publishes a file that is not an index.
fn publish_corrupt(dir: &Path, name: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, b"TRSCNIDX but nothing after it").unwrap();
    fs::rename(tmp, dir.join(name)).unwrap();
}

/// One answer: status, the generation it names, the snapshot it came from.
fn read_answer(r: &mut BufReader<TcpStream>) -> (u16, u64, String) {
    let response = common::read_response(r).expect("an answer");
    let (status, body) = (response.status, &response.body);
    let generation = response
        .header("x-tracescan-generation")
        .map_or(0, |v| v.parse().unwrap());
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let right = json["match"] == "item" && json["item"]["serial"] == "S001001";
    let snapshot = if right {
        json["snapshot"].as_str().unwrap_or("").to_owned()
    } else {
        format!("WRONG {json}")
    };
    (status, generation, snapshot)
}

#[test]
fn fifty_swaps_under_load_with_no_failed_or_wrong_answer() {
    // Two workers; an index directory that the test alone checks, through
    // the server's own reloader.
    let server = Server::start(|config, _| {
        config.threads = Some(2);
        config.poll_ms = 3_600_000;
    });
    let (addr, dir) = (server.addr, server.dir.path().join("indexes"));
    let state = server.service().clone();
    let reloader = server.app().reloader.clone().unwrap();
    let mut reloader = reloader.lock().unwrap();
    publish(&dir, "000.tsidx", "gen-000");
    let mut snapshots: HashMap<u64, String> = HashMap::new();
    let Outcome::Swapped { generation, .. } = reloader.check().unwrap() else {
        panic!("the first index must serve")
    };
    snapshots.insert(generation, "gen-000".into());

    // Two clients on keep-alive connections, asking without pause.
    let running = Arc::new(AtomicBool::new(true));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let running = running.clone();
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut answers = Vec::new();
                while running.load(Ordering::Relaxed) {
                    writer
                        .write_all(b"GET /v1/scan?code=VN-0011-1010 HTTP/1.1\r\nHost: t\r\n\r\n")
                        .unwrap();
                    answers.push(read_answer(&mut reader));
                }
                answers
            })
        })
        .collect();

    let (mut swapped, mut refused) = (0, 0);
    for i in 1..=60 {
        let name = format!("{i:03}.tsidx");
        if i % 6 == 0 {
            publish_corrupt(&dir, &name);
            match reloader.check().unwrap() {
                Outcome::Refused { .. } => refused += 1,
                other => panic!("a corrupt index must be refused, got {other:?}"),
            }
            assert_eq!(
                reloader.check().unwrap(),
                Outcome::Unchanged,
                "a refused file is tried once"
            );
        } else {
            let id = format!("gen-{i:03}");
            publish(&dir, &name, &id);
            match reloader.check().unwrap() {
                Outcome::Swapped { generation, .. } => {
                    snapshots.insert(generation, id);
                    swapped += 1;
                }
                other => panic!("index {i} must be swapped in, got {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    running.store(false, Ordering::Relaxed);
    let answers: Vec<(u16, u64, String)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();

    assert_eq!((swapped, refused), (50, 10));
    assert_eq!(state.refused.load(Ordering::Relaxed), 10);
    assert!(
        answers.len() > 100,
        "only {} answers under load",
        answers.len()
    );
    let mut seen = std::collections::BTreeSet::new();
    for (status, generation, snapshot) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(
            snapshots.get(generation),
            Some(snapshot),
            "generation {generation} answered from {snapshot}"
        );
        seen.insert(*generation);
    }
    assert!(
        seen.len() > 10,
        "answers should span many generations, saw {}",
        seen.len()
    );
    // Every request is over: only the generation in service is still mapped.
    assert_eq!(state.mapped_generations(), 1);
    // Retention: the three newest files, plus the served and previous ones.
    let left = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tsidx")
        })
        .count();
    assert!(left <= 4, "{left} index files left");

    // Rollback serves the previous good index, and stays until a newer one.
    match reloader.rollback().unwrap() {
        Outcome::Swapped { generation, path } => {
            assert!(path.ends_with("058.tsidx"), "{path:?}");
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(
                b"GET /v1/scan?code=VN-0011-1010 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let (status, g, snapshot) = read_answer(&mut BufReader::new(s));
            assert_eq!((status, g, snapshot.as_str()), (200, generation, "gen-058"));
        }
        other => panic!("rollback failed: {other:?}"),
    }
    assert_eq!(reloader.check().unwrap(), Outcome::Unchanged);
    publish(&dir, "061.tsidx", "gen-061");
    assert!(matches!(reloader.check().unwrap(), Outcome::Swapped { .. }));
}
