//! Discovery, JWKS and ping.

use gatehouse::paths;
use gatehouse_tests::TestServer;
use serde_json::Value;

#[tokio::test]
async fn discovery_advertises_what_exists_with_the_bound_port() {
    let s = TestServer::start().await;
    let resp = s.http.get(s.url(paths::DISCOVERY)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let d: Value = resp.json().await.unwrap();
    assert_eq!(d["issuer"], s.base.as_str());
    assert_eq!(d["token_endpoint"], s.url(paths::TOKEN).as_str());
    assert_eq!(d["jwks_uri"], s.url(paths::JWKS).as_str());
    assert_eq!(d["introspection_endpoint"], s.url(paths::INTROSPECT).as_str());
    assert_eq!(d["revocation_endpoint"], s.url(paths::REVOKE).as_str());
    assert_eq!(d["grant_types_supported"], serde_json::json!(["client_credentials"]));
    let methods = d["token_endpoint_auth_methods_supported"].as_array().unwrap();
    for m in ["client_secret_basic", "client_secret_post", "private_key_jwt"] {
        assert!(methods.iter().any(|x| x == m), "{m} missing");
    }
    assert!(d.get("authorization_endpoint").is_none(), "browser sign-in does not exist yet");
    let rfc8414: Value = s.get_json(paths::AS_METADATA).await;
    assert_eq!(rfc8414, d);
}

#[tokio::test]
async fn jwks_publishes_es256_and_rs256_signing_keys() {
    let s = TestServer::start().await;
    let jwks: Value = s.get_json(paths::JWKS).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let algs: Vec<_> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"));
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert!(k["kid"].as_str().unwrap().len() >= 43);
        assert!(k.get("d").is_none(), "private part published");
    }
}

#[tokio::test]
async fn ping_answers_ok() {
    let s = TestServer::start().await;
    let resp = s.http.get(s.url(paths::PING)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
}
