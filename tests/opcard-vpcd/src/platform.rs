//! opcard's trussed client on trussed's software ("virt") platform, with a service thread that
//! wakes on each syscall.
//!
//! trussed's own virt runner has its service thread poll for syscalls every millisecond while
//! the client spins waiting for the reply: an APDU of a dozen syscalls took about 8 ms. Here the
//! service thread blocks on a channel the client's syscall sends to, so a syscall costs what
//! its work costs.

use std::sync::mpsc::{self, Sender};
use std::thread;

use trussed::pipe::{ServiceEndpoint, TrussedChannel};
use trussed::platform::Syscall;
use trussed::service::Service;
use trussed::types::CoreContext;
use trussed::virt::{self, StoreConfig};
use trussed::ClientImplementation;

use crate::dispatch::{Dispatch, BACKENDS};

/// The client opcard runs on.
pub type Client<'a> = ClientImplementation<'a, Wake, Dispatch>;

/// The trussed client id (its files live under this directory).
const CLIENT_ID: &str = "opcard";

/// A syscall: wakes the service thread.
pub struct Wake(Sender<()>);

impl Syscall for Wake {
    fn syscall(&mut self) {
        // The service thread outlives every client (see `with_client`): a send cannot fail.
        let _ = self.0.send(());
    }
}

/// Runs `f` with a client of a trussed service over `store`; the service stops when `f`
/// returns (and drops the client).
pub fn with_client<R>(store: StoreConfig<'_>, f: impl FnOnce(Client<'_>) -> R) -> R {
    virt::with_platform(store, |platform| {
        let channel = TrussedChannel::new();
        let (requester, responder) = channel
            .split()
            .expect("a new channel splits into requester and responder");
        let client_id =
            littlefs2::path::PathBuf::try_from(CLIENT_ID).expect("the client id is a valid path");
        let mut endpoints = [ServiceEndpoint::new(
            responder,
            CoreContext::new(client_id),
            BACKENDS,
        )];
        let mut service = Service::with_dispatch(platform, Dispatch::new());
        let (wake, woken) = mpsc::channel::<()>();
        thread::scope(|scope| {
            scope.spawn(move || {
                // Ends when the client, and with it the last sender, is dropped.
                while woken.recv().is_ok() {
                    service.process(&mut endpoints);
                }
            });
            f(ClientImplementation::new(requester, Wake(wake), None))
        })
    })
}
