//! The service: what a request needs, whatever carries it. It owns the index
//! generation in service, the live state on top of it (status overlay, scan
//! counts) and the settings that shape an answer, and it takes a scan to its
//! answer in one pipeline: parse → resolve (with every warning) → count →
//! render.
//!
//! Nothing here knows HTTP: [`crate::http`] turns requests into calls of
//! [`Service::scan`] and outcomes into statuses; the `lookup` command calls
//! [`answer`] directly on an index it opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use memmap2::Mmap;

use crate::code;
use crate::date::{Date, rfc3339_utc, unix_now};
use crate::index::Index;
use crate::live::Context;
use crate::live::overlay::{Changes, Overlay};
use crate::live::scans::Scans;
use crate::lookup;
use crate::render;

/// The default of `serve --scan-warn-above`.
pub const DEFAULT_WARN_ABOVE: u64 = 20;

/// What shapes an answer besides the index and the live state.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The UTC offset that decides "today" for expiry, in seconds.
    pub utc_offset: i64,
    /// Above this many scans, an item answer warns `scanned_many_times`.
    pub warn_above: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            utc_offset: 7 * 3600,
            warn_above: DEFAULT_WARN_ABOVE,
        }
    }
}

/// An index loaded for serving: one generation.
pub struct Generation {
    /// The index itself.
    pub index: Index<Mmap>,
    /// Its number: 1 for the first index this process served, then one more
    /// at each swap. Answers name it in the `x-tracescan-generation` header.
    pub number: u64,
    /// The file it was opened from.
    pub path: PathBuf,
    /// What `/v1/index` says of it, rendered at load.
    info: serde_json::Value,
    /// Counts this generation among the mapped ones until it is dropped,
    /// which happens when the last request that loaded it ends.
    _mapped: MappedGuard,
}

struct MappedGuard(Arc<AtomicU64>);

impl Drop for MappedGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every request shares.
pub struct Service {
    /// The generation being served; `None` until one is loaded.
    current: ArcSwapOption<Generation>,
    /// The last generation number given out.
    numbers: AtomicU64,
    /// Generations still mapped: the one served and any still answering a
    /// request begun before a swap.
    mapped: Arc<AtomicU64>,
    /// Indexes swapped in, and indexes refused (they failed verification).
    pub swaps: AtomicU64,
    pub refused: AtomicU64,
    /// Status changes in force on top of the index.
    pub overlay: Overlay,
    /// Item scan counts; shared with the threads that flush them.
    pub scans: Arc<Scans>,
    pub settings: Settings,
}

/// How a lookup ended. The transport decides what each means to its client
/// (an HTTP status, an exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least the product is known.
    Found,
    /// The code is well formed, but nothing it names is in the index.
    NotFound,
    /// The code is malformed; the body says what is wrong.
    InvalidCode,
}

/// A rendered answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    pub body: Vec<u8>,
}

impl Answer {
    /// The answer for a malformed code, `detail` saying what is wrong.
    pub fn invalid_code(detail: &str) -> Answer {
        Answer {
            outcome: Outcome::InvalidCode,
            body: render::json::error("invalid_code", detail),
        }
    }
}

/// One scan to answer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// What the answer echoes as `code`.
    pub shown: &'a str,
    /// What is parsed: differs from `shown` for a code rewritten before
    /// parsing (a Digital Link path served by us gets a placeholder host).
    pub raw: &'a str,
    /// Whether an item found is counted as scanned (a GET; a HEAD is a probe).
    pub count: bool,
    /// Who scans (a hash of the client's address), where known: one
    /// client's repeated scans of an item count once a window.
    pub client: Option<u64>,
}

impl Service {
    /// A service with no index yet, over `overlay` and `scans`.
    pub fn new(settings: Settings, overlay: Overlay, scans: Scans) -> Service {
        Service {
            current: ArcSwapOption::empty(),
            numbers: AtomicU64::new(0),
            mapped: Arc::new(AtomicU64::new(0)),
            swaps: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            overlay,
            scans: Arc::new(scans),
            settings,
        }
    }

    /// Serves `index` from now on, as a new generation; returns its number.
    /// Requests under way finish on the generation they started with. Status
    /// changes the new index carries itself are retired.
    pub fn install(&self, index: Index<Mmap>, path: &Path) -> u64 {
        let number = self.numbers.fetch_add(1, Ordering::Relaxed) + 1;
        let h = index.header();
        let info = serde_json::json!({
            "snapshot": h.snapshot_id,
            "exported_at": index.exported_at(),
            "built_at": rfc3339_utc(h.built_at),
            "counts": {"products": h.products, "batches": h.batches, "items": h.items},
            "checksum": format!("xxh3:{:016x}", h.checksum),
            "format_version": h.version,
            // The name alone: where the server's files are is nobody's
            // business on a public endpoint.
            "file": path.file_name().map(|n| n.to_string_lossy()),
            "generation": number,
        });
        self.mapped.fetch_add(1, Ordering::Relaxed);
        let generation = Arc::new(Generation {
            index,
            number,
            path: path.to_owned(),
            info,
            _mapped: MappedGuard(self.mapped.clone()),
        });
        self.current.store(Some(generation.clone()));
        self.swaps.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.overlay.retire_carried(&generation.index) {
            // The changes stay in force: nothing is lost, only not retired.
            tracing::error!("overlay: retiring changes the new index carries: {e}");
        }
        number
    }

    /// The generation in service, `None` before the first is loaded. Cheap:
    /// no lock, no reference count unless the guard is upgraded.
    pub fn current(&self) -> arc_swap::Guard<Option<Arc<Generation>>> {
        self.current.load()
    }

    /// How many generations are still mapped.
    pub fn mapped_generations(&self) -> u64 {
        self.mapped.load(Ordering::Relaxed)
    }

    /// What `/v1/index` says: the generation in service and the swap counts.
    pub fn index_info(&self) -> Option<serde_json::Value> {
        let current = self.current();
        let generation = current.as_ref()?;
        let mut info = generation.info.clone();
        info["live_generations"] = self.mapped_generations().into();
        info["swaps"] = self.swaps.load(Ordering::Relaxed).into();
        info["refused"] = self.refused.load(Ordering::Relaxed).into();
        Some(info)
    }

    /// Answers `scan` from `generation` under the status changes in force,
    /// counting an item's scan when asked to.
    ///
    /// Cost: one clock read, one overlay load, the lookup's hash probes and
    /// one rendering into a fresh buffer; no I/O.
    pub fn scan(&self, generation: &Generation, scan: Request<'_>) -> Answer {
        let changes = self.overlay.load();
        let now = unix_now();
        let live = Context {
            changes: &changes,
            scans: scan.count.then_some(&*self.scans),
            client: scan.client,
            warn_above: self.settings.warn_above,
            now,
            today: Date::at(now, self.settings.utc_offset),
        };
        answer(&generation.index, scan.shown, scan.raw, &live)
    }
}

/// The pipeline of one scan: parse `raw`, resolve it in `index` under `live`,
/// count it, render it. `shown` is what the answer echoes as `code`.
///
/// Cost: linear in the code's length, one to three hash probes (more under
/// changes in force), one rendering; allocation for the body and warnings.
pub fn answer<D: AsRef<[u8]>>(
    index: &Index<D>,
    shown: &str,
    raw: &str,
    live: &Context<'_>,
) -> Answer {
    let parsed = match code::parse(raw) {
        Ok(p) => p,
        Err(e) => return Answer::invalid_code(&e.to_string()),
    };
    // Room for the usual item answer (2–3 KB) without growing the buffer.
    let mut body = Vec::with_capacity(4096);
    match lookup::resolve(index, &parsed, live) {
        Some(mut found) => {
            lookup::count(&mut found, live);
            let snapshot = index.header().snapshot_id.as_str();
            render::json::found(&mut body, shown, &parsed, &found, snapshot, live.today);
            Answer {
                outcome: Outcome::Found,
                body,
            }
        }
        None => {
            render::json::not_found(&mut body, &parsed, live.today);
            Answer {
                outcome: Outcome::NotFound,
                body,
            }
        }
    }
}

/// [`answer`] from the index alone: no status changes, no scan counting.
/// `today` decides expiry.
pub fn answer_from_index<D: AsRef<[u8]>>(index: &Index<D>, raw: &str, today: Date) -> Answer {
    let changes = Changes::default();
    let live = Context {
        changes: &changes,
        scans: None,
        client: None,
        warn_above: u64::MAX,
        now: unix_now(),
        today,
    };
    answer(index, raw, raw, &live)
}
