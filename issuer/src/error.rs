//! The API's errors: `{"error": {"code", "message"}}` with the right HTTP status, a message a
//! person can act on, and (for refusals) what goes into the audit log. Every code is an entry
//! of the one catalogue the bridge and the page share (`vsc_core::error_catalogue`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vsc_core::error_catalogue::{self as codes, ErrorEntry};

/// One bad row of an import (row, column, reason).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowProblem {
    /// The CSV line where the record starts (the header is row 1), or 1 for a JSON record.
    pub row: usize,
    /// The column at fault (empty for the whole row).
    pub column: String,
    /// Who the row is for (public values only; may be empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub holder: String,
    /// What is wrong.
    pub reason: String,
}

/// A body that fails a check is a 422 with the check's message.
impl From<vsc_issuer_api::BodyError> for ApiError {
    fn from(e: vsc_issuer_api::BodyError) -> ApiError {
        ApiError::invalid(e.to_string())
    }
}

/// An error answered to an API request.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`not_found`, `conflict`, ...), from the catalogue.
    pub code: &'static ErrorEntry,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The bad rows of an import, when that is what failed.
    pub rows: Vec<RowProblem>,
    /// What the audit log records when it differs from `message` (kept from the caller, for
    /// example why a job is "not found").
    pub audit_note: Option<String>,
    /// Whether the handler already wrote the audit row (no second one).
    pub audited: bool,
}

/// Marks a response as a refusal to audit (put in the response's extensions).
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The error code.
    pub code: &'static ErrorEntry,
    /// What the audit log records.
    pub note: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(
        status: StatusCode,
        code: &'static ErrorEntry,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            rows: Vec::new(),
            audit_note: None,
            audited: false,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, &codes::BAD_REQUEST, message)
    }

    /// 422: the request is well-formed but its content is invalid.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, &codes::INVALID, message)
    }

    /// 405, audited: `method` is not an operation of `path` (a path the API has).
    pub fn method_not_allowed(method: &impl std::fmt::Display, path: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            &codes::METHOD_NOT_ALLOWED,
            format!("{method} is not an operation of {path}; see GET /api/openapi.json"),
        );
        e.audited = true;
        e
    }

    /// 404: no such object (or not one the caller may know of).
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, &codes::NOT_FOUND, message)
    }

    /// 409: the object's state does not allow this.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, &codes::CONFLICT, message)
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, &codes::FORBIDDEN, message)
    }

    /// 401: not signed in (or the session ended).
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, &codes::UNAUTHORIZED, message)
    }

    /// 503: the database cannot be reached.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            &codes::DATABASE_UNAVAILABLE,
            "the service cannot reach its database right now; try again in a moment (the administrator sees why in the service's log)",
        )
    }

    /// 500: a fault of the service, logged; the message says nothing internal.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            &codes::INTERNAL,
            "the service failed to handle this request; the administrator sees why in the service's log",
        )
    }

    /// Records `note` in the audit log instead of the message.
    pub fn with_audit_note(mut self, note: impl Into<String>) -> ApiError {
        self.audit_note = Some(note.into());
        self
    }

    /// Whether this answer is a refusal the audit log records.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::NOT_FOUND
                | StatusCode::CONFLICT
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::UNPROCESSABLE_ENTITY
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => {
                tracing::warn!("database unavailable: {error}");
                ApiError::unavailable()
            }
            _ => {
                tracing::error!("database error: {error}");
                ApiError::internal()
            }
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[RowProblem]>::is_empty")]
    rows: &'a [RowProblem],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code.code(),
                message: &self.message,
                rows: &self.rows,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.is_refusal() && !self.audited {
            response.extensions_mut().insert(Refusal {
                code: self.code,
                note: self.audit_note.unwrap_or(self.message),
            });
        }
        response
    }
}

/// Whether a database error is a unique-key violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
