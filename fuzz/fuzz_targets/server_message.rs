//! Parsing a frame from the bridge, as the page does (`ServerMessage::parse`, the reply read as
//! the shape its request expects: the first byte picks it): what parses writes back as JSON that
//! parses to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::protocol::{ReplyKind, ServerMessage};

const KINDS: [ReplyKind; 8] = [
    ReplyKind::Hello,
    ReplyKind::Connect,
    ReplyKind::Transmit,
    ReplyKind::Readers,
    ReplyKind::PairFinish,
    ReplyKind::StationKey,
    ReplyKind::OpenEnvelope,
    ReplyKind::Empty,
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, frame)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(*pick) % KINDS.len()];
    let Ok(text) = std::str::from_utf8(frame) else {
        return;
    };
    let Ok(message) = ServerMessage::parse(text, |_| Some(kind)) else {
        return;
    };
    let json = match &message {
        ServerMessage::Reply(reply) => reply.to_json(),
        ServerMessage::Event(event) => event.to_json(),
    };
    let again = ServerMessage::parse(&json, |_| Some(kind)).expect("a message's JSON parses");
    assert_eq!(again, message);
});
