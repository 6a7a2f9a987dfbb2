//! The hash chain: record `n` stores `prev` = hash of record `n-1` and `hash` = SHA-256 over
//! `prev` and the record's canonical JSON (with `hash` empty). Modifying, deleting or
//! reordering any record breaks the chain at that point.

use serde::{Deserialize, Serialize};

use crate::audit_event::{Actor, AuditEvent};
use crate::sha256_hex;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When, unix milliseconds.
    pub time_ms: i64,
    /// Who.
    pub actor: Actor,
    /// What.
    pub event: AuditEvent,
    /// Hash of the previous record (hex).
    pub prev: String,
    /// Hash of this record (hex).
    #[serde(default)]
    pub hash: String,
}

impl AuditRecord {
    /// Builds the record that follows `prev` and computes its hash.
    pub fn next(seq: u64, time_ms: i64, actor: Actor, event: AuditEvent, prev: &str) -> Self {
        let mut r = Self { seq, time_ms, actor, event, prev: prev.to_owned(), hash: String::new() };
        // `hash` is still empty, so the record is its own hash input (no clone needed).
        r.hash = hash_of(&r);
        r
    }

    /// The hash this record should carry.
    pub fn compute_hash(&self) -> String {
        if self.hash.is_empty() {
            return hash_of(self);
        }
        let mut unhashed = self.clone();
        unhashed.hash.clear();
        hash_of(&unhashed)
    }
}

/// SHA-256 over `prev` and the canonical JSON of a record whose `hash` is empty.
fn hash_of(unhashed: &AuditRecord) -> String {
    let mut input = Vec::with_capacity(512);
    input.extend_from_slice(unhashed.prev.as_bytes());
    if serde_json::to_writer(&mut input, unhashed).is_err() {
        tracing::error!("serialising an audit record failed");
    }
    sha256_hex(&input)
}

/// Whether `first` may be appended after the stored head: the next seq, chained to the head's
/// hash (or to the truncation point, or genesis, when the log holds no record). The rule every
/// backend applies so that two writers can never fork the chain.
pub fn follows(last: Option<&AuditRecord>, start: Option<&ChainStart>, first: &AuditRecord) -> bool {
    match (last, start) {
        (Some(l), _) => first.seq == l.seq + 1 && first.prev == l.hash,
        (None, Some(s)) => first.seq == s.truncated_through + 1 && first.prev == s.last_hash,
        (None, None) => first.seq == 1 && first.prev == GENESIS,
    }
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("audit chain broken at record {seq}: {reason}")]
pub struct ChainBreak {
    /// The first position in the chain that does not verify.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Where a pruned chain resumes: the last removed record's `seq` and hash (the marker line
/// retention leaves at the head of the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStart {
    /// The last removed record.
    pub truncated_through: u64,
    /// Its hash.
    pub last_hash: String,
}

/// Checks records in stored order from `start` (genesis when `None`); `Ok(n)` with the
/// number verified. A start marker counts only if the chain itself records that truncation
/// (an `audit_truncated` event with the same seq and hash), so it cannot be forged to hide
/// a deletion.
pub fn verify_chain(
    start: Option<ChainStart>,
    records: impl IntoIterator<Item = AuditRecord>,
) -> Result<u64, ChainBreak> {
    let mut v = ChainVerifier::new(start);
    for r in records {
        v.push(&r)?;
    }
    v.finish()
}

/// [`verify_chain`] one record at a time, so a long log is checked without holding it.
#[derive(Debug)]
pub struct ChainVerifier {
    start: Option<ChainStart>,
    next_seq: u64,
    prev: String,
    attested: bool,
    count: u64,
}

impl ChainVerifier {
    /// A verifier expecting the first record after `start` (genesis when `None`).
    pub fn new(start: Option<ChainStart>) -> Self {
        let (next_seq, prev) = match &start {
            Some(s) => (s.truncated_through + 1, s.last_hash.clone()),
            None => (1, GENESIS.to_owned()),
        };
        Self { attested: start.is_none(), start, next_seq, prev, count: 0 }
    }

    /// A verifier that resumes after record `seq` whose hash is `hash` (a checkpoint), for
    /// checking a chain's tail; the start needs no attestation.
    pub fn resume(seq: u64, hash: &str) -> Self {
        Self { start: None, next_seq: seq + 1, prev: hash.to_owned(), attested: true, count: 0 }
    }

    /// The seq the next record must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Checks the next record.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        let broken = |reason: String| ChainBreak { seq: self.next_seq, reason };
        if r.seq != self.next_seq {
            return Err(broken(format!("record {} stands here (a record was deleted or moved)", r.seq)));
        }
        if r.prev != self.prev {
            return Err(broken("its prev does not match the previous record's hash".into()));
        }
        if r.compute_hash() != r.hash {
            return Err(broken("its contents do not match its hash (modified)".into()));
        }
        if let (Some(s), AuditEvent::AuditTruncated { through_seq, last_hash, .. }) = (&self.start, &r.event) {
            self.attested |= *through_seq == s.truncated_through && *last_hash == s.last_hash;
        }
        self.prev.clone_from(&r.hash);
        self.next_seq += 1;
        self.count += 1;
        Ok(())
    }

    /// Ends the check; `Ok(n)` with the number of records verified.
    pub fn finish(self) -> Result<u64, ChainBreak> {
        if !self.attested {
            let first = self.start.as_ref().map_or(1, |s| s.truncated_through + 1);
            return Err(ChainBreak {
                seq: first,
                reason: "the chain starts after a truncation that no audit_truncated record attests".into(),
            });
        }
        Ok(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let ev = AuditEvent::UserCreated { username: format!("u{seq}") };
                let r = AuditRecord::next(seq, 1000 + i64::try_from(seq).unwrap_or(0), Actor::cli(), ev, &prev);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(None, chain(5)), Ok(5));
        assert_eq!(verify_chain(None, Vec::new()), Ok(0));
    }

    #[test]
    fn modification_deletion_and_reordering_are_detected() {
        let mut modified = chain(5);
        modified[2].event = AuditEvent::UserCreated { username: "mallory".into() };
        assert_eq!(verify_chain(None, modified).unwrap_err().seq, 3);

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(verify_chain(None, deleted).unwrap_err().seq, 2);

        let mut reordered = chain(5);
        reordered.swap(1, 2);
        assert_eq!(verify_chain(None, reordered).unwrap_err().seq, 2);

        // Re-hashing a modified record does not help: the next record's prev no longer matches.
        let mut rehashed = chain(5);
        rehashed[2].event = AuditEvent::UserCreated { username: "mallory".into() };
        rehashed[2].hash = rehashed[2].compute_hash();
        assert_eq!(verify_chain(None, rehashed).unwrap_err().seq, 4);
    }

    #[test]
    fn a_truncation_marker_must_be_attested_by_the_chain() {
        let mut rs = chain(4);
        let cut = rs[1].clone();
        let attest = AuditEvent::AuditTruncated { through_seq: 2, last_hash: cut.hash.clone(), removed: 2 };
        rs.push(AuditRecord::next(5, 9, Actor::system(), attest, &rs[3].hash));
        let start = ChainStart { truncated_through: 2, last_hash: cut.hash.clone() };
        let kept: Vec<_> = rs[2..].to_vec();
        assert_eq!(verify_chain(Some(start.clone()), kept.clone()), Ok(3));
        // Without the attesting record (or with a forged marker) the truncation is refused.
        assert!(verify_chain(Some(start.clone()), kept[..2].to_vec()).is_err());
        let forged = ChainStart { truncated_through: 3, last_hash: rs[2].hash.clone() };
        assert!(verify_chain(Some(forged), rs[3..].to_vec()).is_err());
    }
}
