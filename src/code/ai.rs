//! The Application Identifier table and the validation of one AI's value.
//!
//! The table lives in `ai_table.txt` (one line an AI, in a compact form of the GS1
//! Barcode Syntax Dictionary) and is parsed once, on first use, into a table
//! indexed by the AI's digits. Validation is field by field: length, character set, then
//! the checks each component names (check digits, dates, times, small structural
//! rules). Rules that relate AIs to each other and value lists (ISO country and
//! currency codes, package types, coupon layouts) are deliberately not enforced.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::CodeError;

/// The character set a component's characters must belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Digits 0–9.
    Numeric,
    /// The GS1 AI encodable character set 82.
    Cset82,
    /// The GS1 AI encodable character set 39.
    Cset39,
    /// The file-safe base64 alphabet (GS1 character set 64), `=` padding at the end.
    Cset64,
}

impl Charset {
    /// Whether `b` belongs to the set (padding is judged by the caller).
    pub fn contains(self, b: u8) -> bool {
        match self {
            Charset::Numeric => b.is_ascii_digit(),
            Charset::Cset82 => is_cset82(b),
            Charset::Cset39 => b.is_ascii_digit() || b.is_ascii_uppercase() || b"#-/".contains(&b),
            Charset::Cset64 => b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=',
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Charset::Numeric => "a digit",
            Charset::Cset82 => "in the GS1 82-character set",
            Charset::Cset39 => "in the GS1 39-character set",
            Charset::Cset64 => "in the base64url character set",
        }
    }
}

/// Whether `b` is in GS1 AI encodable character set 82: `!"%&'()*+,-./`,
/// digits, `:;<=>?`, upper and lower case letters and `_`.
pub fn is_cset82(b: u8) -> bool {
    CSET82[b as usize]
}

/// The GS1 82-character set as a table: serials and lots are checked a
/// character at a time, a hundred million of them in a national build.
const CSET82: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let punctuation = b"!\"%&'()*+,-./:;<=>?_";
    let mut i = 0;
    while i < punctuation.len() {
        table[punctuation[i] as usize] = true;
        i += 1;
    }
    table
};

/// A content check named by a component, beyond length and character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// GS1 mod-10 check digit in the last position.
    Csum,
    /// GS1 alphanumeric check character pair in the last two positions.
    CsumAlpha,
    /// YYMMDD, day 00 allowed (end of the month).
    Yymmd0,
    /// YYMMDD with a real day.
    Yymmdd,
    /// YYYYMMDD with a real day.
    Yyyymmdd,
    /// Hours and minutes, HHMM.
    Hhmi,
    Hh,
    Mi,
    Ss,
    /// A single `-`.
    Hyphen,
    /// 0 or 1.
    YesNo,
    /// Exactly "0".
    Zero,
    /// Not all zeros.
    NonZero,
    /// 0, 1 or 9.
    Winding,
    /// Two two-digit numbers, piece then total, 1 <= piece <= total.
    PieceOfTotal,
    /// No leading zero.
    NoZeroPrefix,
    /// At least one character that is not a digit.
    HasNonDigit,
    /// Every `%` starts a valid two-hex-digit escape.
    Pcenc,
    /// Latitude as N10: 0 ..= 1800000000 (offset by 90 degrees).
    Latitude,
    /// Longitude as N10: 0 ..= 3600000000 (offset by 180 degrees).
    Longitude,
    /// ISO 13616 IBAN mod-97 check.
    Iban,
    /// "n/m", one digit each, 1 <= n <= m.
    PosInSeqSlash,
    /// A GS1 Company Prefix starts the component: its first 4 characters (the
    /// shortest prefix) are digits.
    Gcppos1,
    /// As `Gcppos1`, from the second character (after an extension or
    /// indicator digit).
    Gcppos2,
    /// One importer index character: a letter, a digit, `-` or `_`.
    ImporterIdx,
}

impl Check {
    fn from_name(name: &str) -> Option<Check> {
        Some(match name {
            "csum" => Check::Csum,
            "csumalpha" => Check::CsumAlpha,
            "yymmd0" => Check::Yymmd0,
            "yymmdd" => Check::Yymmdd,
            "yyyymmdd" => Check::Yyyymmdd,
            "hhmi" => Check::Hhmi,
            "hh" => Check::Hh,
            "mi" => Check::Mi,
            "ss" => Check::Ss,
            "hyphen" => Check::Hyphen,
            "yesno" => Check::YesNo,
            "zero" => Check::Zero,
            "nonzero" => Check::NonZero,
            "winding" => Check::Winding,
            "pieceoftotal" => Check::PieceOfTotal,
            "nozeroprefix" => Check::NoZeroPrefix,
            "hasnondigit" => Check::HasNonDigit,
            "pcenc" => Check::Pcenc,
            "latitude" => Check::Latitude,
            "longitude" => Check::Longitude,
            "iban" => Check::Iban,
            "posinseqslash" => Check::PosInSeqSlash,
            "gcppos1" => Check::Gcppos1,
            "gcppos2" => Check::Gcppos2,
            "importeridx" => Check::ImporterIdx,
            _ => return None,
        })
    }
}

/// One component of an AI's value: a run of characters with its own rules.
#[derive(Clone, Debug)]
pub struct Component {
    pub charset: Charset,
    pub min: usize,
    pub max: usize,
    /// Optional components come last; once the data runs out they are skipped.
    pub optional: bool,
    /// Content checks beyond length and character set.
    pub checks: Vec<Check>,
}

/// The definition of one Application Identifier.
#[derive(Clone, Debug)]
pub struct AiDef {
    /// The AI's digits, e.g. "01" or "3103".
    pub code: String,
    /// Short title from the GS1 tables, used in messages.
    pub title: &'static str,
    /// Predefined length: no FNC1 separator is needed after this AI's value.
    pub predefined: bool,
    /// Allowed as a Digital Link data attribute (in the query string).
    pub dl_attribute: bool,
    /// When this AI is a Digital Link primary key: its alternative sequences of
    /// qualifier AIs, each in the order they must appear.
    pub dl_qualifiers: Option<Vec<Vec<String>>>,
    pub components: Vec<Component>,
}

impl AiDef {
    /// The exact value length when every component is fixed and mandatory.
    pub fn fixed_len(&self) -> Option<usize> {
        let mut total = 0;
        for c in &self.components {
            if c.optional || c.min != c.max {
                return None;
            }
            total += c.max;
        }
        Some(total)
    }

    /// The longest value this AI allows.
    pub fn max_len(&self) -> usize {
        self.components.iter().map(|c| c.max).sum()
    }

    /// The shortest value this AI allows.
    fn min_len(&self) -> usize {
        self.components
            .iter()
            .filter(|c| !c.optional)
            .map(|c| c.min)
            .sum()
    }

    /// Whether the value is all digits (for messages: "digits" or "characters").
    fn numeric(&self) -> bool {
        self.components
            .iter()
            .all(|c| c.charset == Charset::Numeric)
    }

    /// Validates `value` against every component of this AI.
    ///
    /// Cost: linear in the value's length; no allocation unless it fails.
    pub fn validate(&self, value: &str) -> Result<(), CodeError> {
        let bytes = value.as_bytes();
        let unit = if self.numeric() {
            "digits"
        } else {
            "characters"
        };
        let (min, max) = (self.min_len(), self.max_len());
        // When one character set covers the whole value, a wrong character is a
        // better message than the wrong length it may also cause.
        if let Some(set) = self.single_charset()
            && let Some(i) = first_bad_char(bytes, set)
        {
            return Err(self.bad_char(value, i, set));
        }
        // No character set admits a character outside ASCII. Refusing one here,
        // before the value is cut into components by byte counts, keeps every
        // cut below on a character boundary: a multibyte character would
        // otherwise be split by a component's fixed length.
        if let Some(i) = bytes.iter().position(|b| !b.is_ascii()) {
            return Err(self.bad_char(value, i, self.charset_at(i)));
        }
        if bytes.is_empty() {
            return Err(self.err(format!("value is empty, {}", expect_len(min, max, unit))));
        }
        if bytes.len() < min || bytes.len() > max {
            return Err(self.err(format!(
                "value is {} {unit} long, {}",
                bytes.len(),
                expect_len(min, max, unit)
            )));
        }
        let mut pos = 0;
        for comp in &self.components {
            if pos == bytes.len() && comp.optional {
                break;
            }
            let remaining = bytes.len() - pos;
            // Only the last component may vary in length, so a variable one takes
            // everything that is left.
            let take = if comp.min == comp.max {
                comp.max
            } else {
                remaining.min(comp.max)
            };
            if take > remaining {
                return Err(self.err(format!(
                    "value is {} {unit} long, {}",
                    bytes.len(),
                    expect_len(min, max, unit)
                )));
            }
            let part = &value[pos..pos + take];
            if let Some(i) = first_bad_char(part.as_bytes(), comp.charset) {
                return Err(self.bad_char(value, pos + i, comp.charset));
            }
            for check in &comp.checks {
                run_check(*check, part).map_err(|detail| self.err(detail))?;
            }
            pos += take;
        }
        if pos != bytes.len() {
            return Err(self.err(format!(
                "value is {} {unit} long, {}",
                bytes.len(),
                expect_len(min, max, unit)
            )));
        }
        Ok(())
    }

    /// The character set of the component that byte `i` of a value falls in,
    /// laying the components end to end at their longest (the last one when
    /// `i` lies beyond them all).
    fn charset_at(&self, i: usize) -> Charset {
        let mut end = 0;
        for comp in &self.components {
            end += comp.max;
            if i < end {
                return comp.charset;
            }
        }
        self.components
            .last()
            .map_or(Charset::Cset82, |c| c.charset)
    }

    /// The one character set of every component, if they share one.
    fn single_charset(&self) -> Option<Charset> {
        let first = self.components.first()?.charset;
        self.components
            .iter()
            .all(|c| c.charset == first)
            .then_some(first)
    }

    /// The error for the character at byte `i` of `value` (a char boundary: every
    /// byte before it is ASCII).
    fn bad_char(&self, value: &str, i: usize, set: Charset) -> CodeError {
        let ch = value.get(i..).and_then(|r| r.chars().next()).unwrap_or('?');
        self.err(format!(
            "character {} at position {} is not {}",
            show_char(ch),
            i + 1,
            set.describe()
        ))
    }

    fn err(&self, detail: String) -> CodeError {
        CodeError::InvalidValue {
            ai: self.code.clone(),
            title: self.title,
            detail,
        }
    }
}

/// The first byte of `bytes` outside `set`; base64 padding (`=`) may only end it.
fn first_bad_char(bytes: &[u8], set: Charset) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, &b)| {
        !set.contains(b)
            || (set == Charset::Cset64 && b == b'=' && !bytes[i..].iter().all(|&c| c == b'='))
    })
}

fn expect_len(min: usize, max: usize, unit: &str) -> String {
    if min == max {
        format!("exactly {max} {unit} required")
    } else {
        format!("{min} to {max} {unit} allowed")
    }
}

/// Shows a character for a message: printable ones quoted, others by code point
/// (a GS separator or a control character would otherwise be invisible).
pub fn show_char(ch: char) -> String {
    if ch == ' ' || ch.is_ascii_graphic() || (!ch.is_ascii() && !ch.is_control()) {
        format!("'{ch}'")
    } else {
        format!("U+{:04X}", ch as u32)
    }
}

fn run_check(check: Check, part: &str) -> Result<(), String> {
    let b = part.as_bytes();
    match check {
        Check::Csum => {
            let (expected, found) = (gs1_check_digit(&b[..b.len() - 1]), b[b.len() - 1] - b'0');
            if expected != found {
                return Err(format!("check digit should be {expected}, found {found}"));
            }
        }
        Check::CsumAlpha => check_pair(part)?,
        Check::Yymmd0 => check_date(b, true)?,
        Check::Yymmdd => check_date(b, false)?,
        Check::Yyyymmdd => {
            let year = num(&b[..4]);
            check_month_day(year, num(&b[4..6]), num(&b[6..8]), false)?;
        }
        Check::Hhmi => {
            check_range("hour", num(&b[..2]), 23)?;
            check_range("minute", num(&b[2..4]), 59)?;
        }
        Check::Hh => check_range("hour", num(b), 23)?,
        Check::Mi => check_range("minute", num(b), 59)?,
        Check::Ss => check_range("second", num(b), 59)?,
        Check::Hyphen if part != "-" => return Err(format!("expected '-', found {}", quote(part))),
        Check::YesNo if part != "0" && part != "1" => {
            return Err(format!("expected 0 or 1, found {part}"));
        }
        Check::Zero if part != "0" => return Err(format!("expected 0, found {part}")),
        Check::NonZero if b.iter().all(|&c| c == b'0') => {
            return Err(format!("{part} must not be zero"));
        }
        Check::Winding if !matches!(part, "0" | "1" | "9") => {
            return Err(format!("winding direction must be 0, 1 or 9, found {part}"));
        }
        Check::PieceOfTotal => {
            let (piece, total) = (num(&b[..2]), num(&b[2..]));
            if piece == 0 || total == 0 || piece > total {
                return Err(format!(
                    "piece {piece} of total {total} is not a valid piece number"
                ));
            }
        }
        Check::NoZeroPrefix if b.len() > 1 && b[0] == b'0' => {
            return Err(format!("{part} must not start with 0"));
        }
        Check::HasNonDigit if b.iter().all(u8::is_ascii_digit) => {
            return Err("value must contain at least one character that is not a digit".into());
        }
        Check::Pcenc => {
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    let escape = b.get(i + 1..i + 3);
                    if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                        return Err(format!(
                            "'%' at position {} does not start a %XX escape",
                            i + 1
                        ));
                    }
                    i += 3;
                } else {
                    i += 1;
                }
            }
        }
        Check::Latitude if num(b) > 1_800_000_000 => {
            return Err(format!(
                "latitude {part} is beyond 1800000000 (90 degrees north)"
            ));
        }
        Check::Longitude if num(b) > 3_600_000_000 => {
            return Err(format!(
                "longitude {part} is beyond 3600000000 (180 degrees east)"
            ));
        }
        Check::Iban => check_iban(part)?,
        Check::PosInSeqSlash => {
            let ok = b.len() == 3
                && b[1] == b'/'
                && (b'1'..=b'9').contains(&b[0])
                && (b'1'..=b'9').contains(&b[2])
                && b[0] <= b[2];
            if !ok {
                return Err(format!(
                    "expected a position in a sequence such as 1/2, found {}",
                    quote(part)
                ));
            }
        }
        Check::Gcppos1 => check_gcp(b, 0)?,
        Check::Gcppos2 => check_gcp(b, 1)?,
        Check::ImporterIdx
            if !(b.len() == 1 && (b[0].is_ascii_alphanumeric() || b"-_".contains(&b[0]))) =>
        {
            return Err(format!(
                "importer index {} must be a letter, a digit, '-' or '_'",
                quote(part)
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The shortest GS1 Company Prefix, in digits.
const GCP_MIN_LENGTH: usize = 4;

/// A GS1 Company Prefix begins at byte `start` of `b`: the shortest one fits
/// and is all digits. (Whether the prefix was ever allocated is a registry
/// lookup, left out like the other value lists.)
fn check_gcp(b: &[u8], start: usize) -> Result<(), String> {
    if b.len() < start + GCP_MIN_LENGTH {
        return Err(format!(
            "too short to hold a GS1 Company Prefix ({GCP_MIN_LENGTH} digits from position {})",
            start + 1
        ));
    }
    if let Some(i) = b[start..start + GCP_MIN_LENGTH]
        .iter()
        .position(|c| !c.is_ascii_digit())
    {
        let at = start + i;
        return Err(format!(
            "character {} at position {} is not a digit of a GS1 Company Prefix",
            show_char(char::from(b[at])),
            at + 1
        ));
    }
    Ok(())
}

fn quote(s: &str) -> String {
    format!("'{s}'")
}

/// Parses ASCII digits that the character-set check has already admitted.
fn num(b: &[u8]) -> u64 {
    b.iter().fold(0, |acc, &d| acc * 10 + u64::from(d - b'0'))
}

fn check_range(what: &str, value: u64, max: u64) -> Result<(), String> {
    if value > max {
        return Err(format!(
            "{what} {value:02} is not a valid {what} (at most {max})"
        ));
    }
    Ok(())
}

fn check_date(b: &[u8], day_zero_allowed: bool) -> Result<(), String> {
    // The century does not matter for validity: only the leap year does, and for
    // two-digit years every year divisible by 4 is one (2000 was).
    check_month_day(num(&b[..2]), num(&b[2..4]), num(&b[4..6]), day_zero_allowed)
}

fn check_month_day(year: u64, month: u64, day: u64, day_zero_allowed: bool) -> Result<(), String> {
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is not a month"));
    }
    if day == 0 && day_zero_allowed {
        return Ok(());
    }
    let last = days_in_month(year, month as u32);
    if day == 0 || day > u64::from(last) {
        return Err(format!("day {day:02} is not a day of month {month:02}"));
    }
    Ok(())
}

/// Days in `month` of `year`; a two-digit year is taken as 20YY (for leap
/// years only 2000 matters, and it was one).
pub fn days_in_month(year: u64, month: u32) -> u32 {
    let year = if year < 100 { 2000 + year } else { year };
    crate::date::days_in_month(year as i32, month)
}

/// The GS1 mod-10 check digit of `digits` (ASCII digits, check digit excluded):
/// weights 3 and 1 alternate from the right.
pub fn gs1_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// The GS1 alphanumeric check character pair (General Specifications, "check
/// character calculation for alphanumeric keys"): data characters are valued by
/// their place in set 82, weighted by primes from the right, summed modulo 1021;
/// the 10-bit result is written as two characters of a 32-character set.
fn check_pair(part: &str) -> Result<(), String> {
    const CSET82: &[u8] =
        b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    const CSET32: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    const PRIMES: [u32; 23] = [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83,
    ];
    let b = part.as_bytes();
    if b.len() < 2 {
        return Err("too short to carry a check character pair".into());
    }
    let (data, pair) = b.split_at(b.len() - 2);
    if data.len() > PRIMES.len() {
        return Err("too long for a check character pair".into());
    }
    let mut sum = 0u32;
    for (i, &c) in data.iter().rev().enumerate() {
        let value = CSET82.iter().position(|&x| x == c).unwrap_or(0) as u32;
        sum += value * PRIMES[i];
    }
    sum %= 1021;
    let expected = [CSET32[(sum >> 5) as usize], CSET32[(sum & 31) as usize]];
    if pair != expected {
        return Err(format!(
            "check characters should be {}, found {}",
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(pair)
        ));
    }
    Ok(())
}

/// ISO 13616: two letters, two check digits, then up to 30 letters or digits;
/// moved and read as one number it is 1 modulo 97.
fn check_iban(part: &str) -> Result<(), String> {
    let b = part.as_bytes();
    let shape = b.len() >= 5
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    if !shape {
        return Err(format!("'{part}' is not shaped like an IBAN"));
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    if rem != 1 {
        return Err(format!("IBAN '{part}' fails its mod-97 check"));
    }
    Ok(())
}

/// Every AI of the table, and where each is by its digits.
struct Table {
    defs: Vec<AiDef>,
    /// Index into `defs` of the AI written as the digits at [`place`], or
    /// `u16::MAX`: a scan's AIs are found by position, without hashing.
    by_place: Vec<u16>,
}

/// Places for AIs of 2, 3 and 4 digits: 100 + 1,000 + 10,000.
const PLACES: usize = 11_100;

/// Where the AI written as `code` has its place, if it has the shape of one
/// (2 to 4 digits); `00` and `000` have places of their own.
fn place(code: &str) -> Option<usize> {
    let b = code.as_bytes();
    if !(2..=4).contains(&b.len()) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = b
        .iter()
        .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
    Some(match b.len() {
        2 => n,
        3 => 100 + n,
        _ => 1_100 + n,
    })
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let defs: Vec<AiDef> = parse_table(include_str!("ai_table.txt"))
        .unwrap_or_else(|e| panic!("ai_table.txt: {e}"))
        .into_values()
        .collect();
    let mut by_place = vec![u16::MAX; PLACES];
    for (i, def) in defs.iter().enumerate() {
        let at = place(&def.code)
            .unwrap_or_else(|| panic!("ai_table.txt: AI {} is not 2 to 4 digits", def.code));
        by_place[at] = u16::try_from(i)
            .ok()
            .filter(|&i| i != u16::MAX)
            .expect("fewer AIs than u16::MAX, the mark of an empty place");
    }
    Table { defs, by_place }
});

/// The definition of the AI written as `code`, if GS1 defines one.
pub fn lookup(code: &str) -> Option<&'static AiDef> {
    let table = &*TABLE;
    let i = *table.by_place.get(place(code)?)?;
    table.defs.get(usize::from(i))
}

/// Every AI of the table (for tests and generators), in no particular order.
pub fn all() -> impl Iterator<Item = &'static AiDef> {
    TABLE.defs.iter()
}

/// Whether some defined AI begins with `prefix` (used to name an unknown AI by
/// the digits that make it unknown).
pub fn is_prefix_of_some_ai(prefix: &str) -> bool {
    TABLE.defs.iter().any(|d| d.code.starts_with(prefix))
}

fn parse_table(text: &'static str) -> Result<HashMap<String, AiDef>, String> {
    let mut table = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (spec, title) = line
            .split_once('#')
            .ok_or(format!("line {}: no title", n + 1))?;
        let mut words = spec.split_whitespace();
        let range = words.next().ok_or(format!("line {}: no AI", n + 1))?;
        let flags = words.next().ok_or(format!("line {}: no flags", n + 1))?;
        let mut components = Vec::new();
        let mut dl_qualifiers = None;
        for word in words {
            if let Some(q) = word.strip_prefix("dl=") {
                let alternatives = q
                    .split('|')
                    .map(|alt| {
                        if alt == "-" {
                            Vec::new()
                        } else {
                            alt.split(',').map(str::to_owned).collect()
                        }
                    })
                    .collect();
                dl_qualifiers = Some(alternatives);
            } else {
                components.push(parse_component(word).map_err(|e| format!("line {}: {e}", n + 1))?);
            }
        }
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (a, b),
            None => (range, range),
        };
        let (lo, hi): (u32, u32) = (
            first.parse().map_err(|_| "bad AI")?,
            last.parse().map_err(|_| "bad AI")?,
        );
        for ai in lo..=hi {
            let code = format!("{ai:0width$}", width = first.len());
            let def = AiDef {
                code: code.clone(),
                title: title.trim(),
                predefined: flags.contains('*'),
                dl_attribute: flags.contains('?'),
                dl_qualifiers: dl_qualifiers.clone(),
                components: components.clone(),
            };
            table.insert(code, def);
        }
    }
    Ok(table)
}

fn parse_component(word: &str) -> Result<Component, String> {
    let (optional, word) = match word.strip_prefix('[') {
        Some(rest) => {
            let (inner, checks) = rest.split_once(']').ok_or("unclosed [")?;
            (true, format!("{inner}{checks}"))
        }
        None => (false, word.to_owned()),
    };
    let mut parts = word.split(',');
    let ty = parts.next().ok_or("empty component")?;
    let charset = match ty.as_bytes().first() {
        Some(b'N') => Charset::Numeric,
        Some(b'X') => Charset::Cset82,
        Some(b'Y') => Charset::Cset39,
        Some(b'Z') => Charset::Cset64,
        _ => return Err(format!("unknown type in {ty}")),
    };
    let len = &ty[1..];
    let (min, max) = match len.strip_prefix("..") {
        Some(max) => (1, max.parse().map_err(|_| format!("bad length {ty}"))?),
        None => {
            let n = len.parse().map_err(|_| format!("bad length {ty}"))?;
            (n, n)
        }
    };
    let checks = parts
        .map(|name| Check::from_name(name).ok_or(format!("unknown check {name}")))
        .collect::<Result<_, _>>()?;
    Ok(Component {
        charset,
        min,
        max,
        optional,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_prefix_checks() {
        assert_eq!(run_check(Check::Gcppos1, "1234"), Ok(()));
        assert_eq!(run_check(Check::Gcppos1, "8934GIAI-1"), Ok(()));
        let short = run_check(Check::Gcppos1, "123").unwrap_err();
        assert!(
            short.starts_with("too short to hold a GS1 Company Prefix"),
            "{short}"
        );
        assert_eq!(
            run_check(Check::Gcppos1, "893A567"),
            Err("character 'A' at position 4 is not a digit of a GS1 Company Prefix".into())
        );
        assert_eq!(run_check(Check::Gcppos2, "X8934"), Ok(()));
        assert_eq!(
            run_check(Check::Gcppos2, "18A34"),
            Err("character 'A' at position 3 is not a digit of a GS1 Company Prefix".into())
        );
        assert!(run_check(Check::Gcppos2, "1893").is_err());
    }

    #[test]
    fn importer_index_check() {
        for ok in ["0", "9", "A", "z", "-", "_"] {
            assert_eq!(run_check(Check::ImporterIdx, ok), Ok(()), "{ok}");
        }
        for bad in ["!", "%", "/", "AB"] {
            assert!(run_check(Check::ImporterIdx, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn table_parses_with_every_dictionary_ai() {
        for ai in ["717", "8040", "8041", "8042", "8043", "7039", "7239"] {
            assert!(lookup(ai).is_some(), "{ai}");
        }
        assert_eq!(lookup("8043").unwrap().max_len(), 20);
        assert_eq!(lookup("7239").unwrap().title, "CERT # 10");
        assert_eq!(
            lookup("8004").unwrap().components[0].checks,
            [Check::Gcppos1]
        );
    }

    #[test]
    fn every_ai_is_found_by_its_digits_and_nothing_else_is() {
        let mut found = 0;
        for def in all() {
            assert_eq!(lookup(&def.code).map(|d| &d.code), Some(&def.code));
            found += 1;
        }
        assert!(found > 500, "{found} AIs");
        // "00" is an AI; the same digits at other lengths, and what is not
        // 2 to 4 digits, are not.
        assert!(lookup("00").is_some());
        for not_ai in ["", "0", "000", "0000", "00000", "0a", "(01)", "٠١", "01 "] {
            assert!(lookup(not_ai).is_none(), "{not_ai:?}");
        }
    }
}
