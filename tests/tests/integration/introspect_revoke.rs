//! Introspection (RFC 7662) and revocation (RFC 7009).

use std::time::Duration;

use gatehouse::paths;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer};
use serde_json::{Value, json};

const LOGGING: (&str, &str) = ("logging-service", "logging-service-secret-0123456789");
const BYSTANDER: (&str, &str) = ("bystander", "bystander-secret-0123456789abcd");
const AUDITOR: (&str, &str) = ("auditor", "auditor-secret-0123456789abcdefg");

#[tokio::test]
async fn introspection_answers_the_issuee_the_audience_and_privileged_clients_only() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    let own = s.introspect(SVC_ID, SVC_SECRET, &t).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], SVC_ID);
    assert_eq!(own["scope"], "logs:write logs:read");
    assert_eq!(own["token_type"], "Bearer");
    assert_eq!(own["iss"], s.base.as_str());
    assert!(own["exp"].is_i64() && own["jti"].is_string());
    assert_eq!(s.introspect(LOGGING.0, LOGGING.1, &t).await["active"], true, "aud names it");
    assert_eq!(s.introspect(BYSTANDER.0, BYSTANDER.1, &t).await, json!({"active": false}));
    assert_eq!(s.introspect(AUDITOR.0, AUDITOR.1, &t).await["active"], true, "can_introspect");
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, "garbage").await, json!({"active": false}));
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, "a.b.c").await, json!({"active": false}));
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    let resp = s.http.post(s.url(paths::INTROSPECT)).form(&[("token", t.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .http
        .post(s.url(paths::INTROSPECT))
        .form(&[("token", t.as_str()), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "public clients may not introspect");
    let resp = s.post_basic(paths::INTROSPECT, SVC_ID, SVC_SECRET, &[]).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn expired_tokens_are_inactive_once_the_clock_passes_exp() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    s.clock.advance(Duration::from_secs(599));
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, &t).await["active"], true);
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, &t).await, json!({"active": false}));
    let (status, v) = s.verify(json!({ "token": t })).await;
    assert_eq!((status, v["reason"].as_str()), (401, Some("expired")));
}

#[tokio::test]
async fn revoked_tokens_are_refused_by_introspect_and_verify() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    let other = s.svc_token(&[]).await;
    let resp = s
        .post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", t.as_str()), ("token_type_hint", "access_token")])
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, &t).await, json!({"active": false}));
    let (status, v) = s.verify(json!({ "token": t })).await;
    assert_eq!((status, v["reason"].as_str()), (401, Some("revoked")));
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, &other).await["active"], true, "only that token");
    // Revoking again, or an unknown token, is still 200 (RFC 7009 §2.2).
    assert_eq!(s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", t.as_str())]).await.status(), 200);
    assert_eq!(s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", "unknown")]).await.status(), 200);
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    let resp = s.post_basic(paths::REVOKE, BYSTANDER.0, BYSTANDER.1, &[("token", t.as_str())]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    assert_eq!(s.introspect(SVC_ID, SVC_SECRET, &t).await["active"], true);
    let resp = s.http.post(s.url(paths::REVOKE)).form(&[("token", t.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}
