//! `/admin/users`: create (fields checked and named, unknown ones refused, 409 on a taken
//! name), read with an `ETag`, list with a filter and cursor paging; `user-admin` needed; a
//! created user signs in.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, browser_config};
use serde_json::{Value, json};

const ADMIN: &str = "users-admin-token-0123456789abcdef";
const PEOPLE: (&str, &str) = ("people-sync", "people-sync-secret-0123456789abcd");
const AUDITOR: (&str, &str) = ("audit-tool", "audit-tool-secret-0123456789abcde");

fn config() -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"user-admin\"]\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"auditor\"]\n",
        browser_config(),
        sha256_hex(ADMIN.as_bytes()),
        PEOPLE.0,
        PEOPLE.1,
        AUDITOR.0,
        AUDITOR.1
    )
}

async fn create(s: &TestServer, bearer: &str, body: &Value) -> reqwest::Response {
    s.http.post(s.url(paths::ADMIN_USERS)).bearer_auth(bearer).json(body).send().await.unwrap()
}

async fn get(s: &TestServer, path: &str) -> (u16, Value) {
    let r = s.http.get(s.url(path)).bearer_auth(ADMIN).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn an_operator_creates_reads_and_lists_users_and_the_user_signs_in() {
    let s = TestServer::start_with(&config()).await;
    let body = json!({
        "username": "Carol", "email": "carol@example.com", "password": "carol's long password",
        "name": "Carol Danvers", "locale": "en-US", "groups": ["staff"], "external_id": "hr-1042",
    });
    let r = create(&s, ADMIN, &body).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(r.headers()["etag"], "\"1\"");
    let carol: Value = r.json().await.unwrap();
    assert_eq!((carol["username"].as_str(), carol["name"].as_str()), (Some("carol"), Some("Carol Danvers")));
    assert_eq!(carol["external_id"], "hr-1042");
    assert!(carol.get("password_hash").is_none() && carol["has_password"] == true, "{carol}");
    assert_eq!(location, format!("{}/{}", paths::ADMIN_USERS, carol["id"].as_str().unwrap()));
    let (status, read) = get(&s, &location).await;
    assert_eq!((status, &read), (200, &carol));

    // She signs in with the password set for her.
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    assert!(b.sign_in(&params, "carol", "carol's long password").await.starts_with(WEB_CB));

    // Listing: ordered by username, filtered, paged.
    for name in ["dave", "dora", "dan"] {
        assert_eq!(create(&s, ADMIN, &json!({ "username": name })).await.status(), 201);
    }
    let (_, page) = get(&s, &format!("{}?q=d&limit=2", paths::ADMIN_USERS)).await;
    let names = |p: &Value| {
        p["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(names(&page), ["dan", "dave"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = get(&s, &format!("{}?q=d&limit=2&cursor={cursor}", paths::ADMIN_USERS)).await;
    assert_eq!(names(&next), ["dora"]);
    assert!(next.get("next_cursor").is_none());
    let (_, by_mail) = get(&s, &format!("{}?q=carol%40", paths::ADMIN_USERS)).await;
    assert_eq!(names(&by_mail), ["carol"]);
    let names_seen = s.audit_events(&["user_created"]).await;
    assert_eq!(names_seen.iter().filter(|n| **n == "user_created").count(), 4 + 2, "two from the config");
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let s = TestServer::start_with(&config()).await;
    for (body, field) in [
        (json!({ "email": "x@example.com" }), "username"),
        (json!({ "username": "has space" }), "username"),
        (json!({ "username": "erin", "email": "not-an-address" }), "email"),
        (json!({ "username": "erin", "password": "short" }), "password"),
        (json!({ "username": "erin", "locale": "en GB" }), "locale"),
        (json!({ "username": "erin", "groups": "staff" }), "groups"),
        (json!({ "username": "erin", "name": 7 }), "name"),
    ] {
        let r = create(&s, ADMIN, &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(
            (err["error"].as_str(), err["field"].as_str()),
            (Some("invalid_request"), Some(field)),
            "{body}: {err}"
        );
    }
    let r = create(&s, ADMIN, &json!({ "username": "erin", "passwrd": "x" })).await;
    let err: Value = r.json().await.unwrap();
    assert!(err["error_description"].as_str().unwrap().contains("unknown field `passwrd`"), "{err}");
    let r = s.http.post(s.url(paths::ADMIN_USERS)).bearer_auth(ADMIN).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Taken names, by username or email: 409.
    assert_eq!(create(&s, ADMIN, &json!({ "username": "alice" })).await.status(), 409);
    assert_eq!(create(&s, ADMIN, &json!({ "username": "al", "email": "alice@example.com" })).await.status(), 409);
    assert_eq!(get(&s, &format!("{}/no-such-id", paths::ADMIN_USERS)).await.0, 404);
    for bad in ["limit=0", "disabled=maybe"] {
        let (status, err) = get(&s, &format!("{}?{bad}", paths::ADMIN_USERS)).await;
        assert_eq!(status, 400, "{bad}: {err}");
    }
}

#[tokio::test]
async fn users_need_the_user_admin_role() {
    let s = TestServer::start_with(&config()).await;
    let token = |client: (&'static str, &'static str)| {
        let s = &s;
        async move {
            let form = [("grant_type", "client_credentials"), ("audience", "gatehouse-admin")];
            let r = s.post_basic(paths::TOKEN, client.0, client.1, &form).await;
            r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let auditor = token(AUDITOR).await;
    let r = create(&s, &auditor, &json!({ "username": "frank" })).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "user-admin");
    let people = token(PEOPLE).await;
    assert_eq!(create(&s, &people, &json!({ "username": "frank" })).await.status(), 201);
    let r = s.http.get(s.url(paths::ADMIN_USERS)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (_, page) = get(&s, &format!("{}?type=user_created", paths::ADMIN_AUDIT)).await;
    let by = page["records"].as_array().unwrap().iter().filter_map(|r| r["actor"]["who"].as_str()).collect::<Vec<_>>();
    assert!(by.contains(&"client:people-sync"), "{by:?}");
}

async fn patch(s: &TestServer, id: &str, if_match: Option<&str>, body: &Value) -> (u16, Option<String>, Value) {
    let mut req = s.http.patch(s.url(&format!("{}/{id}", paths::ADMIN_USERS))).bearer_auth(ADMIN).json(body);
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let r = req.send().await.unwrap();
    let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), etag, r.json().await.unwrap())
}

#[tokio::test]
async fn a_patch_honours_if_match_and_disabling_ends_the_sessions() {
    let s = TestServer::start_with(&config()).await;
    let alice = s.state.db.shared_users().find_user("alice").await.unwrap().unwrap();
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    b.sign_in(&params, "alice", gatehouse_tests::browser::ALICE_PASSWORD).await;
    assert_eq!(b.get(paths::ACCOUNT).await.status, 200);

    let tag = format!("\"{}\"", alice.version);
    let (status, etag, user) =
        patch(&s, &alice.id, Some(&tag), &json!({ "name": "Alice L.", "groups": ["ops"] })).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!((user["name"].as_str(), user["groups"].clone()), (Some("Alice L."), json!(["ops"])));
    let new_tag = etag.unwrap();
    assert_ne!(new_tag, tag);
    // The old ETag is stale now: 412, nothing changed.
    let (status, _, err) = patch(&s, &alice.id, Some(&tag), &json!({ "name": "Someone else" })).await;
    assert_eq!((status, err["error"].as_str()), (412, Some("precondition_failed")), "{err}");
    assert_eq!(get(&s, &format!("{}/{}", paths::ADMIN_USERS, alice.id)).await.1["name"], "Alice L.");
    // null removes; unknown or unchangeable fields are named.
    let (status, _, user) = patch(&s, &alice.id, None, &json!({ "name": null, "external_id": "hr-7" })).await;
    assert_eq!(status, 200);
    assert!(user.get("name").is_none() && user["external_id"] == "hr-7", "{user}");
    let (status, _, err) = patch(&s, &alice.id, None, &json!({ "username": "mallory" })).await;
    assert_eq!(status, 400);
    assert!(err["error_description"].as_str().unwrap().contains("`username`"), "{err}");
    let (status, _, err) = patch(&s, &alice.id, Some("yesterday"), &json!({})).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("If-Match")));
    assert_eq!(patch(&s, "no-such-id", None, &json!({ "disabled": true })).await.0, 404);

    // Disabled: her session ends, her refresh tokens are revoked (they stay dead once she is
    // enabled again) and she cannot sign in.
    let refresh = gatehouse_tests::browser::web_refresh_token(&s, ALICE, ALICE_PASSWORD).await;
    let (status, _, user) = patch(&s, &alice.id, None, &json!({ "disabled": true })).await;
    assert_eq!((status, user["disabled"].as_bool()), (200, Some(true)));
    assert_eq!(b.get(paths::ACCOUNT).await.status, 403, "the session ended");
    let names = s.audit_events(&["user_updated", "user_status_changed", "session_ended"]).await;
    assert!(names.contains(&"user_status_changed") && names.contains(&"session_ended"), "{names:?}");
    assert_eq!(patch(&s, &alice.id, None, &json!({ "disabled": false })).await.0, 200);
    let (status, answer) = gatehouse_tests::browser::web_refresh(&s, &refresh).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")), "{answer}");
}
