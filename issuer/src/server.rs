//! The HTTP service: the router (every endpoint of [`crate::endpoints`] with its handler and
//! access rule), the page, and `serve`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;

use crate::endpoints::{self, ENDPOINTS};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{admin, audit_api, guard, jobs, openapi, queue, records, session, stations};
use vsc_core::error_catalogue as codes;

fn route(
    router: Router<AppState>,
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<AppState>,
) -> Router<AppState> {
    let endpoint = endpoints::find(method, path)
        .unwrap_or_else(|| panic!("{method} {path} is routed but not in the endpoint table"));
    router.route(
        path,
        handler
            .route_layer(from_fn_with_state(endpoint, guard::require_access))
            .layer(DefaultBodyLimit::max(endpoint.body_limit)),
    )
}

macro_rules! routes {
    ($router:ident, $($method:literal $path:literal => $handler:expr),+ $(,)?) => {{
        let mut r = $router;
        $(
            let filter = match $method {
                "GET" => MethodFilter::GET,
                "POST" => MethodFilter::POST,
                "PATCH" => MethodFilter::PATCH,
                "DELETE" => MethodFilter::DELETE,
                other => panic!("no method filter for {other}"),
            };
            r = route(r, $method, $path, on(filter, $handler));
        )+
        r
    }};
}

/// The API router (without state).
pub fn api_router() -> Router<AppState> {
    let r = Router::new();
    routes!(r,
        "GET" "/api/health" => health,
        "GET" "/api/openapi.json" => openapi::get,
        "POST" "/api/session" => session::sign_in,
        "GET" "/api/session" => session::me,
        "DELETE" "/api/session" => session::sign_out,
        "GET" "/api/users" => admin::list_users,
        "POST" "/api/users" => admin::add_user,
        "PATCH" "/api/users/{name}" => admin::change_user,
        "GET" "/api/branches" => admin::list_branches,
        "POST" "/api/branches" => admin::add_branch,
        "GET" "/api/settings" => admin::get_settings,
        "PATCH" "/api/settings" => admin::change_settings,
        "GET" "/api/stations" => stations::list,
        "POST" "/api/stations" => stations::enrol,
        "POST" "/api/stations/{id}/approve" => stations::approve,
        "POST" "/api/stations/{id}/revoke" => stations::revoke,
        "GET" "/api/records" => records::list,
        "POST" "/api/records" => records::create_one,
        "POST" "/api/records/import" => records::import_csv,
        "GET" "/api/records/ids" => records::ids,
        "GET" "/api/records/values" => records::values,
        "GET" "/api/records/{id}" => records::get_one,
        "GET" "/api/jobs" => jobs::list,
        "POST" "/api/jobs" => jobs::create_one,
        "POST" "/api/jobs/batch" => jobs::create_batch,
        "GET" "/api/jobs/{id}" => jobs::get_one,
        "POST" "/api/jobs/{id}/approve" => jobs::approve,
        "POST" "/api/jobs/{id}/reject" => jobs::reject,
        "POST" "/api/jobs/{id}/cancel" => jobs::cancel,
        "POST" "/api/jobs/{id}/revoke" => jobs::revoke,
        "POST" "/api/jobs/{id}/reissue" => jobs::reissue,
        "GET" "/api/queue" => queue::list,
        "POST" "/api/queue/claim" => queue::claim,
        "POST" "/api/jobs/{id}/renew" => queue::renew,
        "POST" "/api/jobs/{id}/release" => queue::release,
        "POST" "/api/jobs/{id}/result" => queue::result,
        "GET" "/api/audit" => audit_api::rows,
        "GET" "/api/audit/verify" => audit_api::verify,
        "GET" "/api/reports" => audit_api::reports,
    )
}

/// The whole application: API, page, guards and headers.
pub fn app(state: AppState) -> Router {
    let api = api_router().layer(from_fn_with_state(state.clone(), guard::api_guard));
    Router::new()
        .merge(api)
        .fallback(page)
        .layer(from_fn_with_state(state.clone(), guard::security_headers))
        .layer(from_fn_with_state(state.clone(), database_gate))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .with_state(state)
}

async fn api_fallback(method: Method, uri: axum::http::Uri) -> ApiError {
    let known_path = ENDPOINTS.iter().any(|e| path_matches(e.path, uri.path()));
    if known_path {
        ApiError::method_not_allowed(&method, uri.path())
    } else {
        let mut e = ApiError::not_found(format!(
            "no endpoint {method} {}; the API is described at GET /api/openapi.json",
            uri.path()
        ));
        e.code = &codes::NO_SUCH_ENDPOINT;
        e
    }
}

fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

async fn page(State(state): State<AppState>, method: Method, req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        return api_fallback(method, req.uri().clone())
            .await
            .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    state
        .page
        .answer(req.uri().path(), req.headers(), method == Method::HEAD)
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    sqlx::query("SELECT 1").execute(state.db.pool()).await?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}

/// Until the database has answered once (and holds a schema), every request gets a 503 that
/// says so; afterwards this costs one atomic load.
async fn database_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.ready.load(std::sync::atomic::Ordering::Acquire) {
        return next.run(req).await;
    }
    ApiError::unavailable().into_response()
}

/// Runs the service over plain HTTP on `listener` until Ctrl-C or SIGTERM. Waits for the
/// database in the background (requests get 503 until it answers).
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    watch_database(&state);
    let app = app(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

/// Runs the service over TLS (rustls) on `listener` until Ctrl-C or SIGTERM.
pub async fn serve_tls(
    state: AppState,
    listener: std::net::TcpListener,
    tls: axum_server::tls_rustls::RustlsConfig,
) -> std::io::Result<()> {
    watch_database(&state);
    let app = app(state);
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, tls)?
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
}

/// Checks the database in the background until it answers with a schema, then marks the
/// service ready.
fn watch_database(state: &AppState) {
    let ready = Arc::clone(&state.ready);
    let db = state.db.clone();
    tokio::spawn(async move {
        let mut said = false;
        loop {
            match db.check().await {
                Ok(()) => {
                    ready.store(true, std::sync::atomic::Ordering::Release);
                    if said {
                        tracing::info!("the database answers again; serving");
                    }
                    break;
                }
                Err(crate::db::DbError::NotInitialized(url)) => {
                    if !said {
                        tracing::error!("the database at {url} is not initialized: run `vsc-issuer init --db {url}` first; waiting");
                        said = true;
                    }
                }
                Err(e) => {
                    if !said {
                        tracing::error!("{e}; answering 503 and retrying every 2 s");
                        said = true;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
