//! Password envelopes in the page (`vsc_core::job_envelopes`, the sealing and wire form `vsc
//! build --server` and `vsc personalize --server --queue` run too): the clerk's page seals each VSC password for every approved station of the branch;
//! the operator's page asks its bridge to open the envelope of the job it claimed and opens the
//! VSC with the result, without the password ever reaching JavaScript.
//!
//! JavaScript surface (hex everywhere, as the issuer's API and the bridge protocol carry keys
//! and envelopes):
//!
//! - `sealPassword(password, jobId, branchId, vsc, stations)` and, for a VSC the page built,
//!   `issuer.sealPasswords(index, branchId, stations)`: `stations` is `[{id, public_key}]` as
//!   `GET /api/stations?state=approved` lists them; the result is `[{station, enc,
//!   ciphertext}]`, the `envelopes` of a job upload. `issuer.vscBytes(index)` gives that VSC's
//!   sealed bytes for the upload.
//! - `envelopeAad(jobId, branchId, vsc)`: the associated data a station checks (hex).
//! - `stationFingerprint(publicKey)`: the fingerprint `vsc-bridge station` prints.
//! - `bridge.stationKey()` resolves to `{publicKey, fingerprint}`; `bridge.openJob(vsc, jobId,
//!   branchId, envelope)` resolves to an `OpenedVsc` ready for `bridge.personalize`.
//!
//! Errors: `bad_station_key` (a station key that is not 64 hex digits, or unusable),
//! `invalid_input` (a job or branch id a binding cannot hold, or a malformed envelope), and from
//! `openJob` the bridge's `envelope_invalid`, `rate_limited` and `not_authenticated`, then
//! `wrong_password`/`bad_vsc_file`/`vsc_not_opened` from opening the VSC.

use js_sys::Promise;
use serde::Serialize;
use vsc_core::envelope::{Binding, StationPublicKey};
use vsc_core::job_envelopes::{self, Station, WireEnvelope};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use zeroize::Zeroizing;

use crate::error::{Code, WebError};
use crate::rng::BlockOsRng;
use crate::{js, Bridge, Issuer, OpenedVsc};

/// Seals `password` for each of `stations`, bound to job `job_id` of branch `branch_id` whose
/// sealed bytes are `vsc` (`vsc_core::job_envelopes::seal_for_stations`, which `vsc build
/// --server` runs too), with the page's error codes.
pub fn seal_for_stations(
    password: &str,
    job_id: &str,
    branch_id: &str,
    vsc: &[u8],
    stations: &[Station],
    rng: &mut BlockOsRng,
) -> Result<Vec<WireEnvelope>, WebError> {
    let binding = Binding::new(job_id, branch_id, vsc)
        .map_err(|e| WebError::new(Code::InvalidInput, e.to_string()))?;
    job_envelopes::seal_for_stations(password, &binding, stations, rng)
        .map_err(|e| WebError::new(Code::BadStationKey, e.to_string()))
}

fn stations_from_js(stations: &JsValue) -> Result<Vec<Station>, WebError> {
    js::from_js(stations, "the station list")
}

/// Seals a VSC password for every station of `stations` (`[{id, public_key}]`), bound to job
/// `jobId` (the VSC UID) of branch `branchId` and to the sealed bytes `vsc`: `[{station, enc,
/// ciphertext}]`, hex. The password is wiped from wasm memory once used.
#[wasm_bindgen(js_name = sealPassword)]
pub fn seal_password(
    password: String,
    job_id: &str,
    branch_id: &str,
    vsc: &[u8],
    stations: JsValue,
) -> Result<JsValue, JsValue> {
    let password = Zeroizing::new(password);
    let stations = stations_from_js(&stations)?;
    let envelopes = seal_for_stations(
        &password,
        job_id,
        branch_id,
        vsc,
        &stations,
        &mut BlockOsRng::new(),
    )?;
    Ok(js::to_js(&envelopes))
}

/// The associated data of job `jobId`'s envelope at branch `branchId` with sealed bytes `vsc`
/// (hex): what `open_envelope` takes as `aad`.
#[wasm_bindgen(js_name = envelopeAad)]
pub fn envelope_aad(job_id: &str, branch_id: &str, vsc: &[u8]) -> Result<String, JsValue> {
    let binding = Binding::new(job_id, branch_id, vsc)
        .map_err(|e| WebError::new(Code::InvalidInput, e.to_string()))?;
    Ok(hex::encode(binding.to_aad()))
}

/// The fingerprint of a station public key (64 hex digits), as `vsc-bridge station` prints it.
#[wasm_bindgen(js_name = stationFingerprint)]
pub fn station_fingerprint(public_key: &str) -> Result<String, JsValue> {
    let key = StationPublicKey::from_hex(public_key)
        .map_err(|e| WebError::new(Code::BadStationKey, e.to_string()))?;
    Ok(key.fingerprint())
}

#[wasm_bindgen]
impl Issuer {
    /// Seals the password of built VSC number `index` (0-based, build order) for every station
    /// of `stations` (`[{id, public_key}]`), bound to its UID, branch `branchId` and its sealed
    /// bytes: `[{station, enc, ciphertext}]`, hex. The password stays in wasm.
    #[wasm_bindgen(js_name = sealPasswords)]
    pub fn seal_passwords(
        &mut self,
        index: usize,
        branch_id: &str,
        stations: JsValue,
    ) -> Result<JsValue, JsValue> {
        let stations = stations_from_js(&stations)?;
        let (sealed, rng) = self.inner.built_entry(index)?;
        let envelopes = seal_for_stations(
            sealed.password.expose(),
            &sealed.uid.to_string(),
            branch_id,
            &sealed.bytes,
            &stations,
            rng,
        )?;
        Ok(js::to_js(&envelopes))
    }

    /// The sealed bytes of built VSC number `index` (for the job upload).
    #[wasm_bindgen(js_name = vscBytes)]
    pub fn vsc_bytes(&mut self, index: usize) -> Result<Vec<u8>, JsValue> {
        Ok(self.inner.built_entry(index)?.0.bytes.clone())
    }
}

#[wasm_bindgen]
impl Bridge {
    /// `station_key`: resolves to `{publicKey, fingerprint}` (hex key).
    #[wasm_bindgen(js_name = stationKey)]
    pub fn station_key(&self) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(async move {
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Key {
                public_key: String,
                fingerprint: String,
            }
            let reply = connection.station_key().await?;
            Ok(js::to_js(&Key {
                public_key: reply.public_key.to_hex(),
                fingerprint: reply.fingerprint,
            }))
        })
    }

    /// Has the bridge open `envelope` (`{enc, ciphertext}` as the claim gave it) for job
    /// `jobId` of branch `branchId` whose sealed bytes are `vsc`, then opens the VSC with the
    /// password: resolves to an [`OpenedVsc`]. The password never reaches JavaScript.
    #[wasm_bindgen(js_name = openJob)]
    pub fn open_job(
        &self,
        vsc: Vec<u8>,
        job_id: String,
        branch_id: String,
        envelope: JsValue,
    ) -> Promise {
        let connection = self.connection.clone();
        let parsed = js::from_js::<WireEnvelope>(&envelope, "the envelope").and_then(|wire| {
            wire.parse()
                .map_err(|e| WebError::new(Code::InvalidInput, e.to_string()))
        });
        future_to_promise(async move {
            let envelope = parsed?;
            let binding = Binding::new(&job_id, &branch_id, &vsc)
                .map_err(|e| WebError::new(Code::InvalidInput, e.to_string()))?;
            let plaintext = connection.open_envelope(&envelope, &binding).await?;
            let password = std::str::from_utf8(plaintext.expose()).map_err(|_| {
                WebError::new(
                    Code::WrongPassword,
                    "the opened envelope does not hold a VSC password; ask the issuer to reissue the job",
                )
            })?;
            let vsc = crate::vsc_file::open(&vsc, password)?;
            Ok(OpenedVsc { vsc }.into())
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn sealing_errors_have_the_page_codes() {
        let stations = [Station {
            id: "st-9".into(),
            public_key: "AAAA".into(),
        }];
        let error =
            seal_for_stations("pw", "j", "b", b"v", &stations, &mut BlockOsRng::new()).unwrap_err();
        assert_eq!(error.code, "bad_station_key");
        assert!(error.message.contains("st-9"), "{}", error.message);
        let error =
            seal_for_stations("pw", "", "b", b"v", &[], &mut BlockOsRng::new()).unwrap_err();
        assert_eq!(error.code, "invalid_input");
    }
}
