//! The bridge wire types (bridge protocol v1, `docs/bridge-protocol.md`), shared by the page
//! (`web`, through wasm) and the bridge (`vsc-bridge`).
//!
//! What this module does: define the requests a page sends ([`Request`], [`Op`]), the replies
//! ([`Reply`], [`ReplyBody`], [`ProtocolError`]) and the events ([`Event`]) the bridge sends,
//! their JSON encoding, and the status-word pattern of `transmit`'s `expect` ([`SwPattern`]).
//!
//! What it does not do: sockets, PC/SC, authentication decisions. APDU bytes travel as
//! [`HexBytes`], which zeroizes on drop and never prints its content in `Debug` (an APDU may
//! carry a PIN or a key).

use crate::envelope::StationPublicKey;
use crate::error_catalogue::ErrorEntry;
use crate::secret::{SecretBytes, SecretString};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The protocol version this module speaks (`hello`'s `protocol` field).
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest WebSocket message the bridge accepts (bytes); larger ones close with 1009.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The WebSocket path of the bridge endpoint.
pub const ENDPOINT_PATH: &str = "/v1";

/// A request id chosen by the client and echoed in the reply.
pub type RequestId = u32;

/// A session handle returned by `connect`; valid only on the socket that opened it.
pub type SessionId = u32;

/// Bytes carried as a hex string on the wire (upper- or lower-case accepted, upper-case sent).
///
/// Zeroized on drop; `Debug` shows only the length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HexBytes(SecretBytes);

impl HexBytes {
    /// Wraps `bytes` (moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretBytes::new(bytes))
    }

    /// The bytes. Do not log them: they may be a PIN or a key.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for HexBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for HexBytes {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes(<{} bytes>)", self.len())
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = zeroize::Zeroizing::new(hex::encode_upper(self.expose()));
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl de::Visitor<'_> for HexVisitor {
            type Value = HexBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string of hex digits with an even length")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HexBytes, E> {
                hex::decode(text)
                    .map(HexBytes::new)
                    .map_err(|_| E::custom("not a hex string of even length"))
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

pub use crate::apdu::{BadSwPattern, SwPattern};

/// The status word (SW1 << 8 | SW2) ending a response APDU, if it has one (ISO 7816-4 §5.1).
pub fn status_word(response: &[u8]) -> Option<u16> {
    match response {
        [.., sw1, sw2] => Some(u16::from_be_bytes([*sw1, *sw2])),
        _ => None,
    }
}

/// One operation a page asks of the bridge (the `op` field and its fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Opens the conversation; `token` authenticates a paired page.
    Hello {
        /// Must be [`PROTOCOL_VERSION`].
        protocol: u32,
        /// A token from an earlier `pair_finish` by the same origin.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<WireSecret>,
    },
    /// Asks the bridge to show a one-time pairing code to the operator.
    PairBegin {},
    /// Exchanges the code the clerk typed for a token.
    PairFinish {
        /// The code shown by the bridge (digits; spaces and dashes ignored).
        code: WireSecret,
    },
    /// Lists the readers.
    Readers {},
    /// Opens an exclusive session on a reader's card.
    Connect {
        /// The reader's name, exactly as `readers` lists it.
        reader: String,
    },
    /// Sends a batch of APDUs in one PC/SC transaction.
    Transmit {
        /// The session from `connect`.
        session: SessionId,
        /// The command APDUs, in order.
        apdus: Vec<HexBytes>,
        /// Per APDU, the status word expected (`null` or missing: anything goes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<Vec<Option<SwPattern>>>,
    },
    /// Ends a session; the card is reset.
    Disconnect {
        /// The session from `connect`.
        session: SessionId,
    },
    /// Station op: the bridge's station public key and its fingerprint.
    StationKey {},
    /// Station op: opens a password envelope sealed to the bridge's station key.
    OpenEnvelope {
        /// The HPKE encapsulated key.
        enc: HexBytes,
        /// The ciphertext (with its tag).
        ciphertext: HexBytes,
        /// The associated data: the envelope's binding (`vsc_core::envelope::Binding`).
        aad: HexBytes,
    },
    /// Extension (`--sim` only): inserts or removes the simulated reader's card.
    SimCard {
        /// `true` inserts the card, `false` removes it.
        present: bool,
    },
}

impl Op {
    /// The op's wire name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello { .. } => "hello",
            Op::PairBegin {} => "pair_begin",
            Op::PairFinish { .. } => "pair_finish",
            Op::Readers {} => "readers",
            Op::Connect { .. } => "connect",
            Op::Transmit { .. } => "transmit",
            Op::Disconnect { .. } => "disconnect",
            Op::StationKey {} => "station_key",
            Op::OpenEnvelope { .. } => "open_envelope",
            Op::SimCard { .. } => "sim_card",
        }
    }

    /// The shape of this op's successful reply.
    pub fn reply_kind(&self) -> ReplyKind {
        match self {
            Op::Hello { .. } => ReplyKind::Hello,
            Op::PairFinish { .. } => ReplyKind::PairFinish,
            Op::Readers {} => ReplyKind::Readers,
            Op::Connect { .. } => ReplyKind::Connect,
            Op::Transmit { .. } => ReplyKind::Transmit,
            Op::StationKey {} => ReplyKind::StationKey,
            Op::OpenEnvelope { .. } => ReplyKind::OpenEnvelope,
            Op::PairBegin {} | Op::Disconnect { .. } | Op::SimCard { .. } => ReplyKind::Empty,
        }
    }
}

/// A secret text field on the wire (token, pairing code): zeroized, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WireSecret(pub SecretString);

impl WireSecret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(SecretString::new(text.into()))
    }

    /// The text. Do not log it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSecret(<redacted>)")
    }
}

impl Serialize for WireSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for WireSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// A request: `{"id": <u32>, "op": "<op>", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Echoed in the reply.
    pub id: RequestId,
    /// What is asked.
    #[serde(flatten)]
    pub op: Op,
}

/// A frame that is not a valid request; answered with `bad_request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    /// The request's id, when the frame had a usable one.
    pub id: Option<RequestId>,
    /// What is wrong, for the page's developer.
    pub message: String,
}

impl Request {
    /// Parses one text frame. A frame whose `id` is readable but whose op is not gets a
    /// [`BadRequest`] carrying that id, so the reply can name it.
    pub fn parse(text: &str) -> Result<Request, BadRequest> {
        // Fast path for well-formed requests (no intermediate `Value` tree); the slow path
        // below finds the id and the reason for a bad one.
        #[derive(Deserialize)]
        struct IdOnly {
            id: RequestId,
        }
        if let (Ok(IdOnly { id }), Ok(op)) = (
            serde_json::from_str::<IdOnly>(text),
            serde_json::from_str::<Op>(text),
        ) {
            return Ok(Request { id, op });
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| BadRequest {
            id: None,
            message: format!("the frame is not JSON: {e}"),
        })?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(BadRequest {
                id: None,
                message: "a request must be a JSON object".into(),
            });
        };
        let id = match map.remove("id") {
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        let Some(id) = id else {
            return Err(BadRequest {
                id: None,
                message: "a request needs an \"id\" that is an integer from 0 to 4294967295".into(),
            });
        };
        match map.get("op") {
            Some(serde_json::Value::String(_)) => {}
            _ => {
                return Err(BadRequest {
                    id: Some(id),
                    message: "a request needs an \"op\" string".into(),
                })
            }
        }
        let op = Op::deserialize(serde_json::Value::Object(map)).map_err(|e| BadRequest {
            id: Some(id),
            message: format!("bad request: {e}"),
        })?;
        Ok(Request { id, op })
    }

    /// The JSON text of this request.
    pub fn to_json(&self) -> String {
        to_json_text(self)
    }

    /// The JSON text of this request in a zeroizing buffer sized before it is written: no
    /// buffer that held part of it (a password or a PIN in an APDU, key bytes) is freed
    /// unwiped, as a growing buffer's earlier allocations would be.
    pub fn to_json_zeroizing(&self) -> zeroize::Zeroizing<String> {
        /// Counts the bytes written.
        struct Length(usize);
        impl std::io::Write for Length {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut length = Length(0);
        // Serializing a request cannot fail: every map key is a string.
        let _ = serde_json::to_writer(&mut length, self);
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(length.0));
        let _ = serde_json::to_writer(&mut *bytes, self);
        // JSON text is UTF-8; the bytes move into the string, not copied.
        zeroize::Zeroizing::new(String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default())
    }
}

/// Error codes of the protocol (the `error.code` of a failed reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a valid request (bad JSON, unknown op, missing or mistyped field).
    BadRequest,
    /// `hello` asked for a protocol version this bridge does not speak.
    UnsupportedProtocol,
    /// Too many pairing attempts from this origin; wait a minute.
    RateLimited,
    /// The pairing code is wrong, expired, or was never issued.
    PairingFailed,
    /// The connection is not authenticated (no `hello`, no valid token, no trusted origin).
    NotAuthenticated,
    /// No reader with that name.
    UnknownReader,
    /// The reader holds no card.
    NoCard,
    /// Another client (or program) holds the reader.
    Busy,
    /// No such session on this connection.
    UnknownSession,
    /// The card was removed; the session is over.
    CardRemoved,
    /// The reader or card failed to carry an APDU.
    TransmitFailed,
    /// Extension: PC/SC failed for another reason (pcscd not running, reader error).
    ReaderError,
    /// Station op: the envelope does not open (another station's, another job's, damaged).
    EnvelopeInvalid,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::UnsupportedProtocol,
        ErrorCode::RateLimited,
        ErrorCode::PairingFailed,
        ErrorCode::NotAuthenticated,
        ErrorCode::UnknownReader,
        ErrorCode::NoCard,
        ErrorCode::Busy,
        ErrorCode::UnknownSession,
        ErrorCode::CardRemoved,
        ErrorCode::TransmitFailed,
        ErrorCode::ReaderError,
        ErrorCode::EnvelopeInvalid,
    ];

    /// The code's entry in the one catalogue of error codes.
    pub fn entry(&self) -> ErrorEntry {
        use crate::error_catalogue as c;
        match self {
            ErrorCode::BadRequest => c::BAD_REQUEST,
            ErrorCode::UnsupportedProtocol => c::UNSUPPORTED_PROTOCOL,
            ErrorCode::RateLimited => c::RATE_LIMITED,
            ErrorCode::PairingFailed => c::PAIRING_FAILED,
            ErrorCode::NotAuthenticated => c::NOT_AUTHENTICATED,
            ErrorCode::UnknownReader => c::UNKNOWN_READER,
            ErrorCode::NoCard => c::NO_CARD,
            ErrorCode::Busy => c::BUSY,
            ErrorCode::UnknownSession => c::UNKNOWN_SESSION,
            ErrorCode::CardRemoved => c::CARD_REMOVED,
            ErrorCode::TransmitFailed => c::TRANSMIT_FAILED,
            ErrorCode::ReaderError => c::READER_ERROR,
            ErrorCode::EnvelopeInvalid => c::ENVELOPE_INVALID,
        }
    }

    /// The wire name, e.g. `"not_authenticated"` (the catalogue's code).
    pub fn as_str(&self) -> &'static str {
        self.entry().code()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` object of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Text for a person.
    pub message: String,
}

impl ProtocolError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A reader as `readers` and `readers_changed` list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderInfo {
    /// The PC/SC reader name.
    pub name: String,
    /// Whether a card is in the reader.
    pub card_present: bool,
    /// The card's ATR, when a card is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<HexBytes>,
}

/// The transmission protocol of a connected card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardProtocol {
    /// ISO 7816-3 T=0.
    T0,
    /// ISO 7816-3 T=1.
    T1,
}

/// `hello`'s reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The bridge's name and version, e.g. `"vsc-bridge 0.1.0"`.
    pub bridge: String,
    /// The protocol version, [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Whether the connection is now authenticated (valid token or trusted origin).
    pub paired: bool,
}

/// `pair_finish`'s reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairFinishReply {
    /// The token to present in later `hello`s from the same origin.
    pub token: WireSecret,
}

/// `readers`' reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadersReply {
    /// All readers the bridge sees.
    pub readers: Vec<ReaderInfo>,
}

/// `connect`'s reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectReply {
    /// The session handle for `transmit` and `disconnect`.
    pub session: SessionId,
    /// The card's ATR.
    pub atr: HexBytes,
    /// The protocol the card and reader agreed on.
    pub protocol: CardProtocol,
}

/// `transmit`'s reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransmitReply {
    /// One response (data + SW1 SW2) per APDU sent, verbatim.
    pub responses: Vec<HexBytes>,
    /// Index of the APDU whose status word did not match its `expect` pattern (its response is
    /// the last one in `responses`); absent when every APDU was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<u32>,
}

/// `station_key`'s reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationKeyReply {
    /// The station's X25519 public key (64 hex digits on the wire).
    pub public_key: StationPublicKey,
    /// Its fingerprint, as `vsc-bridge station` prints it.
    pub fingerprint: String,
}

/// `open_envelope`'s reply fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenEnvelopeReply {
    /// The opened password's bytes (sensitive: zeroized, never logged).
    pub plaintext: HexBytes,
}

/// The fields of a successful reply, one variant per reply shape ([`ReplyKind`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ReplyBody {
    /// `hello`.
    Hello(HelloReply),
    /// `connect`.
    Connect(ConnectReply),
    /// `transmit`.
    Transmit(TransmitReply),
    /// `readers`.
    Readers(ReadersReply),
    /// `pair_finish`.
    PairFinish(PairFinishReply),
    /// `station_key`.
    StationKey(StationKeyReply),
    /// `open_envelope`.
    OpenEnvelope(OpenEnvelopeReply),
    /// Ops with no reply fields (`pair_begin`, `disconnect`, `sim_card`).
    Empty {},
}

/// The shape of an op's successful reply: a client reads a reply as the shape its request
/// expects ([`Op::reply_kind`]), never by guessing it from the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// [`HelloReply`].
    Hello,
    /// [`ConnectReply`].
    Connect,
    /// [`TransmitReply`].
    Transmit,
    /// [`ReadersReply`].
    Readers,
    /// [`PairFinishReply`].
    PairFinish,
    /// [`StationKeyReply`].
    StationKey,
    /// [`OpenEnvelopeReply`].
    OpenEnvelope,
    /// No fields.
    Empty,
}

impl ReplyBody {
    /// Reads the fields of the reply frame `text` as `kind` (the frame's `id` and `ok` are
    /// skipped).
    fn parse_as(kind: ReplyKind, text: &str) -> Result<ReplyBody, serde_json::Error> {
        Ok(match kind {
            ReplyKind::Hello => ReplyBody::Hello(serde_json::from_str(text)?),
            ReplyKind::Connect => ReplyBody::Connect(serde_json::from_str(text)?),
            ReplyKind::Transmit => ReplyBody::Transmit(serde_json::from_str(text)?),
            ReplyKind::Readers => ReplyBody::Readers(serde_json::from_str(text)?),
            ReplyKind::PairFinish => ReplyBody::PairFinish(serde_json::from_str(text)?),
            ReplyKind::StationKey => ReplyBody::StationKey(serde_json::from_str(text)?),
            ReplyKind::OpenEnvelope => ReplyBody::OpenEnvelope(serde_json::from_str(text)?),
            ReplyKind::Empty => {
                serde_json::from_str::<de::IgnoredAny>(text)?;
                ReplyBody::Empty {}
            }
        })
    }
}

/// A reply: `{"id": n, "ok": true, ...fields}` or `{"id": n, "ok": false, "error": {...}}`.
///
/// `id` is `null` only when the request's id could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request's id.
    pub id: Option<RequestId>,
    /// The outcome.
    pub result: Result<ReplyBody, ProtocolError>,
}

impl Reply {
    /// A successful reply.
    pub fn ok(id: RequestId, body: ReplyBody) -> Self {
        Self {
            id: Some(id),
            result: Ok(body),
        }
    }

    /// A failed reply.
    pub fn err(id: Option<RequestId>, error: ProtocolError) -> Self {
        Self {
            id,
            result: Err(error),
        }
    }

    /// The JSON text of this reply.
    pub fn to_json(&self) -> String {
        /// The reply as it is written: the body's fields flattened beside `id` and `ok`, in
        /// one pass (no intermediate `Value`, so response bytes are not copied around).
        #[derive(Serialize)]
        struct Out<'a> {
            id: Option<RequestId>,
            ok: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a ProtocolError>,
            #[serde(flatten, skip_serializing_if = "Option::is_none")]
            body: Option<&'a ReplyBody>,
        }
        to_json_text(&Out {
            id: self.id,
            ok: self.result.is_ok(),
            error: self.result.as_ref().err(),
            body: self.result.as_ref().ok(),
        })
    }
}

/// An event the bridge sends unasked: `{"event": "<name>", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A reader or a card came or went; the full new list.
    ReadersChanged {
        /// All readers the bridge now sees.
        readers: Vec<ReaderInfo>,
    },
    /// The card of a session was removed; the session is over.
    CardRemoved {
        /// The session that ended.
        session: SessionId,
    },
}

impl Event {
    /// The JSON text of this event.
    pub fn to_json(&self) -> String {
        to_json_text(self)
    }
}

/// Anything the bridge sends: a reply or an event (for clients parsing frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// A reply to a request.
    Reply(Reply),
    /// An event.
    Event(Event),
}

/// A frame from the bridge that this module cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the bridge sent a frame this page cannot read: {message}")]
pub struct BadServerMessage {
    message: String,
    reply_to: Option<RequestId>,
}

impl BadServerMessage {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            reply_to: None,
        }
    }

    /// The request a successful reply answered, when only its fields could not be read as
    /// that request expects (its waiter should fail now, not time out).
    pub fn reply_to(&self) -> Option<RequestId> {
        self.reply_to
    }
}

impl ServerMessage {
    /// Parses one text frame sent by the bridge. A successful reply's fields are read as the
    /// shape its request expects, which `kind_of` gives for the reply's id (from the op the
    /// client sent, [`Op::reply_kind`]); a reply to no request the client is waiting for is a
    /// [`BadServerMessage`].
    ///
    /// The frame is read straight into those types: no untyped tree of its values (the fields
    /// of an `open_envelope` reply are a password) is made and freed unwiped on the way.
    pub fn parse(
        text: &str,
        kind_of: impl FnOnce(RequestId) -> Option<ReplyKind>,
    ) -> Result<ServerMessage, BadServerMessage> {
        let bad = |e: serde_json::Error| BadServerMessage::new(e.to_string());
        // Only the head's fields; the others are skipped without being copied.
        let head: WireHead = serde_json::from_str(text).map_err(bad)?;
        if head.event.is_some() {
            return serde_json::from_str(text)
                .map(ServerMessage::Event)
                .map_err(bad);
        }
        let ok = head
            .ok
            .ok_or_else(|| BadServerMessage::new("a frame with neither \"ok\" nor \"event\""))?;
        let result = if ok {
            let id = head
                .id
                .ok_or_else(|| BadServerMessage::new("a successful reply without an id"))?;
            let kind = kind_of(id).ok_or_else(|| {
                BadServerMessage::new(format!("a reply to request {id}, which is not waiting"))
            })?;
            Ok(
                ReplyBody::parse_as(kind, text).map_err(|e| BadServerMessage {
                    message: e.to_string(),
                    reply_to: Some(id),
                })?,
            )
        } else {
            Err(head.error.ok_or_else(|| {
                BadServerMessage::new("a failed reply without an \"error\" object")
            })?)
        };
        Ok(ServerMessage::Reply(Reply {
            id: head.id,
            result,
        }))
    }
}

/// What a frame from the bridge says before its body: a reply's id, outcome and error, or an
/// event's name (other fields are skipped).
#[derive(Deserialize)]
struct WireHead {
    #[serde(default)]
    id: Option<RequestId>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<ProtocolError>,
    #[serde(default)]
    event: Option<de::IgnoredAny>,
}

fn to_json_text<T: Serialize>(value: &T) -> String {
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sw_pattern_matches_nibbles() {
        let p = SwPattern::parse("61XX").unwrap();
        assert!(p.matches(0x6100));
        assert!(p.matches(0x61FF));
        assert!(!p.matches(0x6200));
        let p = SwPattern::parse("63cx").unwrap();
        assert!(p.matches(0x63C2));
        assert!(!p.matches(0x63D2));
        assert!(SwPattern::parse("9000").unwrap().matches(0x9000));
        assert!(!SwPattern::parse("9000").unwrap().matches(0x9001));
        assert!(SwPattern::parse("XXXX").unwrap().matches(0x1234));
        assert_eq!(SwPattern::parse("6cXx").unwrap().to_string(), "6CXX");
        assert_eq!(SwPattern::exact(0x9000).to_string(), "9000");
    }

    #[test]
    fn sw_pattern_rejects_bad_text() {
        for bad in ["", "900", "90000", "90G0", "9 00", "۹000", "+900"] {
            assert!(SwPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sw_pattern_on_responses() {
        let p = SwPattern::parse("9000").unwrap();
        assert!(p.matches_response(&[0x01, 0x90, 0x00]));
        assert!(!p.matches_response(&[0x90]));
        assert!(!p.matches_response(&[]));
        assert_eq!(status_word(&[0x6A, 0x82]), Some(0x6A82));
    }

    #[test]
    fn a_request_is_written_into_one_zeroizing_buffer_of_its_size() {
        let request = Request::parse(
            r#"{"id":3,"op":"transmit","session":7,"apdus":["0020008108313233343536373839","00a4040c"]}"#,
        )
        .unwrap();
        let json = request.to_json_zeroizing();
        assert_eq!(json.as_str(), request.to_json());
        assert_eq!(json.capacity(), json.len(), "written without growing");
    }

    #[test]
    fn parses_every_op() {
        let r = Request::parse(r#"{"id":1,"op":"hello","protocol":1,"token":"abc"}"#).unwrap();
        assert_eq!(r.id, 1);
        match r.op {
            Op::Hello {
                protocol: 1,
                token: Some(t),
            } => assert_eq!(t.expose(), "abc"),
            other => panic!("{other:?}"),
        }
        let r = Request::parse(r#"{"id":2,"op":"pair_begin"}"#).unwrap();
        assert_eq!(r.op, Op::PairBegin {});
        let r = Request::parse(r#"{"id":3,"op":"transmit","session":7,"apdus":["00a4040c","9000"],"expect":["9000",null]}"#).unwrap();
        match r.op {
            Op::Transmit {
                session: 7,
                apdus,
                expect: Some(expect),
            } => {
                assert_eq!(apdus[0].expose(), &[0x00, 0xA4, 0x04, 0x0C]);
                assert_eq!(expect, vec![Some(SwPattern::exact(0x9000)), None]);
            }
            other => panic!("{other:?}"),
        }
        let r = Request::parse(r#"{"id":4,"op":"sim_card","present":false}"#).unwrap();
        assert_eq!(r.op, Op::SimCard { present: false });
        let r = Request::parse(r#"{"id":5,"op":"station_key"}"#).unwrap();
        assert_eq!(r.op, Op::StationKey {});
        let r = Request::parse(
            r#"{"id":6,"op":"open_envelope","enc":"0A","ciphertext":"0b0c","aad":""}"#,
        )
        .unwrap();
        match r.op {
            Op::OpenEnvelope {
                enc,
                ciphertext,
                aad,
            } => {
                assert_eq!(enc.expose(), &[0x0A]);
                assert_eq!(ciphertext.expose(), &[0x0B, 0x0C]);
                assert!(aad.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let e = Request::parse(r#"{"id":7,"op":"open_envelope","enc":"0A","aad":""}"#).unwrap_err();
        assert_eq!(e.id, Some(7));
    }

    #[test]
    fn bad_requests_keep_the_id_when_readable() {
        let e = Request::parse("not json").unwrap_err();
        assert_eq!(e.id, None);
        let e = Request::parse("[1,2]").unwrap_err();
        assert_eq!(e.id, None);
        let e = Request::parse(r#"{"op":"readers"}"#).unwrap_err();
        assert_eq!(e.id, None);
        let e = Request::parse(r#"{"id":-1,"op":"readers"}"#).unwrap_err();
        assert_eq!(e.id, None);
        let e = Request::parse(r#"{"id":5,"op":"fly"}"#).unwrap_err();
        assert_eq!(e.id, Some(5));
        let e = Request::parse(r#"{"id":6,"op":"connect","reader":7}"#).unwrap_err();
        assert_eq!(e.id, Some(6));
        let e =
            Request::parse(r#"{"id":7,"op":"transmit","session":1,"apdus":["0G"]}"#).unwrap_err();
        assert_eq!(e.id, Some(7));
        let e = Request::parse(r#"{"id":8}"#).unwrap_err();
        assert_eq!(e.id, Some(8));
    }

    #[test]
    fn requests_round_trip() {
        let request = Request {
            id: 9,
            op: Op::Transmit {
                session: 2,
                apdus: vec![HexBytes::new(vec![0, 0x20, 0, 0x81])],
                expect: Some(vec![SwPattern::parse("63CX").ok()]),
            },
        };
        let text = request.to_json();
        assert!(text.contains(r#""op":"transmit""#), "{text}");
        assert!(text.contains(r#""00200081""#), "{text}");
        assert_eq!(Request::parse(&text).unwrap(), request);
    }

    #[test]
    fn replies_serialize_flat_and_parse_back() {
        let reply = Reply::ok(
            3,
            ReplyBody::Connect(ConnectReply {
                session: 1,
                atr: HexBytes::new(vec![0x3B, 0x8A]),
                protocol: CardProtocol::T1,
            }),
        );
        let text = reply.to_json();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], 3);
        assert_eq!(value["ok"], true);
        assert_eq!(value["atr"], "3B8A");
        assert_eq!(value["protocol"], "T1");
        assert_eq!(
            ServerMessage::parse(&text, |_| Some(ReplyKind::Connect)).unwrap(),
            ServerMessage::Reply(reply)
        );

        let reply = Reply::err(None, ProtocolError::new(ErrorCode::BadRequest, "no"));
        let text = reply.to_json();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], serde_json::Value::Null);
        assert_eq!(value["error"]["code"], "bad_request");
        assert_eq!(
            ServerMessage::parse(&text, |_| None).unwrap(),
            ServerMessage::Reply(reply)
        );

        let empty = Reply::ok(4, ReplyBody::Empty {});
        assert_eq!(empty.to_json(), r#"{"id":4,"ok":true}"#);
        let transmit = Reply::ok(
            5,
            ReplyBody::Transmit(TransmitReply {
                responses: vec![HexBytes::new(vec![0x6a, 0x82])],
                stopped_at: Some(0),
            }),
        );
        assert_eq!(
            transmit.to_json(),
            r#"{"id":5,"ok":true,"responses":["6A82"],"stopped_at":0}"#,
            "the body's fields sit beside id and ok"
        );
        assert_eq!(
            ServerMessage::parse(&empty.to_json(), |_| Some(ReplyKind::Empty)).unwrap(),
            ServerMessage::Reply(empty)
        );

        for (kind, body) in [
            (
                ReplyKind::Hello,
                ReplyBody::Hello(HelloReply {
                    bridge: "b".into(),
                    protocol: 1,
                    paired: true,
                }),
            ),
            (
                ReplyKind::Transmit,
                ReplyBody::Transmit(TransmitReply {
                    responses: vec![HexBytes::new(vec![0x90, 0])],
                    stopped_at: Some(0),
                }),
            ),
            (
                ReplyKind::Readers,
                ReplyBody::Readers(ReadersReply {
                    readers: vec![ReaderInfo {
                        name: "r".into(),
                        card_present: false,
                        atr: None,
                    }],
                }),
            ),
            (
                ReplyKind::PairFinish,
                ReplyBody::PairFinish(PairFinishReply {
                    token: WireSecret::new("t"),
                }),
            ),
            (
                ReplyKind::StationKey,
                ReplyBody::StationKey(StationKeyReply {
                    public_key: StationPublicKey::from_bytes(&[9; 32]).unwrap(),
                    fingerprint: StationPublicKey::from_bytes(&[9; 32])
                        .unwrap()
                        .fingerprint(),
                }),
            ),
            (
                ReplyKind::OpenEnvelope,
                ReplyBody::OpenEnvelope(OpenEnvelopeReply {
                    plaintext: HexBytes::new(b"7K2M".to_vec()),
                }),
            ),
        ] {
            let reply = Reply::ok(1, body);
            assert_eq!(
                ServerMessage::parse(&reply.to_json(), |id| (id == 1).then_some(kind)).unwrap(),
                ServerMessage::Reply(reply)
            );
        }
    }

    #[test]
    fn a_reply_is_read_as_its_request_expects() {
        let op = Op::OpenEnvelope {
            enc: HexBytes::new(vec![1; 32]),
            ciphertext: HexBytes::new(vec![2; 20]),
            aad: HexBytes::new(vec![3; 4]),
        };
        assert_eq!(op.reply_kind(), ReplyKind::OpenEnvelope);
        assert_eq!(Op::Disconnect { session: 1 }.reply_kind(), ReplyKind::Empty);
        let text = r#"{"id":7,"ok":true,"plaintext":"374B324D"}"#;
        let ServerMessage::Reply(Reply {
            id: Some(7),
            result: Ok(ReplyBody::OpenEnvelope(reply)),
        }) = ServerMessage::parse(text, |_| Some(op.reply_kind())).unwrap()
        else {
            panic!("not an open_envelope reply");
        };
        assert_eq!(reply.plaintext.expose(), b"7K2M");
        // The same frame is not a transmit reply (the error names the request, whose waiter
        // fails at once), and a reply nobody waits for is refused.
        let wrong = ServerMessage::parse(text, |_| Some(ReplyKind::Transmit)).unwrap_err();
        assert_eq!(wrong.reply_to(), Some(7));
        assert_eq!(
            ServerMessage::parse(text, |_| None).unwrap_err().reply_to(),
            None
        );
        // A frame that is neither a reply nor an event.
        assert!(ServerMessage::parse(r#"{"id":7}"#, |_| Some(ReplyKind::Empty)).is_err());
        // A failed reply needs no waiting request to be read.
        let failed = r#"{"id":null,"ok":false,"error":{"code":"bad_request","message":"no"}}"#;
        assert!(matches!(
            ServerMessage::parse(failed, |_| None),
            Ok(ServerMessage::Reply(Reply { result: Err(_), .. }))
        ));
    }

    #[test]
    fn events_serialize_with_their_name() {
        let event = Event::CardRemoved { session: 4 };
        assert_eq!(event.to_json(), r#"{"event":"card_removed","session":4}"#);
        assert_eq!(
            ServerMessage::parse(&event.to_json(), |_| None).unwrap(),
            ServerMessage::Event(event)
        );
        let event = Event::ReadersChanged {
            readers: vec![ReaderInfo {
                name: "VSC Simulated Reader 0".into(),
                card_present: true,
                atr: Some(HexBytes::new(vec![0x3B])),
            }],
        };
        assert_eq!(
            ServerMessage::parse(&event.to_json(), |_| None).unwrap(),
            ServerMessage::Event(event)
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let apdu = HexBytes::new(b"123456".to_vec());
        assert!(!format!("{apdu:?}").contains("123456"));
        let secret = WireSecret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let op = Op::PairFinish {
            code: WireSecret::new("12345678"),
        };
        assert!(!format!("{op:?}").contains("12345678"));
        let reply = OpenEnvelopeReply {
            plaintext: HexBytes::new(b"7K2M-Q9TD".to_vec()),
        };
        let shown = format!("{reply:?}");
        assert!(
            !shown.contains("7K2M") && !shown.contains("374B324D"),
            "{shown}"
        );
    }

    #[test]
    fn error_codes_use_wire_names() {
        let text = serde_json::to_string(&ErrorCode::NotAuthenticated).unwrap();
        assert_eq!(text, "\"not_authenticated\"");
        assert_eq!(ErrorCode::NotAuthenticated.as_str(), "not_authenticated");
        assert_eq!(ErrorCode::ReaderError.to_string(), "reader_error");
        assert_eq!(ErrorCode::EnvelopeInvalid.as_str(), "envelope_invalid");
    }
}
