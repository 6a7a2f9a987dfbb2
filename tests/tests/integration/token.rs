//! client_credentials issuance: claims, scopes, audiences, grant checks.

use gatehouse::paths;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, jwt_parts};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;

async fn token_error(s: &TestServer, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = s.post_basic(paths::TOKEN, id, secret, form).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn client_credentials_token_is_an_rfc9068_jwt_verifiable_with_the_jwks() {
    let s = TestServer::start().await;
    let resp = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "logs:write logs:read");
    let token = body["access_token"].as_str().unwrap();

    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["sub"], SVC_ID);
    assert_eq!(claims["client_id"], SVC_ID);
    assert_eq!(claims["aud"], serde_json::json!(["logging-service", "metrics"]));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
    assert!(claims["jti"].as_str().unwrap().len() >= 20);

    // An independent verifier (jsonwebtoken) accepts it with our published key.
    let jwks: JwkSet = s.get_json(paths::JWKS).await;
    let jwk = jwks.find(header["kid"].as_str().unwrap()).unwrap();
    let mut v = Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["metrics"]);
    v.set_issuer(&[&s.base]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).unwrap();
}

#[tokio::test]
async fn scope_must_be_a_subset_of_the_clients() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[("scope", "logs:read")]).await;
    assert_eq!(jwt_parts(&t).1["scope"], "logs:read");
    let (status, e) =
        token_error(&s, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials"), ("scope", "logs:read admin")])
            .await;
    assert_eq!((status, e["error"].as_str().unwrap()), (400, "invalid_scope"));
}

#[tokio::test]
async fn audience_and_resource_select_among_the_clients_audiences() {
    let s = TestServer::start().await;
    let t = s.svc_token(&[("audience", "metrics")]).await;
    assert_eq!(jwt_parts(&t).1["aud"], "metrics");
    let t = s.svc_token(&[("resource", "logging-service"), ("resource", "metrics")]).await;
    assert_eq!(jwt_parts(&t).1["aud"], serde_json::json!(["logging-service", "metrics"]));
    let (status, e) =
        token_error(&s, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials"), ("audience", "billing")]).await;
    assert_eq!((status, e["error"].as_str().unwrap()), (400, "invalid_target"));
}

#[tokio::test]
async fn a_client_without_audiences_gets_the_issuer_as_audience() {
    let s = TestServer::start().await;
    let resp = s
        .post_basic(paths::TOKEN, "no-aud", "no-aud-secret-0123456789abcdefgh", &[("grant_type", "client_credentials")])
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(jwt_parts(body["access_token"].as_str().unwrap()).1["aud"], s.base.as_str());
}

#[tokio::test]
async fn grant_type_errors_follow_rfc6749() {
    let s = TestServer::start().await;
    let (status, e) = token_error(&s, SVC_ID, SVC_SECRET, &[("grant_type", "password")]).await;
    assert_eq!((status, e["error"].as_str().unwrap()), (400, "unsupported_grant_type"));
    let (status, e) = token_error(&s, SVC_ID, SVC_SECRET, &[("scope", "x")]).await;
    assert_eq!((status, e["error"].as_str().unwrap()), (400, "invalid_request"));
    let (status, e) = token_error(
        &s,
        SVC_ID,
        SVC_SECRET,
        &[("grant_type", "client_credentials"), ("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((status, e["error"].as_str().unwrap()), (400, "invalid_request"));
    // A public client cannot use client_credentials.
    let resp = s
        .http
        .post(s.url(paths::TOKEN))
        .form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized_client");
}

#[tokio::test]
async fn test_token_exists_only_in_dev_mode() {
    let s = TestServer::start().await;
    let resp =
        s.http.get(s.url("/test-token?sub=alice&aud=logging-service&scope=logs:write&ttl=120")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["token_type"], "Bearer");
    let claims = jwt_parts(body["access_token"].as_str().unwrap()).1;
    assert_eq!((claims["sub"].as_str(), claims["aud"].as_str()), (Some("alice"), Some("logging-service")));
    let (status, v) = s.verify(serde_json::json!({"token": body["access_token"], "audience": "logging-service"})).await;
    assert_eq!((status, v["active"].as_bool()), (200, Some(true)));
    let bad = s.http.get(s.url("/test-token?ttl=forever")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let prod = TestServer::start_with(
        "[server]\nbind = \"127.0.0.1:0\"\n[[clients]]\nid = \"w\"\nsecret_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    )
    .await;
    let resp = prod.http.get(prod.url("/test-token")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}
