//! Signing in.

use serde::{Deserialize, Serialize};
use vsc_core::secret::SecretString;

/// The body of `POST /api/session`. Its one check, whether the user name can be an account
/// ([`crate::names::check_id`]), only decides what the audit log names.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The user name.
    pub username: String,
    /// The password.
    #[serde(with = "crate::fields::secret")]
    pub password: SecretString,
}
