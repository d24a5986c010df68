//! The clerk's online upload: holder records from the issuer service built into sealed VSCs,
//! each VSC's password sealed for every approved station of the branch, packed as the body of
//! one `POST /api/jobs/batch`, a chunk of records at a time.
//!
//! Memory stays flat with the batch: a chunk's VSCs and passwords live only until its body is
//! made; the page sends it and asks for the next chunk. Passwords never leave the wasm in the
//! clear: each is sealed for the stations by a [`crate::envelope::branch_sealer`] made for
//! the chunk (one HPKE encapsulation per station and chunk; the same code as `vsc build
//! --server`) and wiped with its chunk; keys and
//! envelopes are hex, the `.vsc` base64, as the service's API takes them.
//!
//! What it does not do: talk to the service (the page does), or keep anything between chunks
//! but the branch, its stations and the random source.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vsc_core::batch::BatchEntry;
use vsc_core::date::Date;
use vsc_core::envelope::StationPublicKey;
use vsc_core::holder;
use vsc_core::job_envelopes::SealedJob;
pub use vsc_core::job_envelopes::Station;
use vsc_core::profile::Profile;
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::branch_sealer;
use crate::error::{Code, WebError};
use crate::rng::BlockOsRng;

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
    jobs: Vec<SealedJob>,
}

/// Builds and seals the VSCs of a branch's upload, chunk by chunk.
pub struct Uploader {
    branch: String,
    stations: Vec<Station>,
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
        for station in stations {
            StationPublicKey::from_hex(&station.public_key).map_err(|e| {
                WebError::new(Code::BadStationKey, format!("station {}: {e}", station.id))
            })?;
        }
        Ok(Uploader {
            branch: branch.to_owned(),
            stations: stations.to_vec(),
            profiles: Vec::new(),
            rng: BlockOsRng::new(),
        })
    }

    /// Where the profile `id` is in `profiles`, loaded on first use (records of one upload
    /// share a profile or two: none is copied per record).
    fn profile_index(&mut self, id: &str) -> Result<usize, WebError> {
        if let Some(index) = self.profiles.iter().position(|p| p.id == id) {
            return Ok(index);
        }
        self.profiles.push(crate::profiles::find(id)?);
        Ok(self.profiles.len() - 1)
    }

    /// The body of `POST /api/jobs/batch` (UTF-8 JSON) for the records of `records_json` (the
    /// bytes of a `GET /api/records/values` answer), built as of `today`; and its number of
    /// jobs.
    pub fn batch_body(
        &mut self,
        records_json: &[u8],
        today: Date,
    ) -> Result<(Zeroizing<Vec<u8>>, usize), WebError> {
        let records: Records = serde_json::from_slice(records_json).map_err(|e| {
            WebError::new(
                Code::InvalidInput,
                format!("the service's records have the wrong shape ({e}); reload the page"),
            )
        })?;
        let sealer = branch_sealer(&self.stations, &mut self.rng)?;
        let mut jobs = Vec::with_capacity(records.records.len());
        for record in &records.records {
            let index = self.profile_index(&record.profile)?;
            let profile = &self.profiles[index];
            let data = holder::validate_record(profile, &record.values, today).map_err(|errors| {
                WebError::new(
                    Code::InvalidInput,
                    format!(
                        "record {} no longer passes the holder rules ({}); nothing of this chunk was uploaded",
                        record.id,
                        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    ),
                )
            })?;
            let entry = BatchEntry::build(profile, &data, crate::clock::now_ms(), &mut self.rng)
                .map_err(|e| {
                    WebError::new(
                        Code::BuildFailed,
                        format!("the VSC of record {} could not be built: {e}", record.id),
                    )
                })?;
            let job = sealer
                .job(record.id, &self.branch, &entry, &mut self.rng)
                .map_err(|e| {
                    WebError::new(
                        Code::BuildFailed,
                        format!(
                            "the password of record {} could not be sealed: {e}",
                            record.id
                        ),
                    )
                })?;
            jobs.push(job);
        }
        let count = jobs.len();
        let body = serde_json::to_vec(&Body { jobs })
            .map_err(|e| WebError::new(Code::Internal, e.to_string()))?;
        Ok((Zeroizing::new(body), count))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

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
            "bad_station_key"
        );
    }

    fn station() -> Station {
        let key = vsc_core::envelope::StationSecretKey::generate(&mut BlockOsRng::new());
        Station {
            id: "st-1".into(),
            public_key: key.public_key().to_hex(),
        }
    }

    fn today() -> Date {
        crate::issue::parse_today("2026-12-02").unwrap()
    }

    #[test]
    fn a_chunk_of_records_becomes_one_batch_body_of_as_many_jobs() {
        let mut uploader = Uploader::new("b1", &[station()]).unwrap();
        let records = serde_json::json!({ "records": [
            { "id": 7, "profile": "iso7816-generic",
              "values": { "holder_name": "Zoë Ørsted", "holder_id": "Z-7", "email": "zoe@example.org" } },
            { "id": 8, "profile": "iso7816-generic",
              "values": { "holder_name": "田中 太郎", "holder_id": "T-8", "email": "taro@example.org" } },
        ]});
        let (body, jobs) = uploader
            .batch_body(records.to_string().as_bytes(), today())
            .unwrap();
        assert_eq!(jobs, 2);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let jobs = body["jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 2);
        for (job, record) in jobs.iter().zip([7, 8]) {
            assert_eq!(job["record"], record);
            assert_eq!(job["branch"], "b1");
            assert_eq!(job["envelopes"].as_array().unwrap().len(), 1);
        }
    }

    #[test]
    fn bytes_that_are_not_records_are_refused_in_words() {
        let mut uploader = Uploader::new("b1", &[station()]).unwrap();
        for bad in [&b"not json"[..], b"{\"records\": 3}", &[0xff, 0xfe, 0x00]] {
            let error = uploader.batch_body(bad, today()).err().unwrap();
            assert_eq!(error.code, "invalid_input");
            assert!(error.message.contains("wrong shape"), "{}", error.message);
        }
    }
}
