//! Acknowledged writes survive `kill -9` of a spawned server process.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::{ChildServer, run_cli, write_config};
use serde_json::{Value, json};

const SECRET: &str = "worker-secret-0123456789abcdefgh";
const ADMIN: &str = "durability-admin-token-0123456789";

async fn token(http: &reqwest::Client, s: &ChildServer, id: &str, secret: &str) -> String {
    gatehouse_tests::cc_token(http, &s.base, id, secret).await
}

async fn jwks(http: &reqwest::Client, s: &ChildServer) -> Value {
    http.get(s.url(paths::JWKS)).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_clients_and_revocations_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "gatehouse.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nissuer = \"http://localhost:9443\"\n[store]\npath = \"data\"\n[admin]\ntoken_sha256 = \"{}\"\n[[clients]]\nid = \"worker\"\nsecret_sha256 = \"{}\"\nscopes = [\"logs:write\"]\n",
            sha256_hex(ADMIN.as_bytes()),
            sha256_hex(SECRET.as_bytes())
        ),
    );
    let cfg_s = cfg.display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "clients", "add", "cli-client", "--scope", "s", "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    let cli_secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().trim().to_owned();

    let http = reqwest::Client::new();
    let first = ChildServer::spawn(&cfg);
    let revoked = token(&http, &first, "worker", SECRET).await;
    let kept = token(&http, &first, "cli-client", &cli_secret).await;
    let resp =
        gatehouse_tests::post_basic(&http, &first.url(paths::REVOKE), "worker", SECRET, &[("token", revoked.as_str())])
            .await;
    assert_eq!(resp.status(), 200);
    let resp = http.post(first.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let keys_before = jwks(&http, &first).await;
    assert_eq!(keys_before["keys"].as_array().unwrap().len(), 4);
    first.kill9();

    let second = ChildServer::spawn(&cfg);
    assert_eq!(jwks(&http, &second).await, keys_before, "keys and the rotation survived");
    let v: Value = http
        .post(second.url(paths::VERIFY))
        .json(&json!({ "token": revoked }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["reason"], "revoked", "the revocation survived");
    let v: Value = http.post(second.url(paths::VERIFY)).bearer_auth(&kept).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["active"], true, "tokens signed before the kill still verify");
    token(&http, &second, "cli-client", &cli_secret).await;
}
