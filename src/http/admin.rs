//! The admin API: reload and rollback of the index served, and the status
//! overlay. Every request needs the bearer token, compared in constant time;
//! every request is logged (audit), never with a token in it. The routes are
//! in [`super::routes`]; this module holds what they do.
//!
//! | request | does |
//! | --- | --- |
//! | `POST /admin/reload` | swap in a newer published index now |
//! | `POST /admin/rollback` | serve the previous index again |
//! | `GET /admin/overlay` | the status changes in force |
//! | `POST /admin/overlay` | put a change in force: `{"gtin", "lot"? \| "serial"? \| "stamp"?, "status", "notice"?}` |
//! | `POST /admin/overlay/undo` | lift the change in force for `{"gtin", "lot"? \| "serial"? \| "stamp"?}` |

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header;
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::{Error, Kind};
use super::{App, json};
use crate::code::Gtin;
use crate::date::{rfc3339_utc, unix_now};
use crate::live::overlay::{Change, Changes, NewStatus, Overlay, OverlayError, Shared, Target};
use crate::swap::{Outcome, SwapError};

/// The largest admin request body read.
pub const MAX_BODY: usize = 16 * 1024;

/// The admin API's bearer token. Never printed.
pub struct Token(Vec<u8>);

impl Token {
    /// A token of at least 16 visible ASCII characters: shorter ones are
    /// guessable, and others do not survive a header intact.
    pub fn new(token: &str) -> Result<Token, String> {
        let token = token.trim();
        if token.len() < 16 || token.chars().any(|c| !c.is_ascii_graphic()) {
            return Err("the admin token must be at least 16 visible ASCII characters".into());
        }
        Ok(Token(token.as_bytes().to_vec()))
    }

    /// The token from `file`, or else from `TRACESCAN_ADMIN_TOKEN`; `None`
    /// when neither is given (the admin API is then off).
    pub fn configured(file: Option<&Path>) -> Result<Option<Token>, String> {
        let token = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("admin token file {}: {e}", path.display()))?,
            ),
            None => std::env::var("TRACESCAN_ADMIN_TOKEN").ok(),
        };
        token.map(|t| Token::new(&t)).transpose()
    }

    fn admits(&self, given: &[u8]) -> bool {
        bool::from(given.ct_eq(&self.0))
    }
}

/// Whether the request may use the admin API: the API is on and the request
/// carries its token.
pub fn authorize(app: &App, parts: &Parts) -> Result<(), Error> {
    let Some(token) = &app.admin_token else {
        return Err(Error::new(
            Kind::AdminDisabled,
            "the admin API is off: start serve with --admin-token-file or TRACESCAN_ADMIN_TOKEN",
        ));
    };
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    if !given.is_some_and(|g| token.admits(g)) {
        tracing::warn!(
            "admin {} {} refused: missing or wrong token",
            parts.method,
            parts.uri.path()
        );
        return Err(Error::new(
            Kind::Unauthorized,
            "a valid Authorization: Bearer token is required",
        ));
    }
    Ok(())
}

/// What an admin change request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    Set,
    Undo,
}

/// What reload and rollback do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOp {
    Reload,
    Rollback,
}

/// Reload or rollback, on tokio's blocking pool: verifying a large index takes
/// seconds, and the worker's other connections must not wait for it.
pub async fn index(app: &App, op: IndexOp) -> Result<Response<Full<Bytes>>, Error> {
    let Some(reloader) = app.reloader.clone() else {
        return Err(Error::new(
            Kind::NoIndexDir,
            "reload and rollback need serve --index-dir",
        ));
    };
    let done = tokio::task::spawn_blocking(move || {
        let mut reloader = reloader.lock().map_err(|_| SwapError::Poisoned)?;
        match op {
            IndexOp::Reload => reloader.check(),
            IndexOp::Rollback => reloader.rollback(),
        }
    })
    .await
    .map_err(|_| internal())?;
    let body = match done.map_err(|e| Error::new(Kind::Refused, e.to_string()))? {
        Outcome::Unchanged => r#"{"outcome":"unchanged"}"#.to_owned(),
        Outcome::Swapped { generation, path } => serde_json::json!({
            "outcome": "swapped",
            "generation": generation,
            "file": path.display().to_string(),
        })
        .to_string(),
        Outcome::Refused { path, error } => {
            return Err(Error::new(
                Kind::Refused,
                format!("{} was refused: {error}", path.display()),
            ));
        }
    };
    Ok(json(StatusCode::OK, body))
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

/// Sets or undoes a change; answers once it is durable. Syncing the log
/// waits on the disk, so it runs on tokio's blocking pool.
pub async fn change(
    app: &Arc<App>,
    body: Bytes,
    op: ChangeOp,
) -> Result<Response<Full<Bytes>>, Error> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || change_now(&app, &body, op))
        .await
        .map_err(|_| internal())?
}

fn change_now(app: &App, body: &[u8], op: ChangeOp) -> Result<Response<Full<Bytes>>, Error> {
    let asked: Asked = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not a change: {e}")))?;
    let target = target(app, &asked, op)?;
    let (outcome, shared) = match op {
        ChangeOp::Undo => {
            let change = app
                .service
                .overlay
                .load()
                .iter()
                .find(|c| c.target == target)
                .cloned()
                .ok_or_else(|| OverlayError::NoChange(target.describe()))?;
            ("undone", Shared::Undo(change))
        }
        ChangeOp::Set => {
            let status = asked.status.ok_or_else(|| {
                invalid(
                    "status is required: active, recalled or withdrawn (product, batch), active or void (item)",
                )
            })?;
            let change = Change {
                target,
                status,
                notice: asked.notice.filter(|n| !n.trim().is_empty()),
                at: unix_now(),
            };
            Overlay::check(&change)?;
            ("set", Shared::Set(change))
        }
    };
    put_in_force(app, &shared)?;
    let change = shared.change();
    let notice = change.notice.as_deref().map(|n| format!(" ({n})"));
    tracing::info!(
        "overlay: {outcome} {} {}{}",
        change.status.as_str(),
        printable(&change.target.describe()),
        printable(&notice.unwrap_or_default())
    );
    let body = serde_json::json!({"outcome": outcome, "change": change_json(&change)});
    Ok(json(StatusCode::OK, body.to_string()))
}

/// How long a change set in a fleet may take to come back from Redis and be
/// applied here before the answer says it has not.
const FLEET_APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Puts a change in force here; in a fleet, adds it to the fleet's shared
/// changes, which every replica applies in the same order (this one too:
/// the answer waits until it has), so that a change Redis cannot take is in
/// force nowhere rather than here alone.
fn put_in_force(app: &App, shared: &Shared) -> Result<(), Error> {
    let overlay = &app.service.overlay;
    let Some(fleet) = app.service.fleet.get() else {
        return match shared {
            Shared::Set(change) => overlay.set(change.clone()),
            Shared::Undo(change) => overlay.undo(&change.target).map(drop),
        }
        .map_err(Error::from);
    };
    if !overlay.is_durable() {
        return Err(OverlayError::NotDurable.into());
    }
    let id = fleet.publish(shared).map_err(|e| {
        tracing::error!("overlay: the fleet's Redis did not take the change: {e}");
        Error::new(
            Kind::FleetUnavailable,
            format!("the fleet's Redis did not take the change, so it is in force nowhere: {e}; try again"),
        )
    })?;
    if !fleet.wait_applied(&id, FLEET_APPLY_WAIT) {
        tracing::error!(
            "overlay: the fleet's change {id} was not applied here within {FLEET_APPLY_WAIT:?}"
        );
        return Err(Error::new(
            Kind::FleetUnavailable,
            format!(
                "Redis took the change (entry {id}), but this replica did not apply it within {} s; each replica applies it as it reads it (this one's log says why it has not)",
                FLEET_APPLY_WAIT.as_secs()
            ),
        ));
    }
    Ok(())
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::new(Kind::InvalidChange, detail)
}

/// What a change names. A change must name a record of the index served (a
/// typo must not pass for a recall); an undo may name one that a newer
/// snapshot dropped.
fn target(app: &App, asked: &Asked, op: ChangeOp) -> Result<Target, Error> {
    let unknown = |what: String| {
        Error::new(
            Kind::UnknownRecord,
            format!("{what} is not in the index being served"),
        )
    };
    let current = app.service.current();
    let served = |purpose: &str| {
        current
            .as_deref()
            .map(|generation| &generation.index)
            .ok_or_else(|| invalid(format!("no index is loaded to {purpose}")))
    };
    if let Some(stamp) = &asked.stamp {
        if asked.gtin.is_some() || asked.lot.is_some() || asked.serial.is_some() {
            return Err(invalid(
                "give a stamp alone, or a gtin with a lot or a serial",
            ));
        }
        let index = served("find the stamp in")?;
        let item = index
            .item_by_stamp(stamp)
            .ok_or_else(|| unknown(format!("stamp {stamp}")))?;
        let (product, _) = index.parents(&item);
        return Ok(Target::Item(product.gtin(), item.serial().to_owned()));
    }
    let gtin = asked
        .gtin
        .as_deref()
        .ok_or_else(|| invalid("gtin (or stamp) is required"))?;
    let gtin = Gtin::parse(gtin).map_err(|e| invalid(format!("gtin: {e}")))?;
    let target = Target::of(gtin, asked.lot.as_deref(), asked.serial.as_deref())
        .ok_or_else(|| invalid("give a lot (a batch) or a serial (an item), not both"))?;
    if op == ChangeOp::Undo {
        return Ok(target);
    }
    let index = served("check the target against")?;
    let product = index
        .product(gtin)
        .ok_or_else(|| unknown(format!("product {gtin}")))?;
    let known = match &target {
        Target::Product(_) => true,
        Target::Batch(_, lot) => index.batch(&product, lot).is_some(),
        Target::Item(_, serial) => index.item(&product, serial).is_some(),
    };
    if !known {
        return Err(unknown(target.describe()));
    }
    Ok(target)
}

/// The status changes in force.
pub fn list(changes: &Changes) -> Response<Full<Bytes>> {
    let all: Vec<_> = changes.iter().map(change_json).collect();
    let body = serde_json::json!({"changes": all});
    json(StatusCode::OK, body.to_string())
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

/// `text` with every control character and bidirectional override escaped
/// as `\u{…}`: what a client sent cannot start a new log line, move the
/// cursor, or reorder what a reader of the log sees.
fn printable(text: &str) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn internal() -> Error {
    Error::new(Kind::Internal, "the admin operation failed")
}
