//! A fake OpenID provider on loopback that speaks the real shapes: `/authorize` (answers at
//! once as if the person approved: a 302 to the redirect URI with `code`, `state` and `iss`),
//! `/token` (authorization_code with PKCE S256 checked; an ES256 ID token with the nonce of the
//! authorization request), `/jwks`. What it asserts and how it misbehaves are set per test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::extract::{Form, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

/// The client id Gatehouse has at the provider.
pub const CLIENT_ID: &str = "gatehouse-at-provider";

/// Who the provider says the person is.
#[derive(Debug, Clone)]
pub struct Person {
    /// `sub`.
    pub sub: String,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`.
    pub name: Option<String>,
    /// `preferred_username`.
    pub preferred_username: Option<String>,
    /// `hd` (a Google Workspace domain).
    pub hd: Option<String>,
    /// Further claims (Entra's `tid`, `oid`, `xms_edov`).
    pub extra: Vec<(String, Value)>,
}

impl Person {
    /// A person with a verified address.
    pub fn verified(sub: &str, email: &str) -> Self {
        Self {
            sub: sub.into(),
            email: Some(email.into()),
            email_verified: true,
            name: None,
            preferred_username: None,
            hd: None,
            extra: Vec::new(),
        }
    }
}

/// How the provider behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As a provider should.
    Normal,
    /// `/authorize` answers `error=access_denied` (the person declined).
    Declined,
    /// `/token` answers 500.
    TokenFails,
    /// `/token` does not answer for a minute.
    TokenHangs,
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token is for another audience.
    WrongAudience,
}

struct Pending {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    person: Arc<Mutex<Person>>,
    mode: Arc<Mutex<Mode>>,
    codes: Arc<Mutex<HashMap<String, Pending>>>,
    key: Arc<EncodingKey>,
    token_requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// The `iss` its ID tokens carry, when not its base URL (Google's other spelling).
    iss_claim: Arc<Mutex<Option<String>>>,
    discovery_fetches: Arc<std::sync::atomic::AtomicUsize>,
}

/// A running fake provider.
pub struct FakeOidc {
    /// `http://127.0.0.1:<port>` (also its issuer).
    pub base: String,
    shared: Shared,
}

impl FakeOidc {
    /// Starts one asserting `person` on a free loopback port.
    pub async fn start(person: Person) -> Self {
        Self::start_on("127.0.0.1:0", person).await
    }

    /// Starts one asserting `person` on `addr` (the benchmark's fixed port).
    pub async fn start_on(addr: &str, person: Person) -> Self {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("fake provider");
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).expect("fake provider");
        let point = kp.public_key().as_ref();
        let jwks = json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        let listener = tokio::net::TcpListener::bind(addr).await.expect("fake provider");
        let base = format!("http://{}", listener.local_addr().expect("fake provider"));
        let shared = Shared {
            issuer: base.clone(),
            person: Arc::new(Mutex::new(person)),
            mode: Arc::new(Mutex::new(Mode::Normal)),
            codes: Arc::default(),
            key: Arc::new(EncodingKey::from_ec_der(doc.as_ref())),
            token_requests: Arc::default(),
            iss_claim: Arc::default(),
            discovery_fetches: Arc::default(),
        };
        let (a, t, d) = (shared.clone(), shared.clone(), shared.clone());
        let (ea, et, keys) = (shared.clone(), shared.clone(), jwks.clone());
        let app = axum::Router::new()
            // Entra's shapes: per-tenant endpoints, the multi-tenant key set.
            .route(
                "/{tenant}/oauth2/v2.0/authorize",
                get(move |Query(q): Query<HashMap<String, String>>| async move { authorize(&ea, &q) }),
            )
            .route(
                "/{tenant}/oauth2/v2.0/token",
                post(move |Form(f): Form<HashMap<String, String>>| async move { token(&et, f).await }),
            )
            .route("/common/discovery/v2.0/keys", get(move || async move { axum::Json(keys) }))
            .route(
                "/.well-known/openid-configuration",
                get(move || async move {
                    d.discovery_fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let b = &d.issuer;
                    axum::Json(json!({
                        "issuer": b, "authorization_endpoint": format!("{b}/authorize"),
                        "token_endpoint": format!("{b}/token"), "jwks_uri": format!("{b}/jwks"),
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"],
                    }))
                }),
            )
            .route("/jwks", get(move || async move { axum::Json(jwks) }))
            .route("/authorize", get(move |Query(q): Query<HashMap<String, String>>| async move { authorize(&a, &q) }))
            .route("/token", post(move |Form(f): Form<HashMap<String, String>>| async move { token(&t, f).await }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, shared }
    }

    /// From now on, asserts `person`.
    pub fn set_person(&self, person: Person) {
        *self.shared.person.lock().expect("fake provider") = person;
    }

    /// From now on, behaves as `mode`.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("fake provider") = mode;
    }

    /// From now on, its ID tokens carry `iss` = `iss` (`None`: its base URL).
    pub fn set_issuer_claim(&self, iss: Option<&str>) {
        *self.shared.iss_claim.lock().expect("fake provider") = iss.map(str::to_owned);
    }

    /// How often its discovery document was fetched.
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// An entry like [`Self::connector_entry`] that names only the issuer: the endpoints come
    /// from the discovery document.
    pub fn discovery_entry(&self, name: &str, id: &str, config: &str) -> String {
        let port = self.base.rsplit(':').next().expect("port");
        let keys = format!("allowed_hosts = [\"127.0.0.1:{port}\"]\nsecrets = [\"PATH\"]");
        let cfg = format!(
            "id = \"{id}\"\ndisplay_name = \"{id} SSO\"\nissuer = \"{b}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"PATH\"\n{config}",
            b = self.base
        );
        crate::plugins::plugin_entry(name, "idp-connector", "oidc_connector", &keys, &cfg)
    }

    /// The token requests it got.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.token_requests.lock().expect("fake provider").clone()
    }

    /// An `[[plugins]]` entry of the example oidc-connector for this provider, named `name`
    /// with connector id `id`; `extra` adds keys to the entry. The client secret is the
    /// granted environment variable PATH, whatever it holds.
    pub fn connector_entry(&self, name: &str, id: &str, extra: &str) -> String {
        let port = self.base.rsplit(':').next().expect("fake provider");
        let keys = format!("allowed_hosts = [\"127.0.0.1:{port}\"]\nsecrets = [\"PATH\"]\n{extra}");
        let cfg = format!(
            "id = \"{id}\"\ndisplay_name = \"{id} SSO\"\nissuer = \"{b}\"\nauthorization_endpoint = \"{b}/authorize\"\n\
             token_endpoint = \"{b}/token\"\njwks_uri = \"{b}/jwks\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"PATH\"",
            b = self.base
        );
        crate::plugins::plugin_entry(name, "idp-connector", "oidc_connector", &keys, &cfg)
    }
}

fn authorize(s: &Shared, q: &HashMap<String, String>) -> Response {
    let (Some(redirect_uri), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri and state are required").into_response();
    };
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("code_challenge_method").map(String::as_str) == Some("S256");
    if !ok {
        return (StatusCode::BAD_REQUEST, "not a code + PKCE request for our client").into_response();
    }
    let mut to = url::Url::parse(redirect_uri).expect("fake provider");
    if *s.mode.lock().expect("fake provider") == Mode::Declined {
        to.query_pairs_mut().append_pair("error", "access_denied").append_pair("state", state);
    } else {
        let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let pending = Pending {
            nonce: q.get("nonce").cloned().unwrap_or_default(),
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: redirect_uri.clone(),
        };
        s.codes.lock().expect("fake provider").insert(code.clone(), pending);
        to.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
        // RFC 9207's `iss`, while the ID tokens carry the base URL too (Entra's per-tenant
        // issuers come without it).
        if s.iss_claim.lock().expect("fake provider").is_none() {
            to.query_pairs_mut().append_pair("iss", &s.issuer);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

async fn token(s: &Shared, f: HashMap<String, String>) -> Response {
    s.token_requests.lock().expect("fake provider").push(f.clone());
    let mode = *s.mode.lock().expect("fake provider");
    match mode {
        Mode::TokenFails => return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response(),
        Mode::TokenHangs => {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
        _ => {}
    }
    let bad = |e: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e }))).into_response();
    let Some(pending) = f.get("code").and_then(|c| s.codes.lock().expect("fake provider").remove(c)) else {
        return bad("invalid_grant");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    if challenge != pending.challenge || f.get("redirect_uri") != Some(&pending.redirect_uri) {
        return bad("invalid_grant");
    }
    let person = s.person.lock().expect("fake provider").clone();
    let now = gatehouse::clock::system_now().unix_timestamp();
    let nonce = if mode == Mode::WrongNonce { "another-nonce".to_owned() } else { pending.nonce };
    let aud = if mode == Mode::WrongAudience { "someone-else" } else { CLIENT_ID };
    let iss = s.iss_claim.lock().expect("fake provider").clone().unwrap_or_else(|| s.issuer.clone());
    let mut claims = json!({
        "iss": iss, "sub": person.sub, "aud": aud, "exp": now + 300, "iat": now, "nonce": nonce,
        "email_verified": person.email_verified,
    });
    for (k, v) in [
        ("email", person.email),
        ("name", person.name),
        ("preferred_username", person.preferred_username),
        ("hd", person.hd),
    ] {
        if let Some(v) = v {
            claims[k] = Value::String(v);
        }
    }
    for (k, v) in person.extra {
        claims[k] = v;
    }
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let id_token = jsonwebtoken::encode(&header, &claims, &s.key).expect("fake provider");
    axum::Json(json!({ "access_token": "upstream-at", "token_type": "Bearer", "id_token": id_token })).into_response()
}
