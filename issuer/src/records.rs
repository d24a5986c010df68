//! Holder records (the data base of claim 12): import from CSV or one at a time, list,
//! search and page, and read one to build its VSC.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use vsc_core::profile::Profile;
use vsc_core::text_encoding::TextEncoding;
use vsc_issuer_api::records::OneRecord;

use crate::db::{today_utc, Backend};
use crate::error::ApiError;
use crate::import::{self, Input, Refused, ValidRecord};
use crate::json::{bytes_rejection, JsonBody};
use crate::session::Caller;
use crate::state::AppState;
use crate::tx::WriteTx;
use vsc_core::error_catalogue as codes;

/// A record's state: `pending` (no job yet), `built` (a job was uploaded), `purged` (its
/// private fields are deleted).
pub const PENDING: &str = "pending";
/// See [`PENDING`].
pub const BUILT: &str = "built";
/// See [`PENDING`].
pub const PURGED: &str = "purged";

async fn store(
    state: &AppState,
    caller: &Caller,
    profile: &Profile,
    records: Vec<ValidRecord>,
    source: &str,
) -> Result<Vec<i64>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let now = tx.now();
    let mut ids = Vec::with_capacity(records.len());
    for r in &records {
        let search = format!("{} {}", r.holder_name, r.holder_id).to_lowercase();
        let public = serde_json::to_string(&r.public).map_err(|_| ApiError::internal())?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO records (profile, holder_name, holder_id, search, public_fields, private_fields, state, imported_by, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&profile.id)
        .bind(&r.holder_name)
        .bind(&r.holder_id)
        .bind(search)
        .bind(public)
        .bind(r.private_json.as_str())
        .bind(PENDING)
        .bind(&caller.name)
        .bind(now)
        .fetch_one(tx.conn())
        .await?;
        ids.push(id);
    }
    let details = json!({
        "profile": profile.id, "source": source, "count": ids.len(),
        "first_id": ids.first(), "last_id": ids.last(),
    });
    tx.audit(&caller.event("records.import", "", details))
        .await?;
    tx.commit().await?;
    Ok(ids)
}

fn rejected(refused: Refused, what: &str) -> ApiError {
    match refused {
        Refused::File(why) => {
            let mut e =
                ApiError::invalid(format!("{what} cannot be read: {why}; nothing was stored"));
            e.code = &codes::INVALID_FILE;
            e
        }
        Refused::Rows(problems) => {
            let mut e = ApiError::invalid(format!(
                "{what} has {} problem(s); nothing was stored. Fix every row listed and send it again",
                problems.len()
            ));
            e.code = &codes::INVALID_RECORDS;
            e.rows = problems;
            e
        }
    }
}

/// `POST /api/records`: one record as JSON.
pub async fn create_one(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<OneRecord>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let profile = body.profile()?;
    let records = import::validate(profile, Input::Record(&body.values), today_utc())
        .map_err(|p| rejected(p, "the record"))?;
    let ids = store(&state, &caller, profile, records, "json").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "record": { "id": ids[0] } })),
    ))
}

/// The query of `POST /api/records/import`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    profile: String,
    #[serde(default)]
    encoding: Option<String>,
}

/// `POST /api/records/import?profile=ID`: a CSV file, all rows or none.
pub async fn import_csv(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "give the profile as ?profile=ID ({})",
            e.body_text()
        ))
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.starts_with("text/csv") || content_type.starts_with("text/plain")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &codes::UNSUPPORTED_MEDIA_TYPE,
            "send the file with the header Content-Type: text/csv",
        ));
    }
    let body = body.map_err(|e| bytes_rejection(e.status(), &e))?;
    let profile = vsc_issuer_api::records::profile(&query.profile)?;
    let encoding = match query.encoding.as_deref() {
        None => TextEncoding::Utf8,
        Some(label) => TextEncoding::from_label(label).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown encoding {label:?}; use one of {}",
                TextEncoding::labels()
            ))
        })?,
    };
    let records = import::validate(profile, Input::Csv(&body, encoding), today_utc())
        .map_err(|p| rejected(p, "the file"))?;
    let ids = store(&state, &caller, profile, records, "csv").await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "imported": ids.len(), "first_id": ids.first(), "last_id": ids.last(), "ids": ids }),
        ),
    ))
}

/// The query of `GET /api/records`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
}

/// Page number and size from a query: page from 1, 1 to 500 per page (default 50).
pub fn paging(page: Option<i64>, per_page: Option<i64>) -> Result<(i64, i64), ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(50);
    if page < 1 || !(1..=500).contains(&per_page) {
        return Err(ApiError::bad_request(
            "page starts at 1 and per_page is 1 to 500",
        ));
    }
    // The callers skip (page - 1) * per_page rows: a page so far that this overflows is refused.
    if (page - 1).checked_mul(per_page).is_none() {
        return Err(ApiError::bad_request(format!(
            "page {page} is beyond any list; ask for a smaller page"
        )));
    }
    Ok((page, per_page))
}

fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The search of `GET /api/records` and `GET /api/records/ids`: its `WHERE` clause (binding
/// `$1` and `$2`) and those two values, or what is wrong with it.
fn search_filter(
    q: Option<&str>,
    state: Option<&str>,
) -> Result<(&'static str, String, String), ApiError> {
    if let Some(s) = state {
        if ![PENDING, BUILT, PURGED].contains(&s) {
            return Err(ApiError::bad_request(format!(
                "unknown record state {s:?}; expected pending, built or purged"
            )));
        }
    }
    Ok((
        "WHERE search LIKE $1 ESCAPE '\\' AND ($2 = '' OR state = $2)",
        like_pattern(q.unwrap_or("")),
        state.unwrap_or_default().to_owned(),
    ))
}

/// `GET /api/records`: search by name or holder id, filter by state, paged.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (page, per_page) = paging(query.page, query.per_page)?;
    let (filter, pattern, state_filter) =
        search_filter(query.q.as_deref(), query.state.as_deref())?;
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM records {filter}"))
        .bind(&pattern)
        .bind(&state_filter)
        .fetch_one(state.db.pool())
        .await?;
    let rows: Vec<(i64, String, String, String, String, String, i64)> = sqlx::query_as(&format!(
        "SELECT id, profile, holder_name, holder_id, state, imported_by, imported_at FROM records {filter} \
         ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(&pattern)
    .bind(&state_filter)
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(state.db.pool())
    .await?;
    let records: Vec<Value> = rows
        .into_iter()
        .map(|(id, profile, name, holder_id, st, by, at)| {
            json!({ "id": id, "profile": profile, "holder_name": name, "holder_id": holder_id,
                    "state": st, "imported_by": by, "imported_at_ms": at })
        })
        .collect();
    Ok(Json(
        json!({ "records": records, "page": page, "per_page": per_page, "total": total }),
    ))
}

/// The query of `GET /api/records/ids`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdsQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// Most ids `GET /api/records/ids` returns: a selection larger than this is refused.
pub const MAX_IDS: usize = 100_000;

/// `GET /api/records/ids`: the ids of every record the search of `GET /api/records` matches,
/// in order, in one answer (the clerk's "Select all matching" upload needs them all, not a
/// page of records with their names).
pub async fn ids(
    State(state): State<AppState>,
    query: Result<Query<IdsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (filter, pattern, state_filter) =
        search_filter(query.q.as_deref(), query.state.as_deref())?;
    let limit = i64::try_from(MAX_IDS + 1).unwrap_or(i64::MAX);
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM records {filter} ORDER BY id LIMIT $3"
    ))
    .bind(&pattern)
    .bind(&state_filter)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "more than {MAX_IDS} records match; narrow the search (by name, holder id or state) and work through the records in parts"
        )));
    }
    let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
    Ok(Json(json!({ "total": ids.len(), "ids": ids })))
}

/// The query of `GET /api/records/values`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesQuery {
    ids: String,
}

/// Most records `GET /api/records/values` returns at once: a batch of the clerk's upload.
pub const MAX_VALUES: usize = vsc_core::job_envelopes::JOBS_PER_BATCH;

/// `GET /api/records/values?ids=1,2,3`: every field of up to [`MAX_VALUES`] records at once,
/// for the clerk's page to build their VSCs a chunk at a time. Ids that do not exist are left
/// out (the page says which).
pub async fn values(
    State(state): State<AppState>,
    query: Result<Query<ValuesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "give the records as ?ids=1,2,3 ({})",
            e.body_text()
        ))
    })?;
    let ids: Vec<i64> = query
        .ids
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::bad_request("ids is a comma-separated list of record ids"))?;
    if ids.is_empty() || ids.len() > MAX_VALUES {
        return Err(ApiError::bad_request(format!(
            "ask for 1 to {MAX_VALUES} records at once; this asks for {}",
            ids.len()
        )));
    }
    // The database writes the answer: one row, not one per record, and no value parsed and
    // written again here.
    let record = record_object_sql(state.db.backend());
    let params = crate::db::param_list(state.db.backend(), ids.len());
    let sql = match state.db.backend() {
        Backend::Sqlite => format!(
            "SELECT json_group_array({record} ORDER BY id) FROM records WHERE id IN ({params})"
        ),
        Backend::Postgres => format!(
            "SELECT COALESCE(json_agg({record} ORDER BY id), '[]'::json)::text \
             FROM records WHERE id IN ({params})"
        ),
    };
    let mut select = sqlx::query_as::<_, (String,)>(&sql);
    for id in &ids {
        select = select.bind(*id);
    }
    let (records,) = select.fetch_one(state.db.pool()).await?;
    Ok(json_text("records", &records))
}

/// The SQL expression of one `records` row as a JSON object `{id, profile, state, values}`,
/// its values the public fields with the private ones (until purged) laid over them; of the
/// database's JSON type (PostgreSQL: cast it to `text` to read it). Secret: never logged.
fn record_object_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "json_object('id', id, 'profile', profile, 'state', state, \
             'values', json_patch(public_fields, COALESCE(private_fields, '{}')))"
        }
        Backend::Postgres => {
            "json_build_object('id', id, 'profile', profile, 'state', state, \
             'values', public_fields::jsonb || COALESCE(private_fields::jsonb, '{}'::jsonb))"
        }
    }
}

/// A JSON answer `{"<key>": <json>}` around JSON text the database wrote.
fn json_text(key: &str, json: &str) -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"{key}\":{json}}}"),
    )
}

/// `GET /api/records/{id}`: every field (the private ones until purged).
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let missing = || ApiError::not_found(format!("there is no record {id}"));
    let id_num: i64 = id.parse().map_err(|_| missing())?;
    let record = record_object_sql(state.db.backend());
    let sql = match state.db.backend() {
        Backend::Sqlite => format!("SELECT {record} FROM records WHERE id = $1"),
        Backend::Postgres => format!("SELECT ({record})::text FROM records WHERE id = $1"),
    };
    let row: Option<(String,)> = sqlx::query_as(&sql)
        .bind(id_num)
        .fetch_optional(state.db.pool())
        .await?;
    Ok(json_text("record", &row.ok_or_else(missing)?.0))
}
