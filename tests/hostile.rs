//! Hostile input at the HTTP front: each case an attack that once crashed,
//! leaked or misled, now answered with a clear error or a correct answer.

mod common;

use common::{Server, TOKEN, with_token};

/// Codes with a multibyte character where an AI mixes character sets once
/// panicked the handler and dropped the connection.
#[test]
fn multibyte_characters_in_mixed_ais_are_400_and_the_server_keeps_serving() {
    let server = Server::sample(|_, _| {});
    for (target, says) in [
        (
            "/v1/scan?code=(421)12%C3%A9",
            "AI 421 (SHIP TO POST): character 'é' at position 3 is not a digit",
        ),
        (
            "/01/08930002000017?4330=12345%C3%A9",
            "AI 4330 (MAX TEMP F.): character 'é' at position 6 is not a digit",
        ),
        (
            "/v1/scan?code=(8003)0893000200001%C3%B4",
            "AI 8003 (GRAI): character 'ô'",
        ),
    ] {
        let r = server.get(target);
        assert_eq!(r.status, 400, "{target}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_code");
        assert!(
            r.json()["detail"].as_str().unwrap().contains(says),
            "{}",
            r.text()
        );
    }
    assert_eq!(server.scan("VN-0011-1010").status, 200);
}

#[test]
fn a_second_server_on_a_bound_port_refuses_to_start() {
    let first = Server::sample(|_, _| {});
    let second = tracescan::serve::start(tracescan::serve::Config {
        listen: first.addr,
        threads: Some(1),
        ..tracescan::serve::Config::default()
    });
    let Err(e) = second else {
        panic!("a second server started on {}", first.addr)
    };
    let message = e.to_string();
    assert!(
        message.contains(&format!("listening on {}", first.addr))
            && message.contains("another process already listens"),
        "{message}"
    );
    assert_eq!(first.get("/healthz").status, 200);
}

#[test]
fn size_limits_hold_on_every_route() {
    let server = Server::sample(with_token);
    let long = "x".repeat(8200);
    for path in ["/metrics", "/admin/overlay", "/healthz"] {
        let r = server.get(&format!("{path}?{long}"));
        assert_eq!(r.status, 414, "{path}: {}", r.text());
    }
    let big = "b".repeat(17 * 1024);
    for path in ["/metrics", "/admin/overlay"] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(server.raw(request.as_bytes()).status, 431, "{path}");
    }
}

#[test]
fn a_request_needs_exactly_one_host() {
    let server = Server::sample(|_, _| {});
    let none = server.raw(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(none.status, 400);
    assert_eq!(none.json()["error"], "bad_request");
    let two =
        server.raw(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
    assert_eq!(two.status, 400);
    assert!(two.text().contains("has 2"), "{}", two.text());
    // HTTP/1.0 needs none.
    let old = server.raw(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 200);
}

#[test]
fn every_answer_says_nosniff_and_the_index_path_stays_private() {
    let server = Server::sample(with_token);
    for target in [
        "/v1/scan?code=VN-0011-1010",
        "/v1/scan?code=8930002000018",
        "/01/08934567890120",
        "/healthz",
        "/metrics",
        "/nope",
        "/admin/overlay",
    ] {
        let r = server.get(target);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{target}"
        );
    }
    let index = server.get("/v1/index").json();
    assert_eq!(index["file"], "sample.tsidx");
    assert!(
        !server
            .get("/v1/index")
            .text()
            .contains(&*server.dir.path().to_string_lossy())
    );
}

/// A notice with a newline and an escape sequence must not forge a log line.
#[test]
fn admin_input_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let index = common::publish(dir.path(), "a.tsidx");
    let log = dir.path().join("serve.log");
    let (mut child, addr) = common::spawn_serve(
        &[
            "--index".as_ref(),
            index.as_os_str(),
            "--state-dir".as_ref(),
            dir.path().join("state").as_os_str(),
        ],
        &[("TRACESCAN_ADMIN_TOKEN", TOKEN)],
        &log,
    );
    let forged = "Thu hồi\n2026-11-30T00:00:00Z  INFO tracescan: admin token is x\u{1b}[2J\u{202e}";
    let body =
        serde_json::json!({"gtin": "08930002000017", "status": "recalled", "notice": forged});
    let r = common::request(
        addr,
        "POST",
        "/admin/overlay",
        Some(TOKEN),
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    child.kill().unwrap();
    child.wait().unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("overlay: set recalled"))
        .unwrap_or_else(|| panic!("no overlay line in\n{logs}"));
    assert!(
        line.contains(
            r"Thu hồi\u{a}2026-11-30T00:00:00Z  INFO tracescan: admin token is x\u{1b}[2J\u{202e}"
        ),
        "{line}"
    );
    assert!(!logs.contains('\u{1b}') && !logs.contains('\u{202e}'));
    assert!(!logs.lines().any(|l| l.starts_with("2026-11-30T00:00:00Z")));
}

/// One anonymous client scanning a genuine stamp over and over once turned it
/// into a counterfeit warning. Its repeats now count once a window; clients
/// named by a trusted proxy count apart, and a forged X-Forwarded-For from
/// anyone else is ignored.
#[test]
fn one_client_cannot_flip_a_genuine_stamp_to_a_warning() {
    let server = Server::sample(|config, _| {
        config.scan_warn_above = 3;
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    });
    let scan_as = |forwarded: Option<&str>| {
        let header = forwarded
            .map(|f| format!("X-Forwarded-For: {f}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET /v1/scan?code=VN-0011-1010 HTTP/1.1\r\nHost: t\r\n{header}Connection: close\r\n\r\n"
        );
        server.raw(request.as_bytes()).json()
    };
    // The proxy itself (no header) scanning 50 times: counted once.
    for _ in 0..50 {
        let answer = scan_as(None);
        assert_eq!(answer["item"]["scans"]["count"], 1, "{answer}");
        assert_eq!(answer["warnings"], serde_json::json!([]));
    }
    // One client behind the proxy, 20 times, even with a forged hop in
    // front of what the proxy appended: one more scan.
    for _ in 0..20 {
        let answer = scan_as(Some("198.51.100.9, 203.0.113.7"));
        assert_eq!(answer["item"]["scans"]["count"], 2, "{answer}");
    }
    // Three more distinct clients: the fifth is past the threshold of 3.
    for (n, client) in ["203.0.113.8", "203.0.113.9", "2001:db8::1"]
        .iter()
        .enumerate()
    {
        let answer = scan_as(Some(client));
        assert_eq!(answer["item"]["scans"]["count"], 3 + n, "{answer}");
    }
    let answer = scan_as(Some("2001:db8::1"));
    assert_eq!(answer["item"]["scans"]["count"], 5);
    assert_eq!(answer["warnings"][0]["code"], "scanned_many_times");
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("tracescan_scan_repeats_total 69\n"),
        "{metrics}"
    );
}

#[test]
fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let server = Server::sample(|config, _| config.scan_warn_above = 3);
    for n in 0..10 {
        let request = format!(
            "GET /v1/scan?code=VN-0011-1010 HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.{n}\r\nConnection: close\r\n\r\n"
        );
        let answer = server.raw(request.as_bytes()).json();
        assert_eq!(answer["item"]["scans"]["count"], 1, "{answer}");
    }
}

/// A client that pipelines requests and never reads its answers once kept
/// the process alive after SIGTERM: the drain now has a deadline.
#[test]
fn a_client_that_never_reads_cannot_hold_the_stop() {
    use std::io::Write;
    let server = Server::sample(|config, _| config.drain_timeout_ms = 500);
    let mut stuck = std::net::TcpStream::connect(server.addr).unwrap();
    let request = b"GET /v1/scan?code=VN-0011-1010 HTTP/1.1\r\nHost: t\r\n\r\n".repeat(20_000);
    // The server answers until the socket buffers fill, then waits to write.
    let writer = std::thread::spawn(move || {
        let _ = stuck.write_all(&request);
        stuck
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done.send(());
    });
    // A deadline of the test, not of our speed: without the drain deadline
    // the stop never ends.
    assert!(
        stopped
            .recv_timeout(std::time::Duration::from_secs(60))
            .is_ok(),
        "the server did not stop while a client held a connection"
    );
    drop(writer);
}

/// A drain (SIGTERM) reports not ready first, so that a load balancer stops
/// sending, while every route still answers; then the listeners close.
#[test]
fn a_drain_reports_not_ready_first_then_closes() {
    let server = Server::sample(|config, _| config.unready_before_stop_ms = 3000);
    assert_eq!(server.get("/readyz").status, 200);
    server.drain();
    let r = server.get("/readyz");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("draining"), "{}", r.text());
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(
        server.scan("VN-0011-1010").status,
        200,
        "lookups still answered"
    );
    // Then the listeners close (a deadline of the test, not of our speed).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(server.addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the listeners never closed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An admin request that announces a body and withholds it is answered 408
/// after the timeout, not held.
#[test]
fn a_withheld_admin_body_times_out() {
    let server = Server::sample(|config, dir| {
        with_token(config, dir);
        config.header_timeout_ms = 1000;
    });
    let request = format!(
        "POST /admin/overlay HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{\"gtin\":"
    );
    let r = server.raw(request.as_bytes());
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.json()["error"], "body_timeout");
}

/// Past the connection cap a new client gets 503 with Retry-After at once;
/// idle keep-alive connections are closed to make room, so the next client
/// is served.
#[test]
fn past_the_connection_cap_idle_connections_give_way_and_new_ones_get_503() {
    use std::io::BufReader;
    let server = Server::sample(|config, _| config.max_connections = 2);
    let connect = || {
        let s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        BufReader::new(s)
    };
    let (mut a, mut b) = (connect(), connect());
    for idle in [&mut a, &mut b] {
        let r = common::exchange(idle, "GET", "/healthz", None, "").unwrap();
        assert_eq!(r.status, 200);
    }
    let mut c = connect();
    let shed = common::exchange(&mut c, "GET", "/v1/scan?code=VN-0011-1010", None, "").unwrap();
    assert_eq!(shed.status, 503, "{}", shed.text());
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(shed.json()["error"], "overloaded");
    // The idle ones were closed to make room ...
    for idle in [&mut a, &mut b] {
        assert!(common::exchange(idle, "GET", "/healthz", None, "").is_none());
    }
    // ... and the next client is served.
    assert_eq!(server.scan("VN-0011-1010").status, 200);
}

/// Health and readiness still answer on a connection past the cap.
#[test]
fn health_checks_answer_past_the_cap() {
    use tracescan::http::{App, Scope, routes};
    let server = Server::sample(|_, _| {});
    let app: std::sync::Arc<App> = server.app().clone();
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    let ask = |path: &str| {
        let req = hyper::Request::get(path)
            .header("host", "t")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        common::ready(routes::route_shedding(&app, Scope::All, peer, req))
    };
    assert_eq!(ask("/healthz").status(), 200);
    assert_eq!(ask("/readyz").status(), 200);
    let shed = ask("/v1/scan?code=VN-0011-1010");
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
}

#[test]
fn the_file_descriptor_limit_is_raised_at_start() {
    let _server = Server::sample(|_, _| {});
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    assert_eq!(soft, hard);
}
