//! `/admin/groups`: groups as records with members, the `groups` claim, and roles granted to
//! people directly or through groups: only `admin` grants them or touches those who hold
//! them, and a person's admin token counts the roles they hold when it is used.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param,
};
use serde_json::{Value, json};

const ADMIN: &str = "groups-admin-token-0123456789abcdef";
const PEOPLE: (&str, &str) = ("people-sync", "people-sync-secret-0123456789abcd");
const CONSOLE: (&str, &str) = ("console", "console-secret-0123456789abcdefgh");
const CONSOLE_CB: &str = "https://console.example/cb";

fn config() -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"user-admin\"]\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nredirect_uris = [\"{CONSOLE_CB}\"]\n\
         grant_types = [\"authorization_code\"]\naudiences = [\"gatehouse-admin\"]\ntrusted = true\n",
        browser_config(),
        sha256_hex(ADMIN.as_bytes()),
        PEOPLE.0,
        PEOPLE.1,
        CONSOLE.0,
        CONSOLE.1,
    )
}

async fn call(s: &TestServer, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    s.admin_call(method, path, bearer, body).await
}

async fn people_token(s: &TestServer) -> String {
    let form = [("grant_type", "client_credentials"), ("audience", "gatehouse-admin")];
    let r = s.post_basic(paths::TOKEN, PEOPLE.0, PEOPLE.1, &form).await;
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The tokens of `user` signing in at `client` with `scope`.
async fn sign_in(s: &TestServer, client: (&str, &str, &str), user: (&str, &str), scope: &str) -> Value {
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", client.0), ("redirect_uri", client.2), ("scope", scope)];
    let back = b.sign_in(&params, user.0, user.1).await;
    let code = query_param(&back, "code").unwrap();
    let (status, tokens) =
        gatehouse_tests::browser::redeem(&s.http, &s.base, (client.0, client.1), &code, client.2, None).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn user_id(s: &TestServer, name: &str) -> String {
    let (_, page) = call(s, "GET", &format!("{}?q={name}", paths::ADMIN_USERS), ADMIN, None).await;
    page["users"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_operator_manages_a_group_and_its_members_see_it_in_their_tokens() {
    let s = TestServer::start_with(&config()).await;
    let body = json!({ "name": "Staff", "description": "everyone employed" });
    let (status, staff) = call(&s, "POST", paths::ADMIN_GROUPS, ADMIN, Some(body)).await;
    assert_eq!(status, 201, "{staff}");
    assert_eq!(
        (staff["name"].as_str(), staff["display_name"].as_str(), staff["version"].as_u64()),
        (Some("Staff"), Some("Staff"), Some(1))
    );
    let id = staff["id"].as_str().unwrap().to_owned();
    let one = format!("{}/{id}", paths::ADMIN_GROUPS);
    assert_eq!(call(&s, "GET", &one, ADMIN, None).await, (200, staff.clone()));

    // A taken name (in any case), a bad one, an unknown field.
    let (status, body) = call(&s, "POST", paths::ADMIN_GROUPS, ADMIN, Some(json!({ "name": "staff" }))).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")), "{body}");
    let (status, body) = call(&s, "POST", paths::ADMIN_GROUPS, ADMIN, Some(json!({ "name": "" }))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("name")), "{body}");
    let (status, body) = call(&s, "POST", paths::ADMIN_GROUPS, ADMIN, Some(json!({ "name": "x", "colour": 1 }))).await;
    assert!(status == 400 && body["error_description"].as_str().unwrap().contains("`colour`"), "{body}");

    // Patched under If-Match; the name is fixed.
    let r = s
        .http
        .patch(s.url(&one))
        .bearer_auth(ADMIN)
        .header("if-match", "\"7\"")
        .json(&json!({ "display_name": "All staff" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = s
        .http
        .patch(s.url(&one))
        .bearer_auth(ADMIN)
        .header("if-match", "\"1\"")
        .json(&json!({ "display_name": "All staff" }))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["etag"].to_str().unwrap()), (200, "\"2\""));
    let (status, body) = call(&s, "PATCH", &one, ADMIN, Some(json!({ "name": "other" }))).await;
    assert!(status == 400 && body["error_description"].as_str().unwrap().contains("unchangeable"), "{body}");

    // Alice joins; her ID token and userinfo carry the group for the `groups` scope only.
    let alice = user_id(&s, ALICE).await;
    let member = format!("{one}/members/{alice}");
    assert_eq!(call(&s, "PUT", &member, ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "PUT", &member, ADMIN, None).await.0, 204, "joining twice changes nothing");
    assert_eq!(call(&s, "PUT", &format!("{one}/members/nobody"), ADMIN, None).await.0, 404);
    let (_, members) = call(&s, "GET", &format!("{one}/members"), ADMIN, None).await;
    assert_eq!(members["members"], json!([{ "id": alice, "username": ALICE }]));
    let web = (WEB_ID, WEB_SECRET, WEB_CB);
    let tokens = sign_in(&s, web, (ALICE, ALICE_PASSWORD), "openid groups").await;
    let (_, claims) = gatehouse_tests::jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["groups"], json!(["Staff"]), "{claims}");
    let info: Value = s
        .http
        .get(s.url(paths::USERINFO))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["groups"], json!(["Staff"]));
    let tokens = sign_in(&s, web, (ALICE, ALICE_PASSWORD), "openid").await;
    assert!(gatehouse_tests::jwt_parts(tokens["id_token"].as_str().unwrap()).1.get("groups").is_none());

    // Leaving, then the group's removal, which takes its name from the members.
    assert_eq!(call(&s, "DELETE", &member, ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "GET", &format!("{one}/members"), ADMIN, None).await.1["members"], json!([]));
    assert_eq!(call(&s, "PUT", &member, ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "DELETE", &one, ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "GET", &one, ADMIN, None).await.0, 404);
    let (_, user) = call(&s, "GET", &format!("{}/{alice}", paths::ADMIN_USERS), ADMIN, None).await;
    assert_eq!(user["groups"], json!([]), "{user}");
    let events = s.audit_events(&["group_created", "group_updated", "group_members_changed", "group_deleted"]).await;
    assert_eq!(events.iter().filter(|e| **e == "group_members_changed").count(), 4, "{events:?}");
}

#[tokio::test]
async fn roles_come_from_people_and_their_groups_and_only_admin_grants_them() {
    let s = TestServer::start_with(&config()).await;
    let people = people_token(&s).await;
    let (alice, bob) = (user_id(&s, ALICE).await, user_id(&s, "bob").await);

    // A user-admin can neither make a group with roles nor give anyone a role.
    let (status, body) =
        call(&s, "POST", paths::ADMIN_GROUPS, &people, Some(json!({ "name": "ops", "roles": ["auditor"] }))).await;
    assert_eq!((status, body["role"].as_str()), (403, Some("admin")), "{body}");
    let bob_path = format!("{}/{bob}", paths::ADMIN_USERS);
    assert_eq!(call(&s, "PATCH", &bob_path, &people, Some(json!({ "roles": ["admin"] }))).await.0, 403);
    let (status, body) = call(&s, "PATCH", &bob_path, ADMIN, Some(json!({ "roles": ["root"] }))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("roles")), "{body}");

    // The operator makes one; the user-admin cannot fill it, nor join bob to it by his groups.
    let (status, ops) =
        call(&s, "POST", paths::ADMIN_GROUPS, ADMIN, Some(json!({ "name": "ops", "roles": ["auditor"] }))).await;
    assert_eq!(status, 201, "{ops}");
    let ops_path = format!("{}/{}", paths::ADMIN_GROUPS, ops["id"].as_str().unwrap());
    assert_eq!(call(&s, "PUT", &format!("{ops_path}/members/{bob}"), &people, None).await.0, 403);
    assert_eq!(call(&s, "PATCH", &bob_path, &people, Some(json!({ "groups": ["ops"] }))).await.0, 403);
    assert_eq!(call(&s, "PATCH", &bob_path, &people, Some(json!({ "groups": ["plain"] }))).await.0, 200);
    assert_eq!(call(&s, "PUT", &format!("{ops_path}/members/{alice}"), ADMIN, None).await.0, 204);
    // Alice now holds a role: a user-admin may not change or disable her.
    let alice_path = format!("{}/{alice}", paths::ADMIN_USERS);
    assert_eq!(call(&s, "PATCH", &alice_path, &people, Some(json!({ "disabled": true }))).await.0, 403);

    // Her token from the console counts the group's role, and only that.
    let console = (CONSOLE.0, CONSOLE.1, CONSOLE_CB);
    let tokens = sign_in(&s, console, (ALICE, ALICE_PASSWORD), "openid").await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT_VERIFY, &token, None).await.0, 200);
    let (status, body) = call(&s, "GET", paths::ADMIN_USERS, &token, None).await;
    assert_eq!((status, body["role"].as_str()), (403, Some("user-admin")), "{body}");
    let page = call(&s, "GET", &format!("{}?type=group_created", paths::ADMIN_AUDIT), &token, None).await.1;
    assert_eq!(page["records"][0]["actor"]["who"], "admin", "{page}");
    // Bob's holds nothing; roles given to her directly count at once.
    let bob_token = sign_in(&s, console, ("bob", "bob's password 123"), "openid").await;
    assert_eq!(
        call(&s, "GET", paths::ADMIN_AUDIT_VERIFY, bob_token["access_token"].as_str().unwrap(), None).await.0,
        403
    );
    assert_eq!(call(&s, "PATCH", &alice_path, ADMIN, Some(json!({ "roles": ["user-admin"] }))).await.0, 200);
    assert_eq!(call(&s, "GET", paths::ADMIN_USERS, &token, None).await.0, 200);
    // Out of the group and without her own role, the same token is refused; disabled, it is none.
    assert_eq!(call(&s, "DELETE", &format!("{ops_path}/members/{alice}"), ADMIN, None).await.0, 204);
    assert_eq!(call(&s, "PATCH", &alice_path, ADMIN, Some(json!({ "roles": [] }))).await.0, 200);
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT_VERIFY, &token, None).await.0, 403);
    assert_eq!(call(&s, "PATCH", &alice_path, &people, Some(json!({ "disabled": true }))).await.0, 200);
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT_VERIFY, &token, None).await.0, 401);
}
