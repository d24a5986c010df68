//! VSC passwords.
