//! `POST /admin/backup` of a running server, `gatehouse restore` into an empty store, and a
//! server on the restored store that knows everything the first one acknowledged.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, run_cli, write_config};
use serde_json::Value;

const ADMIN: &str = "backup-admin-token-0123456789abcdef";
const ISSUER: &str = "http://localhost:9555";

fn config() -> String {
    let base = browser_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"));
    format!("{base}\n[admin]\ntoken_sha256 = \"{}\"\n", sha256_hex(ADMIN.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_backup_restores_into_a_working_server() {
    let s = TestServer::start_with(&config()).await;
    let b = Browser::with_issuer(&s.base, ISSUER);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid offline_access"),
    ];
    let code = query_param(&b.sign_in(&params, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (_, tokens) = redeem(&b.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let revoked = s.svc_token(&[]).await;
    assert_eq!(s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", revoked.as_str())]).await.status(), 200);
    let jwks: Value = s.get_json(paths::JWKS).await;

    let r = s.http.post(s.url(paths::ADMIN_BACKUP)).send().await.unwrap();
    assert_eq!(r.status(), 401, "admin token required");
    let r = s.http.post(s.url(paths::ADMIN_BACKUP)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let backup = r.bytes().await.unwrap();
    assert!(backup.starts_with(b"{\"format\":\"gatehouse-backup\""));
    s.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.backup");
    std::fs::write(&file, &backup).unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", &config());
    let cfg_s = cfg.display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "restore", &file.display().to_string(), "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("audit chain ok"), "{out}");
    let (code, _, err) = run_cli(&["gatehouse", "restore", &file.display().to_string(), "--config", &cfg_s]);
    assert_ne!(code, 0);
    assert!(err.contains("restore needs an empty store"), "{err}");

    let restored = TestServer::start_in(dir, &config()).await;
    assert_eq!(restored.get_json::<Value>(paths::JWKS).await, jwks, "the same keys");
    let r = restored
        .post_basic(
            paths::TOKEN,
            WEB_ID,
            WEB_SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200, "the refresh token is in the backup");
    let (status, v) = restored.verify(serde_json::json!({ "token": revoked })).await;
    assert_eq!((status, v["reason"].as_str()), (401, Some("revoked")), "the revocation is in the backup");
    let names = restored.audit_events(&["store_restored", "backup_created"]).await;
    assert!(names.contains(&"store_restored") && names.contains(&"login_succeeded"), "{names:?}");
}

#[test]
fn offline_backups_round_trip_and_damaged_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", "[store]\npath = \"data\"\n");
    let cfg_s = cfg.display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "clients", "add", "offline", "--scope", "s", "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    let file = dir.path().join("b.jsonl").display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "backup", &file, "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("backup:"), "{err}");

    let other = tempfile::tempdir().unwrap();
    let cfg2 = write_config(other.path(), "gatehouse.toml", "[store]\npath = \"data\"\n").display().to_string();
    let text = std::fs::read_to_string(&file).unwrap();
    let damaged = other.path().join("damaged.jsonl");
    std::fs::write(&damaged, text.replace("offline", "offlinX")).unwrap();
    let (code, _, err) = run_cli(&["gatehouse", "restore", &damaged.display().to_string(), "--config", &cfg2]);
    assert_ne!(code, 0);
    assert!(err.contains("altered or damaged"), "{err}");
    let (code, out, err) = run_cli(&["gatehouse", "restore", &file, "--config", &cfg2]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restored"), "{out}");
    let (_, out, _) = run_cli(&["gatehouse", "clients", "list", "--config", &cfg2]);
    assert!(out.contains("offline"), "{out}");
}
