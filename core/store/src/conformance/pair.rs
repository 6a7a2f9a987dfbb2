//! Two handles on one store (for PostgreSQL: two pools, as two instances would have), racing
//! for what only one may win: a code's redemption, a refresh token's rotation, a flow's
//! finish, a username, sign-in attempts, counters.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Backend;
use crate::browser::{
    AuthRequest, CodeRecord, CodeRedemption, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation,
};
use crate::login_attempts::{LockoutPolicy, Reserve};

/// Runs `n` copies of `f` at once, alternating between the two handles; returns the outputs.
async fn race<T, F, Fut>(a: &Arc<dyn Backend>, b: &Arc<dyn Backend>, n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Backend>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let handle = if i % 2 == 0 { a.clone() } else { b.clone() };
        set.spawn(f(handle, i));
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

/// Every race, on two handles `a` and `b` of one (fresh) store.
pub async fn pair(a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    // 16 redemptions of one code: one wins, the others see the winner's redemption.
    let code = CodeRecord {
        request: AuthRequest { client_id: "c".into(), ..Default::default() },
        user_id: "u".into(),
        expires_at: 100,
        ..Default::default()
    };
    // 8 uses of one emailed link: one gets the ticket.
    let ticket = crate::tickets::TicketRecord { user_id: "u".into(), expires_at: 100, ..Default::default() };
    a.put_ticket(&[8; 32], &ticket).await.unwrap();
    let taken = race(&a, &b, 8, |s, _| async move { s.take_ticket(&[8; 32]).await.unwrap() }).await;
    assert_eq!(taken.iter().flatten().collect::<Vec<_>>(), [&ticket], "one use of a ticket");

    // 8 creations of one group name (in different cases): one is made.
    let made = race(&a, &b, 8, |s, i| async move {
        let name = if i % 2 == 0 { "Racers" } else { "racers" };
        s.create_group(&super::groups::group(&format!("race-{i}"), name)).await.is_ok()
    })
    .await;
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "one group of a name");

    a.put_code(&[7; 32], &code).await.unwrap();
    let outcomes = race(&a, &b, 16, |s, i| async move {
        let r = Redemption { jti: format!("j{i}"), access_exp: 600, family: None };
        s.redeem_code(&[7; 32], &r, 10).await.unwrap()
    })
    .await;
    let winners: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            CodeRedemption::Redeemed(c) => c.redeemed.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for o in &outcomes {
        if let CodeRedemption::Replayed(c) = o {
            assert_eq!(c.redeemed.as_ref(), Some(&winners[0]), "a replay reports the first redemption");
        }
    }

    // 16 rotations of one refresh token: one rotates, the rest are reuse (the family revoked).
    let fam = FamilyRecord { client_id: "c".into(), user_id: "u".into(), expires_at: 1000, ..Default::default() };
    let rt = RefreshRecord {
        family: "fam".into(),
        client_id: "c".into(),
        user_id: "u".into(),
        expires_at: 500,
        ..Default::default()
    };
    a.create_refresh(&[8; 32], &rt, &fam).await.unwrap();
    let outcomes = race(&a, &b, 16, move |s, i| {
        let rt = rt.clone();
        async move {
            let new = [u8::try_from(100 + i).unwrap_or(0); 32];
            s.rotate_refresh(&[8; 32], &new, &rt, &format!("j{i}"), 700, 5).await.unwrap()
        }
    })
    .await;
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Rotation::Rotated(_))).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Rotation::Rotated(_) | Rotation::Reused(_) | Rotation::Invalid)));
    assert!(outcomes.iter().any(|o| matches!(o, Rotation::Reused(_))), "the losers saw the spent token: {outcomes:?}");

    // A flow is finished once.
    a.put_flow(&[9; 32], &FlowRecord { expires_at: 100, ..Default::default() }).await.unwrap();
    let taken = race(&a, &b, 8, |s, _| async move { s.take_flow(&[9; 32]).await.unwrap().is_some() }).await;
    assert_eq!(taken.iter().filter(|t| **t).count(), 1);

    // One username, many creators.
    let created = race(&a, &b, 8, |s, i| async move {
        let u = crate::UserRecord {
            id: format!("id{i}"),
            username: "same".into(),
            password_hash: "x".into(),
            ..Default::default()
        };
        s.create_user(&u).await.is_ok()
    })
    .await;
    assert_eq!(created.iter().filter(|c| **c).count(), 1);

    // Sign-in attempts counted from both handles share one limit.
    let p = LockoutPolicy {
        threshold: 5,
        base: std::time::Duration::from_secs(60),
        max: std::time::Duration::from_secs(60),
    };
    let granted = Arc::new(AtomicUsize::new(0));
    let g = granted.clone();
    race(&a, &b, 24, move |s, _| {
        let g = g.clone();
        async move {
            if s.reserve_attempt("u:shared", &p, 1000).await.unwrap() == Reserve::Granted {
                g.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await;
    assert_eq!(granted.load(Ordering::Relaxed), 5);

    // Counters add up exactly.
    race(&a, &b, 20, |s, _| async move { s.kv_incr_value("p", "n", 1, 60, 0).await.unwrap() }).await;
    assert_eq!(a.kv_incr_value("p", "n", 0, 60, 0).await.unwrap(), 20);

    coordination(&a, &b).await;
    queue(&a, &b).await;
}

/// Key rotations, single-use markers, leases and the audit head: one winner each.
async fn coordination(a: &Arc<dyn Backend>, b: &Arc<dyn Backend>) {
    // Eight instances rotate from the same version: one key set wins, the others conflict.
    let version = a.load_keys().await.unwrap().version;
    let rotated = race(a, b, 8, move |s, i| async move {
        let key = crate::KeyRecord { kid: format!("k{i}"), alg: "ES256".into(), ..Default::default() };
        s.replace_keys(version, &[key]).await.map(|_| i)
    })
    .await;
    let won: Vec<_> = rotated.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{rotated:?}");
    assert!(rotated.iter().all(|r| r.is_ok() || matches!(r, Err(crate::StoreError::Conflict(_)))));
    let set = b.load_keys().await.unwrap();
    assert_eq!((set.version, set.keys[0].kid.clone()), (version + 1, format!("k{}", won[0])));

    let used = race(a, b, 12, |s, _| async move { s.use_once("jti:once", 100, 1).await.unwrap() }).await;
    assert_eq!(used.iter().filter(|u| **u).count(), 1, "one use of an assertion");
    let leased =
        race(a, b, 12, |s, i| async move { s.try_lease("rotate", &format!("h{i}"), 10_000, 0).await.unwrap() }).await;
    assert_eq!(leased.iter().filter(|l| **l).count(), 1, "one lease holder");

    // Appends from the same head: exactly one extends the chain, the rest conflict.
    use crate::audit_chain::AuditRecord;
    use crate::audit_event::{Actor, AuditEvent};
    let head = a.last_audit_record().await.unwrap();
    let (seq, prev) = head.map_or((1, crate::audit_chain::GENESIS.to_owned()), |r| (r.seq + 1, r.hash));
    let appended = race(a, b, 8, move |s, i| {
        let prev = prev.clone();
        async move {
            let r =
                AuditRecord::next(seq, i64::try_from(i).unwrap_or(0), Actor::cli(), AuditEvent::AdminAuthFailed, &prev);
            s.append_audit(&[r]).await.is_ok()
        }
    })
    .await;
    assert_eq!(appended.iter().filter(|x| **x).count(), 1);
    assert_eq!(b.last_audit_record().await.unwrap().map(|r| r.seq), Some(seq));
}

/// The notification queue: the cursor moves once, and claims never overlap.
async fn queue(a: &Arc<dyn Backend>, b: &Arc<dyn Backend>) {
    use crate::notify_queue::{Channel, Message, Queued, Settle};
    let q = |i: usize| Queued {
        plugin: "hook".into(),
        message: Message {
            id: format!("{i}.hook"),
            channel: Channel::Webhook,
            template: "login.failed".into(),
            locale: "en".into(),
            recipient: "https://hooks.example/x".into(),
            subject: None,
            text_body: "t".into(),
            data: "{}".into(),
        },
        due_ms: 0,
        attempts: 0,
        created_ms: 0,
        last_error: None,
    };
    let cursor = a.notify_cursor().await.unwrap();
    let filled =
        race(a, b, 6, move |s, i| async move { s.notify_enqueue(cursor, 40, &[q(1000 + i)]).await.unwrap() }).await;
    assert_eq!(filled.iter().filter(|f| **f).count(), 1, "one instance queues the events");
    let batch: Vec<_> = (0..40).map(q).collect();
    assert!(a.notify_enqueue(Some(40), 80, &batch).await.unwrap());
    // Eight claimers at once, four messages each: all 41 claimed, none twice.
    let claims = race(a, b, 12, |s, _| async move { s.notify_claim(10, 60_000, 4).await.unwrap() }).await;
    let mut ids: Vec<_> = claims.iter().flatten().map(|q| q.message.id.clone()).collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((claimed, ids.len()), (41, 41), "every message claimed exactly once");
    let n = claims.len();
    race(a, b, n, move |s, i| {
        let mine = claims[i].clone();
        async move {
            for m in &mine {
                assert!(s.notify_settle(m, Settle::Done).await.unwrap());
            }
        }
    })
    .await;
    assert_eq!(a.notify_queued(100).await.unwrap(), vec![], "every claim settled");

    super::links::one_user_per_new_identity_under_a_race(a, b).await;
    super::factors::a_code_is_spent_once_under_a_race(a, b).await;
}
