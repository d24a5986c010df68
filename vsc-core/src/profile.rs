//! Card profiles.
