//! Rate limits on failed authentication and failed verification.

use gatehouse::paths;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, standard_config};
use serde_json::{Value, json};

fn limited_config() -> String {
    format!("{}\n[rate_limits]\nfailed_auth_per_ip = \"3/min\"\nfailed_verify_per_ip = \"2/min\"\n", standard_config())
}

#[tokio::test]
async fn repeated_failed_authentication_gets_429_then_blocks_even_good_credentials() {
    let s = TestServer::start_with(&limited_config()).await;
    for _ in 0..3 {
        let r = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
        assert_eq!(r.status(), 401);
    }
    let r = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string() && body["error_description"].is_string());
    let r = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429, "blocked before credentials are checked");
}

#[tokio::test]
async fn default_limits_leave_room_for_a_handful_of_failures() {
    let s = TestServer::start().await;
    for _ in 0..10 {
        let r = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
        assert_eq!(r.status(), 401);
    }
    s.svc_token(&[]).await;
}

#[tokio::test]
async fn failed_verifications_are_limited_per_ip() {
    let s = TestServer::start_with(&limited_config()).await;
    assert_eq!(s.verify(json!({ "token": "x" })).await.0, 401);
    assert_eq!(s.verify(json!({ "token": "x" })).await.0, 401);
    let (status, v) = s.verify(json!({ "token": "x" })).await;
    assert_eq!((status, v["error"].as_str()), (429, Some("too_many_requests")));
}

#[tokio::test]
async fn success_limits_apply_only_when_configured() {
    let s =
        TestServer::start_with(&format!("{}\n[rate_limits]\ntoken_per_client = \"2/min\"\n", standard_config())).await;
    s.svc_token(&[]).await;
    s.svc_token(&[]).await;
    let r = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429);
}
