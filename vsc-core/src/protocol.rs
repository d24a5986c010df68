//! The bridge wire types.
