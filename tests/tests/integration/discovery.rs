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
    assert_eq!(
        d["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(d["authorization_endpoint"], s.url(paths::AUTHORIZE).as_str());
    assert_eq!(d["userinfo_endpoint"], s.url(paths::USERINFO).as_str());
    assert_eq!(d["end_session_endpoint"], s.url(paths::LOGOUT).as_str());
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let id_algs = d["id_token_signing_alg_values_supported"].as_array().unwrap();
    assert!(id_algs.iter().any(|a| a == "RS256"), "OIDC requires RS256");
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(d["scopes_supported"].as_array().unwrap().iter().any(|s| s == scope), "{scope}");
    }
    let methods = d["token_endpoint_auth_methods_supported"].as_array().unwrap();
    for m in ["client_secret_basic", "client_secret_post", "private_key_jwt"] {
        assert!(methods.iter().any(|x| x == m), "{m} missing");
    }
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
