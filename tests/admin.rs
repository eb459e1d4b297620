//! The admin API: refused without the token, reload and rollback with it, kept
//! to its own address when asked, and the token never in the logs.

mod common;

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::data;
use tracescan::build::{self, Options};
use tracescan::server::{self, Routes, State};
use tracescan::swap::Reloader;

const TOKEN: &str = "s3cret-admin-token-0123456789";

fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    send(addr, method, path, token, "")
}

fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let response = common::exchange(&mut BufReader::new(s), method, path, token, body)
        .unwrap_or_else(|| panic!("no response to {method} {path}"));
    (
        response.status,
        String::from_utf8(response.body).expect("a UTF-8 body"),
    )
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.thread.take().unwrap().join().unwrap().unwrap();
    }
}

fn start(state: Arc<State>, routes: Routes) -> Running {
    let listeners = server::bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = server::Config {
        routes,
        ..server::Config::default()
    };
    let thread = Some(std::thread::spawn(move || {
        server::run(listeners, state, config, stopped)
    }));
    Running { addr, stop, thread }
}

fn publish(dir: &Path, name: &str) {
    build::build(&data("sample"), &dir.join(name), &Options::default()).unwrap();
}

#[test]
fn without_a_token_configured_the_admin_api_is_off() {
    let server = start(Arc::new(State::new(0)), Routes::All);
    let (status, body) = request(server.addr, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("admin_disabled"));
}

#[test]
fn reload_and_rollback_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(State::new(0).with_admin_token(TOKEN));
    let reloader = Arc::new(Mutex::new(Reloader::new(state.clone(), dir.path(), 3)));
    let server = start(state.clone(), Routes::All);

    // No index directory control yet.
    assert_eq!(
        request(server.addr, "POST", "/admin/reload", Some(TOKEN)).0,
        409
    );
    let _ = state.control.set(reloader);

    for token in [
        None,
        Some("wrong-token-wrong-token"),
        Some(&TOKEN[..TOKEN.len() - 1]),
    ] {
        let (status, body) = request(server.addr, "POST", "/admin/reload", token);
        assert_eq!(status, 401, "{token:?}: {body}");
    }
    assert_eq!(
        request(server.addr, "GET", "/admin/reload", Some(TOKEN)).0,
        405
    );
    assert_eq!(
        request(server.addr, "POST", "/admin/nothing", Some(TOKEN)).0,
        404
    );

    publish(dir.path(), "a.tsidx");
    let (status, body) = request(server.addr, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(
        (status, body.contains(r#""outcome":"swapped""#)),
        (200, true),
        "{body}"
    );
    assert_eq!(request(server.addr, "GET", "/readyz", None).0, 200);
    let (status, body) = request(server.addr, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!((status, body.as_str()), (200, r#"{"outcome":"unchanged"}"#));
    // Nothing to roll back to yet.
    assert_eq!(
        request(server.addr, "POST", "/admin/rollback", Some(TOKEN)).0,
        409
    );

    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(dir.path().join("b.tsidx"), b"not an index").unwrap();
    let (status, body) = request(server.addr, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("b.tsidx was refused"), "{body}");

    std::thread::sleep(Duration::from_millis(20));
    publish(dir.path(), "c.tsidx");
    let (status, body) = request(server.addr, "POST", "/admin/reload", Some(TOKEN));
    assert!(
        status == 200 && body.contains(r#""generation":2"#),
        "{body}"
    );
    let (status, body) = request(server.addr, "POST", "/admin/rollback", Some(TOKEN));
    assert!(
        status == 200 && body.contains(r#""generation":3"#) && body.contains("a.tsidx"),
        "{body}"
    );
}

#[test]
fn the_admin_api_can_have_an_address_of_its_own() {
    let state = Arc::new(State::new(0).with_admin_token(TOKEN));
    let public = start(state.clone(), Routes::Public);
    let admin = start(state, Routes::Admin);
    assert_eq!(
        request(public.addr, "POST", "/admin/reload", Some(TOKEN)).0,
        404
    );
    assert_eq!(
        request(admin.addr, "POST", "/admin/reload", Some(TOKEN)).0,
        409
    );
    assert_eq!(request(admin.addr, "GET", "/healthz", None).0, 404);
    assert_eq!(request(public.addr, "GET", "/healthz", None).0, 200);
}

#[test]
fn the_token_never_appears_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "a.tsidx");
    let (mut child, addr) = common::spawn_serve(
        &["--index-dir".as_ref(), dir.path().as_os_str()],
        &[("TRACESCAN_ADMIN_TOKEN", TOKEN), ("RUST_LOG", "trace")],
        &dir.path().join("serve.log"),
    );
    assert_eq!(request(addr, "POST", "/admin/reload", Some(TOKEN)).0, 200);
    assert_eq!(
        request(
            addr,
            "POST",
            "/admin/reload",
            Some("a-wrong-token-that-is-long")
        )
        .0,
        401
    );
    assert_eq!(
        request(addr, "GET", "/v1/scan?code=VN-0011-1010", Some(TOKEN)).0,
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    // Both admin requests are in the audit log, the accepted and the refused.
    assert!(logs.contains("admin POST /admin/reload: 200 OK"), "{logs}");
    assert!(
        logs.contains("admin POST /admin/reload refused: missing or wrong token"),
        "{logs}"
    );
    assert!(
        !logs.contains(TOKEN) && !logs.contains("a-wrong-token"),
        "a token leaked into the logs"
    );
}

/// A state serving the sample, with an overlay and scan counts kept in `dir`.
fn live_state(dir: &Path, warn_above: u64) -> Arc<State> {
    use tracescan::live::{overlay::Overlay, scans::Scans};
    publish(dir, "a.tsidx");
    let state = State::new(0).with_admin_token(TOKEN).with_live(
        Overlay::open(&dir.join("state/overlay.log")).unwrap(),
        Scans::open(&dir.join("state/scans.log"), 1000).unwrap(),
        warn_above,
    );
    let path = dir.join("a.tsidx");
    state.install(tracescan::index::Index::open(&path).unwrap(), &path);
    Arc::new(state)
}

fn scan(addr: SocketAddr, code: &str) -> serde_json::Value {
    let (status, body) = request(addr, "GET", &format!("/v1/scan?code={code}"), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn codes(answer: &serde_json::Value) -> Vec<&str> {
    answer["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect()
}

#[test]
fn overlay_changes_need_the_token_and_apply_to_the_next_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(live_state(dir.path(), 1000), Routes::All);
    let addr = server.addr;
    let recall =
        r#"{"gtin": "08930002000017", "status": "recalled", "notice": "Thu hồi: lô nhiễm khuẩn."}"#;

    for token in [None, Some("wrong-token-wrong-token")] {
        assert_eq!(send(addr, "POST", "/admin/overlay", token, recall).0, 401);
        assert_eq!(request(addr, "GET", "/admin/overlay", token).0, 401);
    }
    assert_eq!(codes(&scan(addr, "08930002000017")), Vec::<&str>::new());

    let (status, body) = send(addr, "POST", "/admin/overlay", Some(TOKEN), recall);
    assert_eq!(status, 200, "{body}");
    let answer = scan(addr, "08930002000017");
    assert_eq!(answer["product"]["status"], "recalled");
    assert_eq!(
        answer["product"]["recall_notice"],
        "Thu hồi: lô nhiễm khuẩn."
    );
    assert_eq!(codes(&answer), ["recalled"]);
    assert!(
        answer["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("Thu hồi: lô nhiễm khuẩn.")
    );

    // A batch withdrawn, an item voided by its stamp.
    let (status, body) = send(
        addr,
        "POST",
        "/admin/overlay",
        Some(TOKEN),
        r#"{"gtin": "8930002000086", "lot": "L2517", "status": "withdrawn"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        addr,
        "POST",
        "/admin/overlay",
        Some(TOKEN),
        r#"{"stamp": "VN-0011-1010", "status": "void"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""serial":"S001001""#), "{body}");
    let answer = scan(addr, "VN-0011-1010");
    assert_eq!(answer["item"]["status"], "void");
    assert_eq!(codes(&answer), ["recalled", "void_item"]);
    let answer = scan(addr, "(01)08930002000086(10)L2517");
    assert_eq!(answer["batch"]["status"], "withdrawn");
    assert_eq!(codes(&answer), ["withdrawn"]);

    let (status, body) = request(addr, "GET", "/admin/overlay", Some(TOKEN));
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["changes"].as_array().unwrap().len(), 3, "{body}");

    // Undo: the snapshot's own status speaks again.
    let (status, body) = send(
        addr,
        "POST",
        "/admin/overlay/undo",
        Some(TOKEN),
        r#"{"gtin": "08930002000017"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer = scan(addr, "08930002000017");
    assert_eq!(answer["product"]["status"], "active");
    assert_eq!(codes(&answer), Vec::<&str>::new());

    // Bad requests say what is wrong, and change nothing.
    for (path, body, want, says) in [
        (
            "/admin/overlay",
            "not json",
            400,
            "the body is not a change",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000017", "status": "recalled", "colour": 1}"#,
            400,
            "unknown field",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000018", "status": "recalled"}"#,
            400,
            "check digit",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000017"}"#,
            400,
            "status is required",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000017", "status": "void"}"#,
            400,
            "only an item can be void",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000017", "status": "lost"}"#,
            400,
            "unknown variant",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000017", "lot": "L1", "serial": "S1", "status": "recalled"}"#,
            400,
            "not both",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "08930002000017", "lot": "NO-SUCH-LOT", "status": "recalled"}"#,
            404,
            "is not in the index",
        ),
        (
            "/admin/overlay",
            r#"{"gtin": "00000000000000", "status": "recalled"}"#,
            404,
            "is not in the index",
        ),
        (
            "/admin/overlay",
            r#"{"stamp": "NO-SUCH-STAMP", "status": "void"}"#,
            404,
            "is not in the index",
        ),
        (
            "/admin/overlay/undo",
            r#"{"gtin": "08930002000017"}"#,
            404,
            "no change is in force",
        ),
    ] {
        let (status, answer) = send(addr, "POST", path, Some(TOKEN), body);
        assert_eq!(status, want, "{body}: {answer}");
        assert!(answer.contains(says), "{body}: {answer}");
    }
    assert_eq!(
        send(addr, "PUT", "/admin/overlay", Some(TOKEN), recall).0,
        405
    );
    let (_, body) = request(addr, "GET", "/admin/overlay", Some(TOKEN));
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["changes"].as_array().unwrap().len(), 2, "{body}");
}

#[test]
fn without_a_state_directory_changes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "a.tsidx");
    let state = State::new(0).with_admin_token(TOKEN);
    let path = dir.path().join("a.tsidx");
    state.install(tracescan::index::Index::open(&path).unwrap(), &path);
    let server = start(Arc::new(state), Routes::All);
    let (status, body) = send(
        server.addr,
        "POST",
        "/admin/overlay",
        Some(TOKEN),
        r#"{"gtin": "08930002000017", "status": "recalled"}"#,
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("--state-dir"), "{body}");
}

#[test]
fn item_answers_count_scans_and_warn_above_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(live_state(dir.path(), 2), Routes::All);
    let addr = server.addr;
    // The same item by its element string, its Digital Link and its stamp.
    let first = scan(addr, "(01)08930002000017(21)S001001");
    assert_eq!(first["item"]["scans"]["count"], 1);
    let first_at = first["item"]["scans"]["first_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first_at.len(), "2026-11-22T02:21:19Z".len());
    // A HEAD is not a scan.
    assert_eq!(
        request(addr, "HEAD", "/01/08930002000017/21/S001001", None).0,
        200
    );
    let (status, body) = request(addr, "GET", "/01/08930002000017/21/S001001", None);
    assert_eq!(status, 200);
    let second: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["item"]["scans"]["count"], 2);
    assert_eq!(codes(&second), Vec::<&str>::new());
    let third = scan(addr, "VN-0011-1010");
    assert_eq!(third["item"]["scans"]["count"], 3);
    assert_eq!(third["item"]["scans"]["first_at"], first_at.as_str());
    assert_eq!(codes(&third), ["scanned_many_times"]);
    assert!(
        third["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("scanned 3 times")
    );
    // Product and batch answers carry no count.
    assert!(scan(addr, "08930002000017")["item"].is_null());

    let (status, metrics) = request(addr, "GET", "/metrics", None);
    assert_eq!(status, 200);
    for line in [
        "tracescan_generation 1\n",
        "tracescan_swaps_total 1\n",
        "tracescan_scans_total 3\n",
        "tracescan_scanned_items 1\n",
        "tracescan_overlay_entries 0\n",
        "tracescan_overlay_durable 1\n",
        "# TYPE tracescan_scan_unflushed_items gauge\n",
        "# TYPE tracescan_scan_last_flush_timestamp_seconds gauge\n",
        "# TYPE tracescan_scans_total counter\n",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from\n{metrics}");
    }
}
