//! The open card sessions and the readers they hold: one session per reader, owned by one
//! connection (bridge protocol, `connect`: exclusive). A reader is reserved before the blocking
//! connect starts and released only after the card has been reset, so no client can slip in
//! between and find a verified PIN.

use crate::backend::CardChannel;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::UnboundedSender;
use vsc_core::protocol::{Event, SessionId};

/// A connection's id (for ownership checks and logs).
pub type ConnId = u64;

/// The card channel of a session; `None` once it has been disconnected.
pub type SharedChannel = Arc<Mutex<Option<Box<dyn CardChannel>>>>;

/// One open session.
pub struct SessionEntry {
    /// The reader it holds.
    pub reader: String,
    /// The connection that opened it.
    pub conn: ConnId,
    /// The card.
    pub channel: SharedChannel,
    /// Where to send the owner's events (`card_removed`).
    pub events: UnboundedSender<Event>,
}

#[derive(Default)]
struct Inner {
    reserved: HashMap<String, ConnId>,
    sessions: HashMap<SessionId, SessionEntry>,
    next: SessionId,
}

/// All sessions of the bridge.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

/// Locks a mutex, recovering from poisoning (the data stays consistent: every critical section
/// here is a few map operations).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    /// Reserves `reader` for `conn`; `false` when it is already held.
    pub fn reserve(&self, reader: &str, conn: ConnId) -> bool {
        let mut inner = lock(&self.inner);
        if inner.reserved.contains_key(reader) {
            return false;
        }
        inner.reserved.insert(reader.to_owned(), conn);
        true
    }

    /// Releases `reader` (after its card was reset, or when the connect failed).
    pub fn release(&self, reader: &str) {
        lock(&self.inner).reserved.remove(reader);
    }

    /// Records an opened session and returns its id.
    pub fn insert(&self, entry: SessionEntry) -> SessionId {
        let mut inner = lock(&self.inner);
        let id = loop {
            inner.next = inner.next.wrapping_add(1);
            if inner.next != 0 && !inner.sessions.contains_key(&inner.next) {
                break inner.next;
            }
        };
        inner.sessions.insert(id, entry);
        id
    }

    /// The channel and reader of session `id` if `conn` owns it.
    pub fn get(&self, id: SessionId, conn: ConnId) -> Option<(SharedChannel, String)> {
        let inner = lock(&self.inner);
        let entry = inner.sessions.get(&id).filter(|e| e.conn == conn)?;
        Some((Arc::clone(&entry.channel), entry.reader.clone()))
    }

    /// Removes session `id` (if `conn` is given, only when it owns it).
    pub fn take(&self, id: SessionId, conn: Option<ConnId>) -> Option<SessionEntry> {
        let mut inner = lock(&self.inner);
        if conn.is_some_and(|c| inner.sessions.get(&id).is_some_and(|e| e.conn != c)) {
            return None;
        }
        inner.sessions.remove(&id)
    }

    /// The sessions `conn` owns.
    pub fn of_conn(&self, conn: ConnId) -> Vec<SessionId> {
        lock(&self.inner)
            .sessions
            .iter()
            .filter(|(_, e)| e.conn == conn)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every session with its reader.
    pub fn all(&self) -> Vec<(SessionId, String)> {
        lock(&self.inner)
            .sessions
            .iter()
            .map(|(id, e)| (*id, e.reader.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_are_exclusive_and_sessions_owned() {
        let sessions = Sessions::default();
        assert!(sessions.reserve("r", 1));
        assert!(!sessions.reserve("r", 2));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let id = sessions.insert(SessionEntry {
            reader: "r".into(),
            conn: 1,
            channel: Arc::new(Mutex::new(None)),
            events: tx,
        });
        assert!(
            sessions.get(id, 2).is_none(),
            "another connection cannot use it"
        );
        assert!(sessions.take(id, Some(2)).is_none());
        assert_eq!(sessions.get(id, 1).unwrap().1, "r");
        assert_eq!(sessions.of_conn(1), vec![id]);
        assert!(sessions.take(id, Some(1)).is_some());
        assert!(sessions.take(id, None).is_none());
        sessions.release("r");
        assert!(sessions.reserve("r", 2));
    }
}
