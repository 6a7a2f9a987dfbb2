//! Refresh rotation and reuse detection, consent, and logout.

use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, THIRD_CB, THIRD_ID, THIRD_SECRET, WEB_CB, WEB_ID, WEB_SECRET, browser_config,
    hidden, query_param, redeem,
};
use gatehouse_tests::{TestServer, jwt_parts};
use serde_json::Value;

async fn refresh(s: &TestServer, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    let r = s.post_basic(paths::TOKEN, WEB_ID, WEB_SECRET, &form).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn web_tokens(s: &TestServer, b: &Browser, scope: &str) -> Value {
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", scope)];
    let code = query_param(&b.code_redirect(&params, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (status, tokens) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let first = web_tokens(&s, &b, "openid email offline_access api").await;
    let rt1 = first["refresh_token"].as_str().unwrap();

    // Narrowing is allowed; widening is not.
    let (status, body) = refresh(&s, rt1, Some("openid profile")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, second) = refresh(&s, rt1, Some("openid api")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["scope"], "openid api");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "rotated");
    let (_, id) = jwt_parts(second["id_token"].as_str().unwrap());
    assert!(id.get("nonce").is_none());
    assert!(id.get("email").is_none(), "claims follow the narrowed scope");

    // The rotated token keeps the original scope: it can still ask for email.
    let (status, third) = refresh(&s, rt2, None).await;
    assert_eq!(status, 200);
    assert_eq!(third["scope"], "openid email offline_access api");
    let rt3 = third["refresh_token"].as_str().unwrap();
    let at3 = third["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(WEB_ID, WEB_SECRET, at3).await["active"], true);

    // rt1 was spent: presenting it again revokes the family and its newest access token.
    let (status, body) = refresh(&s, rt1, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = refresh(&s, rt3, None).await;
    assert_eq!(status, 400, "the live member of the family is revoked too");
    assert_eq!(s.introspect(WEB_ID, WEB_SECRET, at3).await["active"], false);
    let names = s.audit_events(&["refresh_token_reused", "login_succeeded"]).await;
    assert!(names.contains(&"refresh_token_reused"), "{names:?}");
    assert!(names.contains(&"login_succeeded"), "{names:?}");
}

#[tokio::test]
async fn refresh_tokens_need_offline_access_the_right_client_and_expire() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let no_offline = web_tokens(&s, &b, "openid").await;
    assert!(no_offline.get("refresh_token").is_none());
    let tokens = web_tokens(&s, &b, "openid offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = s
        .post_basic(paths::TOKEN, THIRD_ID, THIRD_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .await;
    assert_eq!(r.status(), 400, "another client");
    // Still valid for its own client after that attempt.
    let (status, body) = refresh(&s, rt, None).await;
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    s.clock.advance(std::time::Duration::from_secs(31 * 24 * 3600));
    let (status, _) = refresh(&s, &rt2, None).await;
    assert_eq!(status, 400, "expired after refresh_token_ttl (30 days)");
}

#[tokio::test]
async fn reuse_is_detected_whatever_else_the_refresh_request_carries() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let scope = "openid profile email offline_access";
    for replay_scope in [Some(scope), Some("openid"), Some("openid admin"), None] {
        let tokens = web_tokens(&s, &b, scope).await;
        let rt1 = tokens["refresh_token"].as_str().unwrap();
        // authlib's refresh_token() sends the session's scope; openid-client sends none.
        let (status, second) = refresh(&s, rt1, Some(scope)).await;
        assert_eq!(status, 200, "{second}");
        let rt2 = second["refresh_token"].as_str().unwrap();
        let at2 = second["access_token"].as_str().unwrap();
        let (status, body) = refresh(&s, rt1, replay_scope).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{replay_scope:?}: {body}");
        let (status, body) = refresh(&s, rt2, Some(scope)).await;
        assert_eq!(status, 400, "{replay_scope:?}: the family is revoked: {body}");
        assert_eq!(s.introspect(WEB_ID, WEB_SECRET, at2).await["active"], false, "{replay_scope:?}");
    }
    // A spent token presented by another client revokes the family as well.
    let tokens = web_tokens(&s, &b, scope).await;
    let rt1 = tokens["refresh_token"].as_str().unwrap();
    let (_, second) = refresh(&s, rt1, None).await;
    let rt2 = second["refresh_token"].as_str().unwrap();
    let r = s
        .post_basic(paths::TOKEN, THIRD_ID, THIRD_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", rt1)])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(refresh(&s, rt2, None).await.0, 400, "revoked by the reuse");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let tokens = web_tokens(&s, &b, "openid offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = s.post_basic(paths::REVOKE, THIRD_ID, THIRD_SECRET, &[("token", rt)]).await;
    assert_eq!(r.status(), 400, "another client may not revoke it");
    let r =
        s.post_basic(paths::REVOKE, WEB_ID, WEB_SECRET, &[("token", rt), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(r.status(), 200);
    let (status, _) = refresh(&s, rt, None).await;
    assert_eq!(status, 400);
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        s.introspect(WEB_ID, WEB_SECRET, at).await["active"],
        false,
        "RFC 7009 §2.1: the grant's access token too"
    );
}

#[tokio::test]
async fn untrusted_clients_ask_for_consent_once_and_denial_goes_back_to_the_client() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", THIRD_ID), ("scope", "openid email"), ("state", "c1")];
    let start = b.authorize(&params).await;
    let login = b.get(start.location.as_deref().unwrap()).await;
    let after = b.submit_login(&login, ALICE, ALICE_PASSWORD).await;
    let consent = b.get(after.location.as_deref().unwrap()).await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("See your email address"), "{}", consent.body);
    assert!(consent.body.contains("Third &lt;Party&gt; App"), "client_name, escaped: {}", consent.body);
    let denied = b.consent(&consent, "deny").await;
    let to = denied.location.unwrap();
    assert!(to.starts_with(THIRD_CB));
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("c1"));

    // Signed in now (the password step made a session); consent is asked again, then remembered.
    let again = b.authorize(&params).await;
    let consent = b.get(again.location.as_deref().unwrap()).await;
    assert!(consent.body.contains("Allow access"), "{}", consent.body);
    let approved = b.consent(&consent, "approve").await;
    assert!(query_param(approved.location.as_deref().unwrap(), "code").is_some());
    let third = b.authorize(&params).await;
    assert!(query_param(third.location.as_deref().unwrap(), "code").is_some(), "remembered");
    // A wider request asks again; prompt=consent always asks.
    let wider =
        b.authorize(&[("response_type", "code"), ("client_id", THIRD_ID), ("scope", "openid email profile")]).await;
    assert!(wider.location.unwrap().contains("/login?flow="));
    let forced = b
        .authorize(&[("response_type", "code"), ("client_id", THIRD_ID), ("scope", "openid"), ("prompt", "consent")])
        .await;
    assert!(forced.location.unwrap().contains("/login?flow="));
}

#[tokio::test]
async fn logout_with_a_hint_ends_the_session_and_returns_to_the_client() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let tokens = web_tokens(&s, &b, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let bye = "https://app.example/bye";
    let q = serde_urlencoded::to_string([("id_token_hint", hint), ("post_logout_redirect_uri", bye), ("state", "z")])
        .unwrap();
    let r = b.get(&format!("{}?{q}", paths::LOGOUT)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("https://app.example/bye?state=z"));
    assert!(
        r.cookies.iter().any(|c| c.starts_with("gatehouse_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        r.cookies
    );
    // The session is gone server-side, too: a replayed cookie does not sign in.
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    let after = b.authorize(&params).await;
    assert!(after.location.unwrap().contains("/login?flow="), "signed out");

    // An unregistered destination is refused with a page, not followed.
    let q =
        serde_urlencoded::to_string([("id_token_hint", hint), ("post_logout_redirect_uri", "https://evil.example/")])
            .unwrap();
    let r = b.get(&format!("{}?{q}", paths::LOGOUT)).await;
    assert_eq!((r.status, r.location), (400, None));
    let r = b.get(&format!("{}?id_token_hint=forged.token.here", paths::LOGOUT)).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn logout_without_a_hint_asks_and_needs_the_csrf_token() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    web_tokens(&s, &b, "openid").await;
    let confirm = b.get(paths::LOGOUT).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Sign out?") && confirm.body.contains(ALICE), "{}", confirm.body);
    let forged = b.post(paths::LOGOUT, &[("csrf", "nope"), ("action", "logout")]).await;
    assert!(forged.body.contains("Sign out?"), "a forged post only shows the question again");
    let csrf = hidden(&confirm.body, "csrf").unwrap();
    let done = b.post(paths::LOGOUT, &[("csrf", &csrf), ("action", "logout")]).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid"),
        ("prompt", "none"),
    ];
    let r = b.authorize(&params).await;
    assert_eq!(query_param(r.location.as_deref().unwrap(), "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_and_for_disabled_users() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    web_tokens(&s, &b, "openid").await;
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid"),
        ("prompt", "none"),
    ];
    s.clock.advance(std::time::Duration::from_secs(7 * 3600));
    let r = b.authorize(&params).await;
    assert!(query_param(r.location.as_deref().unwrap(), "code").is_some(), "7 h idle < 8 h");
    s.clock.advance(std::time::Duration::from_secs(8 * 3600 + 1));
    let r = b.authorize(&params).await;
    assert_eq!(query_param(r.location.as_deref().unwrap(), "error").as_deref(), Some("login_required"));

    let b2 = Browser::new(&s.base);
    web_tokens(&s, &b2, "openid").await;
    let alice = s.state.db.users().find_user(ALICE).await.unwrap().unwrap();
    s.state.db.users().set_user_disabled(&alice.id, true, 0).await.unwrap();
    let r = b2.authorize(&params).await;
    assert_eq!(query_param(r.location.as_deref().unwrap(), "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn repeated_failures_lock_the_name_with_back_off_whether_or_not_it_exists() {
    let config = browser_config().replace(
        "[login]\n",
        "[login]\nlockout_threshold = 3\nlockout_duration = \"1m\"\nfailed_per_user = \"100/min\"\n",
    );
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let start = b
        .authorize(&[("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")])
        .await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    for name in [ALICE, "nobody-here"] {
        for _ in 0..3 {
            let r = b.submit_login(&page, name, "wrong password").await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(r.body.contains("Incorrect username or password."));
        }
        let locked = b.submit_login(&page, name, ALICE_PASSWORD).await;
        assert_eq!(locked.status, 429, "{name}: {}", locked.body);
        assert!(locked.body.contains("Too many failed sign-in attempts"));
    }
    s.clock.advance(std::time::Duration::from_secs(61));
    let ok = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(ok.status, 303, "the lock ended: {}", ok.body);
    let names = s.audit_events(&["login_failed", "user_locked"]).await;
    for e in ["login_failed", "user_locked"] {
        assert!(names.contains(&e), "{e}: {names:?}");
    }
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_source_address() {
    let config = browser_config().replace("[login]\n", "[login]\nfailed_per_ip = \"4/min\"\nlockout_threshold = 0\n");
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let start = b
        .authorize(&[("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")])
        .await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    // Four failures a minute are allowed; the fifth attempt is refused before its password
    // is looked at, and so is a right one.
    for i in 0..4 {
        let r = b.submit_login(&page, &format!("user{i}"), "wrong password").await;
        assert_eq!(r.status, 200);
    }
    let r = b.submit_login(&page, "user4", "wrong password").await;
    assert_eq!(r.status, 429, "{}", r.body);
    let r = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many"));
}

#[tokio::test]
async fn operators_override_templates_and_the_stylesheet_and_broken_ones_stop_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("branding");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("login.html"),
        "{% extends \"base.html\" %}{% block content %}<h1>Welcome to ACME</h1><p>{{ client_name }}</p>\
         <form method=\"post\" action=\"{{ action }}\"><input type=\"hidden\" name=\"flow\" value=\"{{ flow }}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{{ csrf }}\"></form>{% endblock %}",
    )
    .unwrap();
    std::fs::write(templates.join("style.css"), "body { color: rebeccapurple }").unwrap();
    let config = format!("{}\n[ui]\ntemplates_dir = \"branding\"\n", browser_config());
    let s = TestServer::start_in(dir, &config).await;
    let b = Browser::new(&s.base);
    let start = b
        .authorize(&[("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")])
        .await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    assert!(page.body.contains("<h1>Welcome to ACME</h1><p>web</p>"), "{}", page.body);
    assert!(hidden(&page.body, "csrf").is_some());
    let css = b.get("/assets/gatehouse.css").await;
    assert_eq!(css.body, "body { color: rebeccapurple }");
    // Pages that were not overridden keep the built-in look.
    let out = b.get(paths::LOGOUT).await;
    assert!(out.body.contains("You are signed out"), "{}", out.body);

    std::fs::write(s.dir.path().join("branding/consent.html"), "{% for %}").unwrap();
    let path = s.dir.path().join("gatehouse.toml").display().to_string();
    let (code, _, err) = gatehouse_tests::run_cli(&["gatehouse", "check-config", &path]);
    assert_ne!(code, 0);
    assert!(err.contains("ui.templates_dir") && err.contains("consent.html"), "{err}");
}

#[tokio::test]
async fn new_login_flows_are_limited_per_address() {
    let config = browser_config().replace("[login]\n", "[login]\nflows_per_ip = \"3/min\"\n");
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    for _ in 0..3 {
        assert_eq!(b.authorize(&params).await.status, 303);
    }
    let r = b.authorize(&params).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many sign-ins"));
}
