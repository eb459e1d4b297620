//! Index lookups at one million products and one million items, each beside a
//! std `HashMap` holding the same records in RAM (the baseline of every ratio).

use std::collections::HashMap;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rkyv::util::AlignedVec;
use tracescan::build::{self, RejectLog};
use tracescan::code::Gtin;
use tracescan::date::Date;
use tracescan::http::{App, Scope, routes};
use tracescan::index::Index;
use tracescan::index::write;
use tracescan::live::Context;
use tracescan::live::overlay::{Change, NewStatus, Overlay, Target};
use tracescan::live::scans::Scans;
use tracescan::render::{Format, Lang, page};
use tracescan::service::{self, Service, Settings};
use tracescan::synth::{self, Compression, Config};

const N: u64 = 1_000_000;

/// A generated snapshot of one million products, each with one batch and one
/// item, built into an in-memory index; the baseline maps hold the same
/// records (product JSON by GTIN, items by GTIN and serial).
struct Data {
    index: Index<AlignedVec>,
    products: HashMap<u64, String>,
    items: HashMap<(u64, String), (String, bool)>,
    gtins: Vec<Gtin>,
    serials: Vec<String>,
    /// The same records in LMDB (an established embedded store), products
    /// keyed by the GTIN's 8 bytes, items by those and the serial.
    lmdb: heed::Env,
    lmdb_products: heed::Database<heed::types::Bytes, heed::types::Bytes>,
    lmdb_items: heed::Database<heed::types::Bytes, heed::types::Bytes>,
    /// The same index as a file, for a server state to map.
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn data() -> Data {
    let cfg = Config {
        products: N,
        batches_per_product: 1,
        items_per_batch: 1,
        compression: Compression::None,
        ..Config::default()
    };
    let dir = tempfile::tempdir().unwrap();
    synth::generate(&cfg, dir.path()).unwrap();
    let mut rejects = RejectLog::new(dir.path().join("rejects.jsonl"));
    let (payload, blob) = build::in_memory(dir.path(), &mut rejects).unwrap();
    let bytes = write::to_bytes(payload, &blob, 0).unwrap();
    let file = dir.path().join("index.tsidx");
    std::fs::write(&file, &bytes[..]).unwrap();
    let index = Index::from_bytes(bytes).unwrap();
    let gtins: Vec<Gtin> = (0..N).map(|n| synth::gtin(cfg.seed, n)).collect();
    let serials: Vec<String> = (0..N)
        .map(|n| synth::serial(cfg.seed, synth::item_number(&cfg, n, 0, 0)))
        .collect();
    let mut products = HashMap::with_capacity(N as usize);
    let mut items = HashMap::with_capacity(N as usize);
    for (g, serial) in gtins.iter().zip(&serials) {
        let p = index.product(*g).unwrap();
        products.insert(g.as_u64(), p.json().to_owned());
        let item = index.item(&p, serial).unwrap();
        items.insert(
            (g.as_u64(), serial.clone()),
            (item.stamp().unwrap().to_owned(), item.is_void()),
        );
    }
    let (lmdb, lmdb_products, lmdb_items) = lmdb_of_index(&index, &file);
    Data {
        index,
        products,
        items,
        gtins,
        serials,
        lmdb,
        lmdb_products,
        lmdb_items,
        file,
        _dir: dir,
    }
}

type LmdbDb = heed::Database<heed::types::Bytes, heed::types::Bytes>;

fn item_key(gtin: u64, serial: &str) -> Vec<u8> {
    let mut key = gtin.to_be_bytes().to_vec();
    key.extend_from_slice(serial.as_bytes());
    key
}

/// LMDB holding the products and items of an index file, kept beside it in
/// `FILE.lmdb/` and reused while it matches the file's record counts: the
/// load of 100 M items takes minutes. Items are sorted by key first and
/// appended, LMDB's bulk load.
fn lmdb_of_index<D: AsRef<[u8]>>(index: &Index<D>, file: &Path) -> (heed::Env, LmdbDb, LmdbDb) {
    let h = index.header();
    let dir = file.with_extension("lmdb");
    let marker = dir.join("loaded");
    let counts = format!("{} products, {} items\n", h.products, h.items);
    let fresh = std::fs::read_to_string(&marker).ok().as_deref() != Some(counts.as_str());
    if fresh {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    // SAFETY: the environment is opened once, by this process only.
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(64 << 30)
            .max_dbs(2)
            .open(&dir)
            .unwrap()
    };
    let mut w = env.write_txn().unwrap();
    let p: LmdbDb = env.create_database(&mut w, Some("products")).unwrap();
    let i: LmdbDb = env.create_database(&mut w, Some("items")).unwrap();
    if fresh {
        let started = std::time::Instant::now();
        let mut products: Vec<(u64, u32)> = (0..h.products as u32)
            .map(|id| (index.product_at(id).gtin().as_u64(), id))
            .collect();
        products.sort_unstable();
        for (gtin, id) in products {
            let json = index.product_at(id).json_bytes();
            p.put_with_flags(&mut w, heed::PutFlags::APPEND, &gtin.to_be_bytes(), json)
                .unwrap();
        }
        // (GTIN, serial padded with zero bytes, item id): serials hold no
        // zero byte, so the padded order is the order of the LMDB keys.
        let mut items: Vec<(u64, [u8; 20], u32)> = (0..h.items as usize)
            .map(|id| {
                let item = index.item_at(id);
                let mut serial = [0u8; 20];
                serial[..item.serial().len()].copy_from_slice(item.serial().as_bytes());
                (index.parents(&item).0.gtin().as_u64(), serial, id as u32)
            })
            .collect();
        items.sort_unstable();
        w.commit().unwrap();
        // Ten million a transaction: a write transaction holds its dirty
        // pages in memory until it commits.
        for chunk in items.chunks(10_000_000) {
            let mut w = env.write_txn().unwrap();
            for &(gtin, _, id) in chunk {
                let item = index.item_at(id as usize);
                let stamp = item.stamp().unwrap_or("").as_bytes();
                let key = item_key(gtin, item.serial());
                i.put_with_flags(&mut w, heed::PutFlags::APPEND, &key, stamp)
                    .unwrap();
            }
            w.commit().unwrap();
        }
        std::fs::write(&marker, &counts).unwrap();
        eprintln!(
            "LMDB loaded in {:.0?} ({})",
            started.elapsed(),
            counts.trim()
        );
    } else {
        w.commit().unwrap();
    }
    (env, p, i)
}

/// A GTIN that is in no generated snapshot (another country's prefix).
fn gtin(n: u64) -> Gtin {
    let body = format!("894{:09}", n % 1_000_000_000);
    let check = tracescan::code::gs1_check_digit(body.as_bytes());
    Gtin::parse(&format!("{body}{check}")).unwrap()
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
    // A file bench was asked for: spare the minute of building this one.
    if std::env::var_os("TRACESCAN_BENCH_INDEX").is_some() {
        return;
    }
    let d = data();
    let order = scattered(1 << 16);
    let misses: Vec<Gtin> = (0..1 << 16).map(gtin).collect();
    let serials: Vec<String> = order.iter().map(|&i| d.serials[i].clone()).collect();

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
            black_box(
                d.index
                    .product(d.gtins[order[i]])
                    .map(|p| p.json_bytes().len()),
            )
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
    // One read transaction for all lookups, as a server would hold one per
    // request batch; a get then costs a B-tree descent.
    let rtxn = d.lmdb.read_txn().unwrap();
    g.bench_function("lmdb_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let key = d.gtins[order[i]].as_u64().to_be_bytes();
            black_box(d.lmdb_products.get(&rtxn, &key).unwrap().map(|j| j.len()))
        })
    });
    g.bench_function("lmdb_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let key = misses[i].as_u64().to_be_bytes();
            black_box(d.lmdb_products.get(&rtxn, &key).unwrap().is_some())
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
    g.bench_function("lmdb_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let key = item_key(d.gtins[order[i]].as_u64(), &serials[i]);
            black_box(d.lmdb_items.get(&rtxn, &key).unwrap().map(|s| s.len()))
        })
    });
    g.finish();

    // The whole lookup without sockets: parse, resolve, render the JSON answer.
    let codes: Vec<String> = order
        .iter()
        .map(|&n| format!("(01){}(21){}", d.gtins[n], d.serials[n]))
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
                service::answer_from_index(&d.index, &service::Request::json(&codes[i]), today)
                    .body
                    .len(),
            )
        })
    });
    // A batch's JSON as an answer writes it: decoded from its coded form
    // (index format 3), against copying the same bytes stored as text (what
    // format 2 did), over batches spread across the index.
    let batches = d.index.header().batches as usize;
    let spread: Vec<u32> = (0..4096).map(|k| (k * batches / 4096) as u32).collect();
    let texts: Vec<Vec<u8>> = spread
        .iter()
        .map(|&b| d.index.batch_at(b).json().into_bytes())
        .collect();
    let mut out = Vec::with_capacity(4096);
    g.bench_function("batch_json_decoded", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFF;
            out.clear();
            d.index.batch_at(spread[i]).write_json(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("batch_json_copied_as_text", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFF;
            out.clear();
            out.extend_from_slice(&texts[i]);
            black_box(out.len())
        })
    });
    // The same answer as a page, from the index alone: with the product and
    // batch sections kept, as the server keeps them per generation, and
    // with every section rendered afresh (what a page costs when its
    // product and batch were not shown since the index was swapped in).
    let sections = page::Sections::new(service::PAGE_SECTIONS_BYTES);
    let page_of = |code: &str, sections: Option<&page::Sections>| {
        let scan = service::Request {
            format: Format::Page(page::Context {
                lang: Lang::Vi,
                utc_offset: 7 * 3600,
                target: code,
                sections,
            }),
            ..service::Request::json(code)
        };
        service::answer_from_index(&d.index, &scan, today)
            .body
            .len()
    };
    g.bench_function("scan_item_code_page_4096_items", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFF;
            black_box(page_of(&codes[i], Some(&sections)))
        })
    });
    g.bench_function("scan_item_code_4096_items", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFF;
            black_box(
                service::answer_from_index(&d.index, &service::Request::json(&codes[i]), today)
                    .body
                    .len(),
            )
        })
    });
    g.bench_function("scan_item_code_page_rendered_afresh", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(page_of(&codes[i], None))
        })
    });
    // The same, as the server does it: scans counted (in memory; flushing is
    // the flusher thread's cost) under an overlay of 1,000 recalled products.
    let state = tempfile::tempdir().unwrap();
    let overlay = Overlay::open(&state.path().join("overlay.log")).unwrap();
    for n in (0..d.gtins.len()).step_by(d.gtins.len() / 1000) {
        let target = Target::Product(d.gtins[n]);
        let change = Change {
            target,
            status: NewStatus::Recalled,
            notice: Some("Recalled for the bench.".into()),
            at: 0,
        };
        overlay.set(change).unwrap();
    }
    let scans = Scans::in_memory();
    // A whole request as the server handles it, without sockets: the router
    // called directly with a parsed request (the index mapped from a file,
    // scans counted, no overlay).
    // Repeated scans are recognised as `serve` does by default (one client
    // here, so after the first round every scan is a repeat); beside it, a
    // service that counts every scan, as the router did before repeats were
    // recognised.
    let app_with = |repeat_window: u64| {
        let service = Service::new(
            Settings::default(),
            Overlay::in_memory(),
            Scans::in_memory().with_repeat_window(repeat_window),
        );
        service.install(Index::open(&d.file).unwrap(), &d.file);
        std::sync::Arc::new(App::new(std::sync::Arc::new(service)))
    };
    let (app, every_scan) = (app_with(3600), app_with(0));
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    let targets: Vec<String> = codes
        .iter()
        .map(|c| format!("/v1/scan?code={}", utf8_percent_encode(c, NON_ALPHANUMERIC)))
        .collect();
    let request = |i: usize| get(&targets[i]);
    // What is timed must be the answer, not a refusal.
    let first = ready(routes::route(&app, Scope::All, peer, request(0)));
    assert_eq!(first.status(), 200, "{first:?}");
    g.bench_function("handle_request", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(ready(routes::route(&app, Scope::All, peer, request(i))).status())
        })
    });
    // The same requests from a phone's browser: the consumer page (SPEC
    // section 5) instead of JSON.
    let page_request = |i: usize| {
        hyper::Request::get(targets[i].as_str())
            .header(hyper::header::HOST, "bench")
            .header(hyper::header::ACCEPT, "text/html")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let first = ready(routes::route(&app, Scope::All, peer, page_request(0)));
    assert_eq!(first.status(), 200, "{first:?}");
    assert_eq!(first.headers()["content-type"], "text/html; charset=utf-8");
    g.bench_function("handle_request_page", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(ready(routes::route(&app, Scope::All, peer, page_request(i))).status())
        })
    });
    // The same items as Digital Link paths through the resolver (SPEC
    // section 6): the path alone (tracescan's own page is the default link:
    // the JSON answer), a redirect to the product page, and the linkset. The
    // first is the baseline of the other two.
    let dl_paths: Vec<String> = order
        .iter()
        .map(|&n| format!("/01/{}/21/{}", d.gtins[n], d.serials[n]))
        .collect();
    for (name, query, status) in [
        ("handle_request_dl_json", "", 200),
        ("handle_request_dl_redirect", "?linkType=gs1:pip", 307),
        ("handle_request_dl_linkset", "?linkType=linkset", 200),
    ] {
        let targets: Vec<String> = dl_paths.iter().map(|p| format!("{p}{query}")).collect();
        let request = |i: usize| get(&targets[i]);
        let first = ready(routes::route(&app, Scope::All, peer, request(0)));
        assert_eq!(first.status(), status, "{name}: {first:?}");
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 0xFFFF;
                black_box(ready(routes::route(&app, Scope::All, peer, request(i))).status())
            })
        });
    }
    g.bench_function("handle_request_page_4096_items", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFF;
            black_box(ready(routes::route(&app, Scope::All, peer, page_request(i))).status())
        })
    });
    g.bench_function("handle_request_4096_items", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFF;
            black_box(ready(routes::route(&app, Scope::All, peer, request(i))).status())
        })
    });
    // A batch of 100 codes in one POST (the same codes, in turn), per
    // code: the request's cost shared by a hundred lookups. The body is read
    // under a deadline, so the route runs on a runtime with a timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let bodies: Vec<bytes::Bytes> = codes
        .chunks(100)
        .map(|chunk| serde_json::to_vec(chunk).unwrap().into())
        .collect();
    let batch_request = |n: usize| {
        hyper::Request::post("/v1/scan")
            .header(hyper::header::HOST, "bench")
            .body(http_body_util::Full::new(bodies[n].clone()))
            .unwrap()
    };
    let first = rt.block_on(routes::route(&app, Scope::All, peer, batch_request(0)));
    assert_eq!(first.status(), 200, "{first:?}");
    g.throughput(criterion::Throughput::Elements(100));
    let mut n = 0;
    g.bench_function("handle_request_batch_of_100_per_code", |b| {
        b.iter(|| {
            n = (n + 1) % bodies.len();
            black_box(
                rt.block_on(routes::route(&app, Scope::All, peer, batch_request(n)))
                    .status(),
            )
        })
    });
    g.throughput(criterion::Throughput::Elements(1));
    g.bench_function("handle_request_counting_every_scan", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(ready(routes::route(&every_scan, Scope::All, peer, request(i))).status())
        })
    });
    g.bench_function("scan_item_code_counted_overlay", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let changes = overlay.load();
            let live = Context {
                changes: &changes,
                scans: Some(&scans),
                client: None,
                warn_above: 20,
                now: 1_795_000_000,
                today,
            };
            black_box(
                service::answer(&d.index, &service::Request::json(&codes[i]), &live)
                    .body
                    .len(),
            )
        })
    });
    g.finish();
}

/// Lookups in an index file named by `TRACESCAN_BENCH_INDEX` (for example
/// one built by `loadtest/scale.sh`), warm: products and items sampled from
/// the index itself, and unknown GTINs. Beside LMDB holding the same products
/// and items, and beside a `HashMap` of all items when there are at most 20
/// million (more would not fit beside the mapped index).
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
    let misses: Vec<Gtin> = (0..1u64 << 16).map(gtin).collect();
    let products = index.header().products;
    let product_keys: Vec<Gtin> = scattered(1 << 16)
        .into_iter()
        .map(|k| index.product_at((k as u64 * 7919 % products) as u32).gtin())
        .collect();
    let (lmdb, lmdb_products, lmdb_items) = lmdb_of_index(&index, Path::new(&path));
    let rtxn = lmdb.read_txn().unwrap();
    let mut g = c.benchmark_group(&name);
    let mut i = 0;
    g.bench_function("index_product_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            black_box(index.product(product_keys[i]).map(|p| p.json_bytes().len()))
        })
    });
    g.bench_function("lmdb_product_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let key = product_keys[i].as_u64().to_be_bytes();
            black_box(lmdb_products.get(&rtxn, &key).unwrap().map(|j| j.len()))
        })
    });
    g.bench_function("lmdb_product_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let key = misses[i].as_u64().to_be_bytes();
            black_box(lmdb_products.get(&rtxn, &key).unwrap().is_some())
        })
    });
    g.bench_function("lmdb_item_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let (gtin, serial) = &keys[i];
            let key = item_key(gtin.as_u64(), serial);
            black_box(lmdb_items.get(&rtxn, &key).unwrap().map(|s| s.len()))
        })
    });
    // What an item answer reads from LMDB: the product and the item, two
    // gets, where the index finds the item through its product.
    g.bench_function("lmdb_product_and_item_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let (gtin, serial) = &keys[i];
            let product = lmdb_products.get(&rtxn, &gtin.as_u64().to_be_bytes());
            let key = item_key(gtin.as_u64(), serial);
            let item = lmdb_items.get(&rtxn, &key).unwrap().map(|s| s.len());
            black_box((product.unwrap().map(|j| j.len()), item))
        })
    });
    g.bench_function("index_item_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let (gtin, serial) = &keys[i];
            let p = index.product(*gtin).unwrap();
            black_box(index.item(&p, serial).map(|it| it.serial().len()))
        })
    });
    // The same, with the item's slot loading while the product is probed
    // (what a scan's lookup does): the two probes' first reads overlap.
    g.bench_function("index_item_hit_slot_prefetched", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let (gtin, serial) = &keys[i];
            index.prefetch_item(*gtin, serial);
            let p = index.product(*gtin).unwrap();
            black_box(index.item(&p, serial).map(|it| it.serial().len()))
        })
    });
    // A whole JSON answer to an item's element string, from the index.
    let codes: Vec<String> = keys
        .iter()
        .map(|(gtin, serial)| format!("(01){gtin}(21){serial}"))
        .collect();
    let today = Date {
        year: 2026,
        month: 11,
        day: 22,
    };
    g.bench_function("answer_item_element_string", |b| {
        b.iter(|| {
            i = (i + 1) & 0xFFFF;
            let scan = service::Request::json(&codes[i]);
            black_box(service::answer_from_index(&index, &scan, today).body.len())
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

/// A GET of `target`, as a client sends it.
fn get(target: &str) -> hyper::Request<http_body_util::Empty<bytes::Bytes>> {
    hyper::Request::get(target)
        .header(hyper::header::HOST, "bench")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap()
}

/// The value of a future that is ready on its first poll, as a lookup's
/// route is: the bench times the router, not an executor.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("a lookup route waited"),
    }
}
