//! The snapshot generator: deterministic, valid, and every injected defect is
//! exactly what the build rejects.

mod common;

use std::fs;

use std::path::Path;

use tracescan::build::{self, BuildError, Options};
use tracescan::code::Gtin;
use tracescan::index::Index;
use tracescan::snapshot::SnapshotError;
use tracescan::synth::{self, Compression, Config};

fn small(seed: u64, defect_rate: f64) -> Config {
    Config {
        products: 300,
        batches_per_product: 3,
        items_per_batch: 5,
        seed,
        defect_rate,
        compression: Compression::None,
        ..Config::default()
    }
}

#[test]
fn the_rejects_report_finds_exactly_the_injected_defects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let report = synth::generate(&small(7, 0.03), &dir).unwrap();
    let kinds: std::collections::BTreeSet<_> =
        report.injected.iter().map(|d| (d.file, d.kind)).collect();
    assert_eq!(
        kinds.len(),
        14,
        "every kind of defect of every file should occur at this rate: {kinds:?}"
    );
    let out = tmp.path().join("x.idx");
    let summary = build::build(
        &dir,
        &out,
        &Options {
            max_rejects: 1_000_000,
            ..Options::default()
        },
    )
    .unwrap();
    let mut expected = common::report_lines(&dir.join("injected-defects.jsonl"));
    let mut got = common::report_lines(summary.rejects_report.as_ref().unwrap());
    let order = |f: &str| {
        ["products.jsonl", "batches.jsonl", "items.jsonl"]
            .iter()
            .position(|x| *x == f)
    };
    expected.sort_by_key(|(f, l, _)| (order(f), *l));
    got.sort_by_key(|(f, l, _)| (order(f), *l));
    assert_eq!(got, expected);
    let indexed: Vec<u64> = summary.files.iter().map(|f| f.indexed).collect();
    assert_eq!(
        indexed,
        vec![300, 900, 4500],
        "every genuine record is indexed"
    );
}

#[test]
fn a_wrong_manifest_count_fails_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    synth::generate(
        &Config {
            bad_manifest: true,
            ..small(3, 0.0)
        },
        &dir,
    )
    .unwrap();
    match build::build(&dir, &tmp.path().join("x.idx"), &Options::default()) {
        Err(BuildError::Snapshot(SnapshotError::Truncated { detail, .. })) => {
            assert!(
                detail.contains("the manifest counts 4501 items but 4500 lines were read"),
                "{detail}"
            )
        }
        other => panic!("expected truncation, got {other:?}"),
    }
}

#[test]
fn the_same_seed_writes_the_same_bytes_and_another_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let read = |d: &Path| {
        [
            "products.jsonl.zst",
            "batches.jsonl.zst",
            "items.jsonl.zst",
            "manifest.json",
        ]
        .map(|f| fs::read(d.join(f)).unwrap())
    };
    let cfg = Config {
        products: 200,
        ..Config::default()
    };
    synth::generate(&cfg, &tmp.path().join("a")).unwrap();
    synth::generate(&cfg, &tmp.path().join("b")).unwrap();
    synth::generate(&Config { seed: 2, ..cfg }, &tmp.path().join("c")).unwrap();
    assert_eq!(read(&tmp.path().join("a")), read(&tmp.path().join("b")));
    assert_ne!(
        read(&tmp.path().join("a"))[0],
        read(&tmp.path().join("c"))[0]
    );
}

#[test]
fn generated_records_are_valid_and_realistic() {
    assert_eq!(synth::vocab::PROVINCES.len(), 63);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = small(11, 0.0);
    synth::generate(&cfg, tmp.path()).unwrap();
    let out = tmp.path().join("x.idx");
    let summary = build::build(tmp.path(), &out, &Options::default()).unwrap();
    assert!(summary.rejects_report.is_none());
    let index = Index::open(&out).unwrap();
    let (mut recalled, mut provinces) = (0, std::collections::HashSet::new());
    for n in 0..cfg.products {
        let g = synth::gtin(cfg.seed, n);
        let p = index
            .product(g)
            .unwrap_or_else(|| panic!("product {n} ({g}) missing"));
        let json: serde_json::Value = serde_json::from_str(p.json()).unwrap();
        provinces.insert(json["origin"]["province"].as_str().unwrap().to_owned());
        recalled += usize::from(json["status"] != "active");
        let gln = json["producer"]["gln"].as_str().unwrap();
        assert!(tracescan::snapshot::record::check_gln(gln).is_ok(), "{gln}");
        assert!(g.to_string().starts_with("0893"));
        for b in 0..cfg.batches_per_product {
            let batch = index.batch(&p, &synth::lot(n, b)).unwrap();
            let events =
                serde_json::from_str::<serde_json::Value>(&batch.json()).unwrap()["events"]
                    .as_array()
                    .unwrap()
                    .len();
            assert!((3..=7).contains(&events), "{events} stages");
            for i in 0..cfg.items_per_batch {
                let num = synth::item_number(&cfg, n, b, i);
                let item = index.item(&p, &synth::serial(cfg.seed, num)).unwrap();
                assert_eq!(item.stamp(), Some(synth::stamp(cfg.seed, num).as_str()));
            }
        }
    }
    assert!(
        provinces.len() > 40,
        "products come from many provinces: {}",
        provinces.len()
    );
    assert!(recalled < 20, "recalls are rare: {recalled}");
    assert!(Gtin::parse(&synth::gtin(1, 0).to_string()).is_ok());
}
