//! End-to-end tests of `vsc-bridge --sim` (no pcscd needed): handshake checks, pairing,
//! authentication, sessions, limits, events, logging, command line.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const AID: &[u8] = b"\xA0\x00\x00\x05\x27VSCTEST";

#[test]
fn handshake_matrix() {
    let bridge = Bridge::start(&["--sim"]);
    let host = bridge.host();
    let port = bridge.port;
    assert_eq!(
        bridge.handshake_status("/v1", Some(&host), Some(ORIGIN)),
        101
    );
    assert_eq!(
        bridge.handshake_status("/v1", Some(&format!("localhost:{port}")), Some(ORIGIN)),
        101
    );
    for (what, host, origin) in [
        ("missing Origin", Some(host.as_str()), None),
        ("null Origin", Some(host.as_str()), Some("null")),
        (
            "other scheme",
            Some(host.as_str()),
            Some("http://issuer.example"),
        ),
        (
            "other port",
            Some(host.as_str()),
            Some("https://issuer.example:8443"),
        ),
        (
            "look-alike suffix",
            Some(host.as_str()),
            Some("https://issuer.example.evil.test"),
        ),
        (
            "look-alike prefix",
            Some(host.as_str()),
            Some("https://evilissuer.example"),
        ),
        (
            "trailing slash",
            Some(host.as_str()),
            Some("https://issuer.example/"),
        ),
        (
            "wrong Host (DNS rebinding)",
            Some("evil.test:35900"),
            Some(ORIGIN),
        ),
        ("wrong Host port", Some("127.0.0.1:1"), Some(ORIGIN)),
        ("missing Host", None, Some(ORIGIN)),
    ] {
        assert_eq!(bridge.handshake_status("/v1", host, origin), 403, "{what}");
    }
    // Another path, or not an upgrade: 404.
    assert_eq!(
        bridge.handshake_status("/v2", Some(&host), Some(ORIGIN)),
        404
    );
    let (status, _) = bridge.http_status(&format!(
        "GET /v1 HTTP/1.1\r\nHost: {host}\r\nOrigin: {ORIGIN}\r\n\r\n"
    ));
    assert_eq!(status, 404);
    let (status, _) =
        bridge.http_status(&format!("GET /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    assert_eq!(status, 404);
    // Garbage instead of HTTP: refused, and the bridge still works.
    let (status, _) = bridge.http_status("\x16\x03\x01 hello\r\n\r\n");
    assert_eq!(status, 400);
    let mut client = bridge.connect();
    client.ok("hello", json!({"protocol": 1}));
}

#[test]
fn unauthenticated_requests_are_refused() {
    let bridge = Bridge::start(&["--sim"]);
    let mut client = bridge.connect();
    // Before hello too.
    assert_eq!(client.err("readers", json!({})), "not_authenticated");
    assert_eq!(client.err("pair_begin", json!({})), "bad_request");
    let hello = client.ok("hello", json!({"protocol": 1}));
    assert_eq!(hello["paired"], false);
    assert_eq!(hello["protocol"], 1);
    assert!(hello["bridge"].as_str().unwrap().starts_with("vsc-bridge "));
    assert_eq!(client.err("readers", json!({})), "not_authenticated");
    assert_eq!(
        client.err("connect", json!({"reader": SIM_READER})),
        "not_authenticated"
    );
    assert_eq!(
        client.err("transmit", json!({"session": 1, "apdus": ["00A40000"]})),
        "not_authenticated"
    );
    assert_eq!(
        client.err("disconnect", json!({"session": 1})),
        "not_authenticated"
    );
    assert_eq!(
        client.err("sim_card", json!({"present": false})),
        "not_authenticated"
    );
    assert_eq!(
        client.err("hello", json!({"protocol": 2})),
        "unsupported_protocol"
    );
    // A bogus token does not authenticate.
    let hello = client.ok("hello", json!({"protocol": 1, "token": "00".repeat(32)}));
    assert_eq!(hello["paired"], false);
    assert_eq!(client.err("readers", json!({})), "not_authenticated");
    // Nothing reached the reader: no session, no batch in the log.
    let log = bridge.log();
    assert!(
        !log.contains("session opened") && !log.contains("batch"),
        "{log}"
    );
}

#[test]
fn pairing_token_works_after_reconnect_and_only_from_its_origin() {
    let other = "http://127.0.0.1:8080";
    let bridge = Bridge::start(&["--sim", "--allow-origin", other]);
    let mut client = bridge.connect();
    let token = bridge.pair(&mut client);
    assert!(token.len() >= 32, "token has at least 128 bits: {token}");
    // The pairing connection is authenticated at once.
    assert_eq!(
        client.ok("readers", json!({}))["readers"][0]["name"],
        SIM_READER
    );
    let console = bridge.child.log_text();
    assert!(
        console.contains(&format!("PAIRING CODE for {ORIGIN}: {}", bridge.code())),
        "{console}"
    );
    drop(client);

    let mut again = bridge.connect();
    let hello = again.ok("hello", json!({"protocol": 1, "token": token}));
    assert_eq!(hello["paired"], true);
    let readers = again.ok("readers", json!({}));
    assert_eq!(readers["readers"][0]["card_present"], true);
    assert!(readers["readers"][0]["atr"]
        .as_str()
        .unwrap()
        .starts_with("3B"));

    // The same token from another (allowed) origin is refused.
    let mut stranger = bridge.connect_as(other);
    let hello = stranger.ok("hello", json!({"protocol": 1, "token": token}));
    assert_eq!(hello["paired"], false);
    assert_eq!(stranger.err("readers", json!({})), "not_authenticated");

    // Only the hash is stored.
    let stored = std::fs::read_to_string(bridge.config_dir().join("pairings.json")).unwrap();
    assert!(!stored.contains(&token), "{stored}");
    assert!(stored.contains(ORIGIN));
    // The token never reaches the log.
    assert!(!bridge.log().contains(&token));
}

#[test]
fn wrong_codes_are_rate_limited() {
    let bridge = Bridge::start(&["--sim"]);
    let mut client = bridge.connect();
    client.ok("hello", json!({"protocol": 1}));
    client.ok("pair_begin", json!({}));
    let code = bridge.code();
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for _ in 0..5 {
        assert_eq!(
            client.err("pair_finish", json!({"code": wrong})),
            "pairing_failed"
        );
    }
    assert_eq!(
        client.err("pair_finish", json!({"code": code})),
        "rate_limited"
    );
    assert_eq!(client.err("readers", json!({})), "not_authenticated");
    // A new connection from the same origin is limited too.
    let mut other = bridge.connect();
    other.ok("hello", json!({"protocol": 1}));
    assert_eq!(
        other.err("pair_finish", json!({"code": code})),
        "rate_limited"
    );
    // pair_begin is limited as well (5 a minute): one was used above.
    for _ in 0..4 {
        other.ok("pair_begin", json!({}));
    }
    assert_eq!(other.err("pair_begin", json!({})), "rate_limited");
}

#[test]
fn expired_code_is_refused() {
    let bridge = Bridge::start(&["--sim", "--pairing-code-ttl", "1"]);
    let mut client = bridge.connect();
    client.ok("hello", json!({"protocol": 1}));
    client.ok("pair_begin", json!({}));
    let code = bridge.code();
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(
        client.err("pair_finish", json!({"code": code})),
        "pairing_failed"
    );
    assert_eq!(client.err("readers", json!({})), "not_authenticated");
    // A fresh code works.
    client.ok("pair_begin", json!({}));
    let code = bridge.code();
    client.ok("pair_finish", json!({"code": code}));
    client.ok("readers", json!({}));
}

#[test]
fn revoke_ends_a_pairing() {
    let bridge = Bridge::start(&["--sim"]);
    let mut client = bridge.connect();
    let token = bridge.pair(&mut client);
    let (ok, listing) = bridge.pairings(&["list"]);
    assert!(ok, "{listing}");
    assert!(listing.contains(ORIGIN), "{listing}");
    let id = listing.split_whitespace().next().unwrap().to_owned();
    let (ok, text) = bridge.pairings(&["revoke", "nope"]);
    assert!(!ok, "{text}");
    let (ok, text) = bridge.pairings(&["revoke", &id]);
    assert!(ok, "{text}");
    let mut again = bridge.connect();
    assert_eq!(
        again.ok("hello", json!({"protocol": 1, "token": token}))["paired"],
        false
    );
    assert_eq!(again.err("readers", json!({})), "not_authenticated");
    let (_, listing) = bridge.pairings(&["list"]);
    assert!(!listing.contains(&id), "{listing}");
}

#[test]
fn trusted_origin_needs_no_pairing() {
    let bridge = Bridge::start(&["--sim", "--trust-origin", "http://localhost:9000"]);
    let mut client = bridge.connect_as("http://localhost:9000");
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);
    client.ok("readers", json!({}));
    // Other allowed origins still need pairing.
    let mut other = bridge.connect();
    assert_eq!(other.ok("hello", json!({"protocol": 1}))["paired"], false);
}

fn trusted_bridge(extra: &[&str]) -> Bridge {
    let mut args = vec!["--sim", "--trust-origin", ORIGIN];
    args.extend_from_slice(extra);
    Bridge::start(&args)
}

fn trusted_client(bridge: &Bridge) -> Client {
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);
    client
}

#[test]
fn connect_transmit_expect_disconnect() {
    let bridge = trusted_bridge(&[]);
    let mut client = trusted_client(&bridge);
    assert_eq!(
        client.err("connect", json!({"reader": "No Such Reader"})),
        "unknown_reader"
    );
    let connected = client.ok("connect", json!({"reader": SIM_READER}));
    assert_eq!(connected["protocol"], "T1");
    assert!(connected["atr"].as_str().unwrap().starts_with("3B8A8001"));
    let session = connected["session"].clone();

    // SELECT MF, then a READ BINARY with no EF selected (6986), then something never sent.
    let reply = client.ok(
        "transmit",
        json!({"session": session, "apdus": ["00a4000c023f00", "00B0000001", "00A4000C023F00"],
               "expect": ["9000", "90XX", null]}),
    );
    assert_eq!(reply["responses"].as_array().unwrap().len(), 2);
    assert_eq!(sw(&reply["responses"][0]), "9000");
    assert_eq!(sw(&reply["responses"][1]), "6986");
    assert_eq!(reply["stopped_at"], 1);
    // Patterns with X, and no expect at all: every APDU runs.
    let reply = client.ok(
        "transmit",
        json!({"session": session, "apdus": ["00B0000001", "00A4000C023F00"], "expect": ["69XX"]}),
    );
    assert!(reply.get("stopped_at").is_none(), "{reply}");
    assert_eq!(reply["responses"].as_array().unwrap().len(), 2);
    let reply = client.transmit(&session, &[]);
    assert_eq!(reply["responses"], json!([]));

    // Bad batches: bad_request, the session stays usable.
    assert_eq!(
        client.err("transmit", json!({"session": session, "apdus": ["00A4"]})),
        "bad_request"
    );
    assert_eq!(
        client.err("transmit", json!({"session": session, "apdus": ["zz"]})),
        "bad_request"
    );
    assert_eq!(
        client.err(
            "transmit",
            json!({"session": session, "apdus": ["00A4000C"], "expect": ["9000", "9000"]})
        ),
        "bad_request"
    );
    assert_eq!(
        client.err(
            "transmit",
            json!({"session": session, "apdus": ["00A4000C"], "expect": ["9G00"]})
        ),
        "bad_request"
    );
    assert_eq!(
        client.err("transmit", json!({"session": 999, "apdus": ["00A4000C"]})),
        "unknown_session"
    );
    assert_eq!(
        sw(&client.transmit(&session, &["00A4000C023F00"])["responses"][0]),
        "9000"
    );

    client.ok("disconnect", json!({"session": session}));
    assert_eq!(
        client.err("disconnect", json!({"session": session})),
        "unknown_session"
    );
    assert_eq!(
        client.err(
            "transmit",
            json!({"session": session, "apdus": ["00A4000C"]})
        ),
        "unknown_session"
    );
    // The reader is free again.
    client.ok("connect", json!({"reader": SIM_READER}));
}

#[test]
fn second_client_is_busy_and_a_dropped_client_leaves_a_reset_card() {
    let bridge = trusted_bridge(&[]);
    let mut first = trusted_client(&bridge);
    let session = session_with_verified_pin(&mut first, SIM_READER, AID);

    let mut second = trusted_client(&bridge);
    assert_eq!(second.err("connect", json!({"reader": SIM_READER})), "busy");
    // Another connection cannot use the first one's session.
    assert_eq!(
        second.err(
            "transmit",
            json!({"session": session, "apdus": [VERIFY_STATUS]})
        ),
        "unknown_session"
    );

    // The first client vanishes mid-session (no disconnect).
    drop(first);
    let session = connect_when_free(&mut second, SIM_READER);
    assert_pin_not_verified(&mut second, &session, AID);
}

#[test]
fn oversized_frame_closes_with_1009() {
    let bridge = trusted_bridge(&[]);
    let mut client = trusted_client(&bridge);
    let big = format!(
        "{{\"id\":1,\"op\":\"readers\",\"pad\":\"{}\"}}",
        "a".repeat(2 << 20)
    );
    // The bridge may stop reading before the whole frame is written.
    let _ = client.ws.send(tungstenite::Message::text(big));
    let frame = client.wait_closed().expect("a close frame");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    // The bridge lives on.
    let mut next = trusted_client(&bridge);
    next.ok("readers", json!({}));
}

#[test]
fn garbage_gets_bad_request_and_the_connection_stays_usable() {
    let bridge = trusted_bridge(&[]);
    let mut client = trusted_client(&bridge);
    for garbage in [
        "not json",
        "[1,2,3]",
        "{}",
        "{\"id\":\"seven\",\"op\":\"readers\"}",
        "{\"id\":-3,\"op\":\"readers\"}",
        "{\"id\":1e40,\"op\":\"readers\"}",
        "\u{0000}\u{FFFF}",
    ] {
        client.send_text(garbage);
        let reply = client.reply_to(None);
        assert_eq!(reply["error"]["code"], "bad_request", "{garbage}: {reply}");
    }
    for (text, id) in [
        ("{\"id\":7,\"op\":\"fly\"}", 7),
        ("{\"id\":8}", 8),
        ("{\"id\":9,\"op\":\"connect\",\"reader\":42}", 9),
        ("{\"id\":10,\"op\":\"connect\"}", 10),
        (
            "{\"id\":11,\"op\":\"transmit\",\"session\":\"x\",\"apdus\":[]}",
            11,
        ),
        (
            "{\"id\":12,\"op\":\"transmit\",\"session\":1,\"apdus\":\"00A4\"}",
            12,
        ),
        ("{\"id\":13,\"op\":\"hello\",\"protocol\":\"1\"}", 13),
        ("{\"id\":14,\"op\":\"sim_card\",\"present\":\"yes\"}", 14),
    ] {
        client.send_text(text);
        let reply = client.reply_to(Some(id));
        assert_eq!(reply["error"]["code"], "bad_request", "{text}: {reply}");
    }
    client
        .ws
        .send(tungstenite::Message::binary(vec![1, 2, 3]))
        .unwrap();
    assert_eq!(client.reply_to(None)["error"]["code"], "bad_request");
    client.ok("readers", json!({}));
}

#[test]
fn idle_sockets_are_closed() {
    let bridge = trusted_bridge(&["--idle-timeout", "1"]);
    let mut client = trusted_client(&bridge);
    let session = client.ok("connect", json!({"reader": SIM_READER}))["session"].clone();
    assert!(!session.is_null());
    let frame = client.wait_closed().expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    // Its session ended with it: the reader is free.
    let mut next = trusted_client(&bridge);
    vsc_tests::wait_until(Duration::from_secs(5), "the reader is free", || {
        next.request("connect", json!({"reader": SIM_READER}))["ok"] == true
    });
}

#[test]
fn too_many_sockets_get_503() {
    let bridge = trusted_bridge(&["--max-connections", "2"]);
    let a = trusted_client(&bridge);
    let _b = trusted_client(&bridge);
    assert_eq!(
        bridge.handshake_status("/v1", Some(&bridge.host()), Some(ORIGIN)),
        503
    );
    drop(a);
    vsc_tests::wait_until(Duration::from_secs(5), "a slot frees up", || {
        Client::connect(bridge.port, ORIGIN).is_ok()
    });
}

#[test]
fn simulated_insert_and_remove_send_events() {
    let bridge = trusted_bridge(&[]);
    let mut watcher = trusted_client(&bridge);
    let mut user = trusted_client(&bridge);
    let session = user.ok("connect", json!({"reader": SIM_READER}))["session"].clone();

    watcher.ok("sim_card", json!({"present": false}));
    let event = user.wait_event("card_removed", Duration::from_secs(5), |_| true);
    assert_eq!(event["session"], session);
    let event = watcher.wait_event("readers_changed", Duration::from_secs(5), |_| true);
    assert_eq!(event["readers"][0]["name"], SIM_READER);
    assert_eq!(event["readers"][0]["card_present"], false);
    assert_eq!(
        user.err(
            "transmit",
            json!({"session": session, "apdus": ["00A4000C"]})
        ),
        "unknown_session"
    );
    assert_eq!(
        user.err("connect", json!({"reader": SIM_READER})),
        "no_card"
    );

    watcher.ok("sim_card", json!({"present": true}));
    let event = user.wait_event("readers_changed", Duration::from_secs(5), |e| {
        e["readers"][0]["card_present"] == true
    });
    assert!(event["readers"][0]["atr"].is_string());
    let session = user.ok("connect", json!({"reader": SIM_READER}))["session"].clone();
    assert_eq!(
        sw(&user.transmit(&session, &["00A4000C023F00"])["responses"][0]),
        "9000"
    );

    // Unauthenticated sockets get no reader events.
    let mut anonymous = bridge.connect_as(ORIGIN);
    let _ = anonymous.request("readers", json!({}));
    watcher.ok("sim_card", json!({"present": false}));
    assert!(anonymous.next_event(Duration::from_millis(500)).is_none());
}

#[test]
fn log_holds_no_pin() {
    let bridge = trusted_bridge(&[]);
    let pin = b"Zq7Wx";
    let new_pin = b"Vb3Pn";
    let mut client = trusted_client(&bridge);
    let session = client.ok("connect", json!({"reader": SIM_READER}))["session"].clone();
    let mut apdus = setup_pin_apdus(AID, pin);
    // CHANGE REFERENCE DATA P1=00 (ISO 7816-4 §11.5.7): old PIN followed by the new one.
    apdus.push(format!(
        "00240081{:02X}{}{}",
        pin.len() + new_pin.len(),
        hex::encode_upper(pin),
        hex::encode_upper(new_pin)
    ));
    let apdus: Vec<&str> = apdus.iter().map(String::as_str).collect();
    let reply = client.transmit(&session, &apdus);
    for r in reply["responses"].as_array().unwrap() {
        assert_eq!(sw(r), "9000", "{reply}");
    }
    let verify_new = verify_apdu(new_pin);
    assert_eq!(
        sw(&client.transmit(&session, &[&verify_new])["responses"][0]),
        "9000"
    );
    client.ok("disconnect", json!({"session": session}));
    let log = bridge.log();
    assert!(
        log.contains("00 20 00 81"),
        "APDU headers are logged: {log}"
    );
    for secret in [
        String::from_utf8_lossy(pin).into_owned(),
        hex::encode_upper(pin),
        hex::encode(pin),
        String::from_utf8_lossy(new_pin).into_owned(),
        hex::encode_upper(new_pin),
    ] {
        assert!(!log.contains(&secret), "the log holds {secret}:\n{log}");
    }
}

#[test]
fn serves_its_page_and_allows_its_own_origin() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>VSC</title>",
    )
    .unwrap();
    std::fs::write(site.path().join("app.js"), "console.log(1)").unwrap();
    let bridge = Bridge::start(&["--sim", "--serve", site.path().to_str().unwrap()]);
    let host = bridge.host();
    let (status, body) = bridge.http_status(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("text/html") && text.ends_with("<!doctype html><title>VSC</title>"),
        "{text}"
    );
    let (status, body) =
        bridge.http_status(&format!("GET /app.js HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("text/javascript"));
    for path in ["/../../etc/passwd", "/%2e%2e/etc/passwd", "/missing.css"] {
        let (status, _) =
            bridge.http_status(&format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = bridge.http_status(&format!(
        "GET / HTTP/1.1\r\nHost: evil.test:{}\r\n\r\n",
        bridge.port
    ));
    assert_eq!(status, 403);
    let own = format!("http://127.0.0.1:{}", bridge.port);
    assert_eq!(bridge.handshake_status("/v1", Some(&host), Some(&own)), 101);
    assert_eq!(
        bridge.handshake_status("/v1", Some(&host), Some(ORIGIN)),
        101
    );
}

#[test]
fn command_line_errors_are_clear() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge"))
        .args(["--sim", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("already in use"), "{text}");

    let out = std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge"))
        .args(["--sim", "--listen", "0.0.0.0:35999"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));

    let out = std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge"))
        .args([
            "--sim",
            "--listen",
            "127.0.0.1:0",
            "--allow-origin",
            "issuer.example",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable origin"));
}

#[test]
fn sim_card_is_refused_without_sim() {
    // Without --sim the op is refused even for a trusted page (PC/SC backend, no card needed).
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut client = trusted_client(&bridge);
    assert_eq!(
        client.err("sim_card", json!({"present": false})),
        "bad_request"
    );
}

#[test]
fn the_config_file_sets_what_no_flag_sets_and_flags_win() {
    // The harness passes --allow-origin ORIGIN: that flag replaces the file's list.
    let config = "allow_origins = [\"https://replaced.example\"]\n\
                  trust_origins = [\"http://localhost:9000\"]\n\
                  idle_timeout = 1\n";
    let bridge = Bridge::start_with(
        std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge")),
        "debug",
        config,
        &["--sim"],
    );
    assert!(
        bridge.log().contains("configuration from"),
        "{}",
        bridge.log()
    );
    let host = bridge.host();
    assert_eq!(
        bridge.handshake_status("/v1", Some(&host), Some("https://replaced.example")),
        403
    );
    let mut trusted = bridge.connect_as("http://localhost:9000");
    assert_eq!(trusted.ok("hello", json!({"protocol": 1}))["paired"], true);
    assert!(
        trusted.wait_closed().is_some(),
        "idle_timeout = 1 closed it"
    );
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], false);
}

#[test]
fn a_bad_config_file_stops_the_bridge_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "allow_origin = \"https://a.example\"\n").unwrap();
    let out = std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge"))
        .arg("--config")
        .arg(&path)
        .args(["--sim", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("is not valid") && text.contains("allow_origins"),
        "{text}"
    );
    let out = std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge"))
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .args(["--sim", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn doctor_shows_the_settings_in_force_and_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:35998\"\nlog_level = \"warn\"\n",
    )
    .unwrap();
    let doctor = |extra: &[&str]| {
        let out = std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge"))
            .arg("doctor")
            .arg("--config")
            .arg(&path)
            .arg("--config-dir")
            .arg(dir.path().join("pairings"))
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = doctor(&[]);
    assert!(!ok, "no allowed origin is something to fix:\n{text}");
    assert!(text.contains(&format!("vsc-bridge {}", env!("CARGO_PKG_VERSION"))));
    assert!(text.contains(&format!("configuration file: {}", path.display())));
    assert!(
        text.contains("listen             127.0.0.1:35998  (config file)"),
        "{text}"
    );
    assert!(
        text.contains("log_level          warn  (config file)"),
        "{text}"
    );
    assert!(
        text.contains("idle_timeout       600 s  (default)"),
        "{text}"
    );
    assert!(text.contains("no page origin is allowed"), "{text}");
    assert!(text.contains("pairings: none"), "{text}");
    assert!(text.contains("station key: none"), "{text}");
    assert!(text.contains("PC/SC service:"), "{text}");

    let (_, text) = doctor(&[
        "--allow-origin",
        "HTTPS://Cards.Issuer.Example/",
        "--listen",
        "127.0.0.1:35997",
    ]);
    assert!(
        text.contains("allowed origins:\n  https://cards.issuer.example\n"),
        "{text}"
    );
    assert!(
        text.contains("listen             127.0.0.1:35997  (flag)"),
        "{text}"
    );
    assert!(!text.contains("no page origin is allowed"), "{text}");
}
