//! The HTTP front. It knows requests and responses, not byte offsets or
//! lookups: answers come from [`crate::service`].
//!
//! - [`transport`]: bind, accept, serve connections, their timeouts.
//! - [`routes`]: every route in one `match (method, path)`.
//! - [`resolver`]: the Digital Link routes, SPEC section 6.
//! - [`error`]: the one mapping from what went wrong to a status.
//! - [`admin`]: what the admin routes do; [`metrics`]: the Prometheus text.
//!
//! `http` depends on `service` and `swap`, never the other way round.

pub mod admin;
pub mod error;
pub mod metrics;
pub mod negotiate;
pub mod resolver;
pub mod routes;
pub mod transport;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::service::Service;
use crate::swap::Reloader;

pub use transport::{Config, bind, run};

/// A request body the routes can read: hyper's own, or any other with
/// bytes for data (an empty one, in benches and tests).
pub trait Body:
    hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
{
}

impl<B> Body for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
{
}

/// What every route shares.
pub struct App {
    /// Lookups, the live state and the generation in service.
    pub service: Arc<Service>,
    /// The admin API's token; without one the admin API is off.
    pub admin_token: Option<admin::Token>,
    /// What reload and rollback act on, when an index directory is watched.
    pub reloader: Option<Arc<Mutex<Reloader>>>,
    /// How long a request body (the admin API's) may take to arrive.
    pub body_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client; from any other
    /// peer the header is ignored (anyone can write it).
    pub trusted_proxies: Vec<IpAddr>,
    /// Which requests are logged.
    pub access_log: AccessLog,
    /// The resolver's public root (`https://id.example.vn`), written into
    /// linksets and links; `None`: `http://` and the request's Host.
    pub public_url: Option<String>,
}

/// Access logging, sampled: one request in `every` is logged (method, path
/// as sent, status, microseconds), none when `every` is 0. Off by default:
/// at tens of thousands of scans a second, a line each would cost more than
/// the answers.
#[derive(Debug, Default)]
pub struct AccessLog {
    every: u64,
    seen: std::sync::atomic::AtomicU64,
}

impl AccessLog {
    pub fn every(every: u64) -> AccessLog {
        AccessLog {
            every,
            seen: Default::default(),
        }
    }

    fn is_on(&self) -> bool {
        self.every > 0
    }

    /// Whether the request now ending is one to log.
    fn sampled(&self) -> bool {
        self.seen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(self.every)
    }
}

impl App {
    /// Lookups and health over `service`, no admin API.
    pub fn new(service: Arc<Service>) -> App {
        App {
            service,
            admin_token: None,
            reloader: None,
            body_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            access_log: AccessLog::default(),
            public_url: None,
        }
    }
}

/// Which routes a set of listeners serves: the admin API can be kept to an
/// address of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Lookups and health, no admin API.
    Public,
    /// The admin API only.
    Admin,
    All,
}

impl Scope {
    fn public(self) -> bool {
        self != Scope::Admin
    }

    fn admin(self) -> bool {
        self != Scope::Public
    }
}

/// A JSON answer with `status`.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Reads a request body of at most `limit` bytes, arrived within `timeout`:
/// a client that announces a body and withholds it must not hold a
/// connection, and one that sends too much is refused with 413.
pub(crate) async fn read_body<B: Body>(
    body: B,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, error::Error> {
    use error::{Error, Kind};
    use http_body_util::{BodyExt, Limited};
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect());
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Error::new(
            Kind::BodyTooLarge,
            format!("the request body is over {limit} bytes"),
        )),
        Ok(Err(e)) => Err(Error::new(
            Kind::BadBody,
            format!("the request body could not be read: {e}"),
        )),
        Err(_) => Err(Error::new(
            Kind::BodyTimeout,
            format!("the request body did not arrive within {timeout:?}"),
        )),
    }
}
