//! Rate limits on failed authentication and failed verification.

use gatehouse::paths;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, standard_config};
use serde_json::{Value, json};

fn limited_config() -> String {
    format!("{}\n[rate_limits]\nfailed_auth_per_ip = \"3/min\"\nfailed_verify_per_ip = \"2/min\"\n", standard_config())
}

#[tokio::test]
async fn repeated_failed_authentication_gets_429_but_good_credentials_still_pass() {
    let s = TestServer::start_with(&limited_config()).await;
    for _ in 0..3 {
        let r = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
        assert_eq!(r.status(), 401);
    }
    let r = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string() && body["error_description"].is_string());
    // Over the address's limit, failures are slowed; correct credentials are not refused.
    let r = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 200, "a correct secret is never locked out by failures");
}

#[tokio::test]
async fn default_limits_leave_room_for_a_handful_of_failures() {
    let s = TestServer::start().await;
    for _ in 0..10 {
        let r = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
        assert_eq!(r.status(), 401);
    }
    s.svc_token(&[]).await;
}

#[tokio::test]
async fn failed_verifications_are_limited_per_ip() {
    let s = TestServer::start_with(&limited_config()).await;
    assert_eq!(s.verify(json!({ "token": "x" })).await.0, 401);
    assert_eq!(s.verify(json!({ "token": "x" })).await.0, 401);
    let (status, v) = s.verify(json!({ "token": "x" })).await;
    assert_eq!((status, v["error"].as_str()), (429, Some("too_many_requests")));
}

#[tokio::test]
async fn success_limits_apply_only_when_configured() {
    let s =
        TestServer::start_with(&format!("{}\n[rate_limits]\ntoken_per_client = \"2/min\"\n", standard_config())).await;
    s.svc_token(&[]).await;
    s.svc_token(&[]).await;
    let r = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429);
}

const ADMIN: &str = "limits-admin-token-0123456789abcdef";

/// A client that authenticates from the loopback address `from` (127.0.0.x).
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(from)).build().unwrap()
}

async fn token_from(s: &TestServer, from: [u8; 4], secret: &str) -> u16 {
    let r = gatehouse_tests::post_basic(
        &client_from(from),
        &s.url(paths::TOKEN),
        SVC_ID,
        secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    r.status().as_u16()
}

#[tokio::test]
async fn a_client_flooded_from_another_address_is_still_served() {
    let config = format!(
        "{}\n[rate_limits]\nfailed_auth_per_client = \"5/min\"\nfailed_auth_per_ip = \"5/min\"\n",
        standard_config()
    );
    let s = TestServer::start_with(&config).await;
    // Wrong secrets for `svc` from 127.0.0.2 until it is slowed, then blocked for that pair.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(token_from(&s, [127, 0, 0, 2], "wrong").await);
    }
    assert!(statuses.contains(&401) && statuses.ends_with(&[429, 429]), "{statuses:?}");
    // The flooding address is refused even with the right secret: it is blocked for `svc`.
    assert_eq!(token_from(&s, [127, 0, 0, 2], SVC_SECRET).await, 429);
    // Every correct request from elsewhere passes, although the client is over its limit.
    for _ in 0..10 {
        assert_eq!(token_from(&s, [127, 0, 0, 3], SVC_SECRET).await, 200);
    }
    // A wrong secret from elsewhere is slowed (the client is over its failure limit).
    assert_eq!(token_from(&s, [127, 0, 0, 3], "wrong").await, 429);
}

#[tokio::test]
async fn client_failures_never_block_the_admin_token_nor_other_clients_of_the_address() {
    let config = format!(
        "{}\n[rate_limits]\nfailed_auth_per_ip = \"30/min\"\n[admin]\ntoken_sha256 = \"{}\"\n",
        standard_config(),
        gatehouse::secret::sha256_hex(ADMIN.as_bytes())
    );
    let s = TestServer::start_with(&config).await;
    for _ in 0..35 {
        s.post_basic(paths::TOKEN, "bystander", "wrong", &[("grant_type", "client_credentials")]).await;
    }
    let r = s.post_basic(paths::TOKEN, "bystander", "wrong", &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429, "the address is over its failure limit");
    assert_eq!(token_from(&s, [127, 0, 0, 1], SVC_SECRET).await, 200, "another client from the same address");
    let plugins = s.http.get(s.url("/admin/plugins")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(plugins.status(), 200, "the admin token is not blocked by client failures");
    // Admin failures have their own count, and a right token still passes after them.
    for _ in 0..35 {
        s.http.get(s.url("/admin/plugins")).bearer_auth("wrong").send().await.unwrap();
    }
    let r = s.http.get(s.url("/admin/plugins")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let r = s.http.get(s.url("/admin/plugins")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_limits_and_audit_use_the_forwarded_address() {
    let config = format!(
        "{}\n[rate_limits]\nfailed_auth_per_ip = \"3/min\"\n",
        standard_config().replace("[server]\n", "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n")
    );
    let s = TestServer::start_with(&config).await;
    let via_proxy = |client: &'static str, secret: &'static str| {
        s.http
            .post(s.url(paths::TOKEN))
            .header("x-forwarded-for", client)
            .basic_auth(SVC_ID, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    // Failures of one caller behind the proxy...
    for _ in 0..3 {
        assert_eq!(via_proxy("198.51.100.7", "wrong").await.unwrap().status(), 401);
    }
    assert_eq!(via_proxy("198.51.100.7", "wrong").await.unwrap().status(), 429);
    // ...do not slow another caller behind the same proxy.
    assert_eq!(via_proxy("203.0.113.9", "wrong").await.unwrap().status(), 401);
    let records = failure_ips(&s, 5).await;
    assert!(
        records.iter().any(|ip| ip == "198.51.100.7") && records.iter().any(|ip| ip == "203.0.113.9"),
        "{records:?}"
    );
    // From an address that is not a trusted proxy the header is ignored.
    let r = client_from([127, 0, 0, 2])
        .post(s.url(paths::TOKEN))
        .header("x-forwarded-for", "192.0.2.1")
        .basic_auth(SVC_ID, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let records = failure_ips(&s, 6).await;
    assert!(records.iter().any(|ip| ip == "127.0.0.2") && !records.iter().any(|ip| ip == "192.0.2.1"), "{records:?}");
}

/// The addresses of the `client_auth_failed` audit records, once there are at least `n`.
async fn failure_ips(s: &TestServer, n: usize) -> Vec<String> {
    let mut ips = Vec::new();
    for _ in 0..50 {
        ips = gatehouse::audit::all_records(s.state.db.audit(), 0)
            .await
            .expect("audit records")
            .into_iter()
            .filter(|r| r.event.name() == "client_auth_failed")
            .filter_map(|r| r.actor.ip)
            .collect();
        if ips.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ips
}
