//! Calendar dates and times: the one place that knows month lengths, the civil
//! calendar, and how to print RFC 3339.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// The date as the number YYYYMMDD (the index stores 0 for "none").
    pub fn to_yyyymmdd(self) -> u32 {
        self.year as u32 * 10000 + self.month * 100 + self.day
    }

    pub fn from_yyyymmdd(n: u32) -> Date {
        Date {
            year: (n / 10000) as i32,
            month: n / 100 % 100,
            day: n % 100,
        }
    }

    /// Days since 1970-01-01 (after Howard Hinnant's `days_from_civil`).
    pub fn to_days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        civil(days * 86_400).0
    }

    /// Today's date at a UTC offset (Vietnam is UTC+7: an expiry date is a
    /// local date, and a product expires at local midnight, not UTC's).
    pub fn today(utc_offset_seconds: i64) -> Date {
        Date::at(unix_now(), utc_offset_seconds)
    }

    /// The date at Unix time `unix` at a UTC offset.
    pub fn at(unix: i64, utc_offset_seconds: i64) -> Date {
        civil(unix + utc_offset_seconds).0
    }
}

impl Date {
    /// Appends `YYYY-MM-DD`, without `core::fmt` (answers write dates).
    pub fn write_to(self, out: &mut Vec<u8>) {
        push_padded(out, self.year.max(0) as u64, 4);
        out.push(b'-');
        push_padded(out, u64::from(self.month), 2);
        out.push(b'-');
        push_padded(out, u64::from(self.day), 2);
    }
}

/// Appends `n` in decimal, zero-padded to `width` digits.
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut rest = n;
    let mut len = 0;
    while rest > 0 || len < width {
        digits[19 - len] = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
    }
    out.extend_from_slice(&digits[20 - len..]);
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = Vec::with_capacity(10);
        self.write_to(&mut text);
        f.write_str(std::str::from_utf8(&text).expect("ASCII digits"))
    }
}

/// Days in `month` of `year` (Gregorian).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The civil date and the seconds into that day of a Unix time (after Howard
/// Hinnant's `civil_from_days`).
pub fn civil(unix: i64) -> (Date, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (Date { year, month, day }, secs)
}

/// A Unix time as RFC 3339 in UTC, e.g. `2026-11-22T02:21:19Z`.
pub fn rfc3339_utc(unix: i64) -> String {
    let mut text = Vec::with_capacity(20);
    write_rfc3339_utc(&mut text, unix);
    String::from_utf8(text).expect("ASCII digits")
}

/// Appends what [`rfc3339_utc`] returns, without `core::fmt` (an item
/// answer writes its first scan).
pub fn write_rfc3339_utc(out: &mut Vec<u8>, unix: i64) {
    let (date, secs) = civil(unix);
    date.write_to(out);
    out.push(b'T');
    push_padded(out, (secs / 3600) as u64, 2);
    out.push(b':');
    push_padded(out, (secs / 60 % 60) as u64, 2);
    out.push(b':');
    push_padded(out, (secs % 60) as u64, 2);
    out.push(b'Z');
}

/// Reads back what [`rfc3339_utc`] writes (`YYYY-MM-DDTHH:MM:SSZ`) as a Unix
/// time; `None` for anything else.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let date = Date {
        year: num(0..4)? as i32,
        month: num(5..7)?,
        day: num(8..10)?,
    };
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let valid = (1..=12).contains(&date.month)
        && (1..=days_in_month(date.year, date.month)).contains(&date.day)
        && h < 24
        && m < 60
        && sec < 60
        && b[13] == b':'
        && b[16] == b':';
    valid.then(|| date.to_days() * 86_400 + i64::from(h * 3600 + m * 60 + sec))
}

/// Reads an RFC 3339 time at any offset (a fraction of a second is dropped)
/// as a Unix time; `None` unless [`check_rfc3339`] accepts it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    check_rfc3339(s).ok()?;
    let date = parse_iso_date(&s[..10]).ok()?;
    let (h, m, sec) = (digits(s, 11..13)?, digits(s, 14..16)?, digits(s, 17..19)?);
    // check_rfc3339 has seen the zone: `Z` or `±HH:MM`, at the end.
    let offset = if s.ends_with(['Z', 'z']) {
        0
    } else {
        parse_utc_offset(&s[s.len() - 6..]).ok()?
    };
    let local = date.to_days() * 86_400 + i64::from(h * 3600 + m * 60 + sec.min(59));
    Some(local - offset)
}

/// A date as Vietnamese readers write it: `02/02/2026`.
pub fn dmy(date: Date) -> String {
    format!("{:02}/{:02}/{:04}", date.day, date.month, date.year)
}

/// A Unix time at a UTC offset as Vietnamese readers write it:
/// `02/02/2026 08:13`.
pub fn dmy_hm(unix: i64, utc_offset_seconds: i64) -> String {
    let (date, secs) = civil(unix + utc_offset_seconds);
    format!("{} {:02}:{:02}", dmy(date), secs / 3600, secs / 60 % 60)
}

/// Parses a UTC offset written `+HH:MM` or `-HH:MM` (at most ±14:59, the
/// widest offset in use) into seconds.
pub fn parse_utc_offset(s: &str) -> Result<i64, String> {
    let bad = || format!("expected an offset such as +07:00, found {s:?}");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// The digits at `range` of `s` as a number; `None` unless all are digits.
fn digits(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

/// Parses an ISO 8601 calendar date, `YYYY-MM-DD`, that is in the calendar.
pub fn parse_iso_date(s: &str) -> Result<Date, String> {
    let b = s.as_bytes();
    let shape = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let (Some(year), Some(month), Some(day)) = (digits(s, 0..4), digits(s, 5..7), digits(s, 8..10))
    else {
        return Err(format!("expected a date as YYYY-MM-DD, found {s:?}"));
    };
    if !shape {
        return Err(format!("expected a date as YYYY-MM-DD, found {s:?}"));
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year as i32, month) {
        return Err(format!("{s} is not a date in the calendar"));
    }
    Ok(Date {
        year: year as i32,
        month,
        day,
    })
}

/// Checks an RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn check_rfc3339(s: &str) -> Result<(), String> {
    let bad =
        || format!("expected an RFC 3339 time such as 2026-11-21T08:30:00+07:00, found {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    parse_iso_date(&s[..10]).map_err(|_| bad())?;
    let (Some(h), Some(m), Some(sec)) = (digits(s, 11..13), digits(s, 14..16), digits(s, 17..19))
    else {
        return Err(bad());
    };
    if b[13] != b':' || b[16] != b':' || h > 23 || m > 59 || sec > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        rest = &frac[n..];
    }
    let zone_ok = match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => {
            digits(rest, 1..3).is_some_and(|h| h <= 23)
                && digits(rest, 4..6).is_some_and(|m| m <= 59)
        }
        _ => false,
    };
    if !zone_ok {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_at_any_offset_is_shown_at_the_services_offset() {
        let t = parse_rfc3339("2026-02-02T08:13:00+07:00").unwrap();
        assert_eq!(rfc3339_utc(t), "2026-02-02T01:13:00Z");
        assert_eq!(dmy_hm(t, 7 * 3600), "02/02/2026 08:13");
        let z = parse_rfc3339("2026-02-01T23:30:00.250Z").unwrap();
        assert_eq!(dmy_hm(z, 7 * 3600), "02/02/2026 06:30");
        let west = parse_rfc3339("2026-02-01T20:00:00-05:00").unwrap();
        assert_eq!(dmy_hm(west, 7 * 3600), "02/02/2026 08:00");
        assert_eq!(parse_rfc3339("2026-02-02 08:13"), None);
        assert_eq!(parse_rfc3339("2026-02-30T08:13:00Z"), None);
    }

    #[test]
    fn dates_and_times_are_written_zero_padded_and_read_back() {
        for t in [0, 59, 86_399, 951_782_400, 1_796_102_469, 253_402_300_799] {
            let text = rfc3339_utc(t);
            assert_eq!(text.len(), 20, "{text}");
            assert_eq!(parse_rfc3339_utc(&text), Some(t), "{text}");
        }
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(253_402_300_799), "9999-12-31T23:59:59Z");
        let date = Date {
            year: 812,
            month: 3,
            day: 7,
        };
        assert_eq!(date.to_string(), "0812-03-07");
    }
}
