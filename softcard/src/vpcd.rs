//! The vpcd protocol of vsmartcard's pcscd driver, card side: the virtual card is a TCP client
//! of the driver; every message is a 2-byte big-endian length followed by the payload. A
//! 1-byte payload is a control message (0 power off, 1 power on, 2 reset, 4 get ATR); a longer
//! payload is a C-APDU, answered with the R-APDU.
//!
//! Latency matters: with Nagle's algorithm and delayed ACKs an APDU costs about 48 ms, so the
//! connection sets `TCP_NODELAY`, re-arms `TCP_QUICKACK` after every read (Linux clears it),
//! and sends each framed message with a single write.
//!
//! This module moves bytes only; what a message does to the card is the caller's business.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

/// One message from the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Control `0`: the reader powers the card off.
    PowerOff,
    /// Control `1`: the reader powers the card on.
    PowerOn,
    /// Control `2`: warm reset.
    Reset,
    /// Control `4`: the driver asks for the ATR.
    GetAtr,
    /// Any other 1-byte (or empty) payload: ignored by the card.
    UnknownControl(Vec<u8>),
    /// A C-APDU.
    Apdu(Vec<u8>),
}

impl Message {
    fn from_payload(payload: Vec<u8>) -> Message {
        match payload.as_slice() {
            [0] => Message::PowerOff,
            [1] => Message::PowerOn,
            [2] => Message::Reset,
            [4] => Message::GetAtr,
            [] | [_] => Message::UnknownControl(payload),
            _ => Message::Apdu(payload),
        }
    }
}

/// Frames a payload: 2-byte big-endian length, then the payload, in one buffer.
/// Payloads above 65535 bytes cannot be framed and are truncated to that length.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + usize::from(len));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload.get(..usize::from(len)).unwrap_or(payload));
    out
}

/// No connection to the vpcd driver could be made in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot connect to the vpcd driver at {address} within {waited:?} (last error: {last}); \
     is pcscd running with vsmartcard-vpcd (`pcscd -f`), and is the port right \
     (35963 for reader \"Virtual PCD 00 00\", 35964 for \"Virtual PCD 00 01\")?"
)]
pub struct ConnectError {
    /// The address tried.
    pub address: String,
    /// How long the attempts went on.
    pub waited: Duration,
    /// The last error seen.
    pub last: io::Error,
}

/// A connection to the vpcd driver.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    /// Connects to `address` (`HOST:PORT`), retrying every `interval` until `timeout`.
    pub fn connect(
        address: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        let start = Instant::now();
        loop {
            let last = match try_connect(address) {
                Ok(stream) => match Connection::new(stream) {
                    Ok(connection) => return Ok(connection),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(ConnectError {
                    address: address.to_owned(),
                    waited,
                    last,
                });
            }
            thread::sleep(interval.min(timeout - waited));
        }
    }

    /// Wraps a connected stream, setting `TCP_NODELAY` and `TCP_QUICKACK`.
    pub fn new(stream: TcpStream) -> io::Result<Connection> {
        stream.set_nodelay(true)?;
        let connection = Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        };
        connection.rearm_quickack()?;
        Ok(connection)
    }

    /// The driver's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn rearm_quickack(&self) -> io::Result<()> {
        socket2::SockRef::from(&self.stream).set_quickack(true)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn rearm_quickack(&self) -> io::Result<()> {
        Ok(())
    }

    /// The next message; `Ok(None)` when the driver closed the connection.
    pub fn receive(&mut self) -> io::Result<Option<Message>> {
        loop {
            if let Some(payload) = self.take_frame() {
                return Ok(Some(Message::from_payload(payload)));
            }
            let mut chunk = [0u8; 4096];
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // Linux turns quick ACK mode off after a while; re-arm it after every read.
            self.rearm_quickack()?;
            if n == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the vpcd driver closed the connection in the middle of a message",
                    ))
                };
            }
            self.buffer
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    fn take_frame(&mut self) -> Option<Vec<u8>> {
        let &[hi, lo, ..] = self.buffer.as_slice() else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let payload = self.buffer.get(2..2 + len)?.to_vec();
        self.buffer.drain(..2 + len);
        Some(payload)
    }

    /// Sends one framed message with a single write.
    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        self.stream.write_all(&frame(payload))
    }
}

fn try_connect(address: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("{address} resolves to no address"),
    );
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::{frame, Connection, Message};
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    #[test]
    fn frames_and_messages() {
        assert_eq!(frame(&[4]), [0, 1, 4]);
        assert_eq!(frame(&[0x90, 0x00]), [0, 2, 0x90, 0x00]);
        assert_eq!(Message::from_payload(vec![0]), Message::PowerOff);
        assert_eq!(Message::from_payload(vec![1]), Message::PowerOn);
        assert_eq!(Message::from_payload(vec![2]), Message::Reset);
        assert_eq!(Message::from_payload(vec![4]), Message::GetAtr);
        assert_eq!(
            Message::from_payload(vec![9]),
            Message::UnknownControl(vec![9])
        );
        assert_eq!(
            Message::from_payload(vec![0, 0xA4]),
            Message::Apdu(vec![0, 0xA4])
        );
    }

    #[test]
    fn reads_split_and_coalesced_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let (mut driver, _) = listener.accept().unwrap();
            // Two messages in one write, then one message split across writes.
            driver.write_all(&[0, 1, 1, 0, 1, 4]).unwrap();
            driver.write_all(&[0, 4, 0, 0xA4]).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            driver.write_all(&[0, 0]).unwrap();
        });
        let stream = TcpStream::connect(addr).unwrap();
        let mut connection = Connection::new(stream).unwrap();
        assert_eq!(connection.receive().unwrap(), Some(Message::PowerOn));
        assert_eq!(connection.receive().unwrap(), Some(Message::GetAtr));
        assert_eq!(
            connection.receive().unwrap(),
            Some(Message::Apdu(vec![0, 0xA4, 0, 0]))
        );
        writer.join().unwrap();
        assert_eq!(connection.receive().unwrap(), None);
    }

    #[test]
    fn connect_gives_up_with_a_clear_message() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = Connection::connect(
            &addr.to_string(),
            Duration::from_millis(20),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(err.to_string().contains("pcscd"), "{err}");
    }
}
