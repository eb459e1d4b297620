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

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;

use super::{App, Scope, routes};

/// hyper's read buffer for a request head. Above the router's limits
/// ([`routes::MAX_REQUEST_LINE`], [`routes::MAX_HEADER_SECTION`]) so that the
/// router, not hyper, judges the request line and headers; a head beyond this
/// is refused by hyper itself with 431.
const MAX_HEAD_BUFFER: usize = 64 * 1024;
/// More headers than this is refused by hyper (431).
const MAX_HEADERS: usize = 64;

/// How a set of listeners treats its connections.
#[derive(Clone, Debug)]
pub struct Config {
    /// A client that has not sent a whole request head by then is
    /// disconnected (slow-loris protection).
    pub header_read_timeout: Duration,
    /// The routes these listeners serve.
    pub scope: Scope,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_read_timeout: Duration::from_secs(10),
            scope: Scope::All,
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
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
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
    let workers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let (app, config, shutdown) = (app.clone(), config.clone(), shutdown.clone());
            std::thread::Builder::new().name(format!("http-{i}")).spawn(
                move || -> io::Result<()> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(worker(listener, app, config, shutdown))
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

/// Checks that nobody listens on `addr` by binding it without
/// `SO_REUSEPORT`, which fails while any socket listens there; returns the
/// address with its port picked. The probe is closed before the listeners
/// bind: another process starting in that instant is the one race left.
fn claim(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    // Connections of an earlier run in TIME_WAIT do not hold the port.
    probe.set_reuse_address(true)?;
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

async fn worker(
    listener: TcpListener,
    app: Arc<App>,
    config: Config,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // hyper's header timeout does nothing without a timer.
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
                let (stream, peer) = match accepted {
                    Ok(accepted) => { backoff = Duration::from_millis(1); accepted }
                    Err(e) => {
                        // Out of file descriptors or a reset before accept:
                        // wait a little instead of spinning.
                        tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                };
                // Inherited from the listener on Linux; set again for
                // platforms where accepted sockets do not inherit it.
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let scope = config.scope;
                let service = service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(routes::route(&app, scope, peer.ip(), req).await) }
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
