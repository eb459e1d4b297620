//! Compressed GS1 Digital Link URIs: compression byte for byte as GS1's
//! reference implementation writes it, decompression of GS1's published
//! examples, the rule that tells a compressed path from a stamp's, round trips.
//!
//! Sources of the examples, each cited where used:
//! - [SS]: Solidsoft-Reply/Gs1DigitalLinkLib, `Tests/Features/CompressGs1DigitalLink.feature`
//!   and `Gs1ElementStringsToCompressedGs1DigitalLink.feature`. Each of its
//!   outputs used here was checked against GS1's reference implementation,
//!   `gs1/GS1DigitalLinkCompressionPrototype` (`src/GS1DigitalLinkToolkit.js`,
//!   commit 21a894b), except the 235 and 7040 ones, where that implementation's
//!   format table is wrong and cannot encode them (see `src/code/compress.rs`).
//! - [TC]: Trust-Codes-Ltd/gs1-compression, `tests/compress/test_core_functions.py`
//!   and `tests/decompress/test_core_functions.py` (a port of GS1's reference).
//! - [GS1]: GS1's reference implementation itself: a URI in a comment of
//!   `extractFromCompressedGS1digitalLink`, and, for the optimised forms (no
//!   published example uses GS1's optimisation codes), its
//!   `compressGS1AIarrayToBinary(ais, true, {})` run on the AIs shown.

mod values;

use proptest::prelude::*;
use tracescan::code::{self, CodeError, Form, Scan};

fn ais(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, v)| ((*a).to_owned(), (*v).to_owned()))
        .collect()
}

/// GS1's example AIs, in the order of the uncompressed form.
const GTIN: &str = "05412345000013";
const CPV: &str = "AJY3095721P49";
const LOT: &str = "ABC123";
const SERIAL: &str = "72292641703";

/// (AIs in Digital Link order, compressed segment without optimisations).
fn published() -> Vec<(Vec<(String, String)>, &'static str)> {
    vec![
        // [SS] https://id.gs1.org/00/998440410914660971
        (ais(&[("00", "998440410914660971")]), "AN2yxDhfaiaw"),
        // [SS] https://id.gs1.org/01/05412345000013 (and /01/5412345000013)
        (ais(&[("01", GTIN)]), "AQnYUc1gmg"),
        // [SS] https://id.gs1.org/01/05412345000013/10/ABC123
        (ais(&[("01", GTIN), ("10", LOT)]), "AQnYUc1gmiCNV4JG"),
        // [SS] …/10/ABC123/21/72292641703
        (
            ais(&[("01", GTIN), ("10", LOT), ("21", SERIAL)]),
            "AQnYUc1gmiCNV4JGQhcNT6K6c",
        ),
        // [SS] …/22/AJY3095721P49/10/ABC123/21/72292641703
        (
            ais(&[("01", GTIN), ("22", CPV), ("10", LOT), ("21", SERIAL)]),
            "AQnYUc1gmiCNV4JGQhcNT6K6cibQCWN9Pee9tT-PQ",
        ),
        // [SS] …/22/AJY3095721P49/10/ABC123
        (
            ais(&[("01", GTIN), ("22", CPV), ("10", LOT)]),
            "AQnYUc1gmiCNV4JGRNoBLG-nvPe2p_Ho",
        ),
        // [SS] …/21/72292641703
        (ais(&[("01", GTIN), ("21", SERIAL)]), "AQnYUc1gmkIXDU-iun"),
        // [SS] …/22/AJY3095721P49
        (
            ais(&[("01", GTIN), ("22", CPV)]),
            "AQnYUc1gmkTaASxvp7z3tqfx6",
        ),
        // [SS] https://id.gs1.org/patientinfo/01/05060917510011?11=241016&7004=3
        (
            ais(&[("01", "05060917510011"), ("11", "241016"), ("7004", "3")]),
            "AQk0rGF-9iJ1rw4AhM",
        ),
        // [SS] https://id.gs1.org/253/3060077601309
        (ais(&[("253", "3060077601309")]), "JTLIetaiHYA"),
        // [SS] https://id.gs1.org/255/5678409730535
        (ais(&[("255", "5678409730535")]), "JVUqG5hJ5wA"),
        // [SS] https://id.gs1.org/401/0541234537290A41%26GHpp33
        (
            ais(&[("401", "0541234537290A41&GHpp33")]),
            "QBl2DVoxZM2jVm3ZOWEFoxTR5HDgzZg",
        ),
        // [SS] https://id.gs1.org/402/21173492661712079
        (ais(&[("402", "21173492661712079")]), "QCJZyW9mC6Z4"),
        // [SS] https://id.gs1.org/414/5060917510004
        (ais(&[("414", "5060917510004")]), "QUSaVjC_dA"),
        // [SS] https://id.gs1.org/414/5060917510004/254/RP56J920471: 254 is
        // written first, the order of the codes.
        (
            ais(&[("414", "5060917510004"), ("254", "RP56J920471")]),
            "JUa0T-eifdtOO9UFEmlYwv3Q",
        ),
        // [SS] https://id.gs1.org/417/5060917510004
        (ais(&[("417", "5060917510004")]), "QXSaVjC_dA"),
        // [SS] https://id.gs1.org/8003/04965031954585
        (ais(&[("8003", "04965031954585")]), "gAMJCAXukTMA"),
        // [SS] https://id.gs1.org/8004/0541234537290A41%26GHpp33
        (
            ais(&[("8004", "0541234537290A41&GHpp33")]),
            "gASXYNWjFkzaNWbdk5YQWjFNHkcODNm",
        ),
        // [SS] https://id.gs1.org/8010/0541234537290A41%23GH33/8011/6639047221
        (
            ais(&[("8010", "0541234537290A41#GH33"), ("8011", "6639047221")]),
            "gBCVYNWjFkzaNWbdk5YQWjFHHkM2cAI0xdvpGo",
        ),
        // [SS] https://id.gs1.org/8013/5060917511473062B98T: base64 text
        // after a 24-bit head reads as itself.
        (
            ais(&[("8013", "5060917511473062B98T")]),
            "gBN05060917511473062B98T",
        ),
        // [SS] https://id.gs1.org/8017/817019610850151481/8019/4003812
        (
            ais(&[("8017", "817019610850151481"), ("8019", "4003812")]),
            "gBe1ajAd9ATDmAGXPRfk",
        ),
        // [SS] https://id.gs1.org/8018/411369833821910265
        (ais(&[("8018", "411369833821910265")]), "gBhbV6rzBENPk"),
        // [TC] https://id.gs1.org/gtin/9421902960055/lot/2010005828/ser/xyz1234
        (
            ais(&[
                ("01", "09421902960055"),
                ("10", "2010005828"),
                ("21", "xyz1234"),
            ]),
            "AREjalurbiAUO-cgohCz45Z67b8A",
        ),
        // [TC] https://id.gs1.org/00/106141412345678908
        (ais(&[("00", "106141412345678908")]), "ABeRcNWtKMPA"),
        // [TC] https://id.gs1.org/414/0614141123452
        (ais(&[("414", "0614141123452")]), "QUCO_anbfA"),
        // [TC] https://example.com/8003/09421012301014f9804dbf?240=qwe390023
        (
            ais(&[("8003", "09421012301014f9804dbf"), ("240", "qwe390023")]),
            "JAaasHt_dNNt4ADESMALumsUfMAm34",
        ),
        // [TC] (01)00614141123452(3103)000500
        (
            ais(&[("01", "00614141123452"), ("3103", "000500")]),
            "AQEd-1O2-GIGAD6A",
        ),
        // [TC] 3103000189 01 05412345000013 3923 2172 GS 10ABC123
        (
            ais(&[
                ("01", GTIN),
                ("10", LOT),
                ("3103", "000189"),
                ("3923", "2172"),
            ]),
            "AQnYUc1gmiCNV4JGYgYAF6ckaEPg",
        ),
        // [TC] 0100614141123452
        (ais(&[("01", "00614141123452")]), "AQEd-1O2-A"),
    ]
}

/// (AIs in Digital Link order, compressed segment with GS1's optimisations),
/// from [GS1]'s `compressGS1AIarrayToBinary(ais, true, {})`.
fn optimised() -> Vec<(Vec<(String, String)>, &'static str)> {
    let key = ("01", GTIN);
    vec![
        // 1A: 01, 10, 21, 17.
        (
            ais(&[key, ("10", LOT), ("21", SERIAL), ("17", "290331")]),
            "GgnYUc1gmo1XgkYXDU-iunRuGw",
        ),
        // 1F (01, 10, 15) saves more AI digits than 0B or 1B; 21 follows alone.
        (
            ais(&[key, ("10", LOT), ("21", SERIAL), ("15", "251231")]),
            "HwnYUc1gmo1XgkZ6q-QhcNT6K6c",
        ),
        // 1A, then 3103 on its own: 2D would need the 01 that 1A took.
        (
            ais(&[
                key,
                ("10", LOT),
                ("21", SERIAL),
                ("17", "290331"),
                ("3103", "000189"),
            ]),
            "GgnYUc1gmo1XgkYXDU-iunRuGzEDAAvQ",
        ),
        (ais(&[key, ("3103", "000189")]), "LQnYUc1gmgAXo"),
        (ais(&[key, ("22", CPV)]), "CgnYUc1gmtoBLG-nvPe2p_Ho"),
        (ais(&[key, ("7003", "1903061658")]), "DgnYUc1gmji3NU0"),
        (ais(&[key, ("3922", "2172")]), "ognYUc1gmoQ-A"),
        (
            ais(&[("8010", "0541234537290A41#GH33"), ("8011", "6639047221")]),
            "mpVg1aMWTNo1Zt2TlhBaMUceQzZ0xdvpGo",
        ),
        (
            ais(&[("8017", "817019610850151481"), ("8019", "4003812")]),
            "m7VqMB30BMOXPRfk",
        ),
        (
            ais(&[("414", "5060917510004"), ("254", "RP56J920471")]),
            "nUmlYwv3RrRP56J920471",
        ),
        (
            ais(&[("255", "5678409730535"), ("3901", "995")]),
            "wVKhuYSecB_G",
        ),
        (
            ais(&[("255", "5678409730535"), ("3940", "0500")]),
            "ylKhuYSecAPo",
        ),
    ]
}

#[test]
fn compression_matches_gs1_reference_byte_for_byte() {
    for (pairs, expected) in published() {
        assert_eq!(
            code::compress(&pairs, &[], false).as_deref(),
            Ok(expected),
            "{pairs:?}"
        );
    }
    for (pairs, expected) in optimised() {
        assert_eq!(
            code::compress(&pairs, &[], true).as_deref(),
            Ok(expected),
            "{pairs:?}"
        );
    }
}

#[test]
fn gs1_examples_decompress_to_their_digital_link() {
    for (pairs, segment) in published().into_iter().chain(optimised()) {
        for uri in [
            format!("https://id.gs1.org/{segment}"),
            format!("HTTP://example.org/resolver/{segment}/"),
        ] {
            assert_eq!(code::decompress(&uri), Ok(Some(pairs.clone())), "{uri}");
            match code::parse(&uri) {
                Ok(Scan::Gs1(c)) => {
                    assert_eq!(c.form, Form::CompressedDigitalLink, "{uri}");
                    assert_eq!(c.ais, pairs, "{uri}");
                }
                other => panic!("{uri} gave {other:?}"),
            }
        }
    }
    // [TC] decompress: https://id.gs1.org/ARHKVAdpQg is /01/09780345418913.
    assert_eq!(
        code::decompress("https://id.gs1.org/ARHKVAdpQg"),
        Ok(Some(ais(&[("01", "09780345418913")])))
    );
}

#[test]
fn non_gs1_pairs_are_compressed_and_dropped_on_the_way_back() {
    // [TC] https://id.gs1.org/01/05412345000013/10/ABC%26%2B123?7003=1903061658&k1=v1,
    // its pair k1=v1 compressed too.
    let pairs = ais(&[("01", GTIN), ("10", "ABC&+123"), ("7003", "1903061658")]);
    let others = ais(&[("k1", "v1")]);
    assert_eq!(
        code::compress(&pairs, &others, false).as_deref(),
        Ok("AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXgpNWCv1")
    );
    assert_eq!(
        code::decompress("http://example.org/AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXgpNWCv1"),
        Ok(Some(pairs.clone()))
    );
    // [GS1] a comment in extractFromCompressedGS1digitalLink: the same AIs
    // with two compressed pairs, expdt=1903061658 and k1=v1.
    assert_eq!(
        code::decompress("http://example.org/AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXhXsaXbQKHFuaprwUmrBX6g"),
        Ok(Some(pairs))
    );
}

#[test]
fn where_gs1_reference_table_contradicts_the_ai_format_the_format_wins() {
    // GS1's reference cannot encode these (its table makes 235 three digits
    // then text, and drops 7040's last three characters); [SS] writes them
    // after the AIs' formats, as we do.
    let cases = [
        // [SS] https://id.gs1.org/01/05412345000013/235/8TFV883a904GH%263
        (
            ais(&[("01", GTIN), ("235", "8TFV883a904GH&3")]),
            "AQnYUc1gmkax7ipGrOHDPC5YNI8hMz",
        ),
        // [SS] https://id.gs1.org/414/5060917510004/7040/5KFX
        (
            ais(&[("414", "5060917510004"), ("7040", "5KFX")]),
            "QUSaVjC_dHBAVlCrg",
        ),
        // [SS] https://id.gs1.org/8004/0541234537290A41%26GHpp33/7040/7BVR
        (
            ais(&[("8004", "0541234537290A41&GHpp33"), ("7040", "7BVR")]),
            "cEB2CqjAAkuwatGLJm0as27JywgtGKaPI4cGbM",
        ),
    ];
    for (pairs, segment) in cases {
        assert_eq!(code::compress(&pairs, &[], false).as_deref(), Ok(segment));
        assert_eq!(
            code::decompress(&format!("https://id.gs1.org/{segment}")),
            Ok(Some(pairs))
        );
    }
    // IBAN (8007) is up to 34 characters, not 24: its length takes six
    // bits, and a 31-character IBAN round-trips.
    let iban = "MT84MALT011000012345MTLCAST001S";
    let pairs = ais(&[("01", GTIN), ("8007", iban)]);
    let segment = code::compress(&pairs, &[], false).unwrap();
    assert_eq!(
        code::decompress(&format!("https://h/{segment}")),
        Ok(Some(pairs))
    );
}

#[test]
fn a_published_example_with_an_invalid_value_is_refused() {
    // [SS] https://id.gs1.org/8006/054123450000130201/22/…/10/…/21/…, whose
    // ITIP ends in piece 02 of a total of 01. Its bits are GS1's encoding
    // (10, 21 and 22 before the key: the order of the codes), but what they
    // say is no valid Digital Link: not one in the compressed form, an error
    // where the path names the key.
    let segment = "EEarwSMhC4an0V05E2gEsb6e897an8ewAMGAkftmjYEy";
    assert_eq!(
        code::decompress(&format!("https://id.gs1.org/{segment}")),
        Ok(None)
    );
    assert_eq!(
        code::decompress(
            "https://id.gs1.org/8006/054123450000130201/EEarwSMhC4an0V05E2gEsb6e897an8eg"
        )
        .unwrap_err()
        .to_string(),
        "AI 8006 (ITIP): piece 2 of total 1 is not a valid piece number"
    );
    let pairs = ais(&[("8006", "054123450000130201"), ("10", LOT)]);
    assert!(code::compress(&pairs, &[], false).is_err());
    // With a piece that exists, the same AIs round-trip.
    let pairs = ais(&[
        ("8006", "054123450000130101"),
        ("22", CPV),
        ("10", LOT),
        ("21", SERIAL),
    ]);
    let segment = code::compress(&pairs, &[], false).unwrap();
    assert_eq!(
        code::decompress(&format!("https://id.gs1.org/{segment}")),
        Ok(Some(pairs))
    );
}

#[test]
fn partly_compressed_links_keep_the_key_in_the_path() {
    // [SS] "Partially compress a decompressed Digital Link".
    let cases = [
        (
            "https://id.gs1.org/01/05412345000013/EEarwSM",
            ais(&[("01", GTIN), ("10", LOT)]),
        ),
        (
            "https://id.gs1.org/01/5412345000013/EEarwSMhC4an0V05E2gEsb6e897an8eg",
            ais(&[("01", GTIN), ("22", CPV), ("10", LOT), ("21", SERIAL)]),
        ),
        (
            "https://id.gs1.org/414/5060917510004/JUa0T-eifdtOO9Q",
            ais(&[("414", "5060917510004"), ("254", "RP56J920471")]),
        ),
        (
            "https://id.gs1.org/414/5060917510004/cEBWUKu",
            ais(&[("414", "5060917510004"), ("7040", "5KFX")]),
        ),
        (
            "https://id.gs1.org/patientinfo/01/05060917510011/ETrXhwBCY?context=UK",
            ais(&[("01", "05060917510011"), ("11", "241016"), ("7004", "3")]),
        ),
    ];
    for (uri, expected) in cases {
        assert_eq!(code::decompress(uri), Ok(Some(expected)), "{uri}");
    }
}

#[test]
fn query_string_attributes_merge_as_for_uncompressed_links() {
    let uri = "https://id.example.vn/AQnYUc1gmiCNV4JG?17=290331&linkType=gs1:pip#x";
    assert_eq!(
        code::decompress(uri),
        Ok(Some(ais(&[("01", GTIN), ("10", LOT), ("17", "290331")])))
    );
    assert_eq!(
        code::decompress_path("/AQnYUc1gmiCNV4JG", Some("17=290331")),
        Ok(Some(ais(&[("01", GTIN), ("10", LOT), ("17", "290331")])))
    );
    // The same value again is one AI; another is an error.
    assert_eq!(
        code::decompress("https://h/AQnYUc1gmiCNV4JG?10=ABC123"),
        Ok(Some(ais(&[("01", GTIN), ("10", LOT)])))
    );
    assert_eq!(
        code::decompress("https://h/AQnYUc1gmiCNV4JG?10=XYZ"),
        Err(CodeError::ConflictingAi {
            ai: "10".into(),
            first: LOT.into(),
            second: "XYZ".into()
        })
    );
    let err = code::decompress("https://h/AQnYUc1gmg?17=291331").unwrap_err();
    assert_eq!(
        err.to_string(),
        "AI 17 (USE BY or EXPIRY): month 13 is not a month"
    );
    let err = code::decompress("https://h/AQnYUc1gmg?21=X7").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Digital Link: AI 21 (SERIAL) is not allowed in the query string"),
        "{err}"
    );
}

#[test]
fn leading_zeros_survive_where_the_length_counts_them() {
    // GS1's reference decoder drops them (a serial 0012 comes back as 12);
    // the length indicator says four digits, and four come back.
    let pairs = ais(&[("01", GTIN), ("21", "0012"), ("7004", "0030")]);
    for optimise in [false, true] {
        let segment = code::compress(&pairs, &[], optimise).unwrap();
        assert_eq!(
            code::decompress(&format!("https://h/{segment}")),
            Ok(Some(pairs.clone()))
        );
    }
}

/// A bit string written as `0` and `1`, in base64url as the compressed form
/// writes it: the test's own encoder, independent of the crate's.
fn b64(bits: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = bits.replace(' ', "");
    while !bits.len().is_multiple_of(6) {
        bits.push('0');
    }
    bits.as_bytes()
        .chunks(6)
        .map(|c| {
            let v = c.iter().fold(0, |acc, b| acc * 2 + usize::from(*b == b'1'));
            char::from(ALPHABET[v])
        })
        .collect()
}

fn bin(value: u128, width: usize) -> String {
    format!("{value:0width$b}")
}

#[test]
fn the_test_encoder_agrees_with_a_published_example() {
    // 01 then 05412345000013 in 47 bits: [SS] AQnYUc1gmg.
    assert_eq!(
        b64(&format!("0000 0001 {}", bin(5412345000013, 47))),
        "AQnYUc1gmg"
    );
}

#[test]
fn what_does_not_decode_whole_is_not_a_compressed_link() {
    let not = |segment: &str| {
        let uri = format!("https://stamps.example.vn/s/{segment}");
        assert_eq!(code::decompress(&uri), Ok(None), "{segment}");
        match code::parse(&uri) {
            Ok(Scan::Stamp(s)) => assert_eq!(s.candidates[0], segment),
            other => panic!("{uri} gave {other:?}"),
        }
    };
    // A stamp system's token: AI 00 needs 60 bits where 28 are left.
    not("ABC123");
    not("VNC-7F3K-92QX");
    not("8934567890120X");
    // Cut short, one character too many, padding that is not zero.
    not("AQnYUc1gm");
    not("AQnYUc1gmgA");
    not("AQnYUc1gmh");
    // A wrong check digit: GS1's encoder writes only valid values.
    not(&b64(&format!("0000 0001 {}", bin(5412345000012, 47))));
    // An AI no table knows (3800), an encoding indicator 5.
    not(&b64(&format!("0011 1000 0000 0000 {}", bin(1, 20))));
    not(&b64(&format!(
        "0000 0001 {} 0001 0000 101 00001 0000",
        bin(5412345000013, 47)
    )));
    // Encoding 4 (ASCII) for a lot GS1's encoder writes in encoding 2 (hex):
    // not what it writes, so not its output.
    not(&b64(&format!(
        "0000 0001 {} 0001 0000 100 00001 {}",
        bin(5412345000013, 47),
        bin(u128::from(b'A'), 7)
    )));
    // A qualifier with no key ([SS]'s partly compressed payload, alone), and
    // an SSCC with a serial: AIs that make no Digital Link.
    not("EEarwSM");
    not(&b64(&format!(
        "0000 0000 {} 0010 0001 000 01011 {}",
        bin(106141412345678908, 60),
        bin(72292641703, 37)
    )));
}

#[test]
fn a_partly_compressed_link_says_what_is_wrong() {
    let err = |uri: &str| code::decompress(uri).unwrap_err().to_string();
    assert_eq!(
        err("https://id.gs1.org/01/05412345000012/EEarwSM"),
        "AI 01 (GTIN): check digit should be 3, found 2"
    );
    assert_eq!(
        err("https://id.gs1.org/01/09780345418913/AQnYUc1gmg"),
        "AI 01 appears twice with different values, '09780345418913' and '05412345000013'"
    );
    assert_eq!(
        err("https://id.gs1.org/00/106141412345678908/IQuGp9FdO"),
        "Digital Link: AI 21 (SERIAL) is neither a qualifier of AI 00 (SSCC) nor a data attribute"
    );
    // 21=72292641703 (digits) and 235=TPX1 (base64), as GS1's encoder would
    // write them: qualifiers of two alternatives, neither an attribute.
    let serial_and_tpx = b64(&format!(
        "0010 0001 000 01011 {} 0010 0011 0101 011 00100 010011 001111 010111 110101",
        bin(72292641703, 37)
    ));
    assert_eq!(
        err(&format!(
            "https://id.gs1.org/01/05412345000013/{serial_and_tpx}"
        )),
        "Digital Link: qualifiers 21, 235 do not fit AI 01 (GTIN), which takes, in this order: 22, 10, 21 or 235"
    );
    // 10 is also a data attribute: with 235, it is one.
    let lot_and_tpx = b64("0001 0000 010 00110 1010 1011 1100 0001 0010 0011 \
         0010 0011 0101 011 00100 010011 001111 010111 110101");
    assert_eq!(
        code::decompress(&format!(
            "https://id.gs1.org/01/05412345000013/{lot_and_tpx}"
        )),
        Ok(Some(ais(&[("01", GTIN), ("235", "TPX1"), ("10", LOT)])))
    );
    // The key, not the payload, is what an odd path cannot hide behind.
    assert_eq!(
        code::decompress("https://check.example.vn/01/08934567890120/10"),
        Ok(None)
    );
}

#[test]
fn compress_refuses_what_is_not_a_digital_link() {
    let err = |pairs: &[(&str, &str)], others: &[(&str, &str)]| {
        code::compress(&ais(pairs), &ais(others), false)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&[("01", GTIN), ("38", "1")], &[]),
        "Digital Link: '38' is not a GS1 Application Identifier"
    );
    assert_eq!(
        err(&[("01", "05412345000012")], &[]),
        "AI 01 (GTIN): check digit should be 3, found 2"
    );
    assert_eq!(
        err(&[("01", "5412345000013")], &[]),
        "AI 01 (GTIN): value is 13 digits long, exactly 14 digits required"
    );
    assert_eq!(
        err(&[("10", LOT), ("17", "290331")], &[]),
        "Digital Link: the compressed Digital Link has no primary key (GTIN, SSCC, GLN …), only AIs 10, 17"
    );
    assert_eq!(
        err(&[("00", "106141412345678908"), ("21", SERIAL)], &[]),
        "Digital Link: AI 21 (SERIAL) is neither a qualifier of AI 00 (SSCC) nor a data attribute"
    );
    assert_eq!(
        err(&[("01", GTIN), ("10", LOT), ("10", "X")], &[]),
        "AI 10 appears twice with different values, 'ABC123' and 'X'"
    );
    assert!(err(&[("01", GTIN)], &[("k 1", "v")]).contains("the key 'k 1' cannot be compressed"));
    assert!(err(&[("01", GTIN)], &[("17", "v")]).contains("is all digits"));
    assert!(err(&[("01", GTIN)], &[("k", "é")]).contains("printable ASCII"));
    // The same pair twice is one.
    assert_eq!(
        code::compress(&ais(&[("01", GTIN), ("01", GTIN)]), &[], false).as_deref(),
        Ok("AQnYUc1gmg")
    );
}

#[test]
fn bounds_hold() {
    let long = format!("https://h/{}", "A".repeat(510));
    assert_eq!(
        code::decompress(&long),
        Err(CodeError::TooLong { len: long.len() })
    );
    assert_eq!(
        code::decompress_path(&format!("/{}", "A".repeat(500)), Some(&"q".repeat(20))),
        Err(CodeError::TooLong { len: 522 })
    );
    assert_eq!(code::decompress("ftp://h/AQnYUc1gmg"), Ok(None));
    assert_eq!(code::decompress("https://h"), Ok(None));
    assert_eq!(code::decompress("https://h/"), Ok(None));
}

#[test]
fn stamp_urls_are_never_refused_and_seldom_taken() {
    // Random tokens as stamp systems print them: never an error (the bits
    // alone cannot show a token was meant as a Digital Link), and only the
    // rare token that is exactly GS1's output for a valid Digital Link is
    // read as one (about 6 in 100,000 of these).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut seed = 11u64;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let mut taken = 0;
    for _ in 0..100_000 {
        let len = 4 + next(28);
        let token: String = (0..len)
            .map(|_| char::from(alphabet[next(alphabet.len())]))
            .collect();
        let uri = format!("https://stamps.example.vn/s/{token}");
        match code::parse(&uri) {
            Ok(Scan::Stamp(_)) => {}
            Ok(Scan::Gs1(c)) => {
                assert_eq!(c.form, Form::CompressedDigitalLink);
                taken += 1;
            }
            Err(e) => panic!("{uri}: {e}"),
        }
    }
    assert!(
        taken < 20,
        "{taken} of 100,000 tokens read as Digital Links"
    );
}

// ---- Round trip --------------------------------------------------------------

/// A Digital Link's AIs in its order: a key, qualifiers after one of its
/// alternatives, attributes (no key, no qualifier of the key) by code.
fn digital_link_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    let mut all: Vec<_> = code::all_ais().filter(|d| values::generatable(d)).collect();
    all.sort_by(|a, b| a.code.cmp(&b.code));
    let keys: Vec<_> = all
        .iter()
        .copied()
        .filter(|d| d.dl_qualifiers.is_some())
        .collect();
    let attributes: Vec<_> = all
        .iter()
        .copied()
        .filter(|d| d.dl_attribute && d.dl_qualifiers.is_none())
        .collect();
    (
        0..keys.len(),
        any::<u64>(),
        proptest::collection::vec(any::<bool>(), 4),
        proptest::collection::vec(0..attributes.len(), 0..4),
    )
        .prop_map(move |(k, mut seed, take, picks)| {
            let key = keys[k];
            let mut out = vec![(key.code.clone(), values::valid_value(key, &mut seed, ""))];
            let alts = key.dl_qualifiers.as_deref().unwrap_or(&[]);
            let alt = alts
                .get((seed % 7) as usize % alts.len().max(1))
                .cloned()
                .unwrap_or_default();
            for (q, keep) in alt.iter().zip(&take) {
                if *keep && let Some(def) = code::lookup_ai(q) {
                    out.push((q.clone(), values::valid_value(def, &mut seed, "")));
                }
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            for i in picks {
                let def = attributes[i];
                let qualifier = alts.iter().any(|a| a.contains(&def.code));
                if !qualifier && !attrs.iter().any(|(a, _)| *a == def.code) {
                    attrs.push((def.code.clone(), values::valid_value(def, &mut seed, "")));
                }
            }
            attrs.sort();
            out.extend(attrs);
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compress_then_decompress_gives_the_ais_back(
        pairs in digital_link_strategy(),
        others in proptest::collection::vec(("[A-Za-z_-][A-Za-z0-9_-]{0,12}", "[ -~]{0,20}"), 0..3),
        optimise in any::<bool>(),
    ) {
        let segment = code::compress(&pairs, &others, optimise);
        prop_assert!(segment.is_ok(), "{:?}: {:?}", pairs, segment);
        let uri = format!("https://id.example.vn/{}", segment.unwrap());
        prop_assert_eq!(code::decompress(&uri), Ok(Some(pairs.clone())), "{}", uri);
        match code::parse(&uri) {
            Ok(Scan::Gs1(c)) => {
                prop_assert_eq!(c.form, Form::CompressedDigitalLink);
                prop_assert_eq!(c.ais, pairs);
            }
            other => prop_assert!(false, "{} gave {:?}", uri, other),
        }
    }

    #[test]
    fn any_path_is_judged_without_panic(
        path in "(/[A-Za-z0-9_%-]{0,8}){0,3}/[A-Za-z0-9_-]{0,80}",
        query in proptest::option::of("[0-9a-z=&%]{0,20}"),
    ) {
        let _ = code::decompress_path(&path, query.as_deref());
    }
}
