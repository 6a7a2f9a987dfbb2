//! `/admin/clients`: a running server's clients made, changed, re-keyed and removed through
//! the admin API, each change live at the token endpoint at once; the config file's clients
//! read-only; the `[[clients]]` rules and the role rules enforced.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::browser_config;
use serde_json::{Value, json};

const ADMIN: &str = "clients-admin-token-0123456789abcd";
const CLIENT_ADMIN: (&str, &str) = ("app-registry", "app-registry-secret-0123456789ab");
const PEOPLE: (&str, &str) = ("people-sync", "people-sync-secret-0123456789abcd");

fn config() -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"client-admin\"]\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"user-admin\"]\n",
        browser_config(),
        sha256_hex(ADMIN.as_bytes()),
        CLIENT_ADMIN.0,
        CLIENT_ADMIN.1,
        PEOPLE.0,
        PEOPLE.1,
    )
}

async fn call(s: &TestServer, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    s.admin_call(method, path, bearer, body).await
}

/// A client_credentials token: status and answer.
async fn token(s: &TestServer, id: &str, secret: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let r = s.post_basic(paths::TOKEN, id, secret, &form).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn role_token(s: &TestServer, client: (&str, &str)) -> String {
    let (status, body) = token(s, client.0, client.1, &[("audience", "gatehouse-admin")]).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_is_made_changed_rekeyed_and_removed_live() {
    let s = TestServer::start_with(&config()).await;
    let registry = role_token(&s, CLIENT_ADMIN).await;
    let body = json!({ "id": "reporting", "client_name": "Reports", "scopes": ["reports.read"] });
    let (status, made) = call(&s, "POST", paths::ADMIN_CLIENTS, &registry, Some(body)).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        (made["source"].as_str(), made["version"].as_u64(), made["has_secret"].as_bool()),
        (Some("store"), Some(1), Some(true))
    );
    assert_eq!(made["grant_types"], json!(["client_credentials"]));
    let one = format!("{}/reporting", paths::ADMIN_CLIENTS);
    let (_, read) = call(&s, "GET", &one, &registry, None).await;
    assert!(read.get("client_secret").is_none() && read.get("secret_sha256").is_none(), "{read}");
    let (status, t) = token(&s, "reporting", &secret, &[("scope", "reports.read")]).await;
    assert_eq!(status, 200, "{t}");

    // Listed beside the config file's, which are read-only here.
    let (_, list) = call(&s, "GET", paths::ADMIN_CLIENTS, &registry, None).await;
    let sources: Vec<(String, String)> = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["source"].as_str().unwrap().to_owned()))
        .collect();
    assert!(
        sources.contains(&("web".into(), "config".into())) && sources.contains(&("reporting".into(), "store".into())),
        "{sources:?}"
    );
    let (status, body) =
        call(&s, "PATCH", &format!("{}/web", paths::ADMIN_CLIENTS), &registry, Some(json!({ "trusted": false }))).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")), "{body}");
    assert_eq!(call(&s, "DELETE", &format!("{}/web", paths::ADMIN_CLIENTS), &registry, None).await.0, 409);

    // A change under If-Match takes effect at once.
    let r = s
        .http
        .patch(s.url(&one))
        .bearer_auth(&registry)
        .header("if-match", "\"9\"")
        .json(&json!({ "scopes": ["reports.write"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let (status, changed) = call(&s, "PATCH", &one, &registry, Some(json!({ "scopes": ["reports.write"] }))).await;
    assert_eq!((status, changed["version"].as_u64()), (200, Some(2)), "{changed}");
    assert_eq!(token(&s, "reporting", &secret, &[("scope", "reports.read")]).await.1["error"], "invalid_scope");
    assert_eq!(token(&s, "reporting", &secret, &[("scope", "reports.write")]).await.0, 200);

    // A new secret: shown once, the old one dead.
    let (status, rotated) = call(&s, "POST", &format!("{one}/secret"), &registry, None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(token(&s, "reporting", &secret, &[]).await.0, 401);
    assert_eq!(token(&s, "reporting", new_secret, &[]).await.0, 200);

    // Removed: nothing more from it.
    assert_eq!(call(&s, "DELETE", &one, &registry, None).await.0, 204);
    assert_eq!(call(&s, "GET", &one, &registry, None).await.0, 404);
    assert_eq!(token(&s, "reporting", new_secret, &[]).await.0, 401);
    let events = s.audit_events(&["client_created", "client_updated", "client_secret_rotated", "client_removed"]).await;
    assert!(events.contains(&"client_updated"), "{events:?}");
}

#[tokio::test]
async fn bad_clients_are_refused_by_field_and_roles_stay_with_admin() {
    let s = TestServer::start_with(&config()).await;
    let registry = role_token(&s, CLIENT_ADMIN).await;
    let post = |b: Value| call(&s, "POST", paths::ADMIN_CLIENTS, &registry, Some(b));
    let (status, body) = post(json!({ "id": "spa2", "public": true, "grant_types": ["authorization_code"], "redirect_uris": ["https://spa.example/cb#frag"] })).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("redirect_uris")), "{body}");
    let (status, body) = post(json!({ "id": "x", "scopes": "one" })).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("scopes")), "{body}");
    let (status, body) = post(json!({ "id": "x", "secret": "mine" })).await;
    assert!(status == 400 && body["error_description"].as_str().unwrap().contains("`secret`"), "{body}");
    assert_eq!(post(json!({ "scopes": [] })).await.1["field"], "id");
    assert_eq!(post(json!({ "id": "web" })).await.0, 409, "a config client's id");

    // A public client has no secret to rotate.
    let (status, spa) =
        post(json!({ "id": "spa2", "public": true, "redirect_uris": ["https://spa2.example/cb"] })).await;
    assert!(status == 201 && spa.get("client_secret").is_none(), "{spa}");
    let (status, body) = call(&s, "POST", &format!("{}/spa2/secret", paths::ADMIN_CLIENTS), &registry, None).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("no_secret")), "{body}");

    // Roles are admin's to give, and a client holding one is admin's to change.
    let (status, body) = post(json!({ "id": "robot", "roles": ["auditor"] })).await;
    assert_eq!((status, body["role"].as_str()), (403, Some("admin")), "{body}");
    let (status, robot) =
        call(&s, "POST", paths::ADMIN_CLIENTS, ADMIN, Some(json!({ "id": "robot", "roles": ["auditor"] }))).await;
    assert_eq!(status, 201, "{robot}");
    let robot_path = format!("{}/robot", paths::ADMIN_CLIENTS);
    assert_eq!(call(&s, "POST", &format!("{robot_path}/secret"), &registry, None).await.0, 403);
    assert_eq!(call(&s, "DELETE", &robot_path, &registry, None).await.0, 403);
    let secret = robot["client_secret"].as_str().unwrap();
    assert_eq!(token(&s, "robot", secret, &[("audience", "gatehouse-admin")]).await.0, 200);

    // Another role does not reach the clients.
    let people = role_token(&s, PEOPLE).await;
    let (status, body) = call(&s, "GET", paths::ADMIN_CLIENTS, &people, None).await;
    assert_eq!((status, body["role"].as_str()), (403, Some("client-admin")), "{body}");
}
