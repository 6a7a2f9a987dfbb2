//! The notification queue, the plugins' key-value store, and the sign-in counters.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use crate::Backend;
use crate::plugin_kv::{KvError, MAX_KEYS, MAX_VALUE};

/// A message for the notifier `hook`, due at `due_ms`, not yet tried.
pub fn queued(id: &str, due_ms: i64) -> crate::notify_queue::Queued {
    use crate::notify_queue::{Channel, Message, Queued};
    Queued {
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
    }
}

pub async fn notify_queue_orders_settles_and_revives(s: &dyn Backend) {
    use crate::notify_queue::{Queued, Settle};
    let q = queued;
    assert_eq!(s.notify_cursor().await.unwrap(), None);
    let three = [q("2.hook", 200), q("1.hook", 100), q("3.hook", 300)];
    assert!(s.notify_enqueue(None, 7, &three).await.unwrap());
    assert!(!s.notify_enqueue(None, 9, &[q("x.hook", 0)]).await.unwrap(), "the cursor moved: nothing queued");
    assert!(!s.notify_enqueue(Some(5), 9, &[q("x.hook", 0)]).await.unwrap());
    assert_eq!(s.notify_cursor().await.unwrap(), Some(7));
    assert_eq!(s.notify_next_due().await.unwrap(), Some(100));
    // Claimed until 10_250: returned with that as the due time, and not due for anyone else.
    let claimed = s.notify_claim(250, 10_250, 10).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|q| (q.message.id.as_str(), q.due_ms)).collect();
    assert_eq!(ids, [("1.hook", 10_250), ("2.hook", 10_250)], "due ones, earliest first");
    assert_eq!(s.notify_claim(250, 10_250, 10).await.unwrap(), vec![], "claimed already");
    let (first, second) = (&claimed[0], &claimed[1]);
    assert!(s.notify_settle(first, Settle::Done).await.unwrap());
    assert!(!s.notify_settle(first, Settle::Done).await.unwrap(), "settled once");
    let later = Queued { due_ms: 1_000, attempts: 1, last_error: Some("503".into()), ..second.clone() };
    assert!(s.notify_settle(second, Settle::Retry(Box::new(later))).await.unwrap());
    let ids: Vec<_> = s.notify_queued(10).await.unwrap().into_iter().map(|q| (q.message.id, q.due_ms)).collect();
    assert_eq!(ids, [("3.hook".to_owned(), 300), ("2.hook".to_owned(), 1_000)]);
    // A lapsed claim: the message falls due again and is claimed anew; the first claimer's
    // late outcome changes nothing.
    let stale = s.notify_claim(300, 400, 1).await.unwrap().remove(0);
    let anew = s.notify_claim(500, 900, 1).await.unwrap().remove(0);
    assert_eq!((stale.message.id.as_str(), anew.message.id.as_str(), anew.due_ms), ("3.hook", "3.hook", 900));
    assert!(!s.notify_settle(&stale, Settle::Done).await.unwrap(), "the lapsed claim lost it");
    assert!(s.notify_settle(&anew, Settle::Dead { reason: "rejected".into(), now_ms: 501 }).await.unwrap());
    let dead = s.notify_dead(10).await.unwrap();
    assert_eq!((dead.len(), dead[0].reason.as_str(), dead[0].dead_ms), (1, "rejected", 501));
    assert!(s.notify_revive("3.hook", 600).await.unwrap());
    assert!(!s.notify_revive("3.hook", 600).await.unwrap(), "no longer dead");
    assert!(s.notify_dead(10).await.unwrap().is_empty());
    let back = s.notify_claim(600, 700, 10).await.unwrap();
    assert_eq!((back[0].message.id.as_str(), back[0].attempts), ("3.hook", 0));
}

pub async fn plugin_kv_namespaces_ttl_and_counters(s: &dyn Backend) {
    s.kv_set_value("a", "k", b"one", 10, 100).await.unwrap();
    assert_eq!(s.kv_get_value("a", "k", 105).await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(s.kv_get_value("b", "k", 105).await.unwrap(), None, "another plugin's key");
    assert_eq!(s.kv_get_value("a", "k", 110).await.unwrap(), None, "expired");
    assert_eq!(s.kv_incr_value("a", "n", 2, 10, 100).await.unwrap(), 2);
    assert_eq!(s.kv_incr_value("a", "n", 3, 10, 105).await.unwrap(), 5);
    assert_eq!(s.kv_incr_value("a", "n", 1, 10, 200).await.unwrap(), 1, "an expired counter restarts");
    s.kv_set_value("a", "text", b"hello", 10, 100).await.unwrap();
    assert!(matches!(s.kv_incr_value("a", "text", 1, 10, 100).await, Err(KvError::Invalid(_))));
    s.kv_delete_value("a", "n").await.unwrap();
    assert_eq!(s.kv_get_value("a", "n", 100).await.unwrap(), None);
    assert!(matches!(s.kv_set_value("a", "", b"x", 1, 0).await, Err(KvError::Invalid(_))));
    assert!(matches!(s.kv_set_value("a", "big", &vec![0; MAX_VALUE + 1], 1, 0).await, Err(KvError::Invalid(_))));
}

pub async fn plugin_kv_quota_counts_live_keys(s: &dyn Backend) {
    for i in 0..MAX_KEYS {
        s.kv_set_value("q", &format!("k{i}"), b"v", 10, 0).await.unwrap();
    }
    assert!(matches!(s.kv_set_value("q", "one-more", b"v", 10, 0).await, Err(KvError::Quota)));
    s.kv_set_value("q", "k1", b"overwrite", 10, 0).await.unwrap();
    s.kv_set_value("other", "elsewhere", b"v", 10, 0).await.unwrap();
    // Once they expire the room is back.
    s.kv_set_value("q", "later", b"v", 10, 20).await.unwrap();
    assert_eq!(s.kv_get_value("q", "later", 21).await.unwrap().as_deref(), Some(&b"v"[..]));
}

pub async fn login_attempts_lock_and_purge(s: &dyn Backend) {
    use crate::login_attempts::{LockoutPolicy, Outcome, Reserve};
    let p = LockoutPolicy {
        threshold: 2,
        base: std::time::Duration::from_secs(60),
        max: std::time::Duration::from_secs(600),
    };
    for _ in 0..2 {
        assert_eq!(s.reserve_attempt("u:one", &p, 1000).await.unwrap(), Reserve::Granted);
    }
    assert_eq!(s.reserve_attempt("u:one", &p, 1000).await.unwrap(), Reserve::Busy { until: 1001 });
    assert_eq!(s.settle_attempt("u:one", &p, Outcome::Failure, 1000).await.unwrap(), Some(1060));
    assert_eq!(s.settle_attempt("u:one", &p, Outcome::Failure, 1000).await.unwrap(), None);
    assert_eq!(s.reserve_attempt("u:one", &p, 1030).await.unwrap(), Reserve::Refused { until: 1060 });
    assert_eq!(s.reserve_attempt("n:other", &p, 1030).await.unwrap(), Reserve::Granted);
    assert_eq!(s.settle_attempt("n:other", &p, Outcome::Success, 1030).await.unwrap(), None);
    // A day later the quiet keys are purged; the locked one had its lock end long ago.
    assert!(s.purge_attempts(1000 + 2 * 24 * 3600).await.unwrap() >= 1);
    assert_eq!(s.reserve_attempt("u:one", &p, 1000 + 2 * 24 * 3600).await.unwrap(), Reserve::Granted);
}
