//! The one catalogue of error codes: every `code` the bridge, the issuer service and the page
//! can answer or show, each with a short title and an explanation in plain words.
//!
//! The bridge's codes ([`crate::protocol::ErrorCode`]), the issuer service's (its API errors)
//! and the page's own (its wasm errors) all come from here, so a code means the same thing
//! wherever it appears and the page explains each one without a copy of its own: the wasm
//! hands the page [`ALL`]. A code is one of the constants below; nothing else makes an
//! [`ErrorEntry`], so a component cannot emit a code the catalogue does not explain.
//!
//! What it does not do: say what happened in a given case (the error's `message` does that,
//! with the particulars), or pick an HTTP status (the issuer does).

use serde::Serialize;

/// One error code with its title and explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErrorEntry {
    code: &'static str,
    title: &'static str,
    explanation: &'static str,
}

impl ErrorEntry {
    /// The machine-readable code, e.g. `"not_authenticated"`.
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// A short title for a person, e.g. "This page is not paired with the bridge".
    pub const fn title(&self) -> &'static str {
        self.title
    }

    /// What the code means and what to do, in plain words.
    pub const fn explanation(&self) -> &'static str {
        self.explanation
    }
}

impl std::fmt::Display for ErrorEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $title:literal, $explanation:literal; )+) => {
        $(
            $(#[$doc])*
            pub const $name: ErrorEntry = ErrorEntry {
                code: $code,
                title: $title,
                explanation: $explanation,
            };
        )+
        /// Every entry, in catalogue order.
        pub const ALL: &[ErrorEntry] = &[$($name),+];
    };
}

catalogue! {
    // ---- requests (bridge and service)
    /// The request is malformed (bad JSON, unknown field, wrong type).
    BAD_REQUEST = "bad_request", "The request was not understood",
        "The program that sent it has a bug or is of another version; reload the page, and report it if it happens again.";
    /// Too many attempts in a short time (pairing codes at the bridge, sign-ins at the service).
    RATE_LIMITED = "rate_limited", "Too many attempts",
        "Wait a minute before trying again.";
    /// A fault of the program itself; details are in its log.
    INTERNAL = "internal", "Something went wrong",
        "The program failed to do what was asked. Try again; if it happens again, the administrator finds why in the log.";

    // ---- the bridge protocol
    /// `hello` asked for a protocol version the bridge does not speak.
    UNSUPPORTED_PROTOCOL = "unsupported_protocol", "The bridge is of another version",
        "This page and the bridge speak different protocol versions; update the bridge.";
    /// The pairing code is wrong, expired or was never issued.
    PAIRING_FAILED = "pairing_failed", "Pairing failed",
        "The pairing code is wrong or expired. Press Connect again and type the new code the bridge shows.";
    /// The page is not paired with the bridge (no token, or a revoked one).
    NOT_AUTHENTICATED = "not_authenticated", "This page is not paired with the bridge",
        "Connect to the bridge and pair this page with the code the bridge shows.";
    /// The reader named is not there (any more).
    UNKNOWN_READER = "unknown_reader", "The reader is gone",
        "Plug the reader in again, or choose another one.";
    /// The reader holds no card.
    NO_CARD = "no_card", "No card in the reader",
        "Insert a blank card in the reader, then try again.";
    /// Another client or program holds the reader.
    BUSY = "busy", "The reader is busy",
        "Another page or program is using the reader. Close it, or wait until it is done.";
    /// The session named is not one of this connection's.
    UNKNOWN_SESSION = "unknown_session", "The card session is over",
        "The card was released or reset; start again.";
    /// The card was removed while in use.
    CARD_REMOVED = "card_removed", "The card was removed",
        "The card left the reader during the work. Put it back and start again; a card pulled mid-way may have to be replaced.";
    /// The reader or card failed to carry a command.
    TRANSMIT_FAILED = "transmit_failed", "The reader could not talk to the card",
        "Check that the card sits well in the reader, then try again.";
    /// PC/SC failed for another reason (the smart card service is not running).
    READER_ERROR = "reader_error", "The smart card service failed",
        "The computer's smart card service (pcscd, or Smart Card on Windows) is not running or failed; start it and try again.";
    /// A password envelope does not open with this station's key.
    ENVELOPE_INVALID = "envelope_invalid", "The password envelope does not open here",
        "The VSC's password was sealed for another station, or the envelope was altered. Give the job back; the issuer can reissue it for this station.";

    // ---- the page's connection to the bridge
    /// The bridge address is not a `ws://` or `wss://` URL.
    BAD_ADDRESS = "bad_address", "That is not a bridge address",
        "A bridge address looks like ws://127.0.0.1:35900/v1.";
    /// Nothing answers at the bridge address.
    BRIDGE_NOT_RUNNING = "bridge_not_running", "The bridge is not running",
        "Start vsc-bridge on this computer (or check its address), then press Connect.";
    /// The bridge refused this page (origin or host not allowed).
    BRIDGE_REFUSED = "bridge_refused", "The bridge refused this page",
        "The bridge does not allow this page's address. Its administrator adds it with --allow-origin.";
    /// The connection to the bridge closed.
    BRIDGE_CLOSED = "bridge_closed", "The connection to the bridge was lost",
        "The bridge stopped or the connection broke. Press Connect again.";
    /// The bridge did not answer in time.
    BRIDGE_TIMEOUT = "bridge_timeout", "The bridge does not answer",
        "The bridge took too long to answer. Check that it still runs, then try again.";
    /// The bridge sent something the page does not understand.
    BAD_BRIDGE_REPLY = "bad_bridge_reply", "The bridge answered something unexpected",
        "The bridge may be of another version; update it.";

    // ---- cards and VSCs (the page)
    /// The profile id is not one of the shipped profiles.
    UNKNOWN_PROFILE = "unknown_profile", "Unknown profile",
        "Choose one of the card profiles offered.";
    /// The holder data (form or CSV) has problems; nothing was built.
    INVALID_INPUT = "invalid_input", "The holder data has problems",
        "Fix every problem listed, then try again; nothing was built.";
    /// Building or sealing a VSC failed.
    BUILD_FAILED = "build_failed", "The VSC could not be built",
        "Building or sealing a VSC failed; nothing was sent. Try again.";
    /// A download or upload was asked for before anything was built.
    NOTHING_BUILT = "nothing_built", "Nothing is built yet",
        "Build the VSCs first, and wait until it finishes.";
    /// The file is not a sealed VSC, or it is damaged.
    BAD_VSC_FILE = "bad_vsc_file", "This is not a usable VSC file",
        "Choose the .vsc file (or the ZIP of the batch) the issuer sent.";
    /// The password does not open the VSC.
    WRONG_PASSWORD = "wrong_password", "Wrong password",
        "Type the password from the password sheet of this VSC; case and dashes do not matter.";
    /// The VSC could not be opened for another reason.
    VSC_NOT_OPENED = "vsc_not_opened", "The VSC cannot be opened",
        "The VSC is altered or was made for a profile this page does not know; ask the issuer for a new one.";
    /// The card already holds another VSC.
    FOREIGN_CARD = "foreign_card", "This card already belongs to another VSC",
        "Use a blank card; this one was personalized for someone else.";
    /// The card answers in a way its type never should.
    UNUSABLE_CARD = "unusable_card", "This card cannot take this VSC",
        "The card does not behave as its type should; use another blank card.";
    /// The card is not of the type the VSC's profile is for.
    WRONG_CARD_TYPE = "wrong_card_type", "This is not the right type of card",
        "The VSC is for another type of card; insert a blank card of the type its profile names.";
    /// The card refused a command.
    CARD_REFUSED = "card_refused", "The card refused a command",
        "The card said no to a command; it may be locked or not blank. Use another blank card.";
    /// The read-back differs from the VSC.
    READ_BACK_MISMATCH = "read_back_mismatch", "The card does not hold what was written",
        "Reading the card back did not match the VSC; the card cannot be trusted. Use another blank card.";
    /// The clerk did not confirm a new PIN for a card this VSC already personalized.
    NEW_PIN_DECLINED = "new_pin_declined", "No new PIN was set",
        "The card keeps its PIN; nothing was changed.";

    // ---- the issuer service
    /// The request's content is well-formed but invalid.
    INVALID = "invalid", "The service refused what was sent",
        "Something in the request is not acceptable; the message says what. Fix it and send it again.";
    /// No such object, or not one the caller may know of.
    NOT_FOUND = "not_found", "Not found",
        "It does not exist, or is not yours to see. Reload the list.";
    /// The object's state does not allow this.
    CONFLICT = "conflict", "Not possible in its current state",
        "Someone else may have changed it meanwhile. Reload and try again.";
    /// Signed in, but the role does not allow it.
    FORBIDDEN = "forbidden", "Not allowed",
        "Your role does not allow this; ask someone who has the role, or an administrator.";
    /// Not signed in, or the session ended.
    UNAUTHORIZED = "unauthorized", "Please sign in",
        "You are not signed in, or your session ended. Sign in again.";
    /// The service cannot reach its database.
    DATABASE_UNAVAILABLE = "database_unavailable", "The service is unavailable",
        "The service cannot reach its database right now. Try again in a moment.";
    /// The HTTP method is not an operation of that path.
    METHOD_NOT_ALLOWED = "method_not_allowed", "Not an operation of the service",
        "The program that sent it has a bug or is of another version; reload the page.";
    /// No endpoint at that path.
    NO_SUCH_ENDPOINT = "no_such_endpoint", "Not an operation of the service",
        "The program that sent it has a bug or is of another version; reload the page.";
    /// A state-changing request without a same-origin `Origin` and the custom header.
    CSRF = "csrf", "Refused as a possible forged request",
        "A request that changes something must come from the service's own page. Reload the page and try again.";
    /// The body was sent with the wrong content type.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "Wrong kind of content",
        "The program that sent it has a bug; reload the page.";
    /// The body is larger than the endpoint accepts.
    TOO_LARGE = "too_large", "Too much at once",
        "Send fewer items per request.";
    /// An imported file cannot be read as a whole.
    INVALID_FILE = "invalid_file", "The file cannot be read",
        "Nothing was imported. Save the file as CSV UTF-8 (or choose its encoding) and import it again.";
    /// An imported file has bad rows.
    INVALID_RECORDS = "invalid_records", "The file has problems",
        "Nothing was imported. Fix every row listed and import the file again.";
    /// The username or password is wrong.
    WRONG_CREDENTIALS = "wrong_credentials", "Wrong username or password",
        "Check both and try again; after several failures in a row the account is locked for a while.";
    /// Too many failed sign-ins: the account is locked for a while.
    ACCOUNT_LOCKED = "account_locked", "This account is locked",
        "Too many failed sign-ins. Wait, or ask an administrator to unlock it.";

    // ---- the page on the service
    /// The station key of this bridge is not approved for the operator's branch.
    STATION_NOT_APPROVED = "station_not_approved", "This station is not approved yet",
        "Enrol this station, then ask an administrator to approve it after comparing the fingerprint with the bridge's console.";
    /// A station public key that is not 64 hex digits, or cannot receive envelopes.
    BAD_STATION_KEY = "bad_station_key", "That is not a station key",
        "A station key is 64 hex digits, as the bridge shows it; ask the administrator to enrol the station again.";
    /// The branch has no approved station to seal passwords for.
    NO_APPROVED_STATION = "no_approved_station", "The branch has no approved station",
        "A VSC password is sealed for each approved station of the branch; an operator enrols one and an administrator approves it first.";
}

/// The entry for `code`, if the catalogue has one.
pub fn find(code: &str) -> Option<&'static ErrorEntry> {
    ALL.iter().find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    #[test]
    fn codes_are_unique_and_explained() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                !ALL[i + 1..].iter().any(|b| b.code == a.code),
                "{} twice",
                a.code
            );
            assert!(
                a.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                a.code
            );
            assert!(!a.title.is_empty() && !a.title.ends_with('.'), "{}", a.code);
            assert!(a.explanation.ends_with('.'), "{}", a.code);
            assert_eq!(find(a.code), Some(a));
        }
        assert_eq!(find("no_such_code"), None);
    }

    #[test]
    fn docs_list_every_code_with_its_title() {
        let doc = include_str!("../../docs/errors.md");
        for e in ALL {
            let row = format!("| `{}` | {} | {} |", e.code, e.title, e.explanation);
            assert!(doc.contains(&row), "docs/errors.md lacks the row {row}");
        }
    }

    /// The place of each code in [`ErrorCode::ALL`]: the match is exhaustive, so a new
    /// [`ErrorCode`] does not compile until it is listed here, and then fails the test below
    /// until `ALL` lists it too.
    fn index(code: ErrorCode) -> usize {
        match code {
            ErrorCode::BadRequest => 0,
            ErrorCode::UnsupportedProtocol => 1,
            ErrorCode::RateLimited => 2,
            ErrorCode::PairingFailed => 3,
            ErrorCode::NotAuthenticated => 4,
            ErrorCode::UnknownReader => 5,
            ErrorCode::NoCard => 6,
            ErrorCode::Busy => 7,
            ErrorCode::UnknownSession => 8,
            ErrorCode::CardRemoved => 9,
            ErrorCode::TransmitFailed => 10,
            ErrorCode::ReaderError => 11,
            ErrorCode::EnvelopeInvalid => 12,
        }
    }

    #[test]
    fn every_bridge_code_has_an_entry() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(
                index(*code),
                i,
                "ErrorCode::ALL lists every code once, in order"
            );
            let entry = code.entry();
            assert_eq!(find(entry.code()), Some(&entry));
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(entry.code())
            );
        }
    }
}
