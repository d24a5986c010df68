//! Moving plain Rust values across the JavaScript boundary as JSON-shaped objects.
//!
//! Values go through `serde_json` text and `JSON.parse`/`JSON.stringify`, which keeps the wasm
//! small (no second serializer). Text that may hold personal data is wiped on the Rust side.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use vsc_core::protocol::ReaderInfo;
use wasm_bindgen::JsValue;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Code, WebError};

/// A JavaScript value with the JSON shape of `value` (`null` if it cannot be encoded).
pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    let text = Zeroizing::new(serde_json::to_string(value).unwrap_or_else(|_| "null".into()));
    js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL)
}

/// Reads a JSON-shaped JavaScript value (`what` names it in the error).
pub fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, WebError> {
    let bad = |detail: String| {
        WebError::new(
            Code::InvalidInput,
            format!("{what} has the wrong shape ({detail}); this is a bug in the page"),
        )
    };
    let text: Zeroizing<String> = Zeroizing::new(
        js_sys::JSON::stringify(value)
            .map_err(|_| bad("not JSON".into()))?
            .into(),
    );
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

/// The reader list as the page uses it: `[{name, cardPresent, atr}]`.
pub fn readers(readers: &[ReaderInfo]) -> JsValue {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Reader<'a> {
        name: &'a str,
        card_present: bool,
        atr: Option<String>,
    }
    let list: Vec<Reader<'_>> = readers
        .iter()
        .map(|r| Reader {
            name: &r.name,
            card_present: r.card_present,
            atr: r.atr.as_ref().map(|a| hex::encode_upper(a.expose())),
        })
        .collect();
    to_js(&list)
}

/// One holder's form values (`column -> text`), wiped on drop (private fields are personal
/// data).
pub struct FormValues(pub BTreeMap<String, String>);

impl FormValues {
    /// Reads `{column: text}` from JavaScript.
    pub fn from_js(value: &JsValue) -> Result<FormValues, WebError> {
        from_js(value, "the form values").map(FormValues)
    }
}

impl Drop for FormValues {
    fn drop(&mut self) {
        for value in self.0.values_mut() {
            value.zeroize();
        }
    }
}
