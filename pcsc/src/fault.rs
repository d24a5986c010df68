//! [`Fault`]: what a failed PC/SC call means for the caller.

/// A failed PC/SC call, classified. Each variant keeps the [`pcsc::Error`] it came from, whose
/// text is the fault's `Display`, so a message can still name the exact error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// The PC/SC service (pcscd, the Smart Card service) is not running or stopped.
    #[error("{0}")]
    ServiceNotRunning(pcsc::Error),
    /// No reader by that name, or the reader went away.
    #[error("{0}")]
    UnknownReader(pcsc::Error),
    /// The reader holds no card.
    #[error("{0}")]
    NoCard(pcsc::Error),
    /// The card was removed or reset since it was connected.
    #[error("{0}")]
    CardRemoved(pcsc::Error),
    /// Another program holds the card (a sharing violation).
    #[error("{0}")]
    Busy(pcsc::Error),
    /// A card is there but does not answer: unpowered, mute, or not supported by the reader.
    #[error("{0}")]
    Unresponsive(pcsc::Error),
    /// Anything else, as PC/SC said it.
    #[error("{0}")]
    Other(pcsc::Error),
}

impl Fault {
    /// The PC/SC error this fault came from.
    pub fn error(&self) -> pcsc::Error {
        match *self {
            Fault::ServiceNotRunning(e)
            | Fault::UnknownReader(e)
            | Fault::NoCard(e)
            | Fault::CardRemoved(e)
            | Fault::Busy(e)
            | Fault::Unresponsive(e)
            | Fault::Other(e) => e,
        }
    }

    /// Whether, during an exchange with a connected card, this fault means the card left: it
    /// was pulled or reset, the reader holding it went away, or it lost its power.
    pub fn card_gone(&self) -> bool {
        matches!(
            self,
            Fault::NoCard(_)
                | Fault::CardRemoved(_)
                | Fault::UnknownReader(_)
                | Fault::Unresponsive(pcsc::Error::UnpoweredCard)
        )
    }
}

impl From<pcsc::Error> for Fault {
    fn from(error: pcsc::Error) -> Fault {
        use pcsc::Error as E;
        match error {
            E::NoService | E::ServiceStopped => Fault::ServiceNotRunning(error),
            E::UnknownReader | E::ReaderUnavailable => Fault::UnknownReader(error),
            E::NoSmartcard => Fault::NoCard(error),
            E::RemovedCard | E::ResetCard => Fault::CardRemoved(error),
            E::SharingViolation => Fault::Busy(error),
            E::UnpoweredCard | E::UnresponsiveCard | E::UnsupportedCard => {
                Fault::Unresponsive(error)
            }
            other => Fault::Other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;
    use pcsc::Error as E;

    /// The variant an error should land in.
    type Variant = fn(E) -> Fault;

    /// The whole classification table: each error the callers tell apart, and a few of the
    /// rest, which stay `Other`.
    #[test]
    fn classifies_every_error_the_callers_tell_apart() {
        let table: &[(E, Variant)] = &[
            (E::NoService, Fault::ServiceNotRunning),
            (E::ServiceStopped, Fault::ServiceNotRunning),
            (E::UnknownReader, Fault::UnknownReader),
            (E::ReaderUnavailable, Fault::UnknownReader),
            (E::NoSmartcard, Fault::NoCard),
            (E::RemovedCard, Fault::CardRemoved),
            (E::ResetCard, Fault::CardRemoved),
            (E::SharingViolation, Fault::Busy),
            (E::UnpoweredCard, Fault::Unresponsive),
            (E::UnresponsiveCard, Fault::Unresponsive),
            (E::UnsupportedCard, Fault::Unresponsive),
            (E::InvalidHandle, Fault::Other),
            (E::Timeout, Fault::Other),
            (E::CommError, Fault::Other),
            (E::NoReadersAvailable, Fault::Other),
        ];
        for &(error, expected) in table {
            let fault = Fault::from(error);
            assert_eq!(fault, expected(error), "{error:?}");
            assert_eq!(fault.error(), error);
            assert_eq!(fault.to_string(), error.to_string());
        }
    }

    #[test]
    fn card_gone_means_the_card_left_during_an_exchange() {
        for gone in [
            E::NoSmartcard,
            E::RemovedCard,
            E::ResetCard,
            E::UnknownReader,
            E::ReaderUnavailable,
            E::UnpoweredCard,
        ] {
            assert!(Fault::from(gone).card_gone(), "{gone:?}");
        }
        for there in [
            E::CommError,
            E::UnresponsiveCard,
            E::SharingViolation,
            E::NoService,
            E::Timeout,
        ] {
            assert!(!Fault::from(there).card_gone(), "{there:?}");
        }
    }
}
