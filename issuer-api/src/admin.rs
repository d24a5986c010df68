//! The administrator's bodies: user accounts, branches and settings.

use serde::{Deserialize, Serialize};
use vsc_core::job::Role;
use vsc_core::secret::SecretString;

use crate::names::{check_branch, check_id};
use crate::password::check_policy;
use crate::BodyError;

/// Checks a new account without the database: its name, its password against the policy, and
/// that an operator has a branch and no other role has one (whether the branch exists is the
/// service's to check).
pub fn check_account(
    name: &str,
    role: Role,
    branch: Option<&str>,
    password: &SecretString,
) -> Result<(), BodyError> {
    check_id("user name", name)?;
    check_policy(password.expose())?;
    match (role, branch) {
        (Role::Operator, None) => Err(BodyError::OperatorWithoutBranch),
        (Role::Operator, Some(_)) | (_, None) => Ok(()),
        (role, Some(_)) => Err(BodyError::BranchForRole(role)),
    }
}

/// The body of `POST /api/users`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The user name.
    pub name: String,
    /// The role's name.
    pub role: String,
    /// The branch (operators only, and required for them).
    #[serde(default)]
    pub branch: Option<String>,
    /// The password.
    #[serde(with = "crate::fields::secret")]
    pub password: SecretString,
}

impl CreateUser {
    /// The role named.
    pub fn role(&self) -> Result<Role, BodyError> {
        Ok(self.role.parse()?)
    }

    /// Every check of the body that needs no database: the role, then [`check_account`].
    pub fn check(&self) -> Result<Role, BodyError> {
        let role = self.role()?;
        check_account(&self.name, role, self.branch.as_deref(), &self.password)?;
        Ok(role)
    }
}

/// The body of `PATCH /api/users/{name}`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    /// Disable (true) or enable (false) the account.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password.
    #[serde(default, with = "crate::fields::secret_opt")]
    pub password: Option<SecretString>,
    /// Clear the failed sign-ins and the lock.
    #[serde(default)]
    pub unlock: bool,
}

impl ChangeUser {
    /// Checks that the body changes something, and a new password against the policy.
    pub fn check(&self) -> Result<(), BodyError> {
        if self.disabled.is_none() && self.password.is_none() && !self.unlock {
            return Err(BodyError::NothingToChange);
        }
        if let Some(password) = &self.password {
            check_policy(password.expose())?;
        }
        Ok(())
    }
}

/// The body of `POST /api/branches`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    /// The branch id.
    pub id: String,
    /// Its name (stored trimmed).
    pub name: String,
}

impl CreateBranch {
    /// Checks the id and the name ([`check_branch`]).
    pub fn check(&self) -> Result<(), BodyError> {
        check_branch(&self.id, &self.name)
    }
}

/// The body of `PATCH /api/settings`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSettings {
    /// Whether an upload needs a second person's approval.
    pub four_eyes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::new(text.into())
    }

    #[test]
    fn only_operators_have_a_branch_and_they_must() {
        let pw = secret("a long enough password");
        assert!(check_account("op1", Role::Operator, Some("b1"), &pw).is_ok());
        assert!(check_account("ad1", Role::Admin, None, &pw).is_ok());
        assert_eq!(
            check_account("op1", Role::Operator, None, &pw)
                .unwrap_err()
                .to_string(),
            "an operator works at one branch: give its branch"
        );
        assert!(matches!(
            check_account("ad1", Role::Admin, Some("b1"), &pw),
            Err(BodyError::BranchForRole(Role::Admin))
        ));
        assert!(matches!(
            check_account("ad1", Role::Admin, None, &secret("short")),
            Err(BodyError::Password(_))
        ));
    }

    #[test]
    fn a_user_body_names_a_known_role() {
        let body: CreateUser = serde_json::from_str(
            r#"{"name":"c1","role":"clerk","password":"a long enough password"}"#,
        )
        .unwrap();
        assert_eq!(body.check().unwrap(), Role::Clerk);
        let body = CreateUser {
            role: "king".into(),
            ..body
        };
        assert!(body.check().unwrap_err().to_string().contains("\"king\""));
        assert!(serde_json::from_str::<CreateUser>(
            r#"{"name":"c1","role":"clerk","password":"a long enough password","x":1}"#
        )
        .is_err());
    }

    #[test]
    fn a_change_changes_something() {
        let none: ChangeUser = serde_json::from_str("{}").unwrap();
        assert!(matches!(none.check(), Err(BodyError::NothingToChange)));
        let unlock: ChangeUser = serde_json::from_str(r#"{"unlock":true}"#).unwrap();
        assert!(unlock.check().is_ok());
        let short: ChangeUser = serde_json::from_str(r#"{"password":"short"}"#).unwrap();
        assert!(matches!(short.check(), Err(BodyError::Password(_))));
    }
}
