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

/// Issues and revokes tokens from `workers` concurrent tasks until the server dies; returns
/// the tokens whose revocation was acknowledged (200).
async fn revoke_until_killed(base: String, workers: usize) -> Vec<String> {
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (base, acked) = (base.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(2)).build().unwrap();
            // Bounded: stops at the first error (the kill), or after 2000 rounds.
            for _ in 0..2000 {
                let Ok(r) = http
                    .post(format!("{base}{}", paths::TOKEN))
                    .basic_auth("worker", Some(SECRET))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                else {
                    break;
                };
                let Ok(body) = r.json::<Value>().await else { break };
                let Some(token) = body["access_token"].as_str().map(str::to_owned) else { break };
                let revoked = http
                    .post(format!("{base}{}", paths::REVOKE))
                    .basic_auth("worker", Some(SECRET))
                    .form(&[("token", token.as_str())])
                    .send()
                    .await;
                match revoked {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(token),
                    _ => break,
                }
            }
        }));
    }
    // The caller kills the server; wait for every task to notice.
    for h in tasks {
        let _ = h.await;
    }
    std::mem::take(&mut *acknowledged.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_revocations_survive_repeated_kill_9_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "gatehouse.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nissuer = \"http://localhost:9443\"\n[store]\npath = \"data\"\n[rate_limits]\nfailed_verify_per_ip = \"100000/min\"\n[[clients]]\nid = \"worker\"\nsecret_sha256 = \"{}\"\n",
            sha256_hex(SECRET.as_bytes())
        ),
    );
    let mut acknowledged = Vec::new();
    for _round in 0..3 {
        let server = ChildServer::spawn(&cfg);
        let load = tokio::spawn(revoke_until_killed(server.base.clone(), 6));
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        server.kill9();
        acknowledged.extend(load.await.unwrap());
    }
    assert!(acknowledged.len() >= 10, "the load ran ({} acknowledged)", acknowledged.len());

    let server = ChildServer::spawn(&cfg);
    let http = reqwest::Client::new();
    for token in &acknowledged {
        let v: Value =
            http.post(server.url(paths::VERIFY)).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["reason"], "revoked", "an acknowledged revocation was lost: {v}");
    }
    assert_eq!(server.terminate(std::time::Duration::from_secs(10)), Some(0));
    let (code, out, err) = run_cli(&["gatehouse", "audit", "verify", "--config", &cfg.display().to_string()]);
    assert_eq!(code, 0, "the audit chain verifies after the crashes: {err}");
    let n = gatehouse_tests::verified_records(&out);
    assert!(n >= acknowledged.len(), "every acknowledged revocation has its record ({n} records)");
}
