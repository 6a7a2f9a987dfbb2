//! Passkeys in headless Chromium with the W3C WebDriver virtual authenticator: a passkey added
//! on the account page, then a sign-in with it and no password (through the example relying
//! party), one with the password and the passkey as the second factor, and one refused
//! because the authenticator did not verify the user. Gatehouse's issuer is
//! `http://localhost:PORT` (WebAuthn refuses IP addresses). Screenshots: `target/tmp/passkey-*.png`.

use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, RelyingParty};
use gatehouse_tests::webdriver::{Chromium, available};

/// Signs alice in with her password through the RP, then adds a passkey on the account page.
async fn with_a_passkey(rp: &RelyingParty, browser: &Chromium) {
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, ALICE_PASSWORD).await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;

    browser.goto(&format!("{}/account", rp.issuer)).await;
    browser.wait_for_text("Add a passkey").await;
    browser.type_into("#passkey-name", "Test laptop").await;
    browser.click("#passkey-register").await;
    let html = browser.wait_for_text("Passkey added").await;
    assert_eq!(html.matches("<li><code>").count(), 10, "the recovery codes, once: {html}");
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "passkey-registered").await;
    browser.goto(&format!("{}/account", rp.issuer)).await;
    let html = browser.wait_for_text("1 passkey").await;
    assert!(html.contains("Test laptop"), "{html}");
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "passkey-account").await;
    // Signed out of the RP and of Gatehouse.
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#logout").await;
    browser.wait_for_text("You are not signed in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_registers_a_passkey_and_signs_in_with_it_without_a_password() {
    if !available() {
        return;
    }
    let rp = RelyingParty::start_on_localhost("").await;
    let browser = Chromium::start().await;
    let authenticator = browser.add_authenticator(true).await;
    with_a_passkey(&rp, &browser).await;
    let held = browser.credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "a discoverable credential");

    browser.click("#login").await;
    browser.wait_for_text("Sign in with a passkey").await;
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "passkey-login").await;
    browser.click("#passkey-signin").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    let claims = browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    assert!(claims.contains("\"pop\"") && claims.contains("\"mfa\"") && !claims.contains("\"pwd\""), "{claims}");
    assert!(claims.contains("urn:gatehouse:acr:mfa"), "{claims}");
    let names = rp.idp.audit_events(&["mfa_enrolled", "mfa_passed"]).await;
    assert!(names.contains(&"mfa_enrolled") && names.contains(&"mfa_passed"), "{names:?}");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_uses_a_passkey_as_the_second_factor_and_refuses_one_without_user_verification() {
    if !available() {
        return;
    }
    let rp = RelyingParty::start_on_localhost("").await;
    let browser = Chromium::start().await;
    let authenticator = browser.add_authenticator(true).await;
    with_a_passkey(&rp, &browser).await;

    // The password first: alice now has a factor, so the passkey is asked for next.
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, ALICE_PASSWORD).await;
    browser.wait_for_text("Use a passkey").await;
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "passkey-factor").await;
    browser.click("#passkey-signin").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    let claims = browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    assert!(claims.contains("\"pwd\"") && claims.contains("\"pop\"") && claims.contains("\"mfa\""), "{claims}");
    browser.click("#logout").await;
    browser.wait_for_text("You are not signed in").await;

    // The authenticator stops verifying the user: the passkey does not sign in.
    browser.set_user_verified(&authenticator, false).await;
    browser.click("#login").await;
    browser.wait_for_text("Sign in with a passkey").await;
    browser.click("#passkey-signin").await;
    // The script shows why (the status line loses its `hidden`).
    let html = browser.wait_for_text("id=\"passkey-status\">").await;
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "passkey-refused").await;
    assert!(browser.url().await.contains("/login?flow="), "still on the sign-in page");
    assert!(!html.contains("Signed in as"), "{html}");
    browser.quit().await;
}

/// Page script: a passkey sign-in ceremony run by hand, so the test can change what the
/// browser sends. `MODE` is `origin` (the answer claims another origin), `replay` (the right
/// answer, sent twice) or `no-uv` (the options ask for no user verification). Ends with the
/// statuses and errors of the finish calls, as JSON.
const CEREMONY: &str = r#"
const done = arguments[arguments.length - 1];
const b = document.getElementById("passkey-signin");
const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const dec = (s) => { const t = s.replace(/-/g, "+").replace(/_/g, "/"); return Uint8Array.from(atob(t + "=".repeat((4 - t.length % 4) % 4)), (c) => c.charCodeAt(0)); };
const post = (url, body) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  .then(async (r) => [r.status, (await r.json()).error || "ok"]);
(async () => {
  const csrf = b.dataset.csrf;
  const options = await (await fetch(b.dataset.begin, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ csrf }) })).json();
  const pk = options.publicKey;
  pk.challenge = dec(pk.challenge);
  if (MODE === "no-uv") pk.userVerification = "discouraged";
  const cred = await navigator.credentials.get({ publicKey: pk });
  const r = cred.response;
  let clientData = r.clientDataJSON;
  if (MODE === "origin") {
    const c = JSON.parse(new TextDecoder().decode(clientData));
    c.origin = "http://evil.example";
    clientData = new TextEncoder().encode(JSON.stringify(c));
  }
  const credential = { id: cred.id, rawId: enc(cred.rawId), type: cred.type, extensions: {}, response: {
    authenticatorData: enc(r.authenticatorData), clientDataJSON: enc(clientData), signature: enc(r.signature),
    userHandle: r.userHandle ? enc(r.userHandle) : null } };
  const out = [await post(b.dataset.finish, { csrf, credential })];
  if (MODE === "replay") out.push(await post(b.dataset.finish, { csrf, credential }));
  done(JSON.stringify(out));
})().catch((e) => done("error: " + e));
"#;

async fn ceremony(browser: &Chromium, mode: &str) -> serde_json::Value {
    let out = browser.run_async(&format!("const MODE = {mode:?};{CEREMONY}")).await;
    serde_json::from_str(out.as_str().unwrap_or_default()).unwrap_or_else(|_| panic!("{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_another_origin_a_replayed_answer_and_one_without_user_verification() {
    if !available() {
        return;
    }
    let rp = RelyingParty::start_on_localhost("").await;
    let browser = Chromium::start().await;
    let authenticator = browser.add_authenticator(true).await;
    with_a_passkey(&rp, &browser).await;
    browser.click("#login").await;
    browser.wait_for_text("Sign in with a passkey").await;

    // Signed by the authenticator, but for another origin: refused (and the challenge spent).
    assert_eq!(ceremony(&browser, "origin").await, serde_json::json!([[400, "refused"]]));
    // The right answer signs in once; the same answer again finds no challenge.
    assert_eq!(ceremony(&browser, "replay").await, serde_json::json!([[200, "ok"], [400, "expired"]]));

    // A fresh sign-in (the page never followed that redirect: no session yet); the options
    // are changed to ask for no user verification and the authenticator gives none: the
    // server still requires it.
    browser.goto(&format!("{}/", rp.base)).await;
    browser.wait_for_text("You are not signed in").await;
    browser.click("#login").await;
    browser.wait_for_text("Sign in with a passkey").await;
    browser.set_user_verified(&authenticator, false).await;
    assert_eq!(ceremony(&browser, "no-uv").await, serde_json::json!([[400, "refused"]]));
    let names = rp.idp.audit_events(&["mfa_failed"]).await;
    assert!(names.contains(&"mfa_failed"), "{names:?}");
    browser.quit().await;
}
