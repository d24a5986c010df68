//! `vsc-bridge doctor`: checks what a branch PC needs for the bridge and prints it, with what
//! to fix. It reads only: the configuration file, the pairings file, the station key file, the
//! PC/SC service and whether the listening port is free. It changes nothing.
//!
//! Printed, in order: the version, the configuration file and every setting in force with its
//! source, the allowed origins, the config directory and the pairings, the station key's
//! fingerprint (or that there is none yet), the listening port, the PC/SC
//! service and its readers, then "to fix" with one line per problem (exit status 1) or
//! "nothing to fix".

use crate::backend::Backend;
use crate::cli::RunArgs;
use crate::origin::normalize_origin;
use crate::pairing_store::PairingStore;
use crate::pcsc_backend::PcscBackend;
use crate::settings::{ConfigError, ConfigFile, FileSettings, Settings};

/// Runs the checks, prints the report to stdout; the number of problems found.
pub fn run(args: &RunArgs, config: Result<ConfigFile, ConfigError>, store: &PairingStore) -> usize {
    let mut fix: Vec<String> = Vec::new();
    println!("vsc-bridge {}", env!("CARGO_PKG_VERSION"));

    let file_settings = match config {
        Ok(file) if file.found => {
            println!("configuration file: {}", file.path.display());
            file.settings
        }
        Ok(file) => {
            println!(
                "configuration file: none ({} does not exist; built-in defaults and flags apply)",
                file.path.display()
            );
            file.settings
        }
        Err(e) => {
            println!("configuration file: unusable");
            fix.push(e.to_string());
            FileSettings::default()
        }
    };
    let settings = Settings::resolve(args, &file_settings);
    println!("settings in force:");
    for line in settings.lines() {
        println!("  {line}");
    }

    check_origins(&settings, &mut fix);
    check_store(store, &mut fix);
    check_station(store, &mut fix);
    check_listen(&settings, &mut fix);
    check_pcsc(&mut fix);

    if fix.is_empty() {
        println!("nothing to fix");
    } else {
        println!("to fix:");
        for (i, line) in fix.iter().enumerate() {
            println!("  {}. {line}", i + 1);
        }
    }
    fix.len()
}

fn check_origins(settings: &Settings, fix: &mut Vec<String>) {
    let all: Vec<&String> = settings
        .trust_origins
        .value
        .iter()
        .chain(&settings.allow_origins.value)
        .collect();
    if all.is_empty() {
        println!("allowed origins: none");
        fix.push(
            "no page origin is allowed, so no page can connect: set allow_origins in the \
             configuration file (or pass --allow-origin URL) to the issuer's page origin, e.g. \
             https://cards.issuer.example"
                .into(),
        );
        return;
    }
    println!("allowed origins:");
    for text in all {
        match normalize_origin(text) {
            Ok(origin) => {
                let trusted = settings.trust_origins.value.contains(text);
                println!(
                    "  {origin}{}",
                    if trusted {
                        " (trusted: no pairing)"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => fix.push(e.to_string()),
        }
    }
}

fn check_store(store: &PairingStore, fix: &mut Vec<String>) {
    let dir = store.dir();
    match vsc_os::private::check_owner_only(dir) {
        Ok(None) => println!("config directory: {}", dir.display()),
        Ok(Some(complaint)) => {
            println!("config directory: {}", dir.display());
            fix.push(complaint);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!(
            "config directory: {} (not created yet: no page has paired)",
            dir.display()
        ),
        Err(e) => fix.push(format!("cannot inspect {}: {e}", dir.display())),
    }
    match store.list() {
        Ok(pairings) if pairings.is_empty() => println!("pairings: none"),
        Ok(pairings) => {
            println!("pairings: {}", pairings.len());
            for p in pairings {
                println!(
                    "  {}  {}  created {} (unix time)",
                    p.id, p.origin, p.created_unix
                );
            }
        }
        Err(e) => fix.push(e.to_string()),
    }
}

fn check_station(store: &PairingStore, fix: &mut Vec<String>) {
    let path = crate::station::key_path(store.dir());
    match crate::station::load(store.dir()) {
        Ok(Some(key)) => {
            println!(
                "station key: fingerprint {} ({})",
                key.public_key().fingerprint(),
                path.display()
            );
            match vsc_os::private::check_owner_only(&path) {
                Ok(Some(complaint)) => fix.push(complaint),
                Ok(None) => {}
                Err(e) => fix.push(format!("cannot inspect {}: {e}", path.display())),
            }
        }
        Ok(None) => println!(
            "station key: none yet (the bridge makes it at its first start, or run `vsc-bridge station`)"
        ),
        Err(e) => {
            println!("station key: unusable");
            fix.push(e.to_string());
        }
    }
}

fn check_listen(settings: &Settings, fix: &mut Vec<String>) {
    let addr = settings.listen.value;
    if !addr.ip().is_loopback() {
        fix.push(format!(
            "listen = {addr} is not a loopback address; the bridge only listens on 127.0.0.1 or [::1]"
        ));
        return;
    }
    match std::net::TcpListener::bind(addr) {
        Ok(_) => println!("listening port: {addr} is free (no bridge is running on it)"),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => println!(
            "listening port: {addr} is in use (by a running bridge, or by another program: \
             if the page cannot connect, stop that program or choose another port with listen)"
        ),
        Err(e) => fix.push(format!("cannot listen on {addr}: {e}")),
    }
}

fn check_pcsc(fix: &mut Vec<String>) {
    match PcscBackend::default().readers() {
        Ok(readers) if readers.is_empty() => {
            println!("PC/SC service: answers, no reader");
            fix.push(
                "no card reader is connected: plug it in (and install its driver if the \
                 system does not know it)"
                    .into(),
            );
        }
        Ok(readers) => {
            println!("PC/SC service: answers, {} reader(s)", readers.len());
            for r in readers {
                match (&r.atr, r.card_present) {
                    (Some(atr), true) => println!(
                        "  {}: card present, ATR {}",
                        r.name,
                        hex::encode_upper(atr.expose())
                    ),
                    (None, true) => println!("  {}: card present", r.name),
                    _ => println!("  {}: no card", r.name),
                }
            }
        }
        Err(e) => {
            println!("PC/SC service: does not answer");
            fix.push(e.to_string());
        }
    }
}
