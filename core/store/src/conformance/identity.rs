//! Clients, users, keys and revocations.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use crate::Patched;
use crate::{Backend, ClientRecord, KeyRecord, StoreError, UserRecord};

pub fn client(id: &str) -> ClientRecord {
    ClientRecord {
        id: id.into(),
        secret_sha256: Some("00".repeat(32)),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["logs:write".into()],
        ..Default::default()
    }
}

pub async fn clients_round_trip(s: &dyn Backend) {
    assert_eq!(s.get_client("a").await.unwrap(), None);
    assert_eq!(s.get_client("a\0b").await.unwrap(), None, "a NUL from a request finds nothing");
    s.create_client(&client("b")).await.unwrap();
    s.create_client(&client("a")).await.unwrap();
    assert!(matches!(s.create_client(&client("a")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_client("a").await.unwrap(), Some(client("a")));
    let ids: Vec<_> = s.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["a", "b"]);
    // Replaced by version; a secret rotation moves the version on too.
    let renamed = crate::ClientRecord { client_name: Some("B".into()), ..client("b") };
    let crate::Patched::Updated(b) = s.update_client(&renamed, 0).await.unwrap() else { panic!("updated") };
    assert_eq!((b.version, b.client_name.as_deref()), (1, Some("B")));
    assert_eq!(s.update_client(&renamed, 0).await.unwrap(), crate::Patched::Stale(1));
    assert!(s.set_client_secret("b", "ab").await.unwrap());
    assert_eq!(s.get_client("b").await.unwrap().map(|c| (c.version, c.secret_sha256)), Some((2, Some("ab".into()))));
    assert_eq!(s.update_client(&client("zz"), 0).await.unwrap(), crate::Patched::Missing);
    assert!(s.remove_client("a").await.unwrap());
    assert!(!s.remove_client("a").await.unwrap());
    assert_eq!(s.get_client("a").await.unwrap(), None);
}

pub async fn keys_replace_atomically(s: &dyn Backend) {
    assert_eq!(s.load_keys().await.unwrap(), crate::KeySetRecord::default());
    let k = |kid: &str| KeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        pkcs8: "AAAA".into(),
        created_at: 1,
        ..Default::default()
    };
    assert_eq!(s.replace_keys(0, &[k("one"), k("two")]).await.unwrap(), 1);
    assert_eq!(s.replace_keys(1, &[k("three")]).await.unwrap(), 2);
    let set = s.load_keys().await.unwrap();
    assert_eq!((set.version, set.keys), (2, vec![k("three")]));
    // A writer that read version 1 lost to the one that wrote version 2: nothing changes.
    assert!(matches!(s.replace_keys(1, &[k("four")]).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.load_keys().await.unwrap().keys, vec![k("three")]);
}

pub async fn single_use_and_leases(s: &dyn Backend) {
    assert!(s.use_once("jti:a", 100, 10).await.unwrap());
    assert!(!s.use_once("jti:a", 100, 50).await.unwrap(), "used");
    assert!(s.use_once("jti:b", 100, 50).await.unwrap(), "another key");
    assert!(s.use_once("jti:a", 300, 101).await.unwrap(), "the first use expired");
    // Leases: one holder at a time, renewable by its holder, free once expired.
    assert!(s.try_lease("job", "one", 1_000, 0).await.unwrap());
    assert!(!s.try_lease("job", "two", 1_000, 500).await.unwrap());
    assert!(s.try_lease("job", "one", 2_000, 900).await.unwrap(), "renewed");
    assert!(!s.try_lease("job", "two", 3_000, 1_500).await.unwrap(), "the renewal holds");
    assert!(s.try_lease("other", "two", 3_000, 1_500).await.unwrap(), "another lease");
    assert!(s.try_lease("job", "two", 3_000, 2_000).await.unwrap(), "expired: taken over");
    assert!(!s.try_lease("job", "one", 4_000, 2_500).await.unwrap());
}

pub async fn revocations_expire(s: &dyn Backend) {
    s.revoke_token("old", 100).await.unwrap();
    s.revoke_token("new", 200).await.unwrap();
    assert!(s.is_revoked("old").await.unwrap());
    assert!(!s.is_revoked("other").await.unwrap());
    assert_eq!(s.purge_revocations(150).await.unwrap(), 1);
    assert!(!s.is_revoked("old").await.unwrap());
    assert!(s.is_revoked("new").await.unwrap());
}

pub fn user(id: &str, name: &str, email: Option<&str>) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        email: email.map(Into::into),
        password_hash: "$argon2id$x".into(),
        ..Default::default()
    }
}

pub async fn users_are_unique_by_name_and_email(s: &dyn Backend) {
    s.create_user(&user("1", "bob", Some("bob@example.com"))).await.unwrap();
    s.create_user(&user("2", "alice", None)).await.unwrap();
    for dup in [user("3", "bob", None), user("4", "carol", Some("bob@example.com")), user("1", "dave", None)] {
        assert!(matches!(s.create_user(&dup).await, Err(StoreError::Conflict(_))), "{dup:?}");
    }
    assert_eq!(s.find_user("bob").await.unwrap().unwrap().id, "1");
    assert_eq!(s.find_user("bob@example.com").await.unwrap().unwrap().id, "1");
    assert_eq!(s.find_user("carol").await.unwrap(), None);
    assert_eq!(s.find_user("bob\0").await.unwrap(), None);
    assert_eq!(s.get_user("1\0").await.unwrap(), None);
    let names: Vec<_> = s.list_users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(s.set_user_password("1", "$argon2id$new", 5).await.unwrap());
    assert!(s.set_user_disabled("1", true, 6).await.unwrap());
    let bob = s.get_user("1").await.unwrap().unwrap();
    assert_eq!((bob.password_hash.as_str(), bob.disabled, bob.updated_at), ("$argon2id$new", true, 6));
    assert_eq!(bob.version, 3, "created as 1, then two changes");
    let profile = crate::Profile { name: Some("Bob B".into()), locale: Some("en-GB".into()), ..Default::default() };
    assert!(s.set_user_profile("1", &profile, 7).await.unwrap());
    let bob = s.get_user("1").await.unwrap().unwrap();
    assert_eq!((bob.profile, bob.version, bob.updated_at), (profile, 4, 7));
    assert!(!s.set_user_profile("nobody", &crate::Profile::default(), 8).await.unwrap());
    assert!(!s.set_user_disabled("nobody", true, 7).await.unwrap());
}

pub async fn an_address_is_verified_only_while_it_is_kept(s: &dyn Backend) {
    s.create_user(&user("v1", "verifier", Some("v@example.com"))).await.unwrap();
    assert!(!s.set_email_verified("v1", "old@example.com", 5).await.unwrap(), "another address");
    assert!(!s.get_user("v1").await.unwrap().unwrap().email_verified);
    assert!(s.set_email_verified("v1", "v@example.com", 6).await.unwrap());
    let u = s.get_user("v1").await.unwrap().unwrap();
    assert_eq!((u.email_verified, u.updated_at, u.version), (true, 6, 2), "a refused change moves nothing");
    assert!(!s.set_email_verified("nobody", "v@example.com", 7).await.unwrap());
}

pub async fn patches_apply_only_to_the_expected_version(s: &dyn Backend) {
    s.create_user(&user("patch-1", "patched", None)).await.unwrap();
    let patch = crate::UserPatch { disabled: Some(true), groups: Some(vec!["ops".into()]), ..Default::default() };
    let Patched::Updated(u) = s.patch_user("patch-1", Some(1), &patch, 9).await.unwrap() else { panic!("updated") };
    assert_eq!((u.disabled, u.groups.clone(), u.version, u.updated_at), (true, vec!["ops".to_owned()], 2, 9));
    assert_eq!(s.patch_user("patch-1", Some(1), &patch, 10).await.unwrap(), Patched::Stale(2), "a stale writer");
    assert_eq!(s.get_user("patch-1").await.unwrap().unwrap().version, 2, "nothing changed");
    let ext = crate::UserPatch { external_id: Some(Some("hr-9".into())), ..Default::default() };
    let Patched::Updated(u) = s.patch_user("patch-1", None, &ext, 11).await.unwrap() else { panic!("updated") };
    assert_eq!((u.external_id.as_deref(), u.version, u.disabled), (Some("hr-9"), 3, true));
    assert_eq!(s.patch_user("nobody", None, &ext, 12).await.unwrap(), Patched::Missing);
}

/// Pages of users by username, after a cursor, by username or email prefix.
pub async fn users_are_paged_by_name_and_prefix(s: &dyn Backend) {
    for (id, name, email) in [
        ("pg-1", "qz-b", Some("qzed@example.com")),
        ("pg-2", "qz.c", None),
        ("pg-3", "qzb", Some("qz@x.example")),
        ("pg-4", "r-last", None),
    ] {
        s.create_user(&user(id, name, email)).await.unwrap();
    }
    let names = |v: Vec<crate::UserRecord>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    // Byte order: '-' < '.' < 'b'.
    assert_eq!(names(s.users_page(Some("qz"), None, 10).await.unwrap()), ["qz-b", "qz.c", "qzb"]);
    assert_eq!(names(s.users_page(Some("qz"), None, 2).await.unwrap()), ["qz-b", "qz.c"]);
    assert_eq!(names(s.users_page(Some("qz"), Some("qz.c"), 2).await.unwrap()), ["qzb"]);
    assert_eq!(names(s.users_page(Some("qzed@"), None, 10).await.unwrap()), ["qz-b"], "by email");
    assert_eq!(names(s.users_page(Some("qz@"), None, 10).await.unwrap()), ["qzb"]);
    assert_eq!(names(s.users_page(Some("q%"), None, 10).await.unwrap()), Vec::<String>::new(), "no wildcards");
    assert_eq!(names(s.users_page(Some("qz\0"), None, 10).await.unwrap()), Vec::<String>::new());
    let all = names(s.users_page(None, Some("qzb"), 10).await.unwrap());
    assert_eq!(all.first().map(String::as_str), Some("r-last"), "{all:?}");
}
