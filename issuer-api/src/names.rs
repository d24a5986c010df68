//! Names the administrator gives: user names, branch ids and branch names.

use crate::BodyError;

/// Longest user name, branch id, branch name or station name.
pub const MAX_NAME: usize = 64;

/// Checks a user name or branch id (`what` says which): 1 to [`MAX_NAME`] of
/// `a-z A-Z 0-9 . _ -`.
pub fn check_id(what: &'static str, id: &str) -> Result<(), BodyError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_NAME
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(BodyError::InvalidId {
            what,
            id: id.to_owned(),
        })
    }
}

/// Checks a new branch: its id ([`check_id`]) and its name (not blank, at most [`MAX_NAME`]
/// characters as given; the service stores it trimmed).
pub fn check_branch(id: &str, name: &str) -> Result<(), BodyError> {
    check_id("branch id", id)?;
    if !name.trim().is_empty() && name.chars().count() <= MAX_NAME {
        Ok(())
    } else {
        Err(BodyError::BranchName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_take_letters_digits_and_three_marks_only() {
        assert!(check_id("user name", "ana.b_c-1").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(MAX_NAME + 1)] {
            let e = check_id("user name", bad).unwrap_err();
            assert!(e.to_string().starts_with("user name "), "{e}");
        }
        assert!(check_id("branch id", &"x".repeat(MAX_NAME)).is_ok());
    }

    #[test]
    fn branch_names_are_counted_in_characters_and_not_blank() {
        assert!(check_branch("b1", "  Main street  ").is_ok());
        let padded = format!(" {} ", "x".repeat(MAX_NAME - 1));
        assert!(matches!(
            check_branch("b1", &padded),
            Err(BodyError::BranchName)
        ));
        assert!(check_branch("b1", &"é".repeat(MAX_NAME)).is_ok());
        assert!(matches!(
            check_branch("b1", &"é".repeat(MAX_NAME + 1)),
            Err(BodyError::BranchName)
        ));
        assert!(matches!(
            check_branch("b1", "   "),
            Err(BodyError::BranchName)
        ));
        assert!(matches!(
            check_branch("b 1", "x"),
            Err(BodyError::InvalidId {
                what: "branch id",
                ..
            })
        ));
    }
}
