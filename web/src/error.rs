//! Errors as the page sees them: a stable `code` a script can branch on and a `message` a clerk
//! can act on (what is wrong, whose fault it is, what to do).
//!
//! Every failing function of this crate's JavaScript surface throws a JavaScript `Error` whose
//! `message` is [`WebError::message`] and whose extra `code` property is [`WebError::code`].
//! Codes of the bridge protocol (`busy`, `card_removed`, `not_authenticated`, ...) are kept as
//! they are; the others are listed in [`Code`]. Every code is an entry of the one catalogue,
//! `vsc_core::error_catalogue`, which the page reads through [`crate::error_catalogue`] for its
//! titles and explanations. Messages never contain a secret.

use vsc_core::error_catalogue::ErrorEntry;
use wasm_bindgen::JsValue;

/// The codes this crate adds to those of the bridge protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The profile id is not one of the shipped profiles.
    UnknownProfile,
    /// The holder data (form or CSV) has problems; nothing was built.
    InvalidInput,
    /// Building or sealing a VSC failed.
    BuildFailed,
    /// A download was asked for before anything was built.
    NothingBuilt,
    /// The file is not a sealed VSC, or it is damaged.
    BadVscFile,
    /// The password does not open the VSC.
    WrongPassword,
    /// The VSC could not be opened for another reason (altered, unknown profile, ...).
    VscNotOpened,
    /// The bridge address is not a `ws://` or `wss://` URL.
    BadAddress,
    /// Nothing answers at the bridge address.
    BridgeNotRunning,
    /// The bridge answers HTTP but refused the WebSocket (origin or host not allowed).
    BridgeRefused,
    /// The connection to the bridge closed.
    BridgeClosed,
    /// The bridge did not answer in time.
    BridgeTimeout,
    /// The bridge sent something this page does not understand.
    BadBridgeReply,
    /// The card already holds another VSC.
    ForeignCard,
    /// The card answers in a way its type never should.
    UnusableCard,
    /// The card is not of the type the VSC's profile is for (an ISO card for an OpenPGP VSC).
    WrongCardType,
    /// The card refused a command.
    CardRefused,
    /// The read-back differs from the VSC.
    ReadBackMismatch,
    /// The clerk did not confirm a new PIN for a card this VSC already personalized.
    NewPinDeclined,
    /// The branch has no approved station to seal a password for.
    NoApprovedStation,
    /// A station public key that is not 64 hex digits, or cannot receive envelopes.
    BadStationKey,
    /// The personalization driver broke the engine's protocol (a bug).
    Internal,
}

impl Code {
    /// The code's entry in the one catalogue of error codes (`vsc_core::error_catalogue`).
    pub fn entry(self) -> ErrorEntry {
        use vsc_core::error_catalogue as c;
        match self {
            Code::UnknownProfile => c::UNKNOWN_PROFILE,
            Code::InvalidInput => c::INVALID_INPUT,
            Code::BuildFailed => c::BUILD_FAILED,
            Code::NothingBuilt => c::NOTHING_BUILT,
            Code::BadVscFile => c::BAD_VSC_FILE,
            Code::WrongPassword => c::WRONG_PASSWORD,
            Code::VscNotOpened => c::VSC_NOT_OPENED,
            Code::BadAddress => c::BAD_ADDRESS,
            Code::BridgeNotRunning => c::BRIDGE_NOT_RUNNING,
            Code::BridgeRefused => c::BRIDGE_REFUSED,
            Code::BridgeClosed => c::BRIDGE_CLOSED,
            Code::BridgeTimeout => c::BRIDGE_TIMEOUT,
            Code::BadBridgeReply => c::BAD_BRIDGE_REPLY,
            Code::ForeignCard => c::FOREIGN_CARD,
            Code::UnusableCard => c::UNUSABLE_CARD,
            Code::WrongCardType => c::WRONG_CARD_TYPE,
            Code::CardRefused => c::CARD_REFUSED,
            Code::ReadBackMismatch => c::READ_BACK_MISMATCH,
            Code::NewPinDeclined => c::NEW_PIN_DECLINED,
            Code::NoApprovedStation => c::NO_APPROVED_STATION,
            Code::BadStationKey => c::BAD_STATION_KEY,
            Code::Internal => c::INTERNAL,
        }
    }

    /// The code as JavaScript sees it, e.g. `"bridge_not_running"`.
    pub fn as_str(self) -> &'static str {
        self.entry().code()
    }
}

/// An error for the page: a machine code and a sentence for the clerk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WebError {
    /// Stable code, e.g. `"wrong_password"` or a bridge protocol code such as `"busy"`.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// A personalization that stopped before writing anything
    /// ([`vsc_core::perso::PersoError::card_untouched`]): `cardUntouched` in JavaScript.
    pub card_untouched: bool,
}

impl WebError {
    /// An error with one of this crate's codes.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            card_untouched: false,
        }
    }

    /// An error with a code from elsewhere (the bridge protocol), as it came.
    pub fn with_code(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            card_untouched: false,
        }
    }

    /// Whether this error has the given code.
    pub fn is(&self, code: Code) -> bool {
        self.code == code.as_str()
    }

    /// The JavaScript `Error` with `code` set.
    pub fn to_js(&self) -> JsValue {
        let error = js_sys::Error::new(&self.message);
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&error, &"code".into(), &self.code.as_str().into());
        if self.card_untouched {
            let _ = js_sys::Reflect::set(&error, &"cardUntouched".into(), &true.into());
        }
        error.into()
    }
}

impl From<WebError> for JsValue {
    fn from(error: WebError) -> JsValue {
        error.to_js()
    }
}
