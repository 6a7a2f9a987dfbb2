//! Browser sign-in state survives `kill -9` of a spawned server: a refresh token issued
//! before the kill still works after restart, a code redeemed before it stays spent, and a
//! session survives.

use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::{ChildServer, write_config};

const ISSUER: &str = "http://localhost:9443";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_spent_codes_and_sessions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let toml = browser_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"));
    let cfg = write_config(dir.path(), "gatehouse.toml", &toml);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid offline_access"),
    ];

    let first = ChildServer::spawn(&cfg);
    let b = Browser::with_issuer(&first.base, ISSUER);
    let code = query_param(&b.sign_in(&params, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (status, tokens) = redeem(&b.http, &first.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A second code, issued and not yet redeemed, from the same session (SSO).
    let unredeemed = query_param(b.authorize(&params).await.location.as_deref().unwrap(), "code").unwrap();
    first.kill9();

    let second = ChildServer::spawn(&cfg);
    let (status, body) = redeem(&b.http, &second.base, (WEB_ID, WEB_SECRET), &unredeemed, WEB_CB, None).await;
    assert_eq!(status, 200, "an issued code survived: {body}");
    let resp = gatehouse_tests::post_basic(
        &b.http,
        &second.url(paths::TOKEN),
        WEB_ID,
        WEB_SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())],
    )
    .await;
    assert_eq!(resp.status(), 200, "the refresh token survived");
    let rotated: serde_json::Value = resp.json().await.unwrap();
    let refresh2 = rotated["refresh_token"].as_str().unwrap();
    let (status, body) = redeem(&b.http, &second.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a spent code stays spent");
    // ...and replaying it revoked the grant's (rotated) refresh token (RFC 6749 §4.1.2).
    let again = gatehouse_tests::post_basic(
        &b.http,
        &second.url(paths::TOKEN),
        WEB_ID,
        WEB_SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh2)],
    )
    .await;
    assert_eq!(again.status(), 400);
    let b2 = Browser { base: second.base.clone(), ..b };
    let sso = b2.authorize(&params).await;
    assert!(query_param(sso.location.as_deref().unwrap(), "code").is_some(), "the session survived");
    assert!(second.terminate(std::time::Duration::from_secs(10)).is_some());
}

/// Rotates one refresh chain until the server dies; returns the last refresh token whose
/// rotation was acknowledged (200).
async fn rotate_until_killed(base: String, first: String) -> Option<String> {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(2)).build().unwrap();
    let mut last = None;
    let mut current = first;
    for _ in 0..2000 {
        let form = [("grant_type", "refresh_token"), ("refresh_token", current.as_str())];
        let Ok(r) =
            http.post(format!("{base}{}", paths::TOKEN)).basic_auth(WEB_ID, Some(WEB_SECRET)).form(&form).send().await
        else {
            break;
        };
        let Ok(body) = r.json::<serde_json::Value>().await else { break };
        let Some(next) = body["refresh_token"].as_str() else { break };
        current = next.to_owned();
        last = Some(current.clone());
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_refresh_rotations_survive_repeated_kill_9_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let toml = browser_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"));
    let cfg = write_config(dir.path(), "gatehouse.toml", &toml);
    let params =
        [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "offline_access")];
    let mut acknowledged = Vec::new();
    for _round in 0..3 {
        let server = ChildServer::spawn(&cfg);
        let mut chains = Vec::new();
        for _ in 0..4 {
            let b = Browser::with_issuer(&server.base, ISSUER);
            let code = query_param(&b.code_redirect(&params, ALICE, ALICE_PASSWORD).await, "code").unwrap();
            let (_, tokens) = redeem(&b.http, &server.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
            let first = tokens["refresh_token"].as_str().unwrap().to_owned();
            chains.push(tokio::spawn(rotate_until_killed(server.base.clone(), first)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        server.kill9();
        for c in chains {
            acknowledged.extend(c.await.unwrap());
        }
    }
    assert!(acknowledged.len() >= 6, "the load ran ({} chains acknowledged a rotation)", acknowledged.len());
    // Every acknowledged rotation's new token is in the store (white-box: a later rotation
    // that was cut off by the kill may have spent it, so only its presence is checked).
    let store = gatehouse::store::SledStore::open(&dir.path().join("data")).unwrap();
    use gatehouse::store::browser::SyncBrowser as _;
    for token in &acknowledged {
        let digest = gatehouse::secret::sha256(token.as_bytes());
        assert!(store.get_refresh(&digest).unwrap().is_some(), "an acknowledged refresh token was lost");
    }
    drop(store);
    let (code, _, err) =
        gatehouse_tests::run_cli(&["gatehouse", "audit", "verify", "--config", &cfg.display().to_string()]);
    assert_eq!(code, 0, "the audit chain verifies after the crashes: {err}");
}
