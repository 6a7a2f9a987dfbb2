//! The audit writer: callers send events; one task per server assigns sequence numbers,
//! chains hashes, appends each batch in one store write, and (when any caller waits for
//! durability) joins the group commit before answering. Instances sharing a store share one
//! chain: the store appends a batch only right after its head, so when another instance
//! appended first the batch is chained again after the new head and retried.

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::chain::{AuditRecord, GENESIS};
use super::{Actor, AuditEvent, unix_ms};
use crate::store::{Db, StoreError};

/// How long stateless events may gather before they are written (well inside one commit window).
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

fn drain(rx: &mut mpsc::UnboundedReceiver<Entry>, batch: &mut Vec<Entry>) {
    while let Ok(next) = rx.try_recv() {
        batch.push(next);
    }
}

/// Chains `events` after `head` = (seq, hash); returns the records and the new head.
fn chained(head: (u64, String), events: Vec<(Actor, AuditEvent, i64)>) -> (Vec<AuditRecord>, (u64, String)) {
    let (mut seq, mut prev) = head;
    let records: Vec<AuditRecord> = events
        .into_iter()
        .map(|(actor, event, time_ms)| {
            seq += 1;
            let r = AuditRecord::next(seq, time_ms, actor, event, &prev);
            prev.clone_from(&r.hash);
            r
        })
        .collect();
    (records, (seq, prev))
}

/// How often a batch is chained again when other instances keep appending first.
const APPEND_ATTEMPTS: usize = 50;

/// The stored chain's head: the last record, or where retention cut the log, or genesis.
async fn stored_head(db: &Db) -> Result<(u64, String), StoreError> {
    if let Some(r) = db.audit().last_audit_record().await? {
        return Ok((r.seq, r.hash));
    }
    Ok(db.audit().audit_start().await?.map_or((0, GENESIS.to_owned()), |s| (s.truncated_through, s.last_hash)))
}

/// Chains `events` after `head` and appends them; on a conflict (another instance moved the
/// head) reads the head again and retries. Returns the new head.
async fn append(
    db: &Db,
    mut head: (u64, String),
    events: Vec<(Actor, AuditEvent, i64)>,
) -> Result<(u64, String), StoreError> {
    for attempt in 0..APPEND_ATTEMPTS {
        if attempt > 0 {
            head = stored_head(db).await?;
        }
        // Chaining and hashing run off the async workers.
        let (start, batch) = (head.clone(), events.clone());
        let (records, new_head) = tokio::task::spawn_blocking(move || chained(start, batch))
            .await
            .map_err(|e| StoreError::Io(format!("audit chaining task failed: {e}")))?;
        match db.audit().append_audit(&records).await {
            Ok(()) => return Ok(new_head),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict("an audit head that kept moving".into()))
}

struct Entry {
    actor: Actor,
    event: AuditEvent,
    time_ms: i64,
    done: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// Handle to the writer task (cheap to clone).
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<Entry>,
}

impl AuditLog {
    /// Starts the writer after the last stored record.
    pub async fn start(db: &Db) -> Result<Self, StoreError> {
        let mut head = stored_head(db).await?;
        // Held weakly: the store closes (and releases its lock) when the server's handles go.
        let weak = db.downgrade();
        let (tx, mut rx) = mpsc::unbounded_channel::<Entry>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                drain(&mut rx, &mut batch);
                if batch.iter().all(|e| e.done.is_none()) {
                    // Nobody waits: let stateless events gather so one write carries many.
                    tokio::time::sleep(BATCH_WINDOW).await;
                    drain(&mut rx, &mut batch);
                }
                let mut waiters = Vec::new();
                let events: Vec<_> = batch
                    .into_iter()
                    .map(|e| {
                        waiters.extend(e.done);
                        (e.actor, e.event, e.time_ms)
                    })
                    .collect();
                let count = events.len();
                let result = match weak.upgrade() {
                    None => Err(StoreError::Io("the store is closed".into())),
                    Some(db) => match append(&db, head.clone(), events).await {
                        Ok(new_head) => {
                            head = new_head;
                            if waiters.is_empty() { Ok(()) } else { db.durable().await }
                        }
                        Err(e) => {
                            // The next batch starts from what the store holds.
                            if let Ok(h) = stored_head(&db).await {
                                head = h;
                            }
                            Err(e)
                        }
                    },
                };
                if let Err(e) = &result {
                    tracing::error!(error = %e, records = count, "audit append failed");
                }
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
        });
        Ok(Self { tx })
    }

    /// Records a stateless event; durable within one commit window.
    pub fn emit(&self, actor: Actor, event: AuditEvent, now: OffsetDateTime) {
        let _ = self.tx.send(Entry { actor, event, time_ms: unix_ms(now), done: None });
    }

    /// Records an event and waits until it (and every write before it) is durable.
    pub async fn record(&self, actor: Actor, event: AuditEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Entry { actor, event, time_ms: unix_ms(now), done: Some(done) })
            .map_err(|_| StoreError::Io("audit writer stopped".into()))?;
        wait.await.map_err(|_| StoreError::Io("audit writer stopped".into()))?
    }
}

/// Appends one record from outside a server (CLI verbs), durably; on postgres the servers
/// may be appending meanwhile, which the retry handles.
pub async fn append_offline(db: &Db, actor: Actor, event: AuditEvent, now: OffsetDateTime) -> Result<(), StoreError> {
    let head = stored_head(db).await?;
    append(db, head, vec![(actor, event, unix_ms(now))]).await?;
    db.durable().await
}
