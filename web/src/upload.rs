//! The clerk's online upload: holder records from the issuer service built into sealed VSCs,
//! each VSC's password sealed for every approved station of the branch, packed as the body of
//! one `POST /api/jobs/batch`, a chunk of records at a time.
//!
//! Memory stays flat with the batch: a chunk's VSCs and passwords live only until its body is
//! made; the page sends it and asks for the next chunk. Passwords never leave this module in
//! the clear: [`seal_password`] is the one place they are sealed, and they are wiped after.
//!
//! What it does not do: talk to the service (the page does), or keep anything between chunks
//! but the branch, its stations and the random source.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vsc_core::batch::BatchEntry;
use vsc_core::date::Date;
use vsc_core::holder;
use vsc_core::profile::Profile;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Code, WebError};
use crate::rng::BlockOsRng;

/// An approved station of the branch, as `GET /api/stations` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Station {
    /// The station's id.
    pub id: String,
    /// Its X25519 public key (standard base64, 32 bytes).
    pub public_key: String,
}

/// Records as `GET /api/records/values` answers them.
#[derive(Deserialize)]
struct Records {
    records: Vec<Record>,
}

/// One record with its values (private ones included: wiped on drop).
#[derive(Deserialize)]
struct Record {
    id: i64,
    profile: String,
    values: BTreeMap<String, String>,
}

impl Drop for Record {
    fn drop(&mut self) {
        for value in self.values.values_mut() {
            value.zeroize();
        }
    }
}

#[derive(Serialize)]
struct Body {
    jobs: Vec<Job>,
}

#[derive(Serialize)]
struct Job {
    record: i64,
    branch: String,
    vsc: String,
    envelopes: Vec<Envelope>,
}

/// A password sealed for one station.
#[derive(Debug, Serialize)]
pub struct Envelope {
    /// The station's id.
    pub station: String,
    /// HPKE encapsulated key (base64).
    pub enc: String,
    /// HPKE ciphertext of the password (base64).
    pub ciphertext: String,
}

/// What binds an envelope to its job: the job id (the VSC's UID), the branch and the SHA-256
/// of the sealed `.vsc`, so that an envelope moved to another job does not open.
pub fn envelope_aad(job_id: &str, branch: &str, vsc_sha256: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(job_id.len() + branch.len() + vsc_sha256.len() + 2);
    aad.extend_from_slice(job_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(branch.as_bytes());
    aad.push(0);
    aad.extend_from_slice(vsc_sha256);
    aad
}

/// Seals `password` for the station whose X25519 public key is `station_key`, bound to `aad`:
/// the page's one call of the password envelope (HPKE, `vsc_core::envelope`), which
/// returns `(enc, ciphertext)`.
fn seal_password(
    _station_key: &[u8; 32],
    _password: &[u8],
    _aad: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), WebError> {
    Err(WebError::new(
        Code::BuildFailed,
        "this build of the page cannot seal passwords for stations yet (the password envelope is not part of it); nothing was uploaded",
    ))
}

/// Builds and seals the VSCs of a branch's upload, chunk by chunk.
pub struct Uploader {
    branch: String,
    stations: Vec<(String, [u8; 32])>,
    profiles: Vec<Profile>,
    rng: BlockOsRng,
}

impl Uploader {
    /// An upload to `branch`, sealing for `stations` (at least one).
    pub fn new(branch: &str, stations: &[Station]) -> Result<Uploader, WebError> {
        if stations.is_empty() {
            return Err(WebError::new(
                Code::NoApprovedStation,
                format!("branch {branch} has no approved station to seal the passwords for; an operator enrols one and an administrator approves it first"),
            ));
        }
        let stations = stations
            .iter()
            .map(|s| {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(&s.public_key)
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k).ok())
                    .ok_or_else(|| {
                        WebError::new(
                            Code::InvalidInput,
                            format!("station {} has no valid X25519 public key", s.id),
                        )
                    })?;
                Ok((s.id.clone(), key))
            })
            .collect::<Result<_, WebError>>()?;
        Ok(Uploader {
            branch: branch.to_owned(),
            stations,
            profiles: Vec::new(),
            rng: BlockOsRng::new(),
        })
    }

    fn profile(&mut self, id: &str) -> Result<Profile, WebError> {
        if let Some(p) = self.profiles.iter().find(|p| p.id == id) {
            return Ok(p.clone());
        }
        let profile = crate::profiles::find(id)?;
        self.profiles.push(profile.clone());
        Ok(profile)
    }

    /// The body of `POST /api/jobs/batch` for the records of `records_json` (the text of a
    /// `GET /api/records/values` answer), built as of `today`; and the UIDs, in order.
    pub fn batch_body(
        &mut self,
        records_json: &str,
        today: Date,
    ) -> Result<(Zeroizing<String>, Vec<String>), WebError> {
        let records: Records = serde_json::from_str(records_json).map_err(|e| {
            WebError::new(
                Code::InvalidInput,
                format!("the service's records have the wrong shape ({e}); reload the page"),
            )
        })?;
        let mut jobs = Vec::with_capacity(records.records.len());
        let mut uids = Vec::with_capacity(records.records.len());
        for record in &records.records {
            let profile = self.profile(&record.profile)?;
            let data = holder::validate_record(&profile, &record.values, today).map_err(|errors| {
                WebError::new(
                    Code::InvalidInput,
                    format!(
                        "record {} no longer passes the holder rules ({}); nothing of this chunk was uploaded",
                        record.id,
                        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    ),
                )
            })?;
            let entry = BatchEntry::build(&profile, &data, &mut self.rng).map_err(|e| {
                WebError::new(
                    Code::BuildFailed,
                    format!("the VSC of record {} could not be built: {e}", record.id),
                )
            })?;
            let uid = entry.sealed.uid.to_string();
            let sha = Sha256::digest(&entry.sealed.bytes);
            let aad = envelope_aad(&uid, &self.branch, &sha);
            let mut envelopes = Vec::with_capacity(self.stations.len());
            for (station, key) in &self.stations {
                let (enc, ciphertext) =
                    seal_password(key, entry.sealed.password.expose().as_bytes(), &aad)?;
                envelopes.push(Envelope {
                    station: station.clone(),
                    enc: base64::engine::general_purpose::STANDARD.encode(enc),
                    ciphertext: base64::engine::general_purpose::STANDARD.encode(ciphertext),
                });
            }
            jobs.push(Job {
                record: record.id,
                branch: self.branch.clone(),
                vsc: base64::engine::general_purpose::STANDARD.encode(&entry.sealed.bytes),
                envelopes,
            });
            uids.push(uid);
        }
        let body = serde_json::to_string(&Body { jobs })
            .map_err(|e| WebError::new(Code::Internal, e.to_string()))?;
        Ok((Zeroizing::new(body), uids))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn the_aad_names_job_branch_and_vsc() {
        let a = envelope_aad("uid-1", "b1", &[7; 32]);
        assert_ne!(a, envelope_aad("uid-2", "b1", &[7; 32]));
        assert_ne!(a, envelope_aad("uid-1", "b2", &[7; 32]));
        assert_ne!(a, envelope_aad("uid-1", "b1", &[8; 32]));
        assert_ne!(envelope_aad("a", "bc", &[]), envelope_aad("ab", "c", &[]));
    }

    #[test]
    fn a_branch_without_stations_is_refused_in_words() {
        let error = Uploader::new("b1", &[]).err().unwrap();
        assert_eq!(error.code, "no_approved_station");
        let bad = [Station {
            id: "st-1".into(),
            public_key: "AAAA".into(),
        }];
        assert_eq!(
            Uploader::new("b1", &bad).err().unwrap().code,
            "invalid_input"
        );
    }
}
