//! The bit of HTTP/1.1 the bridge speaks before a WebSocket upgrade (RFC 9112 request head,
//! RFC 6455 §4.2.1 opening handshake): read one request head, then either answer it (403, 404,
//! 503, a static file) or hand the connection, head included, to the WebSocket library.
//!
//! It does not keep connections alive, parse bodies, or handle chunked encoding: every answer
//! closes the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Largest request head accepted (bytes).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Header names (lower-case) and values, in order.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The value of the header `name` (lower-case) when it appears exactly once.
    pub fn single(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let first = values.next()?;
        values.next().is_none().then_some(first.1.as_str())
    }

    /// Whether the header `name` holds `token` in its comma-separated list (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }
}

/// Why a request head could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The client sent nothing usable in time.
    #[error("the client sent no complete request head within {0:?}")]
    Timeout(Duration),
    /// The head is larger than [`MAX_HEAD_BYTES`].
    #[error("the request head is larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    /// The bytes are not an HTTP/1.1 request.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// The socket failed or closed.
    #[error("socket error while reading the request: {0}")]
    Io(#[from] io::Error),
}

/// Reads one request head from `stream`; returns it and every byte read (the head and anything
/// after it), which must be replayed to whoever reads the stream next.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buffer = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(HeadError::Malformed(
                    "connection closed before the head ended".into(),
                ));
            }
            buffer.extend_from_slice(&chunk[..n]);
            if buffer.len() > MAX_HEAD_BYTES {
                return Err(HeadError::TooLarge);
            }
            if let Some(head) = parse_head(&buffer)? {
                return Ok(head);
            }
        }
    };
    let head = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| HeadError::Timeout(timeout))??;
    Ok((head, buffer))
}

/// Parses a complete head, `None` if more bytes are needed.
fn parse_head(bytes: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(_)) => {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            Ok(Some(RequestHead {
                method: request.method.unwrap_or("").to_owned(),
                target: request.path.unwrap_or("").to_owned(),
                headers: request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), text(h.value).trim().to_owned()))
                    .collect(),
            }))
        }
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

/// A complete response with a short text body, closing the connection.
pub fn text_response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// A `200 OK` response carrying a file (no body for `HEAD`).
pub fn file_response(content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// A stream that first replays bytes already read, then reads from the inner stream; writes go
/// straight to the inner stream. Lets the WebSocket library re-read the head we peeked at.
pub struct Rewind<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Rewind<S> {
    /// Replays `prefix` before reading `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            pos: 0,
            inner,
        }
    }

    /// The inner stream.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_a_head_and_keeps_the_bytes() {
        let raw = b"GET /v1?x=1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: a\r\nOrigin: b\r\nConnection: keep-alive, Upgrade\r\n\r\nrest";
        let mut stream = &raw[..];
        let (head, bytes) = read_head(&mut stream, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path(), "/v1");
        assert_eq!(head.single("host"), Some("127.0.0.1:1"));
        assert_eq!(
            head.single("origin"),
            None,
            "two Origin headers count as none"
        );
        assert!(head.has_token("connection", "upgrade"));
        assert_eq!(bytes, raw);

        let mut rewound = Rewind::new(bytes, &b""[..]);
        let mut all = Vec::new();
        rewound.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, raw);
    }

    #[tokio::test]
    async fn refuses_garbage_and_oversized_heads() {
        let mut garbage = &b"\x16\x03\x01\x02\x00\x01\r\n\r\n"[..];
        assert!(matches!(
            read_head(&mut garbage, Duration::from_secs(1)).await,
            Err(HeadError::Malformed(_))
        ));
        let mut big = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n",
            "a".repeat(MAX_HEAD_BYTES + 10)
        );
        big.push_str("\r\n");
        let mut big = big.as_bytes();
        assert!(read_head(&mut big, Duration::from_secs(1)).await.is_err());
    }
}
