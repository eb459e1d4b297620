//! Index lookups at one million products and one million items, each beside a
//! std `HashMap` holding the same records in RAM (the baseline of every ratio).

use std::collections::HashMap;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rkyv::util::AlignedVec;
use tracescan::code::Gtin;
use tracescan::date::Date;
use tracescan::index::Index;
use tracescan::index::format::{ItemEntry, NO_BATCH, Payload, ProductEntry, Span};
use tracescan::index::write;

const N: u64 = 1_000_000;

fn gtin(n: u64) -> Gtin {
    let body = format!("893{:09}", n * 7 + 13);
    let check = tracescan::code::gs1_check_digit(body.as_bytes());
    Gtin::parse(&format!("{body}{check}")).unwrap()
}

fn product_json(g: Gtin) -> String {
    format!(
        r#"{{"gtin":"{g}","name":"Nước mắm cốt cá cơm {g}","brand":"Cát Hải","category":"Nước mắm","net_content":"500 ml","producer":{{"gln":"8930001000018","name":"Hợp tác xã Nước mắm Cát Hải","province":"Hải Phòng"}},"ocop_stars":4}}"#
    )
}

struct Data {
    index: Index<AlignedVec>,
    products: HashMap<u64, String>,
    items: HashMap<(u64, String), (String, bool)>,
    gtins: Vec<Gtin>,
}

fn data() -> Data {
    let mut payload = Payload {
        snapshot_id: "bench".into(),
        ..Payload::default()
    };
    let mut blob = Vec::new();
    let mut products = HashMap::new();
    let mut items = HashMap::new();
    let mut gtins = Vec::new();
    for n in 0..N {
        let g = gtin(n);
        let json = product_json(g);
        products.insert(g.as_u64(), json.clone());
        let span = Span {
            at: blob.len() as u64,
            len: json.len() as u32,
        };
        blob.extend_from_slice(json.as_bytes());
        payload.products.push(ProductEntry {
            gtin: g.as_u64(),
            status: 0,
            flags: 2,
            recall_notice: String::new(),
            json: span,
        });
        let serial = format!("S{n:07}");
        let stamp = format!("VN-{n:08X}");
        let at = payload.item_bytes.len() as u64;
        payload.item_bytes.extend_from_slice(serial.as_bytes());
        payload.item_bytes.extend_from_slice(stamp.as_bytes());
        payload.items.push(ItemEntry {
            product: n as u32,
            batch: NO_BATCH,
            bytes_at: at,
            serial_len: serial.len() as u8,
            stamp_len: stamp.len() as u8,
            void: 0,
        });
        items.insert((g.as_u64(), serial), (stamp, false));
        gtins.push(g);
    }
    let index = Index::from_bytes(write::to_bytes(payload, &blob, 0).unwrap()).unwrap();
    Data {
        index,
        products,
        items,
        gtins,
    }
}

/// Query keys in a scattered order, so that lookups miss the cache as real
/// traffic over a large index does.
fn scattered(n: usize) -> Vec<usize> {
    let mut x = 0x9E37_79B9u64;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) % N) as usize
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let d = data();
    let order = scattered(1 << 16);
    let misses: Vec<Gtin> = (N..N + (1 << 16)).map(gtin).collect();
    let serials: Vec<String> = order.iter().map(|&i| format!("S{i:07}")).collect();

    let mut g = c.benchmark_group("product_1M");
    let mut i = 0;
    g.bench_function("hashmap_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(d.products.get(&d.gtins[order[i]].as_u64()).map(|j| j.len()))
        })
    });
    g.bench_function("index_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(d.index.product(d.gtins[order[i]]).map(|p| p.json().len()))
        })
    });
    g.bench_function("hashmap_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(d.products.contains_key(&misses[i].as_u64()))
        })
    });
    g.bench_function("index_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(d.index.product(misses[i]).is_some())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("item_1M");
    g.bench_function("hashmap_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let key = (d.gtins[order[i]].as_u64(), serials[i].clone());
            black_box(d.items.get(&key).map(|(s, _)| s.len()))
        })
    });
    g.bench_function("index_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let p = d.index.product(d.gtins[order[i]]).unwrap();
            black_box(d.index.item(&p, &serials[i]).map(|it| it.serial().len()))
        })
    });
    g.finish();

    // The whole lookup without sockets: parse, resolve, render the JSON answer.
    let codes: Vec<String> = order
        .iter()
        .map(|&n| format!("(01){}(21)S{n:07}", d.gtins[n]))
        .collect();
    let today = Date {
        year: 2026,
        month: 11,
        day: 22,
    };
    let mut g = c.benchmark_group("answer_1M");
    g.bench_function("scan_item_code", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(
                tracescan::response::scan(&d.index, &codes[i], today)
                    .body
                    .len(),
            )
        })
    });
    g.finish();
}

/// Lookups in an index file named by `TRACESCAN_BENCH_INDEX` (for example
/// one built by `loadtest/scale.sh`), warm: items sampled from the index
/// itself, and unknown GTINs. Beside a `HashMap` of all its items when there
/// are at most 20 million (more would not fit beside the mapped index).
fn file_lookups(c: &mut Criterion) {
    let Ok(path) = std::env::var("TRACESCAN_BENCH_INDEX") else {
        return;
    };
    let index = Index::open(std::path::Path::new(&path)).unwrap();
    let items = index.header().items as usize;
    let name = format!("file_{}M", items / 1_000_000);
    let keys: Vec<(Gtin, String)> = scattered(1 << 16)
        .into_iter()
        .map(|k| {
            let item = index.item_at(k * 7919 % items);
            (index.parents(&item).0.gtin(), item.serial().to_owned())
        })
        .collect();
    let misses: Vec<Gtin> = (0..1u64 << 16).map(|n| gtin(N * 1000 + n)).collect();
    let mut g = c.benchmark_group(&name);
    let mut i = 0;
    g.bench_function("index_item_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let (gtin, serial) = &keys[i];
            let p = index.product(*gtin).unwrap();
            black_box(index.item(&p, serial).map(|it| it.serial().len()))
        })
    });
    g.bench_function("index_product_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(index.product(misses[i]).is_some())
        })
    });
    if items <= 20_000_000 {
        let mut map: HashMap<(u64, String), (u32, bool)> = HashMap::with_capacity(items);
        for k in 0..items {
            let item = index.item_at(k);
            let product = index.parents(&item).0;
            map.insert(
                (product.gtin().as_u64(), item.serial().to_owned()),
                (product.id(), item.is_void()),
            );
        }
        g.bench_function("hashmap_item_hit", |b| {
            b.iter(|| {
                i = (i + 1) & 0xFFFF;
                let (gtin, serial) = &keys[i];
                black_box(map.get(&(gtin.as_u64(), serial.clone())).map(|v| v.0))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = lookups, file_lookups
}
criterion_main!(benches);
