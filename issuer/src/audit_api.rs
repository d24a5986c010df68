//! The auditor's endpoints: the audit rows, a verification of the chain, and reports.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::chain;
use crate::error::ApiError;
use crate::state::AppState;

/// The query of `GET /api/audit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsQuery {
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
}

/// `GET /api/audit?after=SEQ&limit=N`: rows after SEQ (1 to 1000, default 100), filtered by
/// actor, action prefix, object and outcome when given.
pub async fn rows(
    State(state): State<AppState>,
    query: Result<Query<RowsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit is 1 to 1000"));
    }
    let after = query.after.unwrap_or(0);
    let filter = chain::RowFilter {
        actor: query.actor.unwrap_or_default(),
        action: query.action.unwrap_or_default(),
        object: query.object.unwrap_or_default(),
        outcome: query.outcome.unwrap_or_default(),
    };
    let rows = chain::rows(&state.db, after, limit, &filter).await?;
    let next = rows.last().and_then(|r| r["seq"].as_i64());
    Ok(Json(json!({ "rows": rows, "next_after": next })))
}

/// `GET /api/audit/verify`: the chain recomputed; the first bad row named.
pub async fn verify(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(match chain::verify(&state.db, None).await? {
        Ok(v) => json!({ "ok": true, "rows": v.size, "head": hex::encode(v.head) }),
        Err(e) => json!({ "ok": false, "problem": e.to_string() }),
    }))
}

/// `GET /api/reports`: jobs by branch and state, records by state.
pub async fn reports(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let jobs: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT branch, state, COUNT(*) FROM jobs GROUP BY branch, state ORDER BY branch, state",
    )
    .fetch_all(state.db.pool())
    .await?;
    let records: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM records GROUP BY state ORDER BY state")
            .fetch_all(state.db.pool())
            .await?;
    let (spoiled,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(spoiled_cards), 0) AS BIGINT) FROM jobs")
            .fetch_one(state.db.pool())
            .await?;
    Ok(Json(json!({
        "jobs": jobs.into_iter().map(|(b, s, n)| json!({ "branch": b, "state": s, "count": n })).collect::<Vec<_>>(),
        "records": records.into_iter().map(|(s, n)| json!({ "state": s, "count": n })).collect::<Vec<_>>(),
        "spoiled_cards": spoiled,
    })))
}
