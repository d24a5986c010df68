//! The issuer service's JSON request bodies (`vsc-issuer-api`), as its handlers read them: the
//! first byte picks the body, the rest is the JSON. What parses is checked as the service
//! checks it before any database work; it writes back to JSON that parses to the same body,
//! which checks the same way.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use vsc_core::date::Date;
use vsc_issuer_api::admin::{ChangeSettings, ChangeUser, CreateBranch, CreateUser};
use vsc_issuer_api::jobs::{Batch, JobUpload, Reason};
use vsc_issuer_api::names::check_id;
use vsc_issuer_api::queue::{Claim, Outcome};
use vsc_issuer_api::records::OneRecord;
use vsc_issuer_api::session::SignIn;
use vsc_issuer_api::stations::Enrol;
use vsc_issuer_api::BodyError;

/// A body's checks, as one comparable answer: the error's message, or what passed.
trait Checked {
    fn checked(&self) -> Result<String, String>;
}

fn answer<T: Debug>(result: Result<T, BodyError>) -> Result<String, String> {
    result
        .map(|ok| format!("{ok:?}"))
        .map_err(|e| e.to_string())
}

impl Checked for SignIn {
    fn checked(&self) -> Result<String, String> {
        answer(check_id("user name", &self.username))
    }
}
impl Checked for CreateUser {
    fn checked(&self) -> Result<String, String> {
        answer(self.check())
    }
}
impl Checked for ChangeUser {
    fn checked(&self) -> Result<String, String> {
        answer(self.check())
    }
}
impl Checked for CreateBranch {
    fn checked(&self) -> Result<String, String> {
        answer(self.check())
    }
}
impl Checked for ChangeSettings {
    fn checked(&self) -> Result<String, String> {
        Ok(String::new())
    }
}
impl Checked for Enrol {
    fn checked(&self) -> Result<String, String> {
        answer(
            self.check()
                .map(|(key, name)| (key.fingerprint(), name.to_owned())),
        )
    }
}
impl Checked for OneRecord {
    /// The profile, then the holder rules the service runs on the values.
    fn checked(&self) -> Result<String, String> {
        let profile = self.profile().map_err(|e| e.to_string())?;
        let today = Date::from_ymd(2026, 12, 2).expect("a valid date");
        vsc_core::holder::validate_record(profile, &self.values, today)
            .map(|holder| {
                let public: Vec<_> = holder
                    .public_values()
                    .map(|(field, value)| (field.column.clone(), value.to_owned()))
                    .collect();
                format!("{public:?}")
            })
            .map_err(|errors| {
                let errors: Vec<_> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.column, e.reason))
                    .collect();
                format!("{errors:?}")
            })
    }
}
impl Checked for JobUpload {
    fn checked(&self) -> Result<String, String> {
        answer(self.check().map(|header| header.uid))
    }
}
impl Checked for Batch {
    fn checked(&self) -> Result<String, String> {
        self.check().map_err(|e| e.to_string())?;
        let jobs: Vec<_> = self.jobs.iter().map(Checked::checked).collect();
        Ok(format!("{jobs:?}"))
    }
}
impl Checked for Reason {
    fn checked(&self) -> Result<String, String> {
        let kept = self.for_audit();
        if let Some(text) = &kept {
            assert!(!text.trim().is_empty());
            assert!(text.chars().count() <= vsc_issuer_api::jobs::MAX_REASON_CHARS);
            assert!(self.reason.starts_with(text.as_str()));
        }
        Ok(format!("{kept:?}"))
    }
}
impl Checked for Claim {
    fn checked(&self) -> Result<String, String> {
        Ok(String::new())
    }
}
impl Checked for Outcome {
    fn checked(&self) -> Result<String, String> {
        answer(self.check())
    }
}

/// Parses `json` as a `T`; what parses is checked, written back, read again to the same body,
/// and checked again to the same answer.
fn body<T: DeserializeOwned + Serialize + PartialEq + Debug + Checked>(json: &[u8]) {
    let Ok(body) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let answer = body.checked();
    let written = serde_json::to_vec(&body).expect("a body writes as JSON");
    let again: T = serde_json::from_slice(&written).expect("a body's JSON reads back");
    assert_eq!(again, body);
    assert_eq!(again.checked(), answer);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 12 {
        0 => body::<SignIn>(json),
        1 => body::<CreateUser>(json),
        2 => body::<ChangeUser>(json),
        3 => body::<CreateBranch>(json),
        4 => body::<ChangeSettings>(json),
        5 => body::<Enrol>(json),
        6 => body::<OneRecord>(json),
        7 => body::<JobUpload>(json),
        8 => body::<Batch>(json),
        9 => body::<Reason>(json),
        10 => body::<Claim>(json),
        _ => body::<Outcome>(json),
    }
});
