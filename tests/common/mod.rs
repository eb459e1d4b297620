//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rkyv::util::AlignedVec;
use tracescan::build::{self, Options, RejectLog};
use tracescan::http::App;
use tracescan::index::Index;
use tracescan::index::write;
use tracescan::serve::{self, Running};
use tracescan::service::Service;

/// The admin token of the tests' servers.
pub const TOKEN: &str = "s3cret-admin-token-0123456789";

/// The repository's `data/` directory.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(rel)
}

/// Builds the snapshot in `dir` into an in-memory index (rejects go to a
/// throwaway report), as `tracescan build` would write it.
pub fn index_of(dir: &Path) -> Index<AlignedVec> {
    Index::from_bytes(index_bytes(dir)).unwrap()
}

/// The bytes of the index of `dir`, built at time 0.
pub fn index_bytes(dir: &Path) -> AlignedVec {
    let tmp = tempfile::tempdir().unwrap();
    let mut rejects = RejectLog::new(tmp.path().join("rejects.jsonl"));
    let (payload, blob) = build::in_memory(dir, &mut rejects).unwrap();
    write::to_bytes(payload, &blob, 0).unwrap()
}

/// Copies the files of `from` into a new temporary directory.
pub fn copy_snapshot(from: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

/// (file, line, reason) of each line of a rejects report, or of a generator's
/// list of injected defects (the same shape).
pub fn report_lines(path: &Path) -> Vec<(String, u64, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["file"].as_str().unwrap().to_owned(),
                v["line"].as_u64().unwrap(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Starts `tracescan serve ARGS` on a free loopback port with a single worker
/// thread and `envs` set, its log written to `log`; returns the process
/// (standard output piped, read up to the line that names the address) and
/// its address.
pub fn spawn_serve(
    args: &[&std::ffi::OsStr],
    envs: &[(&str, &str)],
    log: &Path,
) -> (std::process::Child, std::net::SocketAddr) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracescan"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--threads", "1"])
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        // A file, not a pipe: a pipe nobody reads would stall the server.
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    // A line names the address it listens on; a build of the snapshot
    // served (on a fresh machine) prints its summary first. Read a byte at a
    // time, so that nothing after that line is taken from the pipe, which
    // stays open: the server prints more.
    let stdout = child.stdout.as_mut().unwrap();
    let mut line = String::new();
    while !line.contains("listening on http://") {
        line.clear();
        let mut byte = [0u8; 1];
        while std::io::Read::read(stdout, &mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0] as char);
        }
        assert!(!line.is_empty(), "the server ended before it listened");
    }
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

/// One HTTP/1.1 response: status, headers (names in lower case), body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The codes of a lookup answer's warnings, in order.
    pub fn warnings(&self) -> Vec<String> {
        self.json()["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A whole response as read until the connection closed; status 0 when
    /// nothing came back.
    pub fn parse(buf: &[u8]) -> Response {
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match split {
            Some(i) => (&buf[..i], &buf[i + 4..]),
            None => (buf, &[][..]),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_vec(),
        }
    }
}

/// A server started in this process with the production wiring
/// (`serve::start`) on a free loopback port; stopped and waited for when
/// dropped.
pub struct Server {
    running: Option<Running>,
    pub addr: SocketAddr,
    /// A temporary directory for the test's files (indexes, state, token).
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server with one worker thread on port 0, as `setup` adjusts
    /// the defaults of `tracescan serve`; `setup` is given the server's
    /// temporary directory. Without an index source in `setup`, the server
    /// watches an empty index directory: it serves no index until one is
    /// installed or published there.
    pub fn start(setup: impl FnOnce(&mut serve::Config, &Path)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = serve::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            threads: Some(1),
            ..serve::Config::default()
        };
        setup(&mut config, dir.path());
        if config.index.is_none() && config.snapshot.is_none() && config.index_dir.is_none() {
            let empty = dir.path().join("indexes");
            std::fs::create_dir_all(&empty).unwrap();
            config.index_dir = Some(empty);
        }
        let running = serve::start(config).unwrap();
        Server {
            addr: running.addr,
            running: Some(running),
            dir,
        }
    }

    /// A server of the bundled sample, set up further by `setup`.
    pub fn sample(setup: impl FnOnce(&mut serve::Config, &Path)) -> Server {
        Server::start(|config, dir| {
            config.index = Some(publish(&dir.join("published"), "sample.tsidx"));
            setup(config, dir)
        })
    }

    /// The service behind the routes.
    pub fn service(&self) -> &Arc<Service> {
        self.running.as_ref().unwrap().service()
    }

    /// What the routes share: the service, the admin token, the reloader.
    pub fn app(&self) -> &Arc<App> {
        &self.running.as_ref().unwrap().app
    }

    /// Where the admin API listens, with `--admin-listen`.
    pub fn admin_addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().admin_addr.unwrap()
    }

    /// Drains as SIGTERM does (see `Running::drain`).
    pub fn drain(&self) {
        self.running.as_ref().unwrap().drain().unwrap();
    }

    /// Builds the sample and serves it from now on.
    pub fn load_sample(&self) {
        let path = publish(&self.dir.path().join("loaded"), "sample.tsidx");
        self.service().install(Index::open(&path).unwrap(), &path);
    }

    /// Sends `method target` with `body` (and the token when given) on a
    /// connection of its own and reads the answer.
    pub fn request(&self, method: &str, target: &str, token: Option<&str>, body: &str) -> Response {
        request(self.addr, method, target, token, body)
    }

    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target, None, "")
    }

    /// `GET /v1/scan` of `code`, percent-encoded.
    pub fn scan(&self, code: &str) -> Response {
        let q = percent_encoding::utf8_percent_encode(code, percent_encoding::NON_ALPHANUMERIC);
        self.get(&format!("/v1/scan?code={q}"))
    }

    /// `GET target` with `headers` besides Host, on a connection of its own.
    pub fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request_with("GET", target, headers)
    }

    /// `method target` with `headers` besides Host, on a connection of its
    /// own; the body of a HEAD answer is empty.
    pub fn request_with(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: tracescan.test\r\n");
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        self.raw(req.as_bytes())
    }

    /// Sends raw request bytes and reads until the server closes.
    pub fn raw(&self, request: &[u8]) -> Response {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        Response::parse(&buf)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let running = self.running.take().unwrap();
        running.stop();
        let stopped = running.wait();
        if !std::thread::panicking() {
            stopped.unwrap();
        }
    }
}

/// Writes [`TOKEN`] to a file in `dir` and names it in `config`: the admin
/// API is on.
pub fn with_token(config: &mut serve::Config, dir: &Path) {
    let file = dir.join("token");
    std::fs::write(&file, TOKEN).unwrap();
    config.admin_token_file = Some(file);
}

/// Builds the bundled sample as `dir/name`, as `tracescan build` publishes
/// it; returns its path.
pub fn publish(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    build::build(&data("sample"), &path, &Options::default()).unwrap();
    path
}

/// Sends one request to `addr` on a connection of its own (see
/// [`exchange`]) and reads the answer.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &str,
) -> Response {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    exchange(&mut BufReader::new(s), method, target, token, body)
        .unwrap_or_else(|| panic!("no response to {method} {target}"))
}

/// Reads one response from a keep-alive connection; `None` once the
/// connection has closed or sent something that is not a response.
pub fn read_response(r: &mut std::io::BufReader<std::net::TcpStream>) -> Option<Response> {
    read_reply(r, true)
}

/// [`read_response`], reading no body when `with_body` is false: the answer
/// to a HEAD names a Content-Length but carries none.
fn read_reply(
    r: &mut std::io::BufReader<std::net::TcpStream>,
    with_body: bool,
) -> Option<Response> {
    use std::io::{BufRead, Read};
    let mut line = String::new();
    r.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok().filter(|&n| n > 0)?;
        if line == "\r\n" {
            break;
        }
        let (k, v) = line.trim_end().split_once(':')?;
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if with_body {
        let length = response
            .header("content-length")
            .map_or(Some(0), |v| v.parse().ok())?;
        response.body = vec![0; length];
        r.read_exact(&mut response.body).ok()?;
    }
    Some(response)
}

/// Sends one request on a keep-alive connection, with a bearer `token` when
/// given, in one write, and reads its response; `None` once the server is
/// gone.
pub fn exchange(
    conn: &mut std::io::BufReader<std::net::TcpStream>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Option<Response> {
    use std::io::Write;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(request.as_bytes()).ok()?;
    read_reply(conn, method != "HEAD")
}

/// The value of a future that is ready on its first poll, as a route that
/// reads no body is.
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("the route waited"),
    }
}

/// Waits until `done`, asking every 10 ms, failing past `within`.
pub fn wait_within(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
