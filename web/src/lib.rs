//! The page's wasm API over `vsc-core`: what the clerks' page (`index.html`, `app.js`) calls.
//!
//! What it does, as a thin `#[wasm_bindgen]` surface over plain Rust modules:
//!
//! - list the shipped card profiles and their fields ([`profiles()`], module [`profiles`](mod@profiles));
//! - check one holder's form or a CSV file's bytes against today's date, problems returned as
//!   data ([`check_form`], [`check_csv`]; the encodings a clerk may name: [`encodings`]); build
//!   and seal a batch a slice at a time and hand out the downloads: one `.vsc` or a stored ZIP
//!   of them, and the password sheet as CSV or printable rows ([`Issuer`], module [`issue`]),
//!   each VSC's UID holding its build time from the page's clock (module [`clock`]);
//! - show a sealed VSC's public area without its password, and open it ([`inspect_vsc`],
//!   [`open_vsc`], module [`vsc_file`]); list the VSCs of a ZIP batch ([`vsc_zip_entries`]);
//! - on the issuer service, build the VSCs of holder records a chunk at a time, seal each
//!   password for every approved station of the branch and pack the upload ([`Uploader`],
//!   module [`upload`]);
//! - talk to the bridge over a WebSocket (bridge protocol v1): hello, pairing, readers, and a
//!   personalization driven by `vsc_core::perso`, reporting progress and returning the PIN
//!   mailer ([`Bridge`], [`PinMailer`], modules [`bridge`] and [`perso_driver`]);
//! - seal VSC passwords for the issuer's stations and open a claimed job through the bridge's
//!   station key (module [`envelope`]).
//!
//! Errors reach JavaScript as `Error` objects with a `code` and a `message` a clerk can act on
//! (module [`error`]); every code, with its title and explanation, is in the one catalogue the
//! page reads with [`error_catalogue`]. Secrets (holder data of private fields, passwords, the opened VSC, the
//! PIN) live in zeroizing Rust types and are wiped when the objects holding them are freed;
//! JavaScript gets copies only where it must show or save them.
//!
//! What it does not do: card logic (all in `vsc-core`), the DOM, or files (the page does).
#![forbid(unsafe_code)]

pub mod bridge;
pub mod clock;
pub mod envelope;
pub mod error;
pub mod issue;
pub mod js;
pub mod perso_driver;
pub mod profiles;
pub mod rng;
pub mod upload;
pub mod vsc_file;
pub mod zip;

use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use zeroize::Zeroizing;

use crate::issue::Download;

/// The shipped card profiles: `[{id, name, description, fields: [{name, label, column, area,
/// kind, required, default, max_len}]}]`.
#[wasm_bindgen]
pub fn profiles() -> JsValue {
    js::to_js(&profiles::list())
}

/// Checks one holder's form values (`{column: text}`) against a profile, dates against
/// `today` (the browser's local date, `YYYY-MM-DD`): `{ok, errors: [{column, reason}]}`.
#[wasm_bindgen(js_name = checkForm)]
pub fn check_form(profile_id: &str, values: JsValue, today: &str) -> Result<JsValue, JsValue> {
    let profile = profiles::find(profile_id)?;
    let values = js::FormValues::from_js(&values)?;
    let today = issue::parse_today(today)?;
    Ok(js::to_js(&issue::check_form(&profile, &values.0, today)))
}

/// Checks a CSV file's bytes, read as `encoding` (`utf-8` unless the clerk chose another),
/// against a profile and `today`: `{ok, count, delimiter, file_error, errors: [{row, column,
/// holder, reason}]}`.
#[wasm_bindgen(js_name = checkCsv)]
pub fn check_csv(
    profile_id: &str,
    bytes: &[u8],
    encoding: &str,
    today: &str,
) -> Result<JsValue, JsValue> {
    let profile = profiles::find(profile_id)?;
    let encoding = issue::parse_encoding(encoding)?;
    let today = issue::parse_today(today)?;
    Ok(js::to_js(&issue::check_csv(
        &profile, bytes, encoding, today,
    )))
}

/// The one catalogue of error codes (`vsc_core::error_catalogue`), shared with the bridge and
/// the issuer service: `[{code, title, explanation}]`. The page explains every error by it.
#[wasm_bindgen(js_name = errorCatalogue)]
pub fn error_catalogue() -> JsValue {
    js::to_js(&vsc_core::error_catalogue::ALL)
}

/// The encodings a CSV file may be read in: `[{label, description}]`, UTF-8 (the default)
/// first.
#[wasm_bindgen]
pub fn encodings() -> JsValue {
    #[derive(serde::Serialize)]
    struct Encoding {
        label: &'static str,
        description: &'static str,
    }
    let list: Vec<Encoding> = vsc_core::text_encoding::TextEncoding::ALL
        .iter()
        .map(|e| Encoding {
            label: e.label(),
            description: e.description(),
        })
        .collect();
    js::to_js(&list)
}

/// A batch of holders being built into sealed VSCs. Free it (`free()`) once the files are
/// saved: that wipes the passwords and the holder data.
#[wasm_bindgen]
pub struct Issuer {
    inner: issue::Issuer,
}

#[wasm_bindgen]
impl Issuer {
    /// A batch of one holder from form values (`{column: text}`), dates checked against
    /// `today`; throws `invalid_input` with every problem when the form has any.
    #[wasm_bindgen(js_name = fromForm)]
    pub fn from_form(profile_id: &str, values: JsValue, today: &str) -> Result<Issuer, JsValue> {
        let profile = profiles::find(profile_id)?;
        let values = js::FormValues::from_js(&values)?;
        let today = issue::parse_today(today)?;
        let inner = issue::Issuer::from_form(profile, &values.0, today)?;
        Ok(Issuer { inner })
    }

    /// A batch from a CSV file's bytes read as `encoding`, dates checked against `today`;
    /// throws `invalid_input` when the file has problems (list them first with `checkCsv`).
    #[wasm_bindgen(js_name = fromCsv)]
    pub fn from_csv(
        profile_id: &str,
        bytes: &[u8],
        encoding: &str,
        today: &str,
    ) -> Result<Issuer, JsValue> {
        let profile = profiles::find(profile_id)?;
        let encoding = issue::parse_encoding(encoding)?;
        let today = issue::parse_today(today)?;
        let inner = issue::Issuer::from_csv(profile, bytes, encoding, today)?;
        Ok(Issuer { inner })
    }

    /// Number of holders in the batch.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> usize {
        self.inner.total()
    }

    /// Number of VSCs built so far.
    #[wasm_bindgen(getter)]
    pub fn built(&self) -> usize {
        self.inner.built()
    }

    /// Whether every VSC is built.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// Builds and seals up to `max` more VSCs; returns how many are built in all.
    #[wasm_bindgen(js_name = buildNext)]
    pub fn build_next(&mut self, max: usize) -> Result<usize, JsValue> {
        Ok(self.inner.build_next(max)?)
    }

    /// The sealed VSCs to save: `{name, mime, bytes}` (one `.vsc`, or a ZIP for a batch).
    #[wasm_bindgen(js_name = vscFile)]
    pub fn vsc_file(&self) -> Result<JsValue, JsValue> {
        Ok(download_to_js(self.inner.vsc_download()?))
    }

    /// The password sheet to save (CSV with a UTF-8 BOM: file, uid, password, holder):
    /// `{name, mime, bytes}`. Send it by a channel separate from the VSC files.
    #[wasm_bindgen(js_name = passwordFile)]
    pub fn password_file(&self) -> Result<JsValue, JsValue> {
        Ok(download_to_js(self.inner.password_download()?))
    }

    /// The password sheet's rows for the printable page: `[{file, uid, holder, password}]`.
    #[wasm_bindgen(js_name = passwordRows)]
    pub fn password_rows(&self) -> Result<JsValue, JsValue> {
        Ok(js::to_js(&self.inner.password_rows()?))
    }

    /// The UIDs built, in order.
    #[wasm_bindgen(getter)]
    pub fn uids(&self) -> Vec<String> {
        self.inner.uids()
    }

    /// The VSC file names built, in order (holder id and name, then the UID).
    #[wasm_bindgen(getter, js_name = fileNames)]
    pub fn file_names(&self) -> Vec<String> {
        self.inner.file_names()
    }
}

/// An upload of VSCs to a branch of the issuer service, built and sealed a chunk of records at
/// a time (memory does not grow with the batch). Free it when done: that wipes what is left of
/// the random source.
#[wasm_bindgen]
pub struct Uploader {
    inner: upload::Uploader,
}

#[wasm_bindgen]
impl Uploader {
    /// An upload to `branch`, sealing each password for every one of `stations` (`[{id,
    /// public_key}]` as `GET /api/stations?state=approved` lists them); throws
    /// `no_approved_station` when there is none.
    #[wasm_bindgen(constructor)]
    pub fn new(branch: &str, stations: JsValue) -> Result<Uploader, JsValue> {
        let stations: Vec<upload::Station> = js::from_js(&stations, "the stations")?;
        Ok(Uploader {
            inner: upload::Uploader::new(branch, &stations)?,
        })
    }

    /// Builds and seals the VSCs of the records in `records_json` (the bytes of a `GET
    /// /api/records/values` answer), dates checked against `today`: `{body, jobs}`, the UTF-8
    /// JSON of a `POST /api/jobs/batch` (a `Uint8Array`) and its number of jobs. Bytes both
    /// ways, not strings: a chunk's records and body (about a megabyte) stay off the JS heap,
    /// so its peak does not grow with the batch, and nothing is transcoded.
    #[wasm_bindgen(js_name = batchBody)]
    pub fn batch_body(&mut self, records_json: &[u8], today: &str) -> Result<JsValue, JsValue> {
        let today = issue::parse_today(today)?;
        let (body, jobs) = self.inner.batch_body(records_json, today)?;
        let object = js_sys::Object::new();
        let body = Uint8Array::from(body.as_slice());
        let _ = js_sys::Reflect::set(&object, &"body".into(), &body);
        let _ = js_sys::Reflect::set(&object, &"jobs".into(), &JsValue::from(jobs as u32));
        Ok(object.into())
    }
}

/// Records per chunk of an upload: what `Uploader.batchBody` builds into one `POST
/// /api/jobs/batch`, and `GET /api/records/values` answers at once.
#[wasm_bindgen(js_name = jobsPerBatch)]
pub fn jobs_per_batch() -> u32 {
    vsc_core::job_envelopes::JOBS_PER_BATCH as u32
}

fn download_to_js(download: Download) -> JsValue {
    let object = js_sys::Object::new();
    let bytes = Uint8Array::from(download.bytes.as_slice());
    for (key, value) in [
        ("name", JsValue::from_str(&download.name)),
        ("mime", JsValue::from_str(download.mime)),
        ("bytes", bytes.into()),
    ] {
        // Setting a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&object, &key.into(), &value);
    }
    object.into()
}

/// What a sealed VSC shows without its password: `{uid, profile_id, profile_name,
/// generated_password, public: [{name, label, value}]}`. Throws `bad_vsc_file` for a file
/// that is not a sealed VSC or is damaged.
#[wasm_bindgen(js_name = inspectVsc)]
pub fn inspect_vsc(bytes: &[u8]) -> Result<JsValue, JsValue> {
    Ok(js::to_js(&vsc_file::inspect(bytes)?))
}

/// The VSC files of a ZIP batch (as the issuer's page made it, or as a person zipped the
/// files of `vsc build`): `[{name, bytes, inflated}]`, in archive order. `inflated` is `null`
/// for a stored entry (checked); for a deflated one, `bytes` is its raw deflate stream and
/// `inflated` is `{size, crc}`: inflate it (`DecompressionStream("deflate-raw")`) and check
/// it with `checkInflated`. Throws `bad_vsc_file` for a file that is not a ZIP or holds no
/// `.vsc` file.
#[wasm_bindgen(js_name = vscZipEntries)]
pub fn vsc_zip_entries(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let entries = vsc_file::zip_entries(bytes)?;
    let list = js_sys::Array::new();
    for entry in entries {
        let object = js_sys::Object::new();
        let inflated = match entry.deflated {
            Some(expected) => {
                let inflated = js_sys::Object::new();
                let _ =
                    js_sys::Reflect::set(&inflated, &"size".into(), &(expected.size as f64).into());
                let _ =
                    js_sys::Reflect::set(&inflated, &"crc".into(), &f64::from(expected.crc).into());
                inflated.into()
            }
            None => JsValue::NULL,
        };
        for (key, value) in [
            ("name", JsValue::from_str(&entry.name)),
            ("bytes", Uint8Array::from(entry.data.as_slice()).into()),
            ("inflated", inflated),
        ] {
            let _ = js_sys::Reflect::set(&object, &key.into(), &value);
        }
        list.push(&object);
    }
    Ok(list.into())
}

/// Whether inflated ZIP content has the `size` and `crc` its archive gave (see
/// `vscZipEntries`).
#[wasm_bindgen(js_name = checkInflated)]
pub fn check_inflated(bytes: &[u8], size: usize, crc: u32) -> bool {
    zip::check_inflated(zip::Inflated { size, crc }, bytes)
}

/// Opens a sealed VSC with its password. Throws `wrong_password`, `bad_vsc_file` or
/// `vsc_not_opened`. The password is wiped from wasm memory once used.
#[wasm_bindgen(js_name = openVsc)]
pub fn open_vsc(bytes: &[u8], password: String) -> Result<OpenedVsc, JsValue> {
    let password = Zeroizing::new(password);
    let vsc = vsc_file::open(bytes, &password)?;
    Ok(OpenedVsc { vsc })
}

/// An opened VSC, ready to personalize a card. Its secrets are wiped when it is personalized
/// (which consumes it) or freed.
#[wasm_bindgen]
pub struct OpenedVsc {
    vsc: vsc_core::vsc::Vsc,
}

#[wasm_bindgen]
impl OpenedVsc {
    /// The VSC's UID.
    #[wasm_bindgen(getter)]
    pub fn uid(&self) -> String {
        self.vsc.uid().to_string()
    }

    /// The holder's name from the public area (empty if absent).
    #[wasm_bindgen(getter, js_name = holderName)]
    pub fn holder_name(&self) -> String {
        self.vsc.holder_name()
    }
}

/// A connection to the bridge (bridge protocol v1).
#[wasm_bindgen]
pub struct Bridge {
    connection: bridge::Connection,
}

#[wasm_bindgen]
impl Bridge {
    /// Opens the WebSocket at `url` (e.g. `ws://127.0.0.1:35900/v1`). Rejects with
    /// `bridge_not_running`, `bridge_refused` or `bad_address`, each explained in its message.
    pub async fn connect(url: String) -> Result<Bridge, JsValue> {
        let connection = bridge::Connection::open(&url).await?;
        Ok(Bridge { connection })
    }

    /// The address this connection was opened with.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.connection.url().to_owned()
    }

    /// Whether the connection has closed.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// Calls `callback(readers)` on every `readers_changed` event (`undefined` to stop).
    #[wasm_bindgen(js_name = onReadersChanged)]
    pub fn on_readers_changed(&self, callback: Option<Function>) {
        self.connection.on_readers_changed(callback);
    }

    /// Calls `callback(error)` when the connection closes (`undefined` to stop).
    #[wasm_bindgen(js_name = onClose)]
    pub fn on_close(&self, callback: Option<Function>) {
        self.connection.on_close(callback);
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.connection.close();
    }

    /// `hello`, presenting a stored token: resolves to `{bridge, protocol, paired}`.
    pub fn hello(&self, token: Option<String>) -> Promise {
        let connection = self.connection.clone();
        let token = token.map(Zeroizing::new);
        future_to_promise(async move {
            let reply = connection
                .hello(token.as_deref().map(String::as_str))
                .await?;
            Ok(js::to_js(&reply))
        })
    }

    /// `pair_begin`: the bridge shows a pairing code to its operator.
    #[wasm_bindgen(js_name = pairBegin)]
    pub fn pair_begin(&self) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(async move {
            connection.pair_begin().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `pair_finish` with the code the clerk typed: resolves to the token to keep.
    #[wasm_bindgen(js_name = pairFinish)]
    pub fn pair_finish(&self, code: String) -> Promise {
        let connection = self.connection.clone();
        let code = Zeroizing::new(code);
        future_to_promise(async move {
            let token = connection.pair_finish(&code).await?;
            Ok(JsValue::from_str(token.expose()))
        })
    }

    /// `readers`: resolves to `[{name, cardPresent, atr}]`.
    pub fn readers(&self) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(async move {
            let readers = connection.readers().await?;
            Ok(js::readers(&readers))
        })
    }

    /// Personalizes the card in `reader` from `vsc` (consumed). Calls `onProgress({step,
    /// steps, apdusDone, apdusPlanned})` after each batch, and, when the card already holds
    /// this VSC, `confirmNewPin({text, holder, issuedOn, uid})`, which returns (a promise of)
    /// `true` to set a new PIN; resolves to a [`PinMailer`] once the card is verified,
    /// rejects with a coded error otherwise (`new_pin_declined` when the answer was no).
    pub fn personalize(
        &self,
        vsc: OpenedVsc,
        reader: String,
        on_progress: Function,
        confirm_new_pin: Function,
    ) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(async move {
            let card = connection.connect_card(&reader).await?;
            run(connection, vsc, card.session, on_progress, confirm_new_pin).await
        })
    }

    /// Opens a session with the card in `reader` ahead of [`Bridge::personalize_card`] (so
    /// that the connect overlaps other work); resolves to a [`CardSession`]. A session not
    /// personalized goes back with [`Bridge::release_card`].
    #[wasm_bindgen(js_name = connectCard)]
    pub fn connect_card(&self, reader: String) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(async move {
            let card = connection.connect_card(&reader).await?;
            Ok(CardSession {
                session: card.session,
                atr: hex::encode_upper(card.atr.expose()),
            }
            .into())
        })
    }

    /// [`Bridge::personalize`] on the card of `card` (from [`Bridge::connect_card`],
    /// consumed).
    #[wasm_bindgen(js_name = personalizeCard)]
    pub fn personalize_card(
        &self,
        vsc: OpenedVsc,
        card: CardSession,
        on_progress: Function,
        confirm_new_pin: Function,
    ) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(run(
            connection,
            vsc,
            card.session,
            on_progress,
            confirm_new_pin,
        ))
    }

    /// Ends the session of `card` (consumed) without personalizing it; the bridge resets the
    /// card.
    #[wasm_bindgen(js_name = releaseCard)]
    pub fn release_card(&self, card: CardSession) -> Promise {
        let connection = self.connection.clone();
        future_to_promise(async move {
            connection.disconnect(card.session).await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// A session with a card in a reader, opened ahead of its personalization
/// ([`Bridge::connect_card`]).
#[wasm_bindgen]
pub struct CardSession {
    session: vsc_core::protocol::SessionId,
    atr: String,
}

#[wasm_bindgen]
impl CardSession {
    /// The ATR of the card this session holds, upper-case hex, as the bridge read it at
    /// `connect` (what a report names: not the reader list's, which may be older).
    #[wasm_bindgen(getter)]
    pub fn atr(&self) -> String {
        self.atr.clone()
    }
}

/// One personalization run of the card of `session` with the page's callbacks.
async fn run(
    connection: bridge::Connection,
    vsc: OpenedVsc,
    session: vsc_core::protocol::SessionId,
    on_progress: Function,
    confirm_new_pin: Function,
) -> Result<JsValue, JsValue> {
    let report = |progress: &perso_driver::ProgressReport| {
        let _ = on_progress.call1(&JsValue::NULL, &js::to_js(progress));
    };
    let confirm = |question: vsc_core::perso::NewPinQuestion| {
        let confirm_new_pin = confirm_new_pin.clone();
        async move { ask(&confirm_new_pin, &question).await }
    };
    let mailer = connection
        .personalize(vsc.vsc, session, &report, &confirm)
        .await?;
    Ok(PinMailer { mailer }.into())
}

/// Asks the page's `confirmNewPin` callback; anything but `true` (or a promise of it) is no.
async fn ask(callback: &Function, question: &vsc_core::perso::NewPinQuestion) -> bool {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Question<'a> {
        text: String,
        holder: &'a str,
        issued_on: Option<&'a str>,
        uid: String,
    }
    let question = js::to_js(&Question {
        text: question.to_string(),
        holder: &question.holder,
        issued_on: question.issued_on.as_deref(),
        uid: question.uid.to_string(),
    });
    let Ok(answer) = callback.call1(&JsValue::NULL, &question) else {
        return false;
    };
    let answer = match answer.dyn_into::<Promise>() {
        Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .unwrap_or(JsValue::FALSE),
        Err(value) => value,
    };
    answer.as_bool() == Some(true)
}

/// The PIN mailer of a verified card. The PIN is shown once: free this object (`free()`) when
/// the mailer view is left, which wipes it.
#[wasm_bindgen]
pub struct PinMailer {
    mailer: perso_driver::Mailer,
}

#[wasm_bindgen]
impl PinMailer {
    /// The holder's name as on the card.
    #[wasm_bindgen(getter, js_name = holderName)]
    pub fn holder_name(&self) -> String {
        self.mailer.holder_name.clone()
    }

    /// The issuer's name.
    #[wasm_bindgen(getter, js_name = issuerName)]
    pub fn issuer_name(&self) -> String {
        self.mailer.issuer_name.clone()
    }

    /// The VSC UID on the card.
    #[wasm_bindgen(getter)]
    pub fn uid(&self) -> String {
        self.mailer.uid.clone()
    }

    /// The new PIN. Show it on the mailer only. Handed to JavaScript from the zeroizing
    /// buffer itself: a `String` return would leave a copy in the wasm heap, freed unwiped.
    #[wasm_bindgen(getter)]
    pub fn pin(&self) -> JsValue {
        JsValue::from_str(self.mailer.pin.expose())
    }

    /// The steps the personalization took, as labels.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> Vec<String> {
        self.mailer.steps.iter().map(|s| (*s).to_owned()).collect()
    }

    /// What the card held before, in words.
    #[wasm_bindgen(getter)]
    pub fn found(&self) -> String {
        self.mailer.found.to_owned()
    }

    /// Number of APDUs exchanged.
    #[wasm_bindgen(getter)]
    pub fn apdus(&self) -> usize {
        self.mailer.apdus
    }

    /// Whether the PIN replaces the one the card had (the card already held this VSC).
    #[wasm_bindgen(getter)]
    pub fn replacement(&self) -> bool {
        self.mailer.replacement
    }
}
