//! The seeds of the `issuer_bodies` fuzz target (`fuzz/seeds/issuer_bodies`: a selector byte,
//! then the JSON) are valid bodies that pass their checks, so the fuzzer starts from bodies
//! the service takes; one seed per body.

use std::collections::BTreeSet;
use std::path::Path;

use vsc_issuer_api::admin::{ChangeSettings, ChangeUser, CreateBranch, CreateUser};
use vsc_issuer_api::jobs::{Batch, JobUpload, Reason};
use vsc_issuer_api::queue::{Claim, Outcome};
use vsc_issuer_api::records::OneRecord;
use vsc_issuer_api::session::SignIn;
use vsc_issuer_api::stations::Enrol;

fn parse<T: serde::de::DeserializeOwned>(name: &str, json: &[u8]) -> T {
    serde_json::from_slice(json).unwrap_or_else(|e| panic!("seed {name}: {e}"))
}

#[test]
fn every_seed_is_a_body_the_service_takes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/issuer_bodies");
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let (&which, json) = data.split_first().unwrap();
        let which = which % 12;
        kinds.insert(which);
        let checked = match which {
            0 => {
                vsc_issuer_api::names::check_id("user name", &parse::<SignIn>(&name, json).username)
            }
            1 => parse::<CreateUser>(&name, json).check().map(drop),
            2 => parse::<ChangeUser>(&name, json).check(),
            3 => parse::<CreateBranch>(&name, json).check(),
            4 => {
                parse::<ChangeSettings>(&name, json);
                Ok(())
            }
            5 => parse::<Enrol>(&name, json).check().map(drop),
            6 => {
                let record = parse::<OneRecord>(&name, json);
                record.profile().map(|profile| {
                    let today = vsc_core::date::Date::from_ymd(2026, 12, 2).unwrap();
                    let holder = vsc_core::holder::validate_record(profile, &record.values, today);
                    assert!(holder.is_ok(), "seed {name}: the holder rules refuse it");
                })
            }
            7 => parse::<JobUpload>(&name, json).check().map(drop),
            8 => {
                let batch = parse::<Batch>(&name, json);
                batch
                    .check()
                    .and_then(|()| batch.jobs.iter().try_for_each(|j| j.check().map(drop)))
            }
            9 => {
                assert!(parse::<Reason>(&name, json).for_audit().is_some(), "{name}");
                Ok(())
            }
            10 => {
                parse::<Claim>(&name, json);
                Ok(())
            }
            _ => parse::<Outcome>(&name, json).check(),
        };
        if let Err(e) = checked {
            panic!("seed {name} fails its checks: {e}");
        }
    }
    assert_eq!(kinds.len(), 12, "one seed per body: {kinds:?}");
}
