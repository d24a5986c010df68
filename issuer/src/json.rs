//! Request bodies: JSON with errors in the API's shape (413 for oversized bodies, 400 for
//! malformed JSON, 422 for unknown fields and wrong types, 415 for another content type). The
//! bodies themselves, and their serde helpers, are `vsc_issuer_api`'s.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use vsc_core::error_catalogue as codes;

/// A JSON request body, rejected in the API's error shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &codes::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::invalid(format!(
            "the JSON body does not have the expected fields and types: {}",
            e.body_text()
        )),
        JsonRejection::BytesRejection(e) => bytes_rejection(status, &e),
        other => ApiError::new(status, &codes::BAD_REQUEST, other.body_text()),
    }
}

/// 413: the body is over the endpoint's limit.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        &codes::TOO_LARGE,
        "the request body is larger than this endpoint accepts (see GET /api/openapi.json); send fewer items per request",
    )
}

/// The API error for a body that could not be read (413 when over the endpoint's limit).
pub fn bytes_rejection(status: StatusCode, e: &BytesRejection) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::new(
            status,
            &codes::BAD_REQUEST,
            format!("cannot read the body: {}", e.body_text()),
        )
    }
}

pub use vsc_issuer_api::fields::base64::encode as to_base64;
