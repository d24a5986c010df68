//! The policy for account passwords (the service hashes them; this crate only checks them).

/// Shortest password accepted for an account.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (Argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password that is not acceptable for an account.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Too short.
    #[error("the password has {0} characters; use at least {MIN_PASSWORD_CHARS}")]
    TooShort(usize),
    /// Too long.
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

/// Checks the policy for a new password.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_explained() {
        assert_eq!(
            check_policy("short").unwrap_err().to_string(),
            "the password has 5 characters; use at least 12"
        );
        assert!(check_policy("a long enough password").is_ok());
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(check_policy(&long), Err(PasswordError::TooLong)));
        assert_eq!(check_policy(&"é".repeat(12)).ok(), Some(()));
    }
}
