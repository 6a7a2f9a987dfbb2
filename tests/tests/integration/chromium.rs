//! A real browser: headless Chromium signs in to the example relying party through
//! Gatehouse's login page, reads its claims, and signs out. The login page's screenshot is
//! kept as a test artefact (`target/tmp/login-page.png`).

use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, RelyingParty};
use gatehouse_tests::webdriver::{Chromium, available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_to_the_example_app_through_the_login_page() {
    if !available() {
        return;
    }
    let rp = RelyingParty::start().await;
    let browser = Chromium::start().await;
    browser.goto(&format!("{}/", rp.base)).await;
    browser.wait_for_text("You are not signed in").await;
    browser.click("#login").await;
    let at = browser.wait_for_url(&format!("{}/login?flow=", rp.idp.base)).await;
    assert!(at.contains("flow="), "{at}");
    let page = browser.wait_for_text("example-app").await;
    assert!(page.contains("Sign in"), "{page}");

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("login-page.png");
    std::fs::write(&out, &png).unwrap();

    // A wrong password first: the generic message, and the form is still usable.
    browser.type_into("#username", ALICE).await;
    browser.type_into("#password", "not the password").await;
    browser.click("button[value=login]").await;
    browser.wait_for_text("Incorrect username or password.").await;
    browser.type_into("#password", ALICE_PASSWORD).await;
    browser.click("button[value=login]").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    let claims = browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    assert!(claims.contains("\"amr\""));

    browser.click("#logout").await;
    browser.wait_for_url(&format!("{}/", rp.base)).await;
    browser.wait_for_text("You are not signed in").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_passes_a_login_step_page_before_the_session_starts() {
    if !available() {
        return;
    }
    let entry = gatehouse_tests::plugins::plugin_entry(
        "terms",
        "login-step",
        "terms_of_service",
        "",
        "version = \"7\"\ntext = \"Be nice <b>always</b>.\"",
    );
    let rp = RelyingParty::start_with(&entry).await;
    let browser = Chromium::start().await;
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#login").await;
    browser.wait_for_text("example-app").await;
    browser.submit_password(ALICE, ALICE_PASSWORD).await;
    let page = browser.wait_for_text("Terms of service").await;
    assert!(page.contains("Be nice &lt;b&gt;always&lt;/b&gt;."), "the plugin's text is escaped: {page}");
    let png = browser.screenshot().await;
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("login-step-page.png"), &png).unwrap();
    browser.click("#f-accept").await;
    browser.click("button[value=submit]").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    browser.wait_for_text("Signed in as <strong>alice</strong>").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_to_the_example_app_through_a_federated_provider() {
    if !available() {
        return;
    }
    use gatehouse_tests::fake_oidc::{FakeOidc, Person};
    let p = FakeOidc::start(Person {
        preferred_username: Some("chromie".into()),
        ..Person::verified("chrome-sub", "chromie@partner.example")
    })
    .await;
    let extra =
        format!("{}\n[plugin_runtime]\nallow_loopback_http = true\n", p.connector_entry("partner-sso", "partner", ""));
    let rp = RelyingParty::start_with(&extra).await;
    let browser = Chromium::start().await;
    browser.goto(&format!("{}/", rp.base)).await;
    browser.click("#login").await;
    browser.wait_for_url(&format!("{}/login?flow=", rp.idp.base)).await;
    browser.wait_for_text("Sign in with partner SSO").await;
    // The provider answers at once; the browser comes back through the callback to the app.
    browser.click("a.provider").await;
    browser.wait_for_url(&format!("{}/claims", rp.base)).await;
    let claims = browser.wait_for_text("Signed in as <strong>chromie</strong>").await;
    assert!(claims.contains("\"fed\""), "{claims}");
    browser.quit().await;
}
