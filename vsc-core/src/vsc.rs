//! The virtual smart card model and builder.
