//! Two-step verification as a person does it: an authenticator app (the TOTP secret read off
//! the enrolment page, codes computed for the server's clock) and recovery codes read off
//! the page that shows them once.

use gatehouse::clock::Clock as _;

use serde_json::Value;

use crate::browser::{Browser, Page, WEB_CB, WEB_ID, WEB_SECRET, hidden, query_param, redeem};
use crate::{TestServer, jwt_parts};

/// The code an authenticator app shows at unix time `t` for the base32 `secret`.
pub fn code_at(secret: &str, t: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
    let totp = totp_rs::Builder::new().with_secret(bytes).build().expect("an RFC 6238 TOTP");
    totp.generate(u64::try_from(t).expect("after 1970")).to_string()
}

/// The server's clock, unix seconds.
pub fn now(s: &TestServer) -> i64 {
    s.clock.now().unix_timestamp()
}

/// The code for the server's clock now.
pub fn code_now(s: &TestServer, secret: &str) -> String {
    code_at(secret, s.clock.now().unix_timestamp())
}

/// The setup key an enrolment page shows (spaces removed).
pub fn secret_of(page: &Page) -> String {
    secret_in(&page.body)
}

/// The setup key in an enrolment page's HTML.
pub fn secret_in(html: &str) -> String {
    let at = html.find("id=\"totp-secret\">").expect("the setup key is shown") + 17;
    let rest = &html[at..];
    rest[..rest.find("</code>").expect("end of the key")].replace(' ', "")
}

/// The recovery codes a page shows.
pub fn codes_of(page: &Page) -> Vec<String> {
    let Some(at) = page.body.find("id=\"recovery-codes\"") else { return Vec::new() };
    let list = &page.body[at..page.body[at..].find("</ul>").map_or(page.body.len(), |e| at + e)];
    list.split("<code>").skip(1).filter_map(|c| c.split("</code>").next()).map(str::to_owned).collect()
}

/// Posts the account form with the session's CSRF token (read from `/account`).
pub async fn account_post(b: &Browser, fields: &[(&str, &str)]) -> Page {
    let account = b.get("/account").await;
    let csrf = hidden(&account.body, "csrf").expect("the account page's csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post("/account", &form).await
}

/// Adds an authenticator on the account page of a signed-in browser: its secret, and the
/// recovery codes shown once.
pub async fn enrol(b: &Browser, s: &TestServer) -> (String, Vec<String>) {
    let page = account_post(b, &[("action", "totp_begin")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = secret_of(&page);
    let shown = account_post(b, &[("action", "totp_confirm"), ("code", &code_now(s, &secret))]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let codes = codes_of(&shown);
    assert_eq!(codes.len(), 10, "{}", shown.body);
    (secret, codes)
}

/// An authorization request of the web client (plus `extra`).
pub fn params(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut p = vec![("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    p.extend_from_slice(extra);
    p
}

/// authorize → password: the page that follows (the factor step, if one is asked for).
pub async fn password_step(b: &Browser, p: &[(&str, &str)], user: &str, password: &str) -> Page {
    let start = b.authorize(p).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let login = b.get(start.location.as_deref().expect("to the login page")).await;
    let after = b.submit_login(&login, user, password).await;
    assert_eq!(after.status, 303, "{}", after.body);
    let to = after.location.expect("location");
    assert!(to.contains("/login?flow="), "no second step: {to}");
    b.get(&to).await
}

/// Submits `code` on a factor page.
pub async fn submit_code(b: &Browser, page: &Page, code: &str) -> Page {
    let flow = hidden(&page.body, "flow").expect("flow");
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("code", code), ("action", "verify")]).await
}

/// The ID token claims of the code in `cb`.
pub async fn id_claims(s: &TestServer, cb: &str) -> Value {
    let code = query_param(cb, "code").expect("a code");
    let (status, tokens) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    jwt_parts(tokens["id_token"].as_str().expect("an ID token")).1
}

/// Sets up an authenticator on a sign-in's enrolment page (`[mfa] require = "always"`, a
/// client's `require_mfa`, a step-up) and continues past the recovery codes: the secret,
/// and the answer that follows (the redirect to the client).
pub async fn enrol_at_sign_in(b: &Browser, s: &TestServer, page: &Page) -> (String, Page) {
    assert!(page.body.contains("Set up two-step verification"), "{}", page.body);
    let secret = secret_of(page);
    let flow = hidden(&page.body, "flow").expect("flow");
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let code = code_now(s, &secret);
    let shown = b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("code", &code), ("action", "enrol")]).await;
    assert_eq!(codes_of(&shown).len(), 10, "{}", shown.body);
    let done = b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("action", "continue")]).await;
    (secret, done)
}
