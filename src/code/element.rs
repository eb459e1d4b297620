//! GS1 element strings: human-readable `(01)…(10)…` and raw, with FNC1 as
//! ASCII 29 and an optional symbology identifier in front.

use super::ai::{self, AiDef};
use super::{CodeError, GS, GS1_SYMBOLOGY_IDS, push_ai};

/// Parses `code` as an element string when it has the shape of one (SPEC 3.2);
/// `Ok(None)` when it does not.
pub fn parse(code: &str) -> Result<Option<Vec<(String, String)>>, CodeError> {
    if !has_shape(code) {
        return Ok(None);
    }
    if code.starts_with('(') {
        return human_readable(code).map(Some);
    }
    let start = GS1_SYMBOLOGY_IDS
        .iter()
        .find(|id| code.starts_with(**id))
        .map_or(0, |id| id.len());
    raw(code, start).map(Some)
}

/// Whether `code` has the shape of an element string: it starts with `(` or a
/// GS1 symbology identifier, holds a GS, or starts with AI 01 and 14 digits.
pub fn has_shape(code: &str) -> bool {
    let b = code.as_bytes();
    let starts_with_gtin =
        b.len() >= 16 && b.starts_with(b"01") && b[2..16].iter().all(u8::is_ascii_digit);
    code.starts_with('(')
        || GS1_SYMBOLOGY_IDS.iter().any(|id| code.starts_with(*id))
        || b.contains(&GS)
        || starts_with_gtin
}

/// `(AI)value(AI)value…`. A value runs to the next `(` that opens a group of
/// 2 to 4 digits and `)`, known or not, so that an unknown AI is reported as
/// one; a lot such as `A(1)` keeps its parentheses.
fn human_readable(code: &str) -> Result<Vec<(String, String)>, CodeError> {
    let mut ais = Vec::new();
    let mut pos = 0;
    while pos < code.len() {
        let Some((def, value_start)) = ai_in_parens(code, pos) else {
            return Err(expected_ai_at(code, pos));
        };
        let mut end = value_start;
        while end < code.len() && !opens_ai_group(code, end) {
            end += code[end..].chars().next().map_or(1, char::len_utf8);
        }
        let value = &code[value_start..end];
        def.validate(value)?;
        push_ai(&mut ais, &def.code, value.to_owned())?;
        pos = end;
    }
    Ok(ais)
}

/// The digits of a `(dd)` to `(dddd)` group at `pos`.
fn digits_in_parens(code: &str, pos: usize) -> Option<&str> {
    let rest = code.as_bytes().get(pos..)?;
    if rest.first() != Some(&b'(') {
        return None;
    }
    let close = rest.iter().take(6).position(|&b| b == b')')?;
    let digits = &rest[1..close];
    if !(2..=4).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    code.get(pos + 1..pos + close)
}

fn opens_ai_group(code: &str, pos: usize) -> bool {
    digits_in_parens(code, pos).is_some()
}

/// The known AI written as `(digits)` at `pos`, and where its value starts.
fn ai_in_parens(code: &str, pos: usize) -> Option<(&'static AiDef, usize)> {
    let digits = digits_in_parens(code, pos)?;
    ai::lookup(digits).map(|def| (def, pos + digits.len() + 2))
}

fn expected_ai_at(code: &str, pos: usize) -> CodeError {
    // "(05)" is an unknown AI, not a missing one: say so.
    if let Some(digits) = digits_in_parens(code, pos) {
        return CodeError::UnknownAi {
            ai: digits.to_owned(),
            position: pos + 2,
        };
    }
    let found = code[pos..]
        .chars()
        .next()
        .map_or_else(|| "the end".to_owned(), ai::show_char);
    CodeError::ExpectedAi {
        position: pos + 1,
        found,
    }
}

/// Raw element string from `start` (after any symbology identifier).
fn raw(code: &str, start: usize) -> Result<Vec<(String, String)>, CodeError> {
    let b = code.as_bytes();
    let mut ais = Vec::new();
    let mut pos = start;
    while pos < b.len() {
        if b[pos] == GS {
            pos += 1;
            continue;
        }
        let def = read_ai(code, pos)?;
        pos += def.code.len();
        let value_end = match def.fixed_len() {
            Some(n) => {
                let mut end = (pos + n).min(b.len());
                while !code.is_char_boundary(end) {
                    end += 1;
                }
                end
            }
            None => b[pos..]
                .iter()
                .position(|&c| c == GS)
                .map_or(b.len(), |i| pos + i),
        };
        let value = &code[pos..value_end];
        def.validate(value)?;
        push_ai(&mut ais, &def.code, value.to_owned())?;
        pos = value_end;
        if pos < b.len() && b[pos] != GS && !def.predefined {
            return Err(CodeError::MissingSeparator {
                ai: def.code.clone(),
                title: def.title,
                position: pos + 1,
            });
        }
    }
    Ok(ais)
}

/// The AI at `pos`: AIs are prefix-free, so at most one of the 2-, 3- and
/// 4-digit readings is defined.
fn read_ai(code: &str, pos: usize) -> Result<&'static AiDef, CodeError> {
    let b = code.as_bytes();
    let digits = b[pos..]
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    for len in 2..=digits {
        if let Some(def) = ai::lookup(&code[pos..pos + len]) {
            return Ok(def);
        }
    }
    if digits == 0 {
        let found = code[pos..]
            .chars()
            .next()
            .map_or_else(|| "the end".to_owned(), ai::show_char);
        return Err(CodeError::ExpectedAi {
            position: pos + 1,
            found,
        });
    }
    // Name the unknown AI by the digits that make it unknown: the longest prefix
    // some AI starts with, plus the digit that leaves the table.
    let mut len = 1;
    while len < digits && ai::is_prefix_of_some_ai(&code[pos..pos + len]) {
        len += 1;
    }
    let name = &code[pos..pos + len.max(2).min(digits)];
    if ai::is_prefix_of_some_ai(name) {
        return Err(CodeError::IncompleteAi {
            digits: name.to_owned(),
            position: pos + 1,
        });
    }
    Err(CodeError::UnknownAi {
        ai: name.to_owned(),
        position: pos + 1,
    })
}
