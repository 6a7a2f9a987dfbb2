//! The audit log: typed security events (`store::audit_event`) in an append-only hash chain
//! (`store::audit_chain`), written
//! by one task in batches (`writer.rs`). A state change's record is durable before the
//! response (the writer joins the store's group commit); records of stateless events (a JWT
//! issued) may trail the response by one commit window. Records never contain secrets,
//! tokens or codes: only ids (`jti`, client ids, usernames) and reason codes.

pub use gatehouse_store::audit_chain as chain;
pub mod checkpoint;
pub mod query;
mod writer;

use time::OffsetDateTime;

use crate::store::{Store, StoreError};

pub use chain::{AuditRecord, ChainBreak, ChainStart, verify_chain};
pub use checkpoint::{Verified, verify_store};
pub use gatehouse_store::audit_event::{Actor, AuditEvent};
pub use writer::{AuditLog, append_offline};

/// Every stored record from `from_seq` on, in order, read from the store in pages.
pub fn records(store: &dyn Store, from_seq: u64) -> impl Iterator<Item = Result<AuditRecord, StoreError>> + '_ {
    const PAGE: usize = 1024;
    let mut next = from_seq;
    let mut page = std::collections::VecDeque::new();
    let mut done = false;
    let mut limit = PAGE;
    std::iter::from_fn(move || {
        if page.is_empty() && !done {
            match store.audit_records(next, limit) {
                Ok(p) => {
                    done = p.len() < limit;
                    next = p.last().map_or(next, |r| r.seq + 1);
                    page.extend(p);
                }
                // A page with an unreadable record: read on one record at a time, so that
                // every record before it is still yielded and the error comes in its place.
                Err(StoreError::Corrupt { .. }) if limit > 1 => {
                    limit = 1;
                    return records_next(store, &mut next, &mut done, &mut page);
                }
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }
        page.pop_front().map(Ok)
    })
}

/// One record-at-a-time step of [`records`] after a page failed to read.
fn records_next(
    store: &dyn Store,
    next: &mut u64,
    done: &mut bool,
    page: &mut std::collections::VecDeque<AuditRecord>,
) -> Option<Result<AuditRecord, StoreError>> {
    match store.audit_records(*next, 1) {
        Ok(p) => {
            *done = p.is_empty();
            *next = p.last().map_or(*next, |r| r.seq + 1);
            page.extend(p);
            page.pop_front().map(Ok)
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
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
