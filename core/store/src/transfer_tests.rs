//! Moving a store between backends: a sled store holding every kind of record goes into
//! PostgreSQL and back into a new sled store, and each export equals the first; a version-2
//! backup round-trips and refuses damage; an import refuses a store that holds data.

use std::sync::Arc;
use std::time::Duration;

use crate::audit_chain::{AuditRecord, ChainStart, GENESIS};
use crate::audit_event::{Actor, AuditEvent};
use crate::browser::{CodeRecord, FamilyRecord, FlowRecord, RefreshRecord, SessionRecord};
use crate::login_attempts::{LockoutPolicy, Outcome};
use crate::notify_queue::{Queued, Settle};
use crate::pg::{PgOptions, PgStore};
use crate::transfer::{self, Item};
use crate::{Backend, ClientRecord, Embedded, KeyRecord, SledStore, StoreError, UserRecord, conformance, pg_testing};

const FAR: i64 = 4_000_000_000;

fn queued(id: &str) -> Queued {
    Queued { due_ms: 100, attempts: 1, created_ms: 50, last_error: Some("503".into()), ..conformance::queued(id, 100) }
}

/// One or more records of every kind, through the capability traits.
async fn fill(s: &dyn Backend) {
    let key = KeyRecord { kid: "k1".into(), ..KeyRecord::default() };
    s.replace_keys(0, &[key]).await.unwrap();
    s.create_client(&ClientRecord { id: "c1".into(), ..ClientRecord::default() }).await.unwrap();
    let alice = UserRecord {
        id: "u1".into(),
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        ..UserRecord::default()
    };
    s.create_user(&alice).await.unwrap();
    let staff = crate::groups::GroupRecord { id: "g1".into(), name: "staff".into(), ..Default::default() };
    s.create_group(&staff).await.unwrap();
    s.add_link(&conformance::link("https://accounts.example", "alice-1", "u1")).await.unwrap();
    let factors = crate::factors::FactorsRecord {
        recovery_codes: vec!["c0ffee".into()],
        ..crate::factors::FactorsRecord::empty("u1")
    };
    assert!(s.put_factors(&factors, 0).await.unwrap());
    s.revoke_token("jti-1", FAR).await.unwrap();
    assert!(s.use_once("assertion-1", FAR, 0).await.unwrap());
    s.put_flow(&[1; 32], &FlowRecord { expires_at: FAR, ..FlowRecord::default() }).await.unwrap();
    s.put_session(&[2; 32], &SessionRecord { user_id: "u1".into(), expires_at: FAR, ..SessionRecord::default() })
        .await
        .unwrap();
    s.put_code(&[3; 32], &CodeRecord { user_id: "u1".into(), expires_at: FAR, ..CodeRecord::default() }).await.unwrap();
    let family = FamilyRecord { expires_at: FAR, ..FamilyRecord::default() };
    s.create_refresh(
        &[4; 32],
        &RefreshRecord { family: "fam".into(), expires_at: FAR, ..RefreshRecord::default() },
        &family,
    )
    .await
    .unwrap();
    s.put_consent("u1", "c1", &["openid".to_owned()]).await.unwrap();
    let policy = LockoutPolicy { threshold: 5, base: Duration::from_secs(60), max: Duration::from_secs(60) };
    s.reserve_attempt("u:u1", &policy, 1000).await.unwrap();
    s.settle_attempt("u:u1", &policy, Outcome::Failure, 1000).await.unwrap();
    s.kv_set_value("plugin", "k", b"v\0binary", 3600, 0).await.unwrap();
    assert!(s.notify_enqueue(None, 42, &[queued("1.hook"), queued("2.hook")]).await.unwrap());
    let claimed = s.notify_claim(200, 300, 1).await.unwrap().remove(0);
    assert!(s.notify_settle(&claimed, Settle::Dead { reason: "rejected".into(), now_ms: 250 }).await.unwrap());
    s.init_audit_key("audit-key-pkcs8").await.unwrap();
    // An audit chain whose beginning retention pruned.
    let mut prev = GENESIS.to_owned();
    let mut records = Vec::new();
    for seq in 1..=20u64 {
        let r = AuditRecord::next(seq, 1, Actor::cli(), AuditEvent::AdminAuthFailed, &prev);
        prev.clone_from(&r.hash);
        records.push(r);
    }
    s.append_audit(&records).await.unwrap();
    let start = ChainStart { truncated_through: 5, last_hash: records[4].hash.clone() };
    s.prune_audit(&start).await.unwrap();
    let checkpoint = crate::audit_checkpoints::CheckpointRecord { seq: 20, hash: prev, ..Default::default() };
    s.add_checkpoint(&checkpoint).await.unwrap();
}

/// An export without the key set's version (a copy starts its own count) in a fixed order.
fn normalised(mut items: Vec<Item>) -> Vec<String> {
    for item in &mut items {
        if let Item::KeySet { record } = item {
            record.version = 0;
        }
    }
    let mut lines: Vec<String> = items.iter().map(|i| serde_json::to_string(i).unwrap()).collect();
    lines.sort();
    lines
}

async fn postgres(url: &str) -> Arc<dyn Backend> {
    Arc::new(PgStore::open(&PgOptions::new(url), Duration::from_secs(10)).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_from_sled_to_postgres_and_back_unchanged() {
    let Some(cluster) = pg_testing::shared() else { return };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first: Arc<dyn Backend> = Arc::new(Embedded::new(SledStore::open(d1.path()).unwrap()));
    fill(&*first).await;
    let exported = first.export().await.unwrap();
    let kinds: std::collections::BTreeSet<String> =
        exported.iter().map(|i| serde_json::to_value(i).unwrap()["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds.len(), 23, "every kind is exported: {kinds:?}");

    let pg = postgres(&cluster.fresh_url().await).await;
    let counts = transfer::import(&*pg, exported.clone()).await.unwrap();
    assert_eq!(counts.audit_lines, 15);
    let from_pg = pg.export().await.unwrap();
    assert_eq!(normalised(from_pg.clone()), normalised(exported.clone()));
    // What the records are for works on the copy: the pruned chain continues, the queue
    // delivers, the lockout counts, the kv entry reads back.
    let last = pg.last_audit_record().await.unwrap().unwrap();
    assert_eq!(last.seq, 20);
    let next = AuditRecord::next(21, 2, Actor::cli(), AuditEvent::AdminAuthFailed, &last.hash);
    pg.append_audit(&[next]).await.unwrap();
    assert_eq!(pg.kv_get_value("plugin", "k", 10).await.unwrap().as_deref(), Some(&b"v\0binary"[..]));
    assert!(!pg.use_once("assertion-1", FAR, 0).await.unwrap(), "a used assertion stays used");
    assert!(pg.is_revoked("jti-1").await.unwrap());
    assert_eq!(pg.find_link("https://accounts.example", "alice-1").await.unwrap().unwrap().user_id, "u1");
    assert_eq!(pg.notify_cursor().await.unwrap(), Some(42));
    assert_eq!(pg.get_factors("u1").await.unwrap().unwrap().recovery_codes, ["c0ffee"]);

    let second: Arc<dyn Backend> = Arc::new(Embedded::new(SledStore::open(d2.path()).unwrap()));
    transfer::import(&*second, from_pg).await.unwrap();
    let mut back = normalised(second.export().await.unwrap());
    let mut original = normalised(exported);
    back.retain(|l| !l.contains("\"seq\":21"));
    original.retain(|l| !l.contains("\"seq\":21"));
    assert_eq!(back, original);
    assert!(matches!(transfer::import(&*second, Vec::new()).await, Err(StoreError::Refused(_))), "not empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logical_backup_round_trips_and_refuses_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Backend> = Arc::new(Embedded::new(SledStore::open(dir.path()).unwrap()));
    fill(&*store).await;
    let items = store.export().await.unwrap();
    let mut file = Vec::new();
    let summary = transfer::write(&mut file, &items).unwrap();
    assert_eq!((summary.entries + summary.audit_lines) as usize, items.len());
    assert_eq!(transfer::read(&mut &file[..]).unwrap(), items);
    // A version-2 file restores into sled too (through the same import).
    let other = tempfile::tempdir().unwrap();
    let restored: Arc<dyn Backend> = Arc::new(Embedded::new(SledStore::open(other.path()).unwrap()));
    restored.restore(Box::new(std::io::Cursor::new(file.clone()))).await.unwrap();
    assert_eq!(normalised(restored.export().await.unwrap()), normalised(items));
    let text = String::from_utf8(file).unwrap();
    let altered = text.replacen("alice", "mallory", 1);
    assert!(transfer::read(&mut altered.as_bytes()).is_err(), "an altered file is refused");
    let cut = &text[..text.len() / 2];
    assert!(transfer::read(&mut cut.as_bytes()).is_err(), "a truncated file is refused");
}
