//! Every route, in one `match (method, path)`: lookups and health (SPEC
//! sections 4 and 5), batch lookups, the API description, metrics and the
//! admin API. What a route does lives in the
//! service or in [`super::admin`]; here a request is only taken apart and an
//! answer put together.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use super::admin::{self, ChangeOp, IndexOp};
use super::error::{Error, Kind, lookup_status};
use super::{App, Body, Scope, json, metrics, negotiate, resolver};
use crate::render::{Format, page};
use crate::service::{Answer, Code, Generation, Request as Scan};

/// The longest request line we serve; longer ones get 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest header section we serve; larger ones get 431.
pub const MAX_HEADER_SECTION: usize = 16 * 1024;
/// The OpenAPI 3.1 description of every public route, as committed.
const OPENAPI: &[u8] = include_bytes!("../../docs/openapi.json");

/// The most codes one batch lookup may carry; more get 413.
pub const MAX_BATCH: usize = 1000;
/// The largest batch body: room for [`MAX_BATCH`] codes of 512 bytes, JSON
/// escapes and all; larger ones get 413.
pub const MAX_BATCH_BODY: usize = 1 << 20;

/// Answers one request on a listener that serves `scope`.
///
/// Cost: for a lookup or a health check, no wait at all: the future is ready
/// on its first poll. Admin requests read a body and may wait on the disk.
pub async fn route<B: Body>(
    app: &Arc<App>,
    scope: Scope,
    peer: IpAddr,
    req: Request<B>,
) -> Response<Full<Bytes>> {
    let started = app.access_log.is_on().then(std::time::Instant::now);
    let (parts, body) = req.into_parts();
    let is_admin = parts.uri.path().starts_with("/admin/");
    let answered = answer(app, scope, peer, &parts, body, is_admin).await;
    let resp = nosniff(answered.unwrap_or_else(Error::into_response));
    if let Some(started) = started
        && app.access_log.sampled()
    {
        tracing::info!(
            target: "tracescan::access",
            method = %parts.method,
            path = %parts.uri.path(),
            status = resp.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
    }
    if is_admin {
        let (method, path) = (&parts.method, parts.uri.path());
        if resp.status().is_success() {
            tracing::info!("admin {method} {path}: {}", resp.status());
        } else {
            tracing::warn!("admin {method} {path} refused: {}", resp.status());
        }
    }
    resp
}

/// Answers a request on a connection past the connection cap: health and
/// readiness as usual (a load balancer must still see the truth), anything
/// else `503` with `Retry-After`, at once.
pub async fn route_shedding<B: Body>(
    app: &Arc<App>,
    scope: Scope,
    peer: IpAddr,
    req: Request<B>,
) -> Response<Full<Bytes>> {
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return route(app, scope, peer, req).await;
    }
    nosniff(
        Error::new(
            Kind::Overloaded,
            "the server is at its connection limit: retry in a second",
        )
        .into_response(),
    )
}

/// `resp`, marked so that no answer of ours is ever read as another type
/// than it says.
fn nosniff(mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn answer<B: Body>(
    app: &Arc<App>,
    scope: Scope,
    peer: IpAddr,
    parts: &Parts,
    body: B,
    is_admin: bool,
) -> Result<Response<Full<Bytes>>, Error> {
    check_head(parts)?;
    let path = parts.uri.path();
    // `/metrics` and the health checks are served on every listener (the
    // admin address has a thread of its own, so a probe there is answered
    // at once however loaded the public one is); the admin API only where
    // its scope allows, and the rest only where the public routes are.
    let served_here = matches!(path, "/metrics" | "/healthz" | "/readyz")
        || if is_admin {
            scope.admin()
        } else {
            scope.public()
        };
    if !served_here {
        return Err(Error::new(
            Kind::NoRoute,
            format!("no such resource here: {path}"),
        ));
    }
    if is_admin {
        admin::authorize(app, parts)?;
    }
    let service = &app.service;
    match (&parts.method, path) {
        (&Method::GET | &Method::HEAD, "/healthz") => Ok(json(
            StatusCode::OK,
            Bytes::from_static(b"{\"status\":\"ok\"}"),
        )),
        (&Method::GET | &Method::HEAD, "/readyz") => match &*service.current() {
            _ if service.draining.load(std::sync::atomic::Ordering::Relaxed) => Err(Error::new(
                Kind::NotReady,
                "draining before a stop: send requests elsewhere",
            )),
            Some(_) if service.fleet.get().is_some_and(|f| !f.ready()) => Err(Error::new(
                Kind::NotReady,
                "reading the fleet's status changes from Redis",
            )),
            Some(_) => Ok(json(
                StatusCode::OK,
                Bytes::from_static(b"{\"status\":\"ready\"}"),
            )),
            None => Err(Error::not_ready()),
        },
        (&Method::GET | &Method::HEAD, "/v1/index") => match service.index_info() {
            Some(info) => Ok(json(StatusCode::OK, info.to_string())),
            None => Err(Error::not_ready()),
        },
        (&Method::GET | &Method::HEAD, "/metrics") => Ok(metrics::render(service)),
        (&Method::GET | &Method::HEAD, "/openapi.json") => {
            Ok(json(StatusCode::OK, Bytes::from_static(OPENAPI)))
        }
        (&Method::GET | &Method::HEAD, "/v1/scan") => {
            match query_param(parts.uri.query().unwrap_or(""), "code") {
                Some(Ok(code)) => lookup(app, parts, peer, &code, Code::Raw(&code)),
                Some(Err(detail)) => invalid_lookup(app, parts, &detail),
                None => invalid_lookup(
                    app,
                    parts,
                    "the code parameter is missing: GET /v1/scan?code=...",
                ),
            }
        }
        (&Method::POST, "/v1/scan") => {
            let body = super::read_body(body, MAX_BATCH_BODY, app.body_timeout).await?;
            batch(app, parts, peer, &body)
        }
        (&Method::GET | &Method::HEAD, "/.well-known/gs1resolver") => {
            resolver::description(app, parts)
        }
        (&Method::GET | &Method::HEAD, crate::resolver::LINKSET_CONTEXT_PATH) => {
            Ok(resolver::linkset_context())
        }
        (&Method::GET | &Method::HEAD, _) if is_digital_link(parts) => {
            resolver::digital_link(app, parts, peer, &on_placeholder_host(parts))
        }
        (&Method::OPTIONS, _) if is_digital_link(parts) => {
            resolver::options(app, parts, &on_placeholder_host(parts))
        }
        (&Method::GET | &Method::HEAD, p) if p.starts_with("/s/") => {
            let shown = parts.uri.path_and_query().map_or(p, |pq| pq.as_str());
            match percent_encoding::percent_decode_str(&p["/s/".len()..]).decode_utf8() {
                Ok(stamp) => lookup(app, parts, peer, shown, Code::Stamp(&stamp)),
                Err(_) => {
                    invalid_lookup(app, parts, "the stamp code does not decode to UTF-8 text")
                }
            }
        }
        (&Method::GET, "/admin/overlay") => Ok(admin::list(&service.overlay.load())),
        (&Method::POST, "/admin/overlay" | "/admin/overlay/undo") => {
            let op = if path.ends_with("/undo") {
                ChangeOp::Undo
            } else {
                ChangeOp::Set
            };
            let body = super::read_body(body, admin::MAX_BODY, app.body_timeout).await?;
            admin::change(app, body, op).await
        }
        (&Method::POST, "/admin/reload") => admin::index(app, IndexOp::Reload).await,
        (&Method::POST, "/admin/rollback") => admin::index(app, IndexOp::Rollback).await,
        (_, "/v1/scan") => Err(Error::method_not_allowed("GET, HEAD, POST")),
        (_, "/healthz" | "/readyz" | "/v1/index" | "/metrics" | "/openapi.json") => {
            Err(Error::method_not_allowed("GET, HEAD"))
        }
        (_, "/.well-known/gs1resolver" | crate::resolver::LINKSET_CONTEXT_PATH) => {
            Err(Error::method_not_allowed("GET, HEAD"))
        }
        (_, _) if is_digital_link(parts) => Err(Error::method_not_allowed("GET, HEAD, OPTIONS")),
        (_, p) if p.starts_with("/s/") => Err(Error::method_not_allowed("GET, HEAD")),
        (_, "/admin/overlay") => Err(Error::method_not_allowed("GET, POST")),
        (_, "/admin/reload" | "/admin/rollback" | "/admin/overlay/undo") => {
            Err(Error::method_not_allowed("POST"))
        }
        (_, p) if is_admin => Err(Error::new(
            Kind::NoRoute,
            format!("no such admin resource: {p}"),
        )),
        (_, p) => Err(Error::new(Kind::NoRoute, format!("no such resource: {p}"))),
    }
}

/// Whether the request's path is a Digital Link path of ours: its first
/// segment is an AI's digits (`/01/…`, `/414/…`; its syntax is checked when
/// it is parsed: a wrong one is a 400, never a 404), or it is a compressed
/// Digital Link (GS1 Digital Link compression: `/AQnYUc1gmg…`).
///
/// Cost: a compressed path is decoded here and again when it is looked up;
/// a path of no route is decoded once, bounded at 512 bytes.
fn is_digital_link(parts: &Parts) -> bool {
    let path = parts.uri.path();
    let first = path[1..].split('/').next().unwrap_or("");
    if !first.is_empty() && first.len() <= 4 && first.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    matches!(
        crate::code::decompress_path(path, parts.uri.query()),
        Ok(Some(_))
    )
}

/// The request's path and query on a placeholder host: a Digital Link URI
/// the scan-code parser reads as any other.
fn on_placeholder_host(parts: &Parts) -> String {
    let shown = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    ["https://local", shown].concat()
}

/// Refuses a request line or header section over our limits, and a request
/// whose Host is missing (HTTP/1.1) or given twice (RFC 9112, 3.2), before any
/// work is done.
fn check_head(parts: &Parts) -> Result<(), Error> {
    let line_len = parts.method.as_str().len() + target_len(&parts.uri) + " HTTP/1.1".len() + 1;
    if line_len > MAX_REQUEST_LINE {
        return Err(Error::new(
            Kind::UriTooLong,
            format!("the request line is {line_len} bytes, at most {MAX_REQUEST_LINE}"),
        ));
    }
    let head: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if head > MAX_HEADER_SECTION {
        return Err(Error::new(
            Kind::HeadersTooLarge,
            format!("the header section is {head} bytes, at most {MAX_HEADER_SECTION}"),
        ));
    }
    let hosts = parts.headers.get_all(header::HOST).iter().count();
    let host_required = parts.version >= hyper::Version::HTTP_11;
    if hosts > 1 || (hosts == 0 && host_required) {
        return Err(Error::new(
            Kind::BadRequest,
            format!("a request must carry one Host header, this one has {hosts}"),
        ));
    }
    Ok(())
}

/// The length of the request target as sent, measured from its parts so that
/// no request pays for formatting it.
fn target_len(uri: &hyper::Uri) -> usize {
    let path = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => {
            scheme.len() + "://".len() + authority.as_str().len() + path
        }
        (None, Some(authority)) => authority.as_str().len() + path,
        _ => path,
    }
}

/// The value of `name` in a form-encoded query string: `+` is a space, `%XX`
/// a byte. `None` when absent; an error when it does not decode to UTF-8.
fn query_param(query: &str, name: &str) -> Option<Result<String, String>> {
    let raw = query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })?;
    // A `+` is a space in a query (HTML forms write one so); most codes
    // have none, and are decoded without a copy first.
    let spaced = if raw.contains('+') {
        std::borrow::Cow::Owned(raw.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(raw)
    };
    Some(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| format!("the {name} parameter does not decode to UTF-8 text")),
    )
}

/// Looks `code` up in the generation in service, and counts the scan of an
/// item when the request is a GET (a HEAD is a probe), as the client's. The
/// answer is a page or JSON, as the request prefers.
fn lookup(
    app: &App,
    parts: &Parts,
    peer: IpAddr,
    shown: &str,
    code: Code<'_>,
) -> Result<Response<Full<Bytes>>, Error> {
    let count = parts.method == Method::GET;
    Ok(negotiated(app, parts, |generation, format| {
        let scan = Scan {
            shown,
            code,
            count,
            client: count.then(|| client_key(parts, peer, &app.trusted_proxies)),
            format,
        };
        app.service.scan(generation, scan)
    }))
}

/// The answer `answer` makes from the generation in service, in the format
/// the request asks for (see [`lookup_response`]); while no index is
/// loaded, 503 in that format.
fn negotiated(
    app: &App,
    parts: &Parts,
    answer: impl FnOnce(&Generation, Format<'_>) -> Answer,
) -> Response<Full<Bytes>> {
    let format = format_of(app, parts);
    let current = app.service.current();
    let Some(generation) = current.as_ref() else {
        return not_ready(&format);
    };
    lookup_response(parts, answer(generation, format), generation.number)
}

/// A batch lookup: a JSON array of up to [`MAX_BATCH`] codes answered by an
/// array of the single lookups' answers, in order, each with its own status
/// (`{"status": 200, "answer": {...}}`). An entry that is not a string is
/// answered as a malformed code; it does not fail the rest. Each item found
/// is counted as a scan by this client, as a GET of it would be.
fn batch(
    app: &App,
    parts: &Parts,
    peer: IpAddr,
    body: &[u8],
) -> Result<Response<Full<Bytes>>, Error> {
    let entries: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            Kind::BadBody,
            format!("the body must be a JSON array of codes: {e}"),
        )
    })?;
    if entries.len() > MAX_BATCH {
        return Err(Error::new(
            Kind::BodyTooLarge,
            format!(
                "a batch holds at most {MAX_BATCH} codes, this one {}",
                entries.len()
            ),
        ));
    }
    let current = app.service.current();
    let generation = current.as_ref().ok_or_else(Error::not_ready)?;
    let client = client_key(parts, peer, &app.trusted_proxies);
    let mut out = Vec::with_capacity(entries.len() * 2560 + 2);
    out.push(b'[');
    for (i, entry) in entries.iter().enumerate() {
        let answer = match entry.as_str() {
            Some(code) => app.service.scan(
                generation,
                Scan {
                    shown: code,
                    code: Code::Raw(code),
                    count: true,
                    client: Some(client),
                    format: Format::Json,
                },
            ),
            None => Answer::invalid_code(
                &Format::Json,
                None,
                &format!("entry {i} of the batch is not a string: {entry}"),
            ),
        };
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"status\":");
        out.extend_from_slice(lookup_status(answer.outcome).as_str().as_bytes());
        out.extend_from_slice(b",\"answer\":");
        out.extend_from_slice(&answer.body);
        out.push(b'}');
    }
    out.push(b']');
    let mut resp = json(StatusCode::OK, out);
    let headers = resp.headers_mut();
    answered_by(headers, generation.number);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// What renders a lookup's answer: a page in the reader's language for a
/// browser, JSON otherwise.
pub(super) fn format_of<'a>(app: &App, parts: &'a Parts) -> Format<'a> {
    match negotiate::page(&parts.headers, parts.uri.query().unwrap_or("")) {
        Some(lang) => Format::Page(page::Context {
            lang,
            utc_offset: app.service.settings.utc_offset,
            target: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
            // The generation's, once the service knows which answers.
            sections: None,
        }),
        None => Format::Json,
    }
}

/// The address of the client behind `peer`: `peer` itself, unless it is a
/// trusted proxy; then the nearest address in `X-Forwarded-For` that is not
/// one (read from the right, as each proxy appends the address it saw).
pub fn client_of(parts: &Parts, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    let mut client = peer;
    if !trusted.contains(&peer) {
        return client;
    }
    let forwarded = parts.headers.get_all("x-forwarded-for");
    for value in forwarded.iter().rev() {
        let Ok(value) = value.to_str() else {
            return client;
        };
        for hop in value.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if trusted.contains(&ip) => client = ip,
                Ok(ip) => return ip,
                // What a trusted proxy did not write cannot be believed.
                Err(_) => return client,
            }
        }
    }
    client
}

/// The key of the scans of the client behind `peer` (see [`client_of`]).
pub(super) fn client_key(parts: &Parts, peer: IpAddr, trusted: &[IpAddr]) -> u64 {
    client_hash(client_of(parts, peer, trusted))
}

/// A client's address as the key of its scans.
fn client_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => xxhash_rust::xxh3::xxh3_64(&v4.octets()),
        IpAddr::V6(v6) => xxhash_rust::xxh3::xxh3_64(&v6.octets()),
    }
}

/// A lookup request that names no code to look up: answered like a
/// malformed code, once an index is loaded.
fn invalid_lookup(app: &App, parts: &Parts, detail: &str) -> Result<Response<Full<Bytes>>, Error> {
    Ok(negotiated(app, parts, |_, format| {
        Answer::invalid_code(&format, None, detail)
    }))
}

/// The answer of a lookup while no index is loaded: 503, as a page or JSON.
pub(super) fn not_ready(format: &Format<'_>) -> Response<Full<Bytes>> {
    let mut resp = Error::not_ready().into_response();
    if let Format::Page(ctx) = format {
        *resp.body_mut() = Full::new(page::not_ready(ctx).into());
        mark_page(&mut resp);
    }
    let headers = resp.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Language"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// How long a shared cache may keep an answer that no scan changes: a
/// recall set now reaches every reader within this many seconds.
pub(super) const CACHE_SECONDS: &str = "public, max-age=60";

/// A lookup answer: any origin may read it, it names the generation that
/// answered, and it says how it may be cached.
///
/// An answer that shows an item changes with every scan and counts the scan
/// that fetched it, so it is never stored. Any other (product, batch, not
/// found, malformed) changes only with the index, a status change or the
/// date: shared caches keep it a minute, and revalidate it by its ETag, a
/// hash of the body, so an unchanged answer costs a 304 and no bytes.
pub(super) fn lookup_response(
    parts: &Parts,
    answer: Answer,
    generation: u64,
) -> Response<Full<Bytes>> {
    let etag = (!answer.item).then(|| {
        // `"` 16 hex digits `"`, written without `core::fmt`.
        let hash = xxhash_rust::xxh3::xxh3_64(&answer.body);
        let mut tag = [b'"'; 18];
        for (i, d) in tag[1..17].iter_mut().enumerate() {
            *d = b"0123456789abcdef"[(hash >> (60 - 4 * i)) as usize & 15];
        }
        HeaderValue::from_bytes(&tag).expect("hex digits in quotes are a valid header value")
    });
    let unchanged = etag.as_ref().is_some_and(|tag| {
        parts
            .headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().trim_start_matches("W/") == tag || t.trim() == "*")
    });
    let status = lookup_status(answer.outcome);
    let mut resp = if unchanged {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        json(status, answer.body)
    };
    if answer.page {
        mark_page(&mut resp);
    }
    let headers = resp.headers_mut();
    answered_by(headers, generation);
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Language"),
    );
    match etag {
        Some(tag) => {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_SECONDS),
            );
            headers.insert(header::ETAG, tag);
        }
        None => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    resp
}

/// The headers of every lookup answer, single or batch: any origin may
/// read it, and it names the generation that answered.
pub(super) fn answered_by(headers: &mut hyper::HeaderMap, generation: u64) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert("x-tracescan-generation", HeaderValue::from(generation));
}

/// Marks `resp` as a page: HTML, and a policy that runs no script and
/// loads nothing but our own style sheet and a product's web image.
fn mark_page(resp: &mut Response<Full<Bytes>>) {
    // Made once: the policy holds a hash of the style sheet.
    static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
        HeaderValue::from_str(&page::content_security_policy())
            .expect("the policy is printable ASCII")
    });
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, POLICY.clone());
}
