//! Wakes event streams when events are written, on PostgreSQL, where
//! another replica may have written them: the events table's trigger sends
//! a NOTIFY with the sweep's id at commit (PostgreSQL baseline), and one
//! LISTEN connection per process, opened by the first stream, rings every
//! stream of that sweep. Notifications are lost while that connection is
//! down, so a stream also looks every `Bell::SLOW_POLL` (and everyone is
//! woken when the connection comes back); a stream never relies on the
//! bell for anything but latency.
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, OnceCell};

/// The channel the events trigger notifies.
const CHANNEL: &str = "hypersweep_events";

/// Rings for every sweep (after a reconnect, when notifications were lost).
const EVERY_SWEEP: i64 = 0;

/// The process's LISTEN connection, started on first use.
#[derive(Debug, Clone)]
pub struct Bell {
    url: Arc<str>,
    rings: Arc<OnceCell<broadcast::Sender<i64>>>,
}

/// A stream's side of the bell.
pub struct Ear {
    sweep_id: i64,
    rings: broadcast::Receiver<i64>,
}

impl Bell {
    /// How often a stream looks for events with no ring.
    pub const SLOW_POLL: Duration = Duration::from_secs(2);

    pub(super) fn new(url: &str) -> Bell {
        Bell {
            url: url.into(),
            rings: Arc::default(),
        }
    }

    /// Listens for the events of `sweep_id`.
    pub async fn ear(&self, sweep_id: i64) -> Ear {
        let rings = self
            .rings
            .get_or_init(|| async {
                let (tx, _) = broadcast::channel(1024);
                tokio::spawn(listen(self.url.clone(), tx.clone()));
                tx
            })
            .await;
        Ear {
            sweep_id,
            rings: rings.subscribe(),
        }
    }
}

impl Ear {
    /// Waits until the sweep may have new events: its bell rang, rings
    /// were missed, or `Bell::SLOW_POLL` passed.
    pub async fn wait(&mut self) {
        let rang = async {
            loop {
                match self.rings.recv().await {
                    Ok(id) if id == self.sweep_id || id == EVERY_SWEEP => return,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        let _ = tokio::time::timeout(Bell::SLOW_POLL, rang).await;
    }
}

/// Rings `tx` with each notified sweep id, for as long as anyone listens;
/// reconnects when the connection is lost, then rings every sweep.
async fn listen(url: Arc<str>, tx: broadcast::Sender<i64>) {
    let mut warned = false;
    loop {
        let listener = async {
            let mut l = PgListener::connect(&url).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = match listener.await {
            Ok(l) => l,
            Err(e) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!("event streams fall back to polling: {e}");
                }
                tokio::time::sleep(Bell::SLOW_POLL).await;
                continue;
            }
        };
        warned = false;
        // Whatever was written while no one listened.
        let _ = tx.send(EVERY_SWEEP);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if let Ok(id) = n.payload().parse::<i64>() {
                        let _ = tx.send(id);
                    }
                }
                Ok(None) => {
                    let _ = tx.send(EVERY_SWEEP);
                }
                Err(e) => {
                    tracing::warn!("event streams' LISTEN connection: {e}; reconnecting");
                    break;
                }
            }
        }
    }
}
