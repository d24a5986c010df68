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
pub async fn import_csv() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}

/// Not yet.
pub async fn get_one() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "todo", "todo")
}
