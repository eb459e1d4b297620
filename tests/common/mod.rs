//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;
use tracescan::build::{self, RejectLog};
use tracescan::index::Index;
use tracescan::index::write;

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
/// (standard output piped, its first line read) and its address.
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
    // The first line names the address it listens on.
    let mut line = String::new();
    let stdout = child.stdout.as_mut().unwrap();
    let mut byte = [0u8; 1];
    while std::io::Read::read(stdout, &mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
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
