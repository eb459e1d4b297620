//! The `serve` command's wiring: its settings, and [`start`], which puts the
//! service, the HTTP listeners, the index source, the scan flushers and the
//! signals together. The binary and the tests call the same `start`, so tests
//! run the production wiring on port 0.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::build::{self, BuildError, Options};
use crate::fleet::{Fleet, FleetError};
use crate::http::{self, App, Scope, admin};
use crate::index::{Index, IndexError, Residency, cache};
use crate::live::overlay::Overlay;
use crate::live::scans::{self, Scans};
use crate::remote::{Follower, Remote, RemoteError};
use crate::service::{DEFAULT_WARN_ABOVE, Service, Settings};
use crate::swap::{self, Reloader};

/// The scan log is compacted once it has this many lines and more than twice
/// as many as there are counted items.
const SCAN_COMPACT_MIN_LINES: u64 = 100_000;

/// Every setting of `tracescan serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct Config {
    /// A TOML file of settings, keyed by these flags' names
    /// (`scan-flush-ms = 500`): a flag beats its TRACESCAN_… variable, which
    /// beats the file, which beats the default. An unknown key is refused.
    #[arg(long, env = "TRACESCAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the settings as they would be used, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// An index file built by `tracescan build`.
    #[arg(long, conflicts_with = "snapshot", env = "TRACESCAN_INDEX")]
    pub index: Option<PathBuf>,
    /// A snapshot directory to build (if needed) and serve.
    #[arg(long, conflicts_with = "index_dir", env = "TRACESCAN_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,
    /// A directory of published indexes: the newest is served, and a newer
    /// one is swapped in when it appears (checked every --poll-ms, and on
    /// SIGHUP).
    #[arg(long, conflicts_with = "index", env = "TRACESCAN_INDEX_DIR")]
    pub index_dir: Option<PathBuf>,
    /// With --index-dir: how many published indexes to keep on disk.
    #[arg(long, default_value_t = 3, env = "TRACESCAN_KEEP")]
    pub keep: usize,
    /// With --index-dir: how often to look for a new index, in milliseconds.
    #[arg(long, default_value_t = 1000, env = "TRACESCAN_POLL_MS")]
    pub poll_ms: u64,
    /// With --index-dir: follow the indexes published to this object-store
    /// URL (`tracescan publish`): s3://bucket/prefix, gs://…, az://…,
    /// https://…, file:///path. Its pointer is polled; a new index is
    /// downloaded into --index-dir, checked, and published there.
    #[arg(
        long,
        value_name = "URL",
        requires = "index_dir",
        env = "TRACESCAN_FOLLOW"
    )]
    pub follow: Option<String>,
    /// With --follow: how often to read the pointer, in milliseconds;
    /// after failures, twice as long each time, up to five minutes.
    #[arg(long, default_value_t = 5000, env = "TRACESCAN_FOLLOW_POLL_MS")]
    pub follow_poll_ms: u64,
    /// With --follow: how long one request to the object store may take,
    /// in milliseconds (a download asks for 16 MiB at a time).
    #[arg(long, default_value_t = 30_000, env = "TRACESCAN_FOLLOW_TIMEOUT_MS")]
    pub follow_timeout_ms: u64,
    /// A file holding the admin API's bearer token (at least 16
    /// characters); TRACESCAN_ADMIN_TOKEN works too. Without either, the
    /// admin API is off.
    #[arg(long, env = "TRACESCAN_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Serve the admin API on this address only, not on --listen.
    #[arg(long, env = "TRACESCAN_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Share status changes and scan counts with every replica of a fleet
    /// through this Redis (redis://host:port/db, rediss://…,
    /// redis+unix:///path): a change set on any replica is in force on all,
    /// and counts are summed. Needs a state directory (this replica's copy).
    #[arg(long, value_name = "URL", env = "TRACESCAN_REDIS")]
    pub redis: Option<String>,
    /// With --redis: the prefix of the keys this fleet uses, so that fleets
    /// can share a Redis.
    #[arg(long, default_value = "tracescan", env = "TRACESCAN_REDIS_PREFIX")]
    pub redis_prefix: String,
    /// With --redis: how long one request to Redis may take, in
    /// milliseconds (an admin change waits at most this long).
    #[arg(long, default_value_t = 1000, env = "TRACESCAN_REDIS_TIMEOUT_MS")]
    pub redis_timeout_ms: u64,
    /// Where status changes (overlay.log) and scan counts (scans.log) are
    /// kept (default: DIR/state with --index-dir). Without one, scan
    /// counts are kept in memory only and status changes are refused.
    #[arg(long, env = "TRACESCAN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// How often scan counts are written to the scan log and synced, in
    /// milliseconds: the most a crash can lose.
    #[arg(long, default_value_t = 1000, env = "TRACESCAN_SCAN_FLUSH_MS")]
    pub scan_flush_ms: u64,
    /// Warn `scanned_many_times` when an item has been scanned more often.
    #[arg(long, default_value_t = DEFAULT_WARN_ABOVE, env = "TRACESCAN_SCAN_WARN_ABOVE")]
    pub scan_warn_above: u64,
    /// One client's repeated scans of an item count once every this many
    /// seconds (to twice as many), so that no single client can push a
    /// genuine stamp past --scan-warn-above; 0 counts every scan.
    #[arg(long, default_value_t = 3600, env = "TRACESCAN_SCAN_REPEAT_WINDOW_S")]
    pub scan_repeat_window_s: u64,
    /// Items the scan-count map has room for before it first grows, up to
    /// 222 bytes each, reserved at start. Past it every shard of the map
    /// doubles at about the same count, seconds of rehashing on the worker
    /// once millions of items are counted: a national server sets it to the
    /// items it expects to count.
    #[arg(long, default_value_t = scans::DEFAULT_ROOM, env = "TRACESCAN_SCAN_COUNT_ROOM")]
    pub scan_count_room: usize,
    /// A proxy or load balancer in front of the server (repeatable): from
    /// it, the client is the address it names in X-Forwarded-For.
    #[arg(
        long = "trusted-proxy",
        env = "TRACESCAN_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "TRACESCAN_LISTEN")]
    pub listen: SocketAddr,
    /// The public root of Digital Link URIs served here
    /// (`https://id.example.vn`): the anchor of every linkset and the root of
    /// tracescan's own links. Default: `http://` and each request's Host.
    #[arg(long, value_parser = parse_public_url, env = "TRACESCAN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Worker threads, each with its own listener (default: one per core).
    #[arg(long, env = "TRACESCAN_THREADS")]
    pub threads: Option<usize>,
    /// UTC offset of the service's calendar, for expiry dates.
    #[arg(long, default_value = "+07:00", value_parser = crate::date::parse_utc_offset, env = "TRACESCAN_UTC_OFFSET")]
    pub utc_offset: i64,
    /// A client that has not sent a whole request head within this many
    /// milliseconds is disconnected (an idle keep-alive connection too); an
    /// admin request body has as long to arrive.
    #[arg(long, default_value_t = 10_000, env = "TRACESCAN_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: u64,
    /// Connections served at once; near it, idle keep-alive connections are
    /// closed first; past it, new connections get 503 with Retry-After
    /// (health checks still answer). Lowered to fit the file-descriptor
    /// limit.
    #[arg(long, default_value_t = 10_000, env = "TRACESCAN_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// After SIGTERM, how long open requests may take to finish, in
    /// milliseconds, before their connections are closed.
    #[arg(long, default_value_t = 10_000, env = "TRACESCAN_DRAIN_TIMEOUT_MS")]
    pub drain_timeout_ms: u64,
    /// After SIGTERM, how long to keep serving while `/readyz` answers 503,
    /// in milliseconds, before the listeners close: time for a load
    /// balancer's health checks to see the replica leave (their interval
    /// times the failures they need). 0 closes at once, as a lone server may.
    #[arg(long, default_value_t = 0, env = "TRACESCAN_UNREADY_BEFORE_STOP_MS")]
    pub unready_before_stop_ms: u64,
    /// How each served index is kept in memory: `lock` (mlock: no page is
    /// evicted), `advise` (MADV_WILLNEED: read ahead, the page cache decides
    /// what stays), or `auto` (lock when it fits with room to spare).
    #[arg(long, value_enum, default_value = "auto", env = "TRACESCAN_RESIDENCY")]
    pub residency: Residency,
    /// How log lines are written: `json` (one object a line, for a log
    /// pipeline), `text`, or `auto` (text, coloured on a terminal).
    #[arg(long, value_enum, default_value = "auto", env = "TRACESCAN_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log one request in this many (method, path, status, microseconds);
    /// 0 logs none.
    #[arg(long, default_value_t = 0, env = "TRACESCAN_ACCESS_LOG_SAMPLE")]
    pub access_log_sample: u64,
}

/// A public URL: `http(s)://host[:port][/path]`, printable ASCII with no
/// query or fragment; a trailing slash is dropped.
fn parse_public_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    let host = rest.split('/').next().unwrap_or("");
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !host_ok {
        return Err(format!("{url:?} does not name a host"));
    }
    if let Some(c) = url
        .chars()
        .find(|&c| !c.is_ascii_graphic() || matches!(c, '?' | '#' | '"' | '<' | '>' | '\\'))
    {
        return Err(format!(
            "{url:?} has the character {c:?}: a root URL has no query, fragment or spaces"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// The largest `--config` file read.
const MAX_CONFIG_FILE: u64 = 64 * 1024;

/// The arguments the `--config` file adds to a `serve` command line: a flag
/// for each key of the file that neither the command line nor the
/// environment set (they win over the file). `given` is what clap made of
/// the command line and the environment.
pub fn file_args(
    path: &Path,
    given: &clap::ArgMatches,
) -> Result<Vec<std::ffi::OsString>, ServeError> {
    use std::io::Read;
    let bad = |detail: String| ServeError::Config(format!("{}: {detail}", path.display()));
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_FILE + 1).read_to_string(&mut text))
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_CONFIG_FILE {
        return Err(bad(format!("over {MAX_CONFIG_FILE} bytes")));
    }
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let command = <Config as clap::Args>::augment_args(clap::Command::new("serve"));
    let known: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| {
            a.get_long()
                .is_some_and(|l| !matches!(l, "config" | "check-config"))
        })
        .collect();
    let mut args = Vec::new();
    for (key, value) in &table {
        let Some(arg) = known.iter().find(|a| a.get_long() == Some(key.as_str())) else {
            let names: Vec<&str> = known.iter().filter_map(|a| a.get_long()).collect();
            return Err(bad(format!(
                "unknown key `{key}`; the keys are {}",
                names.join(", ")
            )));
        };
        let source = given.value_source(arg.get_id().as_str());
        if matches!(
            source,
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        ) {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(bad(format!(
                        "`{key}` must be a string, a whole number or a list of them, found {other}"
                    )));
                }
            };
            args.push(format!("--{key}={text}").into());
        }
    }
    Ok(args)
}

impl Default for Config {
    /// The defaults of the command line: `tracescan serve` with no flags.
    fn default() -> Config {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            config: Config,
        }
        <Serve as clap::Parser>::parse_from(["serve"]).config
    }
}

/// Why the server could not start or ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("replaying the {what} in {path}: {source}")]
    State {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0}")]
    Token(String),
    #[error("settings: {0}")]
    Config(String),
    #[error("no --index or --snapshot given, and the bundled sample (data/sample) is not here")]
    NoSample,
    #[error("{0}")]
    Snapshot(io::Error),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("--follow: {0}")]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("starting a thread: {0}")]
    Thread(io::Error),
    #[error("serving: {0}")]
    Serve(io::Error),
    #[error("the server panicked")]
    Panicked,
    #[error("flushing scan counts at exit: {0}")]
    Flush(io::Error),
}

/// A server started by [`start`].
pub struct Running {
    /// Where the public routes listen.
    pub addr: SocketAddr,
    /// Where the admin API listens, with `--admin-listen`.
    pub admin_addr: Option<SocketAddr>,
    /// What the routes share: the service, the admin token, the reloader.
    pub app: Arc<App>,
    stop: watch::Sender<bool>,
    /// How long a drain reports not ready before the listeners close.
    unready_before_stop: Duration,
    /// Wakes the index-directory watcher (SIGHUP).
    wake: Sender<()>,
    servers: Vec<JoinHandle<io::Result<()>>>,
}

/// Starts serving as `config` says and returns once the listeners accept.
/// With `--index` or `--snapshot`, the index is loaded before it returns
/// (and the listeners answer `/healthz`, and 503 on `/readyz`, meanwhile);
/// with `--index-dir`, a watcher thread loads the newest published index;
/// with `--follow` besides, a thread brings each index published to the
/// object store into that directory (an empty directory serves nothing, and
/// `/readyz` answers 503, until the first has arrived).
///
/// Cost: replaying the state logs; for a file source, opening and verifying
/// the index (about 0.1 s per million records), after building it first when
/// a snapshot has changed.
pub fn start(config: Config) -> Result<Running, ServeError> {
    let threads = config
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let settings = Settings {
        utc_offset: config.utc_offset,
        warn_above: config.scan_warn_above,
        residency: config.residency,
    };
    let room_bytes = (config.scan_count_room as u64).saturating_mul(scans::ROOM_BYTES_PER_ITEM);
    let machine = crate::index::memory_total();
    if room_bytes > machine / 2 {
        return Err(ServeError::Config(format!(
            "--scan-count-room {}: room for that many scan counts takes up to {room_bytes} bytes, more than half of this machine's {machine}",
            config.scan_count_room
        )));
    }
    let state_dir = config
        .state_dir
        .clone()
        .or_else(|| config.index_dir.as_ref().map(|d| d.join("state")));
    let (overlay, scans) = match &state_dir {
        Some(dir) => {
            let (overlay_log, scan_log) = (dir.join("overlay.log"), dir.join("scans.log"));
            let overlay = Overlay::open(&overlay_log).map_err(|source| ServeError::State {
                what: "status overlay",
                path: overlay_log,
                source,
            })?;
            let scans = Scans::open(&scan_log, SCAN_COMPACT_MIN_LINES).map_err(|source| {
                ServeError::State {
                    what: "scan counts",
                    path: scan_log,
                    source,
                }
            })?;
            (overlay, scans)
        }
        None => {
            tracing::warn!(
                "no --state-dir: scan counts are kept in memory only, and status changes are refused"
            );
            (Overlay::in_memory(), Scans::in_memory())
        }
    };
    let scans = scans
        .with_repeat_window(config.scan_repeat_window_s)
        .with_room(config.scan_count_room);
    // Before the first scan, not during it.
    scans.touch();
    let service = Arc::new(Service::new(settings, overlay, scans));
    if let Some(url) = &config.redis {
        if state_dir.is_none() {
            return Err(ServeError::Config(
                "--redis needs a state directory (--state-dir or --index-dir): a replica keeps its copy of the fleet's changes there".into(),
            ));
        }
        let timeout = Duration::from_millis(config.redis_timeout_ms.max(1));
        let fleet = Fleet::open(url, &config.redis_prefix, timeout, state_dir.as_deref())?;
        let _ = service.fleet.set(Arc::new(fleet));
    }
    let reloader = config
        .index_dir
        .as_ref()
        .map(|dir| Arc::new(Mutex::new(Reloader::new(service.clone(), dir, config.keep))));
    // A slow client gets as long for an admin body as for a request head.
    let header_timeout = Duration::from_millis(config.header_timeout_ms);
    let app = Arc::new(App {
        service: service.clone(),
        admin_token: admin::Token::configured(config.admin_token_file.as_deref())
            .map_err(ServeError::Token)?,
        reloader: reloader.clone(),
        body_timeout: header_timeout,
        trusted_proxies: config.trusted_proxies.clone(),
        access_log: http::AccessLog::every(config.access_log_sample),
        public_url: config.public_url.clone(),
    });
    let bind = |addr: SocketAddr, threads| {
        http::bind(addr, threads).map_err(|source| ServeError::Bind { addr, source })
    };
    let listeners = bind(config.listen, threads)?;
    let addr = listeners[0].local_addr().map_err(ServeError::Serve)?;
    let (stop, stopped) = watch::channel(false);
    let max_connections = fit_descriptors(config.max_connections);
    let serve = |listeners, scope| {
        let (app, stopped) = (app.clone(), stopped.clone());
        let config = http::Config {
            header_read_timeout: header_timeout,
            scope,
            max_connections,
            drain_timeout: Duration::from_millis(config.drain_timeout_ms),
        };
        std::thread::Builder::new()
            .name("serve".into())
            .spawn(move || http::run(listeners, app, config, stopped))
            .map_err(ServeError::Thread)
    };
    // With --admin-listen, the admin API has listeners of its own.
    let (public_scope, admin_addr, mut servers) = match config.admin_listen {
        Some(admin) => {
            let admin_listeners = bind(admin, 1)?;
            let admin_addr = admin_listeners[0].local_addr().map_err(ServeError::Serve)?;
            let admin_server = serve(admin_listeners, Scope::Admin)?;
            (Scope::Public, Some(admin_addr), vec![admin_server])
        }
        None => (Scope::All, None, Vec::new()),
    };
    servers.push(serve(listeners, public_scope)?);
    // Without a state directory there is no log to flush to.
    if state_dir.is_some() {
        let interval = Duration::from_millis(config.scan_flush_ms.max(MIN_FLUSH_MS));
        scans::spawn_flushers(&service.scans, interval).map_err(ServeError::Thread)?;
    }
    if let Some(fleet) = service.fleet.get() {
        let interval = Duration::from_millis(config.scan_flush_ms.max(MIN_FLUSH_MS));
        fleet
            .start(&service, interval)
            .map_err(ServeError::Thread)?;
    }
    let announce = move || {
        println!("tracescan listening on http://{addr} with {threads} worker thread(s)");
        println!("try: curl 'http://{addr}/v1/scan?code=(01)08930002000017(10)L2611(21)S001001'");
    };
    let (wake, woken) = mpsc::channel();
    match (reloader, &config.index_dir) {
        (Some(reloader), Some(dir)) => {
            let poll = Duration::from_millis(config.poll_ms.max(MIN_POLL_MS));
            tracing::info!("watching {} for published indexes", dir.display());
            // The follower is made first: a URL no store takes ends the start.
            let follower = match &config.follow {
                Some(url) => {
                    let timeout = Duration::from_millis(config.follow_timeout_ms.max(1));
                    let remote = Remote::open(url, timeout)?;
                    Some(Follower::new(remote, dir, service.clone(), wake.clone())?)
                }
                None => None,
            };
            std::thread::Builder::new()
                .name("index-watch".into())
                .spawn(move || swap::watch(&reloader, poll, &woken, announce))
                .map_err(ServeError::Thread)?;
            if let Some(follower) = follower {
                let poll = Duration::from_millis(config.follow_poll_ms.max(MIN_POLL_MS));
                std::thread::Builder::new()
                    .name("index-follow".into())
                    .spawn(move || follower.run(poll))
                    .map_err(ServeError::Thread)?;
            }
        }
        _ => {
            // A file that cannot be served ends the start with its error.
            let path = index_for(config.index.clone(), config.snapshot.clone())?;
            service.install(Index::open(&path)?, &path);
            tracing::info!("serving index {}", path.display());
            announce();
        }
    }
    Ok(Running {
        addr,
        admin_addr,
        app,
        stop,
        unready_before_stop: Duration::from_millis(config.unready_before_stop_ms),
        wake,
        servers,
    })
}

/// Reports not ready, then after `unready` asks the servers to stop, on a
/// thread of its own.
fn begin_drain(
    service: &Service,
    unready: Duration,
    stop: watch::Sender<bool>,
) -> Result<(), ServeError> {
    service
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if !unready.is_zero() {
        tracing::info!("draining: /readyz answers 503; the listeners close in {unready:?}");
    }
    std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || {
            std::thread::sleep(unready);
            tracing::info!("shutting down: finishing open requests");
            let _ = stop.send(true);
        })
        .map_err(ServeError::Thread)?;
    Ok(())
}

/// File descriptors kept for what is not a connection: the index, the logs,
/// the listeners, connections being shed past the cap.
const RESERVED_DESCRIPTORS: u64 = 1024;

/// Raises the soft file-descriptor limit to the hard one (the default soft
/// limit, 1024, would stop a busy server long before its connection cap),
/// and returns `wanted` lowered to what the limit leaves room for.
fn fit_descriptors(wanted: usize) -> usize {
    use rlimit::Resource;
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("the file-descriptor limit could not be read or raised: {e}");
            Resource::NOFILE.get_soft().unwrap_or(1024)
        }
    };
    let room = limit.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    if (wanted as u64) > room {
        tracing::warn!(
            "--max-connections {wanted} lowered to {room}: the file-descriptor limit is {limit}"
        );
        return room as usize;
    }
    wanted
}

/// The shortest scan-flush interval taken: shorter ones would sync the log
/// hundreds of times a second for no gain in what a crash can lose.
const MIN_FLUSH_MS: u64 = 10;
/// The shortest poll of an index directory taken: a listing of a directory
/// more often than this costs more than it could win.
const MIN_POLL_MS: u64 = 10;

impl Running {
    /// The service behind the routes.
    pub fn service(&self) -> &Arc<Service> {
        &self.app.service
    }

    /// Asks the servers to stop accepting and finish open requests.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Drains, as SIGTERM does: `/readyz` answers 503 at once while every
    /// route still serves, for `--unready-before-stop-ms`, so that a load
    /// balancer stops sending; then the listeners close and open requests
    /// finish (within `--drain-timeout-ms`). Returns at once; [`Running::wait`]
    /// sees the end.
    pub fn drain(&self) -> Result<(), ServeError> {
        begin_drain(
            &self.app.service,
            self.unready_before_stop,
            self.stop.clone(),
        )
    }

    /// Drains on SIGTERM or ctrl-c (see [`Running::drain`]), and looks for a
    /// new index on SIGHUP. The signals are watched on a thread of their
    /// own; the workers only see the stop flag.
    pub fn stop_on_signals(&self) -> Result<(), ServeError> {
        let (stop, wake) = (self.stop.clone(), self.wake.clone());
        let (service, unready) = (self.app.service.clone(), self.unready_before_stop);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Thread)?;
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                rt.block_on(async {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (Ok(mut term), Ok(mut hup)) = (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::hangup()),
                    ) else {
                        tracing::error!("signal handlers could not be installed");
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => break,
                            _ = term.recv() => break,
                            _ = hup.recv() => { let _ = wake.send(()); }
                        }
                    }
                });
                if let Err(e) = begin_drain(&service, unready, stop.clone()) {
                    tracing::error!("{e}: stopping at once");
                    let _ = stop.send(true);
                }
            })
            .map_err(ServeError::Thread)?;
        Ok(())
    }

    /// Waits until the servers have stopped, then writes the scan counts
    /// out: a graceful stop loses no count.
    pub fn wait(self) -> Result<(), ServeError> {
        for server in self.servers {
            server
                .join()
                .map_err(|_| ServeError::Panicked)?
                .map_err(ServeError::Serve)?;
        }
        let service = &self.app.service;
        service.scans.close().map_err(ServeError::Flush)?;
        if let Some(fleet) = service.fleet.get() {
            // Redis being away is no reason to fail a stop: the counts are
            // in the scan log, and sent when the replica is back.
            match fleet.close(service) {
                Ok(n) => tracing::info!("scan counts of {n} item(s) sent to the fleet"),
                Err(e) => tracing::warn!("{e}: the scan log keeps the counts the fleet lacks"),
            }
        }
        Ok(())
    }
}

/// The index to serve or look up in: the one given, or one built from a
/// snapshot (the bundled sample when neither is given) and kept in
/// [`cache`] until the snapshot changes. A build prints its summary.
pub fn index_for(index: Option<PathBuf>, snapshot: Option<PathBuf>) -> Result<PathBuf, ServeError> {
    if let Some(index) = index {
        return Ok(index);
    }
    let dir = match snapshot {
        Some(dir) => dir,
        None => sample_dir()?,
    };
    let out = cache::path_for(&dir).map_err(ServeError::Snapshot)?;
    if cache::is_fresh(&out, &dir).map_err(ServeError::Snapshot)? {
        return Ok(out);
    }
    tracing::info!("building {} from {}", out.display(), dir.display());
    let options = Options {
        progress: true,
        ..Options::default()
    };
    print!("{}", build::build(&dir, &out, &options)?);
    Ok(out)
}

/// `data/sample` under the working directory, or under the source tree.
fn sample_dir() -> Result<PathBuf, ServeError> {
    let candidates = [
        PathBuf::from("data/sample"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("products.jsonl").exists())
        .ok_or(ServeError::NoSample)
}
