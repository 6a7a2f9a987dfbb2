//! The conformance suite (`conformance/`) on the memory and sled backends, and what only
//! sled has: reopening, its directory lock, a crash's partial audit line, backups.

use std::sync::Arc;

use super::{Backend, ClientRecord, Embedded, MemoryStore, SledStore, StoreError, SyncStore, UserRecord};

fn client(id: &str) -> ClientRecord {
    super::conformance::identity_client(id)
}

fn user(id: &str, name: &str, email: Option<&str>) -> UserRecord {
    super::conformance::identity_user(id, name, email)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    super::conformance::all(super::memory()).await;
    let one = super::memory();
    super::conformance::pair(one.clone(), one).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sled_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    super::conformance::all(super::open_sled(dir.path()).unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let one: Arc<dyn Backend> = Arc::new(Embedded::new(SledStore::open(dir.path()).unwrap()));
    super::conformance::pair(one.clone(), one).await;
}

#[test]
fn memory_store_is_a_sync_store_too() {
    // The synchronous layer itself, as the offline tools use it.
    let m = MemoryStore::new();
    m.create_client(&client("a")).unwrap();
    assert_eq!(m.get_client("a").unwrap(), Some(client("a")));
}

#[test]
fn sled_store_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.create_client(&client("kept")).unwrap();
        s.revoke_token("jti-1", i64::MAX).unwrap();
        s.flush().unwrap();
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.get_client("kept").unwrap(), Some(client("kept")));
    assert!(s.is_revoked("jti-1").unwrap());
}

#[test]
fn sled_store_reports_lock_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    // flock conflicts between open file descriptions, so a second open in this process
    // sees the lock exactly as another process would.
    match SledStore::open(dir.path()) {
        Err(e @ StoreError::Locked { .. }) => assert!(e.to_string().contains("is the server running")),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second open of a locked store succeeded"),
    }
}

#[test]
fn a_partial_audit_line_left_by_a_crash_is_dropped_at_open() {
    use crate::audit_chain::{AuditRecord, verify_chain};
    use crate::audit_event::{Actor, AuditEvent};
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        let r = AuditRecord::next(1, 1, Actor::cli(), AuditEvent::AdminAuthFailed, crate::audit_chain::GENESIS);
        s.append_audit(&[r]).unwrap();
        s.flush().unwrap();
    }
    let file = dir.path().join("audit.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"seq\":2,\"time_ms\":");
    std::fs::write(&file, text).unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.last_audit_record().unwrap().unwrap().seq, 1);
    assert_eq!(verify_chain(None, s.audit_records(1, 10).unwrap()), Ok(1));
    assert!(std::fs::read_to_string(&file).unwrap().ends_with("}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let db = super::Db::new(super::open_sled(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.revocations().revoke_token(&format!("jti-{i}"), i64::MAX).await.unwrap();
            db.durable().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(db.flush_count() >= 1);
    assert!(db.flush_count() < 64, "64 writers took {} flushes", db.flush_count());
    for i in 0..64 {
        assert!(db.revocations().is_revoked(&format!("jti-{i}")).await.unwrap());
    }
}

#[test]
fn sled_backup_restores_into_an_empty_store_only_and_refuses_damage() {
    use super::browser::{FamilyRecord, RefreshRecord, SyncBrowser as _};
    let (a_dir, b_dir, c_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = SledStore::open(a_dir.path()).unwrap();
    a.create_client(&client("svc")).unwrap();
    a.create_user(&user("u1", "alice", Some("alice@example.com"))).unwrap();
    let rt = RefreshRecord { family: "f".into(), client_id: "svc".into(), expires_at: 99, ..Default::default() };
    a.create_refresh(&[7; 32], &rt, &FamilyRecord { expires_at: 99, ..Default::default() }).unwrap();
    let stopped = crate::audit_chain::AuditRecord::next(
        1,
        1,
        crate::audit_event::Actor::cli(),
        crate::audit_event::AuditEvent::ServerStopped,
        crate::audit_chain::GENESIS,
    );
    a.append_audit(&[stopped]).unwrap();
    a.flush().unwrap();
    let mut backup = Vec::new();
    let summary = a.backup(&mut backup).unwrap();
    assert!(summary.entries >= 4 && summary.audit_lines == 1, "{summary:?}");

    let b = SledStore::open(b_dir.path()).unwrap();
    assert_eq!(b.restore(&mut backup.as_slice()).unwrap(), summary);
    assert_eq!(b.get_client("svc").unwrap(), Some(client("svc")));
    assert_eq!(b.find_user("alice@example.com").unwrap().map(|u| u.id), Some("u1".into()));
    assert_eq!(b.get_refresh(&[7; 32]).unwrap(), Some(rt));
    assert_eq!(b.last_audit_record().unwrap(), a.last_audit_record().unwrap());
    let restored = b.audit_records(0, 10).unwrap();
    assert_eq!(crate::audit_chain::verify_chain(b.audit_start().unwrap(), restored), Ok(1));
    assert!(matches!(b.restore(&mut backup.as_slice()), Err(StoreError::Refused(_))), "not empty");

    let c = SledStore::open(c_dir.path()).unwrap();
    let damaged = &backup[..backup.len() / 2];
    assert!(c.restore(&mut &damaged[..]).is_err());
    assert_eq!(c.get_client("svc").unwrap(), None, "nothing written from a damaged backup");
    assert!(c.restore(&mut backup.as_slice()).is_ok(), "still empty, so a good backup restores");
}
