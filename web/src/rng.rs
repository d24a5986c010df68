//! Operating-system randomness fetched in blocks, for batch building in the browser.
//!
//! In wasm every `OsRng` call crosses into JavaScript (`crypto.getRandomValues`), and building
//! one VSC asks for randomness a few dozen times (password characters, UID, keys, reset code,
//! salt, nonce). [`BlockOsRng`] asks the OS for 4 KiB at once and hands the bytes out in
//! order: every byte still comes from the OS CSPRNG, none is used twice (each is zeroed as it
//! is handed out), and what is left is wiped on drop.
//!
//! What it does not do: stretch or derive randomness (no user-space generator).

use rand_core::{CryptoRng, Error, OsRng, RngCore};
use zeroize::Zeroizing;

/// Bytes fetched from the OS per refill.
const BLOCK: usize = 4096;

/// OS randomness served from a zeroizing block (see the module docs).
pub struct BlockOsRng {
    block: Zeroizing<Vec<u8>>,
    next: usize,
}

impl BlockOsRng {
    /// An empty generator; the first request fetches a block.
    pub fn new() -> Self {
        Self {
            block: Zeroizing::new(vec![0; BLOCK]),
            next: BLOCK,
        }
    }
}

impl std::fmt::Debug for BlockOsRng {
    /// Redacted: the unread bytes are future keys and passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockOsRng(<{} bytes left>)", BLOCK - self.next)
    }
}

impl Default for BlockOsRng {
    fn default() -> Self {
        Self::new()
    }
}

impl RngCore for BlockOsRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(error) = self.try_fill_bytes(dest) {
            panic!("the operating system's random number generator failed: {error}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        let mut filled = 0;
        while filled < dest.len() {
            if self.next == BLOCK {
                OsRng.try_fill_bytes(&mut self.block)?;
                self.next = 0;
            }
            let take = (dest.len() - filled).min(BLOCK - self.next);
            let source = &mut self.block[self.next..self.next + take];
            dest[filled..filled + take].copy_from_slice(source);
            source.fill(0);
            self.next += take;
            filled += take;
        }
        Ok(())
    }
}

impl CryptoRng for BlockOsRng {}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn hands_out_each_byte_once_across_refills() {
        let mut rng = BlockOsRng::new();
        let mut a = vec![0u8; BLOCK - 10];
        rng.fill_bytes(&mut a);
        assert!(
            rng.block[..BLOCK - 10].iter().all(|&b| b == 0),
            "used bytes are wiped"
        );
        let mut b = vec![0u8; 100];
        rng.fill_bytes(&mut b);
        assert_eq!(rng.next, 90);
        // 100 random bytes being all zero would mean the block was not refilled.
        assert!(b.iter().any(|&x| x != 0));
        assert_ne!(rng.next_u64(), rng.next_u64());
    }

    #[test]
    fn debug_shows_no_bytes() {
        let mut rng = BlockOsRng::new();
        rng.next_u32();
        assert_eq!(format!("{rng:?}"), "BlockOsRng(<4092 bytes left>)");
    }
}
