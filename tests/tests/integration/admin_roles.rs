//! Admin API roles: a client with `roles` gets client_credentials tokens for the audience
//! `gatehouse-admin`, which the admin routes accept for the roles they need (403 naming the
//! role otherwise); the `[admin]` token keeps every role; a token for another audience, a
//! revoked one, or a client without roles gets nowhere.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, standard_config};
use serde_json::Value;

const ADMIN: &str = "roles-admin-token-0123456789abcdef";
const AUDITOR: (&str, &str) = ("ops-auditor", "ops-auditor-secret-0123456789abcd");
const OPS: (&str, &str) = ("ops-admin", "ops-admin-secret-0123456789abcdefg");

fn config() -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"auditor\"]\n\
         [[clients]]\nid = \"{}\"\nsecret = \"{}\"\nroles = [\"admin\"]\n",
        standard_config(),
        sha256_hex(ADMIN.as_bytes()),
        AUDITOR.0,
        AUDITOR.1,
        OPS.0,
        OPS.1
    )
}

/// A client_credentials token of `client` for `audience`: status and answer.
async fn token(s: &TestServer, client: (&str, &str), audience: &str) -> (u16, Value) {
    let form = [("grant_type", "client_credentials"), ("audience", audience)];
    let r = s.post_basic(paths::TOKEN, client.0, client.1, &form).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn admin_token(s: &TestServer, client: (&str, &str)) -> String {
    let (status, body) = token(s, client, "gatehouse-admin").await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(s: &TestServer, method: &str, path: &str, bearer: &str) -> (u16, Value) {
    let req = match method {
        "POST" => s.http.post(s.url(path)),
        _ => s.http.get(s.url(path)),
    };
    let r = req.bearer_auth(bearer).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn admin_routes_take_tokens_of_clients_with_the_role_they_need() {
    let s = TestServer::start_with(&config()).await;
    let auditor = admin_token(&s, AUDITOR).await;
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT, &auditor).await.0, 200);
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT_VERIFY, &auditor).await.0, 200);
    let (status, body) = call(&s, "POST", paths::ADMIN_KEYS_ROTATE, &auditor).await;
    assert_eq!(
        (status, body["error"].as_str(), body["role"].as_str()),
        (403, Some("insufficient_role"), Some("admin"))
    );
    assert_eq!(call(&s, "GET", paths::ADMIN_PLUGINS, &auditor).await.0, 403);

    // `admin` may do everything, and is named in the audit log.
    let ops = admin_token(&s, OPS).await;
    assert_eq!(call(&s, "POST", paths::ADMIN_KEYS_ROTATE, &ops).await.0, 200);
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT, &ops).await.0, 200);
    let (_, page) = call(&s, "GET", &format!("{}?type=keys_rotated", paths::ADMIN_AUDIT), ADMIN).await;
    assert_eq!(page["records"][0]["actor"]["who"], "client:ops-admin", "{page}");

    // Revoked: no longer accepted.
    let r = s.post_basic(paths::REVOKE, AUDITOR.0, AUDITOR.1, &[("token", auditor.as_str())]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(call(&s, "GET", paths::ADMIN_AUDIT, &auditor).await.0, 401);
}

#[tokio::test]
async fn tokens_for_other_audiences_and_clients_without_roles_get_nowhere() {
    let s = TestServer::start_with(&config()).await;
    // A client without roles cannot ask for the admin audience.
    let (status, body) = token(&s, (SVC_ID, SVC_SECRET), "gatehouse-admin").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    // A valid token of another audience is no admin credential.
    let svc = gatehouse_tests::cc_token(&s.http, &s.base, SVC_ID, SVC_SECRET).await;
    let (status, body) = call(&s, "GET", paths::ADMIN_AUDIT, &svc).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")));
    // The bootstrap token keeps every role.
    assert_eq!(call(&s, "POST", paths::ADMIN_KEYS_ROTATE, ADMIN).await.0, 200);
}

#[tokio::test]
async fn an_unknown_role_or_a_role_without_client_credentials_stops_the_start() {
    let bad = config().replace("roles = [\"auditor\"]", "roles = [\"root\"]");
    let err = TestServer::try_start_with(&bad).await.err().expect("refused");
    assert!(err.contains(".roles[0]") && err.contains("`root` is not a role"), "{err}");
    let web = format!(
        "{}\n[[clients]]\nid = \"web-ops\"\nsecret = \"web-ops-secret-0123456789abcdefgh\"\n\
         redirect_uris = [\"https://ops.example/cb\"]\ngrant_types = [\"authorization_code\"]\nroles = [\"admin\"]\n",
        standard_config()
    );
    let err = TestServer::try_start_with(&web).await.err().expect("refused");
    assert!(err.contains(".roles") && err.contains("client_credentials"), "{err}");
}
