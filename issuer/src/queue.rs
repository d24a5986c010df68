//! The branch queue: an operator sees its branch's jobs, claims the next one for an approved
//! station of its branch (exactly one claimer: writes are serialized, see [`crate::db`]),
//! renews or releases the lease, and reports the result. Expired leases go back to the queue
//! when the branch is next claimed from.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::AnyConnection;
use vsc_core::job::{Actor, JobAction, JobState, Role};
use vsc_issuer_api::queue::{Claim, Hold, Outcome};

use crate::db::Db;
use crate::error::ApiError;
use crate::jobs::{apply, fetch_view, load, no_job, JobRow, SqlValue};
use crate::json::{to_base64, JsonBody};
use crate::session::Caller;
use crate::state::{ms, AppState};
use crate::stations::{APPROVED, REVOKED};
use crate::tx::{Event, WriteTx};

/// The claim statement: the oldest queued job of the branch that has an envelope for the
/// station (or the one picked, `$6`; empty for the oldest), under the claim token `$7`. Run
/// inside a serialized write transaction. Returns the job's id and its sealed `.vsc`.
pub const CLAIM_SQL: &str = "UPDATE jobs SET state = 'claimed', claimed_by = $1, claim_station = $2, lease_until = $3, updated_at = $4, \
     claim_token = $7 \
     WHERE id = (SELECT j.id FROM jobs j JOIN envelopes e ON e.job_id = j.id AND e.station_id = $2 \
                 WHERE j.branch = $5 AND j.state = 'queued' AND ($6 = '' OR j.id = $6) \
                 ORDER BY j.queued_at, j.id LIMIT 1) \
       AND state = 'queued' \
     RETURNING id, vsc";

fn branch_of(caller: &Caller) -> Result<String, ApiError> {
    caller.branch.clone().ok_or_else(|| {
        tracing::error!("operator {} has no branch", caller.name);
        ApiError::internal()
    })
}

/// The query of `GET /api/queue`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
}

type QueueRow = (
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    Option<String>,
);

/// `GET /api/queue`: the branch's queued and claimed jobs, oldest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (page, per_page) = crate::records::paging(query.page, query.per_page)?;
    let branch = branch_of(&caller)?;
    let rows: Vec<QueueRow> = sqlx::query_as(
        "SELECT id, state, queued_at, claimed_by, claim_station, lease_until, attempts, \
         (SELECT holder_name FROM records WHERE records.id = jobs.record_id) FROM jobs \
         WHERE branch = $1 AND state IN ('queued', 'claimed') ORDER BY queued_at, id LIMIT $2 OFFSET $3",
    )
    .bind(&branch)
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(state.db.pool())
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM jobs WHERE branch = $1 AND state IN ('queued', 'claimed')",
    )
    .bind(&branch)
    .fetch_one(state.db.pool())
    .await?;
    let jobs: Vec<Value> = rows
        .into_iter()
        .map(|(id, st, queued, by, station, lease, attempts, holder)| {
            json!({ "id": id, "state": st, "queued_at_ms": queued, "claimed_by": by, "station": station,
                    "lease_until_ms": lease, "attempts": attempts, "holder_name": holder })
        })
        .collect();
    Ok(Json(
        json!({ "branch": branch, "jobs": jobs, "page": page, "per_page": per_page, "total": total }),
    ))
}

/// Puts the branch's claimed jobs whose lease ran out back in the queue, behind the jobs
/// waiting there (audited). The claim's token stays: a verified card is still reported under
/// it until the job is claimed again.
pub async fn expire_leases(tx: &mut WriteTx, branch: &str, now: i64) -> Result<(), ApiError> {
    let expired: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE branch = $1 AND state = 'claimed' AND lease_until < $2 ORDER BY id",
    )
    .bind(branch)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    for (id,) in expired {
        if let Some(job) = load(tx.conn(), &id).await? {
            let event = Event::by_service(
                json!({ "claimed_by": job.claimed_by, "station": job.claim_station }),
            );
            let mut set = end_lease();
            set.push(("queued_at", SqlValue::Int(now)));
            apply(
                tx,
                &job,
                JobAction::ExpireLease,
                Actor::Service,
                event,
                &set,
            )
            .await?;
        }
    }
    Ok(())
}

/// The columns of a claim's lease, cleared when it runs out (the token stays for a late
/// report of a verified card).
fn end_lease() -> Vec<(&'static str, SqlValue)> {
    vec![
        ("claimed_by", SqlValue::NullText),
        ("claim_station", SqlValue::NullText),
        ("lease_until", SqlValue::NullInt),
    ]
}

/// The columns of a claim that ends for good (released, failed): its lease and its token.
fn clear_claim() -> Vec<(&'static str, SqlValue)> {
    let mut set = end_lease();
    set.push(("claim_token", SqlValue::NullText));
    set
}

async fn station_ok(conn: &mut AnyConnection, station: &str, branch: &str) -> Result<(), ApiError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT branch, state FROM stations WHERE id = $1")
            .bind(station)
            .fetch_optional(conn)
            .await?;
    match row {
        Some((b, st)) if b == branch && st == APPROVED => Ok(()),
        Some((b, st)) if b == branch && st == REVOKED => Err(ApiError::forbidden(format!(
            "station {station} was revoked: it gets no more passwords; make a new key on that PC (vsc-bridge station rotate), enrol it and ask an admin to approve it"
        ))),
        Some((b, st)) if b == branch => Err(ApiError::forbidden(format!(
            "station {station} is {st}, not approved: an admin approves it after comparing its fingerprint"
        ))),
        _ => Err(ApiError::not_found(format!("there is no station {station} at branch {branch}"))),
    }
}

/// `POST /api/queue/claim`: the next job for the station, with its `.vsc` and the station's
/// envelope, under a lease; `{"job": null}` when the queue has nothing for it.
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Claim>,
) -> Result<Json<Value>, ApiError> {
    let pick = body.job.as_deref().filter(|j| !j.is_empty());
    let claimed = claim_job(&state.db, &caller, &body.station, pick, state.config.lease).await?;
    let Some(c) = claimed else {
        if let Some(id) = pick {
            return Err(ApiError::conflict(format!(
                "job {id} is not in the queue for this station any more (claimed by someone else, or it has no envelope for this station); reload the queue"
            )));
        }
        return Ok(Json(
            json!({ "job": null, "message": "no queued job of this branch has an envelope for this station" }),
        ));
    };
    Ok(Json(json!({
        "job": c.view,
        // Sent back with each renewal, release and result of this claim.
        "claim": c.token,
        "vsc": to_base64(&c.vsc),
        "envelope": { "station": body.station, "enc": hex::encode(&c.enc), "ciphertext": hex::encode(&c.ciphertext) },
        "lease_until_ms": c.lease_until,
        // How long the lease (and each renewal) lasts: the claimer renews well before its end.
        "lease_seconds": state.config.lease.as_secs(),
    })))
}

/// A claimed job: what the claimer gets.
#[derive(Debug)]
pub struct Claimed {
    /// The job's view.
    pub view: Value,
    /// The claim's token: renewals, the release and the result are made under it.
    pub token: String,
    /// The sealed `.vsc`.
    pub vsc: Vec<u8>,
    /// The station's envelope: HPKE encapsulated key.
    pub enc: Vec<u8>,
    /// The station's envelope: ciphertext.
    pub ciphertext: Vec<u8>,
    /// When the lease ends.
    pub lease_until: i64,
}

/// Claims the next job of the operator's branch for `station` (what `POST /api/queue/claim`
/// does, without HTTP): expired leases first go back to the queue.
pub async fn claim_next(
    db: &Db,
    caller: &Caller,
    station: &str,
    lease: Duration,
) -> Result<Option<Claimed>, ApiError> {
    claim_job(db, caller, station, None, lease).await
}

/// Claims the job `pick` of the operator's branch, or the next one when `None`.
pub async fn claim_job(
    db: &Db,
    caller: &Caller,
    station: &str,
    pick: Option<&str>,
    lease: Duration,
) -> Result<Option<Claimed>, ApiError> {
    let branch = branch_of(caller)?;
    let mut tx = WriteTx::begin(db).await?;
    let now = tx.now();
    let lease_until = now + ms(lease);
    station_ok(tx.conn(), station, &branch).await?;
    expire_leases(&mut tx, &branch, now).await?;
    let token = crate::password::random_token();
    let claimed: Option<(String, Option<Vec<u8>>)> = sqlx::query_as(CLAIM_SQL)
        .bind(&caller.name)
        .bind(station)
        .bind(lease_until)
        .bind(now)
        .bind(&branch)
        .bind(pick.unwrap_or(""))
        .bind(&token)
        .fetch_optional(tx.conn())
        .await?;
    let Some((id, vsc)) = claimed else {
        tx.commit().await?;
        return Ok(None);
    };
    let (enc, ciphertext): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT enc, ciphertext FROM envelopes WHERE job_id = $1 AND station_id = $2",
    )
    .bind(&id)
    .bind(station)
    .fetch_one(tx.conn())
    .await?;
    let vsc = vsc.ok_or_else(ApiError::internal)?;
    let mut claim = caller.event(
        "job.claim",
        &id,
        json!({ "from": "queued", "to": "claimed", "station": station, "lease_until_ms": lease_until }),
    );
    claim.branch = branch.clone();
    let mut release = caller.event("envelope.release", &id, json!({ "station": station }));
    release.branch = branch.clone();
    // Both rows in one statement.
    tx.audit_many(&[claim, release]).await?;
    let (_, view) = fetch_view(tx.conn(), &id)
        .await?
        .ok_or_else(ApiError::internal)?;
    tx.commit().await?;
    Ok(Some(Claimed {
        view,
        token,
        vsc,
        enc,
        ciphertext,
        lease_until,
    }))
}

/// What a lease that ran out means for a request on a job the caller still holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lease {
    /// Refused (renewing, releasing, a failed card): claim the job again.
    Required,
    /// Accepted while nobody has claimed the job since, even once it is back in the queue (a
    /// verified card: the card holds the VSC, and refusing its report would leave the job to
    /// another card).
    LateOk,
}

/// Loads a job the caller holds under `claim`: 404 for another branch's, 409 when claimed by
/// another operator, claimed again since `claim` (another tab or PC signed in as the caller)
/// or, for [`Lease::Required`], when the lease ran out.
async fn held(
    tx: &mut WriteTx,
    caller: &Caller,
    id: &str,
    claim: &str,
    now: i64,
    lease: Lease,
) -> Result<JobRow, ApiError> {
    let branch = branch_of(caller)?;
    let job = load(tx.conn(), id).await?.ok_or_else(|| no_job(id))?;
    if job.branch != branch {
        return Err(
            no_job(id).with_audit_note(format!("job {id} belongs to branch {}", job.branch))
        );
    }
    // A claim made before the service gave tokens (an upgrade) has none, and its claimer's
    // page or CLI sends none: only then may a request name no claim.
    let named = (!claim.is_empty()).then_some(claim);
    if job.state == JobState::Queued
        && lease == Lease::LateOk
        && (named.is_none() || job.claim_token.as_deref() != named)
    {
        return Err(ApiError::conflict(format!(
            "job {id} is back in the queue and this claim no longer holds it; claim it again from the queue"
        )));
    }
    if job.state == JobState::Claimed {
        if job.claimed_by.as_deref() != Some(caller.name.as_str()) {
            return Err(ApiError::conflict(format!(
                "job {id} is claimed by another operator; claim your own job from the queue"
            )));
        }
        if named.is_none() && job.claim_token.is_some() {
            return Err(ApiError::conflict(format!(
                "the request names no claim, and job {id} was claimed with one: send the \"claim\" of the claim's answer (reload the page, or update vsc)"
            )));
        }
        if job.claim_token.as_deref() != named {
            return Err(ApiError::conflict(format!(
                "job {id} was claimed again since this claim (at station {}, by another tab or PC signed in as you); this claim no longer holds it",
                job.claim_station.as_deref().unwrap_or("?")
            )));
        }
        if lease == Lease::Required && job.lease_until.is_some_and(|until| until < now) {
            return Err(ApiError::conflict(format!(
                "the lease on job {id} expired; claim it again from the queue (the card may need to be restarted)"
            )));
        }
    }
    Ok(job)
}

/// `POST /api/jobs/{id}/renew`: extends the lease.
pub async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(hold): JsonBody<Hold>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let now = tx.now();
    let lease_until = now + ms(state.config.lease);
    let job = held(&mut tx, &caller, &id, &hold.claim, now, Lease::Required).await?;
    apply(
        &mut tx,
        &job,
        JobAction::Renew,
        Actor::Role(Role::Operator),
        caller.event("", "", json!({ "lease_until_ms": lease_until })),
        &[("lease_until", SqlValue::Int(lease_until))],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "job": { "id": id, "state": "claimed", "lease_until_ms": lease_until } }),
    ))
}

/// `POST /api/jobs/{id}/release`: back to the queue, behind the jobs waiting there (a job
/// its station could not open would otherwise be the next claim again and again).
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(hold): JsonBody<Hold>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let now = tx.now();
    let job = held(&mut tx, &caller, &id, &hold.claim, now, Lease::Required).await?;
    let mut set = clear_claim();
    set.push(("queued_at", SqlValue::Int(now)));
    let to = apply(
        &mut tx,
        &job,
        JobAction::Release,
        Actor::Role(Role::Operator),
        caller.event("", "", json!({})),
        &set,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "job": { "id": id, "state": to.as_str() } })))
}

fn short(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `POST /api/jobs/{id}/result`: personalized (verified) or failed (card spoiled, back to the
/// queue).
pub async fn result(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(outcome): JsonBody<Outcome>,
) -> Result<Json<Value>, ApiError> {
    let (to, result) = report(&state.db, &caller, &id, outcome).await?;
    Ok(Json(
        json!({ "job": { "id": id, "state": to.as_str(), "result": result } }),
    ))
}

/// Records the result of a claimed job (what `POST /api/jobs/{id}/result` does, without HTTP).
/// A verified card's report sent again under the same claim (its answer was lost) gets the
/// recorded result back.
pub async fn report(
    db: &Db,
    caller: &Caller,
    id: &str,
    outcome: Outcome,
) -> Result<(JobState, Value), ApiError> {
    outcome.check()?;
    let claim = outcome.claim().to_owned();
    let mut tx = WriteTx::begin(db).await?;
    let now = tx.now();
    let (action, result, mut set) = match outcome {
        Outcome::Personalized { atr, apdus, .. } => (
            JobAction::ReportPersonalized,
            json!({ "outcome": "personalized", "atr": atr.to_ascii_uppercase(), "apdus": apdus, "read_back_ok": true, "at_ms": now }),
            Vec::new(),
        ),
        Outcome::Failed {
            step,
            status_word,
            reason,
            ..
        } => (
            JobAction::ReportFailed,
            json!({ "outcome": "failed", "step": short(&step, 100), "status_word": status_word.map(|s| s.to_ascii_uppercase()),
                        "reason": short(&reason, 500), "card_spoiled": true, "at_ms": now }),
            clear_claim(),
        ),
    };
    let lease = if action == JobAction::ReportPersonalized {
        Lease::LateOk
    } else {
        Lease::Required
    };
    let job = held(&mut tx, caller, id, &claim, now, lease).await?;
    let (attempts, spoiled, recorded): (i64, i64, Option<String>) =
        sqlx::query_as("SELECT attempts, spoiled_cards, result FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(tx.conn())
            .await?;
    let same_claim = job.claimed_by.as_deref() == Some(caller.name.as_str())
        && job.claim_token.as_deref() == Some(claim.as_str());
    if action == JobAction::ReportPersonalized && job.state == JobState::Personalized && same_claim
    {
        // Sent again after its answer was lost: nothing changes, nothing new is audited.
        let recorded = recorded.and_then(|text| serde_json::from_str(&text).ok());
        return Ok((JobState::Personalized, recorded.unwrap_or(Value::Null)));
    }
    set.push(("attempts", SqlValue::Int(attempts + 1)));
    if job.state == JobState::Queued {
        // Reported after its lease ran out: the card is the claimer's, as when it was claimed.
        set.push(("claimed_by", SqlValue::Text(caller.name.clone())));
    }
    if action == JobAction::ReportFailed {
        set.push(("spoiled_cards", SqlValue::Int(spoiled + 1)));
        set.push(("queued_at", SqlValue::Int(now)));
    }
    set.push(("result", SqlValue::Text(result.to_string())));
    let to = apply(
        &mut tx,
        &job,
        action,
        Actor::Role(Role::Operator),
        caller.event("", "", result.clone()),
        &set,
    )
    .await?;
    tx.commit().await?;
    Ok((to, result))
}
