//! The sealed VSC container.
