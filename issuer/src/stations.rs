//! Stations: one `vsc-bridge` at a branch, known by its X25519 public key. An operator enrols
//! it; an admin approves it after comparing the fingerprint with the one the bridge's console
//! shows. Only approved stations get password envelopes and may claim jobs.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use vsc_issuer_api::stations::Enrol;

use crate::error::{is_unique_violation, ApiError};
use crate::json::JsonBody;
use crate::session::Caller;
use crate::state::AppState;
use crate::tx::WriteTx;
use vsc_core::job::Role;

/// Enrolled, waiting for an admin.
pub const ENROLLED: &str = "enrolled";
/// Approved: gets envelopes, may claim.
pub const APPROVED: &str = "approved";
/// Revoked: neither.
pub const REVOKED: &str = "revoked";

type Row = (
    String,
    String,
    String,
    Vec<u8>,
    String,
    String,
    String,
    i64,
    Option<String>,
);

fn view(row: Row) -> Value {
    let (id, branch, name, key, fp, st, by, at, decided_by) = row;
    json!({ "id": id, "branch": branch, "name": name, "public_key": hex::encode(&key),
            "fingerprint": fp, "state": st, "enrolled_by": by, "enrolled_at_ms": at, "decided_by": decided_by })
}

const SELECT: &str = "SELECT id, branch, name, public_key, fingerprint, state, enrolled_by, enrolled_at, decided_by FROM stations";

/// The query of `GET /api/stations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// `GET /api/stations`: operators see their branch's stations only.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let branch = if caller.role == Role::Operator {
        caller.branch.clone().unwrap_or_default()
    } else {
        query.branch.unwrap_or_default()
    };
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1 = '' OR branch = $1) AND ($2 = '' OR state = $2) ORDER BY branch, id"
    ))
    .bind(branch)
    .bind(query.state.unwrap_or_default())
    .fetch_all(state.db.pool())
    .await?;
    Ok(Json(
        json!({ "stations": rows.into_iter().map(view).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/stations`: an operator enrols a station of its branch.
pub async fn enrol(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Enrol>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (public_key, name) = body.check()?;
    let branch = caller.branch.clone().ok_or_else(ApiError::internal)?;
    let id = format!("st-{}", &crate::password::random_token()[..16]);
    let fp = public_key.fingerprint();
    let mut tx = WriteTx::begin(&state.db).await?;
    let inserted = sqlx::query(
        "INSERT INTO stations (id, branch, name, public_key, fingerprint, state, enrolled_by, enrolled_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&branch)
    .bind(name)
    .bind(public_key.as_bytes().to_vec())
    .bind(&fp)
    .bind(ENROLLED)
    .bind(&caller.name)
    .bind(tx.now())
    .execute(tx.conn())
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(ApiError::conflict(
            "this station key is enrolled already; ask an admin to approve the existing station",
        )),
        other => other?,
    };
    tx.audit(&caller.event(
        "station.enrol",
        &id,
        json!({ "name": name, "fingerprint": fp }),
    ))
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "station": { "id": id, "branch": branch, "name": name, "fingerprint": fp, "state": ENROLLED } }),
        ),
    ))
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    to: &str,
) -> Result<Json<Value>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT state, branch FROM stations WHERE id = $1")
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    let (current, branch) =
        row.ok_or_else(|| ApiError::not_found(format!("there is no station {id}")))?;
    let allowed = match to {
        APPROVED => current == ENROLLED,
        _ => current != REVOKED,
    };
    if !allowed {
        return Err(ApiError::conflict(format!(
            "station {id} is {current}; it cannot become {to}"
        )));
    }
    sqlx::query("UPDATE stations SET state = $1, decided_by = $2, decided_at = $3 WHERE id = $4")
        .bind(to)
        .bind(&caller.name)
        .bind(tx.now())
        .bind(id)
        .execute(tx.conn())
        .await?;
    let action = if to == APPROVED {
        "station.approve"
    } else {
        "station.revoke"
    };
    let mut event = caller.event(action, id, json!({ "from": current }));
    event.branch = branch;
    tx.audit(&event).await?;
    tx.commit().await?;
    Ok(Json(json!({ "station": { "id": id, "state": to } })))
}

/// `POST /api/stations/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    decide(&state, &caller, &id, APPROVED).await
}

/// `POST /api/stations/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    decide(&state, &caller, &id, REVOKED).await
}
