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
use tokio::sync::watch;

use crate::admin;
use crate::date::{Date, rfc3339_utc, unix_now};
use crate::index::Index;
use crate::live::Context;
use crate::live::overlay::Overlay;
use crate::live::scans::Scans;
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
    /// Status changes in force on top of the index.
    pub overlay: Overlay,
    /// Item scan counts.
    pub scans: Scans,
    /// Above this many scans, an item answer warns `scanned_many_times`.
    pub warn_above: u64,
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
            overlay: Overlay::in_memory(),
            scans: Scans::in_memory(),
            warn_above: DEFAULT_WARN_ABOVE,
        }
    }

    /// Keeps status changes and scan counts in `overlay` and `scans`, and
    /// warns above `warn_above` scans of one item.
    pub fn with_live(mut self, overlay: Overlay, scans: Scans, warn_above: u64) -> State {
        self.overlay = overlay;
        self.scans = scans;
        self.warn_above = warn_above;
        self
    }

    pub(crate) fn admin_token(&self) -> Option<&[u8]> {
        self.admin_token.as_deref()
    }

    /// Turns the admin API on, guarded by `token`.
    pub fn with_admin_token(mut self, token: &str) -> State {
        self.admin_token = Some(token.as_bytes().to_vec());
        self
    }

    /// Serves `index` from now on, as a new generation; returns its number.
    /// Requests under way finish on the generation they started with. Status
    /// changes the new index carries itself are retired.
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
        let loaded = Arc::new(loaded);
        self.index.store(Some(loaded.clone()));
        self.swaps.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.overlay.retire_carried(&loaded.index) {
            // The changes stay in force: nothing is lost, only not retired.
            tracing::error!("overlay: retiring changes the new index carries: {e}");
        }
        generation
    }

    /// How many generations are still mapped.
    pub fn live_generations(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }
}

/// The default of `serve --scan-warn-above`.
pub const DEFAULT_WARN_ABOVE: u64 = 20;

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
                    async move { Ok::<_, Infallible>(dispatch(&state, routes, req).await) }
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
/// `/metrics` is served on every listener.
async fn dispatch(
    state: &Arc<State>,
    routes: Routes,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/metrics" {
        return match *req.method() {
            Method::GET | Method::HEAD => metrics(state),
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    match (path.starts_with("/admin/"), routes) {
        (true, Routes::Admin | Routes::All) => admin::request(state, req).await,
        (false, Routes::Public | Routes::All) => handle(state, &req),
        _ => error(
            StatusCode::NOT_FOUND,
            "no_route",
            &format!("no such resource here: {path}"),
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
            match query_param(req.uri().query().unwrap_or(""), "code") {
                Some(Ok(code)) => lookup(state, l, req.method(), &code, &code),
                Some(Err(detail)) => lookup_response(response::invalid_code(&detail), l.generation),
                None => lookup_response(
                    response::invalid_code("the code parameter is missing: GET /v1/scan?code=..."),
                    l.generation,
                ),
            }
        }
        (true, p) if p.starts_with("/01/") => {
            let Some(l) = &*loaded else {
                return not_ready();
            };
            let shown = req.uri().path_and_query().map_or(p, |pq| pq.as_str());
            // Our own Digital Link paths are parsed as a Digital Link on a
            // placeholder host.
            lookup(
                state,
                l,
                req.method(),
                shown,
                &format!("https://local{shown}"),
            )
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

/// Looks `raw` up in `loaded` under the status changes in force, and counts
/// the scan of an item when the request is a GET (a HEAD is a probe).
fn lookup(
    state: &State,
    loaded: &Loaded,
    method: &Method,
    shown: &str,
    raw: &str,
) -> Response<Full<Bytes>> {
    let changes = state.overlay.load();
    let now = unix_now();
    let live = Context {
        changes: &changes,
        scans: (method == Method::GET).then_some(&state.scans),
        warn_above: state.warn_above,
        now,
        today: Date::at(now, state.utc_offset),
    };
    let answer = response::scan_as(&loaded.index, shown, raw, &live);
    lookup_response(answer, loaded.generation)
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

pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

pub(crate) fn error(status: StatusCode, code: &str, detail: &str) -> Response<Full<Bytes>> {
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
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("only {allow} are served here"),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// Counters of the swaps, the overlay and the scan counts, in the Prometheus
/// text format.
fn metrics(state: &State) -> Response<Full<Bytes>> {
    use std::fmt::Write;
    let generation = state.index.load().as_ref().map_or(0, |l| l.generation);
    let overlay = &state.overlay;
    let scans = &state.scans.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let rows = [
        (
            "tracescan_generation",
            "gauge",
            "The index generation being served (0: none yet).",
            generation,
        ),
        (
            "tracescan_live_generations",
            "gauge",
            "Index generations still mapped.",
            state.live_generations(),
        ),
        (
            "tracescan_swaps_total",
            "counter",
            "Indexes swapped in.",
            load(&state.swaps),
        ),
        (
            "tracescan_refused_total",
            "counter",
            "Indexes refused because they failed verification.",
            load(&state.refused),
        ),
        (
            "tracescan_overlay_entries",
            "gauge",
            "Status changes in force.",
            overlay.load().len() as u64,
        ),
        (
            "tracescan_overlay_changes_total",
            "counter",
            "Status changes set or undone through the admin API.",
            load(&overlay.changes_total),
        ),
        (
            "tracescan_overlay_retired_total",
            "counter",
            "Status changes retired because a newer index carries them.",
            load(&overlay.retired_total),
        ),
        (
            "tracescan_scans_total",
            "counter",
            "Item scans counted.",
            load(&scans.scans),
        ),
        (
            "tracescan_scanned_items",
            "gauge",
            "Items with a scan count.",
            state.scans.items() as u64,
        ),
        (
            "tracescan_scan_flushes_total",
            "counter",
            "Scan-count flushes written and synced.",
            load(&scans.flushes),
        ),
        (
            "tracescan_scan_flush_errors_total",
            "counter",
            "Scan-count flushes that failed.",
            load(&scans.flush_errors),
        ),
        (
            "tracescan_scan_unflushed_items",
            "gauge",
            "Items whose scan count is ahead of the scan log (lost if the process died now).",
            state.scans.unflushed() as u64,
        ),
        (
            "tracescan_scan_last_flush_timestamp_seconds",
            "gauge",
            "When the scan log last took every count (or the server started), Unix seconds.",
            load(&scans.last_flush_ms) / 1000,
        ),
        (
            "tracescan_scan_compactions_total",
            "counter",
            "Scan-log compactions.",
            load(&scans.compactions),
        ),
        (
            "tracescan_scan_log_bytes",
            "gauge",
            "Bytes in the scan log.",
            load(&scans.log_bytes),
        ),
        (
            "tracescan_overlay_durable",
            "gauge",
            "1 when status changes are kept in a log, 0 when refused.",
            u64::from(overlay.is_durable()),
        ),
    ];
    let mut text = String::with_capacity(2048);
    for (name, kind, help, value) in rows {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
