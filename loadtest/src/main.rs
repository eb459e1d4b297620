//! `loadgen`: replays scan traffic drawn from a snapshot against a running
//! server and checks every answer. Loopback only; bounded in time and count.
//!
//! - `loadgen run`: one measured run (open loop at `--rate`, or closed loop).
//! - `loadgen prerender`: writes the answers of a workload as static files,
//!   for a static server to serve side by side.
//! - `loadgen urls`: the distinct requests of a workload as URLs, for
//!   another client to send.
//! - `loadgen plot`: one latency plot from several runs' JSON files.

mod client;
mod report;
mod workload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use client::{Check, Pace, Plan};

#[derive(Parser)]
#[command(name = "loadgen", about = "Scan-traffic load generator for tracescan")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure one run.
    Run(RunArgs),
    /// Fetch each distinct answer of a workload once and store it as a file.
    Prerender {
        #[command(flatten)]
        work: WorkArgs,
        #[arg(long, default_value = "127.0.0.1:8080")]
        target: SocketAddr,
        /// Where the files go: scan/<code as sent> and dl/<path>.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the distinct requests of a workload as URLs, one a line: the
    /// same traffic for another client (oha's `--urls-from-file`).
    Urls {
        #[command(flatten)]
        work: WorkArgs,
        /// The server, on loopback.
        #[arg(long, default_value = "127.0.0.1:8080")]
        target: SocketAddr,
        #[arg(long)]
        out: PathBuf,
    },
    /// Plot several runs' latency curves in one SVG.
    Plot {
        #[arg(long)]
        out: PathBuf,
        runs: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct WorkArgs {
    /// The snapshot the server was built from.
    #[arg(long)]
    snapshot: PathBuf,
    /// Forms and weights: gtin, element, raw, dl, stamp, unknown, malformed,
    /// and the resolver's redirect (`?linkType=gs1:pip`) and linkset
    /// (`?linkType=linkset`) of the Digital Link path.
    #[arg(
        long,
        default_value = "gtin=10,element=15,raw=10,dl=25,stamp=30,unknown=5,malformed=5"
    )]
    mix: String,
    /// Zipf exponent of item popularity.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// At most this many items are read from the snapshot.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Length of the request sequence the connections walk.
    #[arg(long, default_value_t = 1 << 20)]
    sequence: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ask for the consumer page, as a phone's browser does (`Accept:
    /// text/html`), and check each page for what it must show.
    #[arg(long)]
    page: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    work: WorkArgs,
    /// The server, on loopback.
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: SocketAddr,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Requests outstanding per connection (1: no pipelining).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Requests per second over all connections (open loop); without it,
    /// closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of warm-up (answers checked, not timed).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop sending after this many requests.
    #[arg(long, default_value_t = 50_000_000)]
    max_requests: u64,
    /// Codes per request: above 1, batch lookups (`POST /v1/scan`) of that
    /// many codes, each code's answer judged and counted as an answer.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, value_enum, default_value = "snapshot")]
    check: Check,
    /// Send each request as from one of this many clients behind a proxy
    /// (`X-Forwarded-For`, 10.0.0.0/8, drawn per request), as a national
    /// service's scans come from many phones; start the server with
    /// `--trusted-proxy 127.0.0.1`. 0: every request from the connection's
    /// own address. At most 16 777 216, the addresses of 10.0.0.0/8.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1 << 24))]
    clients: u32,
    /// The server's pid: its CPU time per answer is measured.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value = "run")]
    label: String,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => measure(args),
        Command::Prerender { work, target, out } => {
            let workload = draw(&work)?;
            let written = prerender(&workload, target, &out)?;
            println!("{written} answers written under {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Urls { work, target, out } => {
            if !target.ip().is_loopback() {
                bail!("{target}: load tests stay on loopback");
            }
            let workload = draw(&work)?;
            let mut urls = String::new();
            for case in &workload.cases {
                urls.push_str(&format!("http://{target}{}\n", case.target));
            }
            std::fs::write(&out, urls).with_context(|| out.display().to_string())?;
            println!("{} URLs written to {}", workload.cases.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot { out, runs } => {
            let curves = runs
                .iter()
                .map(|p| {
                    let text =
                        std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
                    let v: serde_json::Value =
                        serde_json::from_str(&text).with_context(|| p.display().to_string())?;
                    let label = v["label"].as_str().unwrap_or("run").to_owned();
                    Ok((label, serde_json::from_value(v["curve"].clone())?))
                })
                .collect::<Result<Vec<report::Curve>>>()?;
            report::plot(&curves, &out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn draw(work: &WorkArgs) -> Result<workload::Workload> {
    let mix = workload::parse_mix(&work.mix)?;
    let (items, gtins) = workload::read_snapshot(&work.snapshot, work.keys)?;
    workload::draw(
        &items,
        &gtins,
        &mix,
        work.zipf,
        work.sequence,
        work.seed,
        work.page,
    )
}

fn measure(args: RunArgs) -> Result<ExitCode> {
    if !args.target.ip().is_loopback() {
        bail!("{}: load tests stay on loopback", args.target);
    }
    if args.batch > 1 && args.work.page {
        bail!("--batch and --page: a batch lookup answers JSON only");
    }
    let workload = draw(&args.work)?;
    let resolver_forms = workload
        .cases
        .iter()
        .any(|c| matches!(c.form, workload::Form::Redirect | workload::Form::Linkset));
    if args.batch > 1 && resolver_forms {
        bail!("--batch with the redirect or linkset forms: a batch lookup answers JSON only");
    }
    let plan = Plan {
        addr: args.target,
        host: args.target.to_string(),
        connections: args.connections.max(1),
        depth: args.depth.max(1),
        pace: args.rate.map_or(Pace::Closed, Pace::Rate),
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        max_requests: args.max_requests,
        check: args.check,
        batch: args.batch,
        clients: args.clients,
    };
    let cpu_before = args.server_pid.map(server_cpu_ns).transpose()?;
    let outcome = client::run(&plan, &workload)?;
    let cpu = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(server_cpu_ns(pid)?.saturating_sub(before)),
        _ => None,
    };
    let setup = serde_json::json!({
        "target": args.target.to_string(),
        "snapshot": args.work.snapshot.display().to_string(),
        "mix": args.work.mix,
        "zipf": args.work.zipf,
        "distinct_requests": workload.cases.len(),
        "connections": plan.connections,
        "depth": plan.depth,
        "rate": args.rate,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "check": args.check,
        "page": args.work.page,
        "batch": args.batch,
        "clients": args.clients,
    });
    let summary = report::summarize(&args.label, setup, &outcome, cpu);
    print!("{}", summary.text());
    if let Some(path) = &args.json {
        summary.write_json(path)?;
    }
    if let Some(path) = &args.svg {
        report::plot(&[(summary.label.clone(), summary.curve.clone())], path)?;
    }
    let clean = summary.wrong == 0 && summary.errors.is_empty() && summary.answers > 0;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// CPU time of every thread of process `pid` so far, in nanoseconds
/// (`/proc/PID/task/*/schedstat`: nanosecond resolution, unlike `stat`).
fn server_cpu_ns(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in std::fs::read_dir(&dir).with_context(|| dir.clone())? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// Stores the 200 answers of `work` as files a static server maps requests to:
/// `/v1/scan?code=X` to `scan/X` (X as sent, percent-encoded) and a Digital
/// Link path to `dl/<path>`.
fn prerender(work: &workload::Workload, target: SocketAddr, out: &Path) -> Result<usize> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(target).with_context(|| target.to_string())?;
    conn.set_nodelay(true)?;
    let mut written = 0;
    let mut buf = Vec::new();
    for case in work.cases.iter().filter(|c| c.expect.status == 200) {
        let file = match case.target.strip_prefix("/v1/scan?code=") {
            Some(code) => out.join("scan").join(code),
            None => out.join("dl").join(case.target.trim_start_matches('/')),
        };
        if file.exists() {
            // Written for an earlier workload over the same index.
            continue;
        }
        write!(
            conn,
            "GET {} HTTP/1.1\r\nHost: {target}\r\n\r\n",
            case.target
        )?;
        buf.clear();
        let (status, body) = loop {
            let mut chunk = [0u8; 64 * 1024];
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some((_, status, (from, to))) = client::parse_response(&buf) {
                break (status, &buf[from..to]);
            }
        };
        if status != 200 {
            bail!("{} answered {status}, expected 200", case.target);
        }
        std::fs::create_dir_all(file.parent().expect("a file under out"))?;
        std::fs::write(&file, body).with_context(|| file.display().to_string())?;
        written += 1;
    }
    Ok(written)
}
