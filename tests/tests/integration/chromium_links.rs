//! Emailed links in headless Chromium: verifying the address from the account page, then
//! "Forgot password?" from the login page of the example relying party, the link from the
//! fake mail API, a new password, and a sign-in with it. The forms' CSRF token is bound to the
//! browser's cookie, which Chromium must send back. Each page's screenshot is kept as a test
//! artefact (`target/tmp/links-*.png`).

use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, RelyingParty};
use gatehouse_tests::fake_mail::FakeMail;
use gatehouse_tests::webdriver::{Chromium, available};

const NEW_PASSWORD: &str = "a brand new passphrase 42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_verifies_an_address_and_resets_a_password_by_emailed_link() {
    if !available() {
        return;
    }
    let mail = FakeMail::start().await;
    let events = ["password.reset_requested", "email.verification_requested"];
    let rp = RelyingParty::start_with(&format!(
        "\n[plugin_runtime]\nallow_loopback_http = true\n{}",
        mail.notifier(&events)
    ))
    .await;
    let browser = Chromium::start().await;
    let tmp = env!("CARGO_TARGET_TMPDIR");
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, ALICE_PASSWORD).await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;

    // The account page sends a verification link; the link's page confirms the address.
    browser.goto(&format!("{}/account", rp.idp.base)).await;
    browser.wait_for_text("not verified yet").await;
    browser.click("button[value=email_verify_send]").await;
    browser.wait_for_text("A link was sent to alice@example.com").await;
    let link = mail.wait(1).await[0].link("http").expect("a link");
    browser.goto(&link).await;
    browser.wait_for_text("Verify your email address").await;
    browser.keep(tmp, "links-verify").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Address verified").await;
    browser.keep(tmp, "links-verified").await;
    browser.goto(&format!("{}/account", rp.idp.base)).await;
    browser.wait_for_text("Your email address is verified.").await;

    // Signed out; "Forgot password?" on the next login page.
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#logout").await;
    browser.wait_for_text("You are not signed in").await;
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.click("#forgot-password").await;
    browser.wait_for_text("Forgot your password?").await;
    browser.keep(tmp, "links-forgot").await;
    browser.type_into("#email", "alice@example.com").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("a link to choose a new password is on its way").await;
    browser.keep(tmp, "links-sent").await;
    let link = mail.wait(2).await[1].link("http").expect("a link");
    browser.goto(&link).await;
    browser.wait_for_text("Choose a new password").await;
    browser.keep(tmp, "links-reset").await;
    browser.type_into("#new_password", NEW_PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Password changed").await;
    browser.keep(tmp, "links-done").await;

    // The new password signs in through the relying party.
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, NEW_PASSWORD).await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    browser.quit().await;
}
