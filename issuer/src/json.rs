//! Request bodies: JSON with errors in the API's shape (413 for oversized bodies, 400 for
//! malformed JSON, 422 for unknown fields and wrong types, 415 for another content type), and
//! serde helpers for secrets, base64 (the `.vsc`) and hex (keys and envelopes).

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use vsc_core::secret::SecretString;

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

/// Deserializes a string into a [`SecretString`].
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

/// Deserializes an optional string into an optional [`SecretString`].
pub fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Option::<String>::deserialize(d).map(|o| o.map(SecretString::new))
}

/// Deserializes standard base64 (with padding) into bytes.
pub fn base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| serde::de::Error::custom(format!("not standard base64: {e}")))
}

/// Deserializes hex digits (either case) into bytes: keys and envelopes, as the bridge
/// protocol carries them.
pub fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    ::hex::decode(text.as_bytes())
        .map_err(|_| serde::de::Error::custom("not hex digits of even length"))
}

/// Encodes bytes as standard base64.
pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
