//! The HTTP front: hyper 1.x over tokio, routes of SPEC section 4.
//!
//! Shape: one current-thread runtime per worker thread, each accepting on its
//! own `SO_REUSEPORT` listener (the kernel spreads connections across them), so
//! that no request crosses threads. The caller binds (tests bind port 0) and
//! hands in a shutdown signal, after mini-redis's `run(listener, shutdown)`.
//! HTTP knows requests and responses, not byte offsets: answers come from
//! `response`, the index from `State`.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use memmap2::Mmap;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::date::{Date, rfc3339_utc};
use crate::index::Index;
use crate::response::{self, Answer};

/// The longest request line we serve; longer ones get 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest header section we serve; larger ones get 431.
pub const MAX_HEADER_SECTION: usize = 16 * 1024;
/// hyper's read buffer for a request head. Above the two limits so that we,
/// not hyper, judge the request line and headers; a head beyond this is refused
/// by hyper itself with 431.
const MAX_HEAD_BUFFER: usize = 64 * 1024;
/// More headers than this is refused by hyper (431).
const MAX_HEADERS: usize = 64;

/// An index loaded for serving: one generation.
pub struct Loaded {
    /// The index itself.
    pub index: Index<Mmap>,
    /// Its number: 1 for the first index this process served, then one more
    /// at each swap. Answers name it in the `x-tracescan-generation` header.
    pub generation: u64,
    /// The file it was opened from.
    pub path: PathBuf,
    /// What `/v1/index` says of it, rendered at load.
    info: serde_json::Value,
    /// Counts this generation among the live ones until it is dropped, which
    /// happens when the last request that loaded it ends.
    _live: LiveGuard,
}

struct LiveGuard(Arc<AtomicU64>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every worker shares.
pub struct State {
    /// The generation being served; `None` until one is loaded.
    pub index: ArcSwapOption<Loaded>,
    /// The UTC offset that decides "today" for expiry, in seconds.
    pub utc_offset: i64,
    /// The last generation number given out.
    generations: AtomicU64,
    /// Generations still mapped: the one served and any still answering a
    /// request begun before a swap.
    live: Arc<AtomicU64>,
    /// Indexes swapped in, and indexes refused (they failed verification).
    pub swaps: AtomicU64,
    pub refused: AtomicU64,
    /// The admin API's bearer token; without one the admin API is off.
    admin_token: Option<Vec<u8>>,
    /// What reload and rollback act on, when an index directory is watched.
    pub control: OnceLock<Arc<dyn Control>>,
}

impl State {
    pub fn new(utc_offset: i64) -> State {
        State {
            index: ArcSwapOption::empty(),
            utc_offset,
            generations: AtomicU64::new(0),
            live: Arc::new(AtomicU64::new(0)),
            swaps: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            admin_token: None,
            control: OnceLock::new(),
        }
    }

    /// Turns the admin API on, guarded by `token`.
    pub fn with_admin_token(mut self, token: &str) -> State {
        self.admin_token = Some(token.as_bytes().to_vec());
        self
    }

    /// Serves `index` from now on, as a new generation; returns its number.
    /// Requests under way finish on the generation they started with.
    pub fn install(&self, index: Index<Mmap>, path: &Path) -> u64 {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let h = index.header();
        let info = serde_json::json!({
            "snapshot": h.snapshot_id,
            "exported_at": index.exported_at(),
            "built_at": rfc3339_utc(h.built_at),
            "counts": {"products": h.products, "batches": h.batches, "items": h.items},
            "checksum": format!("xxh3:{:016x}", h.checksum),
            "format_version": h.version,
            "file": path.display().to_string(),
            "generation": generation,
        });
        self.live.fetch_add(1, Ordering::Relaxed);
        let loaded = Loaded {
            index,
            generation,
            path: path.to_owned(),
            info,
            _live: LiveGuard(self.live.clone()),
        };
        self.index.store(Some(Arc::new(loaded)));
        self.swaps.fetch_add(1, Ordering::Relaxed);
        generation
    }

    /// How many generations are still mapped.
    pub fn live_generations(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }
}

/// How the server treats connections.
#[derive(Clone, Debug)]
pub struct Config {
    /// A client that has not sent a whole request head by then is
    /// disconnected (slow-loris protection).
    pub header_read_timeout: Duration,
    /// The routes these listeners serve.
    pub routes: Routes,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_read_timeout: Duration::from_secs(10),
            routes: Routes::All,
        }
    }
}

/// Which routes a set of listeners serves: the admin API can be kept to an
/// address of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routes {
    /// Lookups and health, no admin API.
    Public,
    /// The admin API only.
    Admin,
    All,
}

/// What the admin API acts on: whoever manages the indexes being served.
/// Each returns the JSON of what it did, or why it could not.
pub trait Control: Send + Sync {
    /// Looks for a newer published index now and swaps it in.
    fn reload(&self) -> Result<String, String>;
    /// Serves the index served before the current one again.
    fn rollback(&self) -> Result<String, String>;
}

/// Binds `threads` listeners on `addr` with `SO_REUSEPORT`, a backlog of 4096
/// and `TCP_NODELAY` inherited by accepted sockets. With port 0 the first
/// listener picks the port and the others join it.
pub fn bind(addr: SocketAddr, threads: usize) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(threads);
    let mut addr = addr;
    for _ in 0..threads.max(1) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        let listener: TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves on `listeners`, one worker thread each, until `shutdown` turns true;
/// then stops accepting and lets open requests finish. Blocks until all
/// workers are done.
pub fn run(
    listeners: Vec<TcpListener>,
    state: Arc<State>,
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let workers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let (state, config, shutdown) = (state.clone(), config.clone(), shutdown.clone());
            std::thread::Builder::new().name(format!("http-{i}")).spawn(
                move || -> io::Result<()> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(worker(listener, state, config, shutdown))
                },
            )
        })
        .collect::<io::Result<_>>()?;
    for w in workers {
        w.join()
            .map_err(|_| io::Error::other("a server thread panicked"))??;
    }
    Ok(())
}

async fn worker(
    listener: TcpListener,
    state: Arc<State>,
    config: Config,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let mut backoff = Duration::from_millis(1);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => { backoff = Duration::from_millis(1); stream }
                    Err(e) => {
                        // Out of file descriptors or a reset before accept:
                        // wait a little instead of spinning.
                        tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let routes = config.routes;
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(dispatch(&state, routes, &req).await) }
                });
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Routes a request to the admin API or to the lookups, as `routes` allows.
async fn dispatch<B>(
    state: &Arc<State>,
    routes: Routes,
    req: &Request<B>,
) -> Response<Full<Bytes>> {
    let admin = req.uri().path().starts_with("/admin/");
    match (admin, routes) {
        (true, Routes::Admin | Routes::All) => admin_request(state, req).await,
        (false, Routes::Public | Routes::All) => handle(state, req),
        _ => error(
            StatusCode::NOT_FOUND,
            "no_route",
            &format!("no such resource here: {}", req.uri().path()),
        ),
    }
}

/// `POST /admin/reload` and `POST /admin/rollback`, with a bearer token.
/// They run on tokio's blocking pool: verifying a large index takes seconds,
/// and the worker's other connections must not wait for it.
async fn admin_request<B>(state: &Arc<State>, req: &Request<B>) -> Response<Full<Bytes>> {
    let Some(token) = &state.admin_token else {
        return error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is off: start serve with --admin-token-file or TRACESCAN_ADMIN_TOKEN",
        );
    };
    // Compared in constant time; neither token is ever logged.
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let path = req.uri().path();
    if !given.is_some_and(|g| bool::from(g.ct_eq(token.as_slice()))) {
        // An audit line for every admin request; never with a token in it.
        tracing::warn!(
            "admin {} {path} refused: missing or wrong token",
            req.method()
        );
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let rollback = match path {
        "/admin/reload" => false,
        "/admin/rollback" => true,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "no_route",
                &format!("no such admin resource: {other}"),
            );
        }
    };
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    let Some(control) = state.control.get().cloned() else {
        return error(
            StatusCode::CONFLICT,
            "no_index_dir",
            "reload and rollback need serve --index-dir",
        );
    };
    let done = tokio::task::spawn_blocking(move || {
        if rollback {
            control.rollback()
        } else {
            control.reload()
        }
    })
    .await;
    match &done {
        Ok(Ok(outcome)) => tracing::info!("admin POST {path}: {outcome}"),
        Ok(Err(detail)) => tracing::warn!("admin POST {path} refused: {detail}"),
        Err(e) => tracing::error!("admin POST {path} failed: {e}"),
    }
    match done {
        Ok(Ok(json)) => self::json(StatusCode::OK, Bytes::from(json)),
        Ok(Err(detail)) => error(StatusCode::CONFLICT, "refused", &detail),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the admin operation failed",
        ),
    }
}

/// Answers one lookup or health request. Synchronous: it never waits.
pub fn handle<B>(state: &State, req: &Request<B>) -> Response<Full<Bytes>> {
    let line_len = req.method().as_str().len() + target_len(req.uri()) + " HTTP/1.1".len() + 1;
    if line_len > MAX_REQUEST_LINE {
        return error(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &format!("the request line is {line_len} bytes, at most {MAX_REQUEST_LINE}"),
        );
    }
    let head: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if head > MAX_HEADER_SECTION {
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!("the header section is {head} bytes, at most {MAX_HEADER_SECTION}"),
        );
    }
    let path = req.uri().path();
    let readable = matches!(*req.method(), Method::GET | Method::HEAD);
    let loaded = state.index.load();
    match (readable, path) {
        (true, "/healthz") => json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
        (true, "/readyz") => match &*loaded {
            Some(_) => json(
                StatusCode::OK,
                Bytes::from_static(b"{\"status\":\"ready\"}"),
            ),
            None => not_ready(),
        },
        (true, "/v1/index") => match &*loaded {
            Some(l) => {
                let mut info = l.info.clone();
                info["live_generations"] = state.live_generations().into();
                info["swaps"] = state.swaps.load(Ordering::Relaxed).into();
                info["refused"] = state.refused.load(Ordering::Relaxed).into();
                json(StatusCode::OK, Bytes::from(info.to_string()))
            }
            None => not_ready(),
        },
        (true, "/v1/scan") => {
            let Some(l) = &*loaded else {
                return not_ready();
            };
            let answer = match query_param(req.uri().query().unwrap_or(""), "code") {
                Some(Ok(code)) => response::scan(&l.index, &code, Date::today(state.utc_offset)),
                Some(Err(detail)) => response::invalid_code(&detail),
                None => {
                    response::invalid_code("the code parameter is missing: GET /v1/scan?code=...")
                }
            };
            lookup_response(answer, l.generation)
        }
        (true, p) if p.starts_with("/01/") => {
            let Some(l) = &*loaded else {
                return not_ready();
            };
            let shown = req.uri().path_and_query().map_or(p, |pq| pq.as_str());
            // Our own Digital Link paths are parsed as a Digital Link on a
            // placeholder host.
            let answer = response::scan_as(
                &l.index,
                shown,
                &format!("https://local{shown}"),
                Date::today(state.utc_offset),
            );
            lookup_response(answer, l.generation)
        }
        (false, "/healthz" | "/readyz" | "/v1/index" | "/v1/scan") => {
            method_not_allowed("GET, HEAD")
        }
        (false, p) if p.starts_with("/01/") => method_not_allowed("GET, HEAD"),
        _ => error(
            StatusCode::NOT_FOUND,
            "no_route",
            &format!("no such resource: {path}"),
        ),
    }
}

/// The length of the request target as sent, measured from its parts so that
/// no request pays for formatting it.
fn target_len(uri: &hyper::Uri) -> usize {
    let path = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => {
            scheme.len() + "://".len() + authority.as_str().len() + path
        }
        (None, Some(authority)) => authority.as_str().len() + path,
        _ => path,
    }
}

/// The value of `name` in a form-encoded query string: `+` is a space, `%XX`
/// a byte. `None` when absent; an error when it does not decode to UTF-8.
fn query_param(query: &str, name: &str) -> Option<Result<String, String>> {
    let raw = query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })?;
    let spaced = raw.replace('+', " ");
    Some(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| format!("the {name} parameter does not decode to UTF-8 text")),
    )
}

fn lookup_response(answer: Answer, generation: u64) -> Response<Full<Bytes>> {
    let mut resp = json(
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Bytes::from(answer.body),
    );
    let headers = resp.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert("x-tracescan-generation", HeaderValue::from(generation));
    resp
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn error(status: StatusCode, code: &str, detail: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"error": code, "detail": detail}).to_string();
    json(status, Bytes::from(body))
}

fn not_ready() -> Response<Full<Bytes>> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "no index is loaded yet",
    )
}

/// 405, naming the methods `allow` that this resource answers.
fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("only {allow} are served here"),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}
