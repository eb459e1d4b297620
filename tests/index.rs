//! The index file: corrupted or foreign bytes are refused with the right
//! error, never a panic; lookups agree with a plain `HashMap` oracle.

mod common;

use std::collections::HashMap;
use std::fs;

use common::{data, index_bytes};
use proptest::prelude::*;
use rkyv::util::AlignedVec;
use tracescan::code::Gtin;
use tracescan::index::coded::{HOLE, Part, check};
use tracescan::index::format::{FormatError, HEADER_LEN, Header, Verified};
use tracescan::index::{Index, Kept, Residency};

fn aligned(bytes: &[u8]) -> AlignedVec {
    let mut v = AlignedVec::with_capacity(bytes.len());
    v.extend_from_slice(bytes);
    v
}

#[test]
fn truncated_files_are_refused() {
    let good = index_bytes(&data("sample"));
    for len in [0, 1, 8, HEADER_LEN - 1] {
        let err = Index::from_bytes(aligned(&good[..len]))
            .err()
            .expect("must fail");
        assert_eq!(err, FormatError::TooShort { len });
    }
    for len in [HEADER_LEN, HEADER_LEN + 1, good.len() / 2, good.len() - 1] {
        match Index::from_bytes(aligned(&good[..len]))
            .err()
            .expect("must fail")
        {
            FormatError::Truncated { expected, got } => {
                assert_eq!(
                    (expected, got),
                    ((good.len() - HEADER_LEN) as u64, (len - HEADER_LEN) as u64)
                )
            }
            other => panic!("length {len}: expected Truncated, got {other}"),
        }
    }
}

#[test]
fn every_flipped_bit_is_caught() {
    let good = index_bytes(&data("sample"));
    assert!(Index::from_bytes(aligned(&good)).is_ok());
    // Every bit of the header, and a spread of bits over the payload.
    let positions = (0..HEADER_LEN * 8).chain((HEADER_LEN * 8..good.len() * 8).step_by(61));
    for bit in positions {
        let mut bad = aligned(&good);
        bad[bit / 8] ^= 1 << (bit % 8);
        let err = Index::from_bytes(bad)
            .err()
            .unwrap_or_else(|| panic!("flipping bit {bit} went unnoticed"));
        let expected_kind = match bit / 8 {
            0..8 => matches!(err, FormatError::Magic),
            8..12 => matches!(err, FormatError::Version { .. }),
            12..HEADER_LEN => matches!(err, FormatError::Header(_)),
            _ => matches!(err, FormatError::ChecksumMismatch { .. }),
        };
        assert!(expected_kind, "bit {bit}: unexpected error {err}");
    }
}

#[test]
fn another_version_says_to_rebuild() {
    let good = index_bytes(&data("sample"));
    let mut header = Header::decode(&good).unwrap();
    header.version = 4;
    let mut bytes = aligned(&good);
    bytes[..HEADER_LEN].copy_from_slice(&header.encode());
    let err = Index::from_bytes(bytes).err().unwrap();
    assert_eq!(
        err,
        FormatError::Version {
            expected: 3,
            got: 4
        }
    );
    assert!(err.to_string().contains("rebuild the index"));
}

#[test]
fn foreign_files_are_refused() {
    let text = aligned(&[b'{'; 4096]);
    assert_eq!(Index::from_bytes(text).err(), Some(FormatError::Magic));
}

/// A payload that passes the checksum (recomputed by a forger) but whose
/// references point outside: the verification at open must refuse it.
#[test]
fn forged_payloads_with_a_good_checksum_are_refused() {
    let good = index_bytes(&data("sample"));
    let header = Header::decode(&good).unwrap();
    let mut refused = 0;
    for offset in (HEADER_LEN..good.len()).step_by(17) {
        let mut bytes = aligned(&good);
        bytes[offset] = bytes[offset].wrapping_add(0x41);
        let mut forged = header.clone();
        forged.checksum = xxhash_rust::xxh3::xxh3_64(&bytes[HEADER_LEN..]);
        bytes[..HEADER_LEN].copy_from_slice(&forged.encode());
        // Whatever the change, opening must not panic; and if it opens,
        // every lookup must still stay in bounds.
        match Index::from_bytes(bytes) {
            Err(FormatError::Payload(_)) => refused += 1,
            Err(other) => panic!("offset {offset}: unexpected {other}"),
            Ok(index) => {
                for line in fs::read_to_string(data("sample/items.jsonl"))
                    .unwrap()
                    .lines()
                {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let gtin = Gtin::parse(v["gtin"].as_str().unwrap()).unwrap();
                    if let Some(p) = index.product(gtin) {
                        let _ = index.item(&p, v["serial"].as_str().unwrap());
                    }
                    if let Some(stamp) = v["stamp"].as_str() {
                        let _ = index.item_by_stamp(stamp);
                    }
                }
            }
        }
    }
    assert!(refused > 50, "only {refused} forged payloads were refused");
}

/// A product key that is not a GTIN, with every checksum recomputed: refused
/// at open, so that reading product keys back as GTINs can never fail.
#[test]
fn a_forged_product_gtin_is_refused() {
    let good = index_bytes(&data("sample"));
    let header = Header::decode(&good).unwrap();
    let stored = 8_930_002_000_017u64.to_le_bytes();
    let payload = HEADER_LEN..HEADER_LEN + header.payload_len as usize;
    let at = good[payload.clone()]
        .windows(8)
        .position(|w| w == stored)
        .expect("the GTIN is stored")
        + HEADER_LEN;
    let opened = forged(&good, |bytes, _| {
        bytes[at..at + 8].copy_from_slice(&8_930_002_000_018u64.to_le_bytes())
    });
    match opened.err() {
        Some(FormatError::Payload(detail)) => {
            assert!(detail.contains("is not a valid GTIN"), "{detail}")
        }
        other => panic!("expected a payload error, got {other:?}"),
    }
}

/// `good` with one field forged by `forge`, every checksum recomputed as a
/// forger would, opened.
fn forged(
    good: &[u8],
    forge: impl FnOnce(&mut [u8], &mut Header),
) -> Result<Index<AlignedVec>, FormatError> {
    let mut bytes = aligned(good);
    let mut header = Header::decode(good).unwrap();
    forge(&mut bytes, &mut header);
    header.checksum = xxhash_rust::xxh3::xxh3_64(&bytes[HEADER_LEN..]);
    bytes[..HEADER_LEN].copy_from_slice(&header.encode());
    Index::from_bytes(bytes)
}

/// Fields a forger can set behind recomputed checksums: each is refused at
/// open with what is wrong, none passes to make a lookup panic or miss.
#[test]
fn forged_fields_behind_recomputed_checksums_are_refused() {
    let good = Verified::new(aligned(&index_bytes(&data("sample")))).unwrap();
    let p = good.payload();
    // Where a field lies in the file: its address less the file's.
    let at = |field: *const u8| field as usize - good.bytes().as_ptr() as usize;
    let item_bytes_at = at(&p.items[0].bytes_at_high);
    let item_parent = at(&p.items[0].parent as *const _ as *const u8);
    let product_status = at(&p.products[0].status);
    let product_flags = at(&p.products[0].flags);
    let item_flags = at(&p.items[0].flags);
    let product_links_len = at(&p.products[0].links.len as *const _ as *const u8);
    let batch_expiry = at(&p.batches[0].expiry as *const _ as *const u8);
    let blob_at = HEADER_LEN + good.header().payload_len as usize;
    let json_at = blob_at + p.products[0].json.at.to_native() as usize;
    let coded_at = blob_at + p.batches[0].json.at.to_native() as usize;
    // Batch 0's template and the first fragment it takes as a value, as
    // they lie in the dictionary.
    let (mut template, mut value) = (None, None);
    let coded = &good.bytes()[coded_at..][..p.batches[0].json.len.to_native() as usize];
    check(
        coded,
        |id| p.fragment(id),
        |part| match part {
            Part::Template(id) => template = template.or(Some(id)),
            Part::Value(id) => value = value.or(Some(id)),
            _ => {}
        },
    )
    .unwrap();
    let template = p.fragment(template.unwrap()).unwrap();
    let template_at = at(template.as_ptr());
    let (key, hole) = (
        template.iter().position(|&b| b == b'"').unwrap() + 1,
        template.iter().position(|&b| b == HOLE).unwrap(),
    );
    let value_at = at(p.fragment(value.unwrap()).unwrap().as_ptr());
    let probes = good.header().max_probe;
    assert!(
        probes.iter().any(|&n| n > 0),
        "the sample has no displaced key, so a lowered probe bound is not tested: {probes:?}"
    );
    type Forge = Box<dyn FnOnce(&mut [u8], &mut Header)>;
    let mut cases: Vec<(&str, Forge, &str)> = vec![
        (
            "an item's offset past its bytes",
            Box::new(move |b, _| b[item_bytes_at] = 0xff),
            "item 0 points outside the index",
        ),
        (
            "an item without a lot whose product is not there",
            Box::new(move |b, _| {
                b[item_flags] |= 4;
                b[item_parent..item_parent + 4].copy_from_slice(&1000u32.to_le_bytes());
            }),
            "item 0 points outside the index",
        ),
        (
            "an unknown product status",
            Box::new(move |b, _| b[product_status] = 7),
            "product 0 has status byte 7",
        ),
        (
            "unknown product flags",
            Box::new(move |b, _| b[product_flags] |= 0x80),
            "product 0 has status byte",
        ),
        (
            "an item with an unknown flag",
            Box::new(move |b, _| b[item_flags] = 9),
            "item 0 has flags 0x09",
        ),
        (
            "an item flagged with links it does not have",
            Box::new(move |b, _| b[item_flags] |= 2),
            "items are flagged as having links",
        ),
        (
            "a product's links running past the list",
            Box::new(move |b, _| {
                b[product_links_len..product_links_len + 4]
                    .copy_from_slice(&u32::MAX.to_le_bytes());
            }),
            "a record's links point outside the index",
        ),
        (
            "an expiry date that is no date",
            Box::new(move |b, _| {
                b[batch_expiry..batch_expiry + 4].copy_from_slice(&20261399u32.to_le_bytes());
            }),
            "batch 0 has status byte 0 and expiry 20261399",
        ),
        (
            "a damaged record JSON",
            Box::new(move |b, _| b[json_at] = b'['),
            "the JSON of product 0 is not a JSON object",
        ),
        (
            "a coded batch naming a template the index has not",
            Box::new(move |b, _| b[coded_at] = 0x7f),
            "the JSON of batch 0 is not a JSON object",
        ),
        (
            "a template's hole moved into a key",
            Box::new(move |b, _| {
                b[template_at + key] = HOLE;
                b[template_at + hole] = b'0';
            }),
            "a template, is not a JSON object with values taken out",
        ),
        (
            "a dictionary value that is not JSON",
            Box::new(move |b, _| b[value_at] = b'}'),
            "a value, is not a JSON value",
        ),
        (
            "another hash seed",
            Box::new(|_, h| h.hash_seed ^= 1),
            "is not found by its key",
        ),
    ];
    for (table, &bound) in probes.iter().enumerate().filter(|(_, n)| **n > 0) {
        cases.push((
            "a lowered probe bound",
            Box::new(move |_, h| h.max_probe[table] = bound - 1),
            "is not found by its key",
        ));
    }
    for (what, forge, says) in cases {
        match forged(good.bytes(), forge) {
            Err(FormatError::Payload(detail)) => {
                assert!(detail.contains(says), "{what}: {detail}")
            }
            Err(other) => panic!("{what}: unexpected {other}"),
            Ok(_) => panic!("{what}: the forged index opened"),
        }
    }
}

/// Found by the `index_open` fuzz target (in version 2, with 64-bit
/// offsets): an item whose serial offset lies far past the item bytes, near
/// the end of the offset's range, checksums recomputed. Its end must not
/// wrap in the reference check, and the item must be refused.
#[test]
fn an_item_offset_near_the_end_of_its_range_is_refused() {
    let good = fs::read(data("fixtures/sample-v3.tsidx")).unwrap();
    let verified = Verified::new(aligned(&good)).unwrap();
    // The offset of the committed file's eleventh item.
    let item = &verified.payload().items[10];
    let low = &item.bytes_at as *const _ as usize - verified.bytes().as_ptr() as usize;
    let high = &item.bytes_at_high as *const _ as usize - verified.bytes().as_ptr() as usize;
    assert_eq!(good[low..low + 4], 190u32.to_le_bytes());
    let opened = forged(&good, |bytes, _| {
        bytes[low..low + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes[high] = 0xff;
    });
    match opened.err() {
        Some(FormatError::Payload(detail)) => {
            assert!(detail.contains("points outside the index"), "{detail}")
        }
        other => panic!("expected a payload error, got {other:?}"),
    }
}

/// The index of each format version is committed: this version's must keep
/// opening and answering, links and coded batches included, and the ones
/// before must be refused with the advice to rebuild.
#[test]
fn a_committed_version_3_index_still_opens_and_answers() {
    let index = Index::open(&data("fixtures/sample-v3.tsidx")).unwrap();
    assert_eq!(index.header().version, 3);
    assert_eq!(index.header().snapshot_id, "sample-2026-11-21");
    let p = index
        .product(Gtin::parse("8930002000017").unwrap())
        .unwrap();
    assert!(p.json().contains("Nước mắm cốt cá cơm Cát Hải"));
    let item = index.item_by_stamp("VN-0001-1003").unwrap();
    assert_eq!(item.serial(), "S000001");
    let (_, batch) = index.parents(&item);
    // The coded batch decodes to its line as exported (the GTIN in 14 digits).
    let batch: serde_json::Value = serde_json::from_str(&batch.unwrap().json()).unwrap();
    let lines = fs::read_to_string(data("sample/batches.jsonl")).unwrap();
    let mut exported: serde_json::Value =
        serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    exported["gtin"] = "08930002000017".into();
    assert_eq!(batch, exported);
    let tea = index
        .product(Gtin::parse("8930002000154").unwrap())
        .unwrap();
    let links = index.product_links(&tea);
    let hrefs: Vec<&str> = links.own.iter().map(|l| l.href.as_str()).collect();
    assert_eq!(hrefs[0], "https://chetanuyen.example.vn/san-pham/o-long");
    assert_eq!(hrefs.len(), 4);
    assert!(links.has_default);
    let item = index.item(&tea, "S021001").unwrap();
    let own = index.item_links(&item).unwrap().own;
    assert_eq!(own[0].kind.as_str(), "verificationService");
    assert!(
        index
            .item_links(&index.item(&tea, "S021002").unwrap())
            .is_none()
    );
}

#[test]
fn committed_indexes_of_versions_1_and_2_are_refused_with_the_advice_to_rebuild() {
    for version in [1, 2] {
        let err = Index::open(&data(&format!("fixtures/sample-v{version}.tsidx")))
            .err()
            .unwrap();
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "index format version {version}, this tracescan reads version 3"
            )) && message.contains("rebuild the index"),
            "{message}"
        );
    }
}

// ---- Oracle: random snapshots, every lookup checked against HashMaps -------

#[derive(Debug, Clone)]
struct Snap {
    products: Vec<String>,
    batches: Vec<(String, String)>,
    items: Vec<(String, String, Option<String>, Option<String>)>,
}

fn gtin_from(n: u32) -> String {
    let body = format!("893{n:09}");
    format!(
        "{body}{}",
        tracescan::code::gs1_check_digit(body.as_bytes())
    )
}

fn snapshot_strategy() -> impl Strategy<Value = Snap> {
    // Small key spaces on purpose: duplicates, orphans and collisions happen.
    let gtin = (0u32..40).prop_map(gtin_from);
    let lot = "[A-Z0-9]{1,3}";
    let serial = "[a-z0-9]{1,4}";
    let stamp = proptest::option::of("[A-Z]{2}-[0-9]{1,3}");
    (
        proptest::collection::vec(gtin.clone(), 1..30),
        proptest::collection::vec((gtin.clone(), lot), 0..60),
        proptest::collection::vec(
            (gtin, serial, proptest::option::of("[A-Z0-9]{1,3}"), stamp),
            0..150,
        ),
    )
        .prop_map(|(products, batches, items)| Snap {
            products,
            batches,
            items,
        })
}

fn write_snapshot(s: &Snap, dir: &std::path::Path) {
    let lines = |v: Vec<serde_json::Value>| v.iter().map(|x| format!("{x}\n")).collect::<String>();
    let products = s
        .products
        .iter()
        .map(|g| serde_json::json!({"gtin": g, "name": format!("Sản phẩm {g}")}))
        .collect();
    let batches = s
        .batches
        .iter()
        .map(|(g, l)| serde_json::json!({"gtin": g, "lot": l}))
        .collect();
    let items = s
        .items
        .iter()
        .map(|(g, serial, lot, stamp)| {
            let mut v = serde_json::json!({"gtin": g, "serial": serial});
            if let Some(l) = lot {
                v["lot"] = l.clone().into();
            }
            if let Some(st) = stamp {
                v["stamp"] = st.clone().into();
            }
            v
        })
        .collect();
    fs::write(dir.join("products.jsonl"), lines(products)).unwrap();
    fs::write(dir.join("batches.jsonl"), lines(batches)).unwrap();
    fs::write(dir.join("items.jsonl"), lines(items)).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lookups_agree_with_a_hashmap_oracle(s in snapshot_strategy()) {
        // The oracle: the first occurrence of each key wins; references must
        // resolve to records that were kept.
        let mut products: HashMap<String, usize> = HashMap::new();
        for (i, g) in s.products.iter().enumerate() {
            products.entry(g.clone()).or_insert(i);
        }
        let mut batches: HashMap<(String, String), usize> = HashMap::new();
        for (i, (g, l)) in s.batches.iter().enumerate() {
            if products.contains_key(g) {
                batches.entry((g.clone(), l.clone())).or_insert(i);
            }
        }
        let mut items: HashMap<(String, String), Option<String>> = HashMap::new();
        let mut stamps: HashMap<String, (String, String)> = HashMap::new();
        for (g, serial, lot, stamp) in &s.items {
            let lot_ok = lot.as_ref().is_none_or(|l| batches.contains_key(&(g.clone(), l.clone())));
            let fresh = !items.contains_key(&(g.clone(), serial.clone()));
            let stamp_free = stamp.as_ref().is_none_or(|st| !stamps.contains_key(st));
            if products.contains_key(g) && lot_ok && fresh && stamp_free {
                items.insert((g.clone(), serial.clone()), lot.clone());
                if let Some(st) = stamp {
                    stamps.insert(st.clone(), (g.clone(), serial.clone()));
                }
            }
        }

        let dir = tempfile::tempdir().unwrap();
        write_snapshot(&s, dir.path());
        let index = common::index_of(dir.path());
        prop_assert_eq!(index.header().products as usize, products.len());
        prop_assert_eq!(index.header().batches as usize, batches.len());
        prop_assert_eq!(index.header().items as usize, items.len());

        for n in 0..40 {
            let g = gtin_from(n);
            let found = index.product(Gtin::parse(&g).unwrap());
            prop_assert_eq!(found.is_some(), products.contains_key(&g), "product {}", g);
            let Some(p) = found else { continue };
            prop_assert!(p.json().contains(&g));
            for (gg, l) in &s.batches {
                if *gg == g {
                    prop_assert_eq!(index.batch(&p, l).is_some(), batches.contains_key(&(g.clone(), l.clone())));
                }
            }
            prop_assert!(index.batch(&p, "NOPE-LOT").is_none());
            for (gg, serial, _, _) in &s.items {
                if *gg == g {
                    let item = index.item(&p, serial);
                    let expected = items.get(&(g.clone(), serial.clone()));
                    prop_assert_eq!(item.is_some(), expected.is_some(), "item {}/{}", g, serial);
                    if let (Some(item), Some(lot)) = (item, expected) {
                        let (_, batch) = index.parents(&item);
                        prop_assert_eq!(batch.map(|b| b.lot().to_owned()), lot.clone());
                    }
                }
            }
        }
        for (_, _, _, stamp) in &s.items {
            if let Some(st) = stamp {
                let got = index.item_by_stamp(st).map(|i| (index.parents(&i).0.gtin().to_string()[1..].to_owned(), i.serial().to_owned()));
                prop_assert_eq!(got, stamps.get(st).cloned(), "stamp {}", st);
            }
        }
        prop_assert!(index.item_by_stamp("ZZ-NONE").is_none());
    }
}

/// How many bytes this process may lock in memory (`/proc/self/limits`).
fn lock_limit() -> u64 {
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .unwrap();
    let soft = line.split_whitespace().nth(3).unwrap();
    soft.parse().unwrap_or(u64::MAX)
}

/// `lock` locks the mapping, or says why the kernel refused and advises
/// instead; `advise` only advises; `auto` locks an index this small.
#[test]
fn a_served_index_is_locked_in_memory_or_says_why_not() {
    let index = Index::open(&data("fixtures/sample-v3.tsidx")).unwrap();
    let can_lock = lock_limit() >= index.file_len();
    for residency in [Residency::Lock, Residency::Auto] {
        match index.keep_resident(residency) {
            Kept::Locked => assert!(can_lock, "locked beyond the limit"),
            Kept::Advised { instead_of_lock } => {
                let why = instead_of_lock.unwrap_or_default();
                assert!(!can_lock, "{residency:?} did not lock: {why}");
                assert!(why.contains("the kernel refused to lock it"), "{why}");
            }
        }
    }
    assert_eq!(
        index.keep_resident(Residency::Advise),
        Kept::Advised {
            instead_of_lock: None
        }
    );
    // The index still answers after either.
    assert!(index.item_by_stamp("VN-0001-1003").is_some());
}
