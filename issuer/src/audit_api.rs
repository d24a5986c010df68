//! (being written)

use crate::error::ApiError;

/// Not yet.
pub async fn rows() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn verify() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn reports() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}
