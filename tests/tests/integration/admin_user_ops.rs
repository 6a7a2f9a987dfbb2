//! What an operator does to one person through the admin API: list and end their sessions,
//! reset their second factors, set a password or mail them a reset link; a person who holds
//! a role is only the `admin` role's to act on.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, browser_config};
use gatehouse_tests::fake_mail::FakeMail;
use gatehouse_tests::mfa::{enrol, params, password_step};
use serde_json::{Value, json};

const ADMIN: &str = "user-ops-admin-token-0123456789abcd";
const PEOPLE: (&str, &str) = ("people-sync", "people-sync-secret-0123456789abcd");

fn config(extra: &str) -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n[[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"user-admin\"]\n{extra}",
        browser_config(),
        sha256_hex(ADMIN.as_bytes()),
        PEOPLE.0,
        PEOPLE.1,
    )
}

async fn call(s: &TestServer, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    s.admin_call(method, path, bearer, body).await
}

async fn user_path(s: &TestServer, name: &str) -> String {
    let (_, page) = call(s, "GET", &format!("{}?q={name}", paths::ADMIN_USERS), ADMIN, None).await;
    format!("{}/{}", paths::ADMIN_USERS, page["users"][0]["id"].as_str().unwrap())
}

async fn signed_in(s: &TestServer, user: &str, password: &str) -> Browser {
    let b = Browser::new(&s.base);
    assert!(b.sign_in(&params(&[]), user, password).await.starts_with(WEB_CB));
    b
}

#[tokio::test]
async fn an_operator_lists_and_ends_sessions_and_sets_a_password() {
    let s = TestServer::start_with(&config("")).await;
    let alice = user_path(&s, ALICE).await;
    let (first, _second) = (signed_in(&s, ALICE, ALICE_PASSWORD).await, signed_in(&s, ALICE, ALICE_PASSWORD).await);
    let (status, listed) = call(&s, "GET", &format!("{alice}/sessions"), ADMIN, None).await;
    assert_eq!(status, 200, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions[0]["amr"], json!(["pwd"]));
    let sid = sessions[0]["sid"].as_str().unwrap().to_owned();

    // One ends; again it is gone.
    assert_eq!(call(&s, "DELETE", &format!("{alice}/sessions/{sid}"), ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "DELETE", &format!("{alice}/sessions/{sid}"), ADMIN, None).await.0, 404);
    assert_eq!(
        call(&s, "GET", &format!("{alice}/sessions"), ADMIN, None).await.1["sessions"].as_array().unwrap().len(),
        1
    );

    // A new password from the operator ends the rest; only it signs in now.
    let pw = format!("{alice}/password");
    let set = |p: Value| call(&s, "POST", &pw, ADMIN, Some(p));
    let (status, body) = set(json!({ "password": "short" })).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("password")), "{body}");
    let (status, body) = set(json!({ "password": "x", "send_link": true })).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = set(json!({ "pasword": "typo" })).await;
    assert!(status == 400 && body["error_description"].as_str().unwrap().contains("`pasword`"), "{body}");
    let tokens = gatehouse_tests::browser::web_tokens(&s, ALICE, ALICE_PASSWORD).await;
    let (refresh, access) = (tokens["refresh_token"].as_str().unwrap(), tokens["access_token"].as_str().unwrap());
    assert_eq!(s.verify(json!({ "token": access })).await.0, 200);
    let (status, body) = set(json!({ "password": "the operator's new passphrase" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["sessions_ended"].as_u64(), body["refresh_tokens_revoked"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );
    assert_eq!(gatehouse_tests::browser::web_refresh(&s, refresh).await.1["error"], "invalid_grant");
    let (status, why) = s.verify(json!({ "token": access })).await;
    assert_eq!((status, why["reason"].as_str()), (401, Some("revoked")), "the grant's newest access token: {why}");
    assert_eq!(call(&s, "GET", &format!("{alice}/sessions"), ADMIN, None).await.1["sessions"], json!([]));
    let b = Browser::new(&s.base);
    let login = b.get(b.authorize(&params(&[])).await.location.as_deref().unwrap()).await;
    let refused = b.submit_login(&login, ALICE, ALICE_PASSWORD).await;
    assert!(refused.body.contains("Incorrect username or password."), "the old password fails: {}", refused.body);
    signed_in(&s, ALICE, "the operator's new passphrase").await;
    drop(first);
    let events = s.audit_events(&["session_ended", "password_changed"]).await;
    assert_eq!(events.iter().filter(|e| **e == "session_ended").count(), 3, "{events:?}");

    // An unknown user, and no role.
    assert_eq!(call(&s, "GET", &format!("{}/nobody/sessions", paths::ADMIN_USERS), ADMIN, None).await.0, 404);
    assert_eq!(call(&s, "GET", &format!("{alice}/sessions"), "not-a-token", None).await.0, 401);
}

#[tokio::test]
async fn an_operator_resets_second_factors_and_people_with_roles_are_admins_to_touch() {
    let s = TestServer::start_with(&config("")).await;
    let b = signed_in(&s, ALICE, ALICE_PASSWORD).await;
    enrol(&b, &s).await;
    let page = password_step(&Browser::new(&s.base), &params(&[]), ALICE, ALICE_PASSWORD).await;
    assert!(page.body.contains("name=\"code\""), "a code is asked for: {}", page.body);

    let alice = user_path(&s, ALICE).await;
    let form = [("grant_type", "client_credentials"), ("audience", "gatehouse-admin")];
    let people: Value = s.post_basic(paths::TOKEN, PEOPLE.0, PEOPLE.1, &form).await.json().await.unwrap();
    let people = people["access_token"].as_str().unwrap().to_owned();
    let (status, body) = call(&s, "POST", &format!("{alice}/mfa/reset"), &people, None).await;
    assert_eq!((status, body["removed"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!(call(&s, "POST", &format!("{alice}/mfa/reset"), &people, None).await.1["removed"], false);
    signed_in(&s, ALICE, ALICE_PASSWORD).await;
    let page =
        s.http.get(s.url(&format!("{}?type=mfa_removed", paths::ADMIN_AUDIT))).bearer_auth(ADMIN).send().await.unwrap();
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["records"][0]["actor"]["who"], "client:people-sync", "{page}");

    // Alice becomes an auditor: the user-admin may no longer act on her.
    assert_eq!(call(&s, "PATCH", &alice, ADMIN, Some(json!({ "roles": ["auditor"] }))).await.0, 200);
    for (method, path) in [("GET", "/sessions"), ("DELETE", "/sessions"), ("POST", "/mfa/reset")] {
        let (status, body) = call(&s, method, &format!("{alice}{path}"), &people, None).await;
        assert_eq!((status, body["role"].as_str()), (403, Some("admin")), "{method} {path}: {body}");
    }
    let body = json!({ "password": "taken over by the user admin" });
    assert_eq!(call(&s, "POST", &format!("{alice}/password"), &people, Some(body)).await.0, 403);
}

#[tokio::test]
async fn an_operator_mails_a_reset_link_instead_of_knowing_the_password() {
    let mail = FakeMail::start().await;
    let extra =
        format!("[plugin_runtime]\nallow_loopback_http = true\n{}", mail.notifier(&["password.reset_requested"]));
    let s = TestServer::start_with(&config(&extra)).await;
    let alice = user_path(&s, ALICE).await;
    let (status, body) =
        call(&s, "POST", &format!("{alice}/password"), ADMIN, Some(json!({ "send_link": true }))).await;
    assert_eq!((status, body["sent_to"].as_u64()), (200, Some(1)), "{body}");
    mail.wait(1).await;
    let sent = mail.all();
    assert_eq!(sent[0].to, "alice@example.com");
    assert!(sent[0].link("http").is_some_and(|l| l.contains("/password/reset?token=")), "{sent:?}");
    // A second within the minute is refused; bob has no address.
    assert_eq!(call(&s, "POST", &format!("{alice}/password"), ADMIN, Some(json!({ "send_link": true }))).await.0, 429);
    let bob = user_path(&s, "bob").await;
    let (status, body) = call(&s, "POST", &format!("{bob}/password"), ADMIN, Some(json!({ "send_link": true }))).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("no_email")), "{body}");
}

#[tokio::test]
async fn a_deleted_user_can_no_longer_sign_in_nor_refresh_and_their_name_is_free() {
    let s = TestServer::start_with(&config("")).await;
    let body = json!({ "username": "frank", "email": "frank@example.com", "password": "frank's long password" });
    let (status, frank) = call(&s, "POST", paths::ADMIN_USERS, ADMIN, Some(body.clone())).await;
    assert_eq!(status, 201, "{frank}");
    let path = format!("{}/{}", paths::ADMIN_USERS, frank["id"].as_str().unwrap());
    let refresh = gatehouse_tests::browser::web_refresh_token(&s, "frank", "frank's long password").await;

    assert_eq!(call(&s, "DELETE", &path, ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "GET", &path, ADMIN, None).await.0, 404);
    assert_eq!(call(&s, "DELETE", &path, ADMIN, None).await.0, 404);
    let answer = gatehouse_tests::browser::web_refresh(&s, &refresh).await.1;
    assert_eq!(answer["error"], "invalid_grant", "{answer}");
    let b = Browser::new(&s.base);
    let login = b.get(b.authorize(&params(&[])).await.location.as_deref().unwrap()).await;
    let refused = b.submit_login(&login, "frank", "frank's long password").await;
    assert!(refused.body.contains("Incorrect username or password."), "{}", refused.body);
    assert_eq!(call(&s, "POST", paths::ADMIN_USERS, ADMIN, Some(body)).await.0, 201, "the name is free");

    // A config user would come back at the next start; the record names the id only.
    let (status, body) = call(&s, "DELETE", &user_path(&s, ALICE).await, ADMIN, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")), "{body}");
    let page = s
        .http
        .get(s.url(&format!("{}?type=user_deleted", paths::ADMIN_AUDIT)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["records"][0]["event"]["user_id"], frank["id"], "{page}");
    assert!(!page.to_string().contains("frank"), "{page}");
}
