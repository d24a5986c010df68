//! An audited write transaction: every state change and its audit rows commit together, or
//! not at all.
//!
//! [`WriteTx::begin`] takes the database's write lock (see [`crate::db`]), so the audit chain's
//! head read here stays the head until commit; [`WriteTx::audit`] appends a row to the chain
//! in memory order, and [`WriteTx::commit`] stores the new head with the rest.

use serde_json::Value;
use sqlx::{Any, AnyConnection, Transaction};
use vsc_core::audit::AuditEntry;

use crate::db::{Backend, Db};

/// One audit event, before it gets its place in the chain.
#[derive(Debug, Clone)]
pub struct Event {
    /// User name, `-` when anonymous, `service` for the service itself.
    pub actor: String,
    /// The actor's role, or empty.
    pub role: String,
    /// The branch concerned, or empty.
    pub branch: String,
    /// What was done, e.g. `job.approve`.
    pub action: String,
    /// What it was done to, or empty.
    pub object: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// Further facts (never a secret); `Value::Null` for none.
    pub details: Value,
}

impl Event {
    /// An event of the service itself (an automatic transition: `action` and `object` are
    /// filled in by `jobs::apply`), with `details`.
    pub fn by_service(details: Value) -> Event {
        Event {
            actor: "service".into(),
            role: String::new(),
            branch: String::new(),
            action: String::new(),
            object: String::new(),
            outcome: "ok".into(),
            details,
        }
    }
}

/// Most audit rows in one `INSERT` (11 parameters each: far below SQLite's and PostgreSQL's
/// limits).
pub const AUDIT_ROWS: usize = 100;
const AUDIT_COLUMNS: usize = 11;

/// A serialized write transaction that appends to the audit chain.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    head: Option<(i64, [u8; 32])>,
    now: i64,
    changed: bool,
    // Declared last: released after the transaction is committed or rolled back.
    _slot: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Begins the transaction (waits for the write lock).
    pub async fn begin(db: &Db) -> Result<WriteTx, sqlx::Error> {
        let write = db.write().await?;
        let head = match write.head {
            Some((seq, hash)) => Some((seq, head_hash(hash)?)),
            None => None,
        };
        Ok(WriteTx {
            tx: write.tx,
            head,
            now: write.now,
            changed: false,
            _slot: write.slot,
        })
    }

    /// The transaction's time, milliseconds since the Unix epoch, read once its lock was
    /// held: leases, queue order and the audit rows' times are measured by it. On PostgreSQL
    /// it is the database server's clock, so instances whose clocks drift apart still agree.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The connection, for the transaction's own statements.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Appends `event` to the audit chain (stored with the transaction).
    pub async fn audit(&mut self, event: &Event) -> Result<(), sqlx::Error> {
        self.audit_many(std::slice::from_ref(event)).await
    }

    /// Appends `events` to the audit chain in their order (stored with the transaction), up
    /// to [`AUDIT_ROWS`] rows a statement.
    pub async fn audit_many(&mut self, events: &[Event]) -> Result<(), sqlx::Error> {
        let (mut seq, mut prev) = match self.head {
            Some(head) => head,
            None => {
                let (seq, hash): (i64, Vec<u8>) =
                    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                        .fetch_one(&mut *self.tx)
                        .await?;
                (seq, head_hash(hash)?)
            }
        };
        for chunk in events.chunks(AUDIT_ROWS) {
            let mut rows = Vec::with_capacity(chunk.len());
            for event in chunk {
                let entry = AuditEntry {
                    seq: seq + 1,
                    at_ms: self.now,
                    actor: event.actor.clone(),
                    role: event.role.clone(),
                    branch: event.branch.clone(),
                    action: event.action.clone(),
                    object: event.object.clone(),
                    outcome: event.outcome.clone(),
                    details: if event.details.is_null() {
                        String::new()
                    } else {
                        event.details.to_string()
                    },
                };
                let hash = entry.chain_hash(&prev);
                rows.push((entry, prev, hash));
                seq += 1;
                prev = hash;
            }
            let sql = format!(
                "INSERT INTO audit (seq, at, actor, role, branch, action, object, outcome, details, prev_hash, hash) VALUES {}",
                crate::db::param_rows(Backend::of(&self.tx), rows.len(), AUDIT_COLUMNS)
            );
            let mut query = sqlx::query(&sql);
            for (entry, prev, hash) in rows {
                query = query
                    .bind(entry.seq)
                    .bind(entry.at_ms)
                    .bind(entry.actor)
                    .bind(entry.role)
                    .bind(entry.branch)
                    .bind(entry.action)
                    .bind(entry.object)
                    .bind(entry.outcome)
                    .bind(entry.details)
                    .bind(prev.to_vec())
                    .bind(hash.to_vec());
            }
            query.execute(&mut *self.tx).await?;
            self.head = Some((seq, prev));
            self.changed = true;
        }
        Ok(())
    }

    /// Stores the chain's new head and commits everything.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if let (true, Some((seq, hash))) = (self.changed, self.head) {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(hash.to_vec())
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await
    }
}

/// The audit head's hash as stored: 32 bytes.
fn head_hash(hash: Vec<u8>) -> Result<[u8; 32], sqlx::Error> {
    hash.try_into()
        .map_err(|_| sqlx::Error::Protocol("audit_head.hash is not 32 bytes".into()))
}
