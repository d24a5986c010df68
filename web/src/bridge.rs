//! The page's connection to the bridge: a web-sys WebSocket speaking bridge protocol v1
//! (`docs/bridge-protocol.md`) with the wire types of [`vsc_core::protocol`].
//!
//! Requests carry an id; replies are matched to them and awaited as promises, each with a
//! timeout. Events (`readers_changed`, `card_removed`) go to callbacks the page registers.
//! When the socket cannot be opened, the bridge's HTTP side is probed to tell "nothing
//! listens" ([`Code::BridgeNotRunning`]) from "the bridge refused this page"
//! ([`Code::BridgeRefused`]): browsers hide the HTTP status of a refused WebSocket handshake.
//!
//! [`Connection::personalize`] drives [`Personalization`]: one `transmit` per batch, with
//! `expect`, until the engine is done; a failed or missing reply is reported to the engine as
//! a transport failure, so the card is never called personalized unless the read-back
//! matched.
//!
//! Secrets: request and reply frames are text, so APDUs (which may carry the card password or
//! the new PIN) pass through JavaScript strings the page cannot wipe; the Rust copies are
//! zeroized. What this module does not do: decide anything about cards (the engine does).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use rand_core::OsRng;
use vsc_core::envelope::{Binding, Envelope};
use vsc_core::perso::{NewPinQuestion, Personalization};
use vsc_core::protocol::{
    ConnectReply, Event, HelloReply, HexBytes, Op, ReaderInfo, ReplyBody, ReplyKind, Request,
    RequestId, ServerMessage, SessionId, StationKeyReply, WireSecret, PROTOCOL_VERSION,
};
use vsc_core::secret::SecretBytes;
use vsc_core::vsc::Vsc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, RequestInit, RequestMode, WebSocket};
use zeroize::Zeroizing;

use crate::error::{Code, WebError};
use crate::perso_driver::{self, Mailer, ProgressReport, Tracker};

/// How long a request other than `transmit` may wait for its reply.
const REQUEST_TIMEOUT_MS: i32 = 15_000;
/// How long one `transmit` batch may take (a slow reader writing a few KiB).
const TRANSMIT_TIMEOUT_MS: i32 = 60_000;

type Handler = Closure<dyn FnMut(JsValue)>;

/// An open connection to the bridge.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<Inner>,
}

/// A request awaiting its reply.
struct Waiter {
    /// Resolves the request's promise.
    resolve: Function,
    /// The shape its reply is read as.
    kind: ReplyKind,
    /// Its op's name, for messages.
    op: &'static str,
}

struct Inner {
    url: String,
    ws: WebSocket,
    next_id: Cell<RequestId>,
    /// The requests awaiting a reply, by request id.
    waiters: RefCell<HashMap<RequestId, Waiter>>,
    /// Replies (or failures) not yet taken by their request.
    outcomes: RefCell<HashMap<RequestId, Result<ReplyBody, WebError>>>,
    /// Why the connection is closed, once it is.
    closed: RefCell<Option<WebError>>,
    on_readers: RefCell<Option<Function>>,
    on_close: RefCell<Option<Function>>,
    handlers: RefCell<Vec<Handler>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

impl Connection {
    /// Opens a WebSocket to `url` (`ws://127.0.0.1:35900/v1`).
    pub async fn open(url: &str) -> Result<Connection, WebError> {
        let url = url.trim();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(bad_address(url));
        }
        let ws = WebSocket::new(url).map_err(|_| bad_address(url))?;
        let opened = Rc::new(Cell::new(false));
        let mut pending: Vec<Handler> = Vec::new();
        let ready = Promise::new(&mut |resolve: Function, _reject: Function| {
            let on_open = {
                let (resolve, opened) = (resolve.clone(), opened.clone());
                Closure::<dyn FnMut(JsValue)>::new(move |_| {
                    opened.set(true);
                    let _ = resolve.call0(&JsValue::NULL);
                })
            };
            let on_fail = Closure::<dyn FnMut(JsValue)>::new(move |_| {
                let _ = resolve.call0(&JsValue::NULL);
            });
            ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            ws.set_onerror(Some(on_fail.as_ref().unchecked_ref()));
            ws.set_onclose(Some(on_fail.as_ref().unchecked_ref()));
            pending.push(on_open);
            pending.push(on_fail);
        });
        let _ = JsFuture::from(ready).await;
        ws.set_onopen(None);
        ws.set_onerror(None);
        ws.set_onclose(None);
        drop(pending);
        if !opened.get() {
            let _ = ws.close();
            return Err(diagnose_failed_open(url).await);
        }
        let inner = Rc::new(Inner {
            url: url.to_owned(),
            ws,
            next_id: Cell::new(1),
            waiters: RefCell::default(),
            outcomes: RefCell::default(),
            closed: RefCell::default(),
            on_readers: RefCell::default(),
            on_close: RefCell::default(),
            handlers: RefCell::default(),
        });
        Inner::listen(&inner);
        Ok(Connection { inner })
    }

    /// The address this connection was opened with.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Registers the function called with the reader list on every `readers_changed` event.
    pub fn on_readers_changed(&self, callback: Option<Function>) {
        *self.inner.on_readers.borrow_mut() = callback;
    }

    /// Registers the function called (with an `Error` carrying `code`) when the socket closes.
    pub fn on_close(&self, callback: Option<Function>) {
        *self.inner.on_close.borrow_mut() = callback;
    }

    /// Whether the socket is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    /// Closes the socket; pending requests fail with [`Code::BridgeClosed`].
    pub fn close(&self) {
        let _ = self.inner.ws.close();
    }

    /// `hello`: opens the conversation, presenting `token` from an earlier pairing.
    pub async fn hello(&self, token: Option<&str>) -> Result<HelloReply, WebError> {
        let op = Op::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.filter(|t| !t.is_empty()).map(WireSecret::new),
        };
        match self.inner.request(op, REQUEST_TIMEOUT_MS).await? {
            ReplyBody::Hello(reply) => Ok(reply),
            other => Err(unexpected("hello", &other)),
        }
    }

    /// `pair_begin`: asks the bridge to show a pairing code to its operator.
    pub async fn pair_begin(&self) -> Result<(), WebError> {
        self.inner
            .request(Op::PairBegin {}, REQUEST_TIMEOUT_MS)
            .await
            .map(|_| ())
    }

    /// `pair_finish`: trades the code the clerk typed for a token.
    pub async fn pair_finish(&self, code: &str) -> Result<WireSecret, WebError> {
        let op = Op::PairFinish {
            code: WireSecret::new(code.trim()),
        };
        match self.inner.request(op, REQUEST_TIMEOUT_MS).await? {
            ReplyBody::PairFinish(reply) => Ok(reply.token),
            other => Err(unexpected("pair_finish", &other)),
        }
    }

    /// `readers`: the readers and whether each holds a card.
    pub async fn readers(&self) -> Result<Vec<ReaderInfo>, WebError> {
        match self
            .inner
            .request(Op::Readers {}, REQUEST_TIMEOUT_MS)
            .await?
        {
            ReplyBody::Readers(reply) => Ok(reply.readers),
            other => Err(unexpected("readers", &other)),
        }
    }

    /// `station_key`: the bridge's station public key and its fingerprint.
    pub async fn station_key(&self) -> Result<StationKeyReply, WebError> {
        match self
            .inner
            .request(Op::StationKey {}, REQUEST_TIMEOUT_MS)
            .await?
        {
            ReplyBody::StationKey(reply) => Ok(reply),
            other => Err(unexpected("station_key", &other)),
        }
    }

    /// `open_envelope`: the bridge opens `envelope` bound to `binding` with its station key;
    /// the password's bytes, wiped on drop.
    pub async fn open_envelope(
        &self,
        envelope: &Envelope,
        binding: &Binding,
    ) -> Result<SecretBytes, WebError> {
        let op = Op::OpenEnvelope {
            enc: HexBytes::from(&envelope.enc[..]),
            ciphertext: HexBytes::from(envelope.ciphertext.as_slice()),
            aad: HexBytes::new(binding.to_aad()),
        };
        match self.inner.request(op, REQUEST_TIMEOUT_MS).await? {
            ReplyBody::OpenEnvelope(reply) => Ok(SecretBytes::from_slice(reply.plaintext.expose())),
            other => Err(unexpected("open_envelope", &other)),
        }
    }

    /// `connect`: a session with the card in `reader`, for [`Connection::personalize`]
    /// (or [`Connection::disconnect`]), and the card's ATR as the bridge read it.
    pub async fn connect_card(&self, reader: &str) -> Result<ConnectReply, WebError> {
        let op = Op::Connect {
            reader: reader.to_owned(),
        };
        match self.inner.request(op, REQUEST_TIMEOUT_MS).await? {
            ReplyBody::Connect(reply) => Ok(reply),
            other => Err(unexpected("connect", &other)),
        }
    }

    /// `disconnect` of a card session (the bridge resets the card); a failure changes
    /// nothing and is ignored, as is a closed connection.
    pub async fn disconnect(&self, session: SessionId) {
        if !self.is_closed() {
            let _ = self
                .inner
                .request(Op::Disconnect { session }, REQUEST_TIMEOUT_MS)
                .await;
        }
    }

    /// Personalizes the card of `session` (from [`Connection::connect_card`]) from `vsc`: one
    /// `transmit` per batch of the engine, then `disconnect`. Calls `on_progress` with a
    /// [`ProgressReport`] after each batch, and `confirm` with the engine's question when the
    /// card already holds this VSC (`true`: set a new PIN). The VSC (and its secrets) is
    /// dropped, and wiped, when the run ends.
    pub async fn personalize<Answer: std::future::Future<Output = bool>>(
        &self,
        vsc: Vsc,
        session: SessionId,
        on_progress: &dyn Fn(&ProgressReport),
        confirm: &dyn Fn(NewPinQuestion) -> Answer,
    ) -> Result<Mailer, WebError> {
        let mut engine = Personalization::new(vsc, &mut OsRng);
        let mut tracker = Tracker::new();
        on_progress(&tracker.progress(&engine));
        loop {
            while let Some(batch) = engine.next_batch() {
                let sent = batch.len();
                let op = perso_driver::transmit_op(session, batch);
                match self.inner.request(op, TRANSMIT_TIMEOUT_MS).await {
                    Ok(ReplyBody::Transmit(reply)) => match perso_driver::responses(reply, sent) {
                        Ok(responses) => engine.receive(responses),
                        Err(error) => engine.transport_failed(error),
                    },
                    Ok(other) => {
                        tracker.transport_failed(&mut engine, unexpected("transmit", &other))
                    }
                    Err(error) => tracker.transport_failed(&mut engine, error),
                }
                on_progress(&tracker.progress(&engine));
            }
            match engine.question() {
                Some(question) => {
                    let yes = confirm(question).await;
                    engine.answer(yes);
                }
                None => break,
            }
        }
        self.disconnect(session).await;
        engine
            .finish()
            .map(Mailer::from)
            .map_err(|e| tracker.error(e))
    }
}

impl Inner {
    /// Installs the message and close handlers. They hold weak references, so dropping the
    /// last [`Connection`] closes the socket.
    fn listen(this: &Rc<Inner>) {
        let weak = Rc::downgrade(this);
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            if let (Some(inner), Ok(event)) = (weak.upgrade(), event.dyn_into::<MessageEvent>()) {
                if let Some(text) = event.data().as_string() {
                    inner.receive(&Zeroizing::new(text));
                }
            }
        });
        let weak: Weak<Inner> = Rc::downgrade(this);
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Some(inner) = weak.upgrade() {
                inner.closed_by_peer();
            }
        });
        this.ws
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        this.ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        this.handlers.borrow_mut().extend([on_message, on_close]);
    }

    fn receive(&self, text: &str) {
        let kind_of = |id| self.waiters.borrow().get(&id).map(|waiter| waiter.kind);
        match ServerMessage::parse(text, kind_of) {
            Ok(ServerMessage::Reply(reply)) => {
                let Some(id) = reply.id else {
                    return;
                };
                let outcome = reply
                    .result
                    .map_err(|e| perso_driver::bridge_error(e.code.as_str(), &e.message));
                self.settle(id, outcome);
            }
            Ok(ServerMessage::Event(Event::ReadersChanged { readers })) => {
                let callback = self.on_readers.borrow().clone();
                if let Some(callback) = callback {
                    let _ = callback.call1(&JsValue::NULL, &crate::js::readers(&readers));
                }
            }
            // The transmit in flight fails with `card_removed`; nothing else to do.
            Ok(ServerMessage::Event(Event::CardRemoved { .. })) => {}
            // A reply whose fields are not what its request expects fails that request now
            // (the parser's words are left out: they may quote a field's value); a frame this
            // page cannot read at all, or a reply to a request that timed out, is dropped.
            Err(bad) => {
                if let Some(id) = bad.reply_to() {
                    let op = self
                        .waiters
                        .borrow()
                        .get(&id)
                        .map_or("?", |waiter| waiter.op);
                    let error = WebError::new(
                        Code::BadBridgeReply,
                        format!(
                            "the bridge answered \"{op}\" with a reply this page cannot read; the bridge and this page are from different releases"
                        ),
                    );
                    self.settle(id, Err(error));
                }
            }
        }
    }

    fn settle(&self, id: RequestId, outcome: Result<ReplyBody, WebError>) {
        let waiter = self.waiters.borrow_mut().remove(&id);
        if let Some(Waiter { resolve, .. }) = waiter {
            self.outcomes.borrow_mut().insert(id, outcome);
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    fn closed_by_peer(&self) {
        let error = WebError::new(
            Code::BridgeClosed,
            format!(
                "the connection to the bridge at {} closed (the bridge was stopped or restarted, or it dropped an idle page); start it if needed and press Connect again",
                self.url
            ),
        );
        *self.closed.borrow_mut() = Some(error.clone());
        let ids: Vec<RequestId> = self.waiters.borrow().keys().copied().collect();
        for id in ids {
            self.settle(id, Err(error.clone()));
        }
        let callback = self.on_close.borrow().clone();
        if let Some(callback) = callback {
            let _ = callback.call1(&JsValue::NULL, &error.to_js());
        }
    }

    async fn request(self: &Rc<Self>, op: Op, timeout_ms: i32) -> Result<ReplyBody, WebError> {
        if let Some(error) = self.closed.borrow().clone() {
            return Err(error);
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        let name = op.name();
        let kind = op.reply_kind();
        let frame = Request { id, op }.to_json_zeroizing();
        let reply = Promise::new(&mut |resolve: Function, _reject: Function| {
            self.waiters.borrow_mut().insert(
                id,
                Waiter {
                    resolve,
                    kind,
                    op: name,
                },
            );
        });
        let weak = Rc::downgrade(self);
        let on_timeout = Closure::once(move || {
            if let Some(inner) = weak.upgrade() {
                let error = WebError::new(
                    Code::BridgeTimeout,
                    format!(
                        "the bridge did not answer \"{name}\" within {} s; check that it is still running, then press Connect again",
                        timeout_ms / 1000
                    ),
                );
                inner.settle(id, Err(error));
            }
        });
        let window = web_sys::window();
        let timer = window.as_ref().and_then(|w| {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(
                on_timeout.as_ref().unchecked_ref(),
                timeout_ms,
            )
            .ok()
        });
        if self.ws.send_with_str(&frame).is_err() {
            self.waiters.borrow_mut().remove(&id);
            return Err(WebError::new(
                Code::BridgeClosed,
                "the connection to the bridge is closed; press Connect again",
            ));
        }
        drop(frame);
        let _ = JsFuture::from(reply).await;
        if let (Some(window), Some(timer)) = (window, timer) {
            window.clear_timeout_with_handle(timer);
        }
        drop(on_timeout);
        self.outcomes.borrow_mut().remove(&id).unwrap_or_else(|| {
            Err(WebError::new(
                Code::Internal,
                "a bridge reply went missing (a bug in this page); reload it",
            ))
        })
    }
}

fn bad_address(url: &str) -> WebError {
    WebError::new(
        Code::BadAddress,
        format!("\"{url}\" is not a bridge address; write it like ws://127.0.0.1:35900/v1"),
    )
}

fn unexpected(op: &str, body: &ReplyBody) -> WebError {
    WebError::new(
        Code::BadBridgeReply,
        format!(
            "the bridge answered \"{op}\" with an unexpected reply ({}); the bridge and this page are from different releases",
            match body {
                ReplyBody::Hello(_) => "hello",
                ReplyBody::Connect(_) => "connect",
                ReplyBody::Transmit(_) => "transmit",
                ReplyBody::Readers(_) => "readers",
                ReplyBody::PairFinish(_) => "pair_finish",
                ReplyBody::StationKey(_) => "station_key",
                ReplyBody::OpenEnvelope(_) => "open_envelope",
                ReplyBody::Empty {} => "empty",
            }
        ),
    )
}

/// The plain HTTP form of a `ws://host:port/path` address, for probing the bridge. A plain GET
/// of the WebSocket path gets a short error answer from the bridge (protocol, "Listening"),
/// which, unlike its static files, carries no `Cross-Origin-Resource-Policy`, so a `no-cors`
/// fetch from any origin completes.
pub fn http_probe_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}/{path}"))
}

/// Tells why the WebSocket did not open: a fetch that reaches the bridge's HTTP side means it
/// runs and refused the handshake (origin or host not allowed); a failed fetch, that nothing
/// listens there (or that it answered in a way the browser hides: then the advice to start
/// the bridge is still the first thing to check).
async fn diagnose_failed_open(url: &str) -> WebError {
    let page_origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_else(|| "this page".into());
    let reachable = match (web_sys::window(), http_probe_url(url)) {
        (Some(window), Some(http)) => {
            let init = RequestInit::new();
            init.set_mode(RequestMode::NoCors);
            JsFuture::from(window.fetch_with_str_and_init(&http, &init))
                .await
                .is_ok()
        }
        _ => false,
    };
    if reachable {
        WebError::new(
            Code::BridgeRefused,
            format!(
                "the bridge at {url} is running but refused this page ({page_origin}): it only accepts pages it was told to trust. Open the page the bridge serves itself (http://127.0.0.1:35900/), or ask the PC's administrator to start it with --allow-origin {page_origin}"
            ),
        )
    } else {
        WebError::new(
            Code::BridgeNotRunning,
            format!(
                "nothing answers at {url}: the bridge is not running on this PC (or listens on another address). Start vsc-bridge (or scripts/run), check the Bridge address, then press Connect again"
            ),
        )
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn the_probe_follows_the_websocket_address() {
        assert_eq!(
            http_probe_url("ws://127.0.0.1:35900/v1").as_deref(),
            Some("http://127.0.0.1:35900/v1")
        );
        assert_eq!(
            http_probe_url("wss://[::1]:4000/v1").as_deref(),
            Some("https://[::1]:4000/v1")
        );
        assert_eq!(
            http_probe_url("ws://127.0.0.1:4000").as_deref(),
            Some("http://127.0.0.1:4000/")
        );
        assert_eq!(http_probe_url("http://x/"), None);
        assert_eq!(http_probe_url("ws:///v1"), None);
    }
}
