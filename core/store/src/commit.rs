//! Group commit: callers that need durability enqueue a waiter; one task drains every waiter
//! present, performs a single flush off the async workers, and answers them all. Requests
//! arriving during a flush form the next batch, so N concurrent writers cost ~2 flushes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::{Backend, StoreError, monotonic};

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// Handle to the group-commit task.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Waiter>,
    flushes: Arc<AtomicU64>,
}

/// Scheduler turns the commit task gives other tasks before it closes a batch.
const YIELDS: usize = 4;

impl GroupCommit {
    /// Starts the task for `store` on the current tokio runtime. The task holds the store
    /// weakly, so dropping the last `Db` closes the store (and releases sled's lock) at once.
    pub fn start(store: &Arc<dyn Backend>, latency: prometheus_client::metrics::histogram::Histogram) -> Self {
        let store: Weak<dyn Backend> = Arc::downgrade(store);
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = flushes.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                // Let the requests that are ready to run reach their commit point first, so one
                // flush covers them too (free when nothing else is runnable).
                for _ in 0..YIELDS {
                    tokio::task::yield_now().await;
                }
                while let Ok(next) = rx.try_recv() {
                    batch.push(next);
                }
                let result = match store.upgrade() {
                    Some(s) => {
                        let started = monotonic();
                        let r = s.flush().await;
                        latency.observe(started.elapsed().as_secs_f64());
                        r
                    }
                    None => Err(StoreError::Io("the store is closed".into())),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = &result {
                    tracing::error!(error = %e, "store flush failed");
                }
                for waiter in batch {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        Self { tx, flushes }
    }

    /// Resolves once every write issued before the call is durable.
    pub async fn commit(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| StoreError::Io("group commit task stopped".into()))?;
        rx.await.map_err(|_| StoreError::Io("group commit task stopped".into()))?
    }

    /// Number of flushes performed so far.
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}
