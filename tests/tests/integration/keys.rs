//! Key rotation by admin endpoint and by schedule; old tokens keep verifying.

use std::time::Duration;

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, jwt_parts, standard_config};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";

fn admin_config(extra: &str) -> String {
    format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n{extra}", standard_config(), sha256_hex(ADMIN_TOKEN.as_bytes()))
}

async fn jwks_kids(s: &TestServer) -> Vec<String> {
    let jwks: Value = s.get_json(paths::JWKS).await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// Polls the JWKS (the scheduler ticks every second of real time) until `done`, at most 5 s.
async fn wait_for_kids(s: &TestServer, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut kids = jwks_kids(s).await;
    for _ in 0..50 {
        if done(&kids) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        kids = jwks_kids(s).await;
    }
    kids
}

#[tokio::test]
async fn admin_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let s = TestServer::start_with(&admin_config("")).await;
    let old = s.svc_token(&[]).await;
    let old_kid = jwt_parts(&old).0["kid"].as_str().unwrap().to_owned();

    let resp = s.http.post(s.url(paths::ADMIN_KEYS_ROTATE)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s.http.post(s.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s.http.post(s.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let summary: Value = resp.json().await.unwrap();
    assert_eq!(summary["active"].as_array().unwrap().len(), 2);
    assert!(summary["retired"].as_array().unwrap().iter().any(|k| k == old_kid.as_str()));

    let kids = jwks_kids(&s).await;
    assert_eq!(kids.len(), 4, "old keys stay published");
    let new = s.svc_token(&[]).await;
    let new_kid = jwt_parts(&new).0["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(kids.contains(&new_kid) && kids.contains(&old_kid));
    for t in [&old, &new] {
        assert_eq!(s.introspect(SVC_ID, SVC_SECRET, t).await["active"], true);
        assert_eq!(s.verify(json!({ "token": t })).await.0, 200);
    }
}

#[tokio::test]
async fn admin_api_is_absent_without_an_admin_token() {
    let s = TestServer::start().await;
    let resp = s.http.post(s.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn scheduled_rotation_follows_the_clock_and_retires_keys_after_their_tokens_expire() {
    let s = TestServer::start_with(&admin_config("[keys]\nrotate_every = \"1h\"\n")).await;
    let before = jwks_kids(&s).await;
    let old = s.svc_token(&[]).await;
    s.clock.advance(Duration::from_secs(3601));
    // The scheduler checks every second of real time.
    let kids = wait_for_kids(&s, |kids| kids.len() == 4).await;
    assert_eq!(kids.len(), 4, "rotated on schedule");
    let new = s.svc_token(&[]).await;
    assert_ne!(jwt_parts(&new).0["kid"], jwt_parts(&old).0["kid"]);
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, &old).await["active"], false, "old token expired by now");
    // Retired keys stay published for max(token lifetime, 1h) + 5 min = 3900 s; at the next
    // rotation after that, the first keys leave the JWKS.
    s.clock.advance(Duration::from_secs(4000));
    let kids = wait_for_kids(&s, |kids| !kids.iter().any(|k| before.contains(k))).await;
    assert!(!kids.iter().any(|k| before.contains(k)), "first keys unpublished: {kids:?}");
    assert_eq!(kids.len(), 4);
}
