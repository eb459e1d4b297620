//! The `tracescan` command line: build, publish, serve, lookup, inspect. Only the
//! command line: what each command does is in the library.
//!
//! Typed errors come from the library; here, at the edge, they become messages
//! on standard error and exit code 2 (1 for a lookup that found nothing).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use tracescan::build::{self, Options};
use tracescan::date::{Date, parse_utc_offset};
use tracescan::index::Index;
use tracescan::index::format::Header;
use tracescan::remote::{self, Remote};
use tracescan::serve::{self, LogFormat, index_for};
use tracescan::service::{self, Outcome};

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
        /// Build even when the output's filesystem has less free space than
        /// the index is estimated to need.
        #[arg(long)]
        ignore_free_space: bool,
        /// Then publish the index to this object-store URL, as `tracescan
        /// publish` does.
        #[arg(long, value_name = "URL")]
        publish: Option<String>,
    },
    /// Publish an index to object storage for replicas that follow it
    /// (`serve --follow URL`): the index is verified, uploaded under a name
    /// of its own, and then the pointer `current.json` is replaced. Publishing
    /// an earlier index again sends the replicas back to it.
    Publish {
        /// The index file, as `tracescan build` wrote it.
        index: PathBuf,
        /// s3://bucket/prefix, gs://bucket/prefix, az://container/prefix,
        /// https://host/path, file:///path; credentials and endpoint from
        /// the environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT, …).
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Serve scan lookups over HTTP (the bundled sample by default).
    Serve(Box<serve::Config>),
    /// Look codes up and print the JSON the HTTP API would return.
    Lookup {
        #[arg(long, conflicts_with = "snapshot")]
        index: Option<PathBuf>,
        #[arg(long)]
        snapshot: Option<PathBuf>,
        #[arg(long, default_value = "+07:00", value_parser = parse_utc_offset)]
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
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("tracescan: {e:#}");
            return ExitCode::from(2);
        }
    };
    let format = match &cli.command {
        Command::Serve(config) => config.log_format,
        _ => LogFormat::Auto,
    };
    tracescan::log::init(format);
    match run(cli) {
        Ok(code) => code,
        // A closed pipe (`| head`) ends the output; it is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tracescan: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The command line, with the settings of a `serve --config` file merged in
/// below the flags and the environment.
fn parse() -> Result<Cli> {
    // Help, version and malformed flags end the process here, as clap does.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let Command::Serve(config) = &cli.command else {
        return Ok(cli);
    };
    let Some(file) = &config.config else {
        return Ok(cli);
    };
    let given = matches
        .subcommand_matches("serve")
        .expect("the serve command was given");
    let from_file = serve::file_args(file, given)?;
    if from_file.is_empty() {
        return Ok(cli);
    }
    // `tracescan serve ARGS`: the file's flags go before the command line's.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let at = argv
        .iter()
        .position(|a| a == "serve")
        .map_or(argv.len(), |i| i + 1);
    argv.splice(at..at, from_file);
    Cli::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build {
            snapshot,
            out,
            rejects,
            max_rejects,
            ignore_free_space,
            publish,
        } => {
            let options = Options {
                rejects,
                max_rejects,
                progress: true,
                ignore_free_space,
            };
            // A URL no store takes fails before the build, not after.
            let remote = publish
                .map(|url| Remote::open(&url, remote::REQUEST_TIMEOUT))
                .transpose()?;
            print!("{}", build::build(&snapshot, &out, &options)?);
            if let Some(remote) = remote {
                print!("{}", remote::publish(&out, &remote)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish { index, to } => {
            let remote = Remote::open(&to, remote::REQUEST_TIMEOUT)?;
            print!("{}", remote::publish(&index, &remote)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(config) if config.check_config => {
            println!("{config:#?}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(config) => {
            let running = serve::start(*config)?;
            running.stop_on_signals()?;
            running.wait()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lookup {
            index,
            snapshot,
            utc_offset,
            codes,
        } => {
            let path = index_for(index, snapshot)?;
            let index = Index::open(&path)?;
            let today = Date::today(utc_offset);
            let mut worst = 0;
            let mut out = std::io::stdout().lock();
            for code in codes {
                let answer =
                    service::answer_from_index(&index, &service::Request::json(&code), today);
                // A closed pipe (`| head`) ends the output; it is not an error.
                if writeln!(out, "{}", String::from_utf8_lossy(&answer.body)).is_err() {
                    break;
                }
                worst = worst.max(match answer.outcome {
                    Outcome::Found => 0,
                    Outcome::NotFound => 1,
                    Outcome::InvalidCode => 2,
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
    let header = Header::read(path)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "file:           {}", path.display())?;
    writeln!(out, "format version: {}", header.version)?;
    writeln!(out, "snapshot:       {}", header.snapshot_id)?;
    writeln!(
        out,
        "built at:       {}",
        tracescan::date::rfc3339_utc(header.built_at)
    )?;
    writeln!(out, "products:       {}", header.products)?;
    writeln!(out, "batches:        {}", header.batches)?;
    writeln!(out, "items:          {}", header.items)?;
    writeln!(
        out,
        "payload:        {} bytes (entries and tables)",
        header.payload_len
    )?;
    writeln!(
        out,
        "blob:           {} bytes (pre-rendered JSON)",
        header.blob_len
    )?;
    writeln!(out, "checksum:       xxh3 {:016x}", header.checksum)?;
    let p = header.max_probe;
    writeln!(
        out,
        "longest probe:  products {}, batches {}, items {}, stamps {}",
        p[0], p[1], p[2], p[3]
    )?;
    let started = std::time::Instant::now();
    let index = Index::open(path).map_err(|e| anyhow::anyhow!("verify failed: {e}"))?;
    writeln!(
        out,
        "verify:         ok (checksum, archive, references, record JSON, keys) in {:.2} s",
        started.elapsed().as_secs_f64()
    )?;
    if sample > 0 && header.items > 0 {
        let (hits, misses) = sample_lookups(&index, sample);
        writeln!(
            out,
            "first {sample} item lookups after open (GTIN + serial): {hits}"
        )?;
        writeln!(
            out,
            "first {sample} unknown-GTIN lookups:                    {misses}"
        )?;
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
