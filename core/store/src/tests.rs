//! One conformance suite, run against every backend.

use std::sync::Arc;

use super::{ClientRecord, Db, KeyRecord, MemoryStore, SledStore, Store, StoreError, UserRecord};

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        id: id.into(),
        secret_sha256: Some("00".repeat(32)),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["logs:write".into()],
        ..Default::default()
    }
}

fn clients_round_trip(s: &dyn Store) {
    assert_eq!(s.get_client("a").unwrap(), None);
    s.create_client(&client("b")).unwrap();
    s.create_client(&client("a")).unwrap();
    assert!(matches!(s.create_client(&client("a")), Err(StoreError::Conflict(_))));
    assert_eq!(s.get_client("a").unwrap(), Some(client("a")));
    let ids: Vec<_> = s.list_clients().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(s.remove_client("a").unwrap());
    assert!(!s.remove_client("a").unwrap());
    assert_eq!(s.get_client("a").unwrap(), None);
}

fn keys_replace_atomically(s: &dyn Store) {
    assert!(s.load_keys().unwrap().is_empty());
    let k = |kid: &str| KeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        pkcs8: "AAAA".into(),
        created_at: 1,
        ..Default::default()
    };
    s.replace_keys(&[k("one"), k("two")]).unwrap();
    s.replace_keys(&[k("three")]).unwrap();
    assert_eq!(s.load_keys().unwrap(), vec![k("three")]);
}

fn revocations_expire(s: &dyn Store) {
    s.revoke_token("old", 100).unwrap();
    s.revoke_token("new", 200).unwrap();
    assert!(s.is_revoked("old").unwrap());
    assert!(!s.is_revoked("other").unwrap());
    assert_eq!(s.purge_revocations(150).unwrap(), 1);
    assert!(!s.is_revoked("old").unwrap());
    assert!(s.is_revoked("new").unwrap());
}

fn user(id: &str, name: &str, email: Option<&str>) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        email: email.map(Into::into),
        password_hash: "$argon2id$x".into(),
        ..Default::default()
    }
}

fn users_are_unique_by_name_and_email(s: &dyn Store) {
    s.create_user(&user("1", "bob", Some("bob@example.com"))).unwrap();
    s.create_user(&user("2", "alice", None)).unwrap();
    for dup in [user("3", "bob", None), user("4", "carol", Some("bob@example.com")), user("1", "dave", None)] {
        assert!(matches!(s.create_user(&dup), Err(StoreError::Conflict(_))), "{dup:?}");
    }
    assert_eq!(s.find_user("bob").unwrap().unwrap().id, "1");
    assert_eq!(s.find_user("bob@example.com").unwrap().unwrap().id, "1");
    assert_eq!(s.find_user("carol").unwrap(), None);
    let names: Vec<_> = s.list_users().unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(s.set_user_password("1", "$argon2id$new", 5).unwrap());
    assert!(s.set_user_disabled("1", true, 6).unwrap());
    let bob = s.get_user("1").unwrap().unwrap();
    assert_eq!((bob.password_hash.as_str(), bob.disabled, bob.updated_at), ("$argon2id$new", true, 6));
    assert!(!s.set_user_disabled("nobody", true, 7).unwrap());
}

fn audit_appends_in_order(s: &dyn Store) {
    use crate::audit_chain::{AuditRecord, verify_chain};
    use crate::audit_event::{Actor, AuditEvent};
    assert_eq!(s.last_audit_record().unwrap(), None);
    let mut prev = crate::audit_chain::GENESIS.to_owned();
    let mut all = Vec::new();
    for seq in 1..=300u64 {
        let r = AuditRecord::next(seq, 1, Actor::cli(), AuditEvent::AdminAuthFailed, &prev);
        prev.clone_from(&r.hash);
        all.push(r);
    }
    s.append_audit(&all[..256]).unwrap();
    s.append_audit(&all[256..]).unwrap();
    assert_eq!(s.last_audit_record().unwrap().unwrap().seq, 300);
    let page = s.audit_records(255, 10).unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), (255..265).collect::<Vec<_>>());
    assert_eq!(verify_chain(None, s.audit_records(1, 1000).unwrap()), Ok(300));

    // Retention: attest the truncation in the chain, then prune.
    let cut = &all[99];
    let start = crate::audit_chain::ChainStart { truncated_through: 100, last_hash: cut.hash.clone() };
    let attest = AuditEvent::AuditTruncated { through_seq: 100, last_hash: cut.hash.clone(), removed: 100 };
    s.append_audit(&[AuditRecord::next(301, 2, Actor::system(), attest, &all[299].hash)]).unwrap();
    let wrong = crate::audit_chain::ChainStart { truncated_through: 100, last_hash: "00".into() };
    assert!(s.prune_audit(&wrong).is_err(), "a truncation point off the chain is refused");
    assert_eq!(s.prune_audit(&start).unwrap(), 100);
    assert_eq!(s.audit_start().unwrap(), Some(start.clone()));
    let kept = s.audit_records(0, 1000).unwrap();
    assert_eq!(kept.first().map(|r| r.seq), Some(101));
    assert_eq!(verify_chain(Some(start), kept), Ok(201));
    assert_eq!(s.last_audit_record().unwrap().unwrap().seq, 301);
}

fn notify_queue_orders_settles_and_revives(s: &dyn Store) {
    use super::notify_queue::{Queued, Settle};
    use crate::notify_queue::{Channel, Message};
    let q = |id: &str, due_ms: i64| Queued {
        plugin: "hook".into(),
        message: Message {
            id: id.into(),
            channel: Channel::Webhook,
            template: "login.failed".into(),
            locale: "en".into(),
            recipient: "https://hooks.example/x".into(),
            subject: None,
            text_body: "t".into(),
            data: "{}".into(),
        },
        due_ms,
        attempts: 0,
        created_ms: 0,
        last_error: None,
    };
    assert_eq!(s.notify_cursor().unwrap(), None);
    s.notify_enqueue(7, &[q("2.hook", 200), q("1.hook", 100), q("3.hook", 300)]).unwrap();
    assert_eq!(s.notify_cursor().unwrap(), Some(7));
    assert_eq!(s.notify_next_due().unwrap(), Some(100));
    let due: Vec<_> = s.notify_due(250, 10).unwrap().into_iter().map(|q| q.message.id).collect();
    assert_eq!(due, ["1.hook", "2.hook"], "due ones, earliest first");
    let first = s.notify_due(250, 1).unwrap().remove(0);
    s.notify_settle(&first, Settle::Done).unwrap();
    let second = s.notify_due(250, 1).unwrap().remove(0);
    let later = Queued { due_ms: 1_000, attempts: 1, last_error: Some("503".into()), ..second.clone() };
    s.notify_settle(&second, Settle::Retry(Box::new(later))).unwrap();
    assert_eq!(s.notify_due(250, 10).unwrap(), vec![], "moved past now");
    let ids: Vec<_> = s.notify_queued(10).unwrap().into_iter().map(|q| (q.message.id, q.due_ms)).collect();
    assert_eq!(ids, [("3.hook".to_owned(), 300), ("2.hook".to_owned(), 1_000)]);
    let third = s.notify_due(300, 1).unwrap().remove(0);
    s.notify_settle(&third, Settle::Dead { reason: "rejected".into(), now_ms: 301 }).unwrap();
    let dead = s.notify_dead(10).unwrap();
    assert_eq!((dead.len(), dead[0].reason.as_str(), dead[0].dead_ms), (1, "rejected", 301));
    assert!(s.notify_revive("3.hook", 400).unwrap());
    assert!(!s.notify_revive("3.hook", 400).unwrap(), "no longer dead");
    assert!(s.notify_dead(10).unwrap().is_empty());
    let back = s.notify_due(400, 10).unwrap();
    assert_eq!((back[0].message.id.as_str(), back[0].attempts, back[0].due_ms), ("3.hook", 0, 400));
}

fn login_attempts_are_counted_atomically(s: &dyn Store) {
    use super::login_attempts::{LockoutPolicy, Outcome, Reserve};
    let p = LockoutPolicy {
        threshold: 4,
        base: std::time::Duration::from_secs(60),
        max: std::time::Duration::from_secs(600),
    };
    // Sixteen threads race for attempts on one key: exactly the threshold is granted.
    let granted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                if s.reserve_attempt("u:race", &p, 1000).unwrap() == Reserve::Granted {
                    granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 4);
    let locks: Vec<_> = (0..4).map(|_| s.settle_attempt("u:race", &p, Outcome::Failure, 1000).unwrap()).collect();
    assert_eq!(locks.iter().flatten().collect::<Vec<_>>(), [&1060], "{locks:?}");
    assert_eq!(s.reserve_attempt("u:race", &p, 1030).unwrap(), Reserve::Refused { until: 1060 });
    assert_eq!(s.reserve_attempt("n:other", &p, 1030).unwrap(), Reserve::Granted);
    assert_eq!(s.settle_attempt("n:other", &p, Outcome::Success, 1030).unwrap(), None);
    // A day later the quiet keys are purged; the locked one had its lock end long ago.
    assert!(s.purge_attempts(1000 + 2 * 24 * 3600).unwrap() >= 1);
    assert_eq!(s.reserve_attempt("u:race", &p, 1000 + 2 * 24 * 3600).unwrap(), Reserve::Granted);
}

fn audit_key_and_checkpoints(s: &dyn Store) {
    use super::audit_checkpoints::CheckpointRecord;
    assert_eq!(s.audit_key().unwrap(), None);
    assert_eq!(s.init_audit_key("first").unwrap(), "first");
    assert_eq!(s.init_audit_key("second").unwrap(), "first", "the first key stays");
    assert_eq!(s.audit_key().unwrap().as_deref(), Some("first"));
    let cp = |seq| CheckpointRecord { seq, hash: format!("h{seq}"), ..Default::default() };
    s.add_checkpoint(&cp(3)).unwrap();
    s.add_checkpoint(&cp(10)).unwrap();
    assert_eq!(s.checkpoints().unwrap(), vec![cp(3), cp(10)]);
}

fn conformance(s: &dyn Store) {
    login_attempts_are_counted_atomically(s);
    audit_key_and_checkpoints(s);
    clients_round_trip(s);
    notify_queue_orders_settles_and_revives(s);
    audit_appends_in_order(s);
    users_are_unique_by_name_and_email(s);
    keys_replace_atomically(s);
    revocations_expire(s);
    super::tests_browser::browser_conformance(s);
    s.flush().unwrap();
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryStore::new());
}

#[test]
fn sled_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&SledStore::open(dir.path()).unwrap());
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
    let db = Db::new(Arc::new(SledStore::open(dir.path()).unwrap()));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.revoke_token(&format!("jti-{i}"), i64::MAX).unwrap();
            db.durable().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(db.flush_count() >= 1);
    assert!(db.flush_count() < 64, "64 writers took {} flushes", db.flush_count());
    for i in 0..64 {
        assert!(db.is_revoked(&format!("jti-{i}")).unwrap());
    }
}

#[test]
fn sled_backup_restores_into_an_empty_store_only_and_refuses_damage() {
    use super::browser::{BrowserStore as _, FamilyRecord, RefreshRecord};
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
