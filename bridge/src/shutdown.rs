//! Waiting for the operator or the system to ask the bridge to stop, per platform.
//!
//! - Unix: SIGINT (Ctrl-C) and SIGTERM (`kill`, `systemctl stop`, logout).
//! - Windows: Ctrl-C and Ctrl-Break in the console, the console window being closed, and the
//!   log-off and shutdown notifications (Windows gives a closing console about 5 seconds).
//!
//! Either way the bridge then resets the cards of open sessions and exits.

/// Resolves when the bridge is asked to stop.
pub async fn requested() {
    imp::requested().await;
}

#[cfg(unix)]
mod imp {
    use tokio::signal::unix::{signal, SignalKind};

    pub async fn requested() {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
}

#[cfg(windows)]
mod imp {
    use tokio::signal::windows;

    /// Resolves on the first event of the listener `$make()` creates; never if it cannot be
    /// installed (the other listeners still work).
    macro_rules! first_event {
        ($make:path) => {
            async {
                match $make() {
                    Ok(mut listener) => {
                        listener.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            }
        };
    }

    pub async fn requested() {
        tokio::select! {
            () = first_event!(windows::ctrl_c) => {}
            () = first_event!(windows::ctrl_break) => {}
            () = first_event!(windows::ctrl_close) => {}
            () = first_event!(windows::ctrl_logoff) => {}
            () = first_event!(windows::ctrl_shutdown) => {}
        }
    }
}
