//! The operators' audit query: filters by actor, event type and time, with cursor paging
//! (the cursor is the next `seq` to look at). Scans the chain in order; an index arrives when
//! chains get large enough to need one.

use super::AuditRecord;
use crate::store::{AuditStore, StoreError};

/// Largest page a query may ask for.
pub const MAX_LIMIT: usize = 1000;

/// A query.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Exact actor (`client:svc`, `admin`, ...).
    pub actor: Option<String>,
    /// Event name (`token_issued`, ...).
    pub event_type: Option<String>,
    /// Records at or after this time (unix ms).
    pub since_ms: Option<i64>,
    /// Records before this time (unix ms).
    pub until_ms: Option<i64>,
    /// Page size (1..=MAX_LIMIT).
    pub limit: usize,
    /// Start at this `seq` (from a previous page's `next_cursor`).
    pub cursor: u64,
}

/// One page of results.
#[derive(Debug, serde::Serialize)]
pub struct AuditPage {
    /// Matching records, oldest first.
    pub records: Vec<AuditRecord>,
    /// Pass as `cursor` for the next page; absent when the chain was read to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<u64>,
}

impl AuditQuery {
    fn matches(&self, r: &AuditRecord) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == r.actor.who)
            && self.event_type.as_deref().is_none_or(|t| t == r.event.name())
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
    }
}

/// Runs `q` against the stored chain.
pub async fn run(store: &dyn AuditStore, q: &AuditQuery) -> Result<AuditPage, StoreError> {
    let limit = q.limit.clamp(1, MAX_LIMIT);
    let mut records = Vec::new();
    let mut all = super::records(store, q.cursor);
    while let Some(r) = all.next().await {
        let r = r?;
        if q.matches(&r) {
            records.push(r);
            if records.len() == limit {
                let next_cursor = records.last().map(|r| r.seq + 1);
                return Ok(AuditPage { records, next_cursor });
            }
        }
    }
    Ok(AuditPage { records, next_cursor: None })
}
