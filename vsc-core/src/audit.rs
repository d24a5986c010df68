//! The issuer's audit chain: the canonical encoding of an audit row, its chain hash, and a
//! streaming verifier that names the first row that is altered, missing or out of order.
//!
//! Each row's `hash = SHA-256(prev_hash || canonical(row))`, where `prev_hash` is the previous
//! row's hash ([`GENESIS`] for the first). The canonical encoding is a version tag followed
//! by every field, each length-prefixed, so no two different rows encode alike. A checkpoint
//! (size and head hash, signed elsewhere) is encoded by [`checkpoint_message`].
//!
//! What this module does not do: store rows, serialize writers, or sign; the issuer service
//! does that. Rows never hold secrets: the service puts none in them.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

const ROW_TAG: &[u8] = b"vsc-audit-row/1";
const CHECKPOINT_TAG: &[u8] = b"vsc-audit-checkpoint/1";

/// One audit row's content (everything but its two hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who: a user name, or `-` for an anonymous request, `service` for the service itself.
    pub actor: String,
    /// The actor's role (empty when none).
    pub role: String,
    /// The branch concerned (empty when none).
    pub branch: String,
    /// What was done (`login`, `job.approve`, ...).
    pub action: String,
    /// What it was done to (a job id, a user name, ...; empty when nothing).
    pub object: String,
    /// `ok`, or `refused` / `failed` with the reason in `details`.
    pub outcome: String,
    /// Further facts, as compact JSON text (may be empty).
    pub details: String,
}

impl AuditEntry {
    /// The canonical encoding the chain hash covers.
    pub fn canonical(&self) -> Vec<u8> {
        let texts = [
            &self.actor,
            &self.role,
            &self.branch,
            &self.action,
            &self.object,
            &self.outcome,
            &self.details,
        ];
        let mut out = Vec::with_capacity(64 + texts.iter().map(|t| t.len() + 4).sum::<usize>());
        put(&mut out, ROW_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        for text in texts {
            put(&mut out, text.as_bytes());
        }
        out
    }

    /// This row's hash after a row whose hash is `prev_hash`.
    pub fn chain_hash(&self, prev_hash: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash);
        hasher.update(self.canonical());
        hasher.finalize().into()
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are far below 4 GiB; a longer one would still encode unambiguously with its
    // length truncated only if two fields collided, which the service prevents by limits.
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes a checkpoint's signature covers: the chain's size and its head hash.
pub fn checkpoint_message(size: i64, head: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKPOINT_TAG.len() + 8 + 32 + 4);
    put(&mut out, CHECKPOINT_TAG);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(head);
    out
}

/// The first thing wrong with a chain, naming its row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A row is missing: the next stored row has a later sequence number.
    #[error("row {seq} is missing (deleted): the row after row {} is numbered {found}", .seq - 1)]
    Missing {
        /// The missing row.
        seq: i64,
        /// The sequence number found in its place.
        found: i64,
    },
    /// A row's number repeats or goes back.
    #[error("row {seq} is out of order: expected row {expected} at this position")]
    OutOfOrder {
        /// The row found.
        seq: i64,
        /// The row expected.
        expected: i64,
    },
    /// A row does not link to the row before it.
    #[error("row {seq} does not follow row {}: its previous-hash differs (rows reordered, deleted or rewritten)", .seq - 1)]
    BrokenLink {
        /// The row.
        seq: i64,
    },
    /// A row's content does not match its hash.
    #[error("row {seq} was altered: its content does not match its hash")]
    Altered {
        /// The row.
        seq: i64,
    },
    /// The chain ends before its recorded head (rows deleted at the end).
    #[error("the chain ends at row {size} but its head records {expected} rows: rows {} to {expected} are missing", .size + 1)]
    Truncated {
        /// Rows found.
        size: i64,
        /// Rows the head (or a checkpoint) records.
        expected: i64,
    },
    /// The chain disagrees with a kept checkpoint (rewritten).
    #[error(
        "row {seq} differs from the checkpoint's head hash: the chain was rewritten up to that row"
    )]
    CheckpointMismatch {
        /// The checkpoint's size.
        seq: i64,
    },
}

/// Verifies a chain row by row, in `seq` order, without holding it in memory.
#[derive(Debug, Clone)]
pub struct Verifier {
    size: i64,
    head: [u8; 32],
    checkpoint: Option<(i64, [u8; 32])>,
    checkpoint_seen: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier for a chain starting at row 1.
    pub fn new() -> Verifier {
        Verifier {
            size: 0,
            head: GENESIS,
            checkpoint: None,
            checkpoint_seen: false,
        }
    }

    /// Also checks that row `size` has hash `head` (a checkpoint kept elsewhere).
    pub fn with_checkpoint(mut self, size: i64, head: [u8; 32]) -> Verifier {
        self.checkpoint = Some((size, head));
        self.checkpoint_seen = size == 0 && head == GENESIS;
        self
    }

    /// Checks the next stored row: its content, its `prev_hash` and its `hash` as stored.
    pub fn push(
        &mut self,
        entry: &AuditEntry,
        prev_hash: &[u8],
        hash: &[u8],
    ) -> Result<(), ChainBreak> {
        let expected = self.size + 1;
        if entry.seq > expected {
            return Err(ChainBreak::Missing {
                seq: expected,
                found: entry.seq,
            });
        }
        if entry.seq < expected {
            return Err(ChainBreak::OutOfOrder {
                seq: entry.seq,
                expected,
            });
        }
        if prev_hash != self.head {
            return Err(ChainBreak::BrokenLink { seq: entry.seq });
        }
        let computed = entry.chain_hash(&self.head);
        if hash != computed {
            return Err(ChainBreak::Altered { seq: entry.seq });
        }
        self.size = entry.seq;
        self.head = computed;
        if let Some((size, head)) = self.checkpoint {
            if size == self.size {
                if head != self.head {
                    return Err(ChainBreak::CheckpointMismatch { seq: size });
                }
                self.checkpoint_seen = true;
            }
        }
        Ok(())
    }

    /// Ends the check: the chain must reach `expected_size` (its recorded head) and any
    /// checkpoint. Returns the chain's size and head hash.
    pub fn finish(self, expected_size: i64) -> Result<(i64, [u8; 32]), ChainBreak> {
        let checkpoint_size = self.checkpoint.map_or(0, |(size, _)| size);
        let expected = expected_size.max(checkpoint_size);
        if self.size < expected || (self.checkpoint.is_some() && !self.checkpoint_seen) {
            return Err(ChainBreak::Truncated {
                size: self.size,
                expected,
            });
        }
        Ok((self.size, self.head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, action: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at_ms: 1_800_000_000_000 + seq,
            actor: "ana".into(),
            role: "clerk".into(),
            branch: "b1".into(),
            action: action.into(),
            object: format!("job-{seq}"),
            outcome: "ok".into(),
            details: String::new(),
        }
    }

    fn chain(n: i64) -> Vec<(AuditEntry, [u8; 32], [u8; 32])> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let e = entry(seq, "job.approve");
                let hash = e.chain_hash(&prev);
                let row = (e, prev, hash);
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(
        rows: &[(AuditEntry, [u8; 32], [u8; 32])],
        head_size: i64,
    ) -> Result<(i64, [u8; 32]), ChainBreak> {
        let mut v = Verifier::new();
        for (e, prev, hash) in rows {
            v.push(e, prev, hash)?;
        }
        v.finish(head_size)
    }

    #[test]
    fn a_good_chain_verifies() {
        let rows = chain(5);
        let (size, head) = verify(&rows, 5).unwrap();
        assert_eq!((size, head), (5, rows[4].2));
    }

    #[test]
    fn the_first_bad_row_is_named() {
        let mut altered = chain(5);
        altered[2].0.outcome = "refused".into();
        assert_eq!(verify(&altered, 5), Err(ChainBreak::Altered { seq: 3 }));

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(
            verify(&deleted, 5),
            Err(ChainBreak::Missing { seq: 2, found: 3 })
        );
        assert_eq!(
            ChainBreak::Missing { seq: 2, found: 3 }.to_string(),
            "row 2 is missing (deleted): the row after row 1 is numbered 3"
        );

        let mut reordered = chain(5);
        reordered.swap(1, 2);
        let (a, b) = (reordered[1].0.seq, reordered[2].0.seq);
        reordered[1].0.seq = b;
        reordered[2].0.seq = a;
        assert_eq!(
            verify(&reordered, 5),
            Err(ChainBreak::BrokenLink { seq: 2 })
        );

        let tail = chain(5);
        assert_eq!(
            verify(&tail[..4], 5),
            Err(ChainBreak::Truncated {
                size: 4,
                expected: 5
            })
        );
    }

    #[test]
    fn a_rewritten_chain_fails_against_a_kept_checkpoint() {
        let rows = chain(4);
        let kept = (3, rows[2].2);
        let mut rewritten = chain(4);
        rewritten[0].0.actor = "mallory".into();
        let mut prev = GENESIS;
        for row in &mut rewritten {
            row.1 = prev;
            row.2 = row.0.chain_hash(&prev);
            prev = row.2;
        }
        assert!(
            verify(&rewritten, 4).is_ok(),
            "a consistent rewrite verifies on its own"
        );
        let mut v = Verifier::new().with_checkpoint(kept.0, kept.1);
        let err = rewritten
            .iter()
            .try_for_each(|(e, p, h)| v.push(e, p, h))
            .unwrap_err();
        assert_eq!(err, ChainBreak::CheckpointMismatch { seq: 3 });

        let mut v = Verifier::new().with_checkpoint(kept.0, kept.1);
        rows.iter()
            .try_for_each(|(e, p, h)| v.push(e, p, h))
            .unwrap();
        assert!(v.finish(4).is_ok());
    }

    #[test]
    fn encodings_are_unambiguous() {
        let mut a = entry(1, "x");
        let mut b = entry(1, "x");
        a.actor = "ab".into();
        a.role = "c".into();
        b.actor = "a".into();
        b.role = "bc".into();
        assert_ne!(a.canonical(), b.canonical());
        assert_ne!(
            checkpoint_message(1, &GENESIS),
            checkpoint_message(2, &GENESIS)
        );
    }
}
