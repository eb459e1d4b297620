//! Scan codes: the raw text a scanner hands us, turned into a typed value.
//!
//! This module is pure: it knows nothing of files, the index or HTTP. The forms
//! are tried in the order of SPEC section 3:
//!
//! 1. a GTIN (8, 12, 13 or 14 digits with a valid check digit);
//! 2. a GS1 element string, human-readable `(01)…(10)…` or raw with FNC1 as ASCII
//!    29 and an optional symbology identifier;
//! 3. a GS1 Digital Link URI on any host and path prefix, uncompressed, else
//!    compressed (`compress.rs` says when a URL is a compressed one);
//! 4. anything else: a stamp code.
//!
//! Every AI of the GS1 General Specifications is known (see `ai_table.txt`); each
//! value is checked for length, character set, check digit, date and time. A
//! malformed code is a [`CodeError`] whose message names the part that is wrong.

mod ai;
mod compress;
mod digital_link;
mod element;

use std::fmt;

pub use compress::{compress, decompress, decompress_path};

pub use ai::{
    AiDef, Charset, Check, Component, all as all_ais, gs1_check_digit, is_cset82,
    lookup as lookup_ai,
};

/// The longest code we accept, in bytes. Longer input is refused before it is
/// scanned: no scanner symbology carries more.
pub const MAX_CODE_LEN: usize = 512;

/// ASCII 29, the group separator that stands for FNC1 in transmitted data.
pub const GS: u8 = 0x1d;

/// Symbology identifiers that announce GS1 data (GS1-128, GS1 DataMatrix, GS1 QR
/// Code, GS1 DataBar, GS1 Composite).
const GS1_SYMBOLOGY_IDS: [&str; 5] = ["]C1", "]d2", "]Q3", "]e0", "]J1"];

/// What a scan code turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    /// A GS1 code: a GTIN, an element string or a Digital Link.
    Gs1(Gs1Code),
    /// Anything else, to be looked up as a traceability stamp code.
    Stamp(StampCode),
}

/// Which written form a GS1 code came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Gtin,
    ElementString,
    DigitalLink,
    /// A Digital Link in GS1's compressed form, whole or with the key
    /// uncompressed.
    CompressedDigitalLink,
}

/// A parsed GS1 code: every AI read, in the order read, each once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gs1Code {
    pub form: Form,
    /// (AI, value) pairs. Values are validated; a GTIN in AI 01 is in its
    /// 14-digit form.
    pub ais: Vec<(String, String)>,
}

impl Gs1Code {
    /// The value of `ai`, if the code carries it.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.ais
            .iter()
            .find(|(a, _)| a == ai)
            .map(|(_, v)| v.as_str())
    }

    /// The GTIN (AI 01). Cheap: the value was validated when the code was
    /// parsed, so its check digit is not computed again.
    pub fn gtin(&self) -> Option<Gtin> {
        self.get("01").map(|v| Gtin::of_digits(v.as_bytes()))
    }

    /// The batch or lot number (AI 10).
    pub fn lot(&self) -> Option<&str> {
        self.get("10")
    }

    /// The serial number (AI 21).
    pub fn serial(&self) -> Option<&str> {
        self.get("21")
    }

    /// The expiry date (AI 17), as printed: YYMMDD, day 00 meaning the month's end.
    pub fn expiry(&self) -> Option<Yymmdd<'_>> {
        self.get("17").map(Yymmdd)
    }
}

/// A stamp code, with the candidates to try in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampCode {
    /// For an http(s) URL, its last path segment first, then the whole text;
    /// otherwise the text alone.
    pub candidates: Vec<String>,
}

/// A GTIN in its 14-digit form, held as a number (GTIN-14 fits in 47 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(u64);

impl Gtin {
    /// Parses 8, 12, 13 or 14 digits with a valid check digit.
    pub fn parse(s: &str) -> Result<Gtin, CodeError> {
        let b = s.as_bytes();
        if !b.iter().all(u8::is_ascii_digit) {
            let (i, ch) = s
                .char_indices()
                .find(|(_, c)| !c.is_ascii_digit())
                .unwrap_or((0, '?'));
            return Err(CodeError::Gtin(format!(
                "character {} at position {} is not a digit",
                ai::show_char(ch),
                i + 1
            )));
        }
        if !matches!(b.len(), 8 | 12 | 13 | 14) {
            return Err(CodeError::Gtin(format!(
                "{} digits long, a GTIN has 8, 12, 13 or 14",
                b.len()
            )));
        }
        let (expected, found) = (gs1_check_digit(&b[..b.len() - 1]), b[b.len() - 1] - b'0');
        if expected != found {
            return Err(CodeError::Gtin(format!(
                "check digit should be {expected}, found {found}"
            )));
        }
        Ok(Gtin::of_digits(b))
    }

    /// The GTIN written by `digits`, ASCII digits already validated (at most
    /// 14, check digit right). Wrapping arithmetic: a value that skipped
    /// validation gives a GTIN no index holds, never a panic.
    fn of_digits(digits: &[u8]) -> Gtin {
        Gtin(digits.iter().fold(0u64, |acc, &d| {
            acc.wrapping_mul(10)
                .wrapping_add(u64::from(d.wrapping_sub(b'0')))
        }))
    }

    /// The GTIN as a number (its 14 digits read in base 10).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds a GTIN from [`Gtin::as_u64`]; `None` when it is not one (more
    /// than 14 digits, or a wrong check digit). Cheap: no allocation.
    pub fn from_u64(n: u64) -> Option<Gtin> {
        if n >= 100_000_000_000_000 {
            return None;
        }
        let mut digits = [b'0'; 14];
        let mut rest = n;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        (gs1_check_digit(&digits[..13]) == digits[13] - b'0').then_some(Gtin(n))
    }

    /// The 14 digits, without `core::fmt` (an answer writes one or two).
    pub fn digits(self) -> [u8; 14] {
        let mut digits = [b'0'; 14];
        let mut rest = self.0;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        digits
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.digits();
        f.write_str(std::str::from_utf8(&digits).expect("ASCII digits"))
    }
}

/// A date as GS1 writes it: YYMMDD, already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Yymmdd<'a>(&'a str);

impl Yymmdd<'_> {
    /// The calendar date, with the century chosen by the GS1 rule (General
    /// Specifications 7.12): a year more than 50 years ahead of `this_year` is
    /// in the previous century, one 50 or more years behind in the next. Day 00
    /// stands for the last day of the month.
    pub fn resolve(self, this_year: i32) -> (i32, u32, u32) {
        let b = self.0.as_bytes();
        let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
        let (yy, month, day) = (two(0) as i32, two(2), two(4));
        let century = this_year.div_euclid(100) * 100;
        let diff = yy - this_year.rem_euclid(100);
        let year = match diff {
            51..=99 => century - 100 + yy,
            -99..=-50 => century + 100 + yy,
            _ => century + yy,
        };
        let day = if day == 0 {
            ai::days_in_month(year as u64, month)
        } else {
            day
        };
        (year, month, day)
    }
}

/// Why a code is malformed. Each message names the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the code is empty")]
    Empty,
    #[error("the code is {len} bytes long, at most {MAX_CODE_LEN} are accepted")]
    TooLong { len: usize },
    #[error("GTIN: {0}")]
    Gtin(String),
    #[error("AI {ai} ({title}): {detail}")]
    InvalidValue {
        ai: String,
        title: &'static str,
        detail: String,
    },
    #[error("unknown Application Identifier ({ai}) at position {position}")]
    UnknownAi { ai: String, position: usize },
    #[error("incomplete Application Identifier '{digits}' at position {position}")]
    IncompleteAi { digits: String, position: usize },
    #[error("expected an Application Identifier at position {position}, found {found}")]
    ExpectedAi { position: usize, found: String },
    #[error(
        "AI {ai} ({title}) has a fixed length and must be followed by a separator (FNC1) at position {position}"
    )]
    MissingSeparator {
        ai: String,
        title: &'static str,
        position: usize,
    },
    #[error("AI {ai} appears twice with different values, '{first}' and '{second}'")]
    ConflictingAi {
        ai: String,
        first: String,
        second: String,
    },
    #[error("Digital Link: {0}")]
    DigitalLink(String),
}

/// Parses the raw text of a scan.
///
/// Cost: linear in the code's length (at most [`MAX_CODE_LEN`] bytes), a few
/// small allocations. Never panics, whatever the input.
pub fn parse(raw: &str) -> Result<Scan, CodeError> {
    if raw.len() > MAX_CODE_LEN {
        return Err(CodeError::TooLong { len: raw.len() });
    }
    // Keyboard-wedge scanners end a scan with CR or LF; spaces around a pasted
    // code are never part of it.
    let code = raw.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if code.is_empty() {
        return Err(CodeError::Empty);
    }
    if has_gtin_shape(code) {
        let gtin = Gtin::parse(code)?;
        return Ok(Scan::Gs1(Gs1Code {
            form: Form::Gtin,
            ais: vec![(
                "01".into(),
                String::from_utf8(gtin.digits().to_vec()).expect("ASCII digits"),
            )],
        }));
    }
    if let Some(ais) = element::parse(code)? {
        return Ok(Scan::Gs1(Gs1Code {
            form: Form::ElementString,
            ais,
        }));
    }
    if let Some(ais) = digital_link::parse(code)? {
        return Ok(Scan::Gs1(Gs1Code {
            form: Form::DigitalLink,
            ais,
        }));
    }
    if let Some(ais) = compress::decompress(code)? {
        return Ok(Scan::Gs1(Gs1Code {
            form: Form::CompressedDigitalLink,
            ais,
        }));
    }
    Ok(Scan::Stamp(stamp_of(code)))
}

/// The stamp code a scan of `raw` would be looked up as, were it not a GS1
/// code: for an http(s) URL its last path segment, then the whole text.
/// For a compressed Digital Link that names nothing the index holds: a stamp
/// system's URL whose token happens to decode as one is still found.
pub fn as_stamp(raw: &str) -> Scan {
    let code = raw.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    Scan::Stamp(stamp_of(code))
}

fn stamp_of(code: &str) -> StampCode {
    let mut candidates = Vec::with_capacity(2);
    if let Some(segment) = digital_link::last_path_segment(code) {
        candidates.push(segment);
    }
    candidates.push(code.to_owned());
    candidates.dedup();
    StampCode { candidates }
}

/// A stamp code as it is, for a route that names its code a stamp: bounded
/// as any scan code, never read as a GTIN or a GS1 code.
pub fn stamp(raw: &str) -> Result<Scan, CodeError> {
    if raw.len() > MAX_CODE_LEN {
        return Err(CodeError::TooLong { len: raw.len() });
    }
    if raw.is_empty() {
        return Err(CodeError::Empty);
    }
    Ok(Scan::Stamp(StampCode {
        candidates: vec![raw.to_owned()],
    }))
}

/// 8, 12, 13 or 14 digits: the first form `parse` tries.
fn has_gtin_shape(code: &str) -> bool {
    let b = code.as_bytes();
    matches!(b.len(), 8 | 12 | 13 | 14) && b.iter().all(u8::is_ascii_digit)
}

/// Whether scanning `s` looks up the stamp `s` itself, first: the test every
/// stamp of a snapshot must pass. It checks the shapes `parse` tries, in the
/// same order, without building anything (a URL, rare as a stamp, is parsed).
pub fn reads_as_stamp(s: &str) -> bool {
    let trimmed = s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if s.is_empty()
        || s.len() > MAX_CODE_LEN
        || trimmed != s
        || has_gtin_shape(s)
        || element::has_shape(s)
    {
        return false;
    }
    if digital_link::is_url(s) {
        return matches!(parse(s), Ok(Scan::Stamp(stamp)) if stamp.candidates[0] == s);
    }
    true
}

/// Adds (ai, value) to `ais` unless the same pair is there already; the same AI
/// with another value is an error.
fn push_ai(ais: &mut Vec<(String, String)>, ai: &str, value: String) -> Result<(), CodeError> {
    if let Some((_, first)) = ais.iter().find(|(a, _)| a == ai) {
        if *first != value {
            return Err(CodeError::ConflictingAi {
                ai: ai.to_owned(),
                first: first.clone(),
                second: value,
            });
        }
        return Ok(());
    }
    ais.push((ai.to_owned(), value));
    Ok(())
}
