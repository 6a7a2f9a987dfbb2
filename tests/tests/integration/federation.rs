//! Federated sign-in through the example oidc-connector against a fake provider on loopback,
//! driven through the real pages with a cookie-keeping client: accounts made just in time
//! and linked, an existing account linked only after its password, and the callbacks that
//! must never produce a session.

use gatehouse::audit::AuditEvent;
use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE_PASSWORD, Browser, Page, WEB_CB, WEB_ID, WEB_SECRET, browser_config, follow, href, query_param, redeem,
};
use gatehouse_tests::fake_oidc::{FakeOidc, Mode, Person};
use gatehouse_tests::{TestServer, jwt_parts, run_cli};
use serde_json::Value;

fn params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid email profile"),
        ("state", "st-9"),
        ("nonce", "n-9"),
    ]
}

/// The browser config plus the connector `partner` for `p` and `extra` TOML.
fn config(p: &FakeOidc, extra: &str) -> String {
    format!(
        "{}{}\n[plugin_runtime]\nallow_loopback_http = true\n{extra}",
        browser_config(),
        p.connector_entry("partner-sso", "partner", "")
    )
}

/// Authorize, then the provider's button on the login page; the page where it ends.
async fn federated(b: &Browser, connector: &str) -> Page {
    let login = follow(b, b.authorize(&params()).await).await;
    let start =
        href(&login, &format!("/federation/{connector}/start")).unwrap_or_else(|| panic!("no button: {}", login.body));
    follow(b, b.get(&start).await).await
}

async fn code_of(s: &TestServer, end: &Page) -> Value {
    let to = end.location.clone().unwrap_or_else(|| panic!("no redirect: {} {}", end.status, end.body));
    assert!(to.starts_with(WEB_CB), "{to}");
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("no code: {to}"));
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn session_set(page: &Page) -> bool {
    page.cookies.iter().any(|c| c.starts_with("gatehouse_session=") && !c.starts_with("gatehouse_session=;"))
}

async fn events(s: &TestServer) -> Vec<AuditEvent> {
    gatehouse::audit::all_records(s.state.db.audit(), 0).await.unwrap().into_iter().map(|r| r.event).collect()
}

#[tokio::test]
async fn a_new_person_gets_an_account_linked_to_the_provider_and_comes_back_to_it() {
    let p = FakeOidc::start(Person {
        name: Some("Pat Example".into()),
        preferred_username: Some("Pat".into()),
        ..Person::verified("sub-pat", "pat@partner.example")
    })
    .await;
    let s = TestServer::start_with(&config(&p, "")).await;
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    assert!(login.body.contains("Sign in with partner SSO"), "{}", login.body);
    let end = federated(&b, "partner").await;
    let tokens = code_of(&s, &end).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["fed"]), "{id}");
    assert_eq!(id["idp"], "partner", "{id}");
    assert_eq!(id["email"], "pat@partner.example");
    assert_eq!(id["email_verified"], true, "as the provider asserted it");
    assert_eq!(id["preferred_username"], "pat");
    let sub = id["sub"].as_str().unwrap().to_owned();
    // SSO from the session keeps it too (the session remembers how it began).
    let sso = b.authorize(&params()).await;
    let tokens = code_of(&s, &sso).await;
    assert_eq!(jwt_parts(tokens["id_token"].as_str().unwrap()).1["idp"], "partner");
    // The host passed its PKCE verifier and the provider checked it (else no ID token).
    let req = &p.token_requests()[0];
    assert!(req["code_verifier"].len() >= 43);

    // Another browser, the same person: the same account, no second one.
    let again = Browser::new(&s.base);
    let tokens = code_of(&s, &federated(&again, "partner").await).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], sub.as_str());
    let mut events = Vec::new();
    for _ in 0..100 {
        events = self::events(&s).await;
        if events.iter().filter(|e| matches!(e, AuditEvent::FederatedLogin { .. })).count() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let provisioned = events.iter().filter(|e| matches!(e, AuditEvent::UserProvisioned { .. })).count();
    let linked = events.iter().filter(|e| matches!(e, AuditEvent::IdentityLinked { .. })).count();
    let logins = events.iter().filter(|e| matches!(e, AuditEvent::FederatedLogin { .. })).count();
    assert_eq!((provisioned, linked, logins), (1, 1, 2), "{events:?}");
    let link = s.state.db.links().find_link(&p.base, "sub-pat").await.unwrap().unwrap();
    assert_eq!((link.user_id.as_str(), link.connector_id.as_str()), (sub.as_str(), "partner"));
    // No provider token reaches the audit log.
    let log = format!("{events:?}");
    assert!(!log.contains("upstream-at") && !log.contains(&req["code"]), "{log}");
    // A disabled user cannot sign in through the link.
    assert!(s.state.db.users().set_user_disabled(&sub, true, 1).await.unwrap());
    let page = federated(&Browser::new(&s.base), "partner").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("This account is disabled"));
    assert!(!session_set(&page));

    // The operator sees the link, and can remove it (server stopped: sled).
    let dir = s.stop().await;
    let cfg = dir.path().join("gatehouse.toml").display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "users", "show", "pat", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("link\tpartner\t{}\tsub-pat", p.base)), "{out}");
    assert!(out.contains("password\tnone") && out.contains("pat@partner.example (verified)"), "{out}");
    let (code, out, err) = run_cli(&["gatehouse", "users", "unlink", "pat", &p.base, "sub-pat", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unlinked sub-pat"), "{out}");
    let (_, out, _) = run_cli(&["gatehouse", "users", "show", "pat", "--config", &cfg]);
    assert!(!out.contains("link\t"), "{out}");
    let (code, _, err) = run_cli(&["gatehouse", "users", "unlink", "pat", &p.base, "sub-pat", "--config", &cfg]);
    assert_ne!(code, 0);
    assert!(err.contains("has no link"), "{err}");
}

#[tokio::test]
async fn an_existing_account_with_the_verified_email_is_linked_only_after_its_password() {
    let p = FakeOidc::start(Person::verified("sub-alice", "alice@example.com")).await;
    let s = TestServer::start_with(&config(&p, "")).await;
    let b = Browser::new(&s.base);
    let page = federated(&b, "partner").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("already exists here"), "{}", page.body);
    assert!(!page.body.contains("/federation/partner/start"), "no provider buttons while a link waits");
    assert!(!session_set(&page));
    assert!(s.state.db.links().find_link(&p.base, "sub-alice").await.unwrap().is_none(), "not linked yet");
    // The account's password: signed in, and linked.
    let end = follow(&b, b.submit_login(&page, "alice", ALICE_PASSWORD).await).await;
    let tokens = code_of(&s, &end).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "fed"]));
    assert_eq!(id["idp"], "partner");
    let alice = s.state.db.users().find_user("alice").await.unwrap().unwrap();
    assert_eq!(id["sub"], alice.id.as_str());
    let link = s.state.db.links().find_link(&p.base, "sub-alice").await.unwrap().unwrap();
    assert_eq!(link.user_id, alice.id);
    // From now on the provider alone signs alice in.
    let tokens = code_of(&s, &federated(&Browser::new(&s.base), "partner").await).await;
    assert_eq!(jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"], alice.id.as_str());
}

#[tokio::test]
async fn an_unverified_email_never_finds_an_account_and_makes_no_session() {
    let p =
        FakeOidc::start(Person { email_verified: false, ..Person::verified("sub-mallory", "alice@example.com") }).await;
    let s = TestServer::start_with(&config(&p, "")).await;
    let b = Browser::new(&s.base);
    let page = federated(&b, "partner").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("has not verified the address"), "{}", page.body);
    assert!(page.body.contains("Back to sign-in"), "a way back: {}", page.body);
    assert!(!session_set(&page));
    assert!(s.state.db.links().find_link(&p.base, "sub-mallory").await.unwrap().is_none());
    assert_eq!(s.state.db.users().list_users().await.unwrap().len(), 2, "no account made");
}

#[tokio::test]
async fn bad_callbacks_are_refused_and_none_makes_a_session() {
    let p = FakeOidc::start(Person::verified("sub-x", "x@partner.example")).await;
    let other = FakeOidc::start(Person::verified("sub-y", "y@other.example")).await;
    let extra = other.connector_entry("other-sso", "other", "");
    let s = TestServer::start_with(&config(&p, &extra)).await;

    // Wrong state.
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    let to_provider = b.get(&href(&login, "/federation/partner/start").unwrap()).await;
    let back = b.get(to_provider.location.as_ref().unwrap()).await;
    let callback = back.location.clone().unwrap();
    let forged = callback.replace("state=", "state=x");
    let page = b.get(&forged).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!session_set(&page));
    // The genuine callback after a refused one: that attempt is over (its state and the
    // federation cookie are gone), so it is refused too: start again from the sign-in page.
    let page = b.get(&callback).await;
    assert_eq!(page.status, 400, "{}", page.body);

    // A replayed callback: the first one signs in, the second finds nothing.
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    let to_provider = b.get(&href(&login, "/federation/partner/start").unwrap()).await;
    let callback = b.get(to_provider.location.as_ref().unwrap()).await.location.unwrap();
    let first = b.get(&callback).await;
    assert!(first.location.as_deref().is_some_and(|l| l.starts_with(WEB_CB)), "{first:?}");
    let replay = b.get(&callback).await;
    assert!(replay.status >= 400 && !session_set(&replay), "{replay:?}");

    // A callback on another connector's path (mix-up).
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    let to_provider = b.get(&href(&login, "/federation/partner/start").unwrap()).await;
    let callback = b.get(to_provider.location.as_ref().unwrap()).await.location.unwrap();
    let mixed = b.get(&callback.replace("/federation/partner/", "/federation/other/")).await;
    assert_eq!(mixed.status, 400, "{}", mixed.body);
    assert!(!session_set(&mixed));

    // An RFC 9207 `iss` that names another issuer.
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    let to_provider = b.get(&href(&login, "/federation/partner/start").unwrap()).await;
    let callback = b.get(to_provider.location.as_ref().unwrap()).await.location.unwrap();
    assert!(callback.contains("iss="), "{callback}");
    let page = b.get(&callback.replace("iss=", "iss=https%3A%2F%2Fevil.example%2F")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!session_set(&page));

    // Oversized parameters.
    let big = format!("{}/federation/partner/callback?code={}&state=s", s.base, "a".repeat(9000));
    assert_eq!(b.get(&big).await.status, 400);

    // Provider failures: a wrong nonce or audience, a 500, a hang past the timeout.
    for (mode, status) in [(Mode::WrongNonce, 400), (Mode::WrongAudience, 400), (Mode::TokenFails, 503)] {
        p.set_mode(mode);
        let b = Browser::new(&s.base);
        let page = federated(&b, "partner").await;
        assert_eq!(page.status, status, "{mode:?}: {}", page.body);
        assert!(!session_set(&page), "{mode:?}");
        assert!(page.body.contains("Back to sign-in"), "{mode:?}");
    }

    // The person declines at the provider: back to the application with access_denied.
    p.set_mode(Mode::Declined);
    let b = Browser::new(&s.base);
    let end = federated(&b, "partner").await;
    let to = end.location.unwrap();
    assert!(to.starts_with(WEB_CB), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-9"));
    let mut failures = 0;
    for _ in 0..100 {
        failures =
            events(&s).await.into_iter().filter(|e| matches!(e, AuditEvent::FederatedLoginFailed { .. })).count();
        if failures >= 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let reasons: Vec<String> = events(&s)
        .await
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::FederatedLoginFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    // State, mix-up, iss, oversized, nonce, audience, 500 (the replays find no flow: nothing
    // to attribute them to).
    assert_eq!(failures, 7, "{reasons:?}");
}

#[tokio::test]
async fn a_provider_that_hangs_gets_a_page_within_the_connector_timeout() {
    let p = FakeOidc::start(Person::verified("sub-h", "h@partner.example")).await;
    let entry = p.connector_entry("partner-sso", "partner", "timeout_ms = 1000");
    let toml = format!("{}{entry}\n[plugin_runtime]\nallow_loopback_http = true\n", browser_config());
    let s = TestServer::start_with(&toml).await;
    p.set_mode(Mode::TokenHangs);
    let started = gatehouse::clock::monotonic();
    let page = federated(&Browser::new(&s.base), "partner").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(!session_set(&page));
}

#[tokio::test]
async fn idp_hint_skips_the_page_and_password_off_leaves_only_the_providers() {
    let p = FakeOidc::start(Person::verified("sub-z", "z@partner.example")).await;
    let s = TestServer::start_with(&config(&p, "").replace("[login]\n", "[login]\npassword = false\n")).await;
    let b = Browser::new(&s.base);
    let mut hinted = params();
    hinted.push(("idp_hint", "partner"));
    let first = b.authorize(&hinted).await;
    assert!(first.location.as_deref().is_some_and(|l| l.contains("/federation/partner/start?flow=")), "{first:?}");
    code_of(&s, &follow(&b, first).await).await;

    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    assert!(!login.body.contains("name=\"password\""), "no password form: {}", login.body);
    assert!(href(&login, "/federation/partner/start").is_some());
    let flow = gatehouse_tests::browser::hidden(&login.body, "flow").unwrap();
    let csrf = gatehouse_tests::browser::hidden(&login.body, "csrf").unwrap();
    let form = [
        ("flow", flow.as_str()),
        ("csrf", csrf.as_str()),
        ("action", "login"),
        ("username", "alice"),
        ("password", ALICE_PASSWORD),
    ];
    let page = b.post(paths::LOGIN, &form).await;
    assert!(!session_set(&page) && page.location.is_none(), "{page:?}");
}

#[tokio::test]
async fn without_provisioning_a_person_without_an_account_is_refused() {
    let p = FakeOidc::start(Person::verified("sub-new", "new@partner.example")).await;
    let entry = p.connector_entry("partner-sso", "partner", "provision_users = false");
    let toml = format!("{}{entry}\n[plugin_runtime]\nallow_loopback_http = true\n", browser_config());
    let s = TestServer::start_with(&toml).await;
    let page = federated(&Browser::new(&s.base), "partner").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("no account for you"), "{}", page.body);
    assert_eq!(s.state.db.users().list_users().await.unwrap().len(), 2);
}

#[tokio::test]
async fn on_postgres_a_new_person_is_made_once_and_signs_in_again() {
    let Some(url) = gatehouse_tests::pg::fresh_url().await else { return };
    let p = FakeOidc::start(Person::verified("sub-pg", "pg@partner.example")).await;
    let s = TestServer::start_with(&gatehouse_tests::pg::on_postgres(&config(&p, ""), &url)).await;
    let first = code_of(&s, &federated(&Browser::new(&s.base), "partner").await).await;
    let again = code_of(&s, &federated(&Browser::new(&s.base), "partner").await).await;
    let sub = |t: &Value| jwt_parts(t["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned();
    assert_eq!(sub(&first), sub(&again));
    assert_eq!(s.state.db.users().list_users().await.unwrap().len(), 3, "alice, bob and the new person");
}

/// The account page of `b`'s signed-in person.
async fn account(b: &Browser) -> Page {
    b.get(paths::ACCOUNT).await
}

/// Posts the account page's form with `fields` and the page's CSRF token.
async fn account_post(b: &Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
    let csrf = gatehouse_tests::browser::hidden(&page.body, "csrf").unwrap();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(paths::ACCOUNT, &form).await
}

#[tokio::test]
async fn the_account_page_links_and_unlinks_providers_while_one_way_to_sign_in_remains() {
    let p = FakeOidc::start(Person::verified("sub-alice-work", "alice@work.example")).await;
    let s = TestServer::start_with(&config(&p, "")).await;
    assert_eq!(account(&Browser::new(&s.base)).await.status, 403, "not signed in");

    // alice signs in with her password and links the provider from her account page.
    let b = Browser::new(&s.base);
    code_of(
        &s,
        &follow(&b, b.submit_login(&follow(&b, b.authorize(&params()).await).await, "alice", ALICE_PASSWORD).await)
            .await,
    )
    .await;
    let page = account(&b).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No provider is linked") && page.body.contains("Link partner SSO"), "{}", page.body);
    let wrong = b.post(paths::ACCOUNT, &[("csrf", "forged"), ("action", "link"), ("connector", "partner")]).await;
    assert_eq!(wrong.status, 403, "CSRF");
    let started = account_post(&b, &page, &[("action", "link"), ("connector", "partner")]).await;
    let back = follow(&b, started).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body.contains("partner SSO") && back.body.contains("Unlink"), "{}", back.body);
    let alice = s.state.db.users().find_user("alice").await.unwrap().unwrap();
    assert_eq!(s.state.db.links().find_link(&p.base, "sub-alice-work").await.unwrap().unwrap().user_id, alice.id);
    // The provider now signs alice in, in any browser.
    let tokens = code_of(&s, &federated(&Browser::new(&s.base), "partner").await).await;
    assert_eq!(jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"], alice.id.as_str());

    // She has a password, so she may unlink it.
    let page = account(&b).await;
    let issuer = gatehouse_tests::browser::hidden(&page.body, "issuer").unwrap();
    let subject = gatehouse_tests::browser::hidden(&page.body, "subject").unwrap();
    let done =
        follow(&b, account_post(&b, &page, &[("action", "unlink"), ("issuer", &issuer), ("subject", &subject)]).await)
            .await;
    assert!(done.body.contains("No provider is linked"), "{}", done.body);
    assert!(s.state.db.links().find_link(&p.base, "sub-alice-work").await.unwrap().is_none());
    s.audit_events(&["identity_unlinked"]).await;
}

#[tokio::test]
async fn a_provider_that_is_the_only_way_to_sign_in_cannot_be_unlinked_and_an_identity_links_once() {
    let p = FakeOidc::start(Person::verified("sub-jit", "jit@partner.example")).await;
    let s = TestServer::start_with(&config(&p, "")).await;
    let b = Browser::new(&s.base);
    code_of(&s, &federated(&b, "partner").await).await;
    let page = account(&b).await;
    assert!(page.body.contains("your only way to sign in") && !page.body.contains("value=\"unlink\""), "{}", page.body);
    // A hand-made unlink is refused all the same.
    let forged = account_post(&b, &page, &[("action", "unlink"), ("issuer", &p.base), ("subject", "sub-jit")]).await;
    assert!(forged.body.contains("only way to sign in"), "{}", forged.body);
    assert!(s.state.db.links().find_link(&p.base, "sub-jit").await.unwrap().is_some());

    // alice may not link the identity that already belongs to the person above.
    let b = Browser::new(&s.base);
    code_of(
        &s,
        &follow(&b, b.submit_login(&follow(&b, b.authorize(&params()).await).await, "alice", ALICE_PASSWORD).await)
            .await,
    )
    .await;
    let page = account(&b).await;
    let refused = follow(&b, account_post(&b, &page, &[("action", "link"), ("connector", "partner")]).await).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("linked to another account"), "{}", refused.body);
    let alice = s.state.db.users().find_user("alice").await.unwrap().unwrap();
    assert!(s.state.db.links().user_links(&alice.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_provider_found_by_discovery_with_two_issuer_spellings_and_a_workspace_domain() {
    // Google-like: endpoints from the discovery document, ID tokens with either spelling of
    // the issuer, and only accounts of one Workspace domain.
    let p =
        FakeOidc::start(Person { hd: Some("example.org".into()), ..Person::verified("g-1", "g@example.org") }).await;
    let bare = p.base.trim_start_matches("http://").to_owned();
    let cfg = format!("issuers = [\"{bare}\"]\nhosted_domain = \"example.org\"");
    let toml = format!(
        "{}{}\n[plugin_runtime]\nallow_loopback_http = true\n",
        browser_config(),
        p.discovery_entry("g", "partner", &cfg)
    );
    let s = TestServer::start_with(&toml).await;
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params()).await).await;
    let to_provider = b.get(&href(&login, "/federation/partner/start").unwrap()).await;
    let authorize = to_provider.location.clone().unwrap();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", p.base)) && authorize.contains("hd=example.org"),
        "{authorize}"
    );
    let first = code_of(&s, &follow(&b, b.get(&authorize).await).await).await;

    // The other spelling: the same account (the link keeps the configured issuer).
    p.set_issuer_claim(Some(&bare));
    let again = code_of(&s, &federated(&Browser::new(&s.base), "partner").await).await;
    let sub = |t: &Value| jwt_parts(t["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned();
    assert_eq!(sub(&first), sub(&again));
    assert!(s.state.db.links().find_link(&p.base, "g-1").await.unwrap().is_some());
    assert_eq!(p.discovery_fetches(), 1, "the document is kept between calls");

    // An issuer spelling that is not listed, or another domain: refused.
    p.set_issuer_claim(Some("https://evil.example"));
    assert_eq!(federated(&Browser::new(&s.base), "partner").await.status, 400);
    p.set_issuer_claim(None);
    p.set_person(Person { hd: Some("elsewhere.org".into()), ..Person::verified("g-2", "g2@elsewhere.org") });
    let page = federated(&Browser::new(&s.base), "partner").await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(s.state.db.links().find_link(&p.base, "g-2").await.unwrap().is_none());
}

#[tokio::test]
async fn a_connector_that_traps_fails_that_sign_in_only() {
    let p = FakeOidc::start(Person::verified("sub-ok", "ok@partner.example")).await;
    for trap in ["begin", "complete"] {
        let entry = gatehouse_tests::plugins::plugin_entry(
            "trap",
            "idp-connector",
            "test_trap_connector",
            "",
            &format!("trap = \"{trap}\""),
        );
        let s = TestServer::start_with(&format!("{}{entry}", config(&p, ""))).await;
        let page = federated(&Browser::new(&s.base), "trap").await;
        assert_eq!(page.status, 503, "{trap}: {}", page.body);
        assert!(page.body.contains("Back to sign-in") && !session_set(&page), "{trap}");
        // The server and the other provider carry on.
        code_of(&s, &federated(&Browser::new(&s.base), "partner").await).await;
    }
}
