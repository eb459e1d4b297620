//! The `tracescan` command: build, serve, lookup, inspect.
//!
//! Typed errors come from the library; here, at the edge, they become messages
//! on standard error and exit code 2 (1 for a lookup that found nothing).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use tracescan::build::{self, Options};
use tracescan::date::Date;
use tracescan::index::Index;
use tracescan::live::overlay::Overlay;
use tracescan::live::scans::Scans;
use tracescan::server::{self, State};
use tracescan::swap::{Outcome, Reloader};

/// The scan log is compacted once it has this many lines and more than twice
/// as many as there are counted items.
const SCAN_COMPACT_MIN_LINES: u64 = 100_000;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tracescan",
    version,
    about = "Scan-lookup engine for product traceability"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an index from a snapshot export directory.
    Build {
        /// The snapshot directory (products.jsonl, batches.jsonl, items.jsonl, manifest.json).
        snapshot: PathBuf,
        /// Where to write the index.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the rejects report (default: <out>.rejects.jsonl).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Fail the build when more lines than this are rejected.
        #[arg(long, default_value_t = 0)]
        max_rejects: u64,
    },
    /// Serve scan lookups over HTTP (the bundled sample by default).
    Serve {
        /// An index file built by `tracescan build`.
        #[arg(long, conflicts_with = "snapshot")]
        index: Option<PathBuf>,
        /// A snapshot directory to build (if needed) and serve.
        #[arg(long, conflicts_with = "index_dir")]
        snapshot: Option<PathBuf>,
        /// A directory of published indexes: the newest is served, and a newer
        /// one is swapped in when it appears (checked every --poll-ms, and on
        /// SIGHUP).
        #[arg(long, conflicts_with = "index")]
        index_dir: Option<PathBuf>,
        /// With --index-dir: how many published indexes to keep on disk.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// With --index-dir: how often to look for a new index, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        poll_ms: u64,
        /// A file holding the admin API's bearer token (at least 16
        /// characters); TRACESCAN_ADMIN_TOKEN works too. Without either, the
        /// admin API is off.
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
        /// Serve the admin API on this address only, not on --listen.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Where status changes (overlay.log) and scan counts (scans.log) are
        /// kept (default: DIR/state with --index-dir). Without one, scan
        /// counts are kept in memory only and status changes are refused.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// How often scan counts are written to the scan log and synced, in
        /// milliseconds: the most a crash can lose.
        #[arg(long, default_value_t = 1000)]
        scan_flush_ms: u64,
        /// Warn `scanned_many_times` when an item has been scanned more often.
        #[arg(long, default_value_t = server::DEFAULT_WARN_ABOVE)]
        scan_warn_above: u64,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Worker threads, each with its own listener (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// UTC offset of the service's calendar, for expiry dates.
        #[arg(long, default_value = "+07:00", value_parser = parse_offset)]
        utc_offset: i64,
    },
    /// Look codes up and print the JSON the HTTP API would return.
    Lookup {
        #[arg(long, conflicts_with = "snapshot")]
        index: Option<PathBuf>,
        #[arg(long)]
        snapshot: Option<PathBuf>,
        #[arg(long, default_value = "+07:00", value_parser = parse_offset)]
        utc_offset: i64,
        /// The raw codes, as a scanner produced them.
        #[arg(required = true)]
        codes: Vec<String>,
    },
    /// Print an index's header and verify its checksum.
    Inspect {
        index: PathBuf,
        /// After verifying, time this many lookups of random items and of
        /// unknown GTINs (the first lookups after an open).
        #[arg(long, default_value_t = 0)]
        sample: usize,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tracescan: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build {
            snapshot,
            out,
            rejects,
            max_rejects,
        } => {
            let options = Options {
                rejects,
                max_rejects,
                progress: true,
            };
            let summary = build::build(&snapshot, &out, &options)?;
            print_summary(&summary);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            index,
            snapshot,
            index_dir,
            keep,
            poll_ms,
            admin_token_file,
            admin_listen,
            state_dir,
            scan_flush_ms,
            scan_warn_above,
            listen,
            threads,
            utc_offset,
        } => {
            let live = Live {
                dir: state_dir.or_else(|| index_dir.as_ref().map(|d| d.join("state"))),
                flush: std::time::Duration::from_millis(scan_flush_ms.max(10)),
                warn_above: scan_warn_above,
            };
            let source = match index_dir {
                Some(dir) => Source::Dir {
                    dir,
                    keep,
                    poll: std::time::Duration::from_millis(poll_ms.max(10)),
                },
                None => Source::File { index, snapshot },
            };
            let admin = Admin {
                token: admin_token(admin_token_file)?,
                listen: admin_listen,
            };
            serve(source, listen, admin, live, threads, utc_offset)
        }
        Command::Lookup {
            index,
            snapshot,
            utc_offset,
            codes,
        } => {
            let (path, _) = resolve_index(index, snapshot)?;
            let index = Index::open(&path)?;
            let today = Date::today(utc_offset);
            let mut worst = 0;
            let mut out = std::io::stdout().lock();
            for code in codes {
                let answer = tracescan::response::scan(&index, &code, today);
                // A closed pipe (`| head`) ends the output; it is not an error.
                if writeln!(out, "{}", String::from_utf8_lossy(&answer.body)).is_err() {
                    break;
                }
                worst = worst.max(match answer.status {
                    200 => 0,
                    404 => 1,
                    _ => 2,
                });
            }
            Ok(ExitCode::from(worst))
        }
        Command::Inspect { index, sample } => inspect(&index, sample),
    }
}

/// Prints the header (read alone, without loading the file), then opens and
/// verifies the index, timing it; with `sample`, times that many lookups of
/// random items and of unknown GTINs, the first after the open.
fn inspect(path: &Path, sample: usize) -> Result<ExitCode> {
    use tracescan::index::format::{HEADER_LEN, Header};
    let mut head = Vec::with_capacity(HEADER_LEN);
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, HEADER_LEN as u64), &mut head)?;
    let header = Header::decode(&head).with_context(|| path.display().to_string())?;
    println!("file:           {}", path.display());
    println!("format version: {}", header.version);
    println!("snapshot:       {}", header.snapshot_id);
    println!(
        "built at:       {}",
        tracescan::date::rfc3339_utc(header.built_at)
    );
    println!("products:       {}", header.products);
    println!("batches:        {}", header.batches);
    println!("items:          {}", header.items);
    println!(
        "payload:        {} bytes (entries and tables)",
        header.payload_len
    );
    println!(
        "blob:           {} bytes (pre-rendered JSON)",
        header.blob_len
    );
    println!("checksum:       xxh3 {:016x}", header.checksum);
    let p = header.max_probe;
    println!(
        "longest probe:  products {}, batches {}, items {}, stamps {}",
        p[0], p[1], p[2], p[3]
    );
    let started = std::time::Instant::now();
    let index = Index::open(path).map_err(|e| anyhow::anyhow!("verify failed: {e}"))?;
    println!(
        "verify:         ok (checksum, archive and references) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    if sample > 0 && header.items > 0 {
        let (hits, misses) = sample_lookups(&index, sample);
        println!("first {sample} item lookups after open (GTIN + serial): {hits}");
        println!("first {sample} unknown-GTIN lookups:                    {misses}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Times `n` lookups of random items and `n` of unknown GTINs.
fn sample_lookups(index: &Index, n: usize) -> (String, String) {
    use std::time::Instant;
    let items = index.header().items as usize;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut hits = Vec::with_capacity(n);
    for _ in 0..n {
        let item = index.item_at((next() % items as u64) as usize);
        let (product, _) = index.parents(&item);
        let (gtin, serial) = (product.gtin(), item.serial().to_owned());
        let t = Instant::now();
        let found = index
            .product(gtin)
            .and_then(|p| index.item(&p, &serial))
            .is_some();
        hits.push(t.elapsed());
        assert!(found, "a sampled item must be found");
    }
    let mut misses = Vec::with_capacity(n);
    for _ in 0..n {
        // 894 is another country's prefix: never in a Vietnamese snapshot.
        let digits = format!("894{:09}", next() % 1_000_000_000);
        let gtin = tracescan::code::Gtin::parse(&format!(
            "{digits}{}",
            tracescan::code::gs1_check_digit(digits.as_bytes())
        ))
        .expect("valid by construction");
        let t = Instant::now();
        std::hint::black_box(index.product(gtin).is_some());
        misses.push(t.elapsed());
    }
    (percentiles(&mut hits), percentiles(&mut misses))
}

fn percentiles(v: &mut [std::time::Duration]) -> String {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_nanos();
    format!(
        "p50 {} ns, p90 {} ns, p99 {} ns, max {} ns",
        at(0.5),
        at(0.9),
        at(0.99),
        v[v.len() - 1].as_nanos()
    )
}

fn print_summary(s: &build::Summary) {
    for f in &s.files {
        let name = f.path.as_ref().map_or_else(
            || format!("{} (absent)", f.kind.file_name()),
            |p| p.display().to_string(),
        );
        let secs = f.elapsed.as_secs_f64();
        println!(
            "{name}: read {} = indexed {} + rejected {} ({secs:.2} s)",
            f.read, f.indexed, f.rejected
        );
    }
    let secs = s.elapsed.as_secs_f64();
    println!(
        "index {} ({} bytes): {} records in {secs:.2} s ({:.0} records/s; tables and writing {:.2} s)",
        s.written.path.display(),
        s.written.bytes,
        s.records(),
        s.records() as f64 / secs.max(1e-9),
        s.write_elapsed.as_secs_f64()
    );
    if let Some(r) = &s.rejects_report {
        println!("rejects: {}", r.display());
    }
}

/// The index to use: the one given, or one built from a snapshot (the bundled
/// sample when neither is given). Returns its path and whether it was built.
fn resolve_index(index: Option<PathBuf>, snapshot: Option<PathBuf>) -> Result<(PathBuf, bool)> {
    if let Some(index) = index {
        return Ok((index, false));
    }
    let dir = match snapshot {
        Some(dir) => dir,
        None => sample_dir()?,
    };
    let out = cached_index_path(&dir)?;
    if is_fresh(&out, &dir)? {
        return Ok((out, false));
    }
    tracing::info!("building {} from {}", out.display(), dir.display());
    let summary = build::build(
        &dir,
        &out,
        &Options {
            progress: true,
            ..Options::default()
        },
    )?;
    print_summary(&summary);
    Ok((out, true))
}

/// `data/sample` under the working directory, or under the source tree.
fn sample_dir() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from("data/sample"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("products.jsonl").exists())
        .context("no --index or --snapshot given, and the bundled sample (data/sample) is not here")
}

/// Where an index built from `dir` is kept: the system temporary directory,
/// named after the snapshot's absolute path.
fn cached_index_path(dir: &Path) -> Result<PathBuf> {
    let abs = dir
        .canonicalize()
        .with_context(|| format!("snapshot directory {}", dir.display()))?;
    let hash = xxhash_rust::xxh3::xxh3_64(abs.as_os_str().as_encoded_bytes());
    Ok(std::env::temp_dir().join(format!("tracescan-{hash:016x}.idx")))
}

/// Whether `index` exists, is of this version's format, and is newer than
/// every file of the snapshot.
fn is_fresh(index: &Path, dir: &Path) -> Result<bool> {
    let Ok(built) = index.metadata().and_then(|m| m.modified()) else {
        return Ok(false);
    };
    // An index left by another version of tracescan is rebuilt, not refused.
    let mut head = [0u8; tracescan::index::format::HEADER_LEN];
    let readable =
        std::fs::File::open(index).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    if readable.is_err() || tracescan::index::format::Header::decode(&head).is_err() {
        return Ok(false);
    }
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        if entry?.metadata()?.modified()? > built {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Where `serve` takes its index from.
enum Source {
    /// One index file, given or built from a snapshot.
    File {
        index: Option<PathBuf>,
        snapshot: Option<PathBuf>,
    },
    /// The newest index of a directory, swapped as new ones are published.
    Dir {
        dir: PathBuf,
        keep: usize,
        poll: std::time::Duration,
    },
}

/// The admin API's settings.
struct Admin {
    token: Option<String>,
    listen: Option<SocketAddr>,
}

/// Where and how status changes and scan counts are kept.
struct Live {
    dir: Option<PathBuf>,
    flush: std::time::Duration,
    warn_above: u64,
}

/// The admin token from its file, or from the environment. The token itself
/// is never printed.
fn admin_token(file: Option<PathBuf>) -> Result<Option<String>> {
    let token = match file {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .with_context(|| format!("admin token file {}", path.display()))?,
        ),
        None => std::env::var("TRACESCAN_ADMIN_TOKEN").ok(),
    };
    let Some(token) = token.map(|t| t.trim().to_owned()) else {
        return Ok(None);
    };
    if token.len() < 16 || token.chars().any(|c| !c.is_ascii_graphic()) {
        anyhow::bail!("the admin token must be at least 16 visible ASCII characters");
    }
    Ok(Some(token))
}

fn serve(
    source: Source,
    listen: SocketAddr,
    admin: Admin,
    live: Live,
    threads: Option<usize>,
    utc_offset: i64,
) -> Result<ExitCode> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut state = State::new(utc_offset);
    match &live.dir {
        Some(dir) => {
            let overlay =
                Overlay::open(&dir.join("overlay.log")).context("replaying the status overlay")?;
            let scans = Scans::open(&dir.join("scans.log"), SCAN_COMPACT_MIN_LINES)
                .context("replaying the scan counts")?;
            state = state.with_live(overlay, scans, live.warn_above);
        }
        None => {
            tracing::warn!(
                "no --state-dir: scan counts are kept in memory only, and status changes are refused"
            );
            state = state.with_live(Overlay::in_memory(), Scans::in_memory(), live.warn_above);
        }
    }
    if let Some(token) = &admin.token {
        state = state.with_admin_token(token);
    }
    let state = Arc::new(state);
    let listeners =
        server::bind(listen, threads).with_context(|| format!("listening on {listen}"))?;
    let addr = listeners[0].local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (reload, reloads) = std::sync::mpsc::channel::<()>();
    // Signals are watched on a thread of their own: SIGHUP asks for a reload,
    // SIGTERM and ctrl-c for a graceful stop. The workers only see the flag.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = term.recv() => break,
                    _ = hup.recv() => { let _ = reload.send(()); }
                }
            }
        });
        tracing::info!("shutting down: finishing open requests");
        let _ = stop.send(true);
    });
    let announce = move || {
        println!("tracescan listening on http://{addr} with {threads} worker thread(s)");
        println!("try: curl 'http://{addr}/v1/scan?code=(01)08930002000017(10)L2611(21)S001001'");
    };
    // With --admin-listen, the admin API has listeners of its own.
    let public_routes = if admin.listen.is_some() {
        server::Routes::Public
    } else {
        server::Routes::All
    };
    let admin_server = match admin.listen {
        Some(addr) => {
            let listeners =
                server::bind(addr, 1).with_context(|| format!("listening on {addr} (admin)"))?;
            let (admin_state, admin_stopped) = (state.clone(), stopped.clone());
            let config = server::Config {
                routes: server::Routes::Admin,
                ..server::Config::default()
            };
            Some(std::thread::spawn(move || {
                server::run(listeners, admin_state, config, admin_stopped)
            }))
        }
        None => None,
    };
    let server_state = state.clone();
    let config = server::Config {
        routes: public_routes,
        ..server::Config::default()
    };
    let server = std::thread::spawn(move || server::run(listeners, server_state, config, stopped));
    // Without a state directory there is no log to flush to.
    if live.dir.is_some() {
        spawn_flushers(&state, live.flush)?;
    }
    // The listeners answer /healthz (and 503 on /readyz) while the index loads.
    match source {
        Source::File { index, snapshot } => {
            // A file that cannot be served ends the process with its error.
            let (path, _) = resolve_index(index, snapshot)?;
            state.install(Index::open(&path)?, &path);
            tracing::info!("serving index {}", path.display());
            announce();
        }
        Source::Dir { dir, keep, poll } => {
            let reloader = Arc::new(std::sync::Mutex::new(Reloader::new(
                state.clone(),
                &dir,
                keep,
            )));
            let _ = state.control.set(reloader.clone());
            std::thread::spawn(move || {
                let mut announced = false;
                loop {
                    let checked = reloader
                        .lock()
                        .map_err(|_| std::io::Error::other("the reloader's lock is poisoned"))
                        .and_then(|mut r| r.check());
                    match checked {
                        Ok(Outcome::Swapped { .. }) if !announced => {
                            announced = true;
                            announce();
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("reading {}: {e}", dir.display()),
                    }
                    // Woken by SIGHUP, or after the poll interval.
                    if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) =
                        reloads.recv_timeout(poll)
                    {
                        std::thread::sleep(poll);
                    }
                }
            });
        }
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))??;
    // A graceful stop loses no scan count.
    state
        .scans
        .flush()
        .context("flushing scan counts at exit")?;
    if let Some(admin_server) = admin_server {
        admin_server
            .join()
            .map_err(|_| anyhow::anyhow!("the admin server panicked"))??;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_offset(s: &str) -> std::result::Result<i64, String> {
    let bad = || format!("expected an offset such as +07:00, found {s:?}");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Starts the threads that write scan counts to the scan log.
///
/// The flusher proper runs every `interval` in the idle scheduling class
/// (`SCHED_IDLE`): it then runs only when no answering thread wants its core,
/// and a worker that wakes takes the core back at once. At normal priority, a
/// flush of a second's counts (a few milliseconds of work) preempted the
/// worker it shared a core with for whole scheduler slices, and every answer
/// queued behind waited. But on a saturated core the idle class may get no
/// time at all, and counts would go unflushed without bound; so a second
/// thread at normal priority wakes every `interval` too and flushes only when
/// the last flush is more than two intervals old. The loss window is thus
/// about two intervals and a flush under saturation; a flush the idle thread
/// had begun when the core filled up still finishes at the idle class's share,
/// with the log's lock held, and can stretch it by seconds.
fn spawn_flushers(state: &Arc<State>, interval: std::time::Duration) -> Result<()> {
    let flush = |state: &State| {
        if let Err(e) = state.scans.flush() {
            // Counts stay in memory and are written at the next flush.
            tracing::error!("flushing scan counts: {e}");
        }
    };
    let idle = state.clone();
    std::thread::Builder::new()
        .name("scan-flush".into())
        .spawn(move || {
            idle_class();
            loop {
                std::thread::sleep(interval);
                flush(&idle);
            }
        })?;
    let late = state.clone();
    std::thread::Builder::new()
        .name("scan-flush-late".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                if late.scans.since_flush() > 2 * interval {
                    flush(&late);
                }
            }
        })?;
    Ok(())
}

/// Puts the calling thread in the idle scheduling class; on failure it keeps
/// its priority, and says so.
fn idle_class() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        policy,
    ) {
        tracing::warn!("scan flusher keeps normal priority: {e:?}");
    }
}
