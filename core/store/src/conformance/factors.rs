//! Second factors: swapped by version, refused for unknown users, and a code spent once
//! under a race of two handles.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use std::sync::Arc;

use super::identity::user;
use crate::factors::{FactorsRecord, PasskeyFactor, TotpFactor};
use crate::{Backend, StoreError};

fn totp(last_step: u64) -> TotpFactor {
    TotpFactor { secret: "JBSWY3DPEHPK3PXP".into(), created_at: 5, last_step, last_used: 0 }
}

pub async fn factors_swap_by_version(s: &dyn Backend) {
    s.create_user(&user("f1", "fay", None)).await.unwrap();
    assert_eq!(s.get_factors("f1").await.unwrap(), None);
    let mut r = FactorsRecord {
        totp: Some(totp(1)),
        recovery_codes: vec!["aa".into(), "bb".into()],
        ..FactorsRecord::empty("f1")
    };
    // Nothing stored: only `expected = 0` writes.
    assert!(!s.put_factors(&r, 3).await.unwrap());
    assert!(s.put_factors(&r, 0).await.unwrap());
    let stored = s.get_factors("f1").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.totp.clone(), stored.recovery_codes.len()), (1, Some(totp(1)), 2));
    // A writer that read version 1 wins once; a second with the same view loses.
    r.totp = Some(totp(2));
    assert!(s.put_factors(&r, 1).await.unwrap());
    r.totp = Some(totp(9));
    assert!(!s.put_factors(&r, 1).await.unwrap());
    assert!(!s.put_factors(&r, 0).await.unwrap(), "a record exists: creating again loses");
    assert_eq!(s.get_factors("f1").await.unwrap().unwrap().totp, Some(totp(2)));
    // Removing every factor is a write of an empty record: stale writers still lose.
    assert!(s.put_factors(&FactorsRecord::empty("f1"), 2).await.unwrap());
    let empty = s.get_factors("f1").await.unwrap().unwrap();
    assert_eq!((empty.version, empty.totp, empty.recovery_codes.len()), (3, None, 0));
    assert!(!s.put_factors(&r, 2).await.unwrap());
    for bad in ["nobody", "", "a\0b"] {
        let refused = s.put_factors(&FactorsRecord::empty(bad), 0).await;
        assert!(matches!(refused, Err(StoreError::Refused(_))), "{bad:?}: {refused:?}");
    }
}

fn passkey(id: &str) -> PasskeyFactor {
    PasskeyFactor {
        name: format!("key {id}"),
        credential_id: id.into(),
        passkey: "{}".into(),
        created_at: 1,
        last_used: 0,
    }
}

pub async fn a_credential_id_belongs_to_one_user(s: &dyn Backend) {
    s.create_user(&user("p1", "pia", None)).await.unwrap();
    s.create_user(&user("p2", "pat", None)).await.unwrap();
    let mine = FactorsRecord { passkeys: vec![passkey("cred-a"), passkey("cred-b")], ..FactorsRecord::empty("p1") };
    assert!(s.put_factors(&mine, 0).await.unwrap());
    assert!(s.get_factors("p1").await.unwrap().unwrap().enrolled(), "a passkey is a factor");
    // Another user cannot have it, with or without other keys; nothing of that write stays.
    for ids in [vec!["cred-a"], vec!["cred-z", "cred-b"]] {
        let theirs = FactorsRecord { passkeys: ids.iter().map(|i| passkey(i)).collect(), ..FactorsRecord::empty("p2") };
        let refused = s.put_factors(&theirs, 0).await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "{ids:?}: {refused:?}");
        assert_eq!(s.get_factors("p2").await.unwrap(), None);
    }
    // Its owner keeps it across writes; once removed, it is free for someone else.
    let kept = FactorsRecord { passkeys: vec![passkey("cred-a")], ..mine.clone() };
    assert!(s.put_factors(&kept, 1).await.unwrap());
    let theirs = FactorsRecord { passkeys: vec![passkey("cred-b")], ..FactorsRecord::empty("p2") };
    assert!(s.put_factors(&theirs, 0).await.unwrap(), "cred-b was given up by p1");
    let again = FactorsRecord { passkeys: vec![passkey("cred-a"), passkey("cred-b")], ..mine };
    assert!(matches!(s.put_factors(&again, 2).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_factors("p1").await.unwrap().unwrap().passkeys.len(), 1);
}

/// Eight attempts at once to spend one recovery code, on two handles: one succeeds.
pub async fn a_code_is_spent_once_under_a_race(a: &Arc<dyn Backend>, b: &Arc<dyn Backend>) {
    a.create_user(&user("fr", "fred", None)).await.unwrap();
    let r = FactorsRecord { recovery_codes: vec!["one".into(), "two".into()], ..FactorsRecord::empty("fr") };
    assert!(a.put_factors(&r, 0).await.unwrap());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        set.spawn(async move {
            // Read, check, swap: the way the server spends a code.
            loop {
                let cur = s.get_factors("fr").await.unwrap().unwrap();
                if !cur.recovery_codes.iter().any(|c| c == "one") {
                    return false;
                }
                let spent = FactorsRecord { recovery_codes: vec!["two".into()], ..cur.clone() };
                if s.put_factors(&spent, cur.version).await.unwrap() {
                    return true;
                }
            }
        });
    }
    let mut won = 0;
    while let Some(ok) = set.join_next().await {
        won += usize::from(ok.unwrap());
    }
    assert_eq!(won, 1, "one code, one use");
    assert_eq!(b.get_factors("fr").await.unwrap().unwrap().recovery_codes, ["two"]);
}

/// Removing a user takes their links, factors, passkey ids and consents with them, and frees
/// their name, address, identities and credentials for others.
pub async fn a_removed_user_leaves_nothing_behind(s: &dyn Backend) {
    s.create_user(&user("d1", "dora", Some("dora@example.com"))).await.unwrap();
    s.add_link(&super::link("https://idp.example", "dora-1", "d1")).await.unwrap();
    let mine = FactorsRecord { passkeys: vec![passkey("cred-d")], ..FactorsRecord::empty("d1") };
    assert!(s.put_factors(&mine, 0).await.unwrap());
    s.put_consent("d1", "app", &["openid".to_owned()]).await.unwrap();
    s.put_consent("d10", "app", &["openid".to_owned()]).await.unwrap();

    assert_eq!(s.delete_user("d1").await.unwrap().map(|u| u.username), Some("dora".into()));
    assert_eq!(s.delete_user("d1").await.unwrap(), None);
    assert_eq!(s.delete_user("d\0").await.unwrap(), None);
    assert_eq!(s.get_user("d1").await.unwrap(), None);
    assert_eq!(s.find_user("dora@example.com").await.unwrap(), None);
    assert_eq!(s.find_link("https://idp.example", "dora-1").await.unwrap(), None);
    assert!(s.user_links("d1").await.unwrap().is_empty());
    assert_eq!(s.get_factors("d1").await.unwrap(), None);
    assert_eq!(s.get_consent("d1", "app").await.unwrap(), None);
    assert!(s.get_consent("d10", "app").await.unwrap().is_some(), "another user's consent stays");
    assert!(matches!(s.add_link(&super::link("https://idp.example", "x", "d1")).await, Err(StoreError::Refused(_))));

    // All of it is free again.
    s.create_user(&user("d2", "dora", Some("dora@example.com"))).await.unwrap();
    s.add_link(&super::link("https://idp.example", "dora-1", "d2")).await.unwrap();
    let theirs = FactorsRecord { passkeys: vec![passkey("cred-d")], ..FactorsRecord::empty("d2") };
    assert!(s.put_factors(&theirs, 0).await.unwrap());
}
