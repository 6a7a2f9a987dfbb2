//! Flows, sessions, codes, refresh families, consent and tickets.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

use crate::Backend;
use crate::browser::{
    AuthRequest, CodeRecord, CodeRedemption, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation,
    SessionRecord, Step,
};

pub async fn flows_are_taken_once(s: &dyn Backend) {
    // Request values are stored as sent, NUL included (a `state` is the client's to choose).
    let request = AuthRequest { state: Some("s\0t".into()), ..Default::default() };
    let flow =
        FlowRecord { request, pending: vec![Step::Password, Step::Consent], expires_at: 100, ..Default::default() };
    s.put_flow(&[1; 32], &flow).await.unwrap();
    assert_eq!(s.get_flow(&[1; 32]).await.unwrap(), Some(flow.clone()));
    let moved = FlowRecord { pending: vec![Step::Consent], ..flow.clone() };
    assert!(s.update_flow(&[1; 32], &moved).await.unwrap());
    assert_eq!(s.take_flow(&[1; 32]).await.unwrap(), Some(moved.clone()));
    assert_eq!(s.take_flow(&[1; 32]).await.unwrap(), None);
    assert!(!s.update_flow(&[1; 32], &moved).await.unwrap(), "a finished flow is not revived");
    assert_eq!(s.get_flow(&[1; 32]).await.unwrap(), None);
}

pub async fn sessions_round_trip(s: &dyn Backend) {
    let session = SessionRecord { sid: "sid".into(), user_id: "u".into(), expires_at: 100, ..Default::default() };
    s.put_session(&[2; 32], &session).await.unwrap();
    assert_eq!(s.get_session(&[2; 32]).await.unwrap(), Some(session.clone()));
    let touched = SessionRecord { last_seen: 50, ..session.clone() };
    assert!(s.update_session(&[2; 32], &touched).await.unwrap());
    assert_eq!(s.delete_session(&[2; 32]).await.unwrap(), Some(touched.clone()));
    assert_eq!(s.get_session(&[2; 32]).await.unwrap(), None);
    assert!(!s.update_session(&[2; 32], &touched).await.unwrap(), "a touch after logout does not revive");
    assert_eq!(s.get_session(&[2; 32]).await.unwrap(), None);

    // A user's sessions, oldest first; not another user's, not an ended or expired one.
    let mine = |n: u8, created_at: i64, expires_at: i64| SessionRecord {
        sid: format!("s{n}"),
        user_id: "lister".into(),
        created_at,
        expires_at,
        ..Default::default()
    };
    s.put_session(&[20; 32], &mine(20, 5, 100)).await.unwrap();
    s.put_session(&[21; 32], &mine(21, 3, 100)).await.unwrap();
    s.put_session(&[22; 32], &mine(22, 4, 40)).await.unwrap();
    s.put_session(&[23; 32], &SessionRecord { user_id: "other".into(), ..mine(23, 1, 100) }).await.unwrap();
    s.put_session(&[24; 32], &mine(24, 6, 100)).await.unwrap();
    s.delete_session(&[24; 32]).await.unwrap();
    let listed: Vec<_> = s.user_sessions("lister", 50).await.unwrap().into_iter().map(|(k, r)| (k[0], r.sid)).collect();
    assert_eq!(listed, [(21, "s21".to_owned()), (20, "s20".to_owned())]);
    assert_eq!(s.user_sessions("nobody", 0).await.unwrap(), vec![]);
}

pub async fn codes_redeem_once(s: &dyn Backend) {
    let code = CodeRecord {
        request: AuthRequest { client_id: "c".into(), ..Default::default() },
        user_id: "u".into(),
        expires_at: 60,
        ..Default::default()
    };
    s.put_code(&[3; 32], &code).await.unwrap();
    s.put_code(&[4; 32], &code).await.unwrap();
    let r = Redemption { jti: "j1".into(), access_exp: 600, family: Some("f".into()) };
    let CodeRedemption::Redeemed(first) = s.redeem_code(&[3; 32], &r, 10).await.unwrap() else {
        panic!("not redeemed")
    };
    assert_eq!(first.redeemed.as_ref(), Some(&r));
    let other = Redemption { jti: "j2".into(), ..Default::default() };
    match s.redeem_code(&[3; 32], &other, 11).await.unwrap() {
        CodeRedemption::Replayed(c) => assert_eq!(c.redeemed, Some(r.clone()), "the first redemption is reported"),
        x => panic!("{x:?}"),
    }
    assert_eq!(s.redeem_code(&[4; 32], &r, 60).await.unwrap(), CodeRedemption::Invalid, "expired");
    assert_eq!(s.redeem_code(&[5; 32], &r, 1).await.unwrap(), CodeRedemption::Invalid, "unknown");
    // A redeemed code outlives its own expiry until the access token it produced expires.
    s.purge_browser(599).await.unwrap();
    assert!(s.get_code(&[3; 32]).await.unwrap().is_some());
    assert!(s.get_code(&[4; 32]).await.unwrap().is_none());
    s.purge_browser(601).await.unwrap();
    assert!(s.get_code(&[3; 32]).await.unwrap().is_none());
}

pub fn refresh(family: &str, exp: i64) -> RefreshRecord {
    RefreshRecord {
        family: family.into(),
        client_id: "c".into(),
        user_id: "u".into(),
        expires_at: exp,
        ..Default::default()
    }
}

pub async fn refresh_rotates_and_detects_reuse(s: &dyn Backend) {
    let fam = FamilyRecord { client_id: "c".into(), user_id: "u".into(), expires_at: 1000, ..Default::default() };
    s.create_refresh(&[10; 32], &refresh("fam", 500), &fam).await.unwrap();
    let rotated = s.rotate_refresh(&[10; 32], &[11; 32], &refresh("fam", 600), "jti-1", 700, 5).await.unwrap();
    assert_eq!(rotated, Rotation::Rotated(refresh("fam", 500)));
    let tombstone = s.get_refresh(&[10; 32]).await.unwrap().unwrap();
    assert!(tombstone.used && tombstone.family == "fam");
    // Spent tokens are remembered for the reuse window only (here the token expires first).
    assert_eq!(tombstone.expires_at, 500.min(5 + crate::browser::REUSE_WINDOW_SECS));
    // The spent token again: the whole family goes, with the newest access token's id.
    match s.rotate_refresh(&[10; 32], &[12; 32], &refresh("fam", 600), "jti-2", 700, 6).await.unwrap() {
        Rotation::Reused(f) => {
            assert!(f.revoked);
            assert_eq!(f.last_jti, "jti-1");
        }
        x => panic!("{x:?}"),
    }
    assert!(s.get_refresh(&[12; 32]).await.unwrap().is_none());
    assert_eq!(
        s.rotate_refresh(&[11; 32], &[13; 32], &refresh("fam", 600), "j", 700, 7).await.unwrap(),
        Rotation::Invalid
    );
    // Expiry and explicit revocation.
    s.create_refresh(&[20; 32], &refresh("fam2", 50), &fam).await.unwrap();
    assert_eq!(
        s.rotate_refresh(&[20; 32], &[21; 32], &refresh("fam2", 90), "j", 9, 50).await.unwrap(),
        Rotation::Invalid
    );
    s.create_refresh(&[30; 32], &refresh("fam3", 500), &fam).await.unwrap();
    assert!(s.revoke_family("fam3").await.unwrap().is_some_and(|f| f.revoked));
    assert_eq!(s.revoke_family("nope").await.unwrap(), None);
    assert_eq!(
        s.rotate_refresh(&[30; 32], &[31; 32], &refresh("fam3", 90), "j", 9, 1).await.unwrap(),
        Rotation::Invalid
    );
    // A user's live families, to sign them out everywhere: fam and fam3 are revoked, fam2
    // is live (its token expired, not the family); another user's are not theirs.
    let other = FamilyRecord { user_id: "u-other".into(), ..fam.clone() };
    s.create_refresh(&[40; 32], &refresh("fam4", 500), &other).await.unwrap();
    s.create_refresh(&[41; 32], &refresh("fam5", 500), &fam).await.unwrap();
    let mut live = s.user_families("u").await.unwrap();
    live.sort();
    assert_eq!(live, ["fam2", "fam5"]);
    assert_eq!(s.user_families("u-other").await.unwrap(), ["fam4"]);
    assert!(s.user_families("nobody\0").await.unwrap().is_empty());
}

pub async fn consent_is_remembered(s: &dyn Backend) {
    assert_eq!(s.get_consent("u", "c").await.unwrap(), None);
    s.put_consent("u", "c", &["openid".into()]).await.unwrap();
    assert_eq!(s.get_consent("u", "c").await.unwrap(), Some(vec!["openid".to_owned()]));
    assert_eq!(s.get_consent("u", "c2").await.unwrap(), None);
    assert_eq!(s.get_consent("u\0c", "").await.unwrap(), None);
    assert_eq!(s.get_consent("u", "c\0").await.unwrap(), None);
}

pub async fn tickets_are_taken_once(s: &dyn Backend) {
    use crate::tickets::{TicketPurpose, TicketRecord};
    let ticket = |user: &str, expires_at| TicketRecord {
        purpose: TicketPurpose::EmailVerification,
        user_id: user.into(),
        stamp: "ab".into(),
        created_at: 1,
        expires_at,
    };
    s.put_ticket(&[30; 32], &ticket("t1", 10_000)).await.unwrap();
    s.put_ticket(&[31; 32], &ticket("t2", 20_000)).await.unwrap();
    assert_eq!(s.get_ticket(&[30; 32]).await.unwrap(), Some(ticket("t1", 10_000)), "looking does not use it");
    assert_eq!(s.take_ticket(&[30; 32]).await.unwrap(), Some(ticket("t1", 10_000)));
    assert_eq!(s.take_ticket(&[30; 32]).await.unwrap(), None, "a ticket is used once");
    assert_eq!(s.get_ticket(&[30; 32]).await.unwrap(), None);
    s.put_ticket(&[32; 32], &ticket("t3", 10_000)).await.unwrap();
    s.purge_browser(15_000).await.unwrap();
    assert_eq!(s.get_ticket(&[32; 32]).await.unwrap(), None, "an expired ticket is purged");
    assert_eq!(s.take_ticket(&[31; 32]).await.unwrap(), Some(ticket("t2", 20_000)), "a live one is kept");
}
