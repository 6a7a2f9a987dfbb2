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
}
