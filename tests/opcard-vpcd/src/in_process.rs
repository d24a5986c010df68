//! opcard in the caller's process: the card and the framing of the vpcd runner, without the
//! reader, for tests that drive the personalization engine against it directly (a tear at
//! every APDU of a run: thousands of runs in seconds).
//!
//! The flash is passed in and out as state-file bytes ([`with_card`]), so a test can "pull"
//! the card at any APDU and start the next run from what the flash held at that moment.

use trussed::virt::{StorageConfig, StoreConfig};

use crate::flash::{Area, Flash};
use crate::framing::Framing;
use crate::platform;

/// opcard with its framing (chaining, GET RESPONSE, extended APDUs) as the reader serves it.
pub struct InProcessCard<'c> {
    card: opcard::Card<platform::Client<'c>>,
    framing: Framing,
}

impl InProcessCard<'_> {
    /// Answers one C-APDU: the R-APDU (data and status word).
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let card = &mut self.card;
        self.framing
            .transmit(apdu, |command, reply| card.handle(command, reply))
    }

    /// Power off and on: volatile state (PIN verification, a pending chain or response) is
    /// gone, the flash stays.
    pub fn power_cycle(&mut self) {
        self.card.reset();
        self.framing.reset();
    }
}

/// Runs `f` with opcard on the flash of a state file (`None`: a factory-new card). Returns
/// what `f` returned and the flash afterwards, as state-file bytes: what the card holds if
/// it is pulled now. An error when `state` is not an opcard-vpcd state file.
pub fn with_card<R>(
    state: Option<&[u8]>,
    f: impl FnOnce(&mut InProcessCard<'_>) -> R,
) -> Result<(R, Vec<u8>), String> {
    let (flash, factory_new) = match state {
        Some(bytes) => (Flash::from_state(bytes).map_err(|e| e.to_string())?, false),
        None => (Flash::erased(), true),
    };
    let result = platform::with_client(store_config(&flash, factory_new), |client| {
        let mut card = InProcessCard {
            card: opcard::Card::new(client, opcard::Options::default()),
            framing: Framing::new(None),
        };
        f(&mut card)
    });
    Ok((result, flash.to_state()))
}

/// trussed's stores over `flash`: its two persistent areas (formatted first on a factory-new
/// card) and a RAM volatile store.
pub(crate) fn store_config(flash: &Flash, factory_new: bool) -> StoreConfig<'static> {
    StoreConfig {
        internal: StorageConfig {
            storage: Box::new(flash.storage(Area::Internal)),
            format: factory_new,
        },
        external: StorageConfig {
            storage: Box::new(flash.storage(Area::External)),
            format: factory_new,
        },
        volatile: StorageConfig::ram(),
    }
}
