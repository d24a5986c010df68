//! The bridge's shared state: configuration, the reader backend, sessions, pairing, the
//! station key, and the reader watcher that turns backend notifications into `readers_changed`
//! and `card_removed` events.

use crate::backend::Backend;
use crate::origin::HandshakePolicy;
use crate::pairing::Pairing;
use crate::pairing_store::PairingStore;
use crate::sessions::{lock, ConnId, SessionEntry, Sessions};
use crate::station::Station;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify, Semaphore};
use vsc_core::protocol::{Event, ReaderInfo, SessionId};

/// How soon the reader watcher lists again after a listing failed.
pub const RELIST_FIRST: Duration = Duration::from_millis(500);
/// The longest the reader watcher waits to list again while listings keep failing.
pub const RELIST_MAX: Duration = Duration::from_secs(30);

/// What the operator configured.
#[derive(Debug, Clone)]
pub struct Config {
    /// Allowed origins (normalized), including trusted ones and the bridge's own when serving.
    pub allowed_origins: Vec<String>,
    /// Origins authenticated without pairing.
    pub trusted_origins: Vec<String>,
    /// The page's directory, when the bridge serves it.
    pub serve_dir: Option<PathBuf>,
    /// Where to write pairing codes, besides the console.
    pub pairing_code_file: Option<PathBuf>,
    /// Close a socket that sent nothing for this long.
    pub idle_timeout: Duration,
    /// At most this many WebSocket connections at once.
    pub max_sockets: usize,
    /// The port actually bound (for the `Host` check).
    pub port: u16,
    /// How long a pairing code stays valid.
    pub pairing_code_ttl: Duration,
}

/// Everything the connections share.
pub struct App {
    /// The configuration.
    pub config: Config,
    /// The readers.
    pub backend: Arc<dyn Backend>,
    /// Open sessions.
    pub sessions: Sessions,
    /// Pending pairing codes and attempt counters.
    pub pairing: Mutex<Pairing>,
    /// Paired tokens.
    pub store: PairingStore,
    /// `Host`/`Origin` rules.
    pub policy: HandshakePolicy,
    /// WebSocket connection slots.
    pub sockets: Arc<Semaphore>,
    /// `readers_changed` events (JSON) for every authenticated connection.
    pub readers_events: broadcast::Sender<Arc<str>>,
    /// The station key and the `open_envelope` budget.
    pub station: Station,
    next_conn: AtomicU64,
}

impl App {
    /// The shared state for one listening bridge.
    pub fn new(
        config: Config,
        backend: Arc<dyn Backend>,
        store: PairingStore,
        station: Station,
    ) -> Arc<App> {
        let policy = HandshakePolicy::new(config.port, config.allowed_origins.clone());
        let sockets = Arc::new(Semaphore::new(config.max_sockets));
        let (readers_events, _) = broadcast::channel(16);
        Arc::new(App {
            pairing: Mutex::new(Pairing::new(config.pairing_code_ttl)),
            config,
            backend,
            sessions: Sessions::default(),
            store,
            policy,
            sockets,
            readers_events,
            station,
            next_conn: AtomicU64::new(1),
        })
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `origin` was pre-trusted by the operator.
    pub fn is_trusted(&self, origin: &str) -> bool {
        self.config.trusted_origins.iter().any(|t| t == origin)
    }

    /// Ends a session already removed from the registry: resets the card on a blocking thread,
    /// then frees the reader.
    pub async fn end_session(&self, id: SessionId, entry: SessionEntry, why: &str) {
        let channel = Arc::clone(&entry.channel);
        let reset = tokio::task::spawn_blocking(move || {
            if let Some(channel) = lock(&channel).take() {
                channel.disconnect_reset();
            }
        })
        .await;
        if reset.is_err() {
            tracing::error!(session = id, "resetting the card failed unexpectedly");
        }
        self.sessions.release(&entry.reader);
        tracing::info!(session = id, reader = %entry.reader, conn = entry.conn, why, "session ended, card reset");
    }

    /// Ends every session of `conn` (its socket closed).
    pub async fn end_sessions_of(&self, conn: ConnId, why: &str) {
        for id in self.sessions.of_conn(conn) {
            if let Some(entry) = self.sessions.take(id, Some(conn)) {
                self.end_session(id, entry, why).await;
            }
        }
    }

    /// Ends every session (shutdown).
    pub async fn end_all_sessions(&self) {
        for (id, _) in self.sessions.all() {
            if let Some(entry) = self.sessions.take(id, None) {
                self.end_session(id, entry, "the bridge is stopping").await;
            }
        }
    }

    /// Reads the reader list on a blocking thread.
    pub async fn readers(&self) -> Result<Vec<ReaderInfo>, crate::backend::BackendError> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.readers())
            .await
            .unwrap_or_else(|_| {
                Err(crate::backend::BackendError::Service(
                    "the reader query crashed".into(),
                ))
            })
    }

    /// Watches the backend: broadcasts `readers_changed` when the list differs, and ends the
    /// sessions whose card is gone with a `card_removed` event to their owner. A listing that
    /// fails changes nothing (the watcher lists again after [`RELIST_FIRST`], doubling up to
    /// [`RELIST_MAX`]).
    pub async fn watch_readers(self: Arc<Self>) {
        let changed = Arc::new(Notify::new());
        self.backend.watch(Arc::clone(&changed));
        let mut last = self.readers().await.ok();
        // After a listing failed, how long until the watcher lists again unasked.
        let mut retry_in = RELIST_FIRST;
        loop {
            changed.notified().await;
            // Let a burst of PC/SC events settle into one snapshot.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let readers = match self.readers().await {
                Ok(readers) => readers,
                Err(e) => {
                    // A list that could not be read says nothing of the readers or of the
                    // cards in the sessions: ending them would reset cards mid-run on a
                    // passing PC/SC error, and pages would be told of no readers. A card
                    // really gone fails its session's next transmit; the watcher lists again
                    // soon, then less and less often.
                    tracing::warn!(%e, retry_in_ms = retry_in.as_millis() as u64, "cannot list readers after a change");
                    let again = Arc::clone(&changed);
                    tokio::spawn(async move {
                        tokio::time::sleep(retry_in).await;
                        again.notify_one();
                    });
                    retry_in = (retry_in * 2).min(RELIST_MAX);
                    continue;
                }
            };
            retry_in = RELIST_FIRST;
            for (id, reader) in self.sessions.all() {
                if readers.iter().any(|r| r.name == reader && r.card_present) {
                    continue;
                }
                if let Some(entry) = self.sessions.take(id, None) {
                    let _ = entry.events.send(Event::CardRemoved { session: id });
                    self.end_session(id, entry, "the card was removed").await;
                }
            }
            if last.as_ref() != Some(&readers) {
                tracing::info!(
                    readers = readers.len(),
                    with_card = readers.iter().filter(|r| r.card_present).count(),
                    "readers changed"
                );
                let json: Arc<str> = Event::ReadersChanged {
                    readers: readers.clone(),
                }
                .to_json()
                .into();
                let _ = self.readers_events.send(json);
                last = Some(readers);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendError, CardChannel};
    use crate::sim_backend::{SimBackend, SIM_READER};
    use std::sync::atomic::AtomicBool;
    use vsc_core::envelope::StationSecretKey;

    /// The simulated reader, whose listing fails while `fail` is set (as PC/SC's can for a
    /// moment), and whose changes the watcher hears of only when the test pokes it.
    #[derive(Default)]
    struct FlakyListing {
        sim: SimBackend,
        fail: AtomicBool,
        changed: Mutex<Option<Arc<Notify>>>,
    }

    impl FlakyListing {
        fn poke(&self) {
            if let Some(changed) = lock(&self.changed).as_ref() {
                changed.notify_one();
            }
        }
    }

    impl Backend for FlakyListing {
        fn readers(&self) -> Result<Vec<ReaderInfo>, BackendError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(BackendError::Service("listing failed".into()));
            }
            self.sim.readers()
        }

        fn connect(&self, reader: &str) -> Result<Box<dyn CardChannel>, BackendError> {
            self.sim.connect(reader)
        }

        fn watch(&self, changed: Arc<Notify>) {
            *lock(&self.changed) = Some(changed);
        }

        fn set_simulated_card(&self, present: bool) -> Option<()> {
            self.sim.set_simulated_card(present)
        }
    }

    #[tokio::test]
    async fn a_listing_that_fails_ends_no_session_and_a_removed_card_still_does() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(FlakyListing::default());
        let config = Config {
            allowed_origins: Vec::new(),
            trusted_origins: Vec::new(),
            serve_dir: None,
            pairing_code_file: None,
            idle_timeout: Duration::from_secs(60),
            max_sockets: 4,
            port: 1,
            pairing_code_ttl: Duration::from_secs(60),
        };
        let station = Station::new(
            dir.path().to_owned(),
            StationSecretKey::generate(&mut rand_core::OsRng),
            10,
        );
        let app = App::new(
            config,
            Arc::clone(&backend) as Arc<dyn Backend>,
            PairingStore::new(dir.path().to_owned()),
            station,
        );
        let mut broadcast = app.readers_events.subscribe();
        tokio::spawn(Arc::clone(&app).watch_readers());
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let id = app.sessions.insert(SessionEntry {
            reader: SIM_READER.to_owned(),
            conn: 1,
            channel: Arc::new(Mutex::new(Some(backend.connect(SIM_READER).unwrap()))),
            events,
        });
        let settle = || tokio::time::sleep(Duration::from_millis(200));
        settle().await;

        // A change is noticed, but the list cannot be read: the session stays, and the pages
        // are not told of an empty list.
        backend.fail.store(true, Ordering::SeqCst);
        backend.poke();
        settle().await;
        assert_eq!(app.sessions.all(), vec![(id, SIM_READER.to_owned())]);
        assert!(received.try_recv().is_err(), "no card_removed was sent");
        assert!(broadcast.try_recv().is_err(), "no readers_changed was sent");

        // The card leaves unheard while listing still fails; once listing works again, the
        // watcher lists by itself: the session ends, its owner told, the pages too.
        backend.set_simulated_card(false);
        settle().await;
        assert_eq!(app.sessions.all().len(), 1, "nothing is known yet");
        backend.fail.store(false, Ordering::SeqCst);
        tokio::time::sleep(RELIST_MAX.min(Duration::from_secs(3))).await;
        assert!(app.sessions.all().is_empty());
        assert_eq!(
            received.try_recv().unwrap(),
            Event::CardRemoved { session: id }
        );
        let told = broadcast.try_recv().expect("readers_changed");
        assert!(told.contains("\"card_present\":false"), "{told}");
    }
}
