//! The HTTP API end to end: the sample built, served on port 0, and asked over
//! real sockets, as SPEC section 4 states it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

#[test]
fn readiness_and_503_before_an_index_is_loaded() {
    let server = Server::start(|_, _| {});
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 503);
    assert_eq!(server.get("/v1/index").status, 503);
    let r = server.scan("8930002000017");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "not_ready");
    server.load_sample();
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(server.scan("8930002000017").status, 200);
}

/// One case per line: the code scanned, the status, the match level, the
/// warnings expected in order.
#[test]
fn lookups_and_every_warning() {
    let server = Server::start(|_, _| {});
    server.load_sample();
    let cases: &[(&str, u16, &str, &[&str])] = &[
        ("8930002000017", 200, "product", &[]),
        ("08930002000017", 200, "product", &[]),
        ("(01)08930002000017(10)L2611(21)S001001", 200, "item", &[]),
        ("(01)08930002000017(10)L2611", 200, "batch", &[]),
        ("VN-0001-1003", 200, "item", &["expired"]),
        ("https://check.example.vn/s/VN-0010-1007", 200, "item", &[]),
        ("(01)08930002000017(10)L2510", 200, "batch", &["expired"]),
        ("(01)08930002000017(17)250101", 200, "product", &["expired"]),
        ("(01)08930002000369", 200, "product", &["recalled"]),
        ("(01)08930002000789(10)L2688", 200, "batch", &["withdrawn"]),
        ("(01)08930002001137(10)L2633", 200, "batch", &["recalled"]),
        (
            "(01)08930002000017(21)FAKE1",
            200,
            "product",
            &["serial_not_registered"],
        ),
        (
            "(01)08930002000017(10)L9999",
            200,
            "product",
            &["lot_not_registered"],
        ),
        (
            "(01)08930002000017(10)L2611(21)S000001",
            200,
            "item",
            &["lot_mismatch", "expired"],
        ),
        ("(01)08930002000574(21)S081002", 200, "item", &["void_item"]),
        (
            "(01)08930002000574(10)L2667(21)NOPE",
            200,
            "batch",
            &["serial_not_registered"],
        ),
        // A product with no registered items: an unknown serial is no signal.
        ("(01)08930002000086(21)X1", 200, "product", &[]),
        (
            "https://id.example.vn/01/8930002000017/10/L2611/21/S001001?17=281231",
            200,
            "item",
            &[],
        ),
    ];
    for (code, status, level, warnings) in cases {
        let r = server.scan(code);
        assert_eq!(r.status, *status, "{code}: {}", r.text());
        let json = r.json();
        assert_eq!(json["match"], *level, "{code}: {}", r.text());
        assert_eq!(r.warnings(), *warnings, "{code}: {}", r.text());
        assert_eq!(json["code"], *code);
        assert_eq!(json["snapshot"], "sample-2026-11-21");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    }
}

#[test]
fn answer_shape_and_utf8() {
    let server = Server::start(|_, _| {});
    server.load_sample();
    let r = server.scan("(01)08930002000017(10)L2611(21)S001001(17)280202");
    let j = r.json();
    assert_eq!(j["parsed"]["gtin"], "08930002000017");
    assert_eq!(j["parsed"]["lot"], "L2611");
    assert_eq!(j["parsed"]["serial"], "S001001");
    assert_eq!(j["parsed"]["expiry"], "2028-02-02");
    assert_eq!(j["parsed"]["ais"]["17"], "280202");
    let mut item = j["item"].clone();
    let scans = item.as_object_mut().unwrap().remove("scans").unwrap();
    assert_eq!(
        item,
        serde_json::json!({"serial": "S001001", "status": "active", "stamp": "VN-0011-1010", "lot": "L2611"})
    );
    assert_eq!(scans["count"], 1);
    assert_eq!(j["batch"]["lot"], "L2611");
    assert!(j["batch"]["events"].as_array().unwrap().len() >= 5);
    // Vietnamese text is written as UTF-8, not \u escapes.
    assert!(
        r.text().contains("Nước mắm cốt cá cơm Cát Hải"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("\\u"));
    let stamp = server.scan("VN-0011-1010").json();
    assert_eq!(
        stamp["parsed"],
        serde_json::json!({"stamp": "VN-0011-1010"})
    );
}

#[test]
fn digital_link_paths_are_served() {
    let server = Server::start(|_, _| {});
    server.load_sample();
    let r = server.get("/01/08930002000017/10/L2611/21/S001001");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["match"], "item");
    assert_eq!(r.json()["code"], "/01/08930002000017/10/L2611/21/S001001");
    let r = server.get("/01/8930002000017?17=250101");
    assert_eq!(r.warnings(), ["expired"]);
    assert_eq!(server.get("/01/08930002000018").status, 400);
}

#[test]
fn errors_and_limits() {
    let server = Server::start(|_, _| {});
    server.load_sample();
    let bad = server.scan("8930002000018");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "invalid_code");
    assert_eq!(
        bad.json()["detail"],
        "GTIN: check digit should be 7, found 8"
    );
    let r = server.scan("(01)08930002000017(17)271301");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["detail"],
        "AI 17 (USE BY or EXPIRY): month 13 is not a month"
    );
    let missing = server.get("/v1/scan");
    assert_eq!(missing.status, 400);
    assert!(
        missing.json()["detail"]
            .as_str()
            .unwrap()
            .contains("code parameter is missing")
    );
    let unknown = server.scan("(01)08934567890120(10)L1");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "not_found");
    assert_eq!(unknown.json()["parsed"]["lot"], "L1");
    let stamp = server.scan("NO-SUCH-STAMP");
    assert_eq!(stamp.status, 404);
    assert_eq!(
        stamp.json()["parsed"],
        serde_json::json!({"stamp": "NO-SUCH-STAMP"})
    );
    assert_eq!(server.get("/nope").status, 404);
    // A POST is a batch lookup, whose body must be an array of codes.
    let post = server.request("POST", "/v1/scan?code=8930002000017", None, "");
    assert_eq!(post.status, 400);
    assert_eq!(post.json()["error"], "bad_body");
    let put = server.request("PUT", "/v1/scan?code=8930002000017", None, "");
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(
        server
            .request("DELETE", "/01/08930002000017", None, "")
            .status,
        405
    );
    let head = server.request("HEAD", "/v1/scan?code=8930002000017", None, "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 500
    );
    let too_long = server.scan(&"A".repeat(513));
    assert_eq!(too_long.status, 400);
    // A request line over 8 KiB: 414. A header section over 16 KiB: 431.
    let long_line = server.get(&format!("/v1/scan?code={}", "A".repeat(8200)));
    assert_eq!(long_line.status, 414);
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(17 * 1024)
    );
    assert_eq!(server.raw(big.as_bytes()).status, 431);
    let many = (0..100)
        .map(|i| format!("X-H{i}: v\r\n"))
        .collect::<String>();
    assert_eq!(
        server
            .raw(format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes())
            .status,
        431
    );
    let index = server.get("/v1/index").json();
    assert_eq!(index["snapshot"], "sample-2026-11-21");
    assert_eq!(
        index["counts"],
        serde_json::json!({"products": 21, "batches": 48, "items": 85})
    );
    assert!(index["checksum"].as_str().unwrap().starts_with("xxh3:"));
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = Server::start(|_, _| {});
    server.load_sample();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = "GET /v1/scan?code=VN-0011-1010 HTTP/1.1\r\nHost: t\r\n\r\n";
    // Pipelined: 20 requests in one write, 20 answers back.
    s.write_all(req.repeat(20).as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count() < 20 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
}

/// A client that trickles a request head, one that sends nothing at all and
/// one that sends no next request after an answer are each cut off after
/// the timeout set, not held forever, nor for the 10 s default.
#[test]
fn a_slow_request_head_is_cut_off_at_the_timeout_set() {
    let server = Server::start(|config, _| config.header_timeout_ms = 1000);
    let ask = |sent: &[u8]| {
        let mut s = TcpStream::connect(server.addr).unwrap();
        // Far longer than the server's 1 s: running into this read timeout
        // means the server kept the connection open.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(sent).unwrap();
        s
    };
    let clients = [
        ("half a head", ask(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")),
        ("nothing", ask(b"")),
        (
            "no next request",
            ask(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"),
        ),
    ];
    let sent = Instant::now();
    for (what, mut s) in clients {
        let mut buf = Vec::new();
        let closed = s.read_to_end(&mut buf);
        let held = sent.elapsed();
        assert!(
            closed.is_ok(),
            "{what}: the server did not close the connection: {closed:?}"
        );
        // Not a timing threshold of our speed: which of two timeouts, 1 s
        // or the default 10 s, cut the connection.
        assert!(
            held >= Duration::from_millis(900) && held < Duration::from_secs(9),
            "{what}: cut off after {held:?}, the timeout set is 1 s"
        );
        let text = String::from_utf8_lossy(&buf);
        if what == "no next request" {
            assert!(text.starts_with("HTTP/1.1 200"), "{what}: {text}");
        } else {
            assert!(text.is_empty(), "{what}: {text}");
        }
    }
}
