//! A web application that signs people in with Gatehouse, the way a real relying party
//! does: OpenID Connect discovery, the authorization code flow with PKCE, state and nonce,
//! ID token verification (signature against the JWKS, issuer, audience, expiry, nonce,
//! `at_hash`) by the `openidconnect` crate, userinfo, and RP-initiated logout.
//!
//! Pages: `/` (home), `/login` (to Gatehouse), `/callback` (back from it), `/claims` (who is
//! signed in), `/logout` (here and at Gatehouse). Sessions are in memory, keyed by a random
//! cookie. The provider's keys come with discovery; an ID token signed with a key it does not
//! know (Gatehouse rotated its keys) makes it fetch them again, at most every ten seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow, bail};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, SignatureVerificationError, TokenResponse as _,
};

/// The cookie holding this app's session id (not Gatehouse's cookie).
pub const COOKIE: &str = "rp_session";

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Gatehouse's issuer URL.
    pub issuer: String,
    /// This app's client id at Gatehouse.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// This app's own base URL (`http://127.0.0.1:3000`); `/callback` is under it.
    pub base_url: String,
}

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

enum Session {
    /// Sent to Gatehouse; waiting for the callback.
    Pending { csrf: CsrfToken, nonce: Nonce, verifier: PkceCodeVerifier },
    /// Signed in.
    SignedIn { id_token: String, claims: serde_json::Value, userinfo: serde_json::Value },
}

/// The app.
pub struct App {
    settings: Settings,
    /// Rebuilt from a fresh discovery when the provider's keys change.
    client: std::sync::RwLock<Arc<Client>>,
    /// When the keys were last fetched again (refetches are rate-limited).
    refreshed: Mutex<Option<std::time::Instant>>,
    http: reqwest::Client,
    end_session: Option<String>,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Now, for the refetch's rate limit (this example has no clock of its own to inject).
#[allow(clippy::disallowed_methods, reason = "an example app outside the server: plain monotonic time")]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// The provider's keys are fetched again at most this often.
const KEYS_REFRESH_MIN: std::time::Duration = std::time::Duration::from_secs(10);

/// An HTTP client error for `openidconnect`.
#[derive(Debug)]
pub struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// Sends an `openidconnect` request with reqwest (the crate's own reqwest integration is for
/// an older reqwest; the crate accepts any async function).
async fn send(
    http: reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let err = |e: &dyn std::fmt::Display| HttpError(e.to_string());
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| err(&e))?;
    let mut builder = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let body = resp.bytes().await.map_err(|e| err(&e))?.to_vec();
    builder.body(body).map_err(|e| err(&e))
}

impl App {
    /// Discovers Gatehouse and builds the client.
    pub async fn new(settings: Settings) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let client = discover(&http, &settings).await?;
        let discovery: serde_json::Value =
            http.get(format!("{}/.well-known/openid-configuration", settings.issuer)).send().await?.json().await?;
        let end_session = discovery["end_session_endpoint"].as_str().map(str::to_owned);
        Ok(Arc::new(Self {
            settings,
            client: std::sync::RwLock::new(Arc::new(client)),
            refreshed: Mutex::new(None),
            http,
            end_session,
            sessions: Mutex::new(HashMap::new()),
        }))
    }

    fn client(&self) -> anyhow::Result<Arc<Client>> {
        Ok(self.client.read().map_err(|_| anyhow!("lock"))?.clone())
    }

    /// Fetches the provider's metadata and keys again (a token named a key we do not know);
    /// `false` when that happened too recently.
    async fn refresh_keys(&self) -> anyhow::Result<bool> {
        {
            let mut last = self.refreshed.lock().map_err(|_| anyhow!("lock"))?;
            if last.is_some_and(|t| now().saturating_duration_since(t) < KEYS_REFRESH_MIN) {
                return Ok(false);
            }
            *last = Some(now());
        }
        let client = discover(&self.http, &self.settings).await?;
        tracing::info!("the provider's signing keys were fetched again");
        *self.client.write().map_err(|_| anyhow!("lock"))? = Arc::new(client);
        Ok(true)
    }

    fn session_id(headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.to_owned())
    }

    async fn callback(&self, sid: &str, code: String, state: &str) -> anyhow::Result<()> {
        let pending = self.sessions.lock().map_err(|_| anyhow!("lock"))?.remove(sid);
        let Some(Session::Pending { csrf, nonce, verifier }) = pending else { bail!("no sign-in in progress") };
        if state != csrf.secret() {
            bail!("state does not match: possible CSRF");
        }
        let h = self.http.clone();
        let call = move |req| send(h.clone(), req);
        let mut client = self.client()?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))?
            .set_pkce_verifier(verifier)
            .request_async(&call)
            .await
            .context("code exchange")?;
        let id_token = tokens.id_token().ok_or_else(|| anyhow!("no ID token"))?;
        let unknown_key = matches!(
            id_token.claims(&client.id_token_verifier(), &nonce),
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
        );
        // Signed with a key we have not seen: the provider rotated; fetch its keys again.
        if unknown_key && self.refresh_keys().await? {
            client = self.client()?;
        }
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).context("ID token verification")?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = AccessTokenHash::from_token(
                tokens.access_token(),
                id_token.signing_alg()?,
                id_token.signing_key(&verifier)?,
            )?;
            if actual != *expected {
                bail!("at_hash does not match the access token");
            }
        }
        let userinfo: CoreUserInfoClaims =
            client.user_info(tokens.access_token().clone(), None)?.request_async(&call).await.context("userinfo")?;
        let session = Session::SignedIn {
            id_token: id_token.to_string(),
            claims: serde_json::to_value(claims)?,
            userinfo: serde_json::to_value(userinfo)?,
        };
        self.sessions.lock().map_err(|_| anyhow!("lock"))?.insert(sid.to_owned(), session);
        Ok(())
    }
}

/// Discovery: the provider's metadata and keys, as a client of it.
async fn discover(http: &reqwest::Client, settings: &Settings) -> anyhow::Result<Client> {
    let h = http.clone();
    let call = move |req| send(h.clone(), req);
    let issuer = IssuerUrl::new(settings.issuer.clone())?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &call).await.context("OpenID Connect discovery")?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(settings.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{}/callback", settings.base_url))?))
}

/// The app's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/claims", get(claims))
        .route("/logout", get(logout))
        .with_state(app)
}

/// A little style, inline: the example has no assets to serve.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;\
line-height:1.5;color:#1f2328}h1{font-size:1.6rem}a{color:#0a58ca}pre{background:#f6f8fa;padding:1rem;\
border-radius:6px;overflow:auto;font-size:.85rem}.brand{color:#57606a;font-size:.9rem;margin-bottom:0}";

fn page(title: &str, body: &str) -> Html<String> {
    // The app's own name is the page title's suffix only when the page has another title.
    let full = if title == APP_NAME { APP_NAME.to_owned() } else { format!("{} · {APP_NAME}", escape(title)) };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{full}</title>\
         <style>{STYLE}</style></head><body><p class=\"brand\">{APP_NAME}</p><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    ))
}

/// The app's name on its pages.
const APP_NAME: &str = "Example app";

/// HTML-escapes text.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Html<String> {
    let signed_in = App::session_id(&headers)
        .is_some_and(|sid| app.sessions.lock().is_ok_and(|m| matches!(m.get(&sid), Some(Session::SignedIn { .. }))));
    if signed_in {
        page(
            "Example app",
            "<p>You are signed in.</p><p><a href=\"/claims\">Your claims</a> · <a id=\"logout\" href=\"/logout\">Sign out</a></p>",
        )
    } else {
        page(
            "Example app",
            "<p>You are not signed in.</p><p><a id=\"login\" href=\"/login\">Sign in with Gatehouse</a></p>",
        )
    }
}

async fn login(State(app): State<Arc<App>>) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = match app.client() {
        Ok(c) => c,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, page("Error", "<p>Try again.</p>")).into_response(),
    };
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let sid = CsrfToken::new_random().secret().clone();
    if let Ok(mut m) = app.sessions.lock() {
        m.insert(sid.clone(), Session::Pending { csrf, nonce, verifier });
    }
    let mut resp = Redirect::to(url.as_str()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax")) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn callback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(error) = q.get("error") {
        let body = format!("<p>Gatehouse said: <code>{}</code></p><p><a href=\"/\">Home</a></p>", escape(error));
        return (StatusCode::BAD_REQUEST, page("Sign-in failed", &body)).into_response();
    }
    let (Some(sid), Some(code), Some(state)) = (App::session_id(&headers), q.get("code"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, page("Sign-in failed", "<p>Missing code, state or session.</p>"))
            .into_response();
    };
    match app.callback(&sid, code.clone(), state).await {
        Ok(()) => Redirect::to("/claims").into_response(),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "sign-in failed");
            let body = format!("<p>{}</p><p><a href=\"/\">Home</a></p>", escape(&format!("{e:#}")));
            (StatusCode::BAD_REQUEST, page("Sign-in failed", &body)).into_response()
        }
    }
}

async fn claims(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let sessions = app.sessions.lock();
    let found = App::session_id(&headers).and_then(|sid| match sessions.as_ref().ok()?.get(&sid) {
        Some(Session::SignedIn { claims, userinfo, .. }) => Some((claims.clone(), userinfo.clone())),
        _ => None,
    });
    drop(sessions);
    let Some((claims, userinfo)) = found else { return Redirect::to("/").into_response() };
    let name = userinfo["preferred_username"].as_str().unwrap_or("?");
    let body = format!(
        "<p id=\"who\">Signed in as <strong>{}</strong></p><h2>ID token claims</h2><pre id=\"claims\">{}</pre>\
         <h2>Userinfo</h2><pre id=\"userinfo\">{}</pre><p><a id=\"logout\" href=\"/logout\">Sign out</a></p>",
        escape(name),
        escape(&serde_json::to_string_pretty(&claims).unwrap_or_default()),
        escape(&serde_json::to_string_pretty(&userinfo).unwrap_or_default()),
    );
    page("Your claims", &body).into_response()
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let ended = App::session_id(&headers).and_then(|sid| app.sessions.lock().ok()?.remove(&sid));
    let (Some(Session::SignedIn { id_token, .. }), Some(end)) = (ended, &app.end_session) else {
        return Redirect::to("/").into_response();
    };
    let mut url = match url::Url::parse(end) {
        Ok(u) => u,
        Err(_) => return Redirect::to("/").into_response(),
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &format!("{}/", app.settings.base_url));
    Redirect::to(url.as_str()).into_response()
}
