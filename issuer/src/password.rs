//! Account passwords (Argon2id hashes in PHC format), generated passwords, and session tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use vsc_core::secret::SecretString;

/// The Argon2id hash (PHC string) of `password`, with a fresh salt. Slow on purpose: call it
/// off the async runtime.
pub fn hash(password: &SecretString) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_else(|e| panic!("Argon2id with default parameters failed: {e}"))
}

/// Whether `password` matches the PHC `stored` hash (false for a malformed hash). Slow on
/// purpose: call it off the async runtime.
pub fn verify(password: &SecretString, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

/// Hashes or verifications running at once: each takes 19 MiB and a core for tens of
/// milliseconds, so a burst of sign-ins waits here instead of exhausting memory.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

/// [`hash`], off the async runtime, at most a few at once. `None` if the runtime is
/// shutting down.
pub async fn hash_async(password: SecretString) -> Option<String> {
    let _permit = argon2_permits().acquire().await.ok()?;
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .ok()
}

/// [`verify`] against `stored` (or the decoy when `None`), off the async runtime, at most a
/// few at once. `None` if the runtime is shutting down.
pub async fn verify_async(password: SecretString, stored: Option<String>) -> Option<bool> {
    let _permit = argon2_permits().acquire().await.ok()?;
    tokio::task::spawn_blocking(move || {
        verify(&password, stored.as_deref().unwrap_or_else(|| decoy_hash()))
    })
    .await
    .ok()
}

/// A hash to verify against when the user does not exist, so that the answer takes as long.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&SecretString::new(random_token())))
}

/// A generated password: 20 characters from an alphabet without look-alikes (about 115 bits).
pub fn generate() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    let mut byte = [0u8; 1];
    while out.len() < 20 {
        getrandom::getrandom(&mut byte)
            .unwrap_or_else(|e| panic!("the operating system's random source failed: {e}"));
        // Rejection sampling keeps the choice uniform.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    SecretString::new(out)
}

/// A fresh session token: 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .unwrap_or_else(|e| panic!("the operating system's random source failed: {e}"));
    hex::encode(bytes)
}

/// What the database stores for a session token: its SHA-256 (a copy of the database does not
/// give working sessions).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_policy_is_explained() {
        let pw = generate();
        assert_eq!(pw.expose().chars().count(), 20);
        let stored = hash(&pw);
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify(&pw, &stored));
        assert!(!verify(&SecretString::new("wrong".into()), &stored));
        assert!(!verify(&pw, "not a hash"));
        assert_ne!(random_token(), random_token());
    }
}
