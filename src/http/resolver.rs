//! The Digital Link routes (SPEC section 6): a request taken apart into what
//! it wants, and the service's resolution put together as an answer with
//! the headers every Digital Link answer carries. The rules themselves live
//! in [`crate::service::Service::digital_link`] and [`crate::resolver`].

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use std::net::IpAddr;

use super::error::{Error, Kind};
use super::routes::{self, CACHE_SECONDS};
use super::{App, negotiate};
use crate::resolver::{self, LINKSET_MEDIA};
use crate::service::{Code, DigitalLink, Request as Scan, Resolution, Want};

/// What a browser's script may read of a Digital Link answer besides the
/// basic headers: the links.
const EXPOSED: &str = "Link, Location, X-Tracescan-Generation";

/// Answers a Digital Link request (`GET` or `HEAD`; a HEAD counts no scan)
/// for the Digital Link URI `uri` (the request's, on a placeholder host).
pub fn digital_link(
    app: &App,
    parts: &Parts,
    peer: IpAddr,
    uri: &str,
) -> Result<Response<Full<Bytes>>, Error> {
    let root = root(app, parts)?;
    let query = parts.uri.query().unwrap_or("");
    let shown = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let count = parts.method == Method::GET;
    let headers = &parts.headers;
    let link_type = link_type(query);
    let want = want(headers, link_type.as_deref());
    let format = match want {
        Want::Json => crate::render::Format::Json,
        _ => routes::format_of(app, parts),
    };
    let current = app.service.current();
    let Some(generation) = current.as_ref() else {
        return Ok(routes::not_ready(&format));
    };
    let dl = DigitalLink {
        scan: Scan {
            shown,
            code: Code::Raw(uri),
            count,
            client: count.then(|| routes::client_key(parts, peer, &app.trusted_proxies)),
            format,
        },
        want,
        accept_language: negotiate::header_str(headers, header::ACCEPT_LANGUAGE),
        accept: negotiate::header_str(headers, header::ACCEPT),
        root: &root,
    };
    let resolved = app.service.digital_link(generation, dl);
    let linkset = matches!(resolved.outcome, Resolution::Linkset { .. });
    let mut resp = match resolved.outcome {
        Resolution::Answer(answer) => routes::lookup_response(parts, answer, generation.number),
        Resolution::Redirect { href, item } => {
            let location = passed_on(&href, query);
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            let value = HeaderValue::from_str(&location).map_err(|_| {
                Error::new(Kind::Internal, "a link's URL is not a valid header value")
            })?;
            resp.headers_mut().insert(header::LOCATION, value);
            cached(resp.headers_mut(), item, generation.number);
            resp
        }
        Resolution::Linkset {
            body,
            several,
            item,
        } => {
            let status = if several {
                StatusCode::MULTIPLE_CHOICES
            } else {
                StatusCode::OK
            };
            let mut resp = Response::new(Full::new(body.into()));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(LINKSET_MEDIA),
            );
            cached(resp.headers_mut(), item, generation.number);
            resp
        }
        Resolution::NoLinkOfType => {
            let Want::Type(kind) = want else {
                unreachable!("only a request for a link type finds none of it")
            };
            let known = if resolver::vocab::name(kind).is_some() {
                ""
            } else {
                " (not a GS1 link type)"
            };
            let mut resp = Error::new(
                Kind::NoLinkOfType,
                format!(
                    "no link of type {kind}{known} here; ask for linkType=linkset to see every link"
                ),
            )
            .into_response();
            cached(resp.headers_mut(), false, generation.number);
            resp
        }
    };
    if let Some(anchor) = &resolved.anchor {
        let context = linkset.then(|| format!("{root}{}", resolver::LINKSET_CONTEXT_PATH));
        mark(
            resp.headers_mut(),
            anchor,
            parts.uri.path(),
            context.as_deref(),
        );
    }
    Ok(resp)
}

/// Answers a CORS preflight or an `OPTIONS` of a Digital Link URI: which
/// methods and headers a script may use, and where the linkset is.
pub fn options(app: &App, parts: &Parts, uri: &str) -> Result<Response<Full<Bytes>>, Error> {
    let root = root(app, parts)?;
    let code = match crate::code::parse(uri) {
        Ok(crate::code::Scan::Gs1(code)) => code,
        Ok(crate::code::Scan::Stamp(_)) => return Err(not_a_digital_link()),
        Err(e) => return Err(Error::new(Kind::InvalidCode, e.to_string())),
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let headers = resp.headers_mut();
    for (name, value) in [
        (header::ALLOW, "GET, HEAD, OPTIONS"),
        (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Accept, Accept-Language, If-None-Match",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "86400"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let anchor = format!("{root}{}", resolver::canonical_path(&code));
    mark(headers, &anchor, parts.uri.path(), None);
    Ok(resp)
}

/// The JSON-LD context of linksets ([`resolver::LINKSET_CONTEXT`]).
pub fn linkset_context() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(
        resolver::LINKSET_CONTEXT.as_bytes(),
    )));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ld+json"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_SECONDS),
    );
    resp
}

/// The resolver description file, `/.well-known/gs1resolver`.
pub fn description(app: &App, parts: &Parts) -> Result<Response<Full<Bytes>>, Error> {
    let root = root(app, parts)?;
    let mut resp = super::json(StatusCode::OK, resolver::description(&root));
    let headers = resp.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_SECONDS),
    );
    Ok(resp)
}

/// The error of a path that is not Digital Link syntax: a 400, never a 404.
fn not_a_digital_link() -> Error {
    Error::new(Kind::InvalidCode, resolver::NOT_A_DIGITAL_LINK)
}

/// What the request wants, by SPEC section 6's rules in their order: a
/// `linkType` first (`linkset` and `all` ask for every link), then a
/// linkset or JSON `Accept`, then the default link.
fn want<'a>(headers: &HeaderMap, link_type: Option<&'a str>) -> Want<'a> {
    match link_type {
        Some("linkset" | "all") => return Want::Linkset,
        Some(kind) if !kind.is_empty() => return Want::Type(kind),
        _ => {}
    }
    let accept = negotiate::header_str(headers, header::ACCEPT);
    let linkset = negotiate::named_quality(accept, "application", "linkset+json");
    let json = negotiate::named_quality(accept, "application", "json");
    let html = negotiate::quality(accept, "text", "html");
    if linkset > 0.0 && linkset >= json && linkset >= html {
        Want::Linkset
    } else if json > 0.0 && json >= html {
        Want::Json
    } else {
        Want::Default
    }
}

/// The `linkType` parameter of a query, percent-decoded (`gs1:pip` may
/// arrive as `gs1%3Apip`).
fn link_type(query: &str) -> Option<String> {
    let value = query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "linkType").then_some(v)
    })?;
    Some(
        percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// `href` with the request's query string passed on, less `linkType`.
fn passed_on(href: &str, query: &str) -> String {
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("linkType"))
        .collect();
    if rest.is_empty() {
        return href.to_owned();
    }
    let (base, fragment) = match href.find('#') {
        Some(i) => href.split_at(i),
        None => (href, ""),
    };
    let join = if base.contains('?') { '&' } else { '?' };
    format!("{base}{join}{}{fragment}", rest.join("&"))
}

/// The resolver's public root: `--public-url`, or `http://` and the
/// request's Host. A Host that is not a host name is refused: it would be
/// written into links.
fn root(app: &App, parts: &Parts) -> Result<String, Error> {
    if let Some(root) = &app.public_url {
        return Ok(root.clone());
    }
    let host = negotiate::header_str(&parts.headers, header::HOST);
    let host = parts.uri.authority().map_or(host, |a| a.as_str());
    let fits = |b: u8| b.is_ascii_alphanumeric() || b".-:[]".contains(&b);
    if host.is_empty() || host.len() > 255 || !host.bytes().all(fits) {
        return Err(Error::new(
            Kind::BadRequest,
            "the Host header must name a host (letters, digits, '.', '-', a port): Digital Link answers link to it",
        ));
    }
    Ok(["http://", host].concat())
}

/// The headers of every Digital Link answer: where its linkset is, who may
/// read them, what they vary with. A request URI written otherwise than its
/// canonical form `anchor` (compressed, a GTIN of 13 digits, a trailing
/// slash) names it as the same resource (`owl:sameAs`, as GS1's resolver
/// standard asks of a compressed URI), in the same header line: clients
/// commonly read only one. A linkset answer names its JSON-LD `context`.
fn mark(headers: &mut HeaderMap, anchor: &str, path: &str, context: Option<&str>) {
    // Written piece by piece, not with `format!`: every Digital Link answer
    // carries this header.
    let mut link = String::with_capacity(2 * anchor.len() + 192);
    link.extend([
        "<",
        anchor,
        "?linkType=linkset>; rel=\"linkset\"; type=\"",
        LINKSET_MEDIA,
        "\"",
    ]);
    if !anchor.ends_with(path) {
        link.extend([", <", anchor, ">; rel=\"owl:sameAs\""]);
    }
    if let Some(context) = context {
        link.extend([
            ", <",
            context,
            ">; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"",
        ]);
    }
    if let Ok(value) = HeaderValue::from_str(&link) {
        headers.insert(header::LINK, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Language"),
    );
}

/// How a redirect or linkset may be cached: never when it names an item
/// (a scan counts), a minute otherwise, as a lookup answer.
fn cached(headers: &mut HeaderMap, item: bool, generation: u64) {
    let policy = if item { "no-store" } else { CACHE_SECONDS };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    routes::answered_by(headers, generation);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_passed_on_without_the_link_type() {
        for (href, query, expected) in [
            ("https://b.vn/p", "", "https://b.vn/p"),
            ("https://b.vn/p", "linkType=gs1:pip", "https://b.vn/p"),
            (
                "https://b.vn/p",
                "linkType=gs1:pip&utm_source=qr&17=271231",
                "https://b.vn/p?utm_source=qr&17=271231",
            ),
            ("https://b.vn/p?id=3", "a=1", "https://b.vn/p?id=3&a=1"),
            ("https://b.vn/p#top", "a=1", "https://b.vn/p?a=1#top"),
        ] {
            assert_eq!(passed_on(href, query), expected, "{href} {query}");
        }
    }

    #[test]
    fn the_rules_are_tried_in_order() {
        let mut h = HeaderMap::new();
        let want = |h: &HeaderMap, query: &str| {
            let kind = link_type(query);
            match want(h, kind.as_deref()) {
                Want::Type(k) => format!("type {k}"),
                other => format!("{other:?}"),
            }
        };
        let ty = |k: &str| format!("type {k}");
        assert_eq!(want(&h, ""), "Default");
        assert_eq!(want(&h, "linkType=all"), "Linkset");
        assert_eq!(want(&h, "linkType=linkset"), "Linkset");
        assert_eq!(want(&h, "a=1&linkType=gs1:pip"), ty("gs1:pip"));
        assert_eq!(want(&h, "linkType=gs1%3Apip"), ty("gs1:pip"));
        assert_eq!(
            want(&h, "linkType=https%3A%2F%2Fgs1.org%2Fvoc%2Fpip"),
            ty("https://gs1.org/voc/pip")
        );
        assert_eq!(want(&h, "linkType="), "Default");
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/linkset+json"),
        );
        assert_eq!(want(&h, ""), "Linkset");
        assert_eq!(want(&h, "linkType=gs1:pip"), ty("gs1:pip"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(want(&h, ""), "Json");
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(want(&h, ""), "Default");
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,*/*;q=0.8"),
        );
        assert_eq!(want(&h, ""), "Default");
    }
}
