//! Jobs: one sealed VSC on its way to a card. Uploads (single and batch, all or none) with
//! the checks the server can make without the password, listing, and the clerk's and
//! approver's transitions. Every transition goes through [`apply`], which consults
//! `vsc_core::job`'s table.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use vsc_core::job::{self, Actor, JobAction, JobState, Role};
use vsc_core::seal;
use vsc_issuer_api::jobs::{check_station_once, Batch, EnvelopeUpload, JobUpload, Reason};

use crate::admin::four_eyes;
use crate::db::{param_list, param_rows, Backend};
use crate::error::{is_unique_violation, ApiError};
use crate::json::JsonBody;
use crate::records::{self, BUILT, PURGED};
use crate::session::Caller;
use crate::state::AppState;
use crate::stations::APPROVED;
use crate::tx::{Event, WriteTx};

/// A job row, as the transitions need it.
#[derive(Debug, Clone)]
pub struct JobRow {
    /// The UID.
    pub id: String,
    /// The record.
    pub record_id: i64,
    /// The branch.
    pub branch: String,
    /// The state.
    pub state: JobState,
    /// Who uploaded it.
    pub created_by: String,
    /// Who claimed it.
    pub claimed_by: Option<String>,
    /// With which station.
    pub claim_station: Option<String>,
    /// Until when.
    pub lease_until: Option<i64>,
    /// The claim's token (kept after a verified card, for a report sent again).
    pub claim_token: Option<String>,
}

type LoadRow = (
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// Loads a job (for a transition: inside the write transaction).
pub async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<JobRow>, ApiError> {
    let row: Option<LoadRow> =
        sqlx::query_as(
            "SELECT id, record_id, branch, state, created_by, claimed_by, claim_station, lease_until, claim_token \
             FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(
        |(
            id,
            record_id,
            branch,
            st,
            created_by,
            claimed_by,
            claim_station,
            lease_until,
            claim_token,
        )| {
            let state = st.parse::<JobState>().map_err(|_| {
                tracing::error!("job {id} has an unknown state in the database");
                ApiError::internal()
            })?;
            Ok(JobRow {
                id,
                record_id,
                branch,
                state,
                created_by,
                claimed_by,
                claim_station,
                lease_until,
                claim_token,
            })
        },
    )
    .transpose()
}

/// The 404 for a job the caller may not know of (another branch's, or none).
pub fn no_job(id: &str) -> ApiError {
    ApiError::not_found(format!("there is no job {id}"))
}

/// Moves `job` by `action` (checked against the table), audits it, and purges what the new
/// state says to. `set` adds column assignments (`col = $N` from `$3`) with their values.
pub async fn apply(
    tx: &mut WriteTx,
    job: &JobRow,
    action: JobAction,
    actor: Actor,
    event: Event,
    set: &[(&str, SqlValue)],
) -> Result<JobState, ApiError> {
    let to =
        job::transition(job.state, action, actor).map_err(|e| ApiError::conflict(e.to_string()))?;
    let mut sql = String::from("UPDATE jobs SET state = $1, updated_at = $2");
    for (i, (column, _)) in set.iter().enumerate() {
        sql.push_str(&format!(", {column} = ${}", i + 3));
    }
    sql.push_str(&format!(
        " WHERE id = ${} AND state = ${}",
        set.len() + 3,
        set.len() + 4
    ));
    let mut query = sqlx::query(&sql).bind(to.as_str()).bind(tx.now());
    for (_, value) in set {
        query = match value {
            SqlValue::Int(v) => query.bind(*v),
            SqlValue::Text(v) => query.bind(v.clone()),
            SqlValue::NullInt => query.bind(Option::<i64>::None),
            SqlValue::NullText => query.bind(Option::<String>::None),
        };
    }
    let done = query
        .bind(&job.id)
        .bind(job.state.as_str())
        .execute(tx.conn())
        .await?;
    if done.rows_affected() != 1 {
        return Err(ApiError::conflict(format!(
            "job {} changed while this request ran; reload it and try again",
            job.id
        )));
    }
    if to.purges() || to == JobState::Superseded {
        purge(tx.conn(), job, to.purges()).await?;
    }
    let mut event = event;
    event.action = format!("job.{}", action.as_str());
    event.object = job.id.clone();
    event.branch = job.branch.clone();
    let mut details = if event.details.is_object() {
        event.details
    } else {
        json!({})
    };
    details["from"] = json!(job.state.as_str());
    details["to"] = json!(to.as_str());
    event.details = details;
    tx.audit(&event).await?;
    Ok(to)
}

/// A value for [`apply`]'s extra columns.
#[derive(Debug, Clone)]
pub enum SqlValue {
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// NULL in an integer column.
    NullInt,
    /// NULL in a text column.
    NullText,
}

/// The states of a job on its way to a card (SQL list): a record has at most one such job.
const LIVE_STATES: &str = "'prepared', 'queued', 'claimed'";

/// Deletes the job's `.vsc` and envelopes; with `record`, also its record's private fields
/// when no other live job uses it.
async fn purge(conn: &mut AnyConnection, job: &JobRow, record: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET vsc = NULL WHERE id = $1")
        .bind(&job.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM envelopes WHERE job_id = $1")
        .bind(&job.id)
        .execute(&mut *conn)
        .await?;
    if record {
        sqlx::query(&format!(
            "UPDATE records SET private_fields = NULL, state = $1 WHERE id = $2 AND NOT EXISTS \
             (SELECT 1 FROM jobs WHERE record_id = $2 AND id <> $3 AND state IN ({LIVE_STATES}))"
        ))
        .bind(PURGED)
        .bind(job.record_id)
        .bind(&job.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Refuses a `.vsc` built for another holder than record `id` (paired with the wrong record by
/// the uploader): the fields that say who a card is for (the profile's `who`: the holder's
/// name and id) must hold the record's values in the VSC's clear public area. Fields a build
/// fills in itself (an issue date defaulting to the builder's today) may differ.
fn check_holder(
    id: i64,
    record_json: &str,
    profile: &vsc_core::profile::Profile,
    public_area: &[u8],
) -> Result<(), ApiError> {
    let record: HashMap<String, String> =
        serde_json::from_str(record_json).map_err(|_| ApiError::internal())?;
    let in_vsc: HashMap<String, String> = vsc_core::vsc::read_public_area(profile, public_area)
        .ok_or_else(|| ApiError::invalid("the .vsc's public area is not BER-TLV"))?
        .into_iter()
        .collect();
    let who = [Some(&profile.who.name), profile.who.id.as_ref()];
    for field in profile
        .fields
        .iter()
        .filter(|f| who.contains(&Some(&f.name)))
    {
        if record.get(&field.column) != in_vsc.get(&field.name) {
            return Err(ApiError::invalid(format!(
                "the .vsc is not built from record {id}: its {} differs from the record's; \
                 upload each VSC with the record it was built from",
                field.column
            )));
        }
    }
    Ok(())
}

/// A holder record as an upload is checked against it.
#[derive(Clone)]
struct RecordRow {
    profile: String,
    state: String,
    /// The public fields as imported (a JSON object of field name to value).
    public_fields: String,
    /// A job of this record on its way to a card, if any.
    live_job: Option<String>,
}

/// The columns a [`RecordRow`] is read from (after the id), for `records`.
fn record_columns() -> String {
    format!(
        "profile, state, public_fields, \
         (SELECT j.id FROM jobs j WHERE j.record_id = records.id AND j.state IN ({LIVE_STATES}) LIMIT 1)"
    )
}

/// What a batch caches while it checks: its records and the approved stations of each branch.
#[derive(Default)]
struct Checker {
    stations: HashMap<String, HashSet<String>>,
    records: HashMap<i64, RecordRow>,
}

impl Checker {
    async fn approved_stations(
        &mut self,
        conn: &mut AnyConnection,
        branch: &str,
    ) -> Result<&HashSet<String>, ApiError> {
        if !self.stations.contains_key(branch) {
            let exists = crate::admin::branch_exists(conn, branch).await?;
            if !exists {
                return Err(ApiError::invalid(format!("there is no branch {branch:?}")));
            }
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT id FROM stations WHERE branch = $1 AND state = $2")
                    .bind(branch)
                    .bind(APPROVED)
                    .fetch_all(&mut *conn)
                    .await?;
            self.stations.insert(
                branch.to_owned(),
                rows.into_iter().map(|(id,)| id).collect(),
            );
        }
        Ok(&self.stations[branch])
    }

    /// Loads the batch's records in a few statements instead of one per job.
    async fn prefetch_records(
        &mut self,
        conn: &mut AnyConnection,
        ids: &[i64],
    ) -> Result<(), ApiError> {
        let mut wanted: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !self.records.contains_key(id))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        for chunk in wanted.chunks(500) {
            let sql = format!(
                "SELECT id, {} FROM records WHERE id IN ({})",
                record_columns(),
                param_list(Backend::of(conn), chunk.len())
            );
            let mut query =
                sqlx::query_as::<_, (i64, String, String, String, Option<String>)>(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for (id, profile, state, public_fields, live_job) in query.fetch_all(&mut *conn).await?
            {
                let row = RecordRow {
                    profile,
                    state,
                    public_fields,
                    live_job,
                };
                self.records.insert(id, row);
            }
        }
        Ok(())
    }

    async fn record(&mut self, conn: &mut AnyConnection, id: i64) -> Result<RecordRow, ApiError> {
        if let Some(r) = self.records.get(&id) {
            return Ok(r.clone());
        }
        let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(&format!(
            "SELECT {} FROM records WHERE id = $1",
            record_columns()
        ))
        .bind(id)
        .fetch_optional(conn)
        .await?;
        let (profile, state, public_fields, live_job) = row.ok_or_else(|| {
            ApiError::invalid(format!("there is no record {id}; import it first"))
        })?;
        let row = RecordRow {
            profile,
            state,
            public_fields,
            live_job,
        };
        self.records.insert(id, row.clone());
        Ok(row)
    }

    /// Checks one upload; returns its UID and the SHA-256 of its `.vsc`.
    async fn check(
        &mut self,
        conn: &mut AnyConnection,
        job: &JobUpload,
    ) -> Result<(String, Vec<u8>), ApiError> {
        let (header, profile) = job.header()?;
        let record = self.record(conn, job.record).await?;
        if record.profile != header.profile_id {
            return Err(ApiError::invalid(format!(
                "record {} is for profile {}, the .vsc for {}",
                job.record, record.profile, header.profile_id
            )));
        }
        check_holder(job.record, &record.public_fields, profile, &header.public)?;
        if record.state == PURGED {
            return Err(ApiError::conflict(format!(
                "record {} is purged (its private fields are deleted); import the holder again",
                job.record
            )));
        }
        let approved = self.approved_stations(conn, &job.branch).await?;
        job.check_has_envelopes()?;
        let mut seen = HashSet::new();
        for e in &job.envelopes {
            if !approved.contains(&e.station) {
                return Err(ApiError::invalid(format!(
                    "envelope for station {:?}: not an approved station of branch {}",
                    e.station, job.branch
                )));
            }
            check_station_once(&mut seen, &e.station)?;
            e.check_shape()?;
        }
        Ok((header.uid.to_string(), Sha256::digest(&job.vsc).to_vec()))
    }
}

/// Rows of the `jobs` and `envelopes` tables in one `INSERT` (11 and 4 parameters a row: far
/// below SQLite's and PostgreSQL's limits).
const INSERT_ROWS: usize = 100;

/// The UIDs of `jobs` (those whose header parses) that the database holds already.
async fn existing_uids(
    conn: &mut AnyConnection,
    jobs: &[JobUpload],
) -> Result<HashSet<String>, sqlx::Error> {
    let uids: Vec<String> = jobs
        .iter()
        .filter_map(|job| seal::read_header(&job.vsc).ok())
        .map(|header| header.uid.to_string())
        .collect();
    let mut existing = HashSet::new();
    for chunk in uids.chunks(500) {
        let sql = format!(
            "SELECT id FROM jobs WHERE id IN ({})",
            param_list(Backend::of(conn), chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for uid in chunk {
            query = query.bind(uid);
        }
        existing.extend(
            query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id),
        );
    }
    Ok(existing)
}

/// Inserts the checked `jobs` (UID and `.vsc` SHA-256 in `checked`), prepared.
async fn insert_jobs(
    conn: &mut AnyConnection,
    caller: &Caller,
    jobs: &[JobUpload],
    checked: &[(String, Vec<u8>)],
    checker: &Checker,
    now: i64,
    reissue_of: Option<&str>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&JobUpload, &(String, Vec<u8>))> = jobs.iter().zip(checked).collect();
    for chunk in rows.chunks(INSERT_ROWS) {
        let sql = format!(
            "INSERT INTO jobs (id, record_id, profile, branch, state, vsc, vsc_sha256, created_by, created_at, reissue_of, updated_at) VALUES {}",
            param_rows(Backend::of(conn), chunk.len(), 11)
        );
        let mut query = sqlx::query(&sql);
        for (job, (uid, sha)) in chunk {
            query = query
                .bind(uid.clone())
                .bind(job.record)
                .bind(checker.records[&job.record].profile.clone())
                .bind(job.branch.clone())
                .bind(JobState::Prepared.as_str())
                .bind(job.vsc.clone())
                .bind(sha.clone())
                .bind(caller.name.clone())
                .bind(now)
                .bind(reissue_of.map(str::to_owned))
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts the password envelopes of the checked `jobs`.
async fn insert_envelopes(
    conn: &mut AnyConnection,
    jobs: &[JobUpload],
    checked: &[(String, Vec<u8>)],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&String, &EnvelopeUpload)> = jobs
        .iter()
        .zip(checked)
        .flat_map(|(job, (uid, _))| job.envelopes.iter().map(move |e| (uid, e)))
        .collect();
    for chunk in rows.chunks(INSERT_ROWS) {
        let sql = format!(
            "INSERT INTO envelopes (job_id, station_id, enc, ciphertext) VALUES {}",
            param_rows(Backend::of(conn), chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for (uid, e) in chunk {
            query = query
                .bind((*uid).clone())
                .bind(e.station.clone())
                .bind(e.enc.clone())
                .bind(e.ciphertext.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks the records of `ids` built (in the caller's transaction), a few statements for a
/// whole batch.
async fn mark_built(conn: &mut AnyConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(500) {
        // The state is a constant of this module, written into the SQL: the ids are then the
        // only parameters (see `param_list`).
        let sql = format!(
            "UPDATE records SET state = '{BUILT}' WHERE state <> '{BUILT}' AND id IN ({})",
            param_list(Backend::of(conn), chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Checks and stores `jobs` in one transaction: all, or none and the first problem.
async fn store(
    state: &AppState,
    caller: &Caller,
    jobs: &[JobUpload],
    reissue_of: Option<&str>,
) -> Result<Vec<(String, JobState)>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let now = tx.now();
    let auto = !four_eyes(tx.conn()).await?;
    if let Some(old_id) = reissue_of {
        let old = load(tx.conn(), old_id)
            .await?
            .ok_or_else(|| no_job(old_id))?;
        if jobs[0].record != old.record_id {
            return Err(ApiError::invalid(format!(
                "a reissue is built from the same record: job {old_id} is for record {}, the upload for record {}",
                old.record_id, jobs[0].record
            )));
        }
        apply(
            &mut tx,
            &old,
            JobAction::Reissue,
            Actor::Role(Role::Clerk),
            caller.event("", "", json!(null)),
            &[],
        )
        .await?;
    }
    let mut checker = Checker::default();
    let record_ids: Vec<i64> = jobs.iter().map(|j| j.record).collect();
    checker.prefetch_records(tx.conn(), &record_ids).await?;
    let numbered = |i: usize, mut e: ApiError| {
        if jobs.len() > 1 {
            e.message = format!(
                "job #{} of the batch: {}; nothing was stored",
                i + 1,
                e.message
            );
        }
        e
    };
    let duplicate = |uid: &str| {
        ApiError::conflict(format!(
            "a job with UID {uid} exists already; a VSC is uploaded once (build a new one to replace it)"
        ))
    };
    let existing = existing_uids(tx.conn(), jobs).await?;
    let mut checked: Vec<(String, Vec<u8>)> = Vec::with_capacity(jobs.len());
    let mut seen = HashSet::with_capacity(jobs.len());
    let mut records_seen = HashSet::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let (uid, sha) = checker
            .check(tx.conn(), job)
            .await
            .map_err(|e| numbered(i, e))?;
        if existing.contains(&uid) || !seen.insert(uid.clone()) {
            return Err(numbered(i, duplicate(&uid)));
        }
        // One card at a time per holder: not a record twice in a batch, nor one with a job
        // still on its way (a re-upload after a lost answer would make a second card).
        let one_card = |what: String| {
            numbered(
                i,
                ApiError::conflict(format!(
                    "record {} {what}; a holder gets one card at a time",
                    job.record
                )),
            )
        };
        if !records_seen.insert(job.record) {
            return Err(one_card("is in the batch twice".into()));
        }
        if let Some(live) = &checker.records[&job.record].live_job {
            return Err(one_card(format!(
                "has a job on its way to a card already ({live}): cancel that job first, or reissue it"
            )));
        }
        checked.push((uid, sha));
    }
    match insert_jobs(tx.conn(), caller, jobs, &checked, &checker, now, reissue_of).await {
        // Not expected (the UIDs were checked above in this transaction); if it happens,
        // which job of the batch it was is not known.
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::conflict(
                "a job of the batch exists already; a VSC is uploaded once (build a new one to replace it); nothing was stored",
            ))
        }
        other => other?,
    }
    insert_envelopes(tx.conn(), jobs, &checked).await?;
    let events: Vec<Event> = jobs
        .iter()
        .zip(&checked)
        .map(|(job, (uid, sha))| {
            let mut event = caller.event(
                "job.upload",
                uid,
                json!({ "record": job.record, "vsc_sha256": hex::encode(sha), "stations": job.envelopes.iter().map(|e| &e.station).collect::<Vec<_>>(), "reissue_of": reissue_of }),
            );
            event.branch = job.branch.clone();
            event
        })
        .collect();
    tx.audit_many(&events).await?;
    let mut stored = Vec::with_capacity(jobs.len());
    for (job, (uid, _)) in jobs.iter().zip(checked) {
        let mut final_state = JobState::Prepared;
        if auto {
            let row = JobRow {
                id: uid.clone(),
                record_id: job.record,
                branch: job.branch.clone(),
                state: JobState::Prepared,
                created_by: caller.name.clone(),
                claimed_by: None,
                claim_station: None,
                lease_until: None,
                claim_token: None,
            };
            let event = Event::by_service(json!({ "reason": "four-eyes approval is off" }));
            final_state = apply(
                &mut tx,
                &row,
                JobAction::AutoApprove,
                Actor::Service,
                event,
                &[("queued_at", SqlValue::Int(now))],
            )
            .await?;
        }
        stored.push((uid, final_state));
    }
    mark_built(tx.conn(), &record_ids).await?;
    tx.commit().await?;
    Ok(stored)
}

/// `POST /api/jobs`: one job.
pub async fn create_one(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(job): JsonBody<JobUpload>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let stored = store(&state, &caller, std::slice::from_ref(&job), None).await?;
    let (id, st) = &stored[0];
    Ok((
        StatusCode::CREATED,
        Json(json!({ "job": { "id": id, "state": st.as_str() } })),
    ))
}

/// `POST /api/jobs/batch`: all or none.
pub async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    batch.check()?;
    let stored = store(&state, &caller, &batch.jobs, None).await?;
    let jobs: Vec<Value> = stored
        .iter()
        .map(|(id, st)| json!({ "id": id, "state": st.as_str() }))
        .collect();
    Ok((StatusCode::CREATED, Json(json!({ "jobs": jobs }))))
}

/// `POST /api/jobs/{id}/reissue`: a new upload from the same record; the old job is superseded.
pub async fn reissue(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(job): JsonBody<JobUpload>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let stored = store(&state, &caller, std::slice::from_ref(&job), Some(&id)).await?;
    let (new_id, st) = &stored[0];
    Ok((
        StatusCode::CREATED,
        Json(json!({ "job": { "id": new_id, "state": st.as_str(), "reissue_of": id } })),
    ))
}

/// The columns of a job's view.
pub const VIEW_COLUMNS: &str = "id, record_id, profile, branch, state, vsc_sha256, created_by, created_at, approved_by, \
     queued_at, claimed_by, claim_station, lease_until, attempts, spoiled_cards, result, reissue_of, \
     (SELECT holder_name FROM records WHERE records.id = jobs.record_id)";

fn view(r: &AnyRow) -> Result<Value, sqlx::Error> {
    let state: String = r.try_get(4)?;
    let actions: Vec<&str> = state
        .parse::<JobState>()
        .map(|s| job::allowed_actions(s).map(JobAction::as_str).collect())
        .unwrap_or_default();
    let result: Option<String> = r.try_get(15)?;
    let result: Value = result
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let sha: Vec<u8> = r.try_get(5)?;
    Ok(json!({
        "id": r.try_get::<String, _>(0)?, "record": r.try_get::<i64, _>(1)?,
        "profile": r.try_get::<String, _>(2)?, "branch": r.try_get::<String, _>(3)?, "state": state,
        "vsc_sha256": hex::encode(sha), "created_by": r.try_get::<String, _>(6)?,
        "created_at_ms": r.try_get::<i64, _>(7)?, "approved_by": r.try_get::<Option<String>, _>(8)?,
        "queued_at_ms": r.try_get::<Option<i64>, _>(9)?, "claimed_by": r.try_get::<Option<String>, _>(10)?,
        "station": r.try_get::<Option<String>, _>(11)?, "lease_until_ms": r.try_get::<Option<i64>, _>(12)?,
        "attempts": r.try_get::<i64, _>(13)?, "spoiled_cards": r.try_get::<i64, _>(14)?, "result": result,
        "reissue_of": r.try_get::<Option<String>, _>(16)?, "actions": actions,
        "holder_name": r.try_get::<Option<String>, _>(17)?,
    }))
}

/// One job's view, if it exists (and, for `branch`, belongs to it).
pub async fn fetch_view(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, Value)>, ApiError> {
    let row: Option<AnyRow> =
        sqlx::query(&format!("SELECT {VIEW_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((r.try_get::<String, _>(3)?, view(&r)?))),
    }
}

/// The query of `GET /api/jobs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
}

/// `GET /api/jobs`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (page, per_page) = records::paging(query.page, query.per_page)?;
    let st = query.state.unwrap_or_default();
    if !st.is_empty() {
        st.parse::<JobState>()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let branch = query.branch.unwrap_or_default();
    let filter = "WHERE ($1 = '' OR state = $1) AND ($2 = '' OR branch = $2)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM jobs {filter}"))
        .bind(&st)
        .bind(&branch)
        .fetch_one(state.db.pool())
        .await?;
    let rows: Vec<AnyRow> = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS} FROM jobs {filter} ORDER BY created_at, id LIMIT $3 OFFSET $4"
    ))
    .bind(&st)
    .bind(&branch)
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(state.db.pool())
    .await?;
    Ok(Json(json!({
        "jobs": rows.iter().map(view).collect::<Result<Vec<_>, _>>()?,
        "page": page, "per_page": per_page, "total": total,
    })))
}

/// `GET /api/jobs/{id}`: operators see their branch's jobs only (others are 404).
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    let (branch, view) = fetch_view(&mut conn, &id)
        .await?
        .ok_or_else(|| no_job(&id))?;
    if caller.role == Role::Operator && caller.branch.as_deref() != Some(branch.as_str()) {
        return Err(no_job(&id).with_audit_note(format!("job {id} belongs to branch {branch}")));
    }
    Ok(Json(json!({ "job": view })))
}

async fn simple(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: JobAction,
    reason: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let job = load(tx.conn(), id).await?.ok_or_else(|| no_job(id))?;
    let mut set: Vec<(&str, SqlValue)> = Vec::new();
    if action == JobAction::Approve {
        if job.created_by == caller.name && four_eyes(tx.conn()).await? {
            return Err(ApiError::forbidden(format!(
                "four-eyes approval: job {id} was uploaded by you; another approver must approve it"
            )));
        }
        set.push(("approved_by", SqlValue::Text(caller.name.clone())));
        set.push(("queued_at", SqlValue::Int(tx.now())));
    }
    let details = match reason {
        Some(r) => json!({ "reason": r }),
        None => json!({}),
    };
    let to = apply(
        &mut tx,
        &job,
        action,
        Actor::Role(caller.role),
        caller.event("", "", details),
        &set,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "job": { "id": id, "state": to.as_str() } })))
}

/// `POST /api/jobs/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    simple(&state, &caller, &id, JobAction::Approve, None).await
}

/// `POST /api/jobs/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Value>, ApiError> {
    simple(&state, &caller, &id, JobAction::Reject, body.for_audit()).await
}

/// `POST /api/jobs/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Value>, ApiError> {
    simple(&state, &caller, &id, JobAction::Cancel, body.for_audit()).await
}

/// `POST /api/jobs/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Value>, ApiError> {
    simple(&state, &caller, &id, JobAction::Revoke, body.for_audit()).await
}
