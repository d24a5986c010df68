//! The readers the PC/SC service knows, their states, and waiting for those to change.

use std::ffi::CString;
use std::time::Duration;

use pcsc::{Context, ReaderState, State};

use crate::Fault;

/// The readers the service knows, by name (`SCardListReaders`); none is an empty list.
pub fn reader_names(context: &Context) -> Result<Vec<CString>, Fault> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// A [`ReaderState`] for `reader` that knows nothing yet, to hand to [`wait_for_change`]; a
/// name with a NUL byte is [`Fault::UnknownReader`].
pub fn reader_state(reader: &str) -> Result<ReaderState, Fault> {
    let name =
        CString::new(reader).map_err(|_| Fault::UnknownReader(pcsc::Error::UnknownReader))?;
    Ok(ReaderState::new(name, State::UNAWARE))
}

/// Waits up to `timeout` until one of `states` differs from what its current state says
/// (`SCardGetStatusChange`): `true` when one changed (each event state is then in `states`),
/// `false` when the time ran out. A zero timeout reads the states at once.
pub fn wait_for_change(
    context: &Context,
    states: &mut [ReaderState],
    timeout: Duration,
) -> Result<bool, Fault> {
    match context.get_status_change(timeout, states) {
        Ok(()) => Ok(true),
        Err(pcsc::Error::Timeout) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The state of `names` now, in that order. A reader that went away since it was listed makes
/// the whole call [`Fault::UnknownReader`]; list again.
pub fn reader_statuses(context: &Context, names: &[CString]) -> Result<Vec<ReaderStatus>, Fault> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut states: Vec<ReaderState> = names
        .iter()
        .map(|name| ReaderState::new(name.clone(), State::UNAWARE))
        .collect();
    wait_for_change(context, &mut states, Duration::ZERO)?;
    Ok(states.iter().map(ReaderStatus::from).collect())
}

/// One reader's state as the service reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    /// The reader's name (lossily decoded where it is not UTF-8).
    pub name: String,
    /// The ATR of the card in it, empty when there is none.
    pub atr: Vec<u8>,
    state: State,
}

impl ReaderStatus {
    /// Whether a card is in the reader (it may still be mute: see [`ReaderStatus::mute`]).
    pub fn card_present(&self) -> bool {
        self.state.contains(State::PRESENT)
    }

    /// Whether the reader says it is empty.
    pub fn empty(&self) -> bool {
        self.state.contains(State::EMPTY)
    }

    /// Whether the card in the reader does not answer its reset.
    pub fn mute(&self) -> bool {
        self.state.contains(State::MUTE)
    }

    /// Whether another program has connected to the card (exclusively or shared).
    pub fn in_use(&self) -> bool {
        self.state.intersects(State::EXCLUSIVE | State::INUSE)
    }

    /// Whether the service knows this reader and reports on it (not unknown, not ignored).
    pub fn known(&self) -> bool {
        !self.state.intersects(State::UNKNOWN | State::IGNORE)
    }
}

impl From<&ReaderState> for ReaderStatus {
    fn from(state: &ReaderState) -> ReaderStatus {
        ReaderStatus {
            name: state.name().to_string_lossy().into_owned(),
            atr: state.atr().to_vec(),
            state: state.event_state(),
        }
    }
}
