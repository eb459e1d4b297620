//! Valid values for any AI of the table, shared by the scan-code tests: a
//! generator independent of the crate's own checks.

use tracescan::code::{self, Charset, Check};

/// The test's own GS1 mod-10 check digit, independent of the crate's.
pub fn mod10(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

const CSET82: &str =
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
const CSET39: &str = "#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CSET64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// AIs whose checks this generator does not reproduce; they have fixed cases above.
pub fn generatable(def: &code::AiDef) -> bool {
    !def.components.iter().any(|c| {
        c.checks
            .iter()
            .any(|k| matches!(k, Check::CsumAlpha | Check::Iban))
    })
}

/// A valid value for `def`, driven by `seed` (a tiny LCG keeps it deterministic).
/// `avoid` lists characters to keep out (for the human-readable form, `(`).
pub fn valid_value(def: &code::AiDef, seed: &mut u64, avoid: &str) -> String {
    let mut next = |n: usize| {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as usize) % n
    };
    let mut out = String::new();
    for comp in &def.components {
        if comp.optional && next(2) == 0 {
            break;
        }
        let len = comp.min + next(comp.max - comp.min + 1);
        let set = match comp.charset {
            Charset::Numeric => "0123456789",
            Charset::Cset82 => CSET82,
            Charset::Cset39 => CSET39,
            Charset::Cset64 => CSET64,
        };
        let pool: Vec<char> = set
            .chars()
            .filter(|c| !avoid.contains(*c) && *c != '%')
            .collect();
        let mut part: String = (0..len).map(|_| pool[next(pool.len())]).collect();
        let d2 = |n: usize| format!("{:02}", n);
        for check in &comp.checks {
            part = match check {
                Check::Csum => {
                    let body = &part[..part.len() - 1];
                    format!("{body}{}", mod10(body))
                }
                Check::Yymmd0 | Check::Yymmdd => {
                    format!("{}{}{}", d2(next(100)), d2(1 + next(12)), d2(1 + next(28)))
                }
                Check::Yyyymmdd => format!(
                    "{}{}{}",
                    1900 + next(200),
                    d2(1 + next(12)),
                    d2(1 + next(28))
                ),
                Check::Hhmi => format!("{}{}", d2(next(24)), d2(next(60))),
                Check::Hh => d2(next(24)),
                Check::Mi | Check::Ss => d2(next(60)),
                Check::Hyphen => "-".into(),
                Check::YesNo => next(2).to_string(),
                Check::Zero => "0".into(),
                Check::NonZero => format!("{}{}", &part[..part.len() - 1], 1 + next(9)),
                Check::Winding => ["0", "1", "9"][next(3)].into(),
                Check::PieceOfTotal => {
                    let total = 1 + next(99);
                    format!("{}{}", d2(1 + next(total)), d2(total))
                }
                Check::NoZeroPrefix => format!("{}{}", 1 + next(9), &part[1..]),
                Check::HasNonDigit => format!("{}A", &part[..part.len() - 1]),
                Check::Latitude => format!("{:010}", next(1_800_000_001)),
                Check::Longitude => format!("{:010}", next(2_000_000_000)),
                Check::PosInSeqSlash => "1/2".into(),
                Check::Pcenc => part,
                Check::Gcppos1 | Check::Gcppos2 => {
                    // A GS1 Company Prefix: the shortest one is 4 digits.
                    let start = usize::from(*check == Check::Gcppos2);
                    let end = start + 4;
                    if part.len() >= end && part[start..end].bytes().all(|b| b.is_ascii_digit()) {
                        part
                    } else {
                        let digits: String =
                            (0..4).map(|_| char::from(b'0' + next(10) as u8)).collect();
                        format!("{}{digits}{}", &part[..start], &part[end.min(part.len())..])
                    }
                }
                Check::ImporterIdx => {
                    const IDX: &[u8] =
                        b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
                    char::from(IDX[next(IDX.len())]).to_string()
                }
                Check::CsumAlpha | Check::Iban => unreachable!("filtered by generatable()"),
            };
        }
        out.push_str(&part);
    }
    out
}
