//! The trussed backends opcard's client needs beside trussed's core: trussed-auth (PIN and
//! resetting code storage, retry counters) and trussed-staging's key wrapping to files and
//! chunked file I/O. Core requests (keys, signatures, files) go to trussed's core backend.

use trussed::backend::{Backend as _, BackendId};
use trussed::platform::Platform;
use trussed::serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl};
use trussed::service::ServiceResources;
use trussed::types::Context;
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::api::{reply, request, Reply, Request};
use trussed_core::types::Location;
use trussed_core::Error;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// The custom backends, in the order a request tries them (the core backend last).
pub const BACKENDS: &[BackendId<Backend>] = &[
    BackendId::Custom(Backend::Staging),
    BackendId::Custom(Backend::Auth),
    BackendId::Core,
];

/// A custom backend.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// trussed-auth-backend.
    Auth,
    /// trussed-staging.
    Staging,
}

/// An extension opcard's client calls; the numbers are this dispatch's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    /// trussed-auth.
    Auth,
    /// Wrap a key into a file, unwrap it from one.
    WrapKeyToFile,
    /// Read and write files in chunks.
    Chunked,
}

impl From<Extension> for u8 {
    fn from(extension: Extension) -> u8 {
        match extension {
            Extension::Auth => 1,
            Extension::WrapKeyToFile => 2,
            Extension::Chunked => 3,
        }
    }
}

impl TryFrom<u8> for Extension {
    type Error = Error;

    fn try_from(id: u8) -> Result<Extension, Error> {
        [
            Extension::Auth,
            Extension::WrapKeyToFile,
            Extension::Chunked,
        ]
        .into_iter()
        .find(|extension| u8::from(*extension) == id)
        .ok_or(Error::InternalError)
    }
}

/// The dispatch of opcard's client: the auth and staging backends.
#[derive(Debug)]
pub struct Dispatch {
    auth: AuthBackend,
    staging: StagingBackend,
}

/// Per-client state of the backends.
#[derive(Default)]
pub struct DispatchContext {
    auth: AuthContext,
    staging: StagingContext,
}

impl Dispatch {
    /// PINs in the internal storage, without a hardware-bound key: the state file alone makes
    /// the card (a token would mix a device secret in).
    pub fn new() -> Dispatch {
        Dispatch {
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V0),
            staging: StagingBackend::new(),
        }
    }
}

impl ExtensionDispatch for Dispatch {
    type BackendId = Backend;
    type Context = DispatchContext;
    type ExtensionId = Extension;

    fn core_request<P: Platform>(
        &mut self,
        backend: &Backend,
        ctx: &mut Context<DispatchContext>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            Backend::Auth => {
                self.auth
                    .request(&mut ctx.core, &mut ctx.backends.auth, request, resources)
            }
            Backend::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
        }
    }

    fn extension_request<P: Platform>(
        &mut self,
        backend: &Backend,
        extension: &Extension,
        ctx: &mut Context<DispatchContext>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let core = &mut ctx.core;
        match (backend, extension) {
            (Backend::Auth, Extension::Auth) => {
                <AuthBackend as ExtensionImpl<AuthExtension>>::extension_request_serialized(
                    &mut self.auth,
                    core,
                    &mut ctx.backends.auth,
                    request,
                    resources,
                )
            }
            (Backend::Staging, Extension::WrapKeyToFile) => <StagingBackend as ExtensionImpl<
                WrapKeyToFileExtension,
            >>::extension_request_serialized(
                &mut self.staging,
                core,
                &mut ctx.backends.staging,
                request,
                resources,
            ),
            (Backend::Staging, Extension::Chunked) => {
                <StagingBackend as ExtensionImpl<ChunkedExtension>>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

impl ExtensionId<AuthExtension> for Dispatch {
    type Id = Extension;
    const ID: Extension = Extension::Auth;
}

impl ExtensionId<WrapKeyToFileExtension> for Dispatch {
    type Id = Extension;
    const ID: Extension = Extension::WrapKeyToFile;
}

impl ExtensionId<ChunkedExtension> for Dispatch {
    type Id = Extension;
    const ID: Extension = Extension::Chunked;
}

#[cfg(test)]
mod tests {
    use super::Extension;

    #[test]
    fn extension_ids_round_trip_and_unknown_ids_are_errors() {
        for extension in [
            Extension::Auth,
            Extension::WrapKeyToFile,
            Extension::Chunked,
        ] {
            assert_eq!(Extension::try_from(u8::from(extension)), Ok(extension));
        }
        assert!(Extension::try_from(0).is_err());
        assert!(Extension::try_from(4).is_err());
    }
}
