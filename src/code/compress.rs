//! Compressed GS1 Digital Link URIs: `https://id.example.vn/AQnYUc1gmiCNV4JG`
//! for `https://id.example.vn/01/05412345000013/10/ABC123`.
//!
//! The algorithm is the one of the GS1 Digital Link standard (URI syntax 1.2
//! and later, "compression"), as GS1's reference implementation writes it
//! (`gs1/GS1DigitalLinkCompressionPrototype`, the same code GS1's resolver
//! runs). The compressed form is one path segment: a bit string written in
//! the URI-safe base64 alphabet (`A`–`Z`, `a`–`z`, `0`–`9`, `-`, `_`, six bits
//! a character, the last one padded with zero bits). The bit string is a run
//! of items, each opened by eight bits read as two hexadecimal digits:
//!
//! - two decimal digits: the start of an AI. How many digits the AI has follows
//!   from its first two (`01` two, `235` three, `3103` four), so its remaining
//!   digits follow, four bits each, then its value;
//! - an optimisation code (`0A`–`3F`, `9A`–`9D`, `A0`–`A9`, `C0`–`CD`): a fixed
//!   sequence of AIs, such as `1A` for 01, 10, 21, 17, whose values follow in
//!   that order;
//! - `F` then four more bits: a key=value pair that is not GS1's, its key's
//!   length in seven bits (the four and three more), the key in six-bit
//!   base64 characters, then the value as a variable-length text (below).
//!
//! A value is written part by part after the AI's format: a fixed count of
//! digits as one binary number of ⌈n·log₂10 + 0.01⌉ bits (the reference's
//! rounding: 13 digits take 44 bits, 59 take 197); a variable count of digits
//! as its length (in as many bits as the longest length needs), then the
//! number; text as a three-bit encoding indicator (0 digits as a number, 1
//! lower-case hex, 2 upper-case hex, both four bits a character, 3 URI-safe
//! base64 at six bits, 4 seven-bit ASCII), its length when the part is
//! variable, then the characters. The encoder picks the tightest encoding the
//! text fits.
//!
//! The parts of an AI's value come from the AI table (the Barcode Syntax
//! Dictionary), joined as the reference's format table joins them:
//! consecutive fixed-length digits make one number (8006 is 18 digits, 4309
//! twenty), trailing optional parts make one variable part (423: three
//! digits, then up to twelve), and fixed text followed by variable text makes
//! one variable text (7230: up to 30 characters). This reproduces the
//! reference's table for every AI it knows except three where its table
//! contradicts the AI's own format, and the format is followed: 235 (TPX) is
//! `X..28`, not three digits then text (the reference cannot encode a TPX
//! whose first three characters are not digits); 7040's last three
//! characters are fixed-length text (the reference's table misspells their
//! length and drops them); 8007 (IBAN) is up to 34 characters, so its length
//! takes six bits, not five. AIs newer than the reference's table follow the
//! same rule.
//!
//! Two more deliberate differences from the reference decoder, both where
//! the bits say more than it reads: a variable-length number keeps the
//! leading zeros its length indicator counts (the reference turns a serial
//! `0012` into `12`), and bits left over after the last item must be the
//! base64 padding (fewer than six, all zero).
//!
//! # When a path is a compressed Digital Link
//!
//! Any token in base64url characters could be a compressed Digital Link, and
//! stamp systems print exactly such tokens in their URLs
//! (`https://stamps.example.vn/s/ABC123`). Nothing in the bits says which was
//! meant, so the rule is: the last path segment is a compressed Digital Link
//! when, and only when, it is bit for bit what GS1's encoder writes for a
//! valid Digital Link. That is, all of:
//!
//! 1. its bits decode completely: every item opens with an AI of the table,
//!    an optimisation code or the `F` of a non-GS1 pair; every value is
//!    whole, with an encoding indicator 0 to 4, a length within its part's
//!    maximum, a number within its digit count, printable text in a non-GS1
//!    value; each AI comes once; nothing is left but the zero padding of the
//!    last character;
//! 2. it is canonical: GS1's encoder, with or without its optimisations, writes
//!    exactly these bits for what they say (AIs in the order of their codes,
//!    after any optimisation codes; each text in the tightest encoding);
//! 3. what it says is a Digital Link: every value passes its AI's checks, one
//!    AI is a primary key, every other one its qualifier or a data attribute.
//!
//! Anything else is not a compressed Digital Link (`Ok(None)`), and a scanned
//! code goes on to the stamp lookup. `ABC123` fails at once: it opens with AI
//! 00 (SSCC), whose 18 digits need 60 bits where 28 are left. A stamp token is
//! therefore never refused; one is read as a Digital Link only when it
//! coincides with GS1's encoding of a valid one. For random base64url tokens
//! of 4 to 31 characters that happens to 5 to 7 in 100,000 (nearly all short
//! tokens that read as an optimisation code and fixed-length numbers, such as
//! a GTIN with a valid check digit and a net weight); for random tokens of
//! digits, never. An error (`Err`) is kept for what is a Digital Link beyond
//! doubt: the partly compressed form below, whose path names the key, and the
//! query string of a compressed link, judged as an uncompressed one's.
//!
//! The primary key need not come first in the bits (the reference writes AIs
//! in the order of their codes, so 254 comes before 414); it is the one AI
//! that is a Digital Link key and takes every other AI as a qualifier or an
//! attribute (when two could, the one of the lower code). The AIs come out as
//! the uncompressed form has them: the key, its qualifiers in the order GS1
//! gives them, then the data attributes in the order of their codes, then
//! those of the query string, merged as for an uncompressed Digital Link.
//!
//! The partly compressed form, `/01/05412345000013/EEarwSM` (the key
//! uncompressed, the rest compressed), is read when the two segments before
//! the compressed one are a primary key AI and a value: its compressed
//! segment must meet rules 1 and 2, and then whatever is wrong (the key's
//! value, a value in the bits, an AI that does not fit the key) is an error.
//!
//! Non-GS1 pairs in the bits are read and dropped, as a query string's
//! parameters that are not AIs are.

use std::sync::LazyLock;

use super::ai::{self, AiDef, Charset};
use super::digital_link::{self, check_qualifiers};
use super::{CodeError, MAX_CODE_LEN, push_ai};

/// The URI-safe base64 alphabet of the compressed form, in value order.
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The hexadecimal digits of encodings 1 and 2, in value order.
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The longest key and value of a non-GS1 pair: their lengths take 7 bits.
const MAX_OTHER_LEN: usize = 127;

/// GS1's optimisation codes: one 8-bit code stands for a common sequence of
/// AIs, whose values follow in this order.
const OPTIMISATIONS: [(u8, &[&str]); 52] = [
    (0x0A, &["01", "22"]),
    (0x0B, &["01", "10"]),
    (0x0C, &["01", "21"]),
    (0x0D, &["01", "17"]),
    (0x0E, &["01", "7003"]),
    (0x0F, &["01", "30"]),
    (0x1A, &["01", "10", "21", "17"]),
    (0x1B, &["01", "15"]),
    (0x1C, &["01", "11"]),
    (0x1D, &["01", "16"]),
    (0x1E, &["01", "91"]),
    (0x1F, &["01", "10", "15"]),
    (0x2A, &["01", "3100"]),
    (0x2B, &["01", "3101"]),
    (0x2C, &["01", "3102"]),
    (0x2D, &["01", "3103"]),
    (0x2E, &["01", "3104"]),
    (0x2F, &["01", "3105"]),
    (0x3A, &["01", "3200"]),
    (0x3B, &["01", "3201"]),
    (0x3C, &["01", "3202"]),
    (0x3D, &["01", "3203"]),
    (0x3E, &["01", "3204"]),
    (0x3F, &["01", "3205"]),
    (0x9A, &["8010", "8011"]),
    (0x9B, &["8017", "8019"]),
    (0x9C, &["8018", "8019"]),
    (0x9D, &["414", "254"]),
    (0xA0, &["01", "3920"]),
    (0xA1, &["01", "3921"]),
    (0xA2, &["01", "3922"]),
    (0xA3, &["01", "3923"]),
    (0xA4, &["01", "3924"]),
    (0xA5, &["01", "3925"]),
    (0xA6, &["01", "3926"]),
    (0xA7, &["01", "3927"]),
    (0xA8, &["01", "3928"]),
    (0xA9, &["01", "3929"]),
    (0xC0, &["255", "3900"]),
    (0xC1, &["255", "3901"]),
    (0xC2, &["255", "3902"]),
    (0xC3, &["255", "3903"]),
    (0xC4, &["255", "3904"]),
    (0xC5, &["255", "3905"]),
    (0xC6, &["255", "3906"]),
    (0xC7, &["255", "3907"]),
    (0xC8, &["255", "3908"]),
    (0xC9, &["255", "3909"]),
    (0xCA, &["255", "3940"]),
    (0xCB, &["255", "3941"]),
    (0xCC, &["255", "3942"]),
    (0xCD, &["255", "3943"]),
];

// ---- Public API ---------------------------------------------------------------

/// Decompresses `uri` when it is an http(s) URL whose last path segment is a
/// compressed Digital Link; `Ok(None)` when it is not one, so that the
/// caller can try other forms. The rule, at the head of
/// `src/code/compress.rs`: the segment must be exactly what GS1's encoder
/// writes for a valid Digital Link, else it is not one. An error is for what
/// is unambiguously a Digital Link: the partly compressed form
/// (`/01/{gtin}/{compressed}`) and the query string of a compressed one.
///
/// The AIs come in the order of the uncompressed form: the primary key (a
/// GTIN in 14 digits), its qualifiers in GS1's order, the data attributes;
/// every value is validated.
///
/// Cost: linear in the URI's length (at most [`MAX_CODE_LEN`] bytes), a few
/// small allocations. Never panics, whatever the input.
pub fn decompress(uri: &str) -> Result<Option<Vec<(String, String)>>, CodeError> {
    if uri.len() > MAX_CODE_LEN {
        return Err(CodeError::TooLong { len: uri.len() });
    }
    let Some(url) = digital_link::split_url(uri) else {
        return Ok(None);
    };
    decompress_path(url.path, url.query)
}

/// [`decompress`] for a request's path (`/AQnYUc1gmg`, with any prefix before
/// the compressed segment) and query (without the `?`), as an HTTP server
/// holds them: no URL needs to be made up around them. Path and query
/// together are bounded as a scan code is.
pub fn decompress_path(
    path: &str,
    query: Option<&str>,
) -> Result<Option<Vec<(String, String)>>, CodeError> {
    let len = path.len() + query.map_or(0, |q| q.len() + 1);
    if len > MAX_CODE_LEN {
        return Err(CodeError::TooLong { len });
    }
    let segs = digital_link::segments(path);
    let Some((&payload, before)) = segs.split_last() else {
        return Ok(None);
    };
    let Some(read) = read_payload(payload) else {
        return Ok(None);
    };
    // The partly compressed form: `/{key AI}/{key value}/{payload}`.
    let key = match before {
        [.., ai_code, raw] => ai::lookup(ai_code)
            .filter(|d| d.dl_qualifiers.is_some())
            .map(|def| (def, *raw)),
        _ => None,
    };
    let mut ais = match key {
        Some((def, raw)) => {
            let value = digital_link::pad_short_gtin(def, digital_link::decode(raw, &def.code)?);
            def.validate(&value)?;
            let mut ais = vec![(def.code.clone(), value)];
            ais.extend(read);
            arrange(validated(ais)?, Some(&def.code))?
        }
        // The bits alone do not show that a token was meant as a Digital
        // Link: one whose values or AIs do not make one is not one.
        None => match validated(read).and_then(|ais| arrange(ais, None)) {
            Ok(ais) => ais,
            Err(_) => return Ok(None),
        },
    };
    digital_link::merge_query(&mut ais, query)?;
    Ok(Some(ais))
}

/// Compresses a Digital Link's AIs, and `others`, key=value pairs that are not
/// GS1's (kept in the query string otherwise), into the path segment of its
/// compressed form, as GS1's reference implementation writes it: AIs in the
/// order of their codes, then the other pairs in the order given. With
/// `optimise`, sequences of AIs that GS1's optimisation table names are
/// written as one code (the reference's choice, greedy by the length of the
/// AI codes saved); GS1's resolver compresses without.
///
/// `ais` must make a Digital Link: every value valid (a GTIN in 14 digits),
/// each AI once, one primary key whose qualifiers and attributes the others
/// are. A key of `others` is 1 to 127 base64url characters, not all digits; a
/// value is up to 127 printable ASCII characters.
pub fn compress(
    ais: &[(String, String)],
    others: &[(String, String)],
    optimise: bool,
) -> Result<String, CodeError> {
    let mut checked: Vec<(String, String)> = Vec::with_capacity(ais.len());
    for (ai, value) in ais {
        let def = ai::lookup(ai).ok_or_else(|| {
            CodeError::DigitalLink(format!("'{ai}' is not a GS1 Application Identifier"))
        })?;
        def.validate(value)?;
        push_ai(&mut checked, ai, value.clone())?;
    }
    // What cannot be decompressed is not compressed.
    arrange(checked.clone(), None)?;
    for (key, value) in others {
        check_other(key, value)?;
    }

    Ok(encode_payload(&checked, others, optimise))
}

/// The compressed segment of `ais` (valid values, each AI once) and `others`,
/// as GS1's encoder writes it.
fn encode_payload(ais: &[(String, String)], others: &[(String, String)], optimise: bool) -> String {
    let mut codes: Vec<&str> = ais.iter().map(|(a, _)| a.as_str()).collect();
    codes.sort_unstable();
    let value_of = |ai: &str| {
        ais.iter()
            .find(|(a, _)| a == ai)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut bits = Bits::default();
    let picked = if optimise {
        take_optimisations(&mut codes)
    } else {
        Vec::new()
    };
    for code in picked {
        bits.push(u64::from(code), 8);
        for ai in sequence(code) {
            encode_value(&mut bits, ai, value_of(ai));
        }
    }
    for ai in codes {
        for d in ai.bytes() {
            bits.push(u64::from(d - b'0'), 4);
        }
        encode_value(&mut bits, ai, value_of(ai));
    }
    for (key, value) in others {
        bits.push(0xF, 4);
        bits.push(key.len() as u64, 7);
        for b in key.bytes() {
            bits.push(base64_index(b).unwrap_or(0), 6);
        }
        encode_text(&mut bits, value.as_bytes(), Some(7));
    }
    bits.to_base64()
}

// ---- Arrangement: key, qualifiers, attributes -----------------------------------

/// Puts `ais` (each AI once) in Digital Link order: the primary key, its
/// qualifiers in GS1's order, the data attributes by AI code. `key` forces the
/// primary key (the partly compressed form names it in the path).
fn arrange(
    ais: Vec<(String, String)>,
    key: Option<&str>,
) -> Result<Vec<(String, String)>, CodeError> {
    let mut candidates: Vec<&'static AiDef> = ais
        .iter()
        .filter_map(|(a, _)| ai::lookup(a))
        .filter(|d| d.dl_qualifiers.is_some() && key.is_none_or(|k| d.code == k))
        .collect();
    candidates.sort_by(|a, b| a.code.cmp(&b.code));
    let Some(first) = candidates.first() else {
        let found: Vec<&str> = ais.iter().map(|(a, _)| a.as_str()).collect();
        return Err(CodeError::DigitalLink(format!(
            "the compressed Digital Link has no primary key (GTIN, SSCC, GLN …), only AIs {}",
            found.join(", ")
        )));
    };
    let mut first_error = None;
    for def in &candidates {
        match order_under(def, &ais) {
            Ok(order) => {
                return Ok(order
                    .into_iter()
                    .map(|i| ais[i].clone())
                    .collect::<Vec<_>>());
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error
        .unwrap_or_else(|| CodeError::DigitalLink(format!("no order fits AI {}", first.code))))
}

/// The order of `ais` (indices) under `key` as primary key: the key, its
/// qualifiers after the alternative that takes most of them (the others must
/// be data attributes), then the attributes by code.
fn order_under(key: &AiDef, ais: &[(String, String)]) -> Result<Vec<usize>, CodeError> {
    let others: Vec<usize> = (0..ais.len()).filter(|&i| ais[i].0 != key.code).collect();
    let is_attribute = |i: &usize| ai::lookup(&ais[*i].0).is_some_and(|d| d.dl_attribute);
    let no_qualifiers = vec![Vec::new()];
    let alternatives = match key.dl_qualifiers.as_deref() {
        Some(alts) if !alts.is_empty() => alts,
        _ => &no_qualifiers,
    };
    let mut best: Option<(usize, &Vec<String>)> = None;
    for alt in alternatives {
        let covered = others.iter().filter(|&&i| alt.contains(&ais[i].0)).count();
        let rest_are_attributes = others
            .iter()
            .filter(|&&i| !alt.contains(&ais[i].0))
            .all(is_attribute);
        if rest_are_attributes && best.is_none_or(|(n, _)| covered > n) {
            best = Some((covered, alt));
        }
    }
    let Some((_, alt)) = best else {
        return Err(stray_error(key, ais, &others, alternatives));
    };
    let mut order = vec![ais.iter().position(|(a, _)| *a == key.code).unwrap_or(0)];
    for q in alt {
        order.extend(others.iter().filter(|&&i| ais[i].0 == *q));
    }
    let qualifiers: Vec<(&str, &str)> = order[1..]
        .iter()
        .map(|&i| (ais[i].0.as_str(), ais[i].1.as_str()))
        .collect();
    check_qualifiers(key, &qualifiers)?;
    let mut attributes: Vec<usize> = others
        .into_iter()
        .filter(|i| !alt.contains(&ais[*i].0))
        .collect();
    attributes.sort_by(|&a, &b| ais[a].0.cmp(&ais[b].0));
    order.extend(attributes);
    Ok(order)
}

/// Why no alternative of `key`'s qualifiers fits: an AI that is neither a
/// qualifier nor an attribute, or qualifiers of different alternatives.
fn stray_error(
    key: &AiDef,
    ais: &[(String, String)],
    others: &[usize],
    alternatives: &[Vec<String>],
) -> CodeError {
    let stray = others.iter().map(|&i| &ais[i].0).find(|a| {
        !alternatives.iter().any(|alt| alt.contains(a))
            && !ai::lookup(a).is_some_and(|d| d.dl_attribute)
    });
    if let Some(a) = stray {
        let title = ai::lookup(a).map_or("", |d| d.title);
        return CodeError::DigitalLink(format!(
            "AI {a} ({title}) is neither a qualifier of AI {} ({}) nor a data attribute",
            key.code, key.title
        ));
    }
    // Every stray AI is some alternative's qualifier: say which ones clash,
    // in the words an uncompressed path would get.
    let qualifiers: Vec<(&str, &str)> = others
        .iter()
        .map(|&i| (ais[i].0.as_str(), ais[i].1.as_str()))
        .filter(|(a, _)| {
            alternatives.iter().any(|alt| alt.iter().any(|q| q == a))
                && !ai::lookup(a).is_some_and(|d| d.dl_attribute)
        })
        .collect();
    check_qualifiers(key, &qualifiers).err().unwrap_or_else(|| {
        CodeError::DigitalLink(format!(
            "the AIs do not fit AI {} ({}) as qualifiers and data attributes",
            key.code, key.title
        ))
    })
}

fn check_other(key: &str, value: &str) -> Result<(), CodeError> {
    if key.is_empty()
        || key.len() > MAX_OTHER_LEN
        || !key.bytes().all(|b| base64_index(b).is_some())
    {
        return Err(CodeError::DigitalLink(format!(
            "the key '{key}' cannot be compressed: it must be 1 to {MAX_OTHER_LEN} characters of A-Z, a-z, 0-9, '-' and '_'"
        )));
    }
    if key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::DigitalLink(format!(
            "the key '{key}' is all digits, an AI's place: it cannot be compressed as a key that is not GS1's"
        )));
    }
    if value.len() > MAX_OTHER_LEN || !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(CodeError::DigitalLink(format!(
            "the value of '{key}' cannot be compressed: it must be up to {MAX_OTHER_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}

// ---- The value layout -------------------------------------------------------------

/// One part of a value in the compressed form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Exactly this many digits, as one number.
    Digits(usize),
    /// Up to this many digits: their count, then the number.
    VarDigits(usize),
    /// Exactly this many characters: encoding indicator, then the characters.
    Chars(usize),
    /// Up to this many characters: encoding indicator, count, characters.
    VarChars(usize),
}

/// The parts of `def`'s values, joined as GS1's format table joins the AI's
/// components (see the module documentation).
fn layout(def: &AiDef) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::with_capacity(def.components.len());
    for c in &def.components {
        let variable = c.optional || c.min != c.max;
        let part = match (c.charset == Charset::Numeric, variable) {
            (true, false) => Part::Digits(c.max),
            (true, true) => Part::VarDigits(c.max),
            (false, false) => Part::Chars(c.max),
            (false, true) => Part::VarChars(c.max),
        };
        let joined = match (parts.last(), part) {
            (Some(Part::Digits(a)), Part::Digits(b)) => Some(Part::Digits(a + b)),
            (Some(Part::VarDigits(a)), Part::VarDigits(b)) => Some(Part::VarDigits(a + b)),
            (Some(Part::Chars(a)), Part::Chars(b)) => Some(Part::Chars(a + b)),
            (Some(Part::Chars(a) | Part::VarChars(a)), Part::VarChars(b)) => {
                Some(Part::VarChars(a + b))
            }
            _ => None,
        };
        match (joined, parts.last_mut()) {
            (Some(j), Some(last)) => *last = j,
            _ => parts.push(part),
        }
    }
    parts
}

/// Bits of a number of `digits` digits: ⌈digits·log₂10 + 0.01⌉, as the
/// reference computes it (one bit for no digit; 197 for 59 digits).
fn number_bits(digits: usize) -> usize {
    (digits as f64 * std::f64::consts::LOG2_10 + 0.01).ceil() as usize
}

/// Bits of a length of at most `max`: as many as `max` itself needs.
fn length_bits(max: usize) -> usize {
    (usize::BITS - max.leading_zeros()) as usize
}

/// The number of digits of an AI starting with each two digits (0 where no
/// AI starts so), from the AI table.
static AI_LENGTH: LazyLock<[u8; 100]> = LazyLock::new(|| {
    let mut lengths = [0u8; 100];
    for def in ai::all() {
        let b = def.code.as_bytes();
        let prefix = usize::from(b[0] - b'0') * 10 + usize::from(b[1] - b'0');
        lengths[prefix] = b.len() as u8;
    }
    lengths
});

fn base64_index(b: u8) -> Option<u64> {
    BASE64URL.iter().position(|&c| c == b).map(|i| i as u64)
}

fn sequence(code: u8) -> &'static [&'static str] {
    OPTIMISATIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(&[], |(_, seq)| seq)
}

/// The optimisation codes GS1's encoder picks for `codes` (sorted), removing
/// the AIs they stand for: again and again the code whose AIs are all there
/// and whose AI codes are longest together, the first in table order on a tie.
fn take_optimisations(codes: &mut Vec<&str>) -> Vec<u8> {
    let mut picked = Vec::new();
    loop {
        let mut best: Option<(usize, u8, &[&str])> = None;
        for (code, seq) in &OPTIMISATIONS {
            if seq.iter().all(|a| codes.contains(a)) {
                let saved: usize = seq.iter().map(|a| a.len()).sum();
                if best.is_none_or(|(s, _, _)| saved > s) {
                    best = Some((saved, *code, seq));
                }
            }
        }
        let Some((_, code, seq)) = best else {
            return picked;
        };
        codes.retain(|a| !seq.contains(a));
        picked.push(code);
    }
}

// ---- Writing ---------------------------------------------------------------------

/// A bit string, one bit a byte (it is at most a few thousand bits long).
#[derive(Default)]
struct Bits(Vec<u8>);

impl Bits {
    /// The `width` low bits of `value`, most significant first.
    fn push(&mut self, value: u64, width: usize) {
        for i in (0..width).rev() {
            self.0.push(((value >> i) & 1) as u8);
        }
    }

    /// The decimal number written by `digits` (ASCII digits), in `width` bits.
    fn push_decimal(&mut self, digits: &[u8], width: usize) {
        let mut number: Vec<u8> = digits.iter().map(|d| d.wrapping_sub(b'0')).collect();
        let mut out = vec![0u8; width];
        // Halving the decimal number gives its bits from the lowest up.
        for bit in out.iter_mut().rev() {
            let mut carry = 0;
            for d in number.iter_mut() {
                let cur = carry * 10 + *d;
                *d = cur / 2;
                carry = cur % 2;
            }
            *bit = carry;
        }
        self.0.extend_from_slice(&out);
    }

    fn to_base64(&self) -> String {
        self.0
            .chunks(6)
            .map(|chunk| {
                let v = (0..6).fold(0usize, |acc, i| {
                    (acc << 1) | usize::from(chunk.get(i) == Some(&1))
                });
                char::from(BASE64URL[v])
            })
            .collect()
    }
}

/// Writes `value` of AI `ai` (validated) after its layout.
fn encode_value(bits: &mut Bits, ai: &str, value: &str) {
    let Some(def) = ai::lookup(ai) else { return };
    let mut rest = value.as_bytes();
    for part in layout(def) {
        let take = match part {
            Part::Digits(n) | Part::Chars(n) => n.min(rest.len()),
            Part::VarDigits(_) | Part::VarChars(_) => rest.len(),
        };
        let (here, after) = rest.split_at(take);
        rest = after;
        match part {
            Part::Digits(n) => bits.push_decimal(here, number_bits(n)),
            Part::VarDigits(max) => {
                bits.push(here.len() as u64, length_bits(max));
                bits.push_decimal(here, number_bits(here.len()));
            }
            Part::Chars(_) => encode_text(bits, here, None),
            Part::VarChars(max) => encode_text(bits, here, Some(length_bits(max))),
        }
    }
}

/// The encoding GS1's encoder picks for `text`: 0 digits, 2 upper-case hex,
/// 1 lower-case hex, 3 URI-safe base64, 4 seven-bit ASCII (also for no text).
fn encoding_of(text: &[u8]) -> u8 {
    let all = |f: fn(&u8) -> bool| !text.is_empty() && text.iter().all(f);
    if all(u8::is_ascii_digit) {
        0
    } else if all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)) {
        2
    } else if all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
        1
    } else if all(|b| base64_index(*b).is_some()) {
        3
    } else {
        4
    }
}

/// Writes text: its encoding indicator, its length in `length_width` bits when
/// the part is variable, then its characters.
fn encode_text(bits: &mut Bits, text: &[u8], length_width: Option<usize>) {
    let enc = encoding_of(text);
    bits.push(u64::from(enc), 3);
    if let Some(width) = length_width {
        bits.push(text.len() as u64, width);
    }
    match enc {
        0 => bits.push_decimal(text, number_bits(text.len())),
        1 | 2 => {
            for b in text {
                let up = b.to_ascii_uppercase();
                bits.push(HEX.iter().position(|&h| h == up).unwrap_or(0) as u64, 4);
            }
        }
        3 => {
            for &b in text {
                bits.push(base64_index(b).unwrap_or(0), 6);
            }
        }
        _ => {
            for &b in text {
                bits.push(u64::from(b & 0x7f), 7);
            }
        }
    }
}

// ---- Reading ---------------------------------------------------------------------

/// A cursor over a bit string.
struct Reader {
    bits: Vec<u8>,
    pos: usize,
}

impl Reader {
    fn remaining(&self) -> usize {
        self.bits.len() - self.pos
    }

    /// The next `width` (at most 64) bits as a number; `None` past the end.
    fn take(&mut self, width: usize) -> Option<u64> {
        let bits = self.bits.get(self.pos..self.pos.checked_add(width)?)?;
        self.pos += width;
        Some(bits.iter().fold(0, |acc, &b| (acc << 1) | u64::from(b)))
    }

    fn take_usize(&mut self, width: usize) -> Option<usize> {
        self.take(width).and_then(|v| usize::try_from(v).ok())
    }

    /// A number of `digits` digits in `number_bits(digits)` bits, written
    /// with its leading zeros; `None` when the bits run out or hold a number
    /// of more digits.
    fn take_decimal(&mut self, digits: usize) -> Option<String> {
        let width = number_bits(digits);
        let bits = self.bits.get(self.pos..self.pos.checked_add(width)?)?;
        self.pos += width;
        // Doubling a decimal number (lowest digit first) bit by bit.
        let mut number: Vec<u8> = Vec::with_capacity(digits + 1);
        for &bit in bits {
            let mut carry = bit;
            for d in number.iter_mut() {
                let cur = *d * 2 + carry;
                *d = cur % 10;
                carry = cur / 10;
            }
            if carry > 0 {
                number.push(carry);
            }
            if number.len() > digits {
                return None;
            }
        }
        let mut out = String::with_capacity(digits);
        out.extend(std::iter::repeat_n('0', digits - number.len()));
        out.extend(number.iter().rev().map(|&d| char::from(b'0' + d)));
        Some(out)
    }

    /// `count` characters in encoding `enc`; `None` for an encoding that does
    /// not exist or bits that run out.
    fn take_text(&mut self, enc: u64, count: usize) -> Option<String> {
        match enc {
            // No text at all is written in encoding 4 (ASCII).
            0 if count > 0 => self.take_decimal(count),
            1 | 2 => (0..count)
                .map(|_| {
                    let h = char::from(HEX[self.take_usize(4)?]);
                    Some(if enc == 1 { h.to_ascii_lowercase() } else { h })
                })
                .collect(),
            3 => (0..count)
                .map(|_| Some(char::from(BASE64URL[self.take_usize(6)?])))
                .collect(),
            4 => (0..count)
                .map(|_| Some(char::from(self.take(7)? as u8)))
                .collect(),
            _ => None,
        }
    }

    /// The value of `def` after its layout.
    fn take_value(&mut self, def: &AiDef) -> Option<String> {
        let mut value = String::new();
        for part in layout(def) {
            let piece = match part {
                Part::Digits(n) => self.take_decimal(n)?,
                Part::VarDigits(max) => {
                    let n = self.take_usize(length_bits(max))?;
                    if n > max {
                        return None;
                    }
                    if n == 0 {
                        // No digit is still one bit, a zero.
                        (self.take(1)? == 0).then(String::new)?
                    } else {
                        self.take_decimal(n)?
                    }
                }
                Part::Chars(n) => {
                    let enc = self.take(3)?;
                    self.take_text(enc, n)?
                }
                Part::VarChars(max) => {
                    let enc = self.take(3)?;
                    let n = self.take_usize(length_bits(max))?;
                    if n > max {
                        return None;
                    }
                    self.take_text(enc, n)?
                }
            };
            value.push_str(&piece);
        }
        Some(value)
    }
}

/// The AIs a compressed segment holds, in the order written, when the segment
/// decodes completely and is, bit for bit, what GS1's encoder writes for what
/// it decodes to (see the module documentation); values are not validated yet.
/// Non-GS1 pairs are read, checked and dropped.
fn read_payload(segment: &str) -> Option<Vec<(String, String)>> {
    let mut bits = Vec::with_capacity(segment.len() * 6);
    for b in segment.bytes() {
        let v = base64_index(b)?;
        bits.extend((0..6).rev().map(|i| ((v >> i) & 1) as u8));
    }
    let mut r = Reader { bits, pos: 0 };
    let mut ais: Vec<(String, String)> = Vec::new();
    let mut others: Vec<(String, String)> = Vec::new();
    let push = |ais: &mut Vec<(String, String)>, code: String, value: String| {
        // GS1's encoder writes an AI once.
        (!ais.iter().any(|(a, _)| *a == code)).then(|| ais.push((code, value)))
    };
    while r.remaining() >= 8 {
        let (h1, h2) = (r.take(4)?, r.take(4)?);
        if h1 <= 9 && h2 <= 9 {
            let len = usize::from(AI_LENGTH[(h1 * 10 + h2) as usize]);
            if len < 2 {
                return None;
            }
            let mut code = format!("{h1}{h2}");
            for _ in 2..len {
                let d = r.take(4)?;
                if d > 9 {
                    return None;
                }
                code.push(char::from(b'0' + d as u8));
            }
            let def = ai::lookup(&code)?;
            let value = r.take_value(def)?;
            push(&mut ais, code, value)?;
        } else if h1 == 0xF {
            let key_len = usize::try_from((h2 << 3) | r.take(3)?).ok()?;
            let key = (0..key_len)
                .map(|_| Some(char::from(BASE64URL[r.take_usize(6)?])))
                .collect::<Option<String>>()?;
            let enc = r.take(3)?;
            let n = r.take_usize(7)?;
            let value = r.take_text(enc, n)?;
            if !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                return None;
            }
            others.push((key, value));
        } else {
            let seq = OPTIMISATIONS
                .iter()
                .find(|(c, _)| u64::from(*c) == (h1 << 4) | h2)?
                .1;
            for code in seq {
                let def = ai::lookup(code)?;
                let value = r.take_value(def)?;
                push(&mut ais, (*code).to_owned(), value)?;
            }
        }
    }
    // What is left must be the zero padding of the last base64 character.
    if r.remaining() >= 6 || r.bits[r.pos..].iter().any(|&b| b != 0) {
        return None;
    }
    if ais.is_empty() && others.is_empty() {
        return None;
    }
    // Canonical: GS1's encoder, with or without its optimisations, writes
    // exactly these bits for what they say.
    let canonical = [false, true]
        .iter()
        .any(|&optimise| encode_payload(&ais, &others, optimise) == segment);
    canonical.then_some(ais)
}

/// Validates every value of `ais` and folds repeated AIs (the same value
/// twice is one AI, two values an error).
fn validated(ais: Vec<(String, String)>) -> Result<Vec<(String, String)>, CodeError> {
    let mut out = Vec::with_capacity(ais.len());
    for (code, value) in ais {
        if let Some(def) = ai::lookup(&code) {
            def.validate(&value)?;
        }
        push_ai(&mut out, &code, value)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_bits_follow_the_reference_rounding() {
        assert_eq!(number_bits(0), 1);
        assert_eq!(number_bits(1), 4);
        assert_eq!(number_bits(6), 20);
        assert_eq!(number_bits(13), 44);
        assert_eq!(number_bits(14), 47);
        assert_eq!(number_bits(18), 60);
        // 59 digits need 196 bits; the reference's +0.01 makes it 197.
        assert_eq!(number_bits(59), 197);
        for n in 1..=127usize {
            let exact = (n as f64 * std::f64::consts::LOG2_10).ceil() as usize;
            assert!(number_bits(n) == exact || n == 59, "{n}");
        }
    }

    #[test]
    fn length_bits_hold_the_longest_length() {
        assert_eq!(length_bits(1), 1);
        assert_eq!(length_bits(4), 3);
        assert_eq!(length_bits(20), 5);
        assert_eq!(length_bits(30), 5);
        assert_eq!(length_bits(34), 6);
        assert_eq!(length_bits(90), 7);
        assert_eq!(length_bits(127), 7);
    }

    #[test]
    fn ai_lengths_follow_from_the_first_two_digits() {
        for def in ai::all() {
            let b = def.code.as_bytes();
            let prefix = usize::from(b[0] - b'0') * 10 + usize::from(b[1] - b'0');
            assert_eq!(usize::from(AI_LENGTH[prefix]), b.len(), "{}", def.code);
        }
    }

    #[test]
    fn layouts_join_components_as_the_reference_table() {
        use Part::*;
        let of = |ai: &str| layout(ai::lookup(ai).unwrap());
        assert_eq!(of("01"), [Digits(14)]);
        assert_eq!(of("10"), [VarChars(20)]);
        assert_eq!(of("8006"), [Digits(18)]);
        assert_eq!(of("8001"), [Digits(14)]);
        assert_eq!(of("4309"), [Digits(20)]);
        assert_eq!(of("7003"), [Digits(10)]);
        assert_eq!(of("253"), [Digits(13), VarChars(17)]);
        assert_eq!(of("255"), [Digits(13), VarDigits(12)]);
        assert_eq!(of("8003"), [Digits(14), VarChars(16)]);
        assert_eq!(of("7007"), [Digits(6), VarDigits(6)]);
        assert_eq!(of("423"), [Digits(3), VarDigits(12)]);
        assert_eq!(of("8008"), [Digits(8), VarDigits(4)]);
        assert_eq!(of("3910"), [Digits(3), VarDigits(15)]);
        assert_eq!(of("421"), [Digits(3), VarChars(9)]);
        assert_eq!(of("7030"), [Digits(3), VarChars(27)]);
        assert_eq!(of("7230"), [VarChars(30)]);
        assert_eq!(of("4307"), [Chars(2)]);
        assert_eq!(of("7040"), [Digits(1), Chars(3)]);
        assert_eq!(of("235"), [VarChars(28)]);
        assert_eq!(of("8007"), [VarChars(34)]);
        // A variable part, when there is one, is the last.
        for def in ai::all() {
            let parts = layout(def);
            let last = parts.len() - 1;
            for (i, p) in parts.iter().enumerate() {
                assert!(
                    i == last || matches!(p, Digits(_) | Chars(_)),
                    "{}: {parts:?}",
                    def.code
                );
            }
        }
    }

    #[test]
    fn every_optimisation_names_known_ais() {
        for (code, seq) in OPTIMISATIONS {
            assert!(
                code >> 4 > 9 || code & 0xf > 9,
                "{code:02X} reads as digits"
            );
            for ai in seq {
                assert!(ai::lookup(ai).is_some(), "{code:02X}: {ai}");
            }
        }
    }

    #[test]
    fn decimal_bits_round_trip() {
        for digits in ["0", "7", "000123", "99999999999999", &"9".repeat(90)] {
            let mut bits = Bits::default();
            bits.push_decimal(digits.as_bytes(), number_bits(digits.len()));
            let mut r = Reader {
                bits: bits.0,
                pos: 0,
            };
            assert_eq!(r.take_decimal(digits.len()).as_deref(), Some(digits));
        }
    }
}
