//! Two-step verification through the real pages: an authenticator app added on the account
//! page, the code step at sign-in (replays, skew, lockout), recovery codes, enrolment at
//! sign-in when `[mfa] require = "always"`, per-client `require_mfa` and `acr_values`, and
//! what ID tokens say about it (`amr`, `acr`).

use std::time::Duration;

use gatehouse::paths;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, browser_config, hidden, href, query_param};
use gatehouse_tests::mfa::{
    account_post, code_at, code_now, codes_of, enrol, enrol_at_sign_in, id_claims, now, params, password_step,
    secret_of, submit_code,
};
use gatehouse_tests::{TestServer, jwt_parts};
use serde_json::{Value, json};

const STEP: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_authenticator_added_on_the_account_page_is_asked_for_at_sign_in_and_codes_work_once() {
    let s = TestServer::start_with(&browser_config()).await;
    let discovery: Value = s.get_json(paths::DISCOVERY).await;
    assert_eq!(discovery["acr_values_supported"], json!(["urn:gatehouse:acr:pwd", "urn:gatehouse:acr:mfa"]));

    let me = Browser::new(&s.base);
    let cb = me.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    let before = id_claims(&s, &cb).await;
    assert_eq!((before["amr"].clone(), before["acr"].clone()), (json!(["pwd"]), json!("urn:gatehouse:acr:pwd")));
    let account = me.get("/account").await;
    assert!(account.body.contains("Set up an authenticator app"), "{}", account.body);

    // The enrolment page: a QR code inlined as SVG (no image request, no script), the
    // otpauth URI and the key as text. It is not active before one correct code.
    let page = account_post(&me, &[("action", "totp_begin")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = secret_of(&page);
    assert_eq!(secret.len(), 32, "160 bits, base32");
    assert!(page.body.contains("<svg") && !page.body.contains("<?xml") && !page.body.contains("<script"));
    let uri = href(&page, "otpauth:").expect("the otpauth URI");
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    let wrong = account_post(&me, &[("action", "totp_confirm"), ("code", "000000")]).await;
    assert!(wrong.body.contains("not right"), "{}", wrong.body);
    assert_eq!(secret_of(&wrong), secret, "the same key until it is confirmed");
    let fresh = Browser::new(&s.base);
    let cb = fresh.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    assert!(cb.starts_with(WEB_CB), "not active yet: no second step");

    let enrolled_at = now(&s);
    let shown = account_post(&me, &[("action", "totp_confirm"), ("code", &code_at(&secret, enrolled_at))]).await;
    let codes = codes_of(&shown);
    assert_eq!(codes.len(), 10, "{}", shown.body);
    let again = me.get("/account").await;
    assert!(again.body.contains("On: an authenticator app") && again.body.contains("10 recovery codes left"));

    // Sign-in now asks for a code. The step used to enrol is spent: its code is refused.
    let other = Browser::new(&s.base);
    let step = password_step(&other, &params(&[]), ALICE, ALICE_PASSWORD).await;
    assert!(step.body.contains("Two-step verification") && step.body.contains("name=\"code\""), "{}", step.body);
    let replay = submit_code(&other, &step, &code_at(&secret, enrolled_at)).await;
    assert_eq!(replay.status, 200);
    assert!(replay.body.contains("not right, or was used already"), "{}", replay.body);
    s.clock.advance(STEP);
    let ok = submit_code(&other, &step, &code_now(&s, &secret)).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cb = ok.location.expect("to the client");
    assert!(cb.starts_with(WEB_CB), "{cb}");
    let claims = id_claims(&s, &cb).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:gatehouse:acr:mfa");

    // The same code in another sign-in within its step: refused (one use per step per user).
    let third = Browser::new(&s.base);
    let step = password_step(&third, &params(&[]), ALICE, ALICE_PASSWORD).await;
    assert!(submit_code(&third, &step, &code_now(&s, &secret)).await.body.contains("used already"));
    // One step of skew: the next step's code is taken now; then an older one is not.
    let next = code_at(&secret, now(&s) + 30);
    assert_eq!(submit_code(&third, &step, &next).await.status, 303, "one step ahead is accepted");
    let fourth = Browser::new(&s.base);
    let step = password_step(&fourth, &params(&[]), ALICE, ALICE_PASSWORD).await;
    s.clock.advance(STEP);
    let behind = code_at(&secret, now(&s) - 30);
    assert!(submit_code(&fourth, &step, &behind).await.body.contains("used already"), "not before the last step");
    let far = code_at(&secret, now(&s) + 90);
    assert!(submit_code(&fourth, &step, &far).await.body.contains("not right"), "three steps ahead");

    // A recovery code signs in once, typed loosely.
    let loose = codes[3].to_uppercase().replace('-', " ");
    let done = submit_code(&fourth, &step, &loose).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(id_claims(&s, &done.location.expect("to the client")).await["amr"], json!(["pwd", "otp", "mfa"]));
    let fifth = Browser::new(&s.base);
    let step = password_step(&fifth, &params(&[]), ALICE, ALICE_PASSWORD).await;
    assert!(submit_code(&fifth, &step, &codes[3]).await.body.contains("not right"), "a spent recovery code");
    assert!(me.get("/account").await.body.contains("9 recovery codes left"));

    let names = s.audit_events(&["mfa_enrolled", "mfa_passed", "recovery_code_used", "mfa_failed"]).await;
    for n in ["mfa_enrolled", "mfa_passed", "recovery_code_used", "mfa_failed"] {
        assert!(names.contains(&n), "{n}: {names:?}");
    }
    // Neither the key nor a code is in the audit log.
    let all = gatehouse::audit::all_records(s.state.db.audit(), 0).await.expect("records");
    let text = serde_json::to_string(&all).expect("json");
    assert!(!text.contains(&secret) && !text.contains(&codes[3]) && !text.contains(&codes[4]));
}

#[tokio::test]
async fn wrong_codes_count_towards_the_lockout_and_the_session_waits_for_the_second_factor() {
    let s = TestServer::start_with(&browser_config()).await;
    let me = Browser::new(&s.base);
    me.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    let (secret, _) = enrol(&me, &s).await;
    s.clock.advance(STEP);

    let b = Browser::new(&s.base);
    let step = password_step(&b, &params(&[]), ALICE, ALICE_PASSWORD).await;
    // No session before the second factor: the account page and SSO do not see one.
    assert_eq!(b.get("/account").await.status, 403);
    // Five wrong codes (the default lockout threshold) lock the account: then even the right
    // code is refused.
    for i in 0..5 {
        let page = submit_code(&b, &step, &format!("12345{i}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("not right"), "{}", page.body);
    }
    let page = submit_code(&b, &step, &code_now(&s, &secret)).await;
    assert_eq!(page.status, 429, "{}", page.body);
    // The account is locked for everyone, the password step too.
    let other = Browser::new(&s.base);
    let start = other.authorize(&params(&[])).await;
    let login = other.get(start.location.as_deref().unwrap()).await;
    let refused = other.submit_login(&login, ALICE, ALICE_PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    let names = s.audit_events(&["user_locked"]).await;
    assert!(names.contains(&"user_locked"), "{names:?}");
    // The lockout passes; the right code then signs in.
    s.clock.advance(Duration::from_secs(15 * 60));
    let again = Browser::new(&s.base);
    let step = password_step(&again, &params(&[]), ALICE, ALICE_PASSWORD).await;
    let ok = submit_code(&again, &step, &code_now(&s, &secret)).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(again.get("/account").await.body.contains("On: an authenticator app"));
}

#[tokio::test]
async fn require_always_enrols_at_sign_in_and_keeps_the_factor_on() {
    let s = TestServer::start_with(&format!("{}\n[mfa]\nrequire = \"always\"\n", browser_config())).await;
    let b = Browser::new(&s.base);
    let page = password_step(&b, &params(&[]), "bob", "bob's password 123").await;
    assert!(page.body.contains("Set up two-step verification") && page.body.contains("<svg"), "{}", page.body);
    let secret = secret_of(&page);
    let flow = hidden(&page.body, "flow").unwrap();
    let csrf = hidden(&page.body, "csrf").unwrap();
    let wrong = b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("code", "999999"), ("action", "enrol")]).await;
    assert!(wrong.body.contains("not right") && secret_of(&wrong) == secret, "{}", wrong.body);
    let code = code_now(&s, &secret);
    let shown = b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("code", &code), ("action", "enrol")]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let codes = codes_of(&shown);
    assert_eq!(codes.len(), 10, "{}", shown.body);
    // Shown once: the page again says they were shown, without them.
    let again = b.get(&format!("/login?flow={flow}")).await;
    assert!(codes_of(&again).is_empty() && again.body.contains("were shown"), "{}", again.body);
    let done = b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("action", "continue")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let claims = id_claims(&s, &done.location.unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));

    // The factor cannot be turned off while it is required; an operator can reset it.
    let account = b.get("/account").await;
    assert!(!account.body.contains("value=\"mfa_remove\""), "no Turn off button");
    let refused = account_post(&b, &[("action", "mfa_remove")]).await;
    assert!(refused.body.contains("required here"), "{}", refused.body);
    assert!(b.get("/account").await.body.contains("On: an authenticator app"));
    let names = s.audit_events(&["mfa_enrolled"]).await;
    assert!(names.contains(&"mfa_enrolled"));
}

#[tokio::test]
async fn a_client_or_acr_values_can_require_two_factors_and_one_factor_sessions_do_not_do() {
    let config = format!(
        "{}\n[[clients]]\nid = \"bank\"\nsecret = \"bank-secret-0123456789abcdefghijk\"\n\
         redirect_uris = [\"https://bank.example/cb\"]\ngrant_types = [\"authorization_code\"]\n\
         trusted = true\nrequire_mfa = true\n",
        browser_config()
    );
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    // One factor is enough for the web client...
    assert!(b.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await.starts_with(WEB_CB));
    // ...not for the bank: alice has no factor, so she enrols one before going on, even
    // though she has a session.
    let bank = [
        ("response_type", "code"),
        ("client_id", "bank"),
        ("redirect_uri", "https://bank.example/cb"),
        ("scope", "openid"),
    ];
    let page = password_step(&b, &bank, ALICE, ALICE_PASSWORD).await;
    let (_, done) = enrol_at_sign_in(&b, &s, &page).await;
    assert!(done.location.as_deref().is_some_and(|l| l.starts_with("https://bank.example/cb")), "{done:?}");
    // The two-factor session now serves both clients without asking again.
    assert!(b.authorize(&bank).await.location.unwrap().starts_with("https://bank.example/cb"));

    // acr_values asking for two factors: bob's one-factor session is not enough.
    let b2 = Browser::new(&s.base);
    assert!(b2.sign_in(&params(&[]), "bob", "bob's password 123").await.starts_with(WEB_CB));
    let mfa = params(&[("acr_values", "urn:gatehouse:acr:pwd urn:gatehouse:acr:mfa")]);
    let page = password_step(&b2, &mfa, "bob", "bob's password 123").await;
    assert!(page.body.contains("Set up two-step verification"), "{}", page.body);
}

#[tokio::test]
async fn account_changes_need_a_recent_sign_in_or_the_strongest_factor_and_a_csrf_token() {
    let s = TestServer::start_with(&browser_config()).await;
    let me = Browser::new(&s.base);
    me.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    let (secret, first) = enrol(&me, &s).await;
    // Without the form's token: refused.
    let forged = me.post("/account", &[("action", "codes_regenerate")]).await;
    assert_eq!(forged.status, 403);
    let forged = me.post("/account", &[("csrf", "not-the-token"), ("action", "mfa_remove")]).await;
    assert_eq!(forged.status, 403);
    // Ten minutes later the sign-in is not recent: the password and an authenticator code.
    s.clock.advance(Duration::from_secs(600));
    let account = me.get("/account").await;
    assert!(account.body.contains("name=\"current_password\"") && account.body.contains("name=\"current_code\""));
    let refused = account_post(&me, &[("action", "codes_regenerate")]).await;
    assert!(refused.body.contains("current password and a code"), "{}", refused.body);
    let password_only = [("action", "codes_regenerate"), ("current_password", ALICE_PASSWORD)];
    let refused = account_post(&me, &password_only).await;
    assert!(refused.body.contains("a code from your authenticator app") && codes_of(&refused).is_empty());
    let code = code_now(&s, &secret);
    let wrong = [("action", "codes_regenerate"), ("current_password", "wrong!"), ("current_code", &code)];
    assert!(codes_of(&account_post(&me, &wrong).await).is_empty(), "a wrong password with a right code");
    let right = [("action", "codes_regenerate"), ("current_password", ALICE_PASSWORD), ("current_code", &code)];
    let renewed = account_post(&me, &right).await;
    let second = codes_of(&renewed);
    assert_eq!(second.len(), 10, "{}", renewed.body);
    assert!(second.iter().all(|c| !first.contains(c)), "a new set");
    // The old set no longer works; the new one does.
    s.clock.advance(STEP);
    let b = Browser::new(&s.base);
    let step = password_step(&b, &params(&[]), ALICE, ALICE_PASSWORD).await;
    assert!(submit_code(&b, &step, &first[0]).await.body.contains("not right"));
    assert_eq!(submit_code(&b, &step, &second[0]).await.status, 303);
    // Turned off (with the password and a recovery code): sign-in is one step again.
    let off = [("action", "mfa_remove"), ("current_password", ALICE_PASSWORD), ("current_code", second[1].as_str())];
    let off = account_post(&me, &off).await;
    assert!(off.body.contains("Two-step verification is off"), "{}", off.body);
    let plain = Browser::new(&s.base);
    assert!(plain.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await.starts_with(WEB_CB));
    // Without a second factor, the password alone.
    s.clock.advance(Duration::from_secs(600));
    let page = me.get("/account").await;
    assert!(page.body.contains("name=\"current_password\"") && !page.body.contains("name=\"current_code\""));
    let names = s.audit_events(&["recovery_codes_regenerated", "mfa_removed"]).await;
    assert!(names.contains(&"recovery_codes_regenerated") && names.contains(&"mfa_removed"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_typed_in_six_sign_ins_at_once_signs_in_once() {
    let s = TestServer::start_with(&browser_config()).await;
    let me = Browser::new(&s.base);
    me.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    let (secret, _) = enrol(&me, &s).await;
    s.clock.advance(STEP);
    let mut waiting = Vec::new();
    for _ in 0..6 {
        let b = Browser::new(&s.base);
        let step = password_step(&b, &params(&[]), ALICE, ALICE_PASSWORD).await;
        waiting.push((b, step));
    }
    let code = code_now(&s, &secret);
    let mut set = tokio::task::JoinSet::new();
    for (b, step) in waiting {
        let code = code.clone();
        set.spawn(async move { submit_code(&b, &step, &code).await.status });
    }
    let mut passed = 0;
    while let Some(status) = set.join_next().await {
        passed += usize::from(status.unwrap() == 303);
    }
    assert_eq!(passed, 1, "a code is spent by one sign-in");
}

#[tokio::test]
async fn an_operator_resets_the_factors_of_a_stopped_server() {
    let s = TestServer::start_with(&browser_config()).await;
    let me = Browser::new(&s.base);
    me.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    enrol(&me, &s).await;
    let dir = s.stop().await;
    let cfg = dir.path().join("gatehouse.toml").display().to_string();
    let (_, out, _) = gatehouse_tests::run_cli(&["gatehouse", "users", "show", ALICE, "--config", &cfg]);
    assert!(out.contains("mfa\ttotp, 10 recovery codes left"), "{out}");
    let (code, out, err) = gatehouse_tests::run_cli(&["gatehouse", "users", "reset-mfa", ALICE, "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed the second factors of `alice`"), "{out}");
    let (_, out, _) = gatehouse_tests::run_cli(&["gatehouse", "users", "show", ALICE, "--config", &cfg]);
    assert!(out.contains("mfa\tnone"), "{out}");
    let (_, again, _) = gatehouse_tests::run_cli(&["gatehouse", "users", "reset-mfa", ALICE, "--config", &cfg]);
    assert!(again.contains("has no second factor"), "{again}");
    // Back up: one step again, and the reset is in the (verifiable) audit log.
    let s = TestServer::start_in(dir, &browser_config()).await;
    assert!(Browser::new(&s.base).sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await.starts_with(WEB_CB));
    let names = s.audit_events(&["mfa_removed"]).await;
    assert!(names.contains(&"mfa_removed"), "{names:?}");
}

const ADMIN: &str = "admin-token-for-mfa-tests-0123456";

/// The browser config, an admin token, a `pay` client that may ask for `payments`, and
/// `plugins` (TOML).
fn step_up_config(plugins: &str) -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n\n[[clients]]\nid = \"pay\"\nsecret = \"pay-secret-0123456789abcdefghijklm\"\n\
         redirect_uris = [\"https://pay.example/cb\"]\ngrant_types = [\"authorization_code\", \"refresh_token\"]\n\
         scopes = [\"payments\"]\ntrusted = true\n{plugins}",
        browser_config(),
        gatehouse::secret::sha256_hex(ADMIN.as_bytes())
    )
}

#[tokio::test]
async fn a_policy_step_up_asks_for_the_second_factor_in_the_browser_and_is_interaction_required_at_the_token_endpoint()
{
    let policy = |scopes: &str| {
        gatehouse_tests::plugins::policy_entry("mfa-for-payments", "require_mfa", "", &format!("scopes = {scopes}"))
    };
    let s = TestServer::start_with(&step_up_config(&policy("[]"))).await;
    let pay = |scope: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", "pay"),
            ("redirect_uri", "https://pay.example/cb"),
            ("scope", scope),
        ]
    };
    let redeem_pay = |cb: String| {
        let s = &s;
        async move {
            let code = query_param(&cb, "code").expect("a code");
            let form =
                [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://pay.example/cb")];
            let resp = s.post_basic(paths::TOKEN, "pay", "pay-secret-0123456789abcdefghijklm", &form).await;
            let body: Value = resp.json().await.unwrap();
            body
        }
    };
    // Before the policy: a one-factor refresh token with the payments scope.
    let b = Browser::new(&s.base);
    let cb = b.sign_in(&pay("openid offline_access payments"), ALICE, ALICE_PASSWORD).await;
    let old = redeem_pay(cb).await;
    let refresh = old["refresh_token"].as_str().expect("a refresh token").to_owned();

    // The operator puts the payments scope under the policy.
    std::fs::write(s.dir.path().join("gatehouse.toml"), step_up_config(&policy("[\"payments\"]"))).unwrap();
    let resp = s.http.post(s.url(paths::ADMIN_PLUGINS_RELOAD)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    // At the token endpoint there is nobody to ask: interaction_required.
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let resp = s.post_basic(paths::TOKEN, "pay", "pay-secret-0123456789abcdefghijklm", &form).await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "interaction_required", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("acr_values=urn:gatehouse:acr:mfa"), "{body}");

    // Without the sensitive scope the one-factor session still signs in (SSO)...
    let plain = b.authorize(&pay("openid")).await;
    assert!(plain.location.as_deref().unwrap().starts_with("https://pay.example/cb"), "{plain:?}");
    // ...with it, the same session is asked for a second factor first: alice has none, so
    // she sets up an authenticator app, and the session is two-factor afterwards.
    let start = b.authorize(&pay("openid offline_access payments")).await;
    let to = start.location.expect("to the login page");
    assert!(to.contains("/login?flow="), "{to}");
    let (secret, done) = enrol_at_sign_in(&b, &s, &b.get(&to).await).await;
    let cb = done.location.expect("to the client");
    assert!(cb.starts_with("https://pay.example/cb") && cb.contains("code="), "{cb}");
    let tokens = redeem_pay(cb).await;
    assert_eq!(jwt_parts(tokens["id_token"].as_str().unwrap()).1["amr"], json!(["pwd", "otp", "mfa"]));
    // The session now has both factors: no further question, and its refresh tokens work.
    assert!(b.authorize(&pay("openid payments")).await.location.unwrap().starts_with("https://pay.example/cb"));
    let form = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let resp = s.post_basic(paths::TOKEN, "pay", "pay-secret-0123456789abcdefghijklm", &form).await;
    assert_eq!(resp.status(), 200);

    // Next time, with a factor enrolled, a fresh sign-in asks for the code after the password.
    s.clock.advance(STEP);
    let other = Browser::new(&s.base);
    let step = password_step(&other, &pay("openid payments"), ALICE, ALICE_PASSWORD).await;
    assert!(step.body.contains("Code from your authenticator app"), "{}", step.body);
    let ok = submit_code(&other, &step, &code_now(&s, &secret)).await;
    assert!(ok.location.as_deref().is_some_and(|l| l.starts_with("https://pay.example/cb")), "{ok:?}");
}

#[tokio::test]
async fn a_federated_sign_in_asks_for_the_second_factor_too() {
    use gatehouse_tests::browser::{follow, href};
    use gatehouse_tests::fake_oidc::{FakeOidc, Person};
    let p = FakeOidc::start(Person::verified("sub-fed", "fed@partner.example")).await;
    let config = format!(
        "{}{}\n[plugin_runtime]\nallow_loopback_http = true\n[mfa]\nrequire = \"always\"\n",
        browser_config(),
        p.connector_entry("partner-sso", "partner", "")
    );
    let s = TestServer::start_with(&config).await;
    let sign_in = |b: Browser| async move {
        let login = follow(&b, b.authorize(&params(&[])).await).await;
        let start = href(&login, "/federation/partner/start").expect("the provider's button");
        let page = follow(&b, b.get(&start).await).await;
        (b, page)
    };
    // A new person made just in time, with no factor: enrolment right after the provider.
    let (b, page) = sign_in(Browser::new(&s.base)).await;
    let (secret, done) = enrol_at_sign_in(&b, &s, &page).await;
    let claims = id_claims(&s, done.location.as_deref().expect("to the client")).await;
    assert_eq!(claims["amr"], json!(["fed", "otp", "mfa"]), "{claims}");
    // Next time: the provider, then the code.
    s.clock.advance(STEP);
    let (b, page) = sign_in(Browser::new(&s.base)).await;
    assert!(page.body.contains("Code from your authenticator app"), "{}", page.body);
    let ok = submit_code(&b, &page, &code_now(&s, &secret)).await;
    let claims = id_claims(&s, ok.location.as_deref().expect("to the client")).await;
    assert_eq!((claims["amr"].clone(), claims["idp"].clone()), (json!(["fed", "otp", "mfa"]), json!("partner")));
}
