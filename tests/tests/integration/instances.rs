//! Several instances on one PostgreSQL database behave as one server: a code, a refresh
//! token and a login flow are single-use across them; revocation, key rotation, sessions,
//! lockouts, clients and users added by the CLI and the audit chain are shared; two instances
//! starting at once make one key set; and a database outage is a 503 with `Retry-After`
//! that ends on its own when the database is back.

use std::time::Duration;

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::pg::{fresh_url, on_postgres};
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, jwt_parts, run_cli, write_config};
use serde_json::{Value, json};

const ISSUER: &str = "http://localhost:9443";
const ADMIN: &str = "instances-admin-token-0123456789abc";
const PARAMS: [(&str, &str); 4] =
    [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid offline_access")];

/// The browser config with one issuer (the address a load balancer would serve), an admin
/// token and generous per-process rate limits (so that the shared lockout is what limits).
fn config(url: &str) -> String {
    let toml = browser_config()
        .replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"))
        .replace("[login]\n", "[login]\nfailed_per_ip = \"1000/min\"\nfailed_per_user = \"1000/min\"\n");
    format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n", on_postgres(&toml, url), sha256_hex(ADMIN.as_bytes()))
}

/// Two servers on one fresh schema (None when PostgreSQL is not installed).
async fn pair() -> Option<(TestServer, TestServer)> {
    let url = fresh_url().await?;
    let a = TestServer::start_with(&config(&url)).await;
    let b = TestServer::start_with(&config(&url)).await;
    Some((a, b))
}

/// A browser whose cookie jar is `other`'s, talking to `base` (cookies do not depend on
/// the port, so this is one person whose requests the balancer sends elsewhere).
fn same_person(other: &Browser, base: &str) -> Browser {
    Browser { http: other.http.clone(), base: base.to_owned(), issuer: Some(ISSUER.to_owned()) }
}

async fn refresh(s: &TestServer, token: &str) -> (u16, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    let resp = s.post_basic(paths::TOKEN, WEB_ID, WEB_SECRET, &form).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_refresh_tokens_and_sessions_are_one_across_instances() {
    let Some((a, b)) = pair().await else { return };
    let on_a = Browser::with_issuer(&a.base, ISSUER);
    let code = query_param(&on_a.sign_in(&PARAMS, ALICE, ALICE_PASSWORD).await, "code").unwrap();

    // The code, issued by A, is redeemed by B, once.
    let (status, tokens) = redeem(&b.http, &b.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, again) = redeem(&a.http, &a.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")), "{again}");
    // The replay revoked what the code granted, on both.
    let first_refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&b, first_refresh).await.0, 400, "replaying the code revoked its refresh token");

    // The session A set is good on B (SSO without a login page), and rotation is shared.
    let on_b = same_person(&on_a, &b.base);
    let to = on_b.authorize(&PARAMS).await.location.unwrap();
    let code = query_param(&to, "code").expect("B issues a code from A's session");
    let (_, tokens) = redeem(&b.http, &b.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(&a, &r1).await;
    assert_eq!(status, 200, "{rotated}");
    let r2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    // Reusing the rotated-out token on the other instance is detected and ends the family.
    let (status, reuse) = refresh(&b, &r1).await;
    assert_eq!((status, reuse["error"].as_str()), (400, Some("invalid_grant")), "{reuse}");
    assert_eq!(refresh(&a, &r2).await.0, 400, "reuse revoked the family everywhere");

    // Two instances, one refresh token, at once: exactly one rotation wins.
    let to = on_b.authorize(&PARAMS).await.location.unwrap();
    let code = query_param(&to, "code").unwrap();
    let (_, tokens) = redeem(&a.http, &a.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    let r = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (x, y) = tokio::join!(refresh(&a, &r), refresh(&b, &r));
    let mut statuses = [x.0, y.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{x:?} {y:?}");

    // Signing out on B ends the session A set.
    let page = on_b.get(paths::LOGOUT).await;
    let csrf = gatehouse_tests::browser::hidden(&page.body, "csrf").expect("logout form");
    let done = on_b.post(paths::LOGOUT, &[("csrf", &csrf), ("action", "logout")]).await;
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    let start = on_a.authorize(&PARAMS).await;
    assert!(start.location.unwrap().contains("/login?flow="), "A asks for a login again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flow_started_on_one_instance_finishes_on_the_other_once() {
    let Some((a, b)) = pair().await else { return };
    let on_a = Browser::with_issuer(&a.base, ISSUER);
    let start = on_a.authorize(&PARAMS).await;
    let page = on_a.get(start.location.as_deref().unwrap()).await;
    let on_b = same_person(&on_a, &b.base);
    let (x, y) =
        tokio::join!(on_a.submit_login(&page, ALICE, ALICE_PASSWORD), on_b.submit_login(&page, ALICE, ALICE_PASSWORD));
    let codes: Vec<String> =
        [&x, &y].iter().filter_map(|p| p.location.as_deref().and_then(|l| query_param(l, "code"))).collect();
    assert_eq!(codes.len(), 1, "one flow finishes once: {} {} / {} {}", x.status, x.body, y.status, y.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_and_key_rotation_on_one_instance_reach_the_other() {
    let Some((a, b)) = pair().await else { return };
    let token = a.svc_token(&[]).await;
    assert_eq!(b.verify(json!({ "token": token })).await.0, 200, "B verifies A's token");
    let resp = b.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", &token)]).await;
    assert_eq!(resp.status(), 200);
    let (status, body) = a.verify(json!({ "token": token })).await;
    assert_eq!((status, body["reason"].as_str()), (401, Some("revoked")), "{body}");
    assert_eq!(a.introspect("auditor", "auditor-secret-0123456789abcdefg", &token).await["active"], false);

    let old = b.svc_token(&[]).await;
    let old_kid = jwt_parts(&old).0["kid"].as_str().unwrap().to_owned();
    let resp = a.http.post(a.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // B reloads the key set every second: within five it signs with A's new key and
    // publishes it, and the old key keeps verifying.
    let mut new_kid = old_kid.clone();
    for _ in 0..50 {
        new_kid = jwt_parts(&b.svc_token(&[]).await).0["kid"].as_str().unwrap().to_owned();
        if new_kid != old_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(new_kid, old_kid, "B signs with the rotated key");
    let a_new = jwt_parts(&a.svc_token(&[]).await).0["kid"].as_str().unwrap().to_owned();
    assert_eq!(a_new, new_kid, "one current key for both");
    let jwks: Value = b.get_json(paths::JWKS).await;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
    assert!(kids.contains(&new_kid.as_str()) && kids.contains(&old_kid.as_str()), "{kids:?}");
    assert_eq!(a.verify(json!({ "token": old })).await.0, 200, "tokens signed before rotation verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_on_both_instances_count_toward_one_lockout() {
    let Some((a, b)) = pair().await else { return };
    for (i, s) in [&a, &a, &a, &b, &b].into_iter().enumerate() {
        let br = Browser::with_issuer(&s.base, ISSUER);
        let start = br.authorize(&PARAMS).await;
        let page = br.get(start.location.as_deref().unwrap()).await;
        let r = br.submit_login(&page, ALICE, &format!("wrong guess {i}")).await;
        assert_eq!(r.status, 200, "guess {i} is checked and wrong: {}", r.body);
    }
    for s in [&a, &b] {
        let br = Browser::with_issuer(&s.base, ISSUER);
        let start = br.authorize(&PARAMS).await;
        let page = br.get(start.location.as_deref().unwrap()).await;
        let r = br.submit_login(&page, ALICE, ALICE_PASSWORD).await;
        assert_eq!(r.status, 429, "five failures over two instances lock alice on each: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_and_users_added_by_the_cli_work_at_once_on_running_instances() {
    let url = match fresh_url().await {
        Some(u) => u,
        None => return,
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", &config(&url));
    let a = TestServer::start_with(&config(&url)).await;
    let b = TestServer::start_with(&config(&url)).await;
    let cfg = cfg.display().to_string();
    // With PostgreSQL the CLI works beside running servers (sled needs them stopped).
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&["gatehouse", "clients", "add", "reporter", "--scope", "r", "--config", &cfg])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().trim().to_owned();
    for s in [&a, &b] {
        let token = gatehouse_tests::cc_token(&s.http, &s.base, "reporter", &secret).await;
        assert_eq!(jwt_parts(&token).1["client_id"], "reporter");
    }
    // A user added the same way signs in through either instance.
    let cfg = dir.path().join("gatehouse.toml").display().to_string();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        gatehouse_tests::run_cli_with_stdin(
            &["gatehouse", "users", "add", "carol", "--config", &cfg],
            "carol's password 1\n",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    for s in [&b, &a] {
        let br = Browser::with_issuer(&s.base, ISSUER);
        let to = br.sign_in(&PARAMS, "carol", "carol's password 1").await;
        assert!(query_param(&to, "code").is_some(), "{to}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_chain_stays_whole_with_both_instances_writing() {
    let Some((a, b)) = pair().await else { return };
    // Failed client authentications are audited; twenty from each instance, at once.
    let form = [("grant_type", "client_credentials")];
    let x = (0..20).map(|_| a.post_basic(paths::TOKEN, SVC_ID, "wrong", &form));
    let y = (0..20).map(|_| b.post_basic(paths::TOKEN, SVC_ID, "wrong", &form));
    let (x, y) = tokio::join!(futures::future::join_all(x), futures::future::join_all(y));
    let refused = x.iter().chain(&y).filter(|r| r.status() == 401).count();
    assert!(x.iter().chain(&y).all(|r| r.status() == 401 || r.status() == 429));
    // Events of refused requests are written within a commit window: wait for all of them.
    let mut failures = 0;
    for _ in 0..100 {
        failures = gatehouse::audit::all_records(a.state.db.audit(), 0)
            .await
            .unwrap()
            .iter()
            .filter(|r| matches!(r.event, gatehouse::audit::AuditEvent::ClientAuthFailed { .. }))
            .count();
        if failures >= refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failures, refused, "every failure from either instance is in the one chain");
    for s in [&a, &b] {
        let resp = s.http.get(s.url(paths::ADMIN_AUDIT_VERIFY)).bearer_auth(ADMIN).send().await.unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["ok"], true, "{body}");
        assert!(body["records"].as_u64().unwrap() >= refused as u64, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_make_one_key_set() {
    let Some(url) = fresh_url().await else { return };
    let toml = config(&url);
    let (a, b) = tokio::join!(TestServer::start_with(&toml), TestServer::start_with(&toml));
    let ja: Value = a.get_json(paths::JWKS).await;
    let jb: Value = b.get_json(paths::JWKS).await;
    assert_eq!(ja, jb, "one key set");
    let token = a.svc_token(&[]).await;
    assert_eq!(b.verify(json!({ "token": token })).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_is_a_503_with_retry_after_and_recovery_is_automatic() {
    let Some(mut cluster) = gatehouse::store::pg_testing::private() else { return };
    let url = cluster.fresh_url().await;
    // Short store timeouts so the outage is noticed quickly.
    let toml = config(&url).replace("[store]\n", "[store]\npool_size = 4\n");
    let s = TestServer::start_with(&toml).await;
    let token = s.svc_token(&[]).await;
    cluster.stop();

    // Revoking writes to the store, and verifying reads the revocation list: both wait.
    let resp = s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", &token)]).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some(), "{:?}", resp.headers());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let (status, body) = s.verify(json!({ "token": token })).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    let ready = s.http.get(s.url(paths::READY)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the database is away");
    // What needs no database keeps answering: discovery, the keys, liveness, and tokens
    // for clients of the config file (issuing writes nothing).
    for path in [paths::DISCOVERY, paths::JWKS, paths::PING] {
        assert_eq!(s.http.get(s.url(path)).send().await.unwrap().status(), 200, "{path}");
    }
    assert!(!s.svc_token(&[]).await.is_empty());
    let br = Browser::with_issuer(&s.base, ISSUER);
    let start = br.authorize(&PARAMS).await;
    assert_eq!(start.status, 503, "a person gets a page saying to retry: {}", start.body);

    cluster.start();
    let mut last = 0;
    for _ in 0..100 {
        let resp = s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", &token)]).await;
        last = resp.status().as_u16();
        if last == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, 200, "revocation works again once the database is back");
    let (status, body) = s.verify(json!({ "token": token })).await;
    assert_eq!((status, body["reason"].as_str()), (401, Some("revoked")), "{body}");
    assert_eq!(s.http.get(s.url(paths::READY)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_rotation_happens_once_for_all_instances() {
    let Some(url) = fresh_url().await else { return };
    let toml = format!("{}\n[keys]\nrotate_every = \"1h\"\n", config(&url));
    let (a, b) = (TestServer::start_with(&toml).await, TestServer::start_with(&toml).await);
    let kids = |s: &TestServer| {
        let (http, url) = (s.http.clone(), s.url(paths::JWKS));
        async move {
            let jwks: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(kids(&a).await.len(), 2);
    // Both schedules come due at once.
    a.clock.advance(Duration::from_secs(3601));
    b.clock.advance(Duration::from_secs(3601));
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = kids(&a).await;
        if seen.len() > 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a second rotation time to happen, if one would.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (ka, kb) = (kids(&a).await, kids(&b).await);
    assert_eq!(ka.len(), 4, "one rotation: two new keys beside the two old ones: {ka:?} (first seen {seen:?})");
    assert_eq!(ka, kb, "both publish the same set");
    let audit = gatehouse::audit::all_records(a.state.db.audit(), 0).await.unwrap();
    let rotations =
        audit.iter().filter(|r| matches!(r.event, gatehouse::audit::AuditEvent::KeysRotated { .. })).count();
    assert_eq!(rotations, 1, "one instance rotated and recorded it");
}
