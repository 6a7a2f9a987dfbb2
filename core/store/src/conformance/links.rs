//! Federated links: unique by issuer and subject, listed by user, created with their user
//! atomically.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use std::sync::Arc;

use super::identity::user;
use crate::links::LinkRecord;
use crate::{Backend, StoreError};

pub fn link(issuer: &str, subject: &str, user_id: &str) -> LinkRecord {
    LinkRecord {
        connector_id: "oidc".into(),
        issuer: issuer.into(),
        subject: subject.into(),
        user_id: user_id.into(),
        linked_at: 10,
        last_used: 10,
    }
}

pub async fn links_are_unique_and_listed_by_user(s: &dyn Backend) {
    s.create_user(&user("l1", "linda", Some("linda@example.com"))).await.unwrap();
    s.create_user(&user("l2", "lars", None)).await.unwrap();
    assert_eq!(s.find_link("https://idp", "42").await.unwrap(), None);
    s.add_link(&link("https://idp", "42", "l1")).await.unwrap();
    s.add_link(&link("https://other", "7", "l1")).await.unwrap();
    // The same identity for anyone again: refused, and the first link stays.
    for again in [link("https://idp", "42", "l1"), link("https://idp", "42", "l2")] {
        assert!(matches!(s.add_link(&again).await, Err(StoreError::Conflict(_))), "{again:?}");
    }
    assert!(matches!(s.add_link(&link("https://idp", "43", "nobody")).await, Err(StoreError::Refused(_))));
    assert!(matches!(s.add_link(&link("https://idp", "a\0b", "l1")).await, Err(StoreError::Refused(_))));
    // Issuer and subject are one key: "a" + "b\0c" is not "a\0b" + "c".
    assert_eq!(s.find_link("https://idp", "4").await.unwrap(), None);
    assert_eq!(s.find_link("https://idp", "42").await.unwrap().unwrap().user_id, "l1");
    let issuers: Vec<_> = s.user_links("l1").await.unwrap().into_iter().map(|l| l.issuer).collect();
    assert_eq!(issuers, ["https://idp", "https://other"]);
    assert_eq!(s.user_links("l2").await.unwrap(), vec![]);

    assert!(s.touch_link("https://idp", "42", 99).await.unwrap());
    assert_eq!(s.find_link("https://idp", "42").await.unwrap().unwrap().last_used, 99);
    assert!(!s.touch_link("https://idp", "nope", 99).await.unwrap());

    // Only its own user removes a link; then the identity may be linked to another.
    assert!(!s.remove_link("l2", "https://idp", "42").await.unwrap());
    assert!(s.remove_link("l1", "https://idp", "42").await.unwrap());
    assert!(!s.remove_link("l1", "https://idp", "42").await.unwrap());
    assert_eq!(s.user_links("l1").await.unwrap().len(), 1);
    s.add_link(&link("https://idp", "42", "l2")).await.unwrap();
    assert_eq!(s.find_link("https://idp", "42").await.unwrap().unwrap().user_id, "l2");
}

pub async fn a_user_made_with_its_link_is_made_whole_or_not_at_all(s: &dyn Backend) {
    let new = user("j1", "jit", Some("jit@example.com"));
    s.create_linked_user(&new, &link("https://idp", "j", "ignored")).await.unwrap();
    assert_eq!(s.find_link("https://idp", "j").await.unwrap().unwrap().user_id, "j1", "the link names the new user");
    assert_eq!(s.find_user("jit@example.com").await.unwrap().unwrap().id, "j1");
    // The identity is linked: no second user.
    let twin = user("j2", "jit2", None);
    assert!(matches!(s.create_linked_user(&twin, &link("https://idp", "j", "")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_user("j2").await.unwrap(), None);
    // The email is taken: no user and no link.
    let clash = user("j3", "jit3", Some("jit@example.com"));
    assert!(matches!(s.create_linked_user(&clash, &link("https://idp", "k", "")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_user("j3").await.unwrap(), None);
    assert_eq!(s.find_link("https://idp", "k").await.unwrap(), None);
}

/// Eight callbacks at once for one new identity, on two handles: one user is made.
pub async fn one_user_per_new_identity_under_a_race(a: &Arc<dyn Backend>, b: &Arc<dyn Backend>) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        set.spawn(async move {
            let u = user(&format!("race{i}"), &format!("racer{i}"), None);
            s.create_linked_user(&u, &link("https://race", "one", "")).await.is_ok()
        });
    }
    let mut made = 0;
    while let Some(ok) = set.join_next().await {
        made += usize::from(ok.unwrap());
    }
    assert_eq!(made, 1, "one user for one identity");
    let winner = a.find_link("https://race", "one").await.unwrap().unwrap().user_id;
    let users: Vec<_> =
        a.list_users().await.unwrap().into_iter().filter(|u| u.username.starts_with("racer")).map(|u| u.id).collect();
    assert_eq!(users, [winner], "the losers left no user behind");
}
