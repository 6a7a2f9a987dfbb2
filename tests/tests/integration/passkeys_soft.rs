//! Passkeys without a browser: a software authenticator (`gatehouse_tests::soft_passkey`)
//! registers on the account page through the JSON ceremony endpoints and signs in without a
//! password; an answer claiming no user verification, one from a copy of the authenticator
//! whose counter went back, and a credential nobody registered are refused.

use gatehouse::paths;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, hidden, query_param, redeem,
};
use gatehouse_tests::jwt_parts;
use gatehouse_tests::soft_passkey::{SoftPasskey, register, sign_in};

const PARAMS: &[(&str, &str)] =
    &[("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];

/// A server whose issuer is `http://localhost:PORT` (WebAuthn refuses IP addresses).
async fn on_localhost() -> (TestServer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
    let issuer = format!("http://localhost:{port}");
    let server = format!("bind = \"127.0.0.1:{port}\"\nissuer = \"{issuer}\"");
    let s = TestServer::start_with(&browser_config().replace("bind = \"127.0.0.1:0\"", &server)).await;
    (s, issuer)
}

/// A fresh browser's login page.
async fn login_page(s: &TestServer, issuer: &str) -> (Browser, gatehouse_tests::browser::Page) {
    let b = Browser::with_issuer(&s.base, issuer);
    let start = b.authorize(PARAMS).await;
    let page = b.get(&start.location.expect("to the login page")).await;
    assert!(page.body.contains("Sign in with a passkey"), "{}", page.body);
    (b, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_software_passkey_registers_and_signs_in_without_a_password() {
    let (s, issuer) = on_localhost().await;
    let b = Browser::with_issuer(&s.base, &issuer);
    b.sign_in(PARAMS, ALICE, ALICE_PASSWORD).await;
    let mut pk = SoftPasskey::new(&issuer);
    let done = register(&b, &mut pk, "Soft key").await;
    assert_eq!(done["recovery_codes"].as_array().map(Vec::len), Some(10), "first factor: codes once: {done}");
    assert!(b.get(paths::ACCOUNT).await.body.contains("Soft key"));

    let (fresh, page) = login_page(&s, &issuer).await;
    let (status, answer) = sign_in(&fresh, &page, &mut pk).await;
    assert_eq!(status, 200, "{answer}");
    let to = answer["redirect"].as_str().expect("where to go next").to_owned();
    let to = if to.starts_with(WEB_CB) { to } else { fresh.get(&to).await.location.expect("to the client") };
    let code = query_param(&to, "code").expect("a code");
    let (status, tokens) = redeem(&fresh.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    let amr: Vec<_> = claims["amr"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(amr.contains(&"mfa"), "a passkey counts as two factors: {amr:?}");
    assert_eq!(claims["acr"], "urn:gatehouse:acr:mfa");
    let alice = s.state.db.shared_users().find_user(ALICE).await.unwrap().unwrap();
    assert_eq!(claims["sub"], alice.id.as_str());

    // A while later a change needs the strongest factor, a passkey: a new sign-in, not the
    // password.
    s.clock.advance(std::time::Duration::from_secs(600));
    let page = b.get(paths::ACCOUNT).await;
    assert!(page.body.contains("reauth-note") && !page.body.contains("id=\"current_password\""), "{}", page.body);
    let csrf = gatehouse_tests::browser::hidden(&page.body, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("action", "codes_regenerate"), ("current_password", ALICE_PASSWORD)];
    let refused = b.post(paths::ACCOUNT, &form).await;
    assert!(refused.body.contains("Sign out and sign in again"), "{}", refused.body);
    // The passkey sign-in is recent: the change goes through.
    let (status, answer) = sign_in(&fresh, &login_page_of(&fresh).await, &mut pk).await;
    assert_eq!(status, 200, "{answer}");
    let page = fresh.get(paths::ACCOUNT).await;
    let csrf = gatehouse_tests::browser::hidden(&page.body, "csrf").unwrap();
    let renewed = fresh.post(paths::ACCOUNT, &[("csrf", csrf.as_str()), ("action", "codes_regenerate")]).await;
    assert!(renewed.body.contains("recovery-codes"), "{}", renewed.body);
}

/// A login page in browser `b` (which may be signed in already: `prompt=login`).
async fn login_page_of(b: &Browser) -> gatehouse_tests::browser::Page {
    let mut params = PARAMS.to_vec();
    params.push(("prompt", "login"));
    let start = b.authorize(&params).await;
    b.get(&start.location.expect("to the login page")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_cloned_and_unknown_passkeys_are_refused() {
    let (s, issuer) = on_localhost().await;
    let b = Browser::with_issuer(&s.base, &issuer);
    b.sign_in(PARAMS, ALICE, ALICE_PASSWORD).await;
    let mut pk = SoftPasskey::new(&issuer);
    register(&b, &mut pk, "Soft key").await;

    // User verification is required.
    pk.verified = false;
    let (b1, page1) = login_page(&s, &issuer).await;
    let (status, answer) = sign_in(&b1, &page1, &mut pk).await;
    assert_eq!(status, 400, "without user verification: {answer}");
    pk.verified = true;

    // A signature counter that went back means a copied key.
    let (b2, page2) = login_page(&s, &issuer).await;
    assert_eq!(sign_in(&b2, &page2, &mut pk).await.0, 200);
    pk.counter = 1;
    let (b3, page3) = login_page(&s, &issuer).await;
    let (status, answer) = sign_in(&b3, &page3, &mut pk).await;
    assert_eq!(status, 400, "a counter that went back: {answer}");
    // The same key with its counter ahead again is fine: the counter was the only fault.
    pk.counter = 100;
    let (b5, page5) = login_page(&s, &issuer).await;
    assert_eq!(sign_in(&b5, &page5, &mut pk).await.0, 200);

    // A credential this server never registered.
    let mut stranger = SoftPasskey::new(&issuer);
    let (b4, page4) = login_page(&s, &issuer).await;
    let (status, answer) = sign_in(&b4, &page4, &mut stranger).await;
    assert_eq!(status, 400, "unknown credential: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_step_up_naming_pop_asks_for_the_passkey_and_nothing_else() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
    let issuer = format!("http://localhost:{port}");
    let server = format!("bind = \"127.0.0.1:{port}\"\nissuer = \"{issuer}\"");
    let policy = gatehouse_tests::plugins::policy_entry(
        "passkey-for-api",
        "require_mfa",
        "",
        "scopes = [\"api\"]\nmethods = [\"pop\"]",
    );
    // No second factor by default: only the policy asks for one, here.
    let config = browser_config().replace("bind = \"127.0.0.1:0\"", &server) + "\n[mfa]\nrequire = \"never\"\n";
    let s = TestServer::start_with(&(config + &policy)).await;
    let b = Browser::with_issuer(&s.base, &issuer);
    b.sign_in(PARAMS, ALICE, ALICE_PASSWORD).await;
    let mut pk = SoftPasskey::new(&issuer);
    register(&b, &mut pk, "Soft key").await;

    // A password sign-in asking for `api`: the passkey, and no code form.
    let api = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid api")];
    let fresh = Browser::with_issuer(&s.base, &issuer);
    let start = fresh.authorize(&api).await;
    let login = fresh.get(&start.location.unwrap()).await;
    let done = fresh.submit_login(&login, ALICE, ALICE_PASSWORD).await;
    let step = fresh.get(&done.location.expect("to the factor step")).await;
    assert!(step.body.contains("passkey-only") && !step.body.contains("name=\"code\""), "{}", step.body);
    let (flow, csrf) = (hidden(&step.body, "flow").unwrap(), hidden(&step.body, "csrf").unwrap());
    let recovery = [("flow", flow.as_str()), ("csrf", csrf.as_str()), ("code", "0000-0000"), ("action", "verify")];
    let refused = fresh.post(paths::LOGIN, &recovery).await;
    assert!(refused.body.contains("asks for your passkey"), "a code is refused: {}", refused.body);
    let (status, answer) = sign_in(&fresh, &step, &mut pk).await;
    assert_eq!(status, 200, "{answer}");
    let to = fresh.get(answer["redirect"].as_str().unwrap()).await.location.expect("to the client");
    let code = query_param(&to, "code").expect("a code");
    let (_, tokens) = redeem(&fresh.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "pop", "mfa"]));

    // Someone without a passkey is denied, not asked to enrol something else.
    let bob = Browser::with_issuer(&s.base, &issuer);
    let to = bob.sign_in(&api, "bob", "bob's password 123").await;
    assert!(to.starts_with(WEB_CB) && to.contains("error=access_denied"), "{to}");
}
