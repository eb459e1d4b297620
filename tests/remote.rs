//! Indexes from object storage, with real parts: a `file://` store
//! (object_store's local filesystem store) for the protocol, each case a
//! replica started with the production wiring and asked over HTTP; and one
//! round against a real S3-compatible server (moto's server mode) through
//! the binaries, with a multipart upload and a download in ranges.
//!
//! The S3 round needs `moto_server`, named by TRACESCAN_MOTO_SERVER (`.ci/run`
//! installs it in a virtual environment). Without it the round says so and
//! passes, except under CI, where a missing server is a failure.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Server, data};
use tracescan::build::{self, RejectLog};
use tracescan::index::format::Header;
use tracescan::index::write;
use tracescan::remote::pointer::Pointer;
use tracescan::remote::{self, Remote};
use tracescan::service::FOLLOW_ERROR_REASONS;

/// How long anything waited for here may take.
const DEADLINE: Duration = Duration::from_secs(120);
/// An item of the bundled sample.
const ITEM: &str = "(01)08930002000017(10)L2611(21)S001001";

/// Waits until `done`, failing past [`DEADLINE`].
fn wait_for(what: &str, done: impl FnMut() -> bool) {
    common::wait_within(what, DEADLINE, done);
}

/// Writes `bytes` to `path` whole, as a store shows an object: by rename.
fn put(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("partial");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(tmp, path).unwrap();
}

/// A store on the local filesystem, and indexes to publish to it.
struct Store {
    dir: tempfile::TempDir,
    url: String,
    remote: Remote,
    scratch: tempfile::TempDir,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::Builder::new().prefix("store").tempdir().unwrap();
        let url = format!("file://{}/fleet", dir.path().display());
        let remote = Remote::open(&url, Duration::from_secs(10)).unwrap();
        Store {
            dir,
            url,
            remote,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// Where the URL's objects are on disk.
    fn root(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    /// The sample built under snapshot id `id`, as a file of its own.
    fn index(&self, id: &str) -> PathBuf {
        let path = self.scratch.path().join(format!("{id}.tsidx"));
        let mut rejects = RejectLog::new(self.scratch.path().join("rejects.jsonl"));
        let (mut payload, blob) = build::in_memory(&data("sample"), &mut rejects).unwrap();
        payload.snapshot_id = id.to_owned();
        write::write(payload, &mut &blob[..], 1_795_400_000, &path).unwrap();
        path
    }

    /// Publishes `index` as `tracescan publish` does.
    fn publish(&self, index: &Path) -> remote::Published {
        remote::publish(index, &self.remote).unwrap()
    }

    /// The pointer a publication of `index` writes, and where its object
    /// goes: for the cases that write them by hand.
    fn pointer_for(&self, index: &Path) -> (Pointer, PathBuf) {
        let header = Header::read(index).unwrap();
        let length = fs::metadata(index).unwrap().len();
        let pointer = Pointer::for_index(&header, length, tracescan::date::unix_now());
        let object = self.root().join(&pointer.key);
        (pointer, object)
    }

    fn write_pointer(&self, bytes: &[u8]) {
        put(&self.root().join("current.json"), bytes);
    }
}

/// A replica following `store` into an index directory of its own; its
/// watcher looks only when the follower wakes it.
fn replica(store: &Store) -> Server {
    Server::start(|config, dir| {
        config.index_dir = Some(dir.join("replica"));
        config.follow = Some(store.url.clone());
        config.follow_poll_ms = 20;
        config.follow_timeout_ms = 10_000;
        config.poll_ms = 3_600_000;
    })
}

/// The snapshot the replica serves, `None` before it serves one.
fn served(server: &Server) -> Option<String> {
    let r = server.get("/v1/index");
    (r.status == 200).then(|| r.json()["snapshot"].as_str().unwrap().to_owned())
}

fn wait_served(server: &Server, id: &str) {
    wait_for(&format!("serving {id}"), || {
        served(server).as_deref() == Some(id)
    });
}

/// Polls refused for `reason` so far.
fn errors(server: &Server, reason: &str) -> u64 {
    let i = FOLLOW_ERROR_REASONS
        .iter()
        .position(|r| *r == reason)
        .unwrap();
    server.service().follow.errors[i].load(Ordering::Relaxed)
}

/// Waits until the follower has refused `n` more polls for `reason`: the
/// refusal is retried.
fn wait_refused(server: &Server, reason: &str, n: u64) {
    let before = errors(server, reason);
    wait_for(&format!("{n} more polls refused for {reason}"), || {
        errors(server, reason) >= before + n
    });
}

/// The files of the replica's index directory, temporary ones included.
fn replica_files(server: &Server) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(server.dir.path().join("replica"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state")
        .collect();
    names.sort();
    names
}

/// `path`'s file name.
fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn an_empty_replica_is_ready_only_after_its_first_download() {
    let store = Store::new();
    let server = replica(&store);
    // Nothing published yet: polled, refused, and no index, so not ready.
    wait_refused(&server, "missing", 3);
    assert_eq!(server.get("/readyz").status, 503);
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(served(&server), None);

    let a = store.index("fleet-a");
    let published = store.publish(&a);
    assert!(published.uploaded);
    wait_for("ready", || server.get("/readyz").status == 200);
    assert_eq!(served(&server).as_deref(), Some("fleet-a"));
    assert_eq!(server.scan(ITEM).status, 200);
    assert_eq!(replica_files(&server), [published.pointer.file_name()]);
    let metrics = server.get("/metrics").text();
    for line in [
        "tracescan_follow_downloads_total 1\n",
        &format!(
            "tracescan_follow_downloaded_bytes_total {}\n",
            published.pointer.length
        ),
        &format!(
            "tracescan_follow_pointer_published_timestamp_seconds {}\n",
            published.pointer.published_at
        ),
        "tracescan_follow_errors_total{reason=\"checksum\"} 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(metrics.contains("tracescan_follow_errors_total{reason=\"missing\"} "));
}

#[test]
fn a_newer_publication_is_swapped_in_and_publishing_an_earlier_one_goes_back() {
    let store = Store::new();
    let a = store.index("fleet-a");
    store.publish(&a);
    let server = replica(&store);
    wait_served(&server, "fleet-a");

    let b = store.index("fleet-b");
    store.publish(&b);
    wait_served(&server, "fleet-b");
    assert_eq!(server.get("/readyz").status, 200);
    let follow = &server.service().follow;
    assert_eq!(follow.downloads.load(Ordering::Relaxed), 2);

    // The earlier index again: its object is there, so it is not uploaded;
    // the replica has it too, so it is not downloaded, only served.
    let again = store.publish(&a);
    assert!(!again.uploaded);
    wait_served(&server, "fleet-a");
    assert_eq!(follow.downloads.load(Ordering::Relaxed), 2);
    assert_eq!(server.scan(ITEM).status, 200);
}

#[test]
fn an_upload_cut_off_before_its_pointer_is_never_served() {
    let store = Store::new();
    let a = store.index("fleet-a");
    store.publish(&a);
    let server = replica(&store);
    wait_served(&server, "fleet-a");

    // B: the object uploaded whole, but the publication stopped before the
    // pointer. C: half an object, and a pointer to it (a store that showed
    // an object before it was whole).
    let b = store.index("fleet-b");
    let (_, b_object) = store.pointer_for(&b);
    put(&b_object, &fs::read(&b).unwrap());
    let c = store.index("fleet-c");
    let (c_pointer, c_object) = store.pointer_for(&c);
    let c_bytes = fs::read(&c).unwrap();
    put(&c_object, &c_bytes[..c_bytes.len() / 2]);
    store.write_pointer(&c_pointer.encode());
    wait_refused(&server, "length", 3);
    assert_eq!(served(&server).as_deref(), Some("fleet-a"));
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(
        replica_files(&server),
        [store.pointer_for(&a).0.file_name()],
        "nothing of B or C, not even a temporary file"
    );

    // C's upload completes: the same pointer is followed now.
    put(&c_object, &c_bytes);
    wait_served(&server, "fleet-c");
    assert!(!replica_files(&server).contains(&name(&b_object)));
}

#[test]
fn a_corrupt_object_is_refused_and_the_old_index_keeps_serving() {
    let store = Store::new();
    let a = store.index("fleet-a");
    store.publish(&a);
    let server = replica(&store);
    wait_served(&server, "fleet-a");
    let only_a = replica_files(&server);

    let b = store.index("fleet-b");
    let (pointer, object) = store.pointer_for(&b);
    let bytes = fs::read(&b).unwrap();
    // A byte flipped in the record JSON, which the header's checksum covers.
    let mut flipped = bytes.clone();
    let at = bytes.len() - 10;
    flipped[at] ^= 0x01;
    put(&object, &flipped);
    store.write_pointer(&pointer.encode());
    wait_refused(&server, "checksum", 3);
    assert_eq!(served(&server).as_deref(), Some("fleet-a"));
    assert_eq!(server.scan(ITEM).status, 200);
    assert_eq!(replica_files(&server), only_a);

    // A byte flipped in the header: no index's header.
    let mut flipped = bytes.clone();
    flipped[40] ^= 0x01;
    put(&object, &flipped);
    wait_refused(&server, "format", 2);
    assert_eq!(served(&server).as_deref(), Some("fleet-a"));
    assert_eq!(replica_files(&server), only_a);

    // The object repaired: followed.
    put(&object, &bytes);
    wait_served(&server, "fleet-b");
}

#[test]
fn a_pointer_to_a_missing_object_is_refused_and_retried() {
    let store = Store::new();
    let a = store.index("fleet-a");
    store.publish(&a);
    let server = replica(&store);
    wait_served(&server, "fleet-a");

    let b = store.index("fleet-b");
    let (pointer, object) = store.pointer_for(&b);
    store.write_pointer(&pointer.encode());
    wait_refused(&server, "missing", 3);
    assert_eq!(served(&server).as_deref(), Some("fleet-a"));
    assert_eq!(server.get("/readyz").status, 200);

    put(&object, &fs::read(&b).unwrap());
    wait_served(&server, "fleet-b");
}

#[test]
fn malformed_oversized_and_unbounded_pointers_are_refused() {
    let store = Store::new();
    let a = store.index("fleet-a");
    store.publish(&a);
    let server = replica(&store);
    wait_served(&server, "fleet-a");
    let only_a = replica_files(&server);

    // B's object is there: only the pointer is wrong.
    let b = store.index("fleet-b");
    let (pointer, object) = store.pointer_for(&b);
    put(&object, &fs::read(&b).unwrap());
    let good = String::from_utf8(pointer.encode()).unwrap();
    let climbing = good.replace(&pointer.key, "../../outside/x.tsidx");
    let mut padded = good.clone();
    padded.push_str(&" ".repeat(20_000));
    let mut huge = pointer.clone();
    huge.length = u64::MAX / 2;
    for (what, bytes, reason) in [
        ("cut short", good[..good.len() / 2].to_owned(), "pointer"),
        ("a key out of the store", climbing, "pointer"),
        ("over 16 KiB", padded, "pointer"),
        ("not JSON", "\u{0}\u{1}garbage".to_owned(), "pointer"),
        (
            "a length past the free space",
            String::from_utf8(huge.encode()).unwrap(),
            "local",
        ),
    ] {
        store.write_pointer(bytes.as_bytes());
        wait_refused(&server, reason, 2);
        assert_eq!(served(&server).as_deref(), Some("fleet-a"), "{what}");
        assert_eq!(replica_files(&server), only_a, "{what}");
    }

    store.write_pointer(good.as_bytes());
    wait_served(&server, "fleet-b");
}

// ---- A download cut off ----------------------------------------------------

/// An HTTP server of one pointer and one object, as object_store's HTTP
/// store reads them (HEAD, GET, ranges), which sends no byte of the object
/// past `cut`: each answer past it ends there, its connection closed.
struct CuttingServer {
    addr: SocketAddr,
    cut: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CuttingServer {
    fn start(pointer: Vec<u8>, key: String, object: Vec<u8>, cut: u64) -> CuttingServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicU64::new(cut));
        let stop = Arc::new(AtomicBool::new(false));
        let (cut_at, stopped) = (cut.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let cut = cut_at.load(Ordering::Relaxed);
                let _ = answer(&mut conn, &pointer, &key, &object, cut);
            }
        });
        CuttingServer {
            addr,
            cut,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CuttingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request on `conn`, then closes it.
fn answer(
    conn: &mut TcpStream,
    pointer: &[u8],
    key: &str,
    object: &[u8],
    cut: u64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    let request: Vec<&str> = head.first().map_or(vec![], |l| l.split(' ').collect());
    let (method, path) = (request.first().copied(), request.get(1).copied());
    let range = head.iter().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        let (from, to) = name
            .eq_ignore_ascii_case("range")
            .then(|| value.trim().strip_prefix("bytes="))??
            .split_once('-')?;
        Some((from.parse::<u64>().ok()?, to.parse::<u64>().ok()?))
    });
    let total = object.len() as u64;
    let common = "Last-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\nConnection: close";
    match (method, path) {
        (Some("GET"), Some("/fleet/current.json")) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{common}\r\n\r\n",
                pointer.len()
            );
            conn.write_all(head.as_bytes())?;
            conn.write_all(pointer)
        }
        (Some("HEAD"), Some(p)) if p == format!("/fleet/{key}") => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n{common}\r\n\r\n");
            conn.write_all(head.as_bytes())
        }
        (Some("GET"), Some(p)) if p == format!("/fleet/{key}") => {
            let (from, to) = range.unwrap_or((0, total - 1));
            let to = to.min(total - 1);
            let head = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{to}/{total}\r\nContent-Length: {}\r\n{common}\r\n\r\n",
                to + 1 - from
            );
            conn.write_all(head.as_bytes())?;
            let end = (to + 1).min(cut.max(from));
            conn.write_all(&object[from as usize..end as usize])
        }
        _ => conn.write_all(
            format!("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n{common}\r\n\r\n").as_bytes(),
        ),
    }
}

#[test]
fn a_download_cut_off_is_refused_retried_and_never_served() {
    let store = Store::new();
    let a = store.index("fleet-a");
    let (pointer, _) = store.pointer_for(&a);
    let bytes = fs::read(&a).unwrap();
    let http = CuttingServer::start(
        pointer.encode(),
        pointer.key.clone(),
        bytes.clone(),
        bytes.len() as u64 / 2,
    );
    let server = Server::start(|config, dir| {
        config.index_dir = Some(dir.join("replica"));
        config.follow = Some(format!("http://{}/fleet", http.addr));
        config.follow_poll_ms = 20;
        config.follow_timeout_ms = 10_000;
    });
    wait_refused(&server, "interrupted", 3);
    assert_eq!(server.get("/readyz").status, 503);
    assert_eq!(
        replica_files(&server),
        Vec::<String>::new(),
        "no index, not even a temporary file"
    );

    // The connection holds now: the same object is followed.
    http.cut.store(u64::MAX, Ordering::Relaxed);
    wait_for("ready", || server.get("/readyz").status == 200);
    assert_eq!(served(&server).as_deref(), Some("fleet-a"));
}

// ---- A real S3-compatible server --------------------------------------------

/// moto's server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `moto_server` TRACESCAN_MOTO_SERVER names; `None` when none is
/// named and this is not CI.
fn moto(log: &Path) -> Option<Moto> {
    let Some(bin) = std::env::var_os("TRACESCAN_MOTO_SERVER") else {
        if std::env::var_os("CI").is_some() {
            panic!("TRACESCAN_MOTO_SERVER is not set: CI must install moto (see .ci/run)");
        }
        eprintln!(
            "skipped: no S3-compatible server; set TRACESCAN_MOTO_SERVER to moto_server \
             (python3 -m venv /tmp/moto && /tmp/moto/bin/pip install 'moto[server]')"
        );
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(fs::File::create(log).unwrap())
        .stderr(fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", PathBuf::from(&bin).display()));
    let mut moto = Moto {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    wait_for("moto_server to answer", || {
        if let Some(status) = moto.child.try_wait().unwrap() {
            panic!(
                "moto_server ended ({status}): {}",
                fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            );
        }
        http(moto.addr, "GET", "/").is_some()
    });
    Some(moto)
}

/// The status of `method path` with an empty body, `None` without an answer.
fn http(addr: SocketAddr, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let status = common::Response::parse(&answer).status;
    (status > 0).then_some(status)
}

/// The environment that points the S3 client at `moto`.
fn s3_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT", format!("http://{}", moto.addr)),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "tracescan-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "tracescan-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// Runs `tracescan ARGS` with `env` to its end, within [`DEADLINE`];
/// returns its standard output, failing with its standard error.
fn tracescan(args: &[&std::ffi::OsStr], env: &[(&'static str, String)], log: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracescan"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tracescan {args:?} took over {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().unwrap();
    assert!(
        status.success(),
        "tracescan {args:?}: {status}\n{stdout}\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
    stdout
}

/// `tracescan serve ARGS` with `env`, stopped when dropped; its address once
/// it has served an index.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&std::ffi::OsStr], env: &[(&'static str, String)], log: &Path) -> Replica {
    let child = Command::new(env!("CARGO_BIN_EXE_tracescan"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--threads", "1"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    // Stopped when dropped, a failure here included.
    let mut replica = Replica {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    // The address is printed once the first index serves; the lines are
    // read on a thread of their own, so that the wait has a deadline.
    let (lines, listening) = std::sync::mpsc::channel();
    let stdout = BufReader::new(replica.child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = listening.recv_timeout(left).unwrap_or_else(|e| {
            panic!(
                "the replica did not serve within {DEADLINE:?} ({e}):\n{}",
                fs::read_to_string(log).unwrap_or_default()
            )
        });
        if let Some(rest) = line.split("listening on http://").nth(1) {
            replica.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            return replica;
        }
    }
}

/// The snapshot the replica at `addr` serves.
fn served_at(addr: SocketAddr) -> Option<String> {
    let r = common::request(addr, "GET", "/v1/index", None, "");
    (r.status == 200).then(|| r.json()["snapshot"].as_str().unwrap().to_owned())
}

#[test]
fn an_s3_compatible_server_carries_a_fleet_round() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(moto) = moto(&tmp.path().join("moto.log")) else {
        return;
    };
    assert_eq!(
        http(moto.addr, "PUT", "/tracescan"),
        Some(200),
        "the bucket is made"
    );
    let env = s3_env(&moto);
    let url = "s3://tracescan/fleet";

    // An index of more than one 16 MiB part: a multipart upload, and a
    // download in more than one range.
    let snapshot = tmp.path().join("snapshot");
    let synth = tracescan::synth::Config {
        products: 3_000,
        batches_per_product: 10,
        items_per_batch: 10,
        ..tracescan::synth::Config::default()
    };
    tracescan::synth::generate(&synth, &snapshot).unwrap();
    let big = tmp.path().join("big.tsidx");
    let out = tracescan(
        &[
            "build".as_ref(),
            snapshot.as_os_str(),
            "--out".as_ref(),
            big.as_os_str(),
            "--publish".as_ref(),
            url.as_ref(),
        ],
        &env,
        &tmp.path().join("build.log"),
    );
    assert!(
        out.contains("uploaded s3://tracescan/fleet/indexes/"),
        "{out}"
    );
    let length = fs::metadata(&big).unwrap().len();
    assert!(length > 16 << 20, "{length} bytes: one part only");
    let big_id = Header::read(&big).unwrap().snapshot_id;

    let replica_dir = tmp.path().join("replica");
    let replica = serve(
        &[
            "--index-dir".as_ref(),
            replica_dir.as_os_str(),
            "--follow".as_ref(),
            url.as_ref(),
            "--follow-poll-ms".as_ref(),
            "50".as_ref(),
        ],
        &env,
        &tmp.path().join("serve.log"),
    );
    assert_eq!(served_at(replica.addr), Some(big_id));

    // A second publication, through `tracescan publish`.
    let store = Store::new();
    let second = store.index("s3-second");
    let out = tracescan(
        &[
            "publish".as_ref(),
            second.as_os_str(),
            "--to".as_ref(),
            url.as_ref(),
        ],
        &env,
        &tmp.path().join("publish.log"),
    );
    assert!(
        out.contains("pointer s3://tracescan/fleet/current.json -> indexes/s3-second-"),
        "{out}"
    );
    wait_for("the second index served", || {
        served_at(replica.addr).as_deref() == Some("s3-second")
    });
    let metrics = common::request(replica.addr, "GET", "/metrics", None, "").text();
    assert!(
        metrics.contains("tracescan_follow_downloads_total 2\n"),
        "{metrics}"
    );
    let item = common::request(
        replica.addr,
        "GET",
        "/v1/scan?code=%2801%2908930002000017%2810%29L2611%2821%29S001001",
        None,
        "",
    );
    assert_eq!(item.status, 200);
}
