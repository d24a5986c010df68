//! (being written)

use crate::error::ApiError;

/// Not yet.
pub async fn list() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn enrol() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn approve() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn revoke() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}
