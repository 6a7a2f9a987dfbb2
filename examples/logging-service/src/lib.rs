//! A resource server that trusts Gatehouse without calling it per request: `POST /log`
//! accepts a Bearer JWT verified locally against Gatehouse's JWKS (cached; refetched when a
//! token names an unknown `kid`, which is how key rotation reaches it), checking issuer,
//! audience, expiry, `typ: at+jwt` (RFC 9068 §4) and the `logs:write` scope.
#![allow(clippy::disallowed_methods, reason = "jsonwebtoken reads the system clock; this example has no Clock")]

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::RwLock;

/// What the service needs to know about Gatehouse.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Gatehouse's issuer identifier.
    pub issuer: String,
    /// Its JWKS URL.
    pub jwks_url: String,
    /// Our audience name (a token must name it in `aud`).
    pub audience: String,
}

/// One accepted log entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// The token's subject (the calling service).
    pub sub: String,
    /// The message.
    pub message: String,
}

#[derive(Clone)]
struct AppState {
    settings: Arc<Settings>,
    http: reqwest::Client,
    jwks: Arc<RwLock<JwkSet>>,
    entries: Arc<Mutex<Vec<Entry>>>,
}

/// The service's router and a handle on the entries it accepted.
pub fn router(settings: Settings) -> (Router, Arc<Mutex<Vec<Entry>>>) {
    let entries = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        settings: Arc::new(settings),
        http: reqwest::Client::new(),
        jwks: Arc::new(RwLock::new(JwkSet { keys: Vec::new() })),
        entries: entries.clone(),
    };
    (Router::new().route("/log", post(log_post)).with_state(state), entries)
}

#[derive(Deserialize)]
struct LogBody {
    message: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: String,
}

fn deny(status: StatusCode, error: &str) -> Response {
    let challenge = format!("Bearer error=\"{error}\"");
    (status, [(header::WWW_AUTHENTICATE, challenge)], Json(json!({ "error": error }))).into_response()
}

async fn log_post(State(s): State<AppState>, headers: HeaderMap, body: Option<Json<LogBody>>) -> Response {
    let Some(token) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    else {
        tracing::info!(reason = "no bearer token", "message refused");
        return deny(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    let claims = match verify(&s, token).await {
        Ok(c) => c,
        Err(reason) => {
            tracing::info!(reason, "message refused: token not accepted");
            return deny(StatusCode::UNAUTHORIZED, "invalid_token");
        }
    };
    if !claims.scope.split(' ').any(|x| x == "logs:write") {
        tracing::info!(sub = %claims.sub, reason = "no logs:write scope", "message refused");
        return deny(StatusCode::FORBIDDEN, "insufficient_scope");
    }
    let Some(Json(body)) = body else {
        tracing::info!(sub = %claims.sub, reason = "no JSON body", "message refused");
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "a JSON body {\"message\"} is required" })))
            .into_response();
    };
    let entry = Entry { sub: claims.sub, message: body.message };
    tracing::info!(sub = %entry.sub, text = %entry.message, "message accepted");
    if let Ok(mut e) = s.entries.lock() {
        e.push(entry.clone());
    }
    (StatusCode::CREATED, Json(json!({ "accepted": true, "sub": entry.sub }))).into_response()
}

async fn verify(s: &AppState, token: &str) -> Result<Claims, &'static str> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed")?;
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
        return Err("not an access token");
    }
    let kid = header.kid.ok_or("no kid")?;
    let mut jwk = s.jwks.read().await.find(&kid).cloned();
    if jwk.is_none() {
        // Unknown kid: the issuer may have rotated keys; refetch once.
        let fresh: JwkSet = s
            .http
            .get(&s.settings.jwks_url)
            .send()
            .await
            .map_err(|_| "jwks unreachable")?
            .json()
            .await
            .map_err(|_| "jwks unreadable")?;
        jwk = fresh.find(&kid).cloned();
        *s.jwks.write().await = fresh;
    }
    let jwk = jwk.ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "bad jwk")?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&s.settings.issuer]);
    v.set_audience(&[&s.settings.audience]);
    v.leeway = 5;
    let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|_| "signature or claims invalid")?;
    Ok(data.claims)
}
