//! The bridge under abuse from local programs (which can fake any `Origin`): all but one of
//! the WebSocket connections it allows taken by clients that send maximum-size frames without
//! ever reading a reply or that stop after the handshake, and dozens of request heads left
//! half-sent. Meanwhile a well-behaved page on the last connection personalizes a card on the
//! simulated reader; the limits hold (503 past the connections, the 1 MiB frame limit); the
//! bridge's memory stays bounded and its descriptors return to where they were (printed).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rand_core::OsRng;
use serde_json::json;
use vsc_core::holder;
use vsc_core::perso::Personalization;
use vsc_core::profile::Profile;
use vsc_core::protocol::MAX_MESSAGE_BYTES;
use vsc_core::vsc::Vsc;

/// The bridge's default `--max-connections`.
const MAX_CONNECTIONS: usize = 8;
/// Clients that flood the bridge with maximum-size frames and never read.
const FLOODERS: usize = 5;
/// Clients that complete the handshake and then neither send nor read.
const SILENT: usize = MAX_CONNECTIONS - 1 - FLOODERS;
/// Request heads left half-sent (the bridge waits for at most 64 at once, 10 s each).
const HALF_OPEN: usize = 60;
/// Frames each flooder sends at most.
const FRAMES_EACH: usize = 40;
/// How much the bridge's resident memory may grow under the abuse, in KiB: a few frames of
/// 1 MiB per connection in flight.
const RSS_BOUND_KIB: u64 = 64 * 1024;

/// A request of exactly `MAX_MESSAGE_BYTES` bytes: `transmit` of long APDUs on a session that
/// does not exist (every APDU is decoded before the session is looked up), or `readers`
/// padded with an unknown field.
fn max_frame(id: usize) -> String {
    let mut frame = if id % 2 == 0 {
        let apdu = format!("\"00D60000{}\"", "AB".repeat(60_000));
        let apdus = vec![apdu; 8].join(",");
        format!("{{\"id\":{id},\"op\":\"transmit\",\"session\":999,\"apdus\":[{apdus}],\"pad\":\"")
    } else {
        format!("{{\"id\":{id},\"op\":\"readers\",\"pad\":\"")
    };
    let fill = MAX_MESSAGE_BYTES - frame.len() - 2;
    frame.push_str(&"a".repeat(fill));
    frame.push_str("\"}");
    assert_eq!(frame.len(), MAX_MESSAGE_BYTES);
    frame
}

fn build_vsc() -> Vsc {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let mut values = BTreeMap::new();
    values.insert("holder_name".to_owned(), "Patient Page".to_owned());
    values.insert("holder_id".to_owned(), "A-1".to_owned());
    values.insert("address".to_owned(), "1 Calm Street, ".repeat(10));
    let holder = holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
    Vsc::build(&profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng)
        .unwrap()
        .0
}

#[test]
fn a_well_behaved_page_is_served_while_every_other_socket_abuses_the_bridge() {
    let bridge = Bridge::start_logging("warn", &["--sim", "--trust-origin", ORIGIN]);
    let pid = bridge.child.pid();
    // Warm up: one page served from start to end, as the one below will be.
    {
        let mut client = bridge.connect();
        client.ok("hello", json!({"protocol": 1}));
        client.ok("readers", json!({}));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (rss_before, fds_before) = rss_and_fds(pid);

    let stop = AtomicBool::new(false);
    let frames_sent = AtomicUsize::new(0);
    let peak_rss = AtomicUsize::new(0);
    let (served_in, over_limit_status) = std::thread::scope(|scope| {
        // Half-sent request heads.
        let mut heads = Vec::new();
        for _ in 0..HALF_OPEN {
            let mut stream = TcpStream::connect(("127.0.0.1", bridge.port)).unwrap();
            let _ = stream.write_all(b"GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr");
            heads.push(stream);
        }
        // Silent WebSocket clients: the handshake, then nothing.
        let silent: Vec<Client> = (0..SILENT).map(|_| bridge.connect()).collect();
        // Flooders: maximum-size frames, never a read, until the bridge stops taking them.
        let flooders: Vec<_> = (0..FLOODERS)
            .map(|n| {
                let mut client = bridge.connect();
                let (stop, sent) = (&stop, &frames_sent);
                scope.spawn(move || {
                    client
                        .ws
                        .get_mut()
                        .set_write_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    for i in 0..FRAMES_EACH {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let frame = max_frame(n * FRAMES_EACH + i);
                        if client.ws.send(tungstenite::Message::text(frame)).is_err() {
                            break; // the bridge stopped reading: its replies are not read
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // Hold the connection until the page is done.
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    drop(client);
                })
            })
            .collect();
        // The bridge's memory while all that goes on.
        let sampler = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let (rss, _) = rss_and_fds(pid);
                peak_rss.fetch_max(rss as usize, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        std::thread::sleep(Duration::from_millis(500));

        // The well-behaved page, on the last connection.
        let started = Instant::now();
        let mut page = bridge.connect();
        assert_eq!(page.ok("hello", json!({"protocol": 1}))["paired"], true);
        let readers = page.ok("readers", json!({}));
        assert_eq!(readers["readers"][0]["name"], SIM_READER, "{readers}");
        let session = page.ok("connect", json!({"reader": SIM_READER}))["session"].clone();
        let vsc = build_vsc();
        let (outcome, _) = personalize(
            &mut page,
            &session,
            Personalization::new(vsc.clone(), &mut OsRng),
        );
        let outcome = outcome.expect("the page's personalization succeeds under abuse");
        assert_eq!(outcome.uid, vsc.uid());
        page.ok("disconnect", json!({"session": session}));
        let served_in = started.elapsed();
        // Every connection is taken now: one more gets 503.
        let status = bridge.handshake_status("/v1", Some(&bridge.host()), Some(ORIGIN));

        stop.store(true, Ordering::Relaxed);
        for flooder in flooders {
            flooder.join().unwrap();
        }
        sampler.join().unwrap();
        drop(silent);
        drop(heads);
        drop(page);
        (served_in, status)
    });
    assert_eq!(
        over_limit_status, 503,
        "past --max-connections the handshake gets 503"
    );

    // The abusers are gone: the bridge lets go of what they held.
    let mut settled = (0, 0);
    vsc_tests::wait_until(
        Duration::from_secs(15),
        "the bridge closes the abusers' sockets",
        || {
            settled = rss_and_fds(pid);
            settled.1 <= fds_before
        },
    );
    let (rss_after, fds_after) = settled;
    let peak = peak_rss.load(Ordering::Relaxed) as u64;
    println!(
        "abuse: {} connections flooded {} frames of 1 MiB unread, {SILENT} silent, {HALF_OPEN} half-open request heads; a page on the last connection personalized a card in {:.0} ms",
        FLOODERS,
        frames_sent.load(Ordering::Relaxed),
        served_in.as_secs_f64() * 1000.0
    );
    println!(
        "abuse: vsc-bridge RSS {rss_before} KiB before, peak {peak} KiB under abuse (goal: at most {} KiB more), {rss_after} KiB after; open descriptors {fds_before} before, {fds_after} after (goal: as before)",
        RSS_BOUND_KIB
    );
    assert!(
        peak <= rss_before + RSS_BOUND_KIB,
        "the bridge grew from {rss_before} KiB to {peak} KiB under abuse"
    );
    assert!(
        fds_after <= fds_before,
        "{fds_after} descriptors, {fds_before} before"
    );
    // And it still serves.
    let mut next = bridge.connect();
    next.ok("hello", json!({"protocol": 1}));
}
