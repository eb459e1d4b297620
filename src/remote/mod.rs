//! Indexes in object storage: a build published to a bucket, replicas that
//! follow it. Through the `object_store` crate, so every store it reaches
//! works: S3 and S3-compatible servers (`s3://bucket/prefix`), Google Cloud
//! Storage (`gs://`), Azure Blob Storage (`az://`), HTTP(S) servers that take
//! PUT (`https://`), local files (`file:///path`).
//!
//! Under the URL:
//!
//! ```text
//! indexes/<snapshot>-<built at>-<checksum>.tsidx   one object per index, written once
//! current.json                                     the pointer, replaced by each publication
//! ```
//!
//! The protocol. [`publish()`] uploads an index under a name no other index
//! has, a part at a time, checks the object's length, and only then replaces
//! the pointer ([`pointer`]) in one PUT, which object stores make atomic: a
//! pointer only ever names an object that is complete. A replica's
//! [`Follower`] polls the pointer; when it names an index the replica's
//! directory lacks, it downloads it to a temporary file there (a dot name,
//! which the directory watcher ignores), checks its length and checksums as
//! it streams, syncs it and publishes it by rename. From there
//! [`crate::swap`] verifies it fully and swaps it in, as it does any index
//! published into the directory.
//!
//! - [`pointer`]: the pointer's format and its checks.
//! - [`publish()`]: an index file uploaded, then the pointer.
//! - [`follow`]: the replica's side: poll, download, check, publish locally.
//!
//! Credentials and endpoints come from the environment, as each store's own
//! tools read them: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`…; `GOOGLE_…`;
//! `AZURE_…`. Nothing here is known to the HTTP layer: a follower reports
//! through [`crate::service::FollowStats`].

pub mod follow;
pub mod pointer;
mod publish;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::index::IndexError;
use crate::index::format::FormatError;

pub use follow::{Follower, Polled};
pub use publish::{Published, publish};

/// How long one request to the store may take, unless the environment sets
/// the client's own `timeout`: for an upload, one part of at least 16 MiB.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The slowest transfer a whole upload or download is given time for, on
/// top of one request's timeout: a 20 GB index gets 5.3 hours.
pub const MIN_BYTES_PER_SECOND: u64 = 1 << 20;

/// Why a publication or a poll failed. Each says what was asked of which
/// object or file, and why it failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{url}: {reason}")]
    Url { url: String, reason: String },
    #[error("starting the object-store client: {0}")]
    Runtime(io::Error),
    #[error("{what}: {source}")]
    Store {
        what: String,
        source: object_store::Error,
    },
    #[error("{what}: no answer within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: there is no such object{hint}")]
    Missing { what: String, hint: &'static str },
    #[error("the pointer {url}: {reason}")]
    Pointer { url: String, reason: String },
    #[error("downloading {what}: interrupted after {got} of {length} bytes: {reason}")]
    Interrupted {
        what: String,
        got: u64,
        length: u64,
        reason: String,
    },
    #[error("{what}: {reason}")]
    Length { what: String, reason: String },
    #[error("{what}: {reason}")]
    Checksum { what: String, reason: String },
    #[error("{what}: {source}")]
    Format { what: String, source: FormatError },
    #[error("{what} {path}: {source}")]
    Local {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "not enough free space in {dir} for {name}: it is {length} bytes and {available} are free"
    )]
    NoSpace {
        dir: PathBuf,
        name: String,
        length: u64,
        available: u64,
    },
    #[error("not publishing {path}: {source}")]
    Index { path: PathBuf, source: IndexError },
}

impl RemoteError {
    /// The reason `/metrics` counts this error under
    /// ([`crate::service::FOLLOW_ERROR_REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            RemoteError::Pointer { .. } => "pointer",
            RemoteError::Store { .. } | RemoteError::Timeout { .. } => "unreachable",
            RemoteError::Missing { .. } => "missing",
            RemoteError::Interrupted { .. } => "interrupted",
            RemoteError::Length { .. } => "length",
            RemoteError::Checksum { .. } => "checksum",
            RemoteError::Format { .. } | RemoteError::Index { .. } => "format",
            RemoteError::Url { .. }
            | RemoteError::Runtime(_)
            | RemoteError::Local { .. }
            | RemoteError::NoSpace { .. } => "local",
        }
    }
}

/// An object store and the prefix a URL names in it.
#[derive(Clone, Debug)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The URL without user or password, for messages.
    url: String,
    timeout: Duration,
}

impl Remote {
    /// The store `url` names (anything `object_store::parse_url_opts`
    /// reaches), configured from the environment (`AWS_…`, `GOOGLE_…`,
    /// `AZURE_…`), each request given `timeout` unless the environment
    /// sets the client's own. An `http://` URL is allowed plain HTTP (an S3
    /// endpoint over plain HTTP needs `AWS_ALLOW_HTTP=true`).
    ///
    /// Cost: no request; the first one connects. Errors: a URL that is no
    /// store's, or a configuration its builder refuses.
    pub fn open(url: &str, timeout: Duration) -> Result<Remote, RemoteError> {
        let bad = |reason: String| RemoteError::Url {
            url: shown(url),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
        let mut options = vec![("timeout".to_owned(), format!("{}ms", timeout.as_millis()))];
        // An http:// URL asks for plain HTTP itself.
        if parsed.scheme() == "http" {
            options.push(("allow_http".to_owned(), "true".to_owned()));
        }
        options.extend(std::env::vars().filter(|(key, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|p| key.starts_with(p))
        }));
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)
            .map_err(|e| bad(format!("no object store here: {e}")))?;
        Ok(Remote {
            store: Arc::from(store),
            prefix,
            url: shown(url).trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// The URL, without user or password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object of `key` (a checked, `/`-separated relative key) under the
    /// prefix.
    fn path(&self, key: &str) -> ObjectPath {
        key.split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// `key` under the URL, for messages.
    fn named(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }
}

/// `url` with any user and password taken out.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A runtime for the store's requests on the calling thread.
fn runtime() -> Result<tokio::runtime::Runtime, RemoteError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RemoteError::Runtime)
}

/// How long a transfer of `length` bytes may take in all.
fn transfer_deadline(length: u64, timeout: Duration) -> Duration {
    timeout + Duration::from_secs(length / MIN_BYTES_PER_SECOND)
}

/// `future`, given `after` to finish; `what` names it in the error.
async fn within<T>(
    after: Duration,
    what: impl Fn() -> String,
    future: impl Future<Output = Result<T, object_store::Error>>,
) -> Result<T, RemoteError> {
    match tokio::time::timeout(after, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(object_store::Error::NotFound { .. })) => Err(RemoteError::Missing {
            what: what(),
            hint: "",
        }),
        Ok(Err(source)) => Err(RemoteError::Store {
            what: what(),
            source,
        }),
        Err(_) => Err(RemoteError::Timeout {
            what: what(),
            after,
        }),
    }
}
