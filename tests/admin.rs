//! The admin API: refused without the token, reload and rollback with it, kept
//! to its own address when asked, and the token never in the logs.

mod common;

use std::io::{Read, Write};
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
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
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
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracescan"))
        .args(["serve", "--index-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--threads", "1"])
        .env("TRACESCAN_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first line names the address it listens on.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
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
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    std::io::Read::read_to_string(&mut stdout, &mut logs).unwrap();
    // Both admin requests are in the audit log, the accepted and the refused.
    assert!(logs.contains("admin POST /admin/reload: {"), "{logs}");
    assert!(
        logs.contains("admin POST /admin/reload refused: missing or wrong token"),
        "{logs}"
    );
    assert!(
        !logs.contains(TOKEN) && !logs.contains("a-wrong-token"),
        "a token leaked into the logs"
    );
}
