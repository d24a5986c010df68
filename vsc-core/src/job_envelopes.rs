//! A job's password envelopes as the issuer service's API carries them (keys, `enc` and
//! `ciphertext` in hex): sealing the VSC passwords of a chunk of jobs for every approved
//! station of a branch into the jobs of a `POST /api/jobs/batch` ([`BranchSealer::job`], what
//! the page's upload (`Uploader.batchBody`) and `vsc build --server` both run), and reading
//! back the envelope a claim returns ([`WireEnvelope::parse`], what the page's
//! `Bridge.openJob` and `vsc personalize --server --queue` both run).
//!
//! What it does not do: choose the stations (the caller lists the approved ones), talk to the
//! service, or open an envelope (`crate::envelope::open`, with the station's key).

use base64::Engine;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::batch::BatchEntry;
use crate::envelope::{self, Binding, Envelope, EnvelopeError, StationPublicKey, KEY_LEN};

/// Jobs per `POST /api/jobs/batch` of an upload, the page's and `vsc build --server`'s (and
/// records per `GET /api/records/values`: the service answers that many at once). Each
/// request costs the service and the browser a fixed share besides its jobs (a transaction, a
/// session check, a round of the browser's network stack), so fewer, larger batches upload
/// faster (docs/benchmarks.md, "The page on the issuer service"); a batch of 2,000 is about
/// 1.5 MB of JSON.
pub const JOBS_PER_BATCH: usize = 2_000;

/// A station as `GET /api/stations` lists it (other fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Station {
    /// The station's id at the issuer.
    pub id: String,
    /// Its public key, 64 hex digits.
    pub public_key: String,
}

/// One envelope of a job upload (with the station it is for) or of a claim (without), in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEnvelope {
    /// The station it is sealed for (empty in a claim's answer).
    #[serde(default)]
    pub station: String,
    /// The HPKE encapsulated key, 64 hex digits.
    pub enc: String,
    /// The ciphertext and its tag.
    pub ciphertext: String,
}

/// One job of a `POST /api/jobs/batch` as it is sent: the record the VSC was built from, the
/// branch whose queue it goes to, the sealed `.vsc` in standard base64 and its password's
/// envelopes (the service parses it as `vsc_issuer_api::JobUpload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealedJob {
    /// The holder record's id at the issuer.
    pub record: i64,
    /// The branch's id.
    pub branch: String,
    /// The sealed `.vsc`, base64.
    pub vsc: String,
    /// One envelope per approved station of the branch.
    pub envelopes: Vec<WireEnvelope>,
}

/// Sealing for one station failed; names the station.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("station {station}: {source}")]
pub struct StationKeyError {
    /// The station's id at the issuer.
    pub station: String,
    /// What is wrong with its key.
    pub source: EnvelopeError,
}

/// The envelope of a claim is not two hex strings with a 32-byte `enc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the job's password envelope is not hex, or its enc is not 32 bytes: claim the job again, \
     or ask the issuer to reissue it"
)]
pub struct MalformedEnvelope;

/// The sealers of one chunk of jobs for a branch: one HPKE encapsulation per approved station
/// ([`envelope::StationSealer`]), then every job's password sealed for each of them. A chunk
/// of jobs shares a `BranchSealer`; make a new one for the next chunk.
#[derive(Debug)]
pub struct BranchSealer {
    stations: Vec<(String, envelope::StationSealer)>,
}

impl BranchSealer {
    /// Sealers for `stations` (their keys checked: a bad one is named).
    pub fn new(
        stations: &[Station],
        rng: &mut impl CryptoRngCore,
    ) -> Result<BranchSealer, StationKeyError> {
        let stations = stations
            .iter()
            .map(|station| {
                let named = |source| StationKeyError {
                    station: station.id.clone(),
                    source,
                };
                let key = StationPublicKey::from_hex(&station.public_key).map_err(named)?;
                let sealer = envelope::StationSealer::new(&key, rng).map_err(named)?;
                Ok((station.id.clone(), sealer))
            })
            .collect::<Result<_, StationKeyError>>()?;
        Ok(BranchSealer { stations })
    }

    /// Seals `password` for each station, bound to `binding` (the job, its branch and its
    /// sealed bytes): the `envelopes` of the job's upload, in the order of the stations.
    pub fn seal(
        &self,
        password: &str,
        binding: &Binding,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<WireEnvelope>, EnvelopeError> {
        self.stations
            .iter()
            .map(|(id, sealer)| {
                let sealed = sealer.seal(password, binding, rng)?;
                Ok(WireEnvelope {
                    station: id.clone(),
                    enc: hex::encode(sealed.enc),
                    ciphertext: hex::encode(&sealed.ciphertext),
                })
            })
            .collect()
    }

    /// The upload of `entry`, built from record `record`, to `branch`: its password sealed for
    /// every station, each envelope bound to the job (the VSC's UID), the branch and the
    /// sealed bytes, so that it opens for this job only.
    pub fn job(
        &self,
        record: i64,
        branch: &str,
        entry: &BatchEntry,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SealedJob, EnvelopeError> {
        let binding = Binding::new(&entry.sealed.uid.to_string(), branch, &entry.sealed.bytes)?;
        Ok(SealedJob {
            record,
            branch: branch.to_owned(),
            vsc: base64::engine::general_purpose::STANDARD.encode(&entry.sealed.bytes),
            envelopes: self.seal(entry.sealed.password.expose(), &binding, rng)?,
        })
    }
}

impl WireEnvelope {
    /// The envelope these hex strings carry.
    pub fn parse(&self) -> Result<Envelope, MalformedEnvelope> {
        let enc: [u8; KEY_LEN] = hex::decode(&self.enc)
            .map_err(|_| MalformedEnvelope)?
            .try_into()
            .map_err(|_| MalformedEnvelope)?;
        let ciphertext = hex::decode(&self.ciphertext).map_err(|_| MalformedEnvelope)?;
        Ok(Envelope { enc, ciphertext })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::StationSecretKey;
    use rand_core::OsRng;

    #[test]
    fn each_station_opens_its_own_envelope_for_that_job_only() {
        let keys: Vec<StationSecretKey> = (0..2)
            .map(|_| StationSecretKey::generate(&mut OsRng))
            .collect();
        let stations: Vec<Station> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Station {
                id: format!("st-{i}"),
                public_key: k.public_key().to_hex(),
            })
            .collect();
        let password = "7K2M-Q9TD-4HXR-8WBN-3FJC-ZE6P-0VGS";
        let binding = Binding::new("job-1", "b1", b"sealed bytes").unwrap();
        let sealer = BranchSealer::new(&stations, &mut OsRng).unwrap();
        let wires = sealer.seal(password, &binding, &mut OsRng).unwrap();
        // A second job of the chunk: the same encapsulation, its own key.
        let second = Binding::new("job-2", "b1", b"other sealed bytes").unwrap();
        let second_wires = sealer
            .seal("another password", &second, &mut OsRng)
            .unwrap();
        assert_eq!(second_wires[0].enc, wires[0].enc);
        assert_ne!(second_wires[0].enc, wires[1].enc);
        assert_eq!(
            wires.iter().map(|w| w.station.as_str()).collect::<Vec<_>>(),
            ["st-0", "st-1"]
        );
        let other_job = Binding::new("job-2", "b1", b"sealed bytes").unwrap();
        for (i, wire) in wires.iter().enumerate() {
            let sealed = wire.parse().unwrap();
            let opened = envelope::open(&sealed, &keys[i], &binding).unwrap();
            assert_eq!(opened.expose(), password.as_bytes());
            assert!(envelope::open(&sealed, &keys[1 - i], &binding).is_err());
            assert!(envelope::open(&sealed, &keys[i], &other_job).is_err());
            let second_sealed = second_wires[i].parse().unwrap();
            assert_eq!(
                envelope::open(&second_sealed, &keys[i], &second)
                    .unwrap()
                    .expose(),
                b"another password"
            );
            assert!(envelope::open(&second_sealed, &keys[i], &binding).is_err());
        }
    }

    #[test]
    fn bad_keys_are_named_and_bad_hex_refused() {
        let stations = [Station {
            id: "st-9".into(),
            public_key: "AAAA".into(),
        }];
        let error = BranchSealer::new(&stations, &mut OsRng).unwrap_err();
        assert_eq!(error.station, "st-9");
        assert!(error.to_string().starts_with("station st-9: "), "{error}");
        for (enc, ciphertext) in [("zz", "00"), ("00", "00"), (&*"00".repeat(32), "0g")] {
            let wire = WireEnvelope {
                station: String::new(),
                enc: enc.into(),
                ciphertext: ciphertext.into(),
            };
            assert_eq!(wire.parse(), Err(MalformedEnvelope));
        }
    }
}
