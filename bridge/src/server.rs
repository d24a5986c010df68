//! The listening socket: reads each request head, applies the handshake checks (protocol
//! section "Listening"), and either answers (403, 404, 405, 503, a static file) or upgrades to
//! a WebSocket and hands over to `connection`, on a thread of the connection's own.

use crate::app::App;
use crate::http::{file_response, read_head, text_response, RequestHead, Rewind};
use crate::static_files::{answer, StaticAnswer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vsc_core::protocol::{ENDPOINT_PATH, MAX_MESSAGE_BYTES};

/// Initial size of a connection's WebSocket read buffer (see `upgrade_to_websocket`).
const READ_BUFFER_BYTES: usize = 4096;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many connections may be sending their request head at once.
const MAX_PENDING_HEADS: usize = 64;

/// Accepts connections forever.
pub async fn run(app: Arc<App>, listener: TcpListener) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HEADS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(%e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !peer.ip().is_loopback() {
            tracing::warn!(%peer, "refused a non-loopback peer");
            continue;
        }
        let Ok(slot) = Arc::clone(&pending).try_acquire_owned() else {
            tracing::warn!("too many connections sending their request head; dropping one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(handle(Arc::clone(&app), stream, slot));
    }
}

async fn reply(mut stream: TcpStream, response: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn handle(app: Arc<App>, mut stream: TcpStream, slot: tokio::sync::OwnedSemaphorePermit) {
    let (head, bytes) = match read_head(&mut stream, HEAD_TIMEOUT).await {
        Ok(read) => read,
        Err(e) => {
            tracing::debug!(%e, "no usable request head");
            reply(stream, text_response(400, "Bad Request", "bad request\n")).await;
            return;
        }
    };
    drop(slot);
    let host = head.single("host");
    if !app.policy.host_ok(host) {
        tracing::warn!(host = ?host, path = head.path(), "refused: Host is not this bridge on loopback");
        reply(
            stream,
            text_response(403, "Forbidden", "Host not allowed\n"),
        )
        .await;
        return;
    }
    let upgrade = head.has_token("upgrade", "websocket");
    if head.path() == ENDPOINT_PATH && upgrade {
        upgrade_to_websocket(app, stream, head, bytes).await;
    } else if let Some(dir) = app.config.serve_dir.clone() {
        let (method, path) = (head.method.clone(), head.path().to_owned());
        let head_only = method == "HEAD";
        let answered = tokio::task::spawn_blocking(move || answer(&dir, &method, &path)).await;
        let response = match answered {
            Ok(StaticAnswer::File { content_type, body }) => {
                file_response(content_type, &body, head_only)
            }
            Ok(StaticAnswer::MethodNotAllowed) => {
                text_response(405, "Method Not Allowed", "method not allowed\n")
            }
            _ => text_response(404, "Not Found", "not found\n"),
        };
        reply(stream, response).await;
    } else {
        reply(stream, text_response(404, "Not Found", "not found\n")).await;
    }
}

async fn upgrade_to_websocket(app: Arc<App>, stream: TcpStream, head: RequestHead, bytes: Vec<u8>) {
    let origin_header = head.single("origin");
    let Some(origin) = app.policy.origin_ok(origin_header).map(str::to_owned) else {
        tracing::warn!(origin = ?origin_header, "refused: Origin is not allowed");
        reply(
            stream,
            text_response(403, "Forbidden", "Origin not allowed\n"),
        )
        .await;
        return;
    };
    let Ok(permit) = Arc::clone(&app.sockets).try_acquire_owned() else {
        tracing::warn!(%origin, max = app.config.max_sockets, "refused: too many open sockets");
        reply(
            stream,
            text_response(
                503,
                "Service Unavailable",
                "too many connections to the bridge\n",
            ),
        )
        .await;
        return;
    };
    // Each WebSocket connection runs on a thread of its own, under a single-threaded runtime
    // that serves this socket and nothing else. Its requests are answered one at a time, so a
    // batch's blocking PC/SC calls can run right on that thread: the socket has nothing else to
    // do meanwhile (events wait in their channel until the reply is sent), and no other socket,
    // the listener or the reader watcher ever waits on it. No thread hand-off per request.
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(%e, %origin, "cannot move a connection to its own thread");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("vsc-conn".into())
        .spawn(move || serve_on_own_thread(app, stream, bytes, origin, permit));
    if let Err(e) = spawned {
        tracing::error!(%e, "cannot start a thread for a connection; it is closed");
    }
}

/// Completes the WebSocket handshake and serves the connection on the calling thread, under a
/// runtime that serves nothing else (see `upgrade_to_websocket`).
fn serve_on_own_thread(
    app: Arc<App>,
    mut stream: std::net::TcpStream,
    head_bytes: Vec<u8>,
    origin: String,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(%e, %origin, "cannot start a runtime for a connection");
            let busy = "the bridge cannot take another connection now; try again\n";
            let response = text_response(503, "Service Unavailable", busy);
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_write_timeout(Some(HEAD_TIMEOUT));
            let _ = std::io::Write::write_all(&mut stream, &response);
            return;
        }
    };
    runtime.block_on(async move {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(%e, %origin, "cannot register the connection's socket");
                return;
            }
        };
        // tungstenite zero-fills up to the read buffer size before every read (`read_in`):
        // with the 128 KiB default that was a 128 KiB memset per request. Requests are small;
        // a batch frame still grows the buffer to its own size.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let upgraded = tokio::time::timeout(
            HEAD_TIMEOUT,
            tokio_tungstenite::accept_async_with_config(
                Rewind::new(head_bytes, stream),
                Some(config),
            ),
        )
        .await;
        match upgraded {
            Ok(Ok(ws)) => crate::connection::serve(app, ws, origin, permit).await,
            Ok(Err(e)) => tracing::info!(%e, %origin, "WebSocket handshake failed"),
            Err(_) => tracing::info!(%origin, "WebSocket handshake timed out"),
        }
    });
}
