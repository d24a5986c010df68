//! Reads the shipped card profiles once, at build time, into `$OUT_DIR/profiles.json`, which
//! the page's WebAssembly embeds (src/profiles.rs): the page then needs no TOML parser and no
//! profile checker at run time, which keeps it within its size budget. A profile with a
//! problem fails this build with the profile's own message.

use std::path::PathBuf;

use vsc_core::profile::Profile;

fn main() {
    let profiles: Vec<Profile> = Profile::builtin_ids()
        .iter()
        .map(|id| {
            Profile::builtin(id).unwrap_or_else(|| {
                panic!("the shipped profile {id} does not parse: run `cargo test -p vsc-core` to see why")
            })
        })
        .collect();
    let json = serde_json::to_string(&profiles).expect("profiles serialize to JSON");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("profiles.json"), json).expect("write profiles.json");
    println!("cargo:rerun-if-changed=../profiles");
    println!("cargo:rerun-if-changed=../vsc-core/src");
}
