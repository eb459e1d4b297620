//! `gen-snapshot`: writes a realistic synthetic snapshot, deterministic for a
//! seed, optionally with defects whose every line is listed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tracescan::synth::{self, Compression, Config};

#[derive(Parser)]
#[command(name = "gen-snapshot", about = "Write a synthetic tracescan snapshot")]
struct Args {
    /// Products to write.
    #[arg(long, default_value_t = 1000)]
    products: u64,
    /// Batches of each product.
    #[arg(long, default_value_t = 3)]
    batches_per_product: u32,
    /// Serialized items of each batch.
    #[arg(long, default_value_t = 10)]
    items_per_batch: u32,
    /// The seed: the same seed and sizes give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The probability of a defect line after each genuine line; the defects
    /// are listed in DIR/injected-defects.jsonl.
    #[arg(long, default_value_t = 0.0)]
    defects: f64,
    /// Write a manifest whose item count is off by one (the build must fail).
    #[arg(long)]
    bad_manifest: bool,
    /// Compression of the JSON Lines files.
    #[arg(long, value_enum, default_value_t = Compress::Zst)]
    compress: Compress,
    /// The directory to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Compress {
    Zst,
    Gz,
    None,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.defects) {
        eprintln!(
            "gen-snapshot: --defects is a probability from 0 to 1, found {}",
            args.defects
        );
        return ExitCode::from(2);
    }
    let cfg = Config {
        products: args.products,
        batches_per_product: args.batches_per_product,
        items_per_batch: args.items_per_batch,
        seed: args.seed,
        defect_rate: args.defects,
        bad_manifest: args.bad_manifest,
        compression: match args.compress {
            Compress::Zst => Compression::Zstd,
            Compress::Gz => Compression::Gzip,
            Compress::None => Compression::None,
        },
        ..Config::default()
    };
    match synth::generate(&cfg, &args.out) {
        Ok(report) => {
            let lines: u64 = report.lines.iter().sum();
            let secs = report.elapsed.as_secs_f64();
            println!(
                "{}: {} products, {} batches, {} items ({} lines, {} injected defects) in {:.2} s ({:.0} lines/s)",
                args.out.display(),
                report.lines[0],
                report.lines[1],
                report.lines[2],
                lines,
                report.injected.len(),
                secs,
                lines as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-snapshot: {}: {e}", args.out.display());
            ExitCode::from(2)
        }
    }
}
