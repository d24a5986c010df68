//! What the page and `vsc build --server` send for each job (`vsc_core::job_envelopes::SealedJob`,
//! one code path for both) is what the service reads (`JobUpload`), and passes its checks.

use std::collections::BTreeMap;

use rand_core::OsRng;
use vsc_core::batch::BatchEntry;
use vsc_core::envelope::{self, Binding, Envelope, StationSecretKey};
use vsc_core::job_envelopes::{BranchSealer, Station};
use vsc_core::profile::Profile;
use vsc_issuer_api::jobs::{Batch, JobUpload};

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

#[test]
fn a_sealed_job_is_an_upload_the_service_takes() {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let values = BTreeMap::from([
        ("holder_name".to_owned(), "Siobhán O'Brien".to_owned()),
        ("holder_id".to_owned(), "E-1002".to_owned()),
        ("expiry_date".to_owned(), "2031-12-31".to_owned()),
    ]);
    let today = vsc_core::date::Date::from_ymd(2026, 12, 2).unwrap();
    let holder = vsc_core::holder::validate_record(&profile, &values, today).unwrap();
    let entry = BatchEntry::build(&profile, &holder, BUILT_AT_MS, &mut OsRng).unwrap();
    let key = StationSecretKey::generate(&mut OsRng);
    let stations = [Station {
        id: "st-1".to_owned(),
        public_key: key.public_key().to_hex(),
    }];
    let sealer = BranchSealer::new(&stations, &mut OsRng).unwrap();
    let sent = sealer.job(7, "b1", &entry, &mut OsRng).unwrap();
    let body = serde_json::json!({ "jobs": [sent] }).to_string();

    let batch: Batch = serde_json::from_str(&body).unwrap();
    batch.check().unwrap();
    let job: &JobUpload = &batch.jobs[0];
    let header = job.check().unwrap();
    assert_eq!((job.record, job.branch.as_str()), (7, "b1"));
    assert_eq!(job.vsc, entry.sealed.bytes);
    assert_eq!(header.uid, entry.sealed.uid);
    // What the service stores opens at the station, for this job.
    let stored = &job.envelopes[0];
    assert_eq!(stored.station, "st-1");
    let envelope = Envelope {
        enc: stored.enc.clone().try_into().unwrap(),
        ciphertext: stored.ciphertext.clone(),
    };
    let binding = Binding::new(&header.uid.to_string(), "b1", &job.vsc).unwrap();
    let opened = envelope::open(&envelope, &key, &binding).unwrap();
    assert_eq!(opened.expose(), entry.sealed.password.expose().as_bytes());
}
