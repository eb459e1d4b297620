//! One snapshot line judged on its own: parsed, type-checked, normalised.
//!
//! Checks that need other records (duplicate keys, a batch's product, an item's
//! lot) belong to the build, which sees them all. Products and batches keep
//! every field they came with, in order, so that a record round-trips; the GTIN
//! is rewritten in its 14-digit form.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::code::{Gtin, is_cset82};
use crate::date::{self, Date};
use crate::resolver::links::{self, Link, LinkError};

/// The status of a product or batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Active = 0,
    Recalled = 1,
    Withdrawn = 2,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Recalled => "recalled",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn from_u8(n: u8) -> Status {
        match n {
            1 => Status::Recalled,
            2 => Status::Withdrawn,
            _ => Status::Active,
        }
    }
}

/// A valid product line.
#[derive(Clone, Debug)]
pub struct Product {
    pub gtin: Gtin,
    pub name: String,
    pub status: Status,
    pub recall_notice: Option<String>,
    pub links: Vec<Link>,
    /// The record as JSON, every field kept, GTIN in 14 digits.
    pub json: String,
}

/// A valid batch line.
#[derive(Clone, Debug)]
pub struct Batch {
    pub gtin: Gtin,
    pub lot: String,
    pub status: Status,
    pub recall_notice: Option<String>,
    /// The registered expiry date, if any.
    pub expiry: Option<Date>,
    pub links: Vec<Link>,
    pub json: String,
}

/// A valid item line, borrowing from the line where it can (items are the
/// bulk of a snapshot: no allocation per item on the common path).
#[derive(Clone, Debug)]
pub struct Item<'a> {
    pub gtin: Gtin,
    pub serial: Cow<'a, str>,
    pub lot: Option<Cow<'a, str>>,
    pub stamp: Option<Cow<'a, str>>,
    pub void: bool,
    /// Its own links; most items have none.
    pub links: Vec<Link>,
}

impl Item<'_> {
    /// The key a rejects report gives an item: GTIN-14 and serial.
    pub fn key(&self) -> String {
        format!("{}/{}", self.gtin, self.serial)
    }
}

/// Why a line is rejected: the `reason` of the rejects report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Longer than [`crate::snapshot::MAX_LINE`]: skipped unread.
    LineTooLong,
    InvalidJson,
    MissingField,
    InvalidField,
    UnknownField,
    DuplicateKey,
    UnknownProduct,
    UnknownLot,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::LineTooLong => "line_too_long",
            Reason::InvalidJson => "invalid_json",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::UnknownField => "unknown_field",
            Reason::DuplicateKey => "duplicate_key",
            Reason::UnknownProduct => "unknown_product",
            Reason::UnknownLot => "unknown_lot",
        }
    }
}

/// A rejected line: why, and the record's key where it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub key: Option<String>,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, key: Option<String>, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            key,
            detail: detail.into(),
        }
    }
}

type Result<T> = std::result::Result<T, Rejection>;

/// Reads a product line.
pub fn product(line: &[u8]) -> Result<Product> {
    plain_product(line).map_or_else(|| product_parsed(line), Ok)
}

/// The fields of a product line that its checks read, borrowed from the
/// line; any others are kept in its JSON unread.
#[derive(Deserialize)]
struct PlainProduct<'a> {
    #[serde(borrow)]
    gtin: Digits14<'a>,
    name: &'a str,
    /// Only required to be strings, as the certifications.
    #[expect(dead_code)]
    #[serde(borrow, default)]
    brand: Option<&'a str>,
    #[expect(dead_code)]
    #[serde(borrow, default)]
    category: Option<&'a str>,
    #[expect(dead_code)]
    #[serde(borrow, default)]
    description: Option<&'a str>,
    #[expect(dead_code)]
    #[serde(borrow, default)]
    net_content: Option<&'a str>,
    #[serde(borrow, default)]
    recall_notice: Option<&'a str>,
    #[serde(borrow, default)]
    image: Option<&'a str>,
    /// Objects, checked to be so before they are read (a struct also reads
    /// from an array).
    #[serde(borrow, default)]
    producer: Option<&'a RawValue>,
    #[serde(borrow, default)]
    origin: Option<&'a RawValue>,
    #[serde(default)]
    ocop_stars: Option<u64>,
    #[expect(dead_code)]
    #[serde(borrow, default)]
    certifications: Option<Vec<&'a str>>,
    /// Present, even as `null`: read as a document, as the full path does.
    #[serde(borrow, default, deserialize_with = "present")]
    links: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a str>,
    #[serde(borrow, default)]
    updated_at: Option<&'a str>,
}

/// A GTIN written in 14 digits, borrowed. Most product lines write 13: they
/// leave the plain path at the field, not after reading the whole line.
struct Digits14<'a>(&'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Digits14<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <&'de str>::deserialize(d)?;
        if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Digits14(s))
        } else {
            Err(serde::de::Error::custom("not a GTIN in 14 digits"))
        }
    }
}

/// A product's `producer` or `origin`: every field a string, or absent;
/// only a producer's GLN is read further.
#[derive(Deserialize)]
#[expect(dead_code)]
struct PlainPlace<'a> {
    #[serde(borrow, default)]
    gln: Option<&'a str>,
    #[serde(borrow, default)]
    name: Option<&'a str>,
    #[serde(borrow, default)]
    address: Option<&'a str>,
    #[serde(borrow, default)]
    province: Option<&'a str>,
    #[serde(borrow, default)]
    district: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<&'a str>,
}

/// A product line read without building its document, as [`plain_batch`]
/// reads a batch line: a line with no escapes, its GTIN already in 14
/// digits, whose checks all pass; its JSON is then the line itself. `None`
/// for any other line: the full path ([`product_parsed`]) reads it, and
/// names what is wrong.
fn plain_product(line: &[u8]) -> Option<Product> {
    if line.contains(&b'\\') || line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let text = simdutf8::basic::from_utf8(line).ok()?;
    let p: PlainProduct<'_> = serde_json::from_str(text).ok()?;
    let gtin = Gtin::parse(p.gtin.0).ok()?;
    if gtin.digits() != p.gtin.0.as_bytes() || p.name.trim().is_empty() {
        return None;
    }
    if let Some(url) = p.image {
        Fields { key: None }.url("image", url).ok()?;
    }
    // A field of another type than a string that the full path does not
    // check (an origin's `gln`) sends the line to the full path, which
    // accepts it: slower, not different.
    if let Some(gln) = plain_place(p.producer)?.and_then(|producer| producer.gln) {
        check_gln(gln).ok()?;
    }
    plain_place(p.origin)?;
    if p.ocop_stars.is_some_and(|n| !(1..=5).contains(&n)) {
        return None;
    }
    let links = match p.links {
        None => Vec::new(),
        Some(raw) => links::parse(Some(&serde_json::from_str(raw.get()).ok()?)).ok()?,
    };
    let status = status_named(p.status)?;
    if let Some(t) = p.updated_at {
        date::check_rfc3339(t).ok()?;
    }
    Some(Product {
        gtin,
        name: p.name.to_owned(),
        status,
        recall_notice: p.recall_notice.map(str::to_owned),
        links,
        json: text.trim().to_owned(),
    })
}

/// A product's `producer` or `origin`, absent or null (`Some(None)`), or
/// `None` for one that is not an object of string fields.
fn plain_place(raw: Option<&RawValue>) -> Option<Option<PlainPlace<'_>>> {
    match raw.map(RawValue::get) {
        None | Some("null") => Some(None),
        Some(v) if v.starts_with('{') => serde_json::from_str(v).ok().map(Some),
        Some(_) => None,
    }
}

/// Reads a product line from its whole document: any line, and what is
/// wrong with it.
fn product_parsed(line: &[u8]) -> Result<Product> {
    let obj = object(line)?;
    let key = obj.get("gtin").and_then(Value::as_str).map(str::to_owned);
    let f = Fields { key: key.clone() };
    let gtin = f.gtin(&obj)?;
    let name = f.required_str(&obj, "name")?;
    if name.trim().is_empty() {
        return Err(f.invalid("\"name\" is empty"));
    }
    for field in [
        "brand",
        "category",
        "description",
        "net_content",
        "recall_notice",
    ] {
        f.optional_str(&obj, field)?;
    }
    if let Some(url) = f.optional_str(&obj, "image")? {
        f.url("image", url)?;
    }
    if let Some(producer) = f.optional_object(&obj, "producer")? {
        for field in ["name", "address", "province"] {
            f.optional_str(producer, field)
                .map_err(|r| f.nested(r, "producer"))?;
        }
        if let Some(gln) = f
            .optional_str(producer, "gln")
            .map_err(|r| f.nested(r, "producer"))?
        {
            check_gln(gln).map_err(|e| f.invalid(format!("\"producer.gln\": {e}")))?;
        }
    }
    if let Some(origin) = f.optional_object(&obj, "origin")? {
        for field in ["province", "district", "country"] {
            f.optional_str(origin, field)
                .map_err(|r| f.nested(r, "origin"))?;
        }
    }
    match obj.get("ocop_stars") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|n| (1..=5).contains(&n)) => {}
        Some(v) => {
            return Err(f.invalid(format!(
                "\"ocop_stars\" must be a whole number from 1 to 5, found {v}"
            )));
        }
    }
    if let Some(certs) = f.optional_array(&obj, "certifications")?
        && let Some(bad) = certs.iter().find(|c| !c.is_string())
    {
        return Err(f.invalid(format!("\"certifications\" must hold strings, found {bad}")));
    }
    let links = f.links(&obj)?;
    let status = f.status(&obj)?;
    if let Some(t) = f.optional_str(&obj, "updated_at")? {
        date::check_rfc3339(t).map_err(|e| f.invalid(format!("\"updated_at\": {e}")))?;
    }
    let recall_notice = obj
        .get("recall_notice")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let name = name.to_owned();
    let json = render(line, obj, gtin);
    Ok(Product {
        gtin,
        name,
        status,
        recall_notice,
        links,
        json,
    })
}

/// Reads a batch line.
pub fn batch(line: &[u8]) -> Result<Batch> {
    plain_batch(line).map_or_else(|| batch_parsed(line), Ok)
}

/// The fields of a batch line that its checks read, borrowed from the line.
#[derive(Deserialize)]
struct PlainBatch<'a> {
    gtin: &'a str,
    lot: &'a str,
    #[serde(borrow, default)]
    production_date: Option<&'a str>,
    #[serde(borrow, default)]
    expiry_date: Option<&'a str>,
    #[serde(default)]
    quantity: Option<f64>,
    #[serde(borrow, default)]
    events: Option<Vec<PlainEvent<'a>>>,
    #[serde(borrow, default)]
    status: Option<&'a str>,
    #[serde(borrow, default)]
    recall_notice: Option<&'a str>,
    /// Present, even as `null`: such a line takes the full path.
    #[serde(borrow, default, deserialize_with = "present")]
    links: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PlainEvent<'a> {
    /// Only required to be a string.
    #[expect(dead_code)]
    step: &'a str,
    time: &'a str,
    #[serde(borrow, default)]
    place: Option<&'a RawValue>,
    #[serde(borrow, default)]
    actor: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A batch line read without building its document: the common case of a
/// line with no escapes, its GTIN already in 14 digits and no links, whose
/// JSON is then the line itself. `None` for any line it does not read or
/// whose checks fail (a duplicate field, a wrong type, a bad date): the full
/// path ([`batch_parsed`]) reads those, and names what is wrong. Where it
/// reads a line, it gives what the full path gives.
fn plain_batch(line: &[u8]) -> Option<Batch> {
    // A struct also deserializes from an array; a record is an object.
    if line.contains(&b'\\') || line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    // One pass of validation for the whole line: parsing a `str` does not
    // validate each string again.
    let text = simdutf8::basic::from_utf8(line).ok()?;
    let b: PlainBatch<'_> = serde_json::from_str(text).ok()?;
    let gtin = Gtin::parse(b.gtin).ok()?;
    if gtin.digits() != b.gtin.as_bytes() || b.links.is_some() {
        return None;
    }
    check_gs1_text(b.lot).ok()?;
    if let Some(d) = b.production_date {
        date::parse_iso_date(d).ok()?;
    }
    let expiry = match b.expiry_date {
        Some(d) => Some(date::parse_iso_date(d).ok()?),
        None => None,
    };
    if b.quantity.is_some_and(|q| q < 0.0) {
        return None;
    }
    for event in b.events.iter().flatten() {
        date::check_rfc3339(event.time).ok()?;
        let object = |v: Option<&RawValue>| v.is_none_or(|v| v.get().starts_with('{'));
        if !object(event.place) || !object(event.actor) {
            return None;
        }
    }
    let status = status_named(b.status)?;
    Some(Batch {
        gtin,
        lot: b.lot.to_owned(),
        status,
        recall_notice: b.recall_notice.map(str::to_owned),
        expiry,
        links: Vec::new(),
        json: text.trim().to_owned(),
    })
}

/// Reads a batch line from its whole document: any line, and what is wrong
/// with it.
fn batch_parsed(line: &[u8]) -> Result<Batch> {
    let obj = object(line)?;
    let gtin_text = obj.get("gtin").and_then(Value::as_str).unwrap_or("");
    let lot_text = obj.get("lot").and_then(Value::as_str);
    let key = lot_text
        .map(|l| format!("{gtin_text}/{l}"))
        .or(Some(gtin_text.to_owned()).filter(|s| !s.is_empty()));
    let f = Fields { key };
    let gtin = f.gtin(&obj)?;
    let lot = f.required_str(&obj, "lot")?;
    check_gs1_text(lot).map_err(|e| f.invalid(format!("\"lot\": {e}")))?;
    let lot = lot.to_owned();
    if let Some(d) = f.optional_str(&obj, "production_date")? {
        date::parse_iso_date(d).map_err(|e| f.invalid(format!("\"production_date\": {e}")))?;
    }
    let expiry = match f.optional_str(&obj, "expiry_date")? {
        Some(d) => {
            Some(date::parse_iso_date(d).map_err(|e| f.invalid(format!("\"expiry_date\": {e}")))?)
        }
        None => None,
    };
    match obj.get("quantity") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_f64().is_some_and(|q| q >= 0.0) => {}
        Some(v) => {
            return Err(f.invalid(format!(
                "\"quantity\" must be a number, zero or more, found {v}"
            )));
        }
    }
    if let Some(events) = f.optional_array(&obj, "events")? {
        for (i, event) in events.iter().enumerate() {
            let at = format!("events[{i}]");
            let event = event
                .as_object()
                .ok_or_else(|| f.invalid(format!("\"{at}\" must be an object")))?;
            f.required_str(event, "step")
                .map_err(|r| f.nested(r, &at))?;
            let time = f
                .required_str(event, "time")
                .map_err(|r| f.nested(r, &at))?;
            date::check_rfc3339(time).map_err(|e| f.invalid(format!("\"{at}.time\": {e}")))?;
            for field in ["place", "actor"] {
                f.optional_object(event, field)
                    .map_err(|r| f.nested(r, &at))?;
            }
        }
    }
    let status = f.status(&obj)?;
    let recall_notice = f.optional_str(&obj, "recall_notice")?.map(str::to_owned);
    let links = f.links(&obj)?;
    let json = render(line, obj, gtin);
    Ok(Batch {
        gtin,
        lot,
        status,
        recall_notice,
        expiry,
        links,
        json,
    })
}

/// The record as the JSON a lookup returns: every field as exported, the GTIN
/// in 14 digits, text as UTF-8. A line with no escapes whose GTIN is already
/// in 14 digits is that JSON as it stands, and is kept byte for byte (which
/// also spares re-serialising it); any other is rewritten from its parse.
fn render(line: &[u8], mut obj: Map<String, Value>, gtin: Gtin) -> String {
    let normalised = gtin.to_string();
    if !line.contains(&b'\\')
        && obj.get("gtin").and_then(Value::as_str) == Some(normalised.as_str())
    {
        if let Ok(text) = std::str::from_utf8(line) {
            return text.trim().to_owned();
        }
    }
    obj.insert("gtin".into(), Value::String(normalised));
    Value::Object(obj).to_string()
}

/// The fields an item line may have, and no others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemLine<'a> {
    #[serde(borrow)]
    gtin: Cow<'a, str>,
    #[serde(borrow)]
    serial: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    lot: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    stamp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    links: Option<Value>,
}

/// An optional string borrowed from the line when it has no escapes: serde
/// borrows a `Cow` field, but not one inside an `Option`.
fn borrowed<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Option::<Borrowed<'de>>::deserialize(d).map(|b| b.map(|b| b.0))
}

/// Reads an item line. Items are the bulk of a snapshot, so this path decodes
/// straight into a typed struct instead of a generic JSON value.
pub fn item(line: &[u8]) -> Result<Item<'_>> {
    // One pass of validation for the whole line: parsing a `str` does not
    // validate each string again.
    let parsed: serde_json::Result<ItemLine> = match simdutf8::basic::from_utf8(line) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(line),
    };
    let parsed = parsed.map_err(|e| {
        let msg = e.to_string();
        let reason = if e.is_syntax() || e.is_eof() {
            Reason::InvalidJson
        } else if msg.starts_with("unknown field") {
            Reason::UnknownField
        } else if msg.starts_with("missing field") {
            Reason::MissingField
        } else {
            Reason::InvalidField
        };
        Rejection::new(reason, item_key_fallback(line), msg)
    })?;
    // The key is only written out for a rejected line.
    let invalid = |detail: String| {
        Rejection::new(
            Reason::InvalidField,
            Some(format!("{}/{}", parsed.gtin, parsed.serial)),
            detail,
        )
    };
    let gtin = Gtin::parse(&parsed.gtin).map_err(|e| invalid(format!("\"gtin\": {e}")))?;
    check_gs1_text(&parsed.serial).map_err(|e| invalid(format!("\"serial\": {e}")))?;
    if let Some(lot) = &parsed.lot {
        check_gs1_text(lot).map_err(|e| invalid(format!("\"lot\": {e}")))?;
    }
    if let Some(stamp) = &parsed.stamp {
        check_stamp(stamp).map_err(|e| invalid(format!("\"stamp\": {e}")))?;
    }
    let void = match parsed.status.as_deref() {
        None | Some("active") => false,
        Some("void") => true,
        Some(other) => {
            return Err(invalid(format!(
                "\"status\" must be \"active\" or \"void\", found {other:?}"
            )));
        }
    };
    let links = match parsed.links.as_ref() {
        None => Vec::new(),
        links => links::parse(links).map_err(|e| match e {
            LinkError::Missing(d) => Rejection::new(
                Reason::MissingField,
                Some(format!("{}/{}", parsed.gtin, parsed.serial)),
                d,
            ),
            LinkError::Invalid(d) => invalid(d),
        })?,
    };
    Ok(Item {
        gtin,
        serial: parsed.serial,
        lot: parsed.lot,
        stamp: parsed.stamp,
        void,
        links,
    })
}

/// The key of an item line that did not decode, read loosely for the report.
fn item_key_fallback(line: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let gtin = v.get("gtin")?.as_str()?;
    Some(match v.get("serial").and_then(Value::as_str) {
        Some(serial) => format!("{gtin}/{serial}"),
        None => gtin.to_owned(),
    })
}

fn object(line: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => Err(Rejection::new(
            Reason::InvalidJson,
            None,
            format!("a record must be a JSON object, found {}", kind_of(&other)),
        )),
        Err(e) if line.iter().all(u8::is_ascii_whitespace) => Err(Rejection::new(
            Reason::InvalidJson,
            None,
            format!("empty line ({e})"),
        )),
        Err(e) => Err(Rejection::new(
            Reason::InvalidJson,
            None,
            format!("not valid JSON: {e}"),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field accessors that turn a wrong field into a rejection with the key.
struct Fields {
    key: Option<String>,
}

impl Fields {
    fn invalid(&self, detail: impl Into<String>) -> Rejection {
        Rejection::new(Reason::InvalidField, self.key.clone(), detail)
    }

    /// Prefixes a nested field's name with where it sits.
    fn nested(&self, r: Rejection, at: &str) -> Rejection {
        Rejection {
            detail: r.detail.replacen('"', &format!("\"{at}."), 1),
            ..r
        }
    }

    fn gtin(&self, obj: &Map<String, Value>) -> Result<Gtin> {
        let text = self.required_str(obj, "gtin")?;
        Gtin::parse(text).map_err(|e| self.invalid(format!("\"gtin\": {e}")))
    }

    fn required_str<'a>(&self, obj: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
        match obj.get(field) {
            None | Some(Value::Null) => Err(Rejection::new(
                Reason::MissingField,
                self.key.clone(),
                format!("\"{field}\" is required"),
            )),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.invalid(format!(
                "\"{field}\" must be a string, found {}",
                kind_of(other)
            ))),
        }
    }

    fn optional_str<'a>(
        &self,
        obj: &'a Map<String, Value>,
        field: &str,
    ) -> Result<Option<&'a str>> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.invalid(format!(
                "\"{field}\" must be a string, found {}",
                kind_of(other)
            ))),
        }
    }

    fn optional_object<'a>(
        &self,
        obj: &'a Map<String, Value>,
        field: &str,
    ) -> Result<Option<&'a Map<String, Value>>> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(self.invalid(format!(
                "\"{field}\" must be an object, found {}",
                kind_of(other)
            ))),
        }
    }

    fn optional_array<'a>(
        &self,
        obj: &'a Map<String, Value>,
        field: &str,
    ) -> Result<Option<&'a Vec<Value>>> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.invalid(format!(
                "\"{field}\" must be an array, found {}",
                kind_of(other)
            ))),
        }
    }

    fn url(&self, field: &str, url: &str) -> Result<()> {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() > "https://".len()
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(self.invalid(format!("\"{field}\" must be an http(s) URL, found {url:?}")));
        }
        Ok(())
    }

    /// The record's `links` (SPEC section 6), each checked.
    fn links(&self, obj: &Map<String, Value>) -> Result<Vec<Link>> {
        links::parse(obj.get("links")).map_err(|e| match e {
            LinkError::Missing(d) => Rejection::new(Reason::MissingField, self.key.clone(), d),
            LinkError::Invalid(d) => self.invalid(d),
        })
    }

    fn status(&self, obj: &Map<String, Value>) -> Result<Status> {
        let named = self.optional_str(obj, "status")?;
        status_named(named).ok_or_else(|| {
            self.invalid(format!(
                "\"status\" must be \"active\", \"recalled\" or \"withdrawn\", found {:?}",
                named.unwrap_or_default()
            ))
        })
    }
}

/// The status a record's `status` names (none: active), `None` for a word
/// that is not one.
fn status_named(status: Option<&str>) -> Option<Status> {
    match status {
        None | Some("active") => Some(Status::Active),
        Some("recalled") => Some(Status::Recalled),
        Some("withdrawn") => Some(Status::Withdrawn),
        Some(_) => None,
    }
}

/// A lot or serial: 1 to 20 characters of the GS1 82-character set.
pub fn check_gs1_text(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s.len() > 20 {
        return Err(format!(
            "must be 1 to 20 characters, found {}",
            s.chars().count()
        ));
    }
    if s.bytes().all(is_cset82) {
        return Ok(());
    }
    if let Some(c) = s.chars().find(|&c| !c.is_ascii() || !is_cset82(c as u8)) {
        return Err(format!(
            "character {c:?} is not in the GS1 82-character set"
        ));
    }
    Ok(())
}

/// A stamp code: 1 to 64 visible ASCII characters, and read back as a stamp by
/// the scan-code parser (a stamp that parses as a GTIN or a GS1 code could never
/// be found by scanning it).
pub fn check_stamp(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s.len() > 64 {
        return Err(format!(
            "must be 1 to 64 characters, found {}",
            s.chars().count()
        ));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("character {c:?} is not printable ASCII"));
    }
    if !crate::code::reads_as_stamp(s) {
        return Err(format!(
            "{s:?} reads as a GS1 code or URL when scanned, so no scan could find it as a stamp"
        ));
    }
    Ok(())
}

/// A GLN: 13 digits with a valid GS1 check digit.
pub fn check_gln(s: &str) -> std::result::Result<(), String> {
    if s.len() != 13 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a GLN is 13 digits, found {s:?}"));
    }
    let b = s.as_bytes();
    let expected = crate::code::gs1_check_digit(&b[..12]);
    if expected != b[12] - b'0' {
        return Err(format!(
            "check digit should be {expected}, found {}",
            b[12] - b'0'
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"gtin": "08930002000017", "lot": "L2510", "production_date": "2025-01-01", "expiry_date": "2026-03-01", "quantity": 1000, "status": "recalled", "recall_notice": "Thu hồi", "events": [{"step": "harvesting", "time": "2025-01-01T07:00:00+07:00", "place": {"name": "Cát Hải"}, "actor": null, "note": [1]}], "extra": {"a": [true]}}"#;

    /// Where the plain path reads a line, it gives what the full path gives.
    fn agree<T: std::fmt::Debug>(
        line: &str,
        plain: fn(&[u8]) -> Option<T>,
        full: fn(&[u8]) -> Result<T>,
    ) -> bool {
        let read = plain(line.as_bytes());
        if let Some(r) = &read {
            assert_eq!(
                format!("{:?}", Ok::<_, ()>(r)),
                format!("{:?}", full(line.as_bytes()).as_ref().map_err(drop)),
                "{line}"
            );
        }
        read.is_some()
    }

    fn agree_batch(line: &str) -> bool {
        agree(line, plain_batch, batch_parsed)
    }

    fn agree_product(line: &str) -> bool {
        agree(line, plain_product, product_parsed)
    }

    const PRODUCT: &str = r#"{"gtin": "08930002000154", "name": "Chè Tân Cương", "brand": "Tân Cương", "category": null, "image": "https://img.example.vn/p.jpg", "producer": {"gln": "8935001047292", "name": "HTX", "extra": [1]}, "origin": {"province": "Thái Nguyên", "country": "VN"}, "ocop_stars": 4, "certifications": ["VietGAP"], "links": [{"type": "gs1:pip", "href": "https://id.example.vn/01/08930002000154", "title": "Trang", "lang": "vi"}], "status": "recalled", "recall_notice": "Thu hồi", "updated_at": "2026-10-21T08:00:00+07:00", "zz": {"a": null}}"#;

    #[test]
    fn a_plain_product_line_reads_as_its_whole_document_does() {
        assert!(agree_product(PRODUCT));
        assert!(agree_product(&format!("  {PRODUCT}\n")));
        assert!(agree_product(
            r#"{"name":"P","gtin":"08930002000154","producer":null,"links":[]}"#
        ));
        // Lines the plain path leaves to the full one.
        for other in [
            PRODUCT.replace("\"08930002000154\"", "\"8930002000154\""),
            PRODUCT.replace("Thu hồi", "Thu \\\"hồi\\\""),
            PRODUCT.replace("\"ocop_stars\": 4", "\"ocop_stars\": 0"),
            PRODUCT.replace("\"ocop_stars\": 4", "\"ocop_stars\": 4.5"),
            PRODUCT.replace("\"brand\": \"Tân Cương\"", "\"brand\": 7"),
            PRODUCT.replace("[\"VietGAP\"]", "[1]"),
            PRODUCT.replace(
                "{\"province\": \"Thái Nguyên\", \"country\": \"VN\"}",
                "[\"VN\"]",
            ),
            PRODUCT.replace("8935001047292", "8935001047293"),
            PRODUCT.replace("https://img.example.vn/p.jpg", "img.jpg"),
            PRODUCT.replace("\"Chè Tân Cương\"", "\"  \""),
            PRODUCT.replace("\"zz\"", "\"gtin\""),
            PRODUCT.replace("recalled", "gone"),
            PRODUCT.replace("08:00:00+07:00", "08:00:00"),
            PRODUCT.replace("gs1:pip", "gs1:nothing"),
            PRODUCT.replace("\"08930002000154\"", "\"08930002000155\""),
            r#"["08930002000154", "P"]"#.to_owned(),
        ] {
            assert!(!agree_product(&other), "{other}");
        }
        for file in [
            "data/sample/products.jsonl",
            "data/fixtures/defects/products.jsonl",
        ] {
            let text = std::fs::read_to_string(file).unwrap();
            let plain = text.lines().filter(|l| agree_product(l)).count();
            if file.contains("sample") {
                // Those whose GTIN is written in 14 digits.
                let fourteen = text.lines().filter(|l| l.contains("\"gtin\": \"0")).count();
                assert_eq!(plain, fourteen);
            }
        }
    }

    #[test]
    fn a_plain_batch_line_reads_as_its_whole_document_does() {
        assert!(agree_batch(LINE));
        assert!(agree_batch(&format!("  {LINE}\n")));
        assert!(agree_batch(
            r#"{"lot":"A","gtin":"08930002000017","events":null,"quantity":null}"#
        ));
        // Lines the plain path leaves to the full one.
        for other in [
            LINE.replace("08930002000017", "8930002000017"),
            LINE.replace("Thu hồi", "Thu \\\"hồi\\\""),
            LINE.replace("\"quantity\": 1000", "\"quantity\": -1"),
            LINE.replace("\"quantity\": 1000", "\"quantity\": \"1000\""),
            LINE.replace("\"extra\"", "\"lot\""),
            LINE.replace("\"extra\"", "\"links\""),
            LINE.replace("{\"name\": \"Cát Hải\"}", "\"Cát Hải\""),
            LINE.replace("07:00:00+07:00", "07:00:00"),
            LINE.replace("recalled", "gone"),
            LINE.replace("2026-03-01", "2026-02-30"),
            LINE.replace("\"step\": \"harvesting\", ", ""),
            r#"["08930002000017", "L2510"]"#.to_owned(),
        ] {
            assert!(!agree_batch(&other), "{other}");
        }
        for file in [
            "data/sample/batches.jsonl",
            "data/fixtures/defects/batches.jsonl",
        ] {
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines() {
                agree_batch(line);
            }
        }
    }
}
