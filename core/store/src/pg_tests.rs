//! The conformance suite on PostgreSQL (each test in a schema of its own on the binary's
//! shared cluster), the races on two pools as two instances would hold them, migrations, and
//! an outage.

use std::sync::Arc;
use std::time::Duration;

use super::pg::{PgOptions, PgStore, SCHEMA_VERSION, schema_version};
use super::{Backend, StoreError, pg_testing};

async fn open(url: &str) -> Arc<dyn Backend> {
    Arc::new(PgStore::open(&PgOptions::new(url), Duration::from_secs(10)).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Some(cluster) = pg_testing::shared() else { return };
    super::conformance::all(open(&cluster.fresh_url().await).await).await;
    // Two pools on one schema: two instances.
    let url = cluster.fresh_url().await;
    let (a, b) = (open(&url).await, open(&url).await);
    super::conformance::pair(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_migrate_once_and_a_newer_schema_is_refused() {
    let Some(cluster) = pg_testing::shared() else { return };
    let url = cluster.fresh_url().await;
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move { PgStore::open(&PgOptions::new(url), Duration::from_secs(10)).await.map(|_| ()) });
    }
    while let Some(r) = starts.join_next().await {
        r.unwrap().unwrap();
    }
    let store = PgStore::open(&PgOptions::new(&url), Duration::from_secs(10)).await.unwrap();
    assert_eq!(schema_version(&store).await.unwrap(), SCHEMA_VERSION);
    // A later gatehouse migrated this database: this one must not write to it.
    let c = store.client().await.unwrap();
    c.execute("INSERT INTO gatehouse_schema (version) VALUES ($1)", &[&(SCHEMA_VERSION + 1)]).await.unwrap();
    match PgStore::open(&PgOptions::new(&url), Duration::from_secs(10)).await {
        Err(StoreError::Refused(why)) => assert!(why.contains("newer"), "{why}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_is_unavailable_quickly_and_recovery_needs_nothing() {
    let Some(mut cluster) = pg_testing::private() else { return };
    let url = cluster.fresh_url().await;
    let mut opts = PgOptions::new(&url);
    opts.timeout = Duration::from_secs(2);
    let store: Arc<dyn Backend> = Arc::new(PgStore::open(&opts, Duration::from_secs(10)).await.unwrap());
    store.revoke_token("before", i64::MAX).await.unwrap();
    // Acknowledged: what `Db::durable` does before an answer.
    store.flush().await.unwrap();
    cluster.stop();
    let started = crate::monotonic();
    for _ in 0..3 {
        match store.is_revoked("not-revoked").await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    // A revocation this process made stays known (revocations are never undone).
    assert!(matches!(store.is_revoked("before").await, Ok(true)));
    assert!(started.elapsed() < Duration::from_secs(8), "answered within the timeouts: {:?}", started.elapsed());
    cluster.start();
    // The pool drops the dead connections and makes new ones on its own.
    let mut last = None;
    for _ in 0..50 {
        match store.is_revoked("not-revoked").await {
            Ok(false) => return,
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store answers again once the database is back: {last:?}");
}
