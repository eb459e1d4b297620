//! Sockets, connections and their timeouts: hyper 1.x over tokio.
//!
//! Shape: one current-thread runtime per worker thread, each accepting on its
//! own `SO_REUSEPORT` listener (the kernel spreads connections across them), so
//! that no request crosses threads. The caller binds (tests bind port 0) and
//! hands in a shutdown signal, after mini-redis's `run(listener, shutdown)`.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Weak};
use std::task::Poll;
use std::time::Instant;

use futures_util::task::AtomicWaker;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{App, Scope, routes};

/// hyper's read buffer for a request head. Above the router's limits
/// ([`routes::MAX_REQUEST_LINE`], [`routes::MAX_HEADER_SECTION`]) so that the
/// router, not hyper, judges the request line and headers; a head beyond this
/// is refused by hyper itself with 431.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// How a set of listeners treats its connections.
#[derive(Clone, Debug)]
pub struct Config {
    /// A client that has not sent a whole request head by then is
    /// disconnected (slow-loris protection).
    pub header_read_timeout: Duration,
    /// The routes these listeners serve.
    pub scope: Scope,
    /// Connections served at once by all workers of these listeners. Near
    /// it, idle keep-alive connections are closed first; past it, a new
    /// connection gets `503` with `Retry-After` (`/healthz` and `/readyz`
    /// still answer) and is closed.
    pub max_connections: usize,
    /// After the stop, how long open connections may take to finish before
    /// they are closed.
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_read_timeout: Duration::from_secs(10),
            scope: Scope::All,
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Binds `threads` listeners on `addr` with `SO_REUSEPORT`, a backlog of 4096
/// and `TCP_NODELAY` inherited by accepted sockets. With port 0 the port is
/// picked once and every listener takes it.
///
/// `SO_REUSEPORT` is for this process's own workers only: an address another
/// process listens on is refused (`AddrInUse`), where the kernel would let a
/// second server of the same user take a share of the traffic.
pub fn bind(addr: SocketAddr, threads: usize) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(threads);
    let mut addr = claim(addr)?;
    // Zero threads would serve nothing: one is the least that makes sense.
    for _ in 0..threads.max(1) {
        let socket = stream_socket(addr)?;
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        // Answers are written whole; Nagle's algorithm would only hold the
        // last segment of one back for the client's delayed ACK.
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
    app: Arc<App>,
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let connections = Arc::new(Connections {
        epoch: Instant::now(),
        header_timeout_ms: config.header_read_timeout.as_millis() as u64,
        open: AtomicUsize::new(0),
        shed: AtomicUsize::new(0),
        max: config.max_connections,
        registry: Mutex::default(),
    });
    let workers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let (app, config, shutdown) = (app.clone(), config.clone(), shutdown.clone());
            let connections = connections.clone();
            // The first worker also enforces every connection's deadline.
            let sweeps = i == 0;
            std::thread::Builder::new().name(format!("http-{i}")).spawn(
                move || -> io::Result<()> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(worker(listener, app, config, connections, shutdown, sweeps))
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

/// A TCP socket for `addr`'s family, with `SO_REUSEADDR`: connections of an
/// earlier run in TIME_WAIT do not hold the port.
fn stream_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    Ok(socket)
}

/// Checks that nobody listens on `addr` by binding it without
/// `SO_REUSEPORT`, which fails while any socket listens there; returns the
/// address with its port picked. The probe is closed before the listeners
/// bind: another process starting in that instant is the one race left.
fn claim(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = stream_socket(addr)?;
    match probe.bind(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another process already listens on {addr}; a second server would silently take a share of its traffic"
                ),
            ));
        }
        Err(e) => return Err(e),
    }
    probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("the probe socket has no IP address"))
}

/// The connections of one set of listeners, shared by its workers.
struct Connections {
    /// What [`Conn::last`] counts from.
    epoch: Instant,
    /// How long a connection may go without a whole request head.
    header_timeout_ms: u64,
    /// Admitted connections open now.
    open: AtomicUsize,
    /// Connections being answered 503 and closed, past the cap.
    shed: AtomicUsize,
    max: usize,
    /// Admitted connections, to find idle ones when the cap is near.
    registry: Mutex<Vec<Weak<Conn>>>,
}

/// One admitted connection's state, as its requests see it.
struct Conn {
    /// A request is being answered.
    busy: AtomicBool,
    /// When the last request was answered (or the connection opened), in
    /// milliseconds since the listeners started.
    last: AtomicU64,
    /// What the connection is asked to do: [`CLOSE_WHEN_IDLE`] and
    /// [`EXPIRED`] bits, taken by its task when it wakes.
    asked: AtomicU8,
    /// The connection's task, woken when it is asked something.
    task: AtomicWaker,
}

/// Finish the request under way, if any, and close (a stop, or room made
/// near the cap).
const CLOSE_WHEN_IDLE: u8 = 1;
/// No whole request head arrived within the header timeout: close now if
/// that is still so.
const EXPIRED: u8 = 2;

impl Conn {
    fn ask(&self, what: u8) {
        self.asked.fetch_or(what, Ordering::AcqRel);
        self.task.wake();
    }
}

/// Shed connections served at once past the cap, besides the admitted
/// ones: each answers one request with 503 and closes, so a few hundred
/// cover any burst; past them a connection is closed unanswered.
const MAX_SHED: usize = 512;
/// How many idle connections one accept near the cap closes.
const RECLAIM_BATCH: usize = 8;

impl Connections {
    /// Milliseconds since the listeners started.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Adds `conn` to the registry, dropping the entries of closed
    /// connections once they outnumber the open ones: the registry stays
    /// proportional to the connections open, not to all ever served.
    fn register(&self, conn: &Arc<Conn>) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if registry.len() > 2 * self.open.load(Ordering::Relaxed) + 64 {
            registry.retain(|w| w.strong_count() > 0);
        }
        registry.push(Arc::downgrade(conn));
    }

    /// Closes up to [`RECLAIM_BATCH`] of the connections idle longest, when
    /// more than nine in ten of the admitted places are taken: an idle
    /// keep-alive connection gives way to a client that has a request.
    fn reclaim_idle(&self) {
        if self.open.load(Ordering::Relaxed) * 10 < self.max * 9 {
            return;
        }
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.retain(|w| w.strong_count() > 0);
        let mut idle: Vec<Arc<Conn>> = registry
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| !c.busy.load(Ordering::Relaxed))
            .collect();
        idle.sort_by_key(|c| c.last.load(Ordering::Relaxed));
        for conn in idle.iter().take(RECLAIM_BATCH) {
            conn.ask(CLOSE_WHEN_IDLE);
        }
    }

    /// Asks `what` of every open connection `which` picks.
    fn ask_where(&self, what: u8, which: impl Fn(&Conn) -> bool) {
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        for conn in registry.iter().filter_map(Weak::upgrade) {
            if which(&conn) {
                conn.ask(what);
            }
        }
    }

    /// Whether `conn` has gone without a whole request head for longer
    /// than the header timeout at `now` ([`Connections::now`]): no request
    /// in flight, none answered since.
    fn expired(&self, conn: &Conn, now: u64) -> bool {
        !conn.busy.load(Ordering::Relaxed)
            && conn.last.load(Ordering::Relaxed) + self.header_timeout_ms < now
    }
}

async fn worker(
    listener: TcpListener,
    app: Arc<App>,
    config: Config,
    connections: Arc<Connections>,
    mut shutdown: watch::Receiver<bool>,
    sweeps: bool,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut tasks = JoinSet::new();
    // An admitted connection's header timeout is not hyper's: hyper's arms
    // a timer for every request (an allocation, a clock read, a timer wheel
    // insertion and removal). [`expire`] enforces the same deadline from
    // the connections' registry instead. hyper's own bound on the number of
    // headers (100, past it 431) is kept: any other makes it fill two
    // arrays of that many on every request, where its default leaves them
    // uninitialised. Together about 2 % of the server's CPU at full load.
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_HEAD_BUFFER).keep_alive(true);
    // Past the cap: one answer, then the connection closes, and a client
    // that sends nothing is dropped soon by hyper's own timeout (a timer
    // for these few is cheap, and they are not in the registry).
    let mut shedding = builder.clone();
    shedding
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(SHED_HEAD_TIMEOUT.min(config.header_read_timeout));
    if sweeps {
        // Until the runtime ends: through the drain after the stop too.
        tokio::spawn(expire(connections.clone()));
    }
    let mut backoff = Duration::from_millis(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => { backoff = Duration::from_millis(1); accepted }
                Err(e) => {
                    // Out of file descriptors or a reset before accept:
                    // wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        // Finished connections leave the set here, so it holds open ones.
        while tasks.try_join_next().is_some() {}
        // Inherited from the listener on Linux; set again for platforms
        // where accepted sockets do not inherit it.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let (app, scope) = (app.clone(), config.scope);
        connections.reclaim_idle();
        if connections.open.fetch_add(1, Ordering::Relaxed) < connections.max {
            let conn = Arc::new(Conn {
                busy: AtomicBool::new(false),
                last: AtomicU64::new(connections.now()),
                asked: AtomicU8::new(0),
                task: AtomicWaker::new(),
            });
            connections.register(&conn);
            let (state, clock) = (conn.clone(), connections.clone());
            let service = service_fn(move |req| {
                let (app, state, clock) = (app.clone(), state.clone(), clock.clone());
                async move {
                    state.busy.store(true, Ordering::Relaxed);
                    let resp = routes::route(&app, scope, peer.ip(), req).await;
                    state.last.store(clock.now(), Ordering::Relaxed);
                    state.busy.store(false, Ordering::Relaxed);
                    Ok::<_, Infallible>(resp)
                }
            });
            let served = builder.serve_connection(io, service);
            let connections = connections.clone();
            tasks.spawn(async move {
                drive(served, &conn, &connections).await;
                connections.open.fetch_sub(1, Ordering::Relaxed);
            });
        } else {
            connections.open.fetch_sub(1, Ordering::Relaxed);
            if connections.shed.fetch_add(1, Ordering::Relaxed) >= MAX_SHED {
                // Not even a 503: closing is all there is room for.
                connections.shed.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let service = service_fn(move |req| {
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(routes::route_shedding(&app, scope, peer.ip(), req).await)
                }
            });
            let served = shedding.serve_connection(io, service);
            let connections = connections.clone();
            tasks.spawn(async move {
                if let Err(e) = served.await {
                    tracing::debug!("connection ended: {e}");
                }
                connections.shed.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
    drop(listener);
    // Every connection accepted here is registered by now.
    connections.ask_where(CLOSE_WHEN_IDLE, |_| true);
    // Open requests may finish, within the drain deadline: a client that
    // never reads its answers must not hold the process up.
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connection(s) still open {:?} after the stop: closed",
            tasks.len(),
            config.drain_timeout
        );
        tasks.abort_all();
    }
    Ok(())
}

/// A client past the cap that has sent no whole request head by then is
/// dropped.
const SHED_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Closes the connections that have sent no whole request head within the
/// header timeout of their last answer (or of their opening), checking every
/// quarter of the timeout or every second, whichever is sooner: a
/// connection is closed within 1¼ timeouts.
async fn expire(connections: Arc<Connections>) {
    let period = Duration::from_millis(connections.header_timeout_ms / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = connections.now();
        connections.ask_where(EXPIRED, |conn| connections.expired(conn, now));
    }
}

/// Serves one connection until it ends. Asked to close when idle, it
/// finishes the request under way and closes; asked as expired, it is
/// dropped if it still is (a request may have begun or been answered since
/// the sweep saw it).
///
/// Cost: on each wake, one atomic load and the waker's registration beside
/// hyper's own poll (a `select!` over shutdown and reclaim signals took two
/// locks a wake).
async fn drive<S>(
    served: http1::Connection<TokioIo<tokio::net::TcpStream>, S>,
    conn: &Conn,
    connections: &Connections,
) where
    S: hyper::service::HttpService<
            hyper::body::Incoming,
            ResBody = http_body_util::Full<bytes::Bytes>,
        >,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut served = std::pin::pin!(served);
    let ended = std::future::poll_fn(|cx| {
        // Registered before the flag is read: an ask in between still wakes.
        conn.task.register(cx.waker());
        if conn.asked.load(Ordering::Acquire) != 0 {
            let asked = conn.asked.swap(0, Ordering::AcqRel);
            if asked & EXPIRED != 0 && connections.expired(conn, connections.now()) {
                return Poll::Ready(None);
            }
            if asked & CLOSE_WHEN_IDLE != 0 {
                served.as_mut().graceful_shutdown();
            }
        }
        served.as_mut().poll(cx).map(Some)
    })
    .await;
    match ended {
        Some(Err(e)) => tracing::debug!("connection ended: {e}"),
        None => tracing::debug!("connection closed: no request head within the timeout"),
        Some(Ok(())) => {}
    }
}
