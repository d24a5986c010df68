//! Why a request body was refused.

use vsc_core::envelope::{EnvelopeError, KEY_LEN, MAX_CIPHERTEXT, TAG_LEN};
use vsc_core::job::{Role, UnknownName};
use vsc_core::seal::OpenError;

use crate::jobs::MAX_BATCH;
use crate::names::MAX_NAME;
use crate::password::PasswordError;

/// A request body that parsed but fails a check; its text is the service's answer (422).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// A user name or branch id with other characters, or empty, or too long.
    #[error("{what} {id:?} is not valid: use 1 to {MAX_NAME} letters, digits, '.', '_' or '-'")]
    InvalidId {
        /// What the id names ("user name", "branch id").
        what: &'static str,
        /// The id as given.
        id: String,
    },
    /// A role that is not one of the roles.
    #[error(transparent)]
    Role(#[from] UnknownName),
    /// A new account password that the policy refuses.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// An operator without a branch.
    #[error("an operator works at one branch: give its branch")]
    OperatorWithoutBranch,
    /// A branch given for another role than operator.
    #[error("only operators belong to a branch; a {0} does not")]
    BranchForRole(Role),
    /// A branch name empty or too long.
    #[error("the branch name must have 1 to {MAX_NAME} characters")]
    BranchName,
    /// A change of a user that changes nothing.
    #[error("nothing to change: give \"disabled\", \"password\" or \"unlock\": true")]
    NothingToChange,
    /// A station key that is not an X25519 public key in hex.
    #[error("public_key: {0}")]
    StationKey(EnvelopeError),
    /// A station name empty or too long.
    #[error("the station name must have 1 to {MAX_NAME} characters")]
    StationName,
    /// A profile id that is not a shipped profile.
    #[error("unknown profile {0:?}; known profiles: {known}", known = vsc_core::profile::Profile::builtin_ids().join(", "))]
    UnknownProfile(String),
    /// A `.vsc` whose header does not parse.
    #[error("the .vsc does not parse: {0}")]
    Vsc(OpenError),
    /// A `.vsc` built with another text of its profile.
    #[error("the .vsc was built for another version of profile {0}; rebuild it with the current profile")]
    ProfileVersion(String),
    /// A job without a password envelope.
    #[error("no password envelope: seal the password for at least one approved station of branch {branch}")]
    NoEnvelope {
        /// The job's branch.
        branch: String,
    },
    /// Two envelopes of one job for the same station.
    #[error("two envelopes for station {station}")]
    TwoEnvelopes {
        /// The station.
        station: String,
    },
    /// An envelope whose encapsulated key has the wrong length.
    #[error("envelope for station {station}: enc has {len} bytes, an X25519 HPKE encapsulated key has {KEY_LEN}")]
    EncLength {
        /// The station.
        station: String,
        /// The length given.
        len: usize,
    },
    /// An envelope whose ciphertext is empty, shorter than its tag, or too long.
    #[error("envelope for station {station}: the ciphertext has {len} bytes, expected {min} to {MAX_CIPHERTEXT}", min = TAG_LEN + 1)]
    CiphertextLength {
        /// The station.
        station: String,
        /// The length given.
        len: usize,
    },
    /// A batch with no job or too many.
    #[error("a batch holds 1 to {MAX_BATCH} jobs; this one has {0}")]
    BatchSize(usize),
    /// A job reported personalized whose read-back did not match.
    #[error(
        "a job is reported personalized only when the read-back matched; report it failed instead"
    )]
    NotReadBack,
    /// An ATR that is not 1 to 33 bytes in hex.
    #[error("atr must be the card's ATR in hex (2 to 33 bytes)")]
    Atr,
    /// A status word that is not 4 hex digits.
    #[error("status_word must be 4 hex digits, e.g. 6A82")]
    StatusWord,
}
