//! A cookie-keeping HTTP "browser" that walks the sign-in pages like a person would (GET the
//! page, read the hidden fields, POST the form), and the configuration the browser tests use.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::standard_config;

/// The confidential, trusted web client.
pub const WEB_ID: &str = "web";
/// Its secret.
pub const WEB_SECRET: &str = "web-secret-0123456789abcdefghijkl";
/// Its redirect URI.
pub const WEB_CB: &str = "https://app.example/cb";
/// A second trusted client (SSO), signing ID tokens with ES256.
pub const CRM_ID: &str = "crm";
/// Its secret.
pub const CRM_SECRET: &str = "crm-secret-0123456789abcdefghijkl";
/// Its redirect URI.
pub const CRM_CB: &str = "https://crm.example/cb";
/// An untrusted client (consent).
pub const THIRD_ID: &str = "third";
/// Its secret.
pub const THIRD_SECRET: &str = "third-secret-0123456789abcdefghij";
/// Its redirect URI.
pub const THIRD_CB: &str = "https://third.example/cb";
/// The public client of the standard config.
pub const SPA_ID: &str = "spa";
/// Its redirect URI.
pub const SPA_CB: &str = "https://spa.example/cb";
/// A user.
pub const ALICE: &str = "alice";
/// Her password.
pub const ALICE_PASSWORD: &str = "correct horse battery staple";

/// The standard config plus users, browser clients and cheap password hashing.
pub fn browser_config() -> String {
    format!(
        r#"{}
[login]
password_hash_memory_kib = 256
password_hash_iterations = 1

[[clients]]
id = "{WEB_ID}"
secret = "{WEB_SECRET}"
redirect_uris = ["{WEB_CB}", "https://app.example/cb2"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["api"]
trusted = true
post_logout_redirect_uris = ["https://app.example/bye"]

[[clients]]
id = "{CRM_ID}"
secret = "{CRM_SECRET}"
redirect_uris = ["{CRM_CB}"]
grant_types = ["authorization_code"]
trusted = true
id_token_signed_response_alg = "ES256"

[[clients]]
id = "{THIRD_ID}"
client_name = "Third <Party> App"
secret = "{THIRD_SECRET}"
redirect_uris = ["{THIRD_CB}"]
grant_types = ["authorization_code", "refresh_token"]

[[users]]
username = "{ALICE}"
password = "{ALICE_PASSWORD}"
email = "alice@example.com"

[[users]]
username = "bob"
password = "bob's password 123"
"#,
        standard_config()
    )
}

/// A PKCE pair `(verifier, S256 challenge)`.
pub fn pkce() -> (String, String) {
    use rand::Rng as _;
    let verifier = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier.clone(), URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// The value of `name` in a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The `value` of the input named `name` in an HTML page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(unescape(&rest[..rest.find('"')?]))
}

/// An attribute value as the browser reads it (the templates' escapes decoded).
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A response reduced to what the tests look at.
#[derive(Debug)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// `Set-Cookie` headers.
    pub cookies: Vec<String>,
    /// The body.
    pub body: String,
}

/// A browser: one cookie jar, no automatic redirects.
pub struct Browser {
    /// The client.
    pub http: reqwest::Client,
    /// Server base URL.
    pub base: String,
    /// A configured issuer that differs from `base` (URLs under it are fetched from `base`).
    pub issuer: Option<String>,
}

impl Browser {
    /// A fresh browser (empty cookie jar).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { http, base: base.to_owned(), issuer: None }
    }

    /// A browser for a server whose issuer is not its bound address.
    pub fn with_issuer(base: &str, issuer: &str) -> Self {
        Self { issuer: Some(issuer.to_owned()), ..Self::new(base) }
    }

    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let cookies =
            resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
        let body = resp.text().await.expect("body");
        Page { status, location, cookies, body }
    }

    /// GET an absolute URL or a path.
    pub async fn get(&self, url: &str) -> Page {
        let url = match &self.issuer {
            Some(iss) if url.starts_with(iss.as_str()) => format!("{}{}", self.base, &url[iss.len()..]),
            _ if url.starts_with("http") => url.to_owned(),
            _ => format!("{}{url}", self.base),
        };
        Self::page(self.http.get(url).send().await.expect("request")).await
    }

    /// POST a form.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(self.http.post(format!("{}{path}", self.base)).form(form).send().await.expect("request")).await
    }

    /// GET /authorize with `params`.
    pub async fn authorize(&self, params: &[(&str, &str)]) -> Page {
        let q = serde_urlencoded::to_string(params).expect("query");
        self.get(&format!("/authorize?{q}")).await
    }

    /// Submits the login form on `page` (a login page) and returns the response.
    pub async fn submit_login(&self, page: &Page, username: &str, password: &str) -> Page {
        let flow = hidden(&page.body, "flow").expect("flow field");
        let csrf = hidden(&page.body, "csrf").expect("csrf field");
        self.post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", username), ("password", password), ("action", "login")],
        )
        .await
    }

    /// Approves (or denies) the consent page `page`.
    pub async fn consent(&self, page: &Page, action: &str) -> Page {
        let flow = hidden(&page.body, "flow").expect("flow field");
        let csrf = hidden(&page.body, "csrf").expect("csrf field");
        self.post("/login", &[("flow", &flow), ("csrf", &csrf), ("action", action)]).await
    }

    /// A code for `params`: straight from the session when there is one (SSO), else through
    /// [`Self::sign_in`]. Returns the redirect to the client.
    pub async fn code_redirect(&self, params: &[(&str, &str)], username: &str, password: &str) -> String {
        let start = self.authorize(params).await;
        match start.location {
            Some(to) if !to.contains("/login?flow=") => to,
            _ => self.sign_in(params, username, password).await,
        }
    }

    /// authorize → login page → credentials (→ consent approved) → the redirect to the
    /// client, returned as its URL.
    pub async fn sign_in(&self, params: &[(&str, &str)], username: &str, password: &str) -> String {
        let start = self.authorize(params).await;
        assert_eq!(start.status, 303, "authorize: {}", start.body);
        let login_url = start.location.expect("location");
        assert!(login_url.contains("/login?flow="), "not sent to the login page: {login_url}");
        let page = self.get(&login_url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let mut resp = self.submit_login(&page, username, password).await;
        assert_eq!(resp.status, 303, "login: {}", resp.body);
        let mut to = resp.location.clone().expect("location");
        if to.contains("/login?flow=") {
            let consent = self.get(&to).await;
            assert!(consent.body.contains("Allow access"), "{}", consent.body);
            resp = self.consent(&consent, "approve").await;
            to = resp.location.expect("location");
        }
        to
    }
}

/// Redeems a code with HTTP Basic client authentication.
pub async fn redeem(
    http: &reqwest::Client,
    base: &str,
    client: (&str, &str),
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let resp = crate::post_basic(http, &format!("{base}/token"), client.0, client.1, &form).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

/// An example relying party (`examples/relying-party`) registered at a Gatehouse test
/// server: the RP listens first so its redirect URI can be registered.
pub struct RelyingParty {
    /// The RP's base URL.
    pub base: String,
    /// The Gatehouse server.
    pub idp: crate::TestServer,
    /// Its issuer (the URL browsers use).
    pub issuer: String,
}

/// The RP's client id.
pub const RP_ID: &str = "example-app";
/// Its secret.
pub const RP_SECRET: &str = "example-app-secret-0123456789abcd";

impl RelyingParty {
    /// Starts Gatehouse (browser config plus the RP's client) and the RP.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Like [`Self::start`], with Gatehouse's issuer on `http://localhost:PORT` (a host name:
    /// WebAuthn refuses IP addresses, so passkeys need this) and `extra` appended.
    pub async fn start_on_localhost(extra: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let server = format!("bind = \"127.0.0.1:{port}\"\nissuer = \"http://localhost:{port}\"");
        let config = browser_config().replace("bind = \"127.0.0.1:0\"", &server);
        Self::start_config(config, extra, &format!("http://localhost:{port}")).await
    }

    /// Like [`Self::start`], with `extra` appended to Gatehouse's config (plugins).
    pub async fn start_with(extra: &str) -> Self {
        Self::start_config(browser_config(), extra, "").await
    }

    /// Gatehouse with `config` and `extra`, its issuer `issuer` (its bound address when
    /// empty), and the RP registered at it.
    async fn start_config(config: String, extra: &str, issuer: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let full = format!(
            "{config}\n[[clients]]\nid = \"{RP_ID}\"\nsecret = \"{RP_SECRET}\"\nredirect_uris = [\"{base}/callback\"]\n\
             post_logout_redirect_uris = [\"{base}/\"]\ngrant_types = [\"authorization_code\"]\ntrusted = true\n",
        );
        let idp = crate::TestServer::start_with(&format!("{full}{extra}")).await;
        let issuer = if issuer.is_empty() { idp.base.clone() } else { issuer.to_owned() };
        let settings = relying_party::Settings {
            issuer: issuer.clone(),
            client_id: RP_ID.into(),
            client_secret: RP_SECRET.into(),
            base_url: base.clone(),
        };
        let app = relying_party::App::new(settings).await.expect("the RP discovers Gatehouse");
        tokio::spawn(async move {
            let _ = axum::serve(listener, relying_party::router(app)).await;
        });
        Self { base, idp, issuer }
    }
}

/// The first `href` on `page` that contains `needle`, with the template's escapes decoded.
pub fn href(page: &Page, needle: &str) -> Option<String> {
    page.body
        .split("href=\"")
        .skip(1)
        .map(|r| r[..r.find('"').unwrap_or(r.len())].replace("&#x2f;", "/").replace("&amp;", "&"))
        .find(|h| h.contains(needle))
}

/// Follows redirects from `page` until one leaves for the client (returned as the final
/// `Location`) or a page answers.
pub async fn follow(b: &Browser, mut page: Page) -> Page {
    for _ in 0..10 {
        match page.location.clone() {
            // The test clients' redirect URIs are https; the servers here are plain http.
            Some(to) if (300..400).contains(&page.status) && !to.starts_with("https://") => {
                page = b.get(&to).await;
            }
            _ => return page,
        }
    }
    page
}

/// Signs `user` in at the web client with `offline_access` (a fresh browser): the refresh token.
pub async fn web_refresh_token(s: &crate::TestServer, user: &str, password: &str) -> String {
    web_tokens(s, user, password).await["refresh_token"].as_str().expect("a refresh token").to_owned()
}

/// Signs `user` in at the web client with `offline_access` (a fresh browser): the token answer.
pub async fn web_tokens(s: &crate::TestServer, user: &str, password: &str) -> Value {
    let b = Browser::new(&s.base);
    let p = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid offline_access"),
    ];
    let back = b.sign_in(&p, user, password).await;
    let code = query_param(&back, "code").expect("a code");
    let (status, tokens) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// The web client's refresh grant with `token`: status and answer.
pub async fn web_refresh(s: &crate::TestServer, token: &str) -> (u16, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    let r = crate::post_basic(&s.http, &format!("{}/token", s.base), WEB_ID, WEB_SECRET, &form).await;
    (r.status().as_u16(), r.json().await.expect("json"))
}
