//! The consumer page of SPEC section 5: what a phone shows when a person
//! scans a product's code. One self-contained HTML document per answer: CSS
//! inline, no script, nothing from another host but the product's image.
//!
//! The page is a second renderer of the same lookup as [`super::json`]: this
//! module reads the pre-rendered records into views of the fields a consumer
//! must see (Circular 02/2024/TT-BKHCN), words them through [`super::words`],
//! and hands them to the templates in `templates/`. The template engine
//! escapes every value by construction; the only markup not escaped is ours
//! (the style sheet). A URL from a snapshot becomes an image only when it is
//! `http` or `https`.

use std::borrow::Cow;
use std::sync::Arc;

use sailfish::TemplateSimple;
use serde::Deserialize;

use super::words::{Lang, Words};
use crate::code::Scan;
use crate::date::{dmy, dmy_hm, parse_iso_date, parse_rfc3339};
use crate::index::{BatchRef, ProductRef};
use crate::lookup::{Found, Warning};

/// The style sheet of every page, inlined. Its hash is what the page's
/// Content-Security-Policy allows, and nothing else.
pub const STYLE: &str = include_str!("../../templates/page.css");

/// The Content-Security-Policy of every page: no script, no frame, no
/// form; our style sheet by its hash; images from the web only.
pub fn content_security_policy() -> String {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src http: https:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// What a page needs besides the answer.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub lang: Lang,
    /// The UTC offset times are shown at, in seconds.
    pub utc_offset: i64,
    /// The request's path and query: the page links to itself in the other
    /// language.
    pub target: &'a str,
    /// Where the sections of the generation answering are kept; `None`
    /// renders every section afresh.
    pub sections: Option<&'a Sections>,
}

impl Context<'_> {
    /// The page in the other language: `target` with its `lang` replaced.
    fn other_lang_href(&self) -> String {
        let other = match self.lang {
            Lang::Vi => "en",
            Lang::En => "vi",
        };
        let (path, query) = self.target.split_once('?').unwrap_or((self.target, ""));
        let mut href = String::with_capacity(self.target.len() + 8);
        href.push_str(path);
        href.push('?');
        for pair in query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        {
            href.push_str(pair);
            href.push('&');
        }
        href.push_str("lang=");
        href.push_str(other);
        href
    }
}

/// A page's frame: language, title, the link to the other language.
struct Frame<'a> {
    lang: &'static str,
    w: &'static Words,
    title: Cow<'a, str>,
    other_lang_href: String,
}

impl<'a> Frame<'a> {
    fn new(ctx: &Context<'_>, title: impl Into<Cow<'a, str>>) -> Frame<'a> {
        Frame {
            lang: ctx.lang.tag(),
            w: ctx.lang.words(),
            title: title.into(),
            other_lang_href: ctx.other_lang_href(),
        }
    }
}

#[derive(TemplateSimple)]
#[template(path = "page.stpl", rm_whitespace = true)]
struct FoundPage<'a> {
    /// Its title is the product's name.
    frame: Frame<'a>,
    warnings: Vec<WarningView<'a>>,
    /// Whether a warning is grave: the page then says what to do.
    grave: bool,
    /// The product's sections, rendered by [`ProductSection`].
    product_html: &'a str,
    /// The batch's section, rendered by [`BatchSection`].
    batch_html: Option<&'a str>,
    item: Option<ItemView<'a>>,
    code: &'a str,
    snapshot: &'a str,
}

/// The product and its producer: the same on every page of the product.
#[derive(TemplateSimple)]
#[template(path = "product.stpl", rm_whitespace = true)]
struct ProductSection<'a> {
    w: &'static Words,
    product: ProductView<'a>,
    gtin: String,
    /// OCOP stars: as glyphs, and in words.
    stars: Option<(String, String)>,
    origin: Option<String>,
}

/// The batch and its stages: the same on every page of the batch.
#[derive(TemplateSimple)]
#[template(path = "batch.stpl", rm_whitespace = true)]
struct BatchSection<'a> {
    w: &'static Words,
    lot: &'a str,
    production_date: Option<String>,
    expiry_date: Option<String>,
    quantity: Option<String>,
    events: Vec<EventView<'a>>,
}

#[derive(TemplateSimple)]
#[template(path = "message.stpl", rm_whitespace = true)]
struct MessagePage<'a> {
    frame: Frame<'a>,
    text: Cow<'a, str>,
    advice: Option<&'static str>,
    detail: Option<&'a str>,
    code: Option<&'a str>,
}

struct WarningView<'a> {
    grave: bool,
    title: &'static str,
    text: String,
    notice: Option<&'a str>,
}

struct EventView<'a> {
    step: Cow<'a, str>,
    time: String,
    place: Option<String>,
    actor: Option<String>,
}

struct ItemView<'a> {
    serial: &'a str,
    stamp: Option<&'a str>,
    void: bool,
    scans: Option<String>,
}

/// The page of a lookup that found at least the product.
pub fn found(out: &mut Vec<u8>, ctx: &Context<'_>, shown: &str, found: &Found<'_>, snapshot: &str) {
    let lang = ctx.lang;
    let product = section(ctx, Kind::Product, found.product.id(), || {
        render_product(ctx, found.product)
    });
    let batch = found
        .batch
        .map(|b| section(ctx, Kind::Batch, b.id(), || render_batch(ctx, b)));
    let warnings = found
        .warnings
        .iter()
        .map(|w| WarningView {
            grave: w.is_grave(),
            title: lang.warning_title(w),
            text: lang.warning_text(w, ctx.utc_offset),
            notice: match w {
                Warning::Recalled { notice, .. } | Warning::Withdrawn { notice, .. } => {
                    notice.as_deref()
                }
                _ => None,
            },
        })
        .collect();
    let item = found.item.map(|i| ItemView {
        serial: i.serial(),
        stamp: i.stamp(),
        void: found.item_void(),
        scans: found
            .seen
            .map(|s| lang.scanned(s.count, s.first_at, ctx.utc_offset)),
    });
    let page = FoundPage {
        frame: Frame::new(ctx, &*product.name),
        grave: found.warnings.iter().any(Warning::is_grave),
        warnings,
        product_html: &product.html,
        batch_html: batch.as_ref().map(|b| &*b.html),
        item,
        code: shown,
        snapshot,
    };
    write(out, page);
}

/// The sections of a product page, rendered.
fn render_product(ctx: &Context<'_>, product: ProductRef<'_>) -> Section {
    let lang = ctx.lang;
    let view = ProductView::read(product.json());
    let name = view.name.to_string();
    let section = ProductSection {
        w: lang.words(),
        gtin: product.gtin().to_string(),
        stars: view
            .ocop_stars
            .map(|n| ("★".repeat(n.min(5) as usize), lang.stars(n))),
        origin: view
            .origin
            .as_ref()
            .map(|o| o.line(lang))
            .filter(|l| !l.is_empty()),
        product: view,
    };
    Section {
        name: name.into(),
        html: render(section).into(),
    }
}

/// The section of a batch, rendered.
fn render_batch(ctx: &Context<'_>, batch: BatchRef<'_>) -> Section {
    let lang = ctx.lang;
    let text = batch.json();
    let record = BatchRecord::read(&text);
    let section = BatchSection {
        w: lang.words(),
        lot: batch.lot(),
        production_date: record.production_date.as_deref().and_then(iso_dmy),
        expiry_date: record.expiry_date.as_deref().and_then(iso_dmy),
        quantity: record.quantity.map(|q| q.to_string()),
        events: record
            .events
            .into_iter()
            .map(|e| EventView {
                time: parse_rfc3339(&e.time)
                    .map_or_else(|| e.time.to_string(), |t| dmy_hm(t, ctx.utc_offset)),
                step: match e.step {
                    Cow::Borrowed(s) => Cow::Borrowed(lang.step(s)),
                    Cow::Owned(s) => Cow::Owned(lang.step(&s).to_owned()),
                },
                place: e.place.map(|p| p.line(lang)).filter(|l| !l.is_empty()),
                actor: e.actor.map(|a| a.line(lang)).filter(|l| !l.is_empty()),
            })
            .collect(),
    };
    Section {
        name: Box::default(),
        html: render(section).into(),
    }
}

/// A rendered section of a product or batch page, as kept in [`Sections`].
pub struct Section {
    /// The product's name: the page's title and heading (empty for a batch).
    name: Box<str>,
    html: Box<str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Product,
    Batch,
}

/// The sections of one index generation's product and batch pages, kept for
/// the next page that shows them: every item page of a batch shows the same
/// product and batch, and parsing and wording them is most of a page's
/// cost. A section depends only on its record, the language and the
/// service's UTC offset, all fixed while a generation serves, so a kept
/// section is never stale; status changes, warnings, the item and its scans
/// are rendered for each page. Bounded by bytes; dropped with its
/// generation.
pub struct Sections {
    cache: quick_cache::sync::Cache<(Kind, u32, Lang), Arc<Section>, ByBytes>,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<(Kind, u32, Lang), Arc<Section>> for ByBytes {
    fn weight(&self, _: &(Kind, u32, Lang), section: &Arc<Section>) -> u64 {
        (section.html.len() + section.name.len() + 64) as u64
    }
}

impl std::fmt::Debug for Sections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sections")
            .field("kept", &self.cache.len())
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

impl Sections {
    /// Sections of at most `max_bytes` in all.
    pub fn new(max_bytes: u64) -> Sections {
        // A product or batch section is 1–3 KB.
        let estimated = (max_bytes / 2048).max(16) as usize;
        Sections {
            cache: quick_cache::sync::Cache::with_weighter(estimated, max_bytes, ByBytes),
        }
    }
}

/// The section `kind` `id` in `ctx`'s language: kept, or rendered now by
/// `render` (and kept, when `ctx` has a place for sections).
fn section(
    ctx: &Context<'_>,
    kind: Kind,
    id: u32,
    render: impl FnOnce() -> Section,
) -> Arc<Section> {
    match ctx.sections {
        Some(sections) => sections
            .cache
            .get_or_insert_with(&(kind, id, ctx.lang), || {
                Ok::<_, std::convert::Infallible>(Arc::new(render()))
            })
            .unwrap_or_else(|never| match never {}),
        None => Arc::new(render()),
    }
}

/// The page of a well-formed code that names nothing in the index.
pub fn not_found(out: &mut Vec<u8>, ctx: &Context<'_>, shown: &str, parsed: &Scan) {
    let w = ctx.lang.words();
    let (gtin, stamp) = match parsed {
        Scan::Gs1(c) => (c.get("01"), None),
        Scan::Stamp(s) => (None, s.candidates.first().map(String::as_str)),
    };
    let page = MessagePage {
        frame: Frame::new(ctx, w.not_found_title),
        text: ctx.lang.not_found(gtin, stamp).into(),
        advice: Some(w.not_found_advice),
        detail: None,
        code: Some(shown),
    };
    write(out, page);
}

/// The page of a malformed code; `detail` says what is wrong with it.
pub fn invalid_code(out: &mut Vec<u8>, ctx: &Context<'_>, shown: Option<&str>, detail: &str) {
    let w = ctx.lang.words();
    let page = MessagePage {
        frame: Frame::new(ctx, w.invalid_title),
        text: w.invalid_text.into(),
        advice: Some(w.invalid_advice),
        detail: Some(detail),
        code: shown,
    };
    write(out, page);
}

/// The page while no index is loaded.
pub fn not_ready(ctx: &Context<'_>) -> Vec<u8> {
    let w = ctx.lang.words();
    let page = MessagePage {
        frame: Frame::new(ctx, w.not_ready_title),
        text: w.not_ready_text.into(),
        advice: None,
        detail: None,
        code: None,
    };
    render(page).into_bytes()
}

fn write(out: &mut Vec<u8>, page: impl TemplateSimple) {
    let html = render(page);
    if out.is_empty() {
        *out = html.into_bytes();
    } else {
        out.extend_from_slice(html.as_bytes());
    }
}

/// Renders a template into a buffer large enough for a whole page.
/// Rendering fails only if a value's rendering does, and ours (text and
/// numbers) do not; should one, the result is empty, never half-escaped.
fn render(template: impl TemplateSimple) -> String {
    let mut buffer = sailfish::runtime::Buffer::with_capacity(8192);
    match template.render_once_to(&mut buffer) {
        Ok(()) => buffer.into_string(),
        Err(_) => String::new(),
    }
}

/// An ISO date as `dd/mm/yyyy`; `None` if it is not one (build checked it).
fn iso_dmy(s: &str) -> Option<String> {
    parse_iso_date(s).ok().map(dmy)
}

/// The fields of a product record a consumer must see. Build checked their
/// types; a record that still does not read shows its name only.
#[derive(Default, Deserialize)]
struct ProductView<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    brand: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    category: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    net_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    image: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    producer: Option<Party<'a>>,
    #[serde(borrow, default)]
    origin: Option<Party<'a>>,
    #[serde(default)]
    ocop_stars: Option<u64>,
    #[serde(borrow, default)]
    certifications: Vec<Cow<'a, str>>,
}

impl<'a> ProductView<'a> {
    fn read(json: &'a str) -> ProductView<'a> {
        let mut view: ProductView<'a> = serde_json::from_str(json).unwrap_or_default();
        // Only a web address becomes an image: never `javascript:`, `data:`
        // or a path on our own host.
        view.image = view.image.filter(|u| is_web_url(u));
        view
    }
}

/// Whether `url` is an absolute `http` or `https` URL.
pub fn is_web_url(url: &str) -> bool {
    let lower = |n: usize| url.get(..n).map(str::to_ascii_lowercase);
    (lower(8).as_deref() == Some("https://") || lower(7).as_deref() == Some("http://"))
        && url.len() > 8
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The fields of a batch record the page shows beyond what the index keeps.
#[derive(Default, Deserialize)]
struct BatchRecord<'a> {
    #[serde(borrow, default)]
    production_date: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    expiry_date: Option<Cow<'a, str>>,
    #[serde(default)]
    quantity: Option<serde_json::Number>,
    #[serde(borrow, default)]
    events: Vec<Event<'a>>,
}

impl<'a> BatchRecord<'a> {
    fn read(json: &'a str) -> BatchRecord<'a> {
        serde_json::from_str(json).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    step: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow, default)]
    place: Option<Party<'a>>,
    #[serde(borrow, default)]
    actor: Option<Party<'a>>,
}

/// A producer, an origin, an event's place or actor: whichever of these
/// fields it has. Places and actors are free-form objects in a snapshot, so
/// a field that is not text is passed over rather than failing the page.
#[derive(Default, Deserialize)]
struct Party<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    district: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    province: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    country: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    gln: Option<Cow<'a, str>>,
}

impl Party<'_> {
    /// Its parts on one line, most specific first, each once: "Thị trấn Cát
    /// Hải, huyện Cát Hải, Hải Phòng, Việt Nam".
    fn line(&self, lang: Lang) -> String {
        let mut line = String::new();
        let country = self.country.as_deref().map(|c| lang.country(c));
        for part in [
            self.name.as_deref(),
            self.address.as_deref(),
            self.district.as_deref(),
            self.province.as_deref(),
            country,
        ]
        .into_iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        {
            // A place's name often ends with its district or province
            // already: say each once.
            if line.contains(part) {
                continue;
            }
            if !line.is_empty() {
                line.push_str(", ");
            }
            line.push_str(part);
        }
        line
    }
}

/// Deserializes a text field of a free-form object: a string is kept
/// (borrowed when it has no escapes), anything else is read past.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Text;

    impl<'de> Visitor<'de> for Text {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }

        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }

        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }

        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    d.deserialize_any(Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_web_address_becomes_an_image() {
        for url in [
            "https://img.example.vn/a.jpg",
            "HTTP://img.example.vn/a.jpg",
        ] {
            assert!(is_web_url(url), "{url}");
        }
        for url in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:image/png;base64,AAAA",
            "//evil.example/a.png",
            "/admin/overlay",
            "https://",
            "https://a.example/ x",
            "https://a.example/\u{7}",
        ] {
            assert!(!is_web_url(url), "{url}");
        }
        let json = r#"{"name": "x", "image": "javascript:alert(1)"}"#;
        assert_eq!(ProductView::read(json).image, None);
    }

    #[test]
    fn the_other_language_link_keeps_the_query() {
        let ctx = |target| Context {
            lang: Lang::Vi,
            utc_offset: 0,
            target,
            sections: None,
        };
        assert_eq!(
            ctx("/01/08930002000017").other_lang_href(),
            "/01/08930002000017?lang=en"
        );
        assert_eq!(
            ctx("/v1/scan?code=VN-1&lang=vi").other_lang_href(),
            "/v1/scan?code=VN-1&lang=en"
        );
    }
}
