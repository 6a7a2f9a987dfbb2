//! The notification queue (`crate::notify`): messages waiting for delivery, ordered by when
//! they are due, the dead-letter list, and the cursor of the last audit record turned into
//! messages. The rules live here once; a backend provides an ordered map with prefix scans,
//! an atomic batch and a lock ([`QueueRaw`]).
//!
//! Several instances may work one queue: the cursor moves only from the value a writer read
//! (so two instances never queue an event twice), and a message is *claimed* before it is
//! sent: its due time moves to the end of the claim's lease, so nobody else sees it due
//! meanwhile, and if the claimer dies the message falls due again when the lease ends. An
//! outcome is recorded only while the claim still holds. Keys: `c` the cursor; `q` + due (8 bytes, big-endian
//! unix ms) + id a queued message; `d` + id a dead letter.

use serde::{Deserialize, Serialize};

use super::{StoreError, decode, encode};

const TREE: &str = "notify";
const CURSOR: &[u8] = b"c";
const QUEUED: u8 = b'q';
const DEAD: u8 = b'd';

/// Entries as stored: full key, encoded value.
pub(super) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Raw access a backend provides.
pub(super) trait QueueRaw {
    fn nq_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Up to `limit` entries under `prefix`, in key order.
    fn nq_scan(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError>;
    /// Removes `removes`, then writes `puts`, atomically.
    fn nq_apply(&self, puts: Entries, removes: Vec<Vec<u8>>) -> Result<(), StoreError>;
    /// Held across a read and the write that depends on it (the embedded backends serve
    /// one process, so a process-wide lock makes those steps atomic).
    fn nq_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError>;
}

/// Kind of delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// Text message.
    Sms,
    /// An HTTP callback.
    Webhook,
}

impl Channel {
    /// Config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Webhook => "webhook",
        }
    }
}

/// One message, as queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Idempotency key (the same on every attempt).
    pub id: String,
    /// Kind of delivery.
    pub channel: Channel,
    /// Event name (`login.failed`, ...).
    pub template: String,
    /// Locale of the texts.
    pub locale: String,
    /// Address, phone number or URL.
    pub recipient: String,
    /// Subject line.
    pub subject: Option<String>,
    /// Plain text.
    pub text_body: String,
    /// The event as a JSON object.
    pub data: String,
}

/// A message waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// The notifier plugin that delivers it.
    pub plugin: String,
    /// The message (its `id` is the idempotency key).
    pub message: Message,
    /// When it is due, unix ms.
    pub due_ms: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was queued, unix ms.
    pub created_ms: i64,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A message given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The message as it was queued.
    pub queued: Queued,
    /// Why it was given up.
    pub reason: String,
    /// When, unix ms.
    pub dead_ms: i64,
}

/// What became of a queued message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Delivered: gone from the queue.
    Done,
    /// Try again (the message as it should be stored: new due time, attempts, error).
    Retry(Box<Queued>),
    /// Given up: to the dead-letter list.
    Dead {
        /// Why.
        reason: String,
        /// Now, unix ms.
        now_ms: i64,
    },
}

fn queued_key(due_ms: i64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(QUEUED);
    k.extend_from_slice(&u64::try_from(due_ms.max(0)).unwrap_or(0).to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn dead_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(DEAD);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The queue's operations.
pub trait SyncQueue {
    /// The last audit sequence number turned into messages, if any.
    fn notify_cursor(&self) -> Result<Option<u64>, StoreError>;
    /// Queues `messages` and moves the cursor from `expected` (what the caller read) to
    /// `cursor`, in one atomic write; `false`, writing nothing, when the cursor has moved.
    fn notify_enqueue(&self, expected: Option<u64>, cursor: u64, messages: &[Queued]) -> Result<bool, StoreError>;
    /// Claims up to `limit` messages due at `now_ms` until `until_ms`, earliest first: each
    /// is returned with `due_ms = until_ms` (how it is stored while claimed).
    fn notify_claim(&self, now_ms: i64, until_ms: i64, limit: usize) -> Result<Vec<Queued>, StoreError>;
    /// When the earliest queued message is due.
    fn notify_next_due(&self) -> Result<Option<i64>, StoreError>;
    /// Records the outcome of an attempt at `q` (as claimed); `false`, changing nothing,
    /// when the claim had lapsed and the message was claimed again or settled elsewhere.
    fn notify_settle(&self, q: &Queued, outcome: Settle) -> Result<bool, StoreError>;
    /// Queued messages (up to `limit`, earliest first).
    fn notify_queued(&self, limit: usize) -> Result<Vec<Queued>, StoreError>;
    /// Dead letters (up to `limit`, by id).
    fn notify_dead(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Puts the dead letter `id` back in the queue, due now with no attempts; `false` when
    /// there is none.
    fn notify_revive(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
}

fn all<T: serde::de::DeserializeOwned>(entries: Entries) -> Result<Vec<T>, StoreError> {
    entries.into_iter().map(|(_, v)| decode(TREE, &v)).collect()
}

impl<R: QueueRaw + ?Sized> SyncQueue for R {
    fn notify_cursor(&self) -> Result<Option<u64>, StoreError> {
        match self.nq_get(CURSOR)? {
            None => Ok(None),
            Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(b) => Ok(Some(u64::from_be_bytes(b))),
                Err(_) => Err(StoreError::Corrupt { tree: TREE, detail: "cursor is not 8 bytes".into() }),
            },
        }
    }

    fn notify_enqueue(&self, expected: Option<u64>, cursor: u64, messages: &[Queued]) -> Result<bool, StoreError> {
        let _lock = self.nq_lock()?;
        if self.notify_cursor()? != expected {
            return Ok(false);
        }
        let mut puts = Vec::with_capacity(messages.len() + 1);
        for m in messages {
            puts.push((queued_key(m.due_ms, &m.message.id), encode(m)?));
        }
        puts.push((CURSOR.to_vec(), cursor.to_be_bytes().to_vec()));
        self.nq_apply(puts, Vec::new())?;
        Ok(true)
    }

    fn notify_claim(&self, now_ms: i64, until_ms: i64, limit: usize) -> Result<Vec<Queued>, StoreError> {
        let _lock = self.nq_lock()?;
        let mut due: Vec<Queued> = all(self.nq_scan(&[QUEUED], limit)?)?;
        due.retain(|q| q.due_ms <= now_ms);
        let (mut puts, mut removes) = (Vec::with_capacity(due.len()), Vec::with_capacity(due.len()));
        for q in &mut due {
            removes.push(queued_key(q.due_ms, &q.message.id));
            q.due_ms = until_ms;
            puts.push((queued_key(until_ms, &q.message.id), encode(&*q)?));
        }
        self.nq_apply(puts, removes)?;
        Ok(due)
    }

    fn notify_next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(all::<Queued>(self.nq_scan(&[QUEUED], 1)?)?.first().map(|q| q.due_ms))
    }

    fn notify_settle(&self, q: &Queued, outcome: Settle) -> Result<bool, StoreError> {
        let _lock = self.nq_lock()?;
        let old = queued_key(q.due_ms, &q.message.id);
        if self.nq_get(&old)?.is_none() {
            return Ok(false);
        }
        match outcome {
            Settle::Done => self.nq_apply(Vec::new(), vec![old]),
            Settle::Retry(next) => {
                self.nq_apply(vec![(queued_key(next.due_ms, &next.message.id), encode(&*next)?)], vec![old])
            }
            Settle::Dead { reason, now_ms } => {
                let dead = DeadLetter { queued: q.clone(), reason, dead_ms: now_ms };
                self.nq_apply(vec![(dead_key(&q.message.id), encode(&dead)?)], vec![old])
            }
        }?;
        Ok(true)
    }

    fn notify_queued(&self, limit: usize) -> Result<Vec<Queued>, StoreError> {
        all(self.nq_scan(&[QUEUED], limit)?)
    }

    fn notify_dead(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        all(self.nq_scan(&[DEAD], limit)?)
    }

    fn notify_revive(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let _lock = self.nq_lock()?;
        let key = dead_key(id);
        let Some(raw) = self.nq_get(&key)? else { return Ok(false) };
        let dead: DeadLetter = decode(TREE, &raw)?;
        let q = Queued { due_ms: now_ms, attempts: 0, last_error: None, ..dead.queued };
        self.nq_apply(vec![(queued_key(q.due_ms, &q.message.id), encode(&q)?)], vec![key])?;
        Ok(true)
    }
}
