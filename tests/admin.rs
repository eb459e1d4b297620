//! The admin API: refused without the token, reload and rollback with it, kept
//! to its own address when asked, and the token never in the logs.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Server, TOKEN, publish, with_token};

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
    let response = common::request(addr, method, path, token, body);
    (response.status, response.text())
}

/// Dates `file` a second after `earlier`: the newest file is served, and
/// two files written in the same clock tick would not tell which.
fn published_after(file: &std::path::Path, earlier: &std::path::Path) {
    let then = std::fs::metadata(earlier).unwrap().modified().unwrap();
    let f = std::fs::File::options().write(true).open(file).unwrap();
    f.set_modified(then + Duration::from_secs(1)).unwrap();
}

/// Asks `method path` of `addr` and checks the status, and that the answer
/// says `says`.
#[track_caller]
fn check(
    addr: SocketAddr,
    (method, path): (&str, &str),
    token: Option<&str>,
    want: u16,
    says: &str,
) {
    let (status, body) = request(addr, method, path, token);
    assert_eq!(status, want, "{method} {path} with {token:?}: {body}");
    assert!(body.contains(says), "{method} {path}: {body}");
}

#[test]
fn without_a_token_configured_the_admin_api_is_off() {
    let server = Server::start(|_, _| {});
    check(
        server.addr,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        403,
        "admin_disabled",
    );
}

#[test]
fn reload_and_rollback_need_the_token() {
    // Serving one file: there is no index directory to reload from.
    let fixed = Server::sample(with_token);
    check(
        fixed.addr,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        409,
        "no_index_dir",
    );

    // An index directory that only the admin API looks at again.
    let server = Server::start(|config, dir| {
        with_token(config, dir);
        config.poll_ms = 3_600_000;
    });
    let dir = server.dir.path().join("indexes");
    let addr = server.addr;
    for token in [
        None,
        Some("wrong-token-wrong-token"),
        Some(&TOKEN[..TOKEN.len() - 1]),
    ] {
        check(addr, ("POST", "/admin/reload"), token, 401, "unauthorized");
    }
    check(
        addr,
        ("GET", "/admin/reload"),
        Some(TOKEN),
        405,
        "only POST",
    );
    check(
        addr,
        ("POST", "/admin/nothing"),
        Some(TOKEN),
        404,
        "no such admin resource",
    );

    publish(&dir, "a.tsidx");
    check(
        addr,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        200,
        r#""outcome":"swapped""#,
    );
    check(addr, ("GET", "/readyz"), None, 200, "ready");
    let (status, body) = request(addr, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!((status, body.as_str()), (200, r#"{"outcome":"unchanged"}"#));
    // Nothing to roll back to yet.
    check(
        addr,
        ("POST", "/admin/rollback"),
        Some(TOKEN),
        409,
        "no earlier index",
    );

    std::fs::write(dir.join("b.tsidx"), b"not an index").unwrap();
    published_after(&dir.join("b.tsidx"), &dir.join("a.tsidx"));
    check(
        addr,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        409,
        "b.tsidx was refused",
    );

    publish(&dir, "c.tsidx");
    published_after(&dir.join("c.tsidx"), &dir.join("b.tsidx"));
    check(
        addr,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        200,
        r#""generation":2"#,
    );
    let (status, body) = request(addr, "POST", "/admin/rollback", Some(TOKEN));
    assert!(
        status == 200 && body.contains(r#""generation":3"#) && body.contains("a.tsidx"),
        "{body}"
    );
}

#[test]
fn the_admin_api_can_have_an_address_of_its_own() {
    let server = Server::sample(|config, dir| {
        with_token(config, dir);
        config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let (public, admin) = (server.addr, server.admin_addr());
    check(
        public,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        404,
        "no such resource here",
    );
    check(
        admin,
        ("POST", "/admin/reload"),
        Some(TOKEN),
        409,
        "no_index_dir",
    );
    check(
        admin,
        ("GET", "/v1/scan?code=VN-0011-1010"),
        None,
        404,
        "no such resource here",
    );
    // Health checks answer on both: a probe of the admin address is served by
    // a thread of its own.
    check(admin, ("GET", "/healthz"), None, 200, "ok");
    check(admin, ("GET", "/readyz"), None, 200, "ready");
    check(public, ("GET", "/healthz"), None, 200, "ok");
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

/// A server of the sample with the admin API on, an overlay and scan counts
/// kept in a state directory, warning above `warn_above` scans; every scan
/// counts (the tests' scans all come from one client).
fn live_server(warn_above: u64) -> Server {
    Server::sample(|config, dir| {
        with_token(config, dir);
        config.state_dir = Some(dir.join("state"));
        config.scan_warn_above = warn_above;
        config.scan_repeat_window_s = 0;
    })
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
    let server = live_server(1000);
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
    let server = Server::sample(with_token);
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
    let server = live_server(2);
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
        "tracescan_scan_count_room_items 262144\n",
        "tracescan_overlay_entries 0\n",
        "tracescan_overlay_durable 1\n",
        "# TYPE tracescan_scan_unflushed_items gauge\n",
        "# TYPE tracescan_scan_last_flush_timestamp_seconds gauge\n",
        "# TYPE tracescan_scans_total counter\n",
        "# TYPE tracescan_index_locked_bytes gauge\n",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from\n{metrics}");
    }
}
