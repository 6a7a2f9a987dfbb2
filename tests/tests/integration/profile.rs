//! The standard profile claims: set for configured users (checked at start-up, naming the
//! key), taken from a provider's claims for a user made just in time (valid values only), and
//! released by scope in ID tokens and userinfo (`profile`, `phone`); every change moves the
//! user's `version`.

use gatehouse::paths;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, browser_config, follow, href};
use gatehouse_tests::mfa::id_claims;
use serde_json::{Value, json};

fn config() -> String {
    browser_config().replace(
        "email = \"alice@example.com\"\n",
        "email = \"alice@example.com\"\nname = \"Alice Liddell\"\ngiven_name = \"Alice\"\nfamily_name = \"Liddell\"\n\
         locale = \"en-GB\"\nzoneinfo = \"Europe/London\"\npicture = \"https://example.com/alice.png\"\n\
         phone_number = \"+447700900123\"\n",
    )
}

fn params(scope: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", scope)]
}

#[tokio::test]
async fn profile_claims_are_released_by_scope() {
    let s = TestServer::start_with(&config()).await;
    let b = Browser::new(&s.base);
    let claims = id_claims(&s, &b.sign_in(&params("openid profile phone"), ALICE, ALICE_PASSWORD).await).await;
    for (claim, value) in [
        ("preferred_username", json!("alice")),
        ("name", json!("Alice Liddell")),
        ("given_name", json!("Alice")),
        ("family_name", json!("Liddell")),
        ("locale", json!("en-GB")),
        ("zoneinfo", json!("Europe/London")),
        ("picture", json!("https://example.com/alice.png")),
        ("phone_number", json!("+447700900123")),
        ("phone_number_verified", json!(false)),
    ] {
        assert_eq!(claims[claim], value, "{claim}: {claims}");
    }
    // Only `openid`: none of them.
    let other = Browser::new(&s.base);
    let claims = id_claims(&s, &other.sign_in(&params("openid"), ALICE, ALICE_PASSWORD).await).await;
    for claim in ["name", "given_name", "locale", "picture", "phone_number", "preferred_username"] {
        assert!(claims.get(claim).is_none(), "{claim} without its scope: {claims}");
    }
    // `profile` without `phone`: no number.
    let third = Browser::new(&s.base);
    let claims = id_claims(&s, &third.sign_in(&params("openid profile"), ALICE, ALICE_PASSWORD).await).await;
    assert_eq!(claims["name"], "Alice Liddell");
    assert!(claims.get("phone_number").is_none());

    let d: Value = s.get_json(paths::DISCOVERY).await;
    assert!(d["scopes_supported"].as_array().unwrap().contains(&json!("phone")));
    for claim in ["name", "given_name", "family_name", "locale", "zoneinfo", "picture", "phone_number"] {
        assert!(d["claims_supported"].as_array().unwrap().contains(&json!(claim)), "{claim}");
    }
    let alice = s.state.db.shared_users().find_user(ALICE).await.unwrap().unwrap();
    assert_eq!(alice.version, 1);
}

#[tokio::test]
async fn a_bad_profile_value_stops_the_start_naming_the_key() {
    for (key, value) in [("locale", "en GB"), ("zoneinfo", "../etc/passwd"), ("picture", "http://x.example/a.png")] {
        let toml = browser_config().replace(
            "email = \"alice@example.com\"\n",
            &format!("email = \"alice@example.com\"\n{key} = \"{value}\"\n"),
        );
        let err = TestServer::try_start_with(&toml).await.err().expect("refused");
        assert!(err.contains(&format!("users[0].{key}")), "{key}: {err}");
    }
}

#[tokio::test]
async fn a_configured_profile_is_applied_on_restart_and_moves_the_version() {
    let s = TestServer::start_with(&browser_config()).await;
    let before = s.state.db.shared_users().find_user(ALICE).await.unwrap().unwrap();
    assert_eq!((before.version, before.profile.name.as_deref()), (1, None));
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, &config()).await;
    let after = s.state.db.shared_users().find_user(ALICE).await.unwrap().unwrap();
    assert_eq!((after.version, after.profile.name.as_deref()), (2, Some("Alice Liddell")));
    assert_eq!(after.password_hash, before.password_hash, "the rest is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_made_at_a_federated_sign_in_takes_the_providers_valid_profile_claims() {
    use gatehouse_tests::fake_oidc::{FakeOidc, Person};
    let mut person = Person::verified("sub-prof", "pat@partner.example");
    person.name = Some("Pat Example".into());
    person.extra = vec![
        ("given_name".into(), json!("Pat")),
        ("locale".into(), json!("fr_FR")),
        ("zoneinfo".into(), json!("not a zone!")),
        ("picture".into(), json!("https://cdn.partner.example/pat.jpg")),
    ];
    let p = FakeOidc::start(person).await;
    let config = format!(
        "{}{}\n[plugin_runtime]\nallow_loopback_http = true\n",
        browser_config(),
        p.connector_entry("partner-sso", "partner", "")
    );
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let login = follow(&b, b.authorize(&params("openid profile")).await).await;
    let start = href(&login, "/federation/partner/start").expect("the provider's button");
    let done = follow(&b, b.get(&start).await).await;
    let claims = id_claims(&s, done.location.as_deref().expect("to the client")).await;
    assert_eq!(claims["name"], "Pat Example", "{claims}");
    assert_eq!(claims["given_name"], "Pat");
    assert_eq!(claims["locale"], "fr-FR", "en_US-style tags are read as BCP 47");
    assert!(claims.get("zoneinfo").is_none(), "an invalid value is left out: {claims}");
}
