//! Batch records stored as a template and its holes, not as text.
//!
//! A batch's JSON is mostly its supply-chain stages, and stages repeat: the
//! same steps, places and actors in the same layout, batch after batch. At
//! national scale the text of them is most of an index (1.1 KB a batch, 12 GB
//! for 10 M batches), so a batch is stored coded:
//!
//! - its *template*: the record's text with every value taken out, marked by
//!   [`HOLE`]: the top-level members' values, and, in a top-level array of
//!   objects (`events`), each element's member values. Keys, punctuation and
//!   whitespace stay in the template, so any layout is kept byte for byte.
//!   Templates are few (one per field layout and stage count), kept once in
//!   the index's fragment dictionary.
//! - each hole's value, as one of the kinds below: a place or an actor is an
//!   interned fragment (or "the same as a recent hole"), a time is minutes
//!   after the one before, a date days after it, the GTIN and lot are those
//!   of the batch's own key.
//!
//! Decoding copies template text and fragments and writes digits: no
//! allocation beyond the answer, no `core::fmt`. The encoder decodes what it
//! wrote and compares it with the record; a record it cannot reproduce
//! exactly is stored as its text, so coding never changes an answer.
//!
//! ```text
//! coded  := 0x00 text                  the record as text
//!         | varint(template + 1) hole*  one per HOLE of the template, in order
//! hole   := varint(payload << 3 | kind) [extra]
//! kind 0 FRAG      payload: a fragment's id
//!      1 LIT       payload: a length; that many bytes follow
//!      2 SAME      payload: 1..=31, the value of that many holes back
//!      3 INT       payload: a non-negative integer, written in decimal
//!      4 DATE      payload: zigzag(days - clock's day): "YYYY-MM-DD"
//!      5 TIME      payload: zigzag(minutes - clock): "YYYY-MM-DDTHH:MM:00+HH:MM"
//!                  at the clock's UTC offset
//!      6 TIME_AT   as TIME, then varint(zigzag(offset minutes) << 1 | z):
//!                  sets the offset; z writes "Z" for +00:00
//!      7 KEY       payload 0: the batch's GTIN ("14 digits"), 1: its lot
//! ```
//! The clock is the local time, in minutes, of the last DATE or TIME hole
//! (a DATE sets it to that day's midnight); it starts at 0 at UTC+00:00.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// Marks a hole in a template: a control byte, which JSON text never holds
/// unescaped.
pub const HOLE: u8 = 0x01;

const FRAG: u64 = 0;
const LIT: u64 = 1;
const SAME: u64 = 2;
const INT: u64 = 3;
const DATE: u64 = 4;
const TIME: u64 = 5;
const TIME_AT: u64 = 6;
const KEY: u64 = 7;

/// How many holes back SAME reaches.
const SAME_BACK: usize = 31;

/// The day numbers dates may take: years 1 to 9999 (a corrupt payload must
/// not overflow the calendar).
const MIN_DAY: i64 = -719_162;
const MAX_DAY: i64 = 2_932_896;

/// The parts of a batch's key that its record repeats.
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    /// The GTIN's 14 digits.
    pub gtin: [u8; 14],
    pub lot: &'a [u8],
}

/// Why coded bytes could not be decoded: only a damaged index has them.
#[derive(Debug, PartialEq, Eq)]
pub struct Damaged(pub &'static str);

/// Appends the record coded as `coded` to `out`. `fragment` gives the
/// dictionary's fragment of an id.
pub fn decode<'d>(
    coded: &[u8],
    fragment: impl Fn(u64) -> Option<&'d [u8]>,
    keys: Keys<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Damaged> {
    let mut r = Reader {
        bytes: coded,
        at: 0,
    };
    let template = r.varint()?;
    if template == 0 {
        out.extend_from_slice(&coded[r.at..]);
        return Ok(());
    }
    let mut template = fragment(template - 1).ok_or(Damaged("no such template"))?;
    let mut clock = Clock::default();
    let mut days = DayText::new();
    out.reserve(template.len() + 8 * coded.len());
    // Where the recent holes' values lie in `out`, for SAME.
    let mut recent = [(0usize, 0usize); SAME_BACK + 1];
    let mut holes = 0usize;
    while let Some(at) = memchr::memchr(HOLE, template) {
        out.extend_from_slice(&template[..at]);
        template = &template[at + 1..];
        let start = out.len();
        let word = r.varint()?;
        let payload = word >> 3;
        match word & 7 {
            FRAG => out.extend_from_slice(fragment(payload).ok_or(Damaged("no such fragment"))?),
            LIT => out.extend_from_slice(r.take(payload)?),
            SAME => {
                let (from, to) = recent[(holes - same(payload, holes)?) % recent.len()];
                out.extend_from_within(from..to);
            }
            INT => {
                out.extend_from_slice(itoa::Buffer::new().format(payload).as_bytes());
            }
            DATE => {
                let day = clock.date(payload)?;
                out.push(b'"');
                out.extend_from_slice(days.of(day));
                out.push(b'"');
            }
            TIME | TIME_AT => {
                clock.time(word, &mut r)?;
                clock.write(&mut days, out);
            }
            KEY => match payload {
                0 => {
                    out.push(b'"');
                    out.extend_from_slice(&keys.gtin);
                    out.push(b'"');
                }
                1 => {
                    out.push(b'"');
                    out.extend_from_slice(keys.lot);
                    out.push(b'"');
                }
                _ => return Err(Damaged("an unknown key")),
            },
            _ => unreachable!("three bits"),
        }
        recent[holes % recent.len()] = (start, out.len());
        holes += 1;
    }
    out.extend_from_slice(template);
    if r.at != coded.len() {
        return Err(Damaged("bytes left after the last hole"));
    }
    Ok(())
}

/// Reads `coded` as [`decode`] does, without writing the record: `Ok`
/// exactly when `decode` would succeed. `seen` is told of each [`Part`]
/// `decode` would copy; verification checks those once each, and the rest
/// is JSON by construction.
pub fn check<'d>(
    coded: &[u8],
    fragment: impl Fn(u64) -> Option<&'d [u8]>,
    mut seen: impl FnMut(Part<'_>),
) -> Result<(), Damaged> {
    let mut r = Reader {
        bytes: coded,
        at: 0,
    };
    let template = r.varint()?;
    if template == 0 {
        seen(Part::Text(&coded[r.at..]));
        return Ok(());
    }
    seen(Part::Template(template - 1));
    let template = fragment(template - 1).ok_or(Damaged("no such template"))?;
    let mut clock = Clock::default();
    for holes in 0..memchr::memchr_iter(HOLE, template).count() {
        let word = r.varint()?;
        let payload = word >> 3;
        match word & 7 {
            FRAG => {
                fragment(payload).ok_or(Damaged("no such fragment"))?;
                seen(Part::Value(payload));
            }
            LIT => seen(Part::Literal(r.take(payload)?)),
            SAME => _ = same(payload, holes)?,
            INT => {}
            DATE => _ = clock.date(payload)?,
            TIME | TIME_AT => clock.time(word, &mut r)?,
            KEY => match payload {
                0 => {}
                1 => seen(Part::Lot),
                _ => return Err(Damaged("an unknown key")),
            },
            _ => unreachable!("three bits"),
        }
    }
    if r.at != coded.len() {
        return Err(Damaged("bytes left after the last hole"));
    }
    Ok(())
}

/// A part of a decoded record that [`decode`] copies rather than writes:
/// what verification must see to know the record is JSON. Everything else
/// a hole writes (digits, dates, times, the GTIN, a value repeated) is JSON
/// by construction.
#[derive(Debug)]
pub enum Part<'a> {
    /// The record stored as text.
    Text(&'a [u8]),
    /// The template of the record: fragment `id`.
    Template(u64),
    /// Fragment `id`, as a hole's value.
    Value(u64),
    /// A value written into the record itself (LIT).
    Literal(&'a [u8]),
    /// The batch's lot, written between quotes.
    Lot,
}

/// How many holes back a SAME hole of `payload` reaches, after `holes`
/// holes.
fn same(payload: u64, holes: usize) -> Result<usize, Damaged> {
    let back = payload as usize;
    if back == 0 || back > SAME_BACK || back > holes {
        return Err(Damaged("a repeat reaches before the first value"));
    }
    Ok(back)
}

/// `template` with each hole filled by a number standing alone (` 0 `), for
/// verification to parse: if that is a JSON object, so is every record
/// decoded from it, whose holes hold JSON values. `None` for a hole inside
/// a string, where no value can go (a number would pass there).
pub fn template_filled(template: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(template.len() + 32);
    let (mut in_string, mut escaped) = (false, false);
    for &b in template {
        if in_string {
            if b == HOLE {
                return None;
            }
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            out.push(b);
        } else if b == HOLE {
            out.extend_from_slice(b" 0 ");
        } else {
            in_string = b == b'"';
            out.push(b);
        }
    }
    Some(out)
}

/// The time the holes so far have reached.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Clock {
    /// Local minutes since 1970-01-01T00:00 at `offset`.
    minutes: i64,
    /// Minutes east of UTC.
    offset: i64,
    /// The offset is written `Z`.
    zulu: bool,
}

impl Clock {
    fn day(&self) -> i64 {
        self.minutes.div_euclid(1440)
    }

    /// Moves to the day of a DATE hole of `payload`; returns it.
    fn date(&mut self, payload: u64) -> Result<i64, Damaged> {
        let day = self.day() + unzigzag(payload)?;
        if !(MIN_DAY..=MAX_DAY).contains(&day) {
            return Err(Damaged("a date outside the calendar"));
        }
        self.minutes = day * 1440;
        Ok(day)
    }

    /// Moves to the time of a TIME or TIME_AT hole of `word`, reading a
    /// TIME_AT's offset from `r`.
    fn time(&mut self, word: u64, r: &mut Reader<'_>) -> Result<(), Damaged> {
        let minutes = self
            .minutes
            .checked_add(unzigzag(word >> 3)?)
            .ok_or(Damaged("a time outside the calendar"))?;
        if word & 7 == TIME_AT {
            let offset = r.varint()?;
            self.offset = unzigzag(offset >> 1)?;
            self.zulu = offset & 1 == 1;
            if self.offset.abs() >= 24 * 60 || (self.zulu && self.offset != 0) {
                return Err(Damaged("a UTC offset out of range"));
            }
        }
        if !(MIN_DAY * 1440..=MAX_DAY * 1440).contains(&minutes) {
            return Err(Damaged("a time outside the calendar"));
        }
        self.minutes = minutes;
        Ok(())
    }

    /// `"YYYY-MM-DDTHH:MM:00+HH:MM"` (or `Z`), quotes included, in one
    /// copy.
    fn write(&self, days: &mut DayText, out: &mut Vec<u8>) {
        let in_day = self.minutes.rem_euclid(1440) as u64;
        let mut t = *b"\"YYYY-MM-DDTHH:MM:00+HH:MM\"";
        t[1..11].copy_from_slice(days.of(self.day()));
        t[12..14].copy_from_slice(&two(in_day / 60));
        t[15..17].copy_from_slice(&two(in_day % 60));
        if self.zulu {
            t[20] = b'Z';
            t[21] = b'"';
            return out.extend_from_slice(&t[..22]);
        }
        let offset = self.offset.unsigned_abs();
        t[20] = if self.offset < 0 { b'-' } else { b'+' };
        t[21..23].copy_from_slice(&two(offset / 60));
        t[24..26].copy_from_slice(&two(offset % 60));
        out.extend_from_slice(&t);
    }
}

/// The text of the last day written: most stages of a batch fall on a day
/// already written, most of the others in a month already written, and the
/// calendar's arithmetic is the dearest part of a time.
struct DayText {
    day: i64,
    /// The first day of `day`'s month, and its number of days.
    month_first: i64,
    month_days: i64,
    text: [u8; 10],
}

impl DayText {
    fn new() -> DayText {
        DayText {
            day: i64::MIN,
            month_first: i64::MIN,
            month_days: 0,
            text: [0; 10],
        }
    }

    /// `YYYY-MM-DD` of `day` (days since 1970-01-01, within the calendar).
    fn of(&mut self, day: i64) -> &[u8; 10] {
        if day == self.day {
            return &self.text;
        }
        let in_month = day.wrapping_sub(self.month_first);
        if (0..self.month_days).contains(&in_month) {
            self.text[8..10].copy_from_slice(&two(in_month as u64 + 1));
        } else {
            let date = crate::date::Date::from_days(day);
            let year = date.year.max(0) as u64;
            self.text[..2].copy_from_slice(&two(year / 100 % 100));
            self.text[2..4].copy_from_slice(&two(year % 100));
            self.text[4] = b'-';
            self.text[5..7].copy_from_slice(&two(u64::from(date.month)));
            self.text[7] = b'-';
            self.text[8..10].copy_from_slice(&two(u64::from(date.day)));
            self.month_first = day - i64::from(date.day) + 1;
            self.month_days = i64::from(crate::date::days_in_month(date.year, date.month));
        }
        self.day = day;
        &self.text
    }
}

/// Two decimal digits of `n` (below 100).
fn two(n: u64) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// A record's coding worked out on its own, apart from the dictionary, so
/// that the costly part (splitting the text, classifying each value, decoding
/// the result to compare it with the record) runs on any thread;
/// [`Encoder::add`] then only gives the fragments their ids, in record order.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The record's template; empty when the record is kept as text.
    template: Vec<u8>,
    /// The holes, coded, where a FRAG's payload is `k` for the value at
    /// `values[k - 1]` (0 stands for the template).
    holes: Vec<u8>,
    /// Where the fragment values lie in the record.
    values: Vec<(usize, usize)>,
}

/// Works out how `json`, a batch record whose key is `keys`, is coded.
/// A record the coder cannot reproduce byte for byte is kept as text, so
/// coding never changes an answer.
pub fn prepare(json: &[u8], keys: Keys<'_>) -> Prepared {
    // Sized for a batch of some thirty holes, so that none of them grows.
    let mut p = Prepared {
        template: Vec::with_capacity(json.len()),
        holes: Vec::with_capacity(64),
        values: Vec::with_capacity(32),
    };
    let mut spans = Vec::with_capacity(64);
    if skeleton(json, &mut p.template, &mut spans).is_none() || spans.is_empty() {
        return Prepared::default();
    }
    let mut clock = Clock::default();
    for (k, &(from, to)) in spans.iter().enumerate() {
        p.hole(&json[from..to], k, &spans, json, keys, &mut clock);
    }
    // Decode what was worked out with the record's own fragments.
    let mut local = Vec::with_capacity(p.holes.len() + 1);
    varint(&mut local, 1);
    local.extend_from_slice(&p.holes);
    let fragment = |id: u64| match id {
        0 => Some(&p.template[..]),
        k => p.values.get(k as usize - 1).map(|&(f, t)| &json[f..t]),
    };
    let mut decoded = Vec::with_capacity(json.len());
    if decode(&local, fragment, keys, &mut decoded).is_err() || decoded != json {
        return Prepared::default();
    }
    p
}

impl Prepared {
    /// Codes the value `value` of hole `k` (`holes` are the spans of all of
    /// the record's holes, in `json`).
    fn hole(
        &mut self,
        value: &[u8],
        k: usize,
        holes: &[(usize, usize)],
        json: &[u8],
        keys: Keys<'_>,
        clock: &mut Clock,
    ) {
        let out = &mut self.holes;
        let quoted = |v: &[u8], inner: &[u8]| {
            v.len() == inner.len() + 2 && v[0] == b'"' && &v[1..v.len() - 1] == inner
        };
        if quoted(value, &keys.gtin) {
            return varint(out, KEY);
        }
        if quoted(value, keys.lot) {
            return varint(out, 1 << 3 | KEY);
        }
        if let Some(new) = read_time(value) {
            let delta = zigzag(new.minutes - clock.minutes);
            if (new.offset, new.zulu) == (clock.offset, clock.zulu) {
                varint(out, delta << 3 | TIME);
            } else {
                varint(out, delta << 3 | TIME_AT);
                varint(out, zigzag(new.offset) << 1 | u64::from(new.zulu));
            }
            *clock = new;
            return;
        }
        if let Some(day) = read_date(value) {
            varint(out, zigzag(day - clock.day()) << 3 | DATE);
            clock.minutes = day * 1440;
            return;
        }
        let back = (1..=SAME_BACK.min(k)).find(|&b| {
            let (from, to) = holes[k - b];
            &json[from..to] == value
        });
        if let Some(back) = back {
            return varint(out, (back as u64) << 3 | SAME);
        }
        if let Some(n) = read_int(value).filter(|&n| n < 1 << 61) {
            return varint(out, n << 3 | INT);
        }
        self.values.push(holes[k]);
        varint(out, (self.values.len() as u64) << 3 | FRAG);
    }
}

/// Gives coded records' templates and fragments their ids, collecting the
/// fragment dictionary as it goes.
pub struct Encoder {
    /// Fragment ids by the hash of their text, which only the dictionary
    /// holds.
    ids: HashTable<u32>,
    /// The dictionary: fragment `i` is `bytes[ends[i - 1]..ends[i]]`.
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// The dictionary stops growing at this many bytes; values met after
    /// that are written into the records that hold them.
    limit: usize,
}

/// The dictionary's default bound: values unique to a record (a note, a
/// certificate number) would otherwise grow it without end.
pub const DICTIONARY_LIMIT: usize = 256 << 20;

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::with_limit(DICTIONARY_LIMIT)
    }
}

impl Encoder {
    pub fn with_limit(limit: usize) -> Encoder {
        Encoder {
            ids: HashTable::new(),
            bytes: Vec::new(),
            ends: Vec::new(),
            limit,
        }
    }

    /// The dictionary: its bytes, and where each fragment ends.
    pub fn finish(self) -> (Vec<u8>, Vec<u32>) {
        (self.bytes, self.ends)
    }

    /// Appends `json`, a batch record whose key is `keys`, coded, to `out`:
    /// [`prepare`] and [`Encoder::add`] on one thread.
    pub fn encode(&mut self, json: &[u8], keys: Keys<'_>, out: &mut Vec<u8>) {
        self.add(json, &prepare(json, keys), out);
    }

    /// Appends `json`, coded as `prepared` (which [`prepare`] made of it),
    /// to `out`, adding its template and fragments to the dictionary. A
    /// fragment the full dictionary has no room for is written into the
    /// record; a template, and the record is kept as text.
    pub fn add(&mut self, json: &[u8], prepared: &Prepared, out: &mut Vec<u8>) {
        let start = out.len();
        if self.try_add(json, prepared, out).is_none() {
            out.truncate(start);
            out.push(0);
            out.extend_from_slice(json);
        }
    }

    fn try_add(&mut self, json: &[u8], p: &Prepared, out: &mut Vec<u8>) -> Option<()> {
        if p.template.is_empty() {
            return None;
        }
        varint(out, self.intern(&p.template)? + 1);
        let mut r = Reader {
            bytes: &p.holes,
            at: 0,
        };
        // Decoding is unchanged: a FRAG or a LIT of the same value writes
        // the same bytes, and every other hole is copied as it is.
        while r.at < p.holes.len() {
            let word = r.varint().ok()?;
            match word & 7 {
                FRAG => {
                    let k = usize::try_from(word >> 3).ok()?.checked_sub(1)?;
                    let &(from, to) = p.values.get(k)?;
                    let value = json.get(from..to)?;
                    match self.intern(value) {
                        Some(id) => varint(out, id << 3 | FRAG),
                        None => {
                            varint(out, (value.len() as u64) << 3 | LIT);
                            out.extend_from_slice(value);
                        }
                    }
                }
                TIME_AT => {
                    varint(out, word);
                    varint(out, r.varint().ok()?);
                }
                _ => varint(out, word),
            }
        }
        Some(())
    }

    /// The id of `fragment`, added to the dictionary if it has room.
    fn intern(&mut self, fragment: &[u8]) -> Option<u64> {
        let hash = xxh3_64(fragment);
        fn text<'d>(bytes: &'d [u8], ends: &[u32], id: u32) -> Option<&'d [u8]> {
            fragment_of(bytes, ends, u64::from(id))
        }
        let (bytes, ends) = (&self.bytes, &self.ends);
        if let Some(&id) = self
            .ids
            .find(hash, |&id| text(bytes, ends, id) == Some(fragment))
        {
            return Some(u64::from(id));
        }
        // Within the limit, ids and ends stay far below `u32::MAX`.
        if self.bytes.len() + fragment.len() > self.limit.min(u32::MAX as usize) {
            return None;
        }
        let id = self.ends.len() as u32;
        self.bytes.extend_from_slice(fragment);
        self.ends.push(self.bytes.len() as u32);
        let (bytes, ends) = (&self.bytes, &self.ends);
        self.ids.insert_unique(hash, id, |&id| {
            xxh3_64(text(bytes, ends, id).unwrap_or_default())
        });
        Some(u64::from(id))
    }
}

/// Fragment `id` of a dictionary (`None` past its end or for ends out of
/// order, which only a damaged index has).
pub fn fragment_of<'d>(bytes: &'d [u8], ends: &[u32], id: u64) -> Option<&'d [u8]> {
    let id = usize::try_from(id).ok()?;
    let end = *ends.get(id)? as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    bytes.get(start..end)
}

/// Splits a JSON object into its template (written to `template`) and the
/// spans of its holes. `None` for text that is not an object of members
/// (the record is then kept as text). Each byte is scanned once.
fn skeleton(json: &[u8], template: &mut Vec<u8>, holes: &mut Vec<(usize, usize)>) -> Option<()> {
    let mut copied = 0;
    let mut hole = |template: &mut Vec<u8>, from: usize, to: usize, copied: &mut usize| {
        template.extend_from_slice(&json[*copied..from]);
        template.push(HOLE);
        holes.push((from, to));
        *copied = to;
    };
    let at = ws(json, 0);
    if json.get(at) != Some(&b'{') {
        return None;
    }
    let end = members(json, at, |from| {
        if json[from] != b'[' {
            let to = value_end(json, from)?;
            hole(template, from, to, &mut copied);
            return Some(to);
        }
        // A top-level array: each object element's values are holes, any
        // other element is one.
        let mut i = ws(json, from + 1);
        if json.get(i) == Some(&b']') {
            hole(template, from, i + 1, &mut copied);
            return Some(i + 1);
        }
        loop {
            let end = if json.get(i) == Some(&b'{') {
                members(json, i, |f| {
                    let t = value_end(json, f)?;
                    hole(template, f, t, &mut copied);
                    Some(t)
                })?
            } else {
                let end = value_end(json, i)?;
                hole(template, i, end, &mut copied);
                end
            };
            i = ws(json, end);
            match json.get(i)? {
                b',' => i = ws(json, i + 1),
                b']' => return Some(i + 1),
                _ => return None,
            }
        }
    })?;
    if ws(json, end) != json.len() {
        return None;
    }
    template.extend_from_slice(&json[copied..]);
    Some(())
}

/// Calls `value` with where each member value of the object at `at`
/// starts; it returns where the value ends. Returns where the object ends.
fn members(json: &[u8], at: usize, mut value: impl FnMut(usize) -> Option<usize>) -> Option<usize> {
    let mut i = ws(json, at + 1);
    if json.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if json.get(i) != Some(&b'"') {
            return None;
        }
        i = ws(json, string_end(json, i)?);
        if json.get(i) != Some(&b':') {
            return None;
        }
        let from = ws(json, i + 1);
        if from >= json.len() {
            return None;
        }
        i = ws(json, value(from)?);
        match json.get(i)? {
            b',' => i = ws(json, i + 1),
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Past the whitespace at `i`.
fn ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Past the string starting at `i` (its opening quote).
fn string_end(json: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', json.get(i..)?)?;
        match json[i] {
            b'"' => return Some(i + 1),
            _ => i += 2,
        }
    }
}

/// Past the value starting at `i`. Relies on the text being JSON (records
/// are parsed before they are coded); a wrong guess costs only the coding.
fn value_end(json: &[u8], i: usize) -> Option<usize> {
    match json.get(i)? {
        b'"' => string_end(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = string_end(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while json
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// `n` digits at the start of `s`.
fn digits(s: &[u8], n: usize) -> Option<i64> {
    let d = s.get(..n)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0i64, |n, &b| n * 10 + i64::from(b - b'0')))
}

/// `"YYYY-MM-DD"`, quotes included, as days since 1970-01-01.
fn read_date(v: &[u8]) -> Option<i64> {
    if v.len() != 12 || v[0] != b'"' || v[11] != b'"' {
        return None;
    }
    ymd(&v[1..11])
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn ymd(v: &[u8]) -> Option<i64> {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(v, 4)?, digits(&v[5..], 2)?, digits(&v[8..], 2)?);
    let valid = (1..=12).contains(&m)
        && d >= 1
        && d <= i64::from(crate::date::days_in_month(y as i32, m as u32))
        && y >= 1;
    valid.then(|| {
        crate::date::Date {
            year: y as i32,
            month: m as u32,
            day: d as u32,
        }
        .to_days()
    })
}

/// `"YYYY-MM-DDTHH:MM:00+HH:MM"` or `…:00Z"`: local minutes and offset.
/// Times with seconds or fractions are kept as fragments.
fn read_time(v: &[u8]) -> Option<Clock> {
    let n = v.len();
    if n < 22 || v[0] != b'"' || v[n - 1] != b'"' || v[11] != b'T' || v[14] != b':' {
        return None;
    }
    let day = ymd(&v[1..11])?;
    let (h, m) = (digits(&v[12..], 2)?, digits(&v[15..], 2)?);
    if h > 23 || m > 59 || &v[17..20] != b":00" {
        return None;
    }
    let (offset, zulu) = match &v[20..n - 1] {
        b"Z" => (0, true),
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let (oh, om) = (digits(rest, 2)?, digits(&rest[3..], 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            (if *sign == b'-' { -minutes } else { minutes }, false)
        }
        _ => return None,
    };
    // "-00:00" means something else than "+00:00" (RFC 3339 4.3); not coded.
    if offset == 0 && !zulu && v[20] == b'-' {
        return None;
    }
    Some(Clock {
        minutes: day * 1440 + h * 60 + m,
        offset,
        zulu,
    })
}

/// A JSON integer without sign, leading zero or fraction.
fn read_int(v: &[u8]) -> Option<u64> {
    if v.is_empty()
        || v.len() > 19
        || !v.iter().all(u8::is_ascii_digit)
        || (v[0] == b'0' && v.len() > 1)
    {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')))
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> Result<i64, Damaged> {
    // Values past this could overflow the clock; no record has them.
    if n > 1 << 40 {
        return Err(Damaged("a step of time out of range"));
    }
    Ok((n >> 1) as i64 ^ -((n & 1) as i64))
}

/// LEB128.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Damaged> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or(Damaged("cut short"))?;
            self.at += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(Damaged("a number over 64 bits"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Damaged> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.at.checked_add(n))
            .filter(|&end| end <= self.bytes.len())
            .ok_or(Damaged("cut short"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GTIN: [u8; 14] = *b"08930002000017";

    fn keys() -> Keys<'static> {
        Keys {
            gtin: GTIN,
            lot: b"L2510",
        }
    }

    fn round_trip(enc: &mut Encoder, json: &str) -> Vec<u8> {
        let mut coded = Vec::new();
        enc.encode(json.as_bytes(), keys(), &mut coded);
        let (bytes, ends) = (enc.bytes.clone(), enc.ends.clone());
        let mut out = Vec::new();
        decode(
            &coded,
            |id| fragment_of(&bytes, &ends, id),
            keys(),
            &mut out,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), json);
        assert_eq!(
            check(&coded, |id| fragment_of(&bytes, &ends, id), |_| {}),
            Ok(())
        );
        coded
    }

    const BATCH: &str = r#"{"gtin": "08930002000017", "lot": "L2510", "production_date": "2025-01-01", "expiry_date": "2026-03-01", "quantity": 1000, "events": [{"step": "harvesting", "time": "2025-01-01T07:00:00+07:00", "place": {"name": "Cát Hải", "province": "Hải Phòng"}, "actor": {"gln": "8930001000018", "name": "HTX"}}, {"step": "processing", "time": "2025-01-01T08:13:00+07:00", "place": {"name": "Cát Hải", "province": "Hải Phòng"}, "actor": {"gln": "8930001000018", "name": "HTX"}}, {"step": "shipping", "time": "2025-01-02T23:52:00Z", "place": {"name": "Long Biên"}, "actor": {"gln": "8930003000047"}}]}"#;

    #[test]
    fn a_batch_is_coded_small_and_decoded_byte_for_byte() {
        let mut enc = Encoder::default();
        round_trip(&mut enc, BATCH);
        // The second batch of the same layout pays no template or fragment.
        let second = BATCH
            .replace("1000", "1200")
            .replace("07:00:00", "06:40:00");
        let coded = round_trip(&mut enc, &second);
        assert!(coded[0] != 0, "coded, not kept as text");
        assert!(coded.len() < 40, "{} bytes", coded.len());
    }

    #[test]
    fn records_it_cannot_reproduce_are_kept_as_text() {
        let mut enc = Encoder::default();
        for json in [
            "[1, 2]",
            "{}",
            r#"{"a": 1} trailing"#,
            r#"{"time": "2025-01-01T07:00:00.5+07:00", "n": -3, "x": 1e5, "z": 012}"#,
            r#"{"t": "2025-01-01T07:00:00-00:00", "d": "2025-02-30"}"#,
        ] {
            round_trip(&mut enc, json);
        }
        let mut coded = Vec::new();
        enc.encode(b"{}", keys(), &mut coded);
        assert_eq!(coded, b"\0{}");
    }

    #[test]
    fn escapes_whitespace_and_nesting_are_kept() {
        let mut enc = Encoder::default();
        round_trip(
            &mut enc,
            "{ \"note\" : \"a \\\"quoted\\\" \\\\ word\",\n\t\"events\" : [ 1 , {\"x\":[{}]} , [] , \"s\" ], \"e\": [ ] }",
        );
    }

    #[test]
    fn a_full_dictionary_writes_values_into_the_record() {
        let mut enc = Encoder::with_limit(200);
        round_trip(&mut enc, BATCH);
        let (bytes, _) = enc.finish();
        assert!(bytes.len() <= 200);
    }

    #[test]
    fn a_template_is_checked_with_its_holes_filled_by_a_number_standing_alone() {
        let filled = |t: &[u8]| template_filled(t).map(|f| String::from_utf8(f).unwrap());
        assert_eq!(filled(b"{\"a\": \x01}").unwrap(), "{\"a\":  0 }");
        // A hole glued to a number or a word no longer parses.
        let glued = filled(b"{\"a\": 1\x01}").unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&glued).is_err(),
            "{glued}"
        );
        // Inside a string (escaped quotes included), no value can go.
        assert_eq!(filled(b"{\"a\x01\": 1}"), None);
        assert_eq!(filled(b"{\"a\\\"\x01\": 1}"), None);
        assert!(filled(b"{\"a\\\\\": \x01}").is_some());
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let mut enc = Encoder::default();
        let mut coded = Vec::new();
        enc.encode(BATCH.as_bytes(), keys(), &mut coded);
        let (bytes, ends) = enc.finish();
        let fragment = |id| fragment_of(&bytes, &ends, id);
        // What verification's walk says of any bytes is what decoding does.
        let both = |bad: &[u8]| {
            let decoded = decode(bad, fragment, keys(), &mut Vec::new());
            assert_eq!(check(bad, fragment, |_| {}), decoded, "{bad:?}");
            decoded
        };
        for cut in 0..coded.len() {
            assert!(both(&coded[..cut]).is_err());
        }
        for i in 0..coded.len() {
            for flip in [0x01, 0x08, 0x40, 0x80, 0xff] {
                let mut bad = coded.clone();
                bad[i] ^= flip;
                let _ = both(&bad);
            }
        }
        for word in [u64::MAX, 1 << 62 | DATE, 1 << 41 | TIME, 9 << 3 | KEY] {
            let mut bad = vec![1];
            varint(&mut bad, word);
            assert!(both(&bad).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn a_day_is_written_as_the_calendar_has_it_whatever_came_before(
            start in MIN_DAY..=MAX_DAY,
            steps in proptest::collection::vec(-800i64..800, 1..40),
        ) {
            // Steps of days to months, forward and back, from anywhere in
            // the calendar: across months, years and leap days.
            let mut days = DayText::new();
            let mut day = start;
            for step in steps {
                day = (day + step).clamp(MIN_DAY, MAX_DAY);
                let mut want = Vec::new();
                crate::date::Date::from_days(day).write_to(&mut want);
                proptest::prop_assert_eq!(&days.of(day)[..], &want[..], "day {}", day);
            }
        }

        #[test]
        fn any_json_object_round_trips(value in json_object()) {
            let mut enc = Encoder::default();
            // A value outside an array is always a hole, and a record with
            // a hole is coded (one with none is as short as text).
            let coded = value.as_object().unwrap().values().any(|v| !v.is_array());
            let text = value.to_string();
            proptest::prop_assert!(round_trip(&mut enc, &text)[0] != 0 || !coded);
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            proptest::prop_assert!(round_trip(&mut enc, &pretty)[0] != 0 || !coded);
        }
    }

    fn json_object() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (0i64..200_000, 0u32..1440, -720i64..840).prop_map(|(d, m, o)| {
                let mut t = Vec::new();
                Clock {
                    minutes: d * 1440 + i64::from(m),
                    offset: o,
                    zulu: false,
                }
                .write(&mut DayText::new(), &mut t);
                serde_json::from_slice(&t).unwrap()
            }),
            "[ -~À-ỹ\"\\\\]{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from("08930002000017")),
            Just(serde_json::Value::from("L2510")),
            Just(serde_json::Value::from("2025-01-01")),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map("[a-z]{1,6}", value, 0..6)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
    }
}
