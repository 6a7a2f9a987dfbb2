//! Moving a deployment from sled to PostgreSQL: `gatehouse store copy` carries everything
//! (signing keys, sessions, refresh tokens, the audit chain), the server on the copy takes
//! over where the old one stopped, a second copy into the filled database is refused, and a
//! PostgreSQL store backs up while its server runs and restores into sled.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::pg::{fresh_url, on_postgres};
use gatehouse_tests::{TestServer, run_cli, write_config};
use serde_json::{Value, json};

const ISSUER: &str = "http://localhost:9443";
const ADMIN: &str = "copy-admin-token-0123456789abcdefgh";
const PARAMS: [(&str, &str); 4] =
    [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid offline_access")];

fn sled_config() -> String {
    let toml = browser_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"));
    format!("{toml}\n[admin]\ntoken_sha256 = \"{}\"\n", sha256_hex(ADMIN.as_bytes()))
}

async fn cli(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sled_deployment_moves_to_postgres_and_carries_on() {
    let Some(url) = fresh_url().await else { return };
    let old = TestServer::start_with(&sled_config()).await;
    let b = Browser::with_issuer(&old.base, ISSUER);
    let auth_code = query_param(&b.sign_in(&PARAMS, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (_, tokens) = redeem(&b.http, &old.base, (WEB_ID, WEB_SECRET), &auth_code, WEB_CB, None).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let jwks: Value = old.get_json(paths::JWKS).await;
    let dir = old.stop().await;
    let from = dir.path().join("gatehouse.toml").display().to_string();
    let to = write_config(dir.path(), "pg.toml", &on_postgres(&sled_config(), &url)).display().to_string();

    let (code, out, err) = cli(vec![
        "gatehouse".into(),
        "store".into(),
        "copy".into(),
        "--from".into(),
        from.clone(),
        "--to".into(),
        to.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("copied ") && out.contains("to postgres ") && out.contains("audit chain ok"), "{out}");

    let new = TestServer::start_with(&on_postgres(&sled_config(), &url)).await;
    assert_eq!(new.get_json::<Value>(paths::JWKS).await, jwks, "the same signing keys");
    assert_eq!(new.verify(json!({ "token": access })).await.0, 200, "tokens issued before the move verify");
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let resp = new.post_basic(paths::TOKEN, WEB_ID, WEB_SECRET, &form).await;
    assert_eq!(resp.status(), 200, "the refresh token works on the copy");
    let (status, body) = redeem(&new.http, &new.base, (WEB_ID, WEB_SECRET), &auth_code, WEB_CB, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a spent code stays spent");
    let b = Browser { base: new.base.clone(), ..b };
    let to_rp = b.authorize(&PARAMS).await.location.unwrap();
    assert!(query_param(&to_rp, "code").is_some(), "the session moved too: {to_rp}");
    let resp = new.http.get(new.url(paths::ADMIN_AUDIT_VERIFY)).bearer_auth(ADMIN).send().await.unwrap();
    let verified: Value = resp.json().await.unwrap();
    assert_eq!(verified["ok"], true, "{verified}");

    let (code, _, err) =
        cli(vec!["gatehouse".into(), "store".into(), "copy".into(), "--from".into(), from, "--to".into(), to.clone()])
            .await;
    assert_eq!(code, 1);
    assert!(err.contains("must be empty"), "{err}");

    // A PostgreSQL store backs up while its server runs; the file restores into sled.
    let file = dir.path().join("pg.backup").display().to_string();
    let (code, _, err) = cli(vec!["gatehouse".into(), "backup".into(), file.clone(), "--config".into(), to]).await;
    assert_eq!(code, 0, "{err}");
    let fresh = write_config(dir.path(), "fresh.toml", &sled_config().replace("path = \"data\"", "path = \"fresh\""));
    let (code, out, err) =
        cli(vec!["gatehouse".into(), "restore".into(), file, "--config".into(), fresh.display().to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("into sled ") && out.contains("audit chain ok"), "{out}");
}
