//! Two-step verification in headless Chromium: setting up an authenticator app at sign-in
//! (`[mfa] require = "always"`) through the example relying party, the recovery codes, the
//! account page and the code step of the next sign-in. Each page's screenshot is kept as a
//! test artefact (`target/tmp/mfa-*.png`).

use std::time::Duration;

use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, RelyingParty};
use gatehouse_tests::mfa::{code_now, secret_in};
use gatehouse_tests::webdriver::{Chromium, available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sets_up_an_authenticator_at_sign_in_and_uses_it_next_time() {
    if !available() {
        return;
    }
    let rp = RelyingParty::start_with("\n[mfa]\nrequire = \"always\"\n").await;
    let browser = Chromium::start().await;
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, ALICE_PASSWORD).await;

    // The enrolment page: the QR code is drawn (inline SVG, under the page's CSP).
    let html = browser.wait_for_text("Set up two-step verification").await;
    let (w, h) = browser.size(".qr svg").await;
    assert!(w >= 150.0 && h >= 150.0, "the QR code is rendered: {w}x{h}");
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "mfa-enrol").await;
    let secret = secret_in(&html);
    browser.type_into("#code", &code_now(&rp.idp, &secret)).await;
    browser.click("button[value=enrol]").await;
    let html = browser.wait_for_text("Recovery codes").await;
    assert_eq!(html.matches("<li><code>").count(), 10, "{html}");
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "mfa-recovery-codes").await;
    browser.click("button[value=continue]").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    let claims = browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    assert!(claims.contains("\"mfa\"") && claims.contains("urn:gatehouse:acr:mfa"), "{claims}");

    browser.goto(&format!("{}/account", rp.idp.base)).await;
    browser.wait_for_text("On: an authenticator app").await;
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "mfa-account").await;

    // Signed out, then in again: the code step after the password.
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#logout").await;
    browser.wait_for_text("You are not signed in").await;
    rp.idp.clock.advance(Duration::from_secs(30));
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, ALICE_PASSWORD).await;
    browser.wait_for_text("Code from your authenticator app").await;
    browser.keep(env!("CARGO_TARGET_TMPDIR"), "mfa-code").await;
    browser.type_into("#code", "000000").await;
    browser.click("button[value=verify]").await;
    browser.wait_for_text("not right").await;
    browser.type_into("#code", &code_now(&rp.idp, &secret)).await;
    browser.click("button[value=verify]").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    browser.quit().await;
}
