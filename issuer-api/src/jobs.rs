//! Job uploads (one sealed VSC with its password envelopes), batches, and the reason given
//! with a rejection, cancellation or revocation.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use vsc_core::envelope::{KEY_LEN, MAX_CIPHERTEXT, TAG_LEN};
use vsc_core::profile::Profile;
use vsc_core::seal::{self, Header};

use crate::BodyError;

/// Most jobs in one batch.
pub const MAX_BATCH: usize = 10_000;

/// Longest reason kept in the audit log, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// One password envelope, as uploaded: the VSC password sealed with HPKE to one station.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeUpload {
    /// The station's id.
    pub station: String,
    /// HPKE encapsulated key (hex, 32 bytes).
    #[serde(with = "crate::fields::hex")]
    pub enc: Vec<u8>,
    /// HPKE ciphertext of the password (hex).
    #[serde(with = "crate::fields::hex")]
    pub ciphertext: Vec<u8>,
}

impl EnvelopeUpload {
    /// Checks the lengths: an X25519 encapsulated key, a ciphertext longer than its tag and
    /// not over [`MAX_CIPHERTEXT`].
    pub fn check_shape(&self) -> Result<(), BodyError> {
        if self.enc.len() != KEY_LEN {
            return Err(BodyError::EncLength {
                station: self.station.clone(),
                len: self.enc.len(),
            });
        }
        if !(TAG_LEN + 1..=MAX_CIPHERTEXT).contains(&self.ciphertext.len()) {
            return Err(BodyError::CiphertextLength {
                station: self.station.clone(),
                len: self.ciphertext.len(),
            });
        }
        Ok(())
    }
}

/// One job, as uploaded (`POST /api/jobs`, `POST /api/jobs/{id}/reissue`, each job of a
/// batch).
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobUpload {
    /// The holder record the VSC was built from.
    pub record: i64,
    /// The branch whose queue it goes to.
    pub branch: String,
    /// The sealed `.vsc` (base64).
    #[serde(with = "crate::fields::base64")]
    pub vsc: Vec<u8>,
    /// One envelope per approved station of the branch (at least one).
    pub envelopes: Vec<EnvelopeUpload>,
}

impl JobUpload {
    /// The `.vsc`'s header and its profile: the header parses, names a shipped profile, and
    /// was built with that profile's current text.
    pub fn header(&self) -> Result<(Header, &'static Profile), BodyError> {
        let header = seal::read_header(&self.vsc).map_err(BodyError::Vsc)?;
        let profile = crate::records::profile(&header.profile_id)?;
        if profile.hash() != header.profile_hash {
            return Err(BodyError::ProfileVersion(header.profile_id));
        }
        Ok((header, profile))
    }

    /// Checks that the job has an envelope.
    pub fn check_has_envelopes(&self) -> Result<(), BodyError> {
        if self.envelopes.is_empty() {
            return Err(BodyError::NoEnvelope {
                branch: self.branch.clone(),
            });
        }
        Ok(())
    }

    /// Every check of the upload that needs no database, in the service's order: the
    /// [`header`](Self::header), an envelope at least, then each envelope once per station and
    /// of the right shape. (The service also checks the record, the branch and that each
    /// station is approved, between these.)
    pub fn check(&self) -> Result<Header, BodyError> {
        let (header, _) = self.header()?;
        self.check_has_envelopes()?;
        let mut seen = HashSet::new();
        for envelope in &self.envelopes {
            check_station_once(&mut seen, &envelope.station)?;
            envelope.check_shape()?;
        }
        Ok(header)
    }
}

/// Refuses a second envelope for `station` of one job (`seen` holds the stations so far).
pub fn check_station_once<'a>(
    seen: &mut HashSet<&'a str>,
    station: &'a str,
) -> Result<(), BodyError> {
    if seen.insert(station) {
        Ok(())
    } else {
        Err(BodyError::TwoEnvelopes {
            station: station.to_owned(),
        })
    }
}

/// The body of `POST /api/jobs/batch`: all its jobs are stored, or none.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The jobs.
    pub jobs: Vec<JobUpload>,
}

impl Batch {
    /// Checks the number of jobs: 1 to [`MAX_BATCH`].
    pub fn check(&self) -> Result<(), BodyError> {
        if self.jobs.is_empty() || self.jobs.len() > MAX_BATCH {
            return Err(BodyError::BatchSize(self.jobs.len()));
        }
        Ok(())
    }
}

/// A reason given with a rejection, cancellation or revocation (optional, free text).
#[derive(Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// The reason.
    #[serde(default)]
    pub reason: String,
}

impl Reason {
    /// What the audit log keeps: nothing for a blank reason, else its first
    /// [`MAX_REASON_CHARS`] characters.
    pub fn for_audit(&self) -> Option<String> {
        if self.reason.trim().is_empty() {
            return None;
        }
        Some(self.reason.chars().take(MAX_REASON_CHARS).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(station: &str, enc: usize, ciphertext: usize) -> EnvelopeUpload {
        EnvelopeUpload {
            station: station.into(),
            enc: vec![1; enc],
            ciphertext: vec![2; ciphertext],
        }
    }

    #[test]
    fn envelopes_have_an_x25519_key_and_a_bounded_ciphertext() {
        assert!(envelope("s", KEY_LEN, TAG_LEN + 1).check_shape().is_ok());
        assert!(envelope("s", KEY_LEN, MAX_CIPHERTEXT).check_shape().is_ok());
        assert!(matches!(
            envelope("s", KEY_LEN - 1, TAG_LEN + 1).check_shape(),
            Err(BodyError::EncLength { len, .. }) if len == KEY_LEN - 1
        ));
        for bad in [0, TAG_LEN, MAX_CIPHERTEXT + 1] {
            assert!(matches!(
                envelope("s", KEY_LEN, bad).check_shape(),
                Err(BodyError::CiphertextLength { .. })
            ));
        }
    }

    #[test]
    fn a_job_needs_a_vsc_and_one_envelope_per_station() {
        let job = JobUpload {
            record: 1,
            branch: "b1".into(),
            vsc: b"not a vsc".to_vec(),
            envelopes: vec![],
        };
        let e = job.check().unwrap_err().to_string();
        assert!(e.starts_with("the .vsc does not parse: "), "{e}");
        assert!(matches!(
            job.check_has_envelopes(),
            Err(BodyError::NoEnvelope { branch }) if branch == "b1"
        ));
        let mut seen = HashSet::new();
        assert!(check_station_once(&mut seen, "s1").is_ok());
        assert!(check_station_once(&mut seen, "s2").is_ok());
        assert_eq!(
            check_station_once(&mut seen, "s1").unwrap_err().to_string(),
            "two envelopes for station s1"
        );
    }

    #[test]
    fn batches_hold_one_to_max_jobs_and_reasons_are_cut() {
        let e = Batch { jobs: vec![] }.check().unwrap_err().to_string();
        assert_eq!(
            e,
            format!("a batch holds 1 to {MAX_BATCH} jobs; this one has 0")
        );
        assert_eq!(Reason::default().for_audit(), None);
        let long = Reason {
            reason: "é".repeat(MAX_REASON_CHARS + 1),
        };
        assert_eq!(long.for_audit().unwrap().chars().count(), MAX_REASON_CHARS);
    }
}
