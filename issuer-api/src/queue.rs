//! The branch queue's bodies: claiming a job, and reporting how personalizing it went.

use serde::{Deserialize, Serialize};

use crate::BodyError;

/// Longest ATR in hex digits (33 bytes).
const MAX_ATR_HEX: usize = 66;

/// The body of `POST /api/queue/claim`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The station that will write the card.
    pub station: String,
    /// A job picked from the queue (absent: the oldest one).
    #[serde(default)]
    pub job: Option<String>,
}

/// The body of `POST /api/jobs/{id}/renew` and `POST /api/jobs/{id}/release`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// The claim's token, from the answer to `POST /api/queue/claim`: a job claimed again
    /// since (another tab or PC signed in as the same operator) refuses the old claim. Empty
    /// or absent only for a job claimed before the service gave tokens (an upgrade).
    #[serde(default)]
    pub claim: String,
}

/// The body of `POST /api/jobs/{id}/result`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// Written and verified.
    Personalized {
        /// The claim's token (see [`Hold::claim`]).
        #[serde(default)]
        claim: String,
        /// The card's ATR (hex).
        atr: String,
        /// APDUs the engine sent.
        apdus: u64,
        /// Whether the read-back matched (must be true).
        read_back_ok: bool,
    },
    /// Failed; the card is spoiled.
    Failed {
        /// The claim's token (see [`Hold::claim`]).
        #[serde(default)]
        claim: String,
        /// The engine's step that failed.
        step: String,
        /// The status word (hex), if the card answered.
        #[serde(default)]
        status_word: Option<String>,
        /// What happened.
        reason: String,
    },
}

impl Outcome {
    /// The claim's token the report is made under.
    pub fn claim(&self) -> &str {
        match self {
            Outcome::Personalized { claim, .. } | Outcome::Failed { claim, .. } => claim,
        }
    }

    /// Checks a report: personalized only with a matching read-back and an ATR in hex; a
    /// failure's status word, when given, is 4 hex digits.
    pub fn check(&self) -> Result<(), BodyError> {
        match self {
            Outcome::Personalized {
                atr, read_back_ok, ..
            } => {
                if !read_back_ok {
                    return Err(BodyError::NotReadBack);
                }
                if atr.is_empty() || atr.len() > MAX_ATR_HEX || hex::decode(atr).is_err() {
                    return Err(BodyError::Atr);
                }
            }
            Outcome::Failed { status_word, .. } => {
                if let Some(sw) = status_word {
                    if sw.len() != 4 || hex::decode(sw).is_err() {
                        return Err(BodyError::StatusWord);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(json: &str) -> Outcome {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reports_are_checked() {
        let ok = r#"{"outcome":"personalized","claim":"c","atr":"3B8F80","apdus":9,"read_back_ok":true}"#;
        assert!(outcome(ok).check().is_ok());
        let unread =
            r#"{"outcome":"personalized","claim":"c","atr":"3B","apdus":9,"read_back_ok":false}"#;
        assert!(matches!(
            outcome(unread).check(),
            Err(BodyError::NotReadBack)
        ));
        for atr in ["", "3B8", "zz", &"3B".repeat(34)] {
            let json = format!(
                r#"{{"outcome":"personalized","claim":"c","atr":"{atr}","apdus":9,"read_back_ok":true}}"#
            );
            assert!(
                matches!(outcome(&json).check(), Err(BodyError::Atr)),
                "{atr}"
            );
        }
        let failed = r#"{"outcome":"failed","claim":"c","step":"put-data","status_word":"6a82","reason":"x"}"#;
        assert!(outcome(failed).check().is_ok());
        let bad_sw = r#"{"outcome":"failed","claim":"c","step":"put-data","status_word":"6A8","reason":"x"}"#;
        assert!(matches!(
            outcome(bad_sw).check(),
            Err(BodyError::StatusWord)
        ));
        let no_sw = r#"{"outcome":"failed","claim":"c","step":"select","reason":"no card"}"#;
        assert!(outcome(no_sw).check().is_ok());
    }
}
