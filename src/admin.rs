//! The admin API: reload and rollback of the index served, and the status
//! overlay. Every request needs the bearer token, compared in constant time;
//! every request is logged (audit), never with a token in it.
//!
//! | request | does |
//! | --- | --- |
//! | `POST /admin/reload` | swap in a newer published index now |
//! | `POST /admin/rollback` | serve the previous index again |
//! | `GET /admin/overlay` | the status changes in force |
//! | `POST /admin/overlay` | put a change in force: `{"gtin", "lot"? \| "serial"? \| "stamp"?, "status", "notice"?}` |
//! | `POST /admin/overlay/undo` | lift the change in force for `{"gtin", "lot"? \| "serial"? \| "stamp"?}` |

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::code::Gtin;
use crate::date::{rfc3339_utc, unix_now};
use crate::live::overlay::{Change, Changes, NewStatus, OverlayError, Target};
use crate::server::{State, error, json, method_not_allowed};

/// The largest admin request body read.
const MAX_BODY: usize = 16 * 1024;

/// Answers one admin request.
pub async fn request(state: &Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(token) = state.admin_token() else {
        return error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is off: start serve with --admin-token-file or TRACESCAN_ADMIN_TOKEN",
        );
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    if !given.is_some_and(|g| bool::from(g.ct_eq(token))) {
        tracing::warn!("admin {method} {path} refused: missing or wrong token");
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let allowed = match path.as_str() {
        "/admin/reload" | "/admin/rollback" | "/admin/overlay/undo" => "POST",
        "/admin/overlay" => "GET, POST",
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "no_route",
                &format!("no such admin resource: {other}"),
            );
        }
    };
    if !allowed.split(", ").any(|m| m == method.as_str()) {
        return method_not_allowed(allowed);
    }
    let resp = match (path.as_str(), method == Method::GET) {
        ("/admin/overlay", true) => list(&state.overlay.load()),
        ("/admin/overlay" | "/admin/overlay/undo", _) => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            let undo = path.ends_with("/undo");
            let state = state.clone();
            // Syncing the log waits on the disk: off the worker thread.
            match tokio::task::spawn_blocking(move || overlay(&state, &body, undo)).await {
                Ok(resp) => resp,
                Err(_) => internal(),
            }
        }
        (_, _) => index_control(state, path == "/admin/rollback").await,
    };
    if resp.status().is_success() {
        tracing::info!("admin {method} {path}: {}", resp.status());
    } else {
        tracing::warn!("admin {method} {path} refused: {}", resp.status());
    }
    resp
}

/// Reload or rollback, on tokio's blocking pool: verifying a large index takes
/// seconds, and the worker's other connections must not wait for it.
async fn index_control(state: &Arc<State>, rollback: bool) -> Response<Full<Bytes>> {
    let Some(control) = state.control.get().cloned() else {
        return error(
            StatusCode::CONFLICT,
            "no_index_dir",
            "reload and rollback need serve --index-dir",
        );
    };
    let done = tokio::task::spawn_blocking(move || {
        if rollback {
            control.rollback()
        } else {
            control.reload()
        }
    })
    .await;
    match done {
        Ok(Ok(outcome)) => json(StatusCode::OK, Bytes::from(outcome)),
        Ok(Err(detail)) => error(StatusCode::CONFLICT, "refused", &detail),
        Err(_) => internal(),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            &format!("the request body could not be read (at most {MAX_BODY} bytes): {e}"),
        )),
    }
}

/// A change as the API takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    gtin: Option<String>,
    lot: Option<String>,
    serial: Option<String>,
    stamp: Option<String>,
    status: Option<NewStatus>,
    notice: Option<String>,
}

/// Sets or undoes a change; answers once it is durable.
fn overlay(state: &State, body: &[u8], undo: bool) -> Response<Full<Bytes>> {
    let bad = |detail: &str| error(StatusCode::BAD_REQUEST, "invalid_change", detail);
    let asked: Asked = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad(&format!("the body is not a change: {e}")),
    };
    let target = match target(state, &asked, undo) {
        Ok(t) => t,
        Err((status, code, detail)) => return error(status, code, &detail),
    };
    let result = if undo {
        state.overlay.undo(&target).map(|c| ("undone", c))
    } else {
        let Some(status) = asked.status else {
            return bad(
                "status is required: active, recalled or withdrawn (product, batch), active or void (item)",
            );
        };
        let change = Change {
            target,
            status,
            notice: asked.notice.filter(|n| !n.trim().is_empty()),
            at: unix_now(),
        };
        state.overlay.set(change.clone()).map(|()| ("set", change))
    };
    match result {
        Ok((outcome, change)) => {
            tracing::info!(
                "overlay: {outcome} {} {}{}",
                change.status.as_str(),
                change.target.describe(),
                change
                    .notice
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            let body = serde_json::json!({"outcome": outcome, "change": change_json(&change)});
            json(StatusCode::OK, Bytes::from(body.to_string()))
        }
        Err(e @ OverlayError::Invalid(_)) => bad(&e.to_string()),
        Err(e @ OverlayError::NoChange(_)) => {
            error(StatusCode::NOT_FOUND, "no_change", &e.to_string())
        }
        Err(e @ OverlayError::NotDurable) => {
            error(StatusCode::CONFLICT, "not_durable", &e.to_string())
        }
        Err(e @ OverlayError::Io(_)) => {
            tracing::error!("overlay: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not_saved",
                "the change could not be saved and is not in force",
            )
        }
    }
}

/// Why an admin request was refused: its status, error code and detail.
type Refusal = (StatusCode, &'static str, String);

/// What a change names. A change must name a record of the index served (a
/// typo must not pass for a recall); an undo may name one that a newer
/// snapshot dropped.
fn target(state: &State, asked: &Asked, undo: bool) -> Result<Target, Refusal> {
    let bad = |detail: String| (StatusCode::BAD_REQUEST, "invalid_change", detail);
    let unknown = |what: String| {
        (
            StatusCode::NOT_FOUND,
            "unknown",
            format!("{what} is not in the index being served"),
        )
    };
    let loaded = state.index.load();
    if let Some(stamp) = &asked.stamp {
        if asked.gtin.is_some() || asked.lot.is_some() || asked.serial.is_some() {
            return Err(bad(
                "give a stamp alone, or a gtin with a lot or a serial".into()
            ));
        }
        let Some(l) = &*loaded else {
            return Err(bad("no index is loaded to find the stamp in".into()));
        };
        let item = l
            .index
            .item_by_stamp(stamp)
            .ok_or_else(|| unknown(format!("stamp {stamp}")))?;
        let (product, _) = l.index.parents(&item);
        return Ok(Target::Item(product.gtin(), item.serial().to_owned()));
    }
    let gtin = asked
        .gtin
        .as_deref()
        .ok_or_else(|| bad("gtin (or stamp) is required".into()))?;
    let gtin = Gtin::parse(gtin).map_err(|e| bad(format!("gtin: {e}")))?;
    let target = Target::of(gtin, asked.lot.as_deref(), asked.serial.as_deref())
        .ok_or_else(|| bad("give a lot (a batch) or a serial (an item), not both".into()))?;
    if undo {
        return Ok(target);
    }
    let Some(l) = &*loaded else {
        return Err(bad("no index is loaded to check the target against".into()));
    };
    let product = l
        .index
        .product(gtin)
        .ok_or_else(|| unknown(format!("product {gtin}")))?;
    let known = match &target {
        Target::Product(_) => true,
        Target::Batch(_, lot) => l.index.batch(&product, lot).is_some(),
        Target::Item(_, serial) => l.index.item(&product, serial).is_some(),
    };
    if !known {
        return Err(unknown(target.describe()));
    }
    Ok(target)
}

fn list(changes: &Changes) -> Response<Full<Bytes>> {
    let all: Vec<_> = changes.iter().map(change_json).collect();
    let body = serde_json::json!({"changes": all});
    json(StatusCode::OK, Bytes::from(body.to_string()))
}

fn change_json(c: &Change) -> serde_json::Value {
    let mut v = serde_json::json!({
        "status": c.status.as_str(),
        "at": rfc3339_utc(c.at),
    });
    let (gtin, lot, serial) = c.target.parts();
    v["gtin"] = gtin.to_string().into();
    if let Some(lot) = lot {
        v["lot"] = lot.into();
    }
    if let Some(serial) = serial {
        v["serial"] = serial.into();
    }
    if let Some(n) = &c.notice {
        v["notice"] = n.as_str().into();
    }
    v
}

fn internal() -> Response<Full<Bytes>> {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the admin operation failed",
    )
}
