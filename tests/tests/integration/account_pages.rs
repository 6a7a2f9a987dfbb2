//! The account page beyond two-step verification: changing the password, the list of
//! sessions with signing out of one or all others, and the passkey endpoints' answers to bad
//! input (the passkey ceremonies themselves are in `chromium_passkeys.rs`).

use std::time::Duration;

use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, browser_config, hidden};
use gatehouse_tests::mfa::{account_post, id_claims, params};
use serde_json::{Value, json};

#[tokio::test]
async fn the_password_is_changed_on_the_account_page_with_the_current_one() {
    let s = TestServer::start_with(&browser_config()).await;
    let me = Browser::new(&s.base);
    me.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    let page = me.get("/account").await;
    assert!(page.body.contains("value=\"password_change\""), "{}", page.body);
    let change = |current: &'static str, new: &'static str| {
        let me = &me;
        async move {
            account_post(me, &[("action", "password_change"), ("current_password", current), ("new_password", new)])
                .await
        }
    };
    // Recent or not, the current password is needed, and is counted like a sign-in.
    assert!(change("not it", "a new password 1").await.body.contains("Enter your current password"));
    assert!(change(ALICE_PASSWORD, "short").await.body.contains("The password must have at least 8 characters."));
    assert!(change(ALICE_PASSWORD, "a new password 1").await.body.contains("Your password was changed."));
    let old = Browser::new(&s.base);
    let start = old.authorize(&params(&[])).await;
    let login = old.get(start.location.as_deref().unwrap()).await;
    assert_eq!(old.submit_login(&login, ALICE, ALICE_PASSWORD).await.status, 200, "the old password fails");
    assert!(Browser::new(&s.base).sign_in(&params(&[]), ALICE, "a new password 1").await.starts_with(WEB_CB));
    let names = s.audit_events(&["password_changed"]).await;
    assert!(names.contains(&"password_changed"), "{names:?}");
    let all = gatehouse::audit::all_records(s.state.db.audit(), 0).await.expect("records");
    assert!(!serde_json::to_string(&all).unwrap().contains("a new password 1"), "no password in the audit log");
}

#[tokio::test]
async fn the_passkey_endpoints_refuse_bad_input_plainly() {
    let s = TestServer::start_with(&browser_config()).await;
    let b = Browser::new(&s.base);
    let start = b.authorize(&params(&[])).await;
    let login = b.get(start.location.as_deref().unwrap()).await;
    assert!(!login.body.contains("passkey-signin"), "an IP issuer has no passkeys: no button");
    let flow = hidden(&login.body, "flow").unwrap();
    let csrf = hidden(&login.body, "csrf").unwrap();
    let url = |path: &str| format!("{}{path}?flow={flow}", s.base);
    let json = |body: Value| b.http.post(url("/login/passkey/begin")).json(&body);
    let answer = |r: reqwest::Response| async move { (r.status().as_u16(), r.json::<Value>().await.unwrap()) };
    // Not JSON (a cross-site form could send this): refused before anything else.
    let form = b.http.post(url("/login/passkey/begin")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(answer(form).await.0, 400);
    let (status, body) = answer(json(json!({ "csrf": "forged" })).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf")));
    let (status, body) = answer(json(json!({ "csrf": csrf })).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unavailable")), "{body}");
    let (status, body) = answer(json(json!([1, 2])).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let finish = b.http.post(url("/login/passkey/finish")).json(&json!({ "csrf": csrf, "credential": {} }));
    let (status, body) = answer(finish.send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired")), "no ceremony was started: {body}");
    let stranger = Browser::new(&s.base);
    let (status, body) = answer(
        stranger
            .http
            .post(format!("{}/account/passkeys/register/begin", s.base))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("login_required")));
}

#[tokio::test]
async fn the_account_page_lists_the_persons_sessions_and_signs_out_of_one_or_all_others() {
    let s = TestServer::start_with(&browser_config()).await;
    let (a, b, d) = (Browser::new(&s.base), Browser::new(&s.base), Browser::new(&s.base));
    let sid_of = |cb: String| {
        let s = &s;
        async move { id_claims(s, &cb).await["sid"].as_str().unwrap().to_owned() }
    };
    let a_sid = sid_of(a.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await).await;
    s.clock.advance(Duration::from_secs(5));
    let b_sid = sid_of(b.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await).await;
    let bob = Browser::new(&s.base);
    let bob_sid = sid_of(bob.sign_in(&params(&[]), "bob", "bob's password 123").await).await;

    let page = a.get("/account").await;
    assert_eq!(page.body.matches("signed in 20").count(), 2, "alice's two sessions, not bob's: {}", page.body);
    assert!(page.body.contains("(this browser)") && page.body.contains("from 127.0.0.1"), "{}", page.body);
    assert!(page.body.contains("(pwd)"), "how each signed in");
    assert_eq!(hidden(&page.body, "sid").as_deref(), Some(b_sid.as_str()), "a sign-out button for the other one");
    assert!(!page.body.contains(&a_sid), "no button for this browser's own session");

    // Another person's session: not found among alice's, and bob stays signed in.
    let refused = account_post(&a, &[("action", "session_end"), ("sid", &bob_sid)]).await;
    assert!(refused.body.contains("That session has ended already."), "{}", refused.body);
    assert_eq!(bob.get("/account").await.status, 200);
    // B's session ends; A's does not.
    let done = account_post(&a, &[("action", "session_end"), ("sid", &b_sid)]).await;
    assert!(done.body.contains("Signed out of 1 session."), "{}", done.body);
    assert_eq!(b.get("/account").await.status, 403, "B is signed out");
    assert_eq!(a.get("/account").await.status, 200);
    // Everything else: a third session ends, this one stays.
    d.sign_in(&params(&[]), ALICE, ALICE_PASSWORD).await;
    let done = account_post(&a, &[("action", "sessions_end_others")]).await;
    assert!(done.body.contains("Signed out of 1 session."), "{}", done.body);
    assert_eq!(d.get("/account").await.status, 403);
    // Its own session by its sid: signed out here, the cookie cleared.
    let own = account_post(&a, &[("action", "session_end"), ("sid", &a_sid)]).await;
    assert_eq!(own.status, 303);
    assert!(own.cookies.iter().any(|c| c.starts_with("gatehouse_session=;")), "{:?}", own.cookies);
    assert_eq!(a.get("/account").await.status, 403);
    let names = s.audit_events(&["session_ended"]).await;
    assert!(names.iter().filter(|n| **n == "session_ended").count() >= 3, "{names:?}");
}
