//! The one-method transport trait.
