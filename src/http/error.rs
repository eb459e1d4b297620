//! Every answer that is not a success, and its status: the one mapping from
//! what went wrong to HTTP. Bodies come from the one error writer,
//! [`crate::render::json::error`].

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::json;
use crate::live::overlay::OverlayError;
use crate::render;
use crate::service::Outcome;

/// What went wrong, as the client is told: a kind (status and error code)
/// and a detail in words.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub detail: String,
}

/// The kinds of error answers. Each has one status and one `error` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A malformed scan code or lookup request.
    InvalidCode,
    /// A request that breaks HTTP itself.
    BadRequest,
    /// No product under the code (a lookup answer carries its own body).
    NotFound,
    /// A Digital Link request for a link type the product has no link of.
    NoLinkOfType,
    NoRoute,
    /// The resource exists; the method named is not served there.
    MethodNotAllowed(&'static str),
    UriTooLong,
    HeadersTooLarge,
    NotReady,
    /// Past the connection limit: try again shortly.
    Overloaded,
    /// An admin request body that did not arrive in time.
    BodyTimeout,
    /// The admin API is off: no token configured.
    AdminDisabled,
    Unauthorized,
    /// A request body that could not be read, or does not say what it must.
    BadBody,
    /// A request body over its route's limit.
    BodyTooLarge,
    /// An admin change that is malformed.
    InvalidChange,
    /// An admin change naming a record the index does not have.
    UnknownRecord,
    /// An undo of a change that is not in force.
    NoChange,
    /// Status changes need a state directory.
    NotDurable,
    /// The change could not be written, and is not in force.
    NotSaved,
    /// The fleet's Redis could not take the change: it is not in force.
    FleetUnavailable,
    /// Reload and rollback need an index directory.
    NoIndexDir,
    /// A reload or rollback that could not be done.
    Refused,
    Internal,
}

impl Kind {
    /// The status of this kind of answer.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidCode | Kind::BadRequest | Kind::BadBody | Kind::InvalidChange => {
                StatusCode::BAD_REQUEST
            }
            Kind::NotFound
            | Kind::NoLinkOfType
            | Kind::NoRoute
            | Kind::UnknownRecord
            | Kind::NoChange => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Kind::UriTooLong => StatusCode::URI_TOO_LONG,
            Kind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Kind::NotReady | Kind::Overloaded | Kind::FleetUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Kind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::AdminDisabled => StatusCode::FORBIDDEN,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::NotDurable | Kind::NoIndexDir | Kind::Refused => StatusCode::CONFLICT,
            Kind::NotSaved | Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` field of the body.
    pub fn code(self) -> &'static str {
        match self {
            Kind::InvalidCode => "invalid_code",
            Kind::BadRequest => "bad_request",
            Kind::NotFound => "not_found",
            Kind::NoLinkOfType => "link_type_not_found",
            Kind::NoRoute => "no_route",
            Kind::MethodNotAllowed(_) => "method_not_allowed",
            Kind::UriTooLong => "uri_too_long",
            Kind::HeadersTooLarge => "headers_too_large",
            Kind::NotReady => "not_ready",
            Kind::Overloaded => "overloaded",
            Kind::BodyTimeout => "body_timeout",
            Kind::AdminDisabled => "admin_disabled",
            Kind::Unauthorized => "unauthorized",
            Kind::BadBody => "bad_body",
            Kind::BodyTooLarge => "body_too_large",
            Kind::InvalidChange => "invalid_change",
            Kind::UnknownRecord => "unknown",
            Kind::NoChange => "no_change",
            Kind::NotDurable => "not_durable",
            Kind::NotSaved => "not_saved",
            Kind::FleetUnavailable => "fleet_unavailable",
            Kind::NoIndexDir => "no_index_dir",
            Kind::Refused => "refused",
            Kind::Internal => "internal",
        }
    }
}

impl Error {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Error {
        Error {
            kind,
            detail: detail.into(),
        }
    }

    pub fn not_ready() -> Error {
        Error::new(Kind::NotReady, "no index is loaded yet")
    }

    /// 405, naming the methods `allow` that the resource answers.
    pub fn method_not_allowed(allow: &'static str) -> Error {
        Error::new(
            Kind::MethodNotAllowed(allow),
            format!("only {allow} are served here"),
        )
    }

    /// The answer: status, JSON body, and the headers the kind calls for.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = json(
            self.kind.status(),
            render::json::error(self.kind.code(), &self.detail),
        );
        let headers = resp.headers_mut();
        match self.kind {
            Kind::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Kind::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Kind::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        resp
    }
}

impl From<OverlayError> for Error {
    fn from(e: OverlayError) -> Error {
        match e {
            OverlayError::Invalid(_) => Error::new(Kind::InvalidChange, e.to_string()),
            OverlayError::NoChange(_) => Error::new(Kind::NoChange, e.to_string()),
            OverlayError::NotDurable => Error::new(Kind::NotDurable, e.to_string()),
            OverlayError::Io(ref io) => {
                // The whole cause, with the file, goes to the log; the client
                // learns the kind of fault it must act on (a full disk, a
                // read-only one), not where the server keeps its files.
                let kind = io.kind();
                tracing::error!("overlay: {e}");
                Error::new(
                    Kind::NotSaved,
                    format!(
                        "the change could not be saved and is not in force: {kind} (the server's log names the file)"
                    ),
                )
            }
        }
    }
}

/// The status of a lookup answer.
pub fn lookup_status(outcome: Outcome) -> StatusCode {
    match outcome {
        Outcome::Found => StatusCode::OK,
        Outcome::NotFound => Kind::NotFound.status(),
        Outcome::InvalidCode => Kind::InvalidCode.status(),
    }
}
