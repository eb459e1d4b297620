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
use crate::index::format::ArchivedLinkEntry;
use crate::index::{Index, Kept, LinksRef, Residency};
use crate::live::Context;
use crate::live::overlay::{Changes, Overlay};
use crate::live::scans::Scans;
use crate::lookup;
use crate::render::{self, Format, page};
use crate::resolver::{self, choose::Candidate, choose::Choice};

/// How many bytes of rendered page sections a generation keeps: some
/// 30,000 products and batches, the popular ones of a national day.
pub const PAGE_SECTIONS_BYTES: u64 = 64 << 20;

/// The default of `serve --scan-warn-above`.
pub const DEFAULT_WARN_ABOVE: u64 = 20;

/// What shapes an answer besides the index and the live state.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The UTC offset that decides "today" for expiry, in seconds.
    pub utc_offset: i64,
    /// Above this many scans, an item answer warns `scanned_many_times`.
    pub warn_above: u64,
    /// How each index's mapping is kept in memory while it serves.
    pub residency: Residency,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            utc_offset: 7 * 3600,
            warn_above: DEFAULT_WARN_ABOVE,
            residency: Residency::Auto,
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
    /// Whether its pages are locked in memory (see [`Residency`]).
    pub locked: bool,
    /// What `/v1/index` says of it, rendered at load.
    info: serde_json::Value,
    /// The product and batch sections of its pages, as rendered so far.
    pub sections: page::Sections,
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
    /// Published files retention could not remove.
    pub retention_errors: AtomicU64,
    /// Set when the process drains before stopping: `/readyz` answers 503
    /// so that load balancers stop sending, while every route still serves.
    pub draining: std::sync::atomic::AtomicBool,
    /// What following an object store reports (`serve --follow`); left at
    /// zero, and out of `/metrics`, without one.
    pub follow: FollowStats,
    /// With `serve --redis`: the fleet whose status changes and scan counts
    /// this replica shares.
    pub fleet: std::sync::OnceLock<Arc<crate::fleet::Fleet>>,
    /// Status changes in force on top of the index.
    pub overlay: Overlay,
    /// Item scan counts; shared with the threads that flush them.
    pub scans: Arc<Scans>,
    pub settings: Settings,
}

/// Why a poll of an object store failed, as `/metrics` labels it; the index
/// of each in [`FollowStats::errors`].
pub const FOLLOW_ERROR_REASONS: [&str; 8] = [
    "pointer",
    "unreachable",
    "missing",
    "interrupted",
    "length",
    "checksum",
    "format",
    "local",
];

/// Counters of the thread that follows an object store. Written by
/// `crate::remote`, read by `/metrics`: plain numbers, so that the HTTP
/// layer knows nothing of object storage.
#[derive(Debug, Default)]
pub struct FollowStats {
    /// Set when a follower runs; the counters are shown only then.
    pub enabled: std::sync::atomic::AtomicBool,
    /// Polls of the pointer, successful or not.
    pub polls: AtomicU64,
    /// Indexes downloaded, checked and published into the index directory.
    pub downloads: AtomicU64,
    /// Bytes of those indexes.
    pub downloaded_bytes: AtomicU64,
    /// Failed polls and downloads, by reason ([`FOLLOW_ERROR_REASONS`]).
    pub errors: [AtomicU64; FOLLOW_ERROR_REASONS.len()],
    /// When a poll last succeeded (the pointer read and the index it names
    /// in the directory), Unix seconds; 0 before the first.
    pub last_success: AtomicU64,
    /// The `published_at` of the pointer last read, Unix seconds.
    pub pointer_published: AtomicU64,
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
    /// Whether the answer shows an item: it then changes with every scan.
    pub item: bool,
    /// A page (HTML) rather than JSON.
    pub page: bool,
    pub body: Vec<u8>,
}

impl Answer {
    /// The answer for a malformed code, `detail` saying what is wrong.
    pub fn invalid_code(format: &Format<'_>, shown: Option<&str>, detail: &str) -> Answer {
        let (page, body) = match format {
            Format::Json => (false, render::json::error("invalid_code", detail)),
            Format::Page(ctx) => {
                let mut body = Vec::with_capacity(4096);
                render::page::invalid_code(&mut body, ctx, shown, detail);
                (true, body)
            }
        };
        Answer {
            outcome: Outcome::InvalidCode,
            item: false,
            page,
            body,
        }
    }
}

/// One scan to answer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// What the answer echoes as `code`.
    pub shown: &'a str,
    /// What is looked up.
    pub code: Code<'a>,
    /// Whether an item found is counted as scanned (a GET; a HEAD is a probe).
    pub count: bool,
    /// Who scans (a hash of the client's address), where known: one
    /// client's repeated scans of an item count once a window.
    pub client: Option<u64>,
    /// What renders the answer.
    pub format: Format<'a>,
}

/// What a request looks up.
#[derive(Clone, Copy, Debug)]
pub enum Code<'a> {
    /// A scan code, parsed by [`code::parse`]. Differs from what the answer
    /// shows for a code rewritten before parsing (a Digital Link path served
    /// by us gets a placeholder host).
    Raw(&'a str),
    /// A stamp code and nothing else (`/s/{stamp}`): a stamp that happens to
    /// read as a GTIN is still looked up as a stamp.
    Stamp(&'a str),
}

impl<'a> Request<'a> {
    /// A JSON lookup of `code` as scanned, counting nothing.
    pub fn json(code: &'a str) -> Request<'a> {
        Request {
            shown: code,
            code: Code::Raw(code),
            count: false,
            client: None,
            format: Format::Json,
        }
    }
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
            retention_errors: AtomicU64::new(0),
            draining: Default::default(),
            follow: FollowStats::default(),
            fleet: std::sync::OnceLock::new(),
            overlay,
            scans: Arc::new(scans),
            settings,
        }
    }

    /// Serves `index` from now on, as a new generation; returns its number.
    /// Requests under way finish on the generation they started with. Status
    /// changes the new index carries itself are retired.
    pub fn install(&self, index: Index<Mmap>, path: &Path) -> u64 {
        let locked = match index.keep_resident(self.settings.residency) {
            Kept::Locked => true,
            Kept::Advised { instead_of_lock } => {
                if let Some(instead_of_lock) = instead_of_lock {
                    tracing::warn!(
                        "{} is not locked in memory: {instead_of_lock}; the page cache \
                         decides what of it stays",
                        path.display()
                    );
                }
                false
            }
        };
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
            "locked_in_memory": locked,
        });
        self.mapped.fetch_add(1, Ordering::Relaxed);
        let generation = Arc::new(Generation {
            index,
            number,
            path: path.to_owned(),
            locked,
            info,
            sections: page::Sections::new(PAGE_SECTIONS_BYTES),
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
        let live = self.live(&changes, &scan);
        answer(&generation.index, &with_sections(generation, scan), &live)
    }

    /// Answers a Digital Link request (SPEC section 6) from `generation`:
    /// the linkset, a redirect to the link that fits best, or the lookup
    /// answer itself when tracescan's own page is the link. A redirect
    /// counts an item's scan as the lookup answer does; a linkset, read by
    /// machines, counts none.
    ///
    /// Cost: [`Service::scan`]'s, plus for a link the choice among the few
    /// links of the levels found; a linkset is a copy of the level's
    /// pre-rendered one.
    pub fn digital_link(&self, generation: &Generation, dl: DigitalLink<'_>) -> Resolved {
        let changes = self.overlay.load();
        let live = self.live(&changes, &dl.scan);
        let scan = with_sections(generation, dl.scan);
        let index = &generation.index;
        let parsed = match parse(&scan) {
            Ok(p) => p,
            Err(answer) => return Resolved::answer(answer, None),
        };
        let anchor = match &parsed {
            code::Scan::Gs1(gs1) => {
                let mut anchor = String::from(dl.root);
                anchor.push_str(&resolver::canonical_path(gs1));
                anchor
            }
            // Our Digital Link routes never take a stamp: the path is
            // not Digital Link syntax.
            code::Scan::Stamp(_) => {
                let detail = resolver::NOT_A_DIGITAL_LINK;
                return Resolved::answer(
                    Answer::invalid_code(&scan.format, Some(scan.shown), detail),
                    None,
                );
            }
        };
        let Some(mut found) = lookup::resolve(index, &parsed, &live) else {
            return Resolved::answer(render(index, &scan, &parsed, None, &live), Some(anchor));
        };
        let answered =
            |found| Resolution::Answer(render(index, &scan, &parsed, Some(found), &live));
        let kind = match dl.want {
            Want::Json => return Resolved::with_anchor(answered(found), anchor),
            Want::Type(kind) => Some(kind),
            Want::Default | Want::Linkset => None,
        };
        // tracescan's own page's URL is written only where it is shown: in a
        // linkset or a redirect to it, not when it is answered here.
        let own_href = || resolver::own_href(dl.root, &anchor);
        let links = Levels::of(index, &found);
        let item = found.item.is_some();
        if dl.want == Want::Linkset {
            let body = links.linkset(&anchor, &own_href());
            return Resolved::linkset(body, false, item, anchor);
        }
        let outcome = match links.choose(kind, &dl) {
            // tracescan's own page as the default is answered here; asked
            // for by its type, it is redirected to like any link.
            Choice::One(Candidate { own: true, .. }) if kind.is_none() => answered(found),
            Choice::One(link) => {
                lookup::count(&mut found, &live);
                Resolution::Redirect {
                    href: if link.own {
                        own_href()
                    } else {
                        link.href.to_owned()
                    },
                    item,
                }
            }
            Choice::Several => {
                let body = links.linkset(&anchor, &own_href());
                return Resolved::linkset(body, true, item, anchor);
            }
            Choice::NoneOfType => Resolution::NoLinkOfType,
        };
        Resolved::with_anchor(outcome, anchor)
    }

    /// The live state a request is answered under.
    fn live<'a>(&'a self, changes: &'a Changes, scan: &Request<'_>) -> Context<'a> {
        let now = unix_now();
        Context {
            changes,
            scans: scan.count.then_some(&*self.scans),
            client: scan.client,
            warn_above: self.settings.warn_above,
            now,
            today: Date::at(now, self.settings.utc_offset),
        }
    }
}

/// `scan` with its page, if it asks for one, keeping its sections with the
/// generation that renders them.
fn with_sections<'a>(generation: &'a Generation, scan: Request<'a>) -> Request<'a> {
    let format = match scan.format {
        Format::Page(ctx) => Format::Page(page::Context {
            sections: Some(&generation.sections),
            ..ctx
        }),
        Format::Json => Format::Json,
    };
    Request { format, ..scan }
}

/// A Digital Link request.
#[derive(Clone, Copy, Debug)]
pub struct DigitalLink<'a> {
    /// The lookup, as the route would answer it itself.
    pub scan: Request<'a>,
    pub want: Want<'a>,
    /// The reader's `Accept-Language` and `Accept`, which choose among links.
    pub accept_language: &'a str,
    pub accept: &'a str,
    /// The resolver's public root (`https://id.example.vn`), anchor of every
    /// linkset.
    pub root: &'a str,
}

/// What a Digital Link request asks for (SPEC section 6, in the order its
/// rules are tried).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want<'a> {
    /// Every link: `linkType=linkset` or `all`, or a linkset `Accept`.
    Linkset,
    /// The link of a type (`gs1:pip`, written as the request wrote it).
    Type(&'a str),
    /// The JSON lookup answer (`Accept: application/json`).
    Json,
    /// The default link.
    Default,
}

/// How a Digital Link request ended.
#[derive(Debug)]
pub struct Resolved {
    pub outcome: Resolution,
    /// The canonical URI of the request (root and Digital Link path) when it
    /// names a GS1 key: the anchor of its linkset.
    pub anchor: Option<String>,
}

impl Resolved {
    fn answer(answer: Answer, anchor: Option<String>) -> Resolved {
        Resolved {
            outcome: Resolution::Answer(answer),
            anchor,
        }
    }

    fn with_anchor(outcome: Resolution, anchor: String) -> Resolved {
        Resolved {
            outcome,
            anchor: Some(anchor),
        }
    }

    fn linkset(body: Vec<u8>, several: bool, item: bool, anchor: String) -> Resolved {
        Resolved {
            outcome: Resolution::Linkset {
                body,
                several,
                item,
            },
            anchor: Some(anchor),
        }
    }
}

/// The answer to a Digital Link request.
#[derive(Debug)]
pub enum Resolution {
    /// The lookup answer (tracescan's own page, JSON, not found, malformed).
    Answer(Answer),
    /// To a link; `item`: the request named an item found, whose answers
    /// change with every scan.
    Redirect { href: String, item: bool },
    /// The linkset; `several`: the links asked for fit equally, and the
    /// reader chooses.
    Linkset {
        body: Vec<u8>,
        several: bool,
        item: bool,
    },
    /// The product is known, but no link of the type asked for.
    NoLinkOfType,
}

/// The links of the levels a lookup found, most specific first.
struct Levels<'a> {
    /// Each level's own links.
    own: [&'a [ArchivedLinkEntry]; 3],
    /// The linkset of the most specific level found.
    linkset: LinksRef<'a>,
}

impl<'a> Levels<'a> {
    fn of<D: AsRef<[u8]>>(index: &'a Index<D>, found: &lookup::Found<'a>) -> Levels<'a> {
        let product = index.product_links(&found.product);
        let batch = found.batch.map(|b| index.batch_links(&b));
        let item = found.item.and_then(|i| index.item_links(&i));
        let none: &[ArchivedLinkEntry] = &[];
        Levels {
            own: [
                item.map_or(none, |l| l.own),
                batch.map_or(none, |l| l.own),
                product.own,
            ],
            linkset: item.or(batch).unwrap_or(product),
        }
    }

    fn linkset(&self, anchor: &str, own_href: &str) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.linkset.linkset.len() + 512);
        render::linkset::write(
            &mut body,
            anchor,
            self.linkset.linkset,
            self.linkset.split,
            self.linkset.has_default,
            own_href,
        );
        body
    }

    /// The link a request for `kind` (`None`: the default) goes to.
    /// tracescan's own page is a candidate without its URL (`own`): the
    /// caller writes it when the page is linked to.
    fn choose(&self, kind: Option<&str>, dl: &DigitalLink<'_>) -> Choice<'a> {
        let candidate = |e: &'a ArchivedLinkEntry| Candidate {
            kind: e.kind.as_str(),
            href: e.href.as_str(),
            langs: e.langs.as_str(),
            media: e.media.as_str(),
            default: e.default == 1,
            own: false,
        };
        let mut levels: Vec<Vec<Candidate<'a>>> = self
            .own
            .iter()
            .map(|l| l.iter().map(candidate).collect())
            .collect();
        levels[2].push(Candidate {
            kind: resolver::vocab::TRACEABILITY,
            href: "",
            langs: "vi,en",
            media: "text/html",
            default: !self.linkset.has_default,
            own: true,
        });
        let kind = kind.map(|k| resolver::vocab::name(k).unwrap_or(k));
        resolver::choose::choose(&levels, kind, dl.accept_language, dl.accept)
    }
}

/// The pipeline of one scan: parse its code, resolve it in `index` under
/// `live`, count it, render it as `scan.format` asks.
///
/// Cost: linear in the code's length, one to three hash probes (more under
/// changes in force), one rendering; allocation for the body and warnings.
pub fn answer<D: AsRef<[u8]>>(index: &Index<D>, scan: &Request<'_>, live: &Context<'_>) -> Answer {
    let parsed = match parse(scan) {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let found = lookup::resolve(index, &parsed, live);
    // A compressed Digital Link that names nothing here may be a stamp
    // system's URL whose token happens to decode as one (GS1's encoding is
    // dense: a few random tokens in 100,000 do): the stamp is looked up too.
    if let (None, code::Scan::Gs1(gs1), Code::Raw(raw)) = (&found, &parsed, scan.code)
        && gs1.form == code::Form::CompressedDigitalLink
    {
        let stamp = code::as_stamp(raw);
        if let Some(found) = lookup::resolve(index, &stamp, live) {
            return render(index, scan, &stamp, Some(found), live);
        }
    }
    render(index, scan, &parsed, found, live)
}

/// The code of `scan` parsed, or the answer to a malformed one.
fn parse(scan: &Request<'_>) -> Result<code::Scan, Answer> {
    let parsed = match scan.code {
        Code::Raw(raw) => code::parse(raw),
        Code::Stamp(stamp) => code::stamp(stamp),
    };
    parsed.map_err(|e| Answer::invalid_code(&scan.format, Some(scan.shown), &e.to_string()))
}

/// The end of the pipeline: `found` counted, then rendered as `scan.format`
/// asks.
fn render<D: AsRef<[u8]>>(
    index: &Index<D>,
    scan: &Request<'_>,
    parsed: &code::Scan,
    found: Option<lookup::Found<'_>>,
    live: &Context<'_>,
) -> Answer {
    // Room for the usual answer (2–3 KB of JSON, 5–7 KB of page) without
    // growing the buffer.
    let mut body = Vec::with_capacity(8192);
    let found = found.map(|mut found| {
        lookup::count(&mut found, live);
        found
    });
    let snapshot = index.header().snapshot_id.as_str();
    match (&found, &scan.format) {
        (Some(f), Format::Json) => {
            render::json::found(&mut body, scan.shown, parsed, f, snapshot, live.today)
        }
        (Some(f), Format::Page(ctx)) => {
            render::page::found(&mut body, ctx, scan.shown, f, snapshot)
        }
        (None, Format::Json) => render::json::not_found(&mut body, parsed, live.today),
        (None, Format::Page(ctx)) => render::page::not_found(&mut body, ctx, scan.shown, parsed),
    }
    Answer {
        outcome: if found.is_some() {
            Outcome::Found
        } else {
            Outcome::NotFound
        },
        item: found.as_ref().is_some_and(|f| f.item.is_some()),
        page: matches!(scan.format, Format::Page(_)),
        body,
    }
}

/// [`answer`] from the index alone: no status changes, no scan counting.
/// `today` decides expiry.
pub fn answer_from_index<D: AsRef<[u8]>>(
    index: &Index<D>,
    scan: &Request<'_>,
    today: Date,
) -> Answer {
    let changes = Changes::default();
    let live = Context {
        changes: &changes,
        scans: None,
        client: None,
        warn_above: u64::MAX,
        now: unix_now(),
        today,
    };
    answer(index, scan, &live)
}
