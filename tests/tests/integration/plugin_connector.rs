//! Identity-provider connectors: loaded and type-checked (their `describe` answers at load),
//! and the example `oidc-connector` run against an OpenID provider on loopback: the
//! authorization URL it builds, the code exchange it makes, and the ID token the host
//! verifies for it (signature against the JWKS, issuer, audience, expiry, nonce).

use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::extract::Form;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::clock::system_now;
use gatehouse::plugins::{BeginRequest, CompleteRequest, ConnectorError};
use gatehouse_tests::plugins::policy_entry;
use gatehouse_tests::{TestServer, standard_config};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const CLIENT_ID: &str = "gatehouse-at-provider";

/// An OpenID provider on loopback: `/token` answers an ID token for the nonce it is told to
/// use (ES256, key in `/jwks`); it records the token request it got.
struct Provider {
    base: String,
    nonce: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    jwks_fetches: Arc<std::sync::atomic::AtomicUsize>,
}

async fn provider() -> Provider {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = kp.public_key().as_ref();
    let jwks = json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let nonce = Arc::new(Mutex::new(String::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let key = EncodingKey::from_ec_der(doc.as_ref());
    let jwks_fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fetches = Arc::clone(&jwks_fetches);
    let (issuer, n, s) = (base.clone(), Arc::clone(&nonce), Arc::clone(&seen));
    let jwks_route = get(move || async move {
        fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        axum::Json(jwks)
    });
    let app = axum::Router::new().route("/jwks", jwks_route).route(
        "/token",
        post(move |Form(form): Form<Vec<(String, String)>>| async move {
            *s.lock().unwrap() = form;
            let now = system_now().unix_timestamp();
            let claims = json!({
                "iss": issuer, "sub": "provider-user-42", "aud": CLIENT_ID, "exp": now + 300, "iat": now,
                "nonce": *n.lock().unwrap(), "email": "pat@partner.example", "email_verified": true,
                "name": "Pat",
            });
            let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some("k1".into());
            let id_token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            axum::Json(json!({ "access_token": "at", "token_type": "Bearer", "id_token": id_token }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider { base, nonce, seen, jwks_fetches }
}

/// An `[[plugins]]` entry for the oidc-connector pointed at `p` (the client secret is the
/// granted environment variable PATH, whatever it holds).
fn connector_entry(p: &Provider, name: &str) -> String {
    let port = p.base.rsplit(':').next().unwrap();
    let extra = format!("allowed_hosts = [\"127.0.0.1:{port}\"]\nsecrets = [\"PATH\"]");
    let cfg = format!(
        "id = \"partner\"\ndisplay_name = \"Partner SSO\"\nissuer = \"{b}\"\nauthorization_endpoint = \"{b}/authorize\"\n\
         token_endpoint = \"{b}/token\"\njwks_uri = \"{b}/jwks\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"PATH\"",
        b = p.base
    );
    policy_entry(name, "oidc_connector", &extra, &cfg).replace("kind = \"policy\"", "kind = \"idp-connector\"")
}

/// A server with one connector for `p`.
fn config(p: &Provider) -> String {
    format!(
        "{}{}\n[plugin_runtime]\nallow_loopback_http = true\n",
        standard_config(),
        connector_entry(p, "partner-sso")
    )
}

fn begin_req(now: time::OffsetDateTime) -> BeginRequest<'static> {
    BeginRequest {
        request_id: "r1",
        now,
        redirect_uri: "https://idp.example/federation/partner/callback",
        state: "state-123",
        nonce: "nonce-456",
        code_challenge: "challenge-789",
        login_hint: Some("pat@partner.example"),
    }
}

#[tokio::test]
async fn a_connector_is_described_at_load_and_listed() {
    let p = provider().await;
    let s = TestServer::start_with(&config(&p)).await;
    let connectors = s.state.plugins.connectors();
    assert_eq!(connectors.len(), 1);
    assert_eq!((connectors[0].id.as_str(), connectors[0].display_name.as_str()), ("partner", "Partner SSO"));
    assert_eq!(connectors[0].default_scopes, ["openid", "email", "profile"]);
    assert!(!s.state.plugins.has_policies(), "a connector is not a policy");
}

#[tokio::test]
async fn the_oidc_connector_signs_in_against_a_loopback_provider() {
    let p = provider().await;
    let s = TestServer::start_with(&config(&p)).await;
    let now = system_now();
    let begun = s.state.plugins.connector_begin("partner", &begin_req(now)).await.unwrap();
    let url = url::Url::parse(&begun.authorization_url).unwrap();
    assert_eq!(url.as_str().split('?').next().unwrap(), format!("{}/authorize", p.base));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["state"], "state-123");
    assert_eq!(q["nonce"], "nonce-456");
    assert_eq!(q["code_challenge"], "challenge-789");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["login_hint"], "pat@partner.example");

    *p.nonce.lock().unwrap() = "nonce-456".into();
    let params = vec![("code".to_owned(), "the-code".to_owned()), ("state".to_owned(), "state-123".to_owned())];
    let complete = CompleteRequest {
        request_id: "r2",
        now,
        redirect_uri: "https://idp.example/federation/partner/callback",
        params: &params,
        code_verifier: "verifier-abc",
        nonce: "nonce-456",
        flow_data: None,
    };
    let id = s.state.plugins.connector_complete("partner", &complete).await.unwrap();
    assert_eq!((id.issuer.as_str(), id.subject.as_str()), (p.base.as_str(), "provider-user-42"));
    assert_eq!(id.email.as_deref(), Some("pat@partner.example"));
    assert!(id.email_verified);
    assert_eq!(id.claims["name"], "Pat");
    let seen = p.seen.lock().unwrap().clone();
    let field = |k: &str| seen.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("code").as_deref(), Some("the-code"));
    assert_eq!(field("code_verifier").as_deref(), Some("verifier-abc"));
    assert_eq!(field("client_secret"), std::env::var("PATH").ok(), "the granted secret was sent");
    // A second sign-in verifies with the JWKS the host kept.
    assert!(s.state.plugins.connector_complete("partner", &complete).await.is_ok());
    assert_eq!(p.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst), 1, "the JWKS is cached");

    // A token for another nonce does not verify; a provider error is the provider's.
    *p.nonce.lock().unwrap() = "someone-elses".into();
    let e = s.state.plugins.connector_complete("partner", &complete).await.unwrap_err();
    assert!(matches!(&e, ConnectorError::Invalid(m) if m.contains("nonce")), "{e:?}");
    let denied = vec![("error".to_owned(), "access_denied".to_owned())];
    let e = s.state.plugins.connector_complete("partner", &CompleteRequest { params: &denied, ..complete }).await;
    assert!(matches!(e, Err(ConnectorError::Invalid(m)) if m.contains("access_denied")));
    let e = s.state.plugins.connector_begin("nobody", &begin_req(now)).await.unwrap_err();
    assert_eq!(e, ConnectorError::Unknown("nobody".into()));
}

#[tokio::test]
async fn connectors_are_type_checked_at_load() {
    // A policy component configured as a connector.
    let entry =
        policy_entry("fake", "allow_email_domain", "", "").replace("kind = \"policy\"", "kind = \"idp-connector\"");
    let e = TestServer::try_start_with(&format!("{}{entry}", standard_config())).await.err().expect("refused");
    assert!(e.contains("plugins[0] (fake)") && e.contains("does not implement the idp-connector world"), "{e}");
    // The connector imports http and jwt: without allowed_hosts it is refused.
    let entry = policy_entry("sso", "oidc_connector", "secrets = [\"PATH\"]", "")
        .replace("kind = \"policy\"", "kind = \"idp-connector\"");
    let e = TestServer::try_start_with(&format!("{}{entry}", standard_config())).await.err().expect("refused");
    assert!(e.contains("plugins[0] (sso): allowed_hosts: the component imports gatehouse:plugin/"), "{e}");
    // Two connectors with one id.
    let p = provider().await;
    let two = format!(
        "{}{}{}\n[plugin_runtime]\nallow_loopback_http = true\n",
        standard_config(),
        connector_entry(&p, "sso-1"),
        connector_entry(&p, "sso-2")
    );
    let e = TestServer::try_start_with(&two).await.err().expect("refused");
    assert!(e.contains("connector id `partner` is used by another connector"), "{e}");
}
