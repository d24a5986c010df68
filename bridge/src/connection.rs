//! One WebSocket connection: the protocol's request/reply loop, events, limits and cleanup.
//! A connection is served on a thread of its own, under a runtime that serves nothing else.
//!
//! Requests are answered one at a time, in order. Until the connection is authenticated only
//! `hello`, `pair_begin` and `pair_finish` are served; nothing else reaches the backend or the
//! station key. When the
//! socket ends, for whatever reason, every session it opened is ended and its card reset.

use crate::app::App;
use crate::backend::BackendError;
use crate::pairing::PairingError;
use crate::sessions::{lock, ConnId, SessionEntry};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;
use vsc_core::envelope::{Binding, EnvelopeError};
use vsc_core::protocol::{
    ConnectReply, ErrorCode, Event, HelloReply, HexBytes, Op, OpenEnvelopeReply, PairFinishReply,
    ProtocolError, ReadersReply, Reply, ReplyBody, Request, SessionId, StationKeyReply,
    TransmitReply, WireSecret, PROTOCOL_VERSION,
};

/// The longest APDU accepted: extended header, 3-byte Lc, 65535 data bytes, 3-byte Le
/// (ISO 7816-4 §5.1).
const MAX_APDU_BYTES: usize = 4 + 3 + 65535 + 3;

/// What one connection knows about itself.
struct Conn {
    app: Arc<App>,
    id: ConnId,
    origin: String,
    said_hello: bool,
    authenticated: bool,
    events: mpsc::UnboundedSender<Event>,
    /// The "batch done" line of the last transmit, written once its reply is on the wire so
    /// the page does not wait for the log.
    batch_done: Option<BatchDone>,
}

/// What the log says about a batch that ran to its end or to a stop.
struct BatchDone {
    span: tracing::Span,
    session: SessionId,
    reader: String,
    apdus: usize,
    answered: usize,
    stopped_at: Option<usize>,
    last_sw: Option<u16>,
    elapsed: Duration,
}

impl BatchDone {
    fn log(self) {
        self.span.in_scope(|| {
            tracing::info!(
                session = self.session,
                reader = %self.reader,
                apdus = self.apdus,
                answered = self.answered,
                stopped_at = ?self.stopped_at,
                last_sw = %self.last_sw.map_or_else(|| "-".to_owned(), |sw| format!("{sw:04X}")),
                elapsed_ms = self.elapsed.as_secs_f64() * 1000.0,
                "batch done"
            )
        });
    }
}

fn err(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(code, message)
}

/// Serves one upgraded connection from `origin` until it closes.
pub async fn serve<S>(
    app: Arc<App>,
    ws: WebSocketStream<S>,
    origin: String,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + DrainInner,
{
    let id = app.next_conn_id();
    let span = tracing::info_span!("conn", conn = id, origin = %origin);
    async move {
        tracing::info!("connected");
        let (events, event_rx) = mpsc::unbounded_channel();
        let mut conn = Conn {
            app: Arc::clone(&app),
            id,
            origin,
            said_hello: false,
            authenticated: false,
            events,
            batch_done: None,
        };
        let why = conn.run(ws, event_rx).await;
        app.end_sessions_of(id, "the socket closed").await;
        tracing::info!(why, "disconnected");
        drop(permit);
    }
    .instrument(span)
    .await
}

/// Access to the raw byte stream under a WebSocket, to discard what a client still sends after
/// the bridge closed on it (so the close frame is not lost to a TCP reset).
pub trait DrainInner {
    /// The raw stream.
    fn raw(&mut self) -> &mut (dyn AsyncRead + Unpin + Send);
}

impl DrainInner for crate::http::Rewind<tokio::net::TcpStream> {
    fn raw(&mut self) -> &mut (dyn AsyncRead + Unpin + Send) {
        self.inner_mut()
    }
}

impl Conn {
    async fn run<S>(
        &mut self,
        mut ws: WebSocketStream<S>,
        mut event_rx: mpsc::UnboundedReceiver<Event>,
    ) -> &'static str
    where
        S: AsyncRead + AsyncWrite + Unpin + DrainInner,
    {
        let idle = self.app.config.idle_timeout;
        let mut readers_rx = self.app.readers_events.subscribe();
        let mut deadline = tokio::time::Instant::now() + idle;
        loop {
            let outgoing: String = tokio::select! {
                frame = ws.next() => match frame {
                    None => return "the client went away",
                    Some(Ok(Message::Text(text))) => {
                        deadline = tokio::time::Instant::now() + idle;
                        self.handle(text.as_str()).await.to_json()
                    }
                    Some(Ok(Message::Binary(_))) => {
                        deadline = tokio::time::Instant::now() + idle;
                        Reply::err(None, err(ErrorCode::BadRequest, "binary frames are not part of the protocol; send JSON text frames")).to_json()
                    }
                    Some(Ok(Message::Close(_))) => return "the client closed the socket",
                    Some(Ok(_)) => {
                        deadline = tokio::time::Instant::now() + idle;
                        continue;
                    }
                    Some(Err(WsError::Capacity(e))) => {
                        tracing::warn!(%e, "frame over the size limit; closing with 1009");
                        close_and_drain(&mut ws, CloseCode::Size, "message larger than 1 MiB").await;
                        return "message too big";
                    }
                    Some(Err(e)) => {
                        tracing::debug!(%e, "socket error");
                        return "socket error";
                    }
                },
                Some(event) = event_rx.recv() => event.to_json(),
                readers = readers_rx.recv(), if self.authenticated => match readers {
                    Ok(json) => json.to_string(),
                    Err(_) => continue,
                },
                () = tokio::time::sleep_until(deadline) => {
                    close_and_drain(&mut ws, CloseCode::Away, "idle timeout").await;
                    return "idle timeout";
                }
            };
            let sent = ws.send(Message::text(outgoing)).await;
            if let Some(done) = self.batch_done.take() {
                done.log();
            }
            if sent.is_err() {
                return "cannot write to the socket";
            }
        }
    }

    async fn handle(&mut self, text: &str) -> Reply {
        let request = match Request::parse(text) {
            Ok(request) => request,
            Err(bad) => {
                tracing::info!(id = ?bad.id, "bad request");
                return Reply::err(bad.id, err(ErrorCode::BadRequest, bad.message));
            }
        };
        let id = request.id;
        let op = request.op.name();
        let result = self.dispatch(request.op).await;
        match &result {
            Ok(_) => tracing::debug!(id, op, "ok"),
            Err(e) => tracing::info!(id, op, code = %e.code, "refused"),
        }
        Reply {
            id: Some(id),
            result,
        }
    }

    async fn dispatch(&mut self, op: Op) -> Result<ReplyBody, ProtocolError> {
        match op {
            Op::Hello { protocol, token } => self.hello(protocol, token).await,
            Op::PairBegin {} | Op::PairFinish { .. } if !self.said_hello => {
                Err(err(ErrorCode::BadRequest, "send hello first"))
            }
            Op::PairBegin {} => self.pair_begin().await,
            Op::PairFinish { code } => self.pair_finish(code).await,
            _ if !self.authenticated => Err(err(
                ErrorCode::NotAuthenticated,
                "this page is not paired with the bridge: send hello with a token, or pair first",
            )),
            Op::Readers {} => {
                let readers = self.app.readers().await.map_err(|e| e.to_protocol())?;
                Ok(ReplyBody::Readers(ReadersReply { readers }))
            }
            Op::Connect { reader } => self.connect(reader).await,
            Op::Transmit {
                session,
                apdus,
                expect,
            } => {
                self.transmit(session, apdus, expect.unwrap_or_default())
                    .await
            }
            Op::Disconnect { session } => {
                let entry = self
                    .app
                    .sessions
                    .take(session, Some(self.id))
                    .ok_or_else(|| unknown_session(session))?;
                self.app.end_session(session, entry, "disconnect").await;
                Ok(ReplyBody::Empty {})
            }
            Op::StationKey {} => {
                let app = Arc::clone(&self.app);
                let key = tokio::task::spawn_blocking(move || app.station.key())
                    .await
                    .map_err(|_| err(ErrorCode::BadRequest, "reading the station key crashed"))?;
                let public_key = key.public_key();
                Ok(ReplyBody::StationKey(StationKeyReply {
                    fingerprint: public_key.fingerprint(),
                    public_key,
                }))
            }
            Op::OpenEnvelope {
                enc,
                ciphertext,
                aad,
            } => self.open_envelope(enc, ciphertext, aad).await,
            Op::SimCard { present } => {
                let backend = Arc::clone(&self.app.backend);
                let done = tokio::task::spawn_blocking(move || backend.set_simulated_card(present))
                    .await
                    .ok()
                    .flatten();
                match done {
                    Some(()) => {
                        tracing::info!(present, "simulated card changed");
                        Ok(ReplyBody::Empty {})
                    }
                    None => Err(err(
                        ErrorCode::BadRequest,
                        "sim_card works only when the bridge runs with --sim",
                    )),
                }
            }
        }
    }

    async fn hello(
        &mut self,
        protocol: u32,
        token: Option<WireSecret>,
    ) -> Result<ReplyBody, ProtocolError> {
        if protocol != PROTOCOL_VERSION {
            return Err(err(
                ErrorCode::UnsupportedProtocol,
                format!("this bridge speaks protocol {PROTOCOL_VERSION}, not {protocol}; update the page or the bridge"),
            ));
        }
        self.said_hello = true;
        let mut authenticated = self.app.is_trusted(&self.origin);
        if let Some(token) = token {
            let store = self.app.store.clone();
            let origin = self.origin.clone();
            let found =
                tokio::task::spawn_blocking(move || store.find(&origin, token.expose())).await;
            match found {
                Ok(Ok(Some(record))) => {
                    tracing::info!(pairing = %record.id, "paired page authenticated");
                    authenticated = true;
                }
                Ok(Ok(None)) => tracing::warn!("hello with a token that is unknown for this origin (revoked, or another origin's)"),
                Ok(Err(e)) => tracing::error!(%e, "cannot read the pairings"),
                Err(_) => tracing::error!("the pairing lookup crashed"),
            }
        }
        self.authenticated = authenticated;
        Ok(ReplyBody::Hello(HelloReply {
            bridge: format!("vsc-bridge {}", env!("CARGO_PKG_VERSION")),
            protocol: PROTOCOL_VERSION,
            paired: authenticated,
        }))
    }

    async fn pair_begin(&mut self) -> Result<ReplyBody, ProtocolError> {
        let code = lock(&self.app.pairing)
            .begin(&self.origin, Instant::now())
            .map_err(pairing_error)?;
        // The operator's console: the one place the code is shown (besides the file they asked for).
        eprintln!("PAIRING CODE for {}: {}", self.origin, code.expose());
        tracing::info!("pairing code issued and shown on the console");
        if let Some(path) = self.app.config.pairing_code_file.clone() {
            let written =
                tokio::task::spawn_blocking(move || write_code_file(&path, code.expose())).await;
            if !matches!(written, Ok(Ok(()))) {
                tracing::error!("cannot write the pairing code file");
            }
        }
        Ok(ReplyBody::Empty {})
    }

    async fn pair_finish(&mut self, code: WireSecret) -> Result<ReplyBody, ProtocolError> {
        lock(&self.app.pairing)
            .finish(&self.origin, code.expose(), Instant::now())
            .map_err(|e| {
                tracing::warn!(%e, "pairing refused");
                pairing_error(e)
            })?;
        let store = self.app.store.clone();
        let origin = self.origin.clone();
        let added = tokio::task::spawn_blocking(move || store.add(&origin)).await;
        match added {
            Ok(Ok((record, token))) => {
                tracing::info!(pairing = %record.id, "page paired");
                self.authenticated = true;
                Ok(ReplyBody::PairFinish(PairFinishReply {
                    token: WireSecret(token),
                }))
            }
            Ok(Err(e)) => {
                tracing::error!(%e, "cannot store the pairing");
                Err(err(
                    ErrorCode::PairingFailed,
                    format!("the bridge cannot store the pairing: {e}"),
                ))
            }
            Err(_) => Err(err(
                ErrorCode::PairingFailed,
                "the bridge failed to store the pairing",
            )),
        }
    }

    /// `open_envelope`: within the origin's budget, opens the envelope with the station key.
    /// The log names the origin (the connection's span), the job and the plaintext's size;
    /// never the ciphertext or the plaintext.
    async fn open_envelope(
        &mut self,
        enc: HexBytes,
        ciphertext: HexBytes,
        aad: HexBytes,
    ) -> Result<ReplyBody, ProtocolError> {
        if !self.app.station.admit(&self.origin, Instant::now()) {
            tracing::warn!("open_envelope refused: this page's budget for the minute is spent");
            return Err(err(
                ErrorCode::RateLimited,
                format!(
                    "this page asked to open more than {} password envelopes in a minute; wait a minute",
                    self.app.station.per_minute()
                ),
            ));
        }
        let app = Arc::clone(&self.app);
        let opened = tokio::task::spawn_blocking(move || {
            let job = Binding::from_aad(aad.expose())
                .map(|b| format!("{} (branch {})", b.job_id(), b.branch_id()));
            let plaintext = app
                .station
                .open(enc.expose(), ciphertext.expose(), aad.expose());
            (job, plaintext)
        })
        .await;
        match opened {
            Ok((Ok(job), Ok(plaintext))) => {
                tracing::info!(job = %job, bytes = plaintext.len(), "password envelope opened");
                Ok(ReplyBody::OpenEnvelope(OpenEnvelopeReply {
                    plaintext: HexBytes::new(plaintext.expose().to_vec()),
                }))
            }
            _ => {
                tracing::warn!("a password envelope did not open");
                Err(err(
                    ErrorCode::EnvelopeInvalid,
                    EnvelopeError::Invalid.to_string(),
                ))
            }
        }
    }

    async fn connect(&mut self, reader: String) -> Result<ReplyBody, ProtocolError> {
        if reader.len() > 512 {
            return Err(
                BackendError::UnknownReader(reader.chars().take(64).collect()).to_protocol(),
            );
        }
        if !self.app.sessions.reserve(&reader, self.id) {
            return Err(err(
                ErrorCode::Busy,
                "another client holds this reader; try again when it is done",
            ));
        }
        let backend = Arc::clone(&self.app.backend);
        let name = reader.clone();
        let opened = tokio::task::spawn_blocking(move || backend.connect(&name))
            .await
            .unwrap_or_else(|_| Err(BackendError::Service("the connect crashed".into())));
        let channel = match opened {
            Ok(channel) => channel,
            Err(e) => {
                self.app.sessions.release(&reader);
                return Err(e.to_protocol());
            }
        };
        let (atr, protocol) = (channel.atr(), channel.protocol());
        let session = self.app.sessions.insert(SessionEntry {
            reader: reader.clone(),
            conn: self.id,
            channel: Arc::new(Mutex::new(Some(channel))),
            events: self.events.clone(),
        });
        tracing::info!(session, reader = %reader, ?protocol, "session opened");
        Ok(ReplyBody::Connect(ConnectReply {
            session,
            atr: atr.into(),
            protocol,
        }))
    }

    async fn transmit(
        &mut self,
        session: SessionId,
        apdus: Vec<vsc_core::protocol::HexBytes>,
        expect: Vec<Option<vsc_core::protocol::SwPattern>>,
    ) -> Result<ReplyBody, ProtocolError> {
        if let Some(i) = apdus
            .iter()
            .position(|a| a.len() < 4 || a.len() > MAX_APDU_BYTES)
        {
            return Err(err(
                ErrorCode::BadRequest,
                format!(
                    "apdus[{i}] has {} bytes; a command APDU has 4 to {MAX_APDU_BYTES}",
                    apdus[i].len()
                ),
            ));
        }
        if expect.len() > apdus.len() {
            return Err(err(
                ErrorCode::BadRequest,
                "expect has more entries than apdus",
            ));
        }
        let (channel, reader) = self
            .app
            .sessions
            .get(session, self.id)
            .ok_or_else(|| unknown_session(session))?;
        let count = apdus.len();
        let started = Instant::now();
        // The batch's own log lines name the session and the reader; the span that gives the
        // per-APDU debug lines the same context is only made when they are logged (a span
        // costs a registry slot and its formatted fields on every request).
        let span = if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!("transmit", session, reader = %reader)
        } else {
            tracing::Span::none()
        };
        // The batch runs right here: this thread and its runtime serve this socket alone
        // (`server::upgrade_to_websocket`), which has nothing else to do until the reply is
        // sent. A panic in the backend is caught, as `spawn_blocking` would, so the socket's
        // cleanup (card reset) still runs.
        let ran = {
            let _entered = span.enter();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                lock(&channel)
                    .as_mut()
                    .map(|channel| channel.transmit_batch(&apdus, &expect))
            }))
        };
        let outcome = match ran {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                return Err(err(
                    ErrorCode::CardRemoved,
                    "the session ended: the card was removed",
                ))
            }
            Err(_) => return Err(err(ErrorCode::TransmitFailed, "the transmit crashed")),
        };
        match outcome {
            Ok(done) => {
                self.batch_done = Some(BatchDone {
                    span,
                    session,
                    reader,
                    apdus: count,
                    answered: done.responses.len(),
                    stopped_at: done.stopped_at,
                    last_sw: done
                        .responses
                        .last()
                        .and_then(|r| vsc_core::protocol::status_word(r.expose())),
                    elapsed: started.elapsed(),
                });
                Ok(ReplyBody::Transmit(TransmitReply {
                    responses: done.responses,
                    stopped_at: done
                        .stopped_at
                        .map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
                }))
            }
            Err(failure) => {
                span.in_scope(|| {
                    tracing::warn!(session, reader = %reader, apdus = count, completed = failure.completed, error = %failure.error, "batch failed")
                });
                let mut error = failure.error.to_protocol();
                error.message = format!(
                    "{} (after {} of {count} APDUs)",
                    error.message, failure.completed
                );
                if let BackendError::CardRemoved(_) = failure.error {
                    if let Some(entry) = self.app.sessions.take(session, Some(self.id)) {
                        self.app
                            .end_session(session, entry, "the card was removed mid-batch")
                            .await;
                    }
                }
                Err(error)
            }
        }
    }
}

fn unknown_session(session: SessionId) -> ProtocolError {
    err(
        ErrorCode::UnknownSession,
        format!("no session {session} on this connection; connect first"),
    )
}

fn pairing_error(e: PairingError) -> ProtocolError {
    match e {
        PairingError::RateLimited => err(ErrorCode::RateLimited, e.to_string()),
        other => err(ErrorCode::PairingFailed, other.to_string()),
    }
}

/// Writes the pairing code and a line break to `path` (atomically, owner-only).
fn write_code_file(
    path: &std::path::Path,
    code: &str,
) -> Result<(), crate::pairing_store::StoreError> {
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(code.len() + 1));
    line.extend_from_slice(code.as_bytes());
    line.push(b'\n');
    crate::pairing_store::write_private(path, &line)
}

/// Sends a close frame, then reads and discards what the client still sends (bounded), so the
/// client sees the close code rather than a reset connection.
async fn close_and_drain<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin + DrainInner,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ =
        tokio::time::timeout(Duration::from_secs(2), ws.send(Message::Close(Some(frame)))).await;
    let raw = ws.get_mut().raw();
    let drain = async {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        while total < 16 << 20 {
            match raw.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}
