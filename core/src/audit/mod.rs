//! The audit log: typed security events (`store::audit_event`) in an append-only hash chain
//! (`store::audit_chain`), written
//! by one task in batches (`writer.rs`). A state change's record is durable before the
//! response (the writer joins the store's group commit); records of stateless events (a JWT
//! issued) may trail the response by one commit window. Records never contain secrets,
//! tokens or codes: only ids (`jti`, client ids, usernames) and reason codes.

pub use gatehouse_store::audit_chain as chain;
pub mod checkpoint;
pub mod query;
pub mod replay;
mod writer;

use time::OffsetDateTime;

use crate::store::{AuditStore, StoreError};

pub use chain::{AuditRecord, ChainBreak, ChainStart, verify_chain};
pub use checkpoint::{Verified, verify_store};
pub use gatehouse_store::audit_event::{Actor, AuditEvent, PolicyInputRecord, PolicySubjectRecord};
pub use writer::{AuditLog, append_offline};

/// Every stored record from `from_seq` on, in order, read from the store in pages.
pub fn records(store: &dyn AuditStore, from_seq: u64) -> Records<'_> {
    Records { store, next: from_seq, page: std::collections::VecDeque::new(), done: false, limit: PAGE }
}

/// Every stored record from `from_seq` on, collected (tests and small logs).
pub async fn all_records(store: &dyn AuditStore, from_seq: u64) -> Result<Vec<AuditRecord>, StoreError> {
    let mut out = Vec::new();
    let mut rs = records(store, from_seq);
    while let Some(r) = rs.next().await {
        out.push(r?);
    }
    Ok(out)
}

const PAGE: usize = 1024;

/// The reader [`records`] returns: `while let Some(r) = rs.next().await`.
pub struct Records<'a> {
    store: &'a dyn AuditStore,
    next: u64,
    page: std::collections::VecDeque<AuditRecord>,
    done: bool,
    limit: usize,
}

impl Records<'_> {
    /// The next record, or the error that stopped the reading (then `None` after it).
    pub async fn next(&mut self) -> Option<Result<AuditRecord, StoreError>> {
        if self.page.is_empty() && !self.done {
            match self.store.audit_records(self.next, self.limit).await {
                Ok(p) => {
                    self.done = p.len() < self.limit;
                    self.next = p.last().map_or(self.next, |r| r.seq + 1);
                    self.page.extend(p);
                }
                // A page with an unreadable record: read on one record at a time, so that
                // every record before it is still yielded and the error comes in its place.
                Err(StoreError::Corrupt { .. }) if self.limit > 1 => {
                    self.limit = 1;
                    return Box::pin(self.next()).await;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.page.pop_front().map(Ok)
    }
}

/// Unix milliseconds of `t` (the unit of `AuditRecord::time_ms`).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(if t.unix_timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Unix milliseconds as an RFC 3339 time (empty when out of range).
pub fn format_time_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// An RFC 3339 time (`2026-11-22T00:00:00Z`) as unix milliseconds.
pub fn parse_time_ms(raw: &str) -> Option<i64> {
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok().map(unix_ms)
}
