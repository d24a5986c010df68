//! APDU commands and responses (ISO 7816-4 §5).
