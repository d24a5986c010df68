//! The audit chain as stored: verification (streamed, naming the first bad row), checkpoints
//! signed with the service's Ed25519 key, and export as JSON lines.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AnyConnection;
use vsc_core::audit::{checkpoint_message, AuditEntry, ChainBreak, Verifier};

use crate::db::{now_ms, Db};

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

const SELECT_ROWS: &str =
    "SELECT seq, at, actor, role, branch, action, object, outcome, details, prev_hash, hash \
     FROM audit WHERE seq > $1 ORDER BY seq";

fn entry(row: &Row) -> AuditEntry {
    AuditEntry {
        seq: row.0,
        at_ms: row.1,
        actor: row.2.clone(),
        role: row.3.clone(),
        branch: row.4.clone(),
        action: row.5.clone(),
        object: row.6.clone(),
        outcome: row.7.clone(),
        details: row.8.clone(),
    }
}

/// A kept checkpoint: the chain's size and head hash, signed by the service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Rows in the chain.
    pub size: i64,
    /// The hash of row `size` (hex).
    pub head: String,
    /// When it was taken.
    pub at_ms: i64,
    /// The service's Ed25519 public key (hex).
    pub public_key: String,
    /// Ed25519 signature of the size and head (hex).
    pub signature: String,
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not the JSON `audit checkpoint` prints.
    #[error("the checkpoint is not the JSON `vsc-issuer audit checkpoint` prints: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("the checkpoint's signature does not verify under its public key: it was altered, or not made by this service")]
    BadSignature,
    /// Signed by another key than this service's.
    #[error("the checkpoint was signed by key {0}, not by this service's key {1}")]
    OtherKey(String, String),
}

impl Checkpoint {
    /// Parses and checks the signature; returns the size and head to verify against.
    pub fn check(&self, service_key: &VerifyingKey) -> Result<(i64, [u8; 32]), CheckpointError> {
        let malformed = |what: &str| CheckpointError::Malformed(what.into());
        let head: [u8; 32] = hex::decode(&self.head)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("head is not 32 bytes of hex"))?;
        let key_bytes: [u8; 32] = hex::decode(&self.public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("public_key is not 32 bytes of hex"))?;
        let sig_bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("signature is not 64 bytes of hex"))?;
        let key = VerifyingKey::from_bytes(&key_bytes)
            .map_err(|_| malformed("public_key is not an Ed25519 key"))?;
        key.verify(
            &checkpoint_message(self.size, &head),
            &Signature::from_bytes(&sig_bytes),
        )
        .map_err(|_| CheckpointError::BadSignature)?;
        if key != *service_key {
            return Err(CheckpointError::OtherKey(
                self.public_key.clone(),
                hex::encode(service_key.as_bytes()),
            ));
        }
        Ok((self.size, head))
    }
}

/// The service's signing key (created by `init`).
pub async fn signing_key(conn: &mut AnyConnection) -> Result<SigningKey, sqlx::Error> {
    let (seed,): (Vec<u8>,) = sqlx::query_as("SELECT seed FROM service_key WHERE id = 1")
        .fetch_one(conn)
        .await?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| sqlx::Error::Protocol("service_key.seed is not 32 bytes".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The result of a verification.
#[derive(Debug)]
pub struct Verified {
    /// Rows checked.
    pub size: i64,
    /// The head hash.
    pub head: [u8; 32],
}

/// Recomputes the whole chain (streamed) against its stored head and an optional checkpoint.
pub async fn verify(
    db: &Db,
    checkpoint: Option<(i64, [u8; 32])>,
) -> Result<Result<Verified, ChainBreak>, sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    let (head_seq,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let mut verifier = Verifier::new();
    if let Some((size, head)) = checkpoint {
        verifier = verifier.with_checkpoint(size, head);
    }
    let mut rows = sqlx::query_as::<_, Row>(SELECT_ROWS)
        .bind(0i64)
        .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        if let Err(e) = verifier.push(&entry(&row), &row.9, &row.10) {
            return Ok(Err(e));
        }
    }
    drop(rows);
    Ok(verifier
        .finish(head_seq)
        .map(|(size, head)| Verified { size, head }))
}

/// Takes a signed checkpoint of the chain as it is now.
pub async fn checkpoint(db: &Db) -> Result<Checkpoint, sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    let key = signing_key(&mut conn).await?;
    let (size, head): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
    let head: [u8; 32] = head
        .try_into()
        .map_err(|_| sqlx::Error::Protocol("audit_head.hash is not 32 bytes".into()))?;
    let signature = key.sign(&checkpoint_message(size, &head));
    Ok(Checkpoint {
        size,
        head: hex::encode(head),
        at_ms: now_ms(),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
    })
}

/// One row as exported and as `GET /api/audit` lists it.
pub fn row_json(row: &Row) -> serde_json::Value {
    let details: serde_json::Value = if row.8.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&row.8).unwrap_or_else(|_| json!(row.8))
    };
    json!({
        "seq": row.0, "at_ms": row.1, "actor": row.2, "role": row.3, "branch": row.4,
        "action": row.5, "object": row.6, "outcome": row.7, "details": details,
        "prev_hash": hex::encode(&row.9), "hash": hex::encode(&row.10),
    })
}

/// Rows after `after`, at most `limit`.
pub async fn rows(
    db: &Db,
    after: i64,
    limit: i64,
    filter: &RowFilter,
) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, at, actor, role, branch, action, object, outcome, details, prev_hash, hash \
         FROM audit WHERE seq > $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR action LIKE $4 ESCAPE '\\') \
         AND ($5 = '' OR object = $5) AND ($6 = '' OR outcome = $6) ORDER BY seq LIMIT $7",
    )
    .bind(after)
    .bind(&filter.actor)
    .bind(&filter.action)
    .bind(like_prefix(&filter.action))
    .bind(&filter.object)
    .bind(&filter.outcome)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(row_json).collect())
}

/// Which audit rows [`rows`] returns; an empty field matches every row.
#[derive(Debug, Default, Clone)]
pub struct RowFilter {
    /// Rows of this actor.
    pub actor: String,
    /// Rows whose action starts with this (`job.` for every job action).
    pub action: String,
    /// Rows about this object (a job's UID, a station's id).
    pub object: String,
    /// Rows with this outcome (`ok`, `refused`).
    pub outcome: String,
}

fn like_prefix(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Writes every row as one JSON line to `out` (streamed). Returns the number of rows.
pub async fn export(db: &Db, out: &mut impl std::io::Write) -> Result<i64, ExportError> {
    let mut conn = db.pool().acquire().await?;
    let mut rows = sqlx::query_as::<_, Row>(SELECT_ROWS)
        .bind(0i64)
        .fetch(&mut *conn);
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        serde_json::to_writer(&mut *out, &row_json(&row)).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the database.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// Writing the output.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}
