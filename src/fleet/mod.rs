//! A fleet's shared live state in Redis (`serve --redis URL`): status changes
//! set on any replica are in force on every replica ([`changes`]), and scan
//! counts are summed over the replicas ([`counts`]).
//!
//! Redis holds, under a prefix (`tracescan` by default):
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `PREFIX:epoch` | string | a random value the first replica sets: a Redis that lost its data has another |
//! | `PREFIX:changes` | stream | every status change set or undone, in order: field `change`, an overlay log line |
//! | `PREFIX:scans` | hash | `01/GTIN/21/SERIAL` → the fleet's count |
//! | `PREFIX:scans:first` | hash | `01/GTIN/21/SERIAL` → the first scan, Unix seconds |
//! | `PREFIX:scans:replica:ID` | hash | `01/GTIN/21/SERIAL` → replica ID's own count |
//!
//! Each replica keeps its own overlay log and scan log as today: they are its
//! last known copy, what it serves while Redis is away. Redis is never on the
//! path of an answer: a lookup reads local memory only, and threads of their
//! own talk to Redis, each request bounded by `--redis-timeout-ms`.

pub mod changes;
pub mod counts;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{Client, Connection};

use crate::date::unix_ms;
use crate::live::overlay::Shared;
use crate::service::Service;

/// How long a replica that cannot reach Redis at start waits before it
/// serves from its local copy of the changes anyway.
pub const READY_WAIT: Duration = Duration::from_secs(5);

/// How long a read of the change stream waits for news before it asks again.
const BLOCK_MS: u64 = 1000;

/// The longest wait between two tries after Redis failed.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("--redis {url}: {source}")]
    Url {
        url: String,
        source: redis::RedisError,
    },
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("replica id {path}: {source}")]
    Id {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// What `/metrics` shows of the fleet's shared state.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Whether the last request to Redis, of any thread, succeeded.
    pub up: AtomicBool,
    /// Set once the changes were read from Redis in full.
    pub synced: AtomicBool,
    /// When the change stream was last read up to its end, Unix ms.
    pub changes_read_ms: AtomicU64,
    /// Shared changes read, and those that could not be read (reported in
    /// the log and skipped).
    pub changes_read: AtomicU64,
    pub bad_changes: AtomicU64,
    /// When the scan counts last left nothing unsent, Unix ms.
    pub counts_pushed_ms: AtomicU64,
    pub counts_pushed: AtomicU64,
    /// Failed requests: reading changes, pushing counts, publishing a change.
    pub errors: [AtomicU64; 3],
}

/// The labels of [`FleetStats::errors`].
pub const ERROR_KINDS: [&str; 3] = ["changes", "counts", "publish"];

/// The connection to the fleet's Redis.
pub struct Fleet {
    client: Client,
    /// The URL as logs show it: without its password.
    url: String,
    /// Every request to Redis gets this long.
    timeout: Duration,
    keys: Keys,
    /// This replica's name in the shared counts.
    replica: String,
    /// The admin API's connection, made when first needed.
    admin: Mutex<Option<Connection>>,
    /// The epoch of the Redis this replica last sent counts to.
    epoch: Mutex<Option<String>>,
    /// The last entry of the change stream in force here, as
    /// (milliseconds, sequence).
    applied: Mutex<(u64, u64)>,
    started_ms: u64,
    /// Set at a stop: the threads end.
    closed: AtomicBool,
    pub stats: FleetStats,
}

struct Keys {
    epoch: String,
    changes: String,
    scans: String,
    first: String,
    mine: String,
}

impl Fleet {
    /// Opens the Redis `url` (redis://, rediss://, redis+unix://), without
    /// connecting yet. The replica's id is kept in `state_dir` so that its
    /// share of the counts stays its own across restarts; without a state
    /// directory each process is a new replica.
    pub fn open(
        url: &str,
        prefix: &str,
        timeout: Duration,
        state_dir: Option<&Path>,
    ) -> Result<Fleet, FleetError> {
        let client = Client::open(url).map_err(|source| FleetError::Url {
            url: shown(url),
            source,
        })?;
        let replica = replica_id(state_dir)?;
        let stats = FleetStats::default();
        Ok(Fleet {
            client,
            url: shown(url),
            timeout,
            keys: Keys {
                changes: format!("{prefix}:changes"),
                scans: format!("{prefix}:scans"),
                first: format!("{prefix}:scans:first"),
                mine: format!("{prefix}:scans:replica:{replica}"),
                epoch: format!("{prefix}:epoch"),
            },
            replica,
            admin: Mutex::new(None),
            epoch: Mutex::new(None),
            applied: Mutex::new((0, 0)),
            started_ms: unix_ms(),
            closed: AtomicBool::new(false),
            stats,
        })
    }

    /// Starts the threads that follow the shared changes and push the scan
    /// counts (every `push_every`).
    pub fn start(
        self: &Arc<Self>,
        service: &Arc<Service>,
        push_every: Duration,
    ) -> std::io::Result<()> {
        service.scans.share();
        let (fleet, svc) = (self.clone(), service.clone());
        std::thread::Builder::new()
            .name("fleet-changes".into())
            .spawn(move || changes::follow(&fleet, &svc))?;
        let (fleet, svc) = (self.clone(), service.clone());
        std::thread::Builder::new()
            .name("fleet-counts".into())
            .spawn(move || counts::push_every(&fleet, &svc.scans, push_every))?;
        tracing::info!(
            "sharing status changes and scan counts through {} as replica {}",
            self.url,
            self.replica
        );
        Ok(())
    }

    /// Ready to answer: the shared changes were read once, or Redis could
    /// not be reached for [`READY_WAIT`] (the local copy then serves).
    pub fn ready(&self) -> bool {
        self.stats.synced.load(Ordering::Relaxed)
            || unix_ms().saturating_sub(self.started_ms) >= READY_WAIT.as_millis() as u64
    }

    /// Adds a change to the shared stream: once this returns, every
    /// replica, this one included, will apply it. Returns its entry's id.
    pub fn publish(&self, shared: &Shared) -> Result<String, FleetError> {
        let mut admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| {
            if admin.is_none() {
                *admin = Some(self.connect(self.timeout)?);
            }
            self.add_change(admin.as_mut().expect("connected above"), shared)
        })();
        match result {
            Ok(id) => {
                self.stats.up.store(true, Ordering::Relaxed);
                Ok(id)
            }
            Err(e) => {
                // The next change connects anew (Redis may have restarted).
                *admin = None;
                self.failed(2);
                Err(e.into())
            }
        }
    }

    /// Appends `shared` to the change stream; returns its entry's id.
    fn add_change(&self, con: &mut Connection, shared: &Shared) -> redis::RedisResult<String> {
        redis::cmd("XADD")
            .arg(&self.keys.changes)
            .arg("*")
            .arg("change")
            .arg(shared.to_json())
            .query(con)
    }

    /// Waits until the changes in force here include the stream's entry
    /// `id`, at most `within`; whether they do.
    pub fn wait_applied(&self, id: &str, within: Duration) -> bool {
        let Some(id) = stream_id(id) else {
            return false;
        };
        let until = std::time::Instant::now() + within;
        loop {
            if *self.applied.lock().unwrap_or_else(|p| p.into_inner()) >= id {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Records that the changes in force here include the entry `id`.
    fn applied_up_to(&self, id: &str) {
        if let Some(id) = stream_id(id) {
            let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
            *applied = (*applied).max(id);
        }
    }

    /// Ends the threads; pushes the counts one last time (a stop loses no
    /// count the fleet could take). Returns how many items were sent.
    pub fn close(&self, service: &Service) -> Result<usize, FleetError> {
        self.closed.store(true, Ordering::Relaxed);
        let mut con = self.connect(self.timeout)?;
        counts::push(self, &mut con, &service.scans)
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Whether Redis lost what this replica sent it before: its epoch (set
    /// by the first replica to ask) is not the one this replica last saw.
    fn lost_data(&self, con: &mut Connection) -> redis::RedisResult<bool> {
        let fresh = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(self.replica.as_bytes()) ^ unix_ms()
        );
        let _: Option<String> = redis::cmd("SET")
            .arg(&self.keys.epoch)
            .arg(fresh)
            .arg("NX")
            .query(con)?;
        let epoch: String = redis::cmd("GET").arg(&self.keys.epoch).query(con)?;
        let mut known = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        let lost = known.as_ref().is_some_and(|k| *k != epoch);
        *known = Some(epoch);
        Ok(lost)
    }

    /// A connection whose reads wait at most `read`.
    fn connect(&self, read: Duration) -> redis::RedisResult<Connection> {
        let con = self.client.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(read))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(con)
    }

    fn failed(&self, kind: usize) {
        self.stats.up.store(false, Ordering::Relaxed);
        self.stats.errors[kind].fetch_add(1, Ordering::Relaxed);
    }
}

/// `url` with its password, if any, replaced by `***`: logs and errors
/// name the Redis, never its secret.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(an unreadable URL)".to_owned(),
    }
}

/// The replica id kept in `state_dir/replica-id`, made on first use.
fn replica_id(state_dir: Option<&Path>) -> Result<String, FleetError> {
    let fresh = || {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(32)
            .collect();
        let random = xxhash_rust::xxh3::xxh3_64(
            &[
                unix_ms().to_le_bytes(),
                u64::from(std::process::id()).to_le_bytes(),
            ]
            .concat(),
        );
        format!(
            "{}-{random:016x}",
            if host.is_empty() { "replica" } else { &host }
        )
    };
    let Some(dir) = state_dir else {
        return Ok(fresh());
    };
    let path = dir.join("replica-id");
    let err = |source| FleetError::Id {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if valid_id(id.trim()) => Ok(id.trim().to_owned()),
        Ok(id) => Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{:?} is not a replica id (1 to 64 letters, digits and -)",
                id.trim()
            ),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = fresh();
            std::fs::create_dir_all(dir).map_err(err)?;
            crate::durable::replace(&path, |f| std::io::Write::write_all(f, id.as_bytes()))
                .map_err(err)?;
            Ok(id)
        }
        Err(e) => Err(err(e)),
    }
}

/// A stream entry's id, `MILLISECONDS-SEQUENCE`, as a pair that orders as
/// the stream does.
fn stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Waits before the `failures`-th try after a failure: 250 ms, doubled each
/// time, at most [`MAX_BACKOFF`]; or less when the fleet closes.
fn backoff(fleet: &Fleet, failures: u32) {
    let wait = (Duration::from_millis(250) * (1 << failures.min(5))).min(MAX_BACKOFF);
    let until = std::time::Instant::now() + wait;
    while !fleet.closed() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}
