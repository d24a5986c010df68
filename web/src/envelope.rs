//! Password envelopes in the page (`vsc_core::job_envelopes`, the sealing and wire form `vsc
//! build --server` and `vsc personalize --server --queue` run too): the clerk's page seals each
//! VSC password for every approved station of the branch; the operator's page asks its bridge
//! to open the envelope of the job it claimed and opens the VSC with the result, without the
//! page's code ever seeing the password. The bridge's reply carries it (hex) in a WebSocket
//! text frame, which the browser hands the wasm as a JavaScript string: that string is the
//! engine's to free and cannot be wiped; the wasm's copies are zeroized.
//!
//! JavaScript surface (hex everywhere, as the issuer's API and the bridge protocol carry keys
//! and envelopes):
//!
//! - Sealing happens inside the upload (`crate::upload`), through a [`branch_sealer`] per
//!   chunk: the password never reaches JavaScript.
//! - `bridge.stationKey()` resolves to `{publicKey, fingerprint}`; `bridge.openJob(vsc, jobId,
//!   branchId, envelope)` resolves to an `OpenedVsc` ready for `bridge.personalize`.
//!
//! Errors: `bad_station_key` (a station key that is not 64 hex digits, or unusable),
//! `invalid_input` (a job or branch id a binding cannot hold, or a malformed envelope), and from
//! `openJob` the bridge's `envelope_invalid`, `rate_limited` and `not_authenticated`, then
//! `wrong_password`/`bad_vsc_file`/`vsc_not_opened` from opening the VSC.

use js_sys::Promise;
use serde::Serialize;
use vsc_core::envelope::Binding;
use vsc_core::job_envelopes::{BranchSealer, Station, WireEnvelope};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{Code, WebError};
use crate::rng::BlockOsRng;
use crate::{js, Bridge, OpenedVsc};

/// The binding of job `job_id` of branch `branch_id` whose sealed bytes are `vsc`, with the
/// page's error code.
fn binding(job_id: &str, branch_id: &str, vsc: &[u8]) -> Result<Binding, WebError> {
    Binding::new(job_id, branch_id, vsc)
        .map_err(|e| WebError::new(Code::InvalidInput, e.to_string()))
}

/// Sealers for `stations` (`vsc_core::job_envelopes::BranchSealer`, which `vsc build --server`
/// runs too), with the page's error code.
pub fn branch_sealer(stations: &[Station], rng: &mut BlockOsRng) -> Result<BranchSealer, WebError> {
    BranchSealer::new(stations, rng).map_err(|e| WebError::new(Code::BadStationKey, e.to_string()))
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
    /// password: resolves to an [`OpenedVsc`]. The page's code never sees the password (its
    /// reply frame is a JavaScript string inside the bridge connection, not wipeable).
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
            let binding = binding(&job_id, &branch_id, &vsc)?;
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
        let error = branch_sealer(&stations, &mut BlockOsRng::new()).unwrap_err();
        assert_eq!(error.code, "bad_station_key");
        assert!(error.message.contains("st-9"), "{}", error.message);
        assert_eq!(binding("", "b", b"v").unwrap_err().code, "invalid_input");
    }
}
