//! Parsing a frame from the bridge, as the page does (`ServerMessage::parse`): what parses
//! writes back as JSON that parses to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::protocol::ServerMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = ServerMessage::parse(text) else {
        return;
    };
    let json = match &message {
        ServerMessage::Reply(reply) => reply.to_json(),
        ServerMessage::Event(event) => event.to_json(),
    };
    let again = ServerMessage::parse(&json).expect("a message's JSON parses");
    assert_eq!(again, message);
});
