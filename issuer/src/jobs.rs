//! (being written)

use crate::error::ApiError;

/// Not yet.
pub async fn list() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn create_one() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn create_batch() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn get_one() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn approve() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn reject() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn cancel() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn revoke() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn reissue() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}
