//! Card agents.
