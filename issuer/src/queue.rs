//! (being written)

use crate::error::ApiError;

/// Not yet.
pub async fn list() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn claim() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn renew() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn release() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn result() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}
