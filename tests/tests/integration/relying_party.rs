//! The example relying party (built on the `openidconnect` crate) signs a person in and out
//! through Gatehouse: discovery, code + PKCE, ID token verification, userinfo, logout.

use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, RelyingParty};

#[tokio::test]
async fn the_example_app_signs_in_and_out_through_gatehouse() {
    let rp = RelyingParty::start().await;
    let b = Browser::new(&rp.idp.base);
    let home = b.get(&format!("{}/", rp.base)).await;
    assert!(home.body.contains("You are not signed in"), "{}", home.body);
    assert!(home.body.contains("<title>Example app</title>") && home.body.contains("<style>"), "{}", home.body);

    let to_idp = b.get(&format!("{}/login", rp.base)).await;
    let authorize = to_idp.location.expect("to Gatehouse");
    assert!(authorize.starts_with(&rp.idp.base) && authorize.contains("code_challenge_method=S256"), "{authorize}");
    let to_login = b.get(&authorize).await;
    let page = b.get(to_login.location.as_deref().unwrap()).await;
    let back = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    let callback = back.location.expect("back to the app");
    assert!(callback.starts_with(&format!("{}/callback?", rp.base)), "{callback}");
    let done = b.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let claims = b.get(&format!("{}/claims", rp.base)).await;
    assert_eq!(claims.status, 200);
    assert!(claims.body.contains("Signed in as <strong>alice</strong>"), "{}", claims.body);
    assert!(claims.body.contains("alice@example.com"));

    let out = b.get(&format!("{}/logout", rp.base)).await;
    let end = out.location.expect("to Gatehouse's end-session endpoint");
    assert!(end.contains("/logout?id_token_hint="), "{end}");
    let back = b.get(&end).await;
    assert_eq!(back.location.as_deref(), Some(format!("{}/", rp.base).as_str()));
    let home = b.get(&format!("{}/", rp.base)).await;
    assert!(home.body.contains("You are not signed in"));
    // And Gatehouse's session is over too: signing in again shows the form.
    let again = b.get(&b.get(&format!("{}/login", rp.base)).await.location.unwrap()).await;
    assert!(again.location.unwrap().contains("/login?flow="));
}

#[tokio::test]
async fn the_example_app_keeps_signing_people_in_after_a_key_rotation() {
    let rp = RelyingParty::start().await;
    let sign_in = || async {
        let b = Browser::new(&rp.idp.base);
        let authorize = b.get(&format!("{}/login", rp.base)).await.location.expect("to Gatehouse");
        let page = b.get(b.get(&authorize).await.location.as_deref().unwrap()).await;
        let callback = b.submit_login(&page, ALICE, ALICE_PASSWORD).await.location.expect("back to the app");
        let done = b.get(&callback).await;
        (done.status, done.body)
    };
    assert_eq!(sign_in().await.0, 303);
    // New signing keys: the app's cached JWKS does not know the new kid.
    rp.idp.state.keys.rotate(rp.idp.state.clock.now()).await.unwrap();
    let (status, body) = sign_in().await;
    assert_eq!(status, 303, "the app fetched the new keys: {body}");
}
