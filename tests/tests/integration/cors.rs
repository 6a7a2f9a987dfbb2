//! CORS on the endpoints browser apps call cross-origin (`[cors] origins`), never on pages
//! and never with credentials.

use gatehouse::paths;
use gatehouse_tests::{TestServer, standard_config};

#[tokio::test]
async fn listed_origins_get_cors_on_token_userinfo_jwks_and_discovery_only() {
    let s =
        TestServer::start_with(&format!("{}\n[cors]\norigins = [\"https://spa.example\"]\n", standard_config())).await;
    let preflight = s
        .http
        .request(reqwest::Method::OPTIONS, s.url(paths::TOKEN))
        .header("Origin", "https://spa.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://spa.example");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().to_lowercase().contains("authorization"));
    assert!(h.get("access-control-allow-credentials").is_none(), "never credentials");
    for path in [paths::JWKS, paths::DISCOVERY, paths::USERINFO] {
        let r = s.http.get(s.url(path)).header("Origin", "https://spa.example").send().await.unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], "https://spa.example", "{path}");
        let r = s.http.get(s.url(path)).header("Origin", "https://evil.example").send().await.unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}: an unlisted origin");
    }
    for path in [paths::INTROSPECT, paths::AUTHORIZE, paths::LOGIN] {
        let r = s.http.get(s.url(path)).header("Origin", "https://spa.example").send().await.unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path} is not cross-origin");
    }
    let plain = TestServer::start().await;
    let r = plain.http.get(plain.url(paths::JWKS)).header("Origin", "https://spa.example").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none(), "off unless configured");
}

#[test]
fn origins_must_be_origins() {
    for (origins, ok) in [
        (r#"["https://a.example", "http://localhost:3000"]"#, true),
        (r#"["*"]"#, true),
        (r#"["https://a.example/app"]"#, false),
        (r#"["*", "https://a.example"]"#, false),
        (r#"["a.example"]"#, false),
    ] {
        let toml = format!("[cors]\norigins = {origins}\n");
        let r = gatehouse::config::Config::from_toml(&toml, "f.toml", std::path::Path::new("."), &|_| None);
        assert_eq!(r.is_ok(), ok, "{origins}: {r:?}");
    }
}

#[tokio::test]
async fn a_clients_own_origins_are_answered_and_other_clients_cannot_use_them() {
    use gatehouse_tests::{SVC_ID, SVC_SECRET};
    let toml = format!(
        "{}\n[[clients]]\nid = \"ui\"\nsecret = \"ui-secret-0123456789abcdefghijklmn\"\n\
         grant_types = [\"client_credentials\"]\nallowed_origins = [\"https://ui.example\"]\n",
        standard_config()
    );
    let s = TestServer::start_with(&toml).await;
    let preflight = s
        .http
        .request(reqwest::Method::OPTIONS, s.url(paths::TOKEN))
        .header("Origin", "https://ui.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://ui.example");
    let token = |id: &'static str, secret: &'static str, origin: &'static str| {
        s.http
            .post(s.url(paths::TOKEN))
            .basic_auth(id, Some(secret))
            .header("Origin", origin)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let own = token("ui", "ui-secret-0123456789abcdefghijklmn", "https://ui.example").await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.headers()["access-control-allow-origin"], "https://ui.example");
    // The origin belongs to another client: refused before a token is issued.
    let foreign = token(SVC_ID, SVC_SECRET, "https://ui.example").await.unwrap();
    assert_eq!(foreign.status(), 400);
    let body: serde_json::Value = foreign.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("origin"), "{body}");
    // An origin nobody registered gets no CORS headers (the browser cannot read the answer).
    let unknown = token(SVC_ID, SVC_SECRET, "https://evil.example").await.unwrap();
    assert!(unknown.headers().get("access-control-allow-origin").is_none());

    let bad = format!(
        "{}\n[[clients]]\nid = \"ui\"\nsecret = \"ui-secret-0123456789abcdefghijklmn\"\n\
         grant_types = [\"client_credentials\"]\nallowed_origins = [\"https://ui.example/app\"]\n",
        standard_config()
    );
    let e = TestServer::try_start_with(&bad).await.err().unwrap();
    assert!(e.contains("allowed_origins[0]") && e.contains("not an origin"), "{e}");
}
