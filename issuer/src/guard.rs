//! What every request goes through: security headers on every answer; on the API, the CSRF
//! check of state-changing requests, the caller's session, the endpoint's access rule, and
//! an audit row for every refusal.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::endpoints::Endpoint;
use crate::error::{ApiError, Refusal};
use crate::session::{resolve, SessionState};
use crate::state::AppState;
use crate::tx::{Event, WriteTx};
use vsc_core::error_catalogue as codes;

/// The header every state-changing request must carry (any value), besides a same-origin
/// `Origin`. A cross-site form cannot set it, and a cross-site script cannot send it without
/// a CORS preflight that this service never grants.
pub const CSRF_HEADER: &str = "x-vsc-request";

/// The page's Content-Security-Policy.
pub const CSP: &str =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws://127.0.0.1:*; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// Adds the security headers to every answer (and `no-store` to API answers).
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut response = next.run(req).await;
    if api
        && response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.extensions().get::<Refusal>().is_none()
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        response = ApiError::method_not_allowed(&method, uri.path()).into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if state.config.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The API's guard: CSRF, session, and the audit of refusals.
pub async fn api_guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let session = match resolve(&state, req.headers()).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let mut response = if changes_state(&method) && route.is_some() {
        match csrf_problem(&state, &req) {
            Some(e) => e.into_response(),
            None => {
                req.extensions_mut().insert(session.clone());
                next.run(req).await
            }
        }
    } else {
        req.extensions_mut().insert(session.clone());
        next.run(req).await
    };
    if let (Some(refusal), Some(route)) = (response.extensions_mut().remove::<Refusal>(), route) {
        let (actor, role, branch) = match &session {
            SessionState::Valid(c) => (
                c.name.clone(),
                c.role.as_str().to_owned(),
                c.branch.clone().unwrap_or_default(),
            ),
            _ => ("-".to_owned(), String::new(), String::new()),
        };
        let event = Event {
            actor,
            role,
            branch,
            action: format!("{method} {route}"),
            object: path,
            outcome: "refused".into(),
            details: json!({ "status": response.status().as_u16(), "code": refusal.code.code(), "reason": refusal.note }),
        };
        if let Err(e) = audit_refusal(&state, &event).await {
            tracing::error!("cannot audit a refusal: {e}");
            return ApiError::from(e).into_response();
        }
    }
    response
}

async fn audit_refusal(state: &AppState, event: &Event) -> Result<(), sqlx::Error> {
    let mut tx = WriteTx::begin(&state.db).await?;
    tx.audit(event).await?;
    tx.commit().await
}

fn csrf_problem(state: &AppState, req: &Request) -> Option<ApiError> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let expected = &state.config.origin;
    let problem = match origin {
        None => "it has no Origin header".to_owned(),
        Some(o) if o != expected => format!("its Origin is {o}"),
        Some(_) if !req.headers().contains_key(CSRF_HEADER) => {
            format!("it lacks the {CSRF_HEADER} header")
        }
        Some(_) => return None,
    };
    let mut e = ApiError::forbidden(format!(
        "refused as possible cross-site request forgery: {problem}; a request that changes something must come from this service's page ({expected}) with the {CSRF_HEADER} header"
    ));
    e.code = &codes::CSRF;
    Some(e)
}

/// The per-endpoint access rule (a route layer).
pub async fn require_access(
    State(endpoint): State<&'static Endpoint>,
    req: Request,
    next: Next,
) -> Response {
    let role = match req.extensions().get::<SessionState>() {
        Some(SessionState::Valid(c)) => Some(c.role),
        Some(SessionState::Ended(why)) if !endpoint.access.allows(None) => {
            return ApiError::unauthorized(why.clone()).into_response()
        }
        _ => None,
    };
    if endpoint.access.allows(role) {
        // A body declared larger than the endpoint takes is refused before any of it is read.
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > endpoint.body_limit as u64) {
            return crate::json::too_large().into_response();
        }
        return next.run(req).await;
    }
    match role {
        None => ApiError::unauthorized(
            "sign in first (POST /api/session with your username and password)",
        )
        .into_response(),
        Some(role) => ApiError::forbidden(format!(
            "{} {} is for {}; you are signed in as {role}",
            endpoint.method,
            endpoint.path,
            endpoint.access.describe()
        ))
        .into_response(),
    }
}
