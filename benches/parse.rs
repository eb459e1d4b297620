//! Parsing each scan-code form, the plain GTIN the baseline the other forms
//! are read against; and what the build does with each snapshot line, a bare
//! JSON syntax pass over the same lines the baseline.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::de::IgnoredAny;
use tracescan::code;
use tracescan::index::coded::{self, Encoder, Keys};
use tracescan::snapshot::record;
use tracescan::synth::{self, Compression, Config};

fn forms(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let cases = [
        ("gtin13", "8930002000017".to_owned()),
        (
            "element_human",
            "(01)08930002000017(17)281231(10)L2611(21)S001001".to_owned(),
        ),
        (
            "element_raw_gs",
            concat!(
                "]d2",
                "0108930002000017",
                "17281231",
                "10L2611",
                "\u{1d}",
                "21S001001"
            )
            .to_owned(),
        ),
        (
            "digital_link",
            "https://id.example.vn/01/08930002000017/10/L2611/21/S001001?17=281231".to_owned(),
        ),
        ("stamp", "VN-0011-1010".to_owned()),
        (
            "stamp_url",
            "https://check.example.vn/s/VN-0011-1010".to_owned(),
        ),
        (
            "invalid_check_digit",
            "(01)08930002000018(10)L2611".to_owned(),
        ),
    ];
    for (name, text) in &cases {
        assert!(
            name.starts_with("invalid") != code::parse(text).is_ok(),
            "{name}: {:?}",
            code::parse(text)
        );
        g.bench_function(*name, |b| b.iter(|| code::parse(black_box(text))));
    }
    g.finish();
}

/// The lines of a generated snapshot's `file`.
fn lines(dir: &std::path::Path, file: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read(dir.join(file)).unwrap();
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Per line, cycling over a generated snapshot's lines (1,000 products x 10
/// batches x 10 items): a syntax pass (`IgnoredAny`), the record's read and
/// checks, and for batches the coding worked out on a parser thread
/// (`prepare`) and the ids given on the collecting one (`add`).
fn snapshot_lines(c: &mut Criterion) {
    let cfg = Config {
        products: 1000,
        batches_per_product: 10,
        items_per_batch: 10,
        compression: Compression::None,
        ..Config::default()
    };
    let dir = tempfile::tempdir().unwrap();
    synth::generate(&cfg, dir.path()).unwrap();
    let mut g = c.benchmark_group("snapshot_line");
    for (kind, file) in [
        ("product", "products.jsonl"),
        ("batch", "batches.jsonl"),
        ("item", "items.jsonl"),
    ] {
        let lines = lines(dir.path(), file);
        let mut at = 0;
        g.bench_function(format!("{kind}_json_syntax"), |b| {
            b.iter(|| {
                at = (at + 1) % lines.len();
                serde_json::from_slice::<IgnoredAny>(black_box(&lines[at])).unwrap()
            })
        });
        g.bench_function(format!("{kind}_read"), |b| {
            b.iter(|| {
                at = (at + 1) % lines.len();
                let line = black_box(&lines[at]);
                match kind {
                    "product" => assert!(record::product(line).is_ok()),
                    "batch" => assert!(record::batch(line).is_ok()),
                    _ => assert!(record::item(line).is_ok()),
                }
            })
        });
    }
    let batches: Vec<record::Batch> = lines(dir.path(), "batches.jsonl")
        .iter()
        .map(|l| record::batch(l).unwrap())
        .collect();
    let prepared: Vec<coded::Prepared> = batches
        .iter()
        .map(|b| coded::prepare(b.json.as_bytes(), keys(b)))
        .collect();
    let mut at = 0;
    g.bench_function("batch_coding_prepare", |b| {
        b.iter(|| {
            at = (at + 1) % batches.len();
            let batch = &batches[at];
            coded::prepare(black_box(batch.json.as_bytes()), keys(batch))
        })
    });
    // A dictionary holding the snapshot's fragments already, as it does
    // after the first batches of a build.
    let mut encoder = Encoder::default();
    let mut out = Vec::new();
    for (b, p) in batches.iter().zip(&prepared) {
        encoder.add(b.json.as_bytes(), p, &mut out);
    }
    g.bench_function("batch_coding_add", |b| {
        b.iter(|| {
            at = (at + 1) % batches.len();
            out.clear();
            encoder.add(
                batches[at].json.as_bytes(),
                black_box(&prepared[at]),
                &mut out,
            );
        })
    });
    g.finish();
}

/// The parts of a batch's key its record repeats.
fn keys(b: &record::Batch) -> Keys<'_> {
    Keys {
        gtin: b.gtin.digits(),
        lot: b.lot.as_bytes(),
    }
}

criterion_group!(benches, forms, snapshot_lines);
criterion_main!(benches);
