//! Unit tests of the login flow's steps through the sign-in service, without a socket: the
//! services of `crate::testing` over the memory store, at a manual time.

use crate::oauth::token;
use crate::oidc::flow::{Action, BrowserCookies, ErrorKind, Page, Reply};
use crate::oidc::login::{self, LOGIN_FAILED};
use crate::testing::{ALICE, Harness, ISSUER, WEB, WEB_CB, form, meta, params};

const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

fn challenge() -> String {
    use base64::Engine as _;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn location(reply: &Reply) -> &str {
    match &reply.action {
        Action::Redirect(to) => to,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A browser in the middle of a flow.
struct Flow {
    cookies: BrowserCookies,
    id: String,
}

/// An authorization request of the web client for `scope`, with PKCE and `state=s-1`.
fn authorize_params(scope: &str) -> crate::oauth::params::Params {
    let challenge = challenge();
    params(&[
        ("response_type", "code"),
        ("client_id", WEB.0),
        ("redirect_uri", WEB_CB),
        ("scope", scope),
        ("state", "s-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
}

/// `/authorize` for the web client: a new flow for a browser without cookies.
async fn begin(h: &Harness) -> Flow {
    let p = authorize_params("openid api");
    let reply = login::authorize(&h.sign_in, &p, &BrowserCookies::default(), &meta(), h.now()).await;
    let to = location(&reply);
    assert!(to.starts_with(&format!("{ISSUER}/login?flow=")), "to the login page: {to}");
    let id = query(to, "flow").expect("flow id");
    Flow { cookies: BrowserCookies { binding: reply.set_binding.clone(), ..Default::default() }, id }
}

/// The page `GET /login?flow=` shows.
async fn show(h: &Harness, f: &Flow) -> Page {
    match login::show(&h.sign_in, Some(&f.id), &f.cookies, &meta(), h.now()).await.action {
        Action::Page(p) => *p,
        other => panic!("expected a page, got {other:?}"),
    }
}

fn csrf(page: &Page) -> String {
    match page {
        Page::Password { csrf, .. } | Page::Consent { csrf, .. } | Page::SelectAccount { csrf, .. } => csrf.clone(),
        other => panic!("no csrf on {other:?}"),
    }
}

async fn submit(h: &Harness, f: &Flow, pairs: &[(&str, &str)]) -> Reply {
    let csrf = csrf(&show(h, f).await);
    let mut all = vec![("flow", f.id.as_str()), ("csrf", csrf.as_str())];
    all.extend_from_slice(pairs);
    login::submit(&h.sign_in, &params(&all), &f.cookies, &meta(), h.now()).await
}

async fn password(h: &Harness, f: &Flow, pw: &str) -> Reply {
    submit(h, f, &[("username", ALICE.0), ("password", pw)]).await
}

#[tokio::test]
async fn password_then_consent_ends_with_a_code_the_token_service_redeems() {
    let h = Harness::new().await;
    let mut f = begin(&h).await;
    assert!(matches!(show(&h, &f).await, Page::Password { .. }));
    let after_password = password(&h, &f, ALICE.1).await;
    assert!(after_password.set_session.is_some(), "the session starts once the sign-in steps are done");
    assert!(location(&after_password).contains("/login?flow="), "on to the consent page");
    f.cookies.session = after_password.set_session.map(|(cookie, _)| cookie);
    let Page::Consent { scopes, .. } = show(&h, &f).await else { panic!("consent page") };
    assert_eq!(scopes.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["openid", "api"]);

    let done = submit(&h, &f, &[("action", "approve")]).await;
    let to = location(&done);
    assert!(to.starts_with(WEB_CB), "back to the client: {to}");
    assert_eq!(query(to, "state").as_deref(), Some("s-1"));
    assert_eq!(query(to, "iss").as_deref(), Some(ISSUER));
    let code = query(to, "code").expect("code");
    let p = form(
        WEB,
        &[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", VERIFIER), ("redirect_uri", WEB_CB)],
    );
    let tokens = token::exchange(&h.tokens, None, &p, &meta(), h.now()).await.expect("tokens");
    assert!(tokens.id_token.is_some());
    // The flow is spent: posting its last form again does not issue a second code.
    assert!(matches!(
        login::show(&h.sign_in, Some(&f.id), &f.cookies, &meta(), h.now()).await.action,
        Action::Error(_)
    ));
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_the_generic_message() {
    let h = Harness::new().await;
    let f = begin(&h).await;
    let Action::Page(page) = password(&h, &f, "not her password").await.action else { panic!("page") };
    let Page::Password { error, username, .. } = *page else { panic!("password page") };
    assert_eq!((error.as_deref(), username.as_str()), (Some(LOGIN_FAILED), ALICE.0));
    // The same message for a name nobody has.
    let Action::Page(page) = submit(&h, &f, &[("username", "nobody"), ("password", "x")]).await.action else {
        panic!("page")
    };
    assert!(matches!(*page, Page::Password { error: Some(ref e), .. } if e == LOGIN_FAILED));
}

#[tokio::test]
async fn the_account_locks_after_the_threshold_even_for_the_right_password() {
    let h = Harness::new().await;
    for _ in 0..5 {
        let f = begin(&h).await;
        assert!(matches!(password(&h, &f, "wrong password").await.action, Action::Page(_)));
    }
    let f = begin(&h).await;
    let reply = password(&h, &f, ALICE.1).await;
    assert!(matches!(reply.action, Action::Error(ref e) if e.kind == ErrorKind::TooMany), "{:?}", reply.action);
    assert!(reply.set_session.is_none());
    // The lockout ends with its duration (15 minutes by default).
    h.clock.advance(std::time::Duration::from_secs(16 * 60));
    let f = begin(&h).await;
    assert!(password(&h, &f, ALICE.1).await.set_session.is_some());
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_browser_is_refused() {
    let h = Harness::new().await;
    let f = begin(&h).await;
    let p = params(&[("flow", &f.id), ("csrf", "forged"), ("username", ALICE.0), ("password", ALICE.1)]);
    let reply = login::submit(&h.sign_in, &p, &f.cookies, &meta(), h.now()).await;
    assert!(matches!(reply.action, Action::Error(ref e) if e.kind == ErrorKind::Forbidden));
    // Another browser (no binding cookie) cannot use the flow at all.
    let other = BrowserCookies::default();
    assert!(matches!(login::show(&h.sign_in, Some(&f.id), &other, &meta(), h.now()).await.action, Action::Error(_)));
}

#[tokio::test]
async fn denying_consent_sends_access_denied_to_the_client() {
    let h = Harness::new().await;
    let mut f = begin(&h).await;
    f.cookies.session = password(&h, &f, ALICE.1).await.set_session.map(|(c, _)| c);
    let reply = submit(&h, &f, &[("action", "deny")]).await;
    let to = location(&reply);
    assert!(to.starts_with(WEB_CB));
    assert_eq!(query(to, "error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn a_live_session_signs_in_again_without_a_password_once_consent_is_remembered() {
    let h = Harness::new().await;
    let mut f = begin(&h).await;
    f.cookies.session = password(&h, &f, ALICE.1).await.set_session.map(|(c, _)| c);
    assert!(location(&submit(&h, &f, &[("action", "approve")]).await).starts_with(WEB_CB));
    // Same browser, new request: the session answers at once with a code.
    let p = authorize_params("openid");
    let reply = login::authorize(&h.sign_in, &p, &f.cookies, &meta(), h.now()).await;
    assert!(query(location(&reply), "code").is_some(), "SSO: {}", location(&reply));
}
