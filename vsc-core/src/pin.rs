//! Individual PINs and PIN mailer data.
