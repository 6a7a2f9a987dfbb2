//! The audit log, its retention, its key and its checkpoints.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use crate::Backend;

pub async fn audit_appends_in_order(s: &dyn Backend) {
    use crate::audit_chain::{AuditRecord, verify_chain};
    use crate::audit_event::{Actor, AuditEvent};
    assert_eq!(s.last_audit_record().await.unwrap(), None);
    let mut prev = crate::audit_chain::GENESIS.to_owned();
    let mut all = Vec::new();
    for seq in 1..=300u64 {
        let r = AuditRecord::next(seq, 1, Actor::cli(), AuditEvent::AdminAuthFailed, &prev);
        prev.clone_from(&r.hash);
        all.push(r);
    }
    assert!(matches!(s.append_audit(&all[1..2]).await, Err(crate::StoreError::Conflict(_))), "not after genesis");
    s.append_audit(&all[..256]).await.unwrap();
    assert!(matches!(s.append_audit(&all[..1]).await, Err(crate::StoreError::Conflict(_))), "a taken position");
    let fork = AuditRecord::next(257, 1, Actor::cli(), AuditEvent::AdminAuthFailed, &all[254].hash);
    assert!(matches!(s.append_audit(&[fork]).await, Err(crate::StoreError::Conflict(_))), "off the head's hash");
    s.append_audit(&all[256..]).await.unwrap();
    assert_eq!(s.last_audit_record().await.unwrap().unwrap().seq, 300);
    let page = s.audit_records(255, 10).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), (255..265).collect::<Vec<_>>());
    assert_eq!(verify_chain(None, s.audit_records(1, 1000).await.unwrap()), Ok(300));

    // Retention: attest the truncation in the chain, then prune.
    let cut = &all[99];
    let start = crate::audit_chain::ChainStart { truncated_through: 100, last_hash: cut.hash.clone() };
    let attest = AuditEvent::AuditTruncated { through_seq: 100, last_hash: cut.hash.clone(), removed: 100 };
    s.append_audit(&[AuditRecord::next(301, 2, Actor::system(), attest, &all[299].hash)]).await.unwrap();
    let wrong = crate::audit_chain::ChainStart { truncated_through: 100, last_hash: "00".into() };
    assert!(s.prune_audit(&wrong).await.is_err(), "a truncation point off the chain is refused");
    assert_eq!(s.prune_audit(&start).await.unwrap(), 100);
    assert_eq!(s.audit_start().await.unwrap(), Some(start.clone()));
    let kept = s.audit_records(0, 1000).await.unwrap();
    assert_eq!(kept.first().map(|r| r.seq), Some(101));
    assert_eq!(verify_chain(Some(start), kept), Ok(201));
    assert_eq!(s.last_audit_record().await.unwrap().unwrap().seq, 301);
}

pub async fn audit_key_and_checkpoints(s: &dyn Backend) {
    use crate::audit_checkpoints::CheckpointRecord;
    assert_eq!(s.audit_key().await.unwrap(), None);
    assert_eq!(s.init_audit_key("first").await.unwrap(), "first");
    assert_eq!(s.init_audit_key("second").await.unwrap(), "first", "the first key stays");
    assert_eq!(s.audit_key().await.unwrap().as_deref(), Some("first"));
    let cp = |seq| CheckpointRecord { seq, hash: format!("h{seq}"), ..Default::default() };
    s.add_checkpoint(&cp(3)).await.unwrap();
    s.add_checkpoint(&cp(10)).await.unwrap();
    assert_eq!(s.checkpoints().await.unwrap(), vec![cp(3), cp(10)]);
}
