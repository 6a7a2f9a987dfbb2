//! `POST /verify` for services that do not verify JWTs themselves.

use gatehouse::paths;
use gatehouse_tests::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn verify_accepts_a_body_or_a_bearer_header_but_not_both() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    let (status, v) = s.verify(json!({ "token": t, "audience": "metrics" })).await;
    assert_eq!(status, 200);
    assert_eq!(v["active"], true);
    assert_eq!(v["claims"]["client_id"], "svc");

    let resp = s.http.post(s.url(paths::VERIFY)).bearer_auth(&t).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");

    let resp = s.http.post(s.url(paths::VERIFY)).bearer_auth(&t).json(&json!({ "token": t })).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");

    let resp =
        s.http.post(s.url(paths::VERIFY)).bearer_auth(&t).json(&json!({ "audience": "metrics" })).send().await.unwrap();
    assert_eq!(resp.status(), 200, "audience in the body with the token in the header");

    let (status, v) = s.verify(json!({})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn verify_names_the_reason_a_token_is_refused() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[]).await;
    let (status, v) = s.verify(json!({ "token": t, "audience": "billing" })).await;
    assert_eq!(status, 401);
    assert_eq!(v, json!({"active": false, "error": "invalid_token", "reason": "wrong_audience"}));

    let (_, v) = s.verify(json!({ "token": "not a jwt" })).await;
    assert_eq!(v["reason"], "malformed");

    // Flip one character of the signature.
    let mut tampered = t.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let (status, v) = s.verify(json!({ "token": String::from_utf8(tampered).unwrap() })).await;
    assert_eq!((status, v["reason"].as_str()), (401, Some("bad_signature")));

    // A token signed by another Gatehouse (another key) is a bad signature here.
    let other = TestServer::start().await;
    let foreign = other.svc_token(&[]).await;
    let (_, v) = s.verify(json!({ "token": foreign })).await;
    assert_eq!(v["reason"], "bad_signature");
}
