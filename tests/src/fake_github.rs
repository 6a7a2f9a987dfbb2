//! A fake GitHub on loopback with the real shapes: `/login/oauth/authorize` (answers at once
//! with a 302 back, as if the person approved), `/login/oauth/access_token` (PKCE S256 checked;
//! errors as 200 with an `error` member, as GitHub does), and the REST API's `/user`,
//! `/user/emails` and `/user/orgs` (Bearer token, a `User-Agent` required).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The client id Gatehouse has at the fake GitHub.
pub const CLIENT_ID: &str = "Iv1.gatehouse";

/// The account the fake GitHub signs in.
#[derive(Debug, Clone)]
pub struct Account {
    /// Numeric id (the subject).
    pub id: u64,
    /// Login (mutable at GitHub).
    pub login: String,
    /// `/user/emails` as `(email, primary, verified)`.
    pub emails: Vec<(String, bool, bool)>,
    /// Organisation logins.
    pub orgs: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    account: Arc<Mutex<Account>>,
    codes: Arc<Mutex<HashMap<String, (String, String)>>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

/// A running fake GitHub.
pub struct FakeGitHub {
    /// `http://127.0.0.1:<port>` (web and API at once).
    pub base: String,
    shared: Shared,
}

impl FakeGitHub {
    /// Starts one for `account`.
    pub async fn start(account: Account) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("fake github");
        let base = format!("http://{}", listener.local_addr().expect("fake github"));
        let shared = Shared { account: Arc::new(Mutex::new(account)), codes: Arc::default(), tokens: Arc::default() };
        let (a, t, u, e, o) = (shared.clone(), shared.clone(), shared.clone(), shared.clone(), shared.clone());
        let app = axum::Router::new()
            .route("/login/oauth/authorize", get(move |Query(q): Query<HashMap<String, String>>| async move { authorize(&a, &q) }))
            .route("/login/oauth/access_token", post(move |h: HeaderMap, Form(f): Form<HashMap<String, String>>| async move { token(&t, &h, &f) }))
            .route("/user", get(move |h: HeaderMap| async move { api(&u, &h, |acct| json!({ "id": acct.id, "login": acct.login, "name": "Octo Cat", "avatar_url": "https://avatars.example/u" })) }))
            .route("/user/emails", get(move |h: HeaderMap| async move {
                api(&e, &h, |acct| Value::Array(acct.emails.iter().map(|(m, p, v)| json!({ "email": m, "primary": p, "verified": v, "visibility": null })).collect()))
            }))
            .route("/user/orgs", get(move |h: HeaderMap| async move { api(&o, &h, |acct| Value::Array(acct.orgs.iter().map(|l| json!({ "login": l })).collect())) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, shared }
    }

    /// From now on, signs in `account`.
    pub fn set_account(&self, account: Account) {
        *self.shared.account.lock().expect("fake github") = account;
    }

    /// An `[[plugins]]` entry of the github-connector for this fake; `config` adds
    /// `[plugins.config]` lines.
    pub fn connector_entry(&self, config: &str) -> String {
        let port = self.base.rsplit(':').next().expect("port");
        let keys = format!("allowed_hosts = [\"127.0.0.1:{port}\"]\nsecrets = [\"PATH\"]");
        let cfg = format!(
            "client_id = \"{CLIENT_ID}\"\nclient_secret = \"PATH\"\nweb_url = \"{b}\"\napi_url = \"{b}\"\n{config}",
            b = self.base
        );
        crate::plugins::plugin_entry("github", "idp-connector", "github_connector", &keys, &cfg)
    }
}

fn authorize(s: &Shared, q: &HashMap<String, String>) -> Response {
    let (Some(redirect_uri), Some(state), Some(challenge)) =
        (q.get("redirect_uri"), q.get("state"), q.get("code_challenge"))
    else {
        return (StatusCode::BAD_REQUEST, "redirect_uri, state and code_challenge are required").into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
    s.codes.lock().expect("fake github").insert(code.clone(), (challenge.clone(), redirect_uri.clone()));
    let mut to = url::Url::parse(redirect_uri).expect("redirect uri");
    to.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

fn token(s: &Shared, h: &HeaderMap, f: &HashMap<String, String>) -> Response {
    // GitHub answers form-encoded unless asked for JSON; the connector must ask.
    if h.get(header::ACCEPT).and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::OK, "access_token=wrong-shape&token_type=bearer").into_response();
    }
    let error = |e: &str| axum::Json(json!({ "error": e, "error_description": "fake" })).into_response();
    let Some((challenge, redirect_uri)) = f.get("code").and_then(|c| s.codes.lock().expect("fake github").remove(c))
    else {
        return error("bad_verification_code");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let computed = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    if computed != challenge || f.get("redirect_uri") != Some(&redirect_uri) {
        return error("bad_verification_code");
    }
    let token = format!("gho_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()));
    s.tokens.lock().expect("fake github").push(token.clone());
    axum::Json(json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }))
        .into_response()
}

fn api(s: &Shared, h: &HeaderMap, body: impl Fn(&Account) -> Value) -> Response {
    let bearer = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let known = bearer.is_some_and(|t| s.tokens.lock().expect("fake github").iter().any(|k| k == t));
    if !known {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "message": "Bad credentials" }))).into_response();
    }
    if h.get(header::USER_AGENT).is_none() {
        return (StatusCode::FORBIDDEN, "a User-Agent is required").into_response();
    }
    let account = s.account.lock().expect("fake github").clone();
    axum::Json(body(&account)).into_response()
}
