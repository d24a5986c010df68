//! Holder data: validation of one record or a CSV batch against a profile.
