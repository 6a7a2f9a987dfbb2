//! Prometheus metrics report what the server did.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, standard_config};

const ADMIN: &str = "metrics-admin-token-0123456789abcdef";

/// The value of the sample line that starts with `series` (exact labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_tokens_failures_limits_and_flushes() {
    let toml = format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n[rate_limits]\nfailed_auth_per_client = \"2/min\"\n",
        standard_config(),
        sha256_hex(ADMIN.as_bytes())
    );
    let s = TestServer::start_with(&toml).await;
    let t = s.svc_token(&[]).await;
    s.svc_token(&[]).await;
    assert_eq!(s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", t.as_str())]).await.status(), 200);
    for expected in [401, 401, 429] {
        let r = s.post_basic(paths::TOKEN, "bystander", "wrong", &[("grant_type", "client_credentials")]).await;
        assert_eq!(r.status(), expected);
    }
    assert_eq!(s.http.get(s.url("/no/such/path/1234")).send().await.unwrap().status(), 404);

    assert_eq!(s.http.get(s.url(paths::METRICS)).send().await.unwrap().status(), 401, "admin token required");
    let r = s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let v = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no `{series}` in\n{text}"));
    assert_eq!(v(r#"gatehouse_http_requests_total{route="/token",method="POST",status="200"}"#), 2.0);
    assert_eq!(v(r#"gatehouse_http_requests_total{route="/token",method="POST",status="401"}"#), 2.0);
    assert_eq!(v(r#"gatehouse_http_requests_total{route="unmatched",method="GET",status="404"}"#), 1.0);
    assert_eq!(v(r#"gatehouse_tokens_issued_total{grant_type="client_credentials",client_id="svc"}"#), 2.0);
    assert_eq!(v("gatehouse_client_auth_failures_total"), 3.0);
    assert!(v(r#"gatehouse_rate_limited_total{limit="failed_auth"}"#) >= 1.0);
    assert!(v(r#"gatehouse_http_request_duration_seconds_count{route="/token"}"#) >= 5.0);
    assert!(v("gatehouse_store_flush_duration_seconds_count") >= 1.0, "the revocation was flushed");
    assert!(v("gatehouse_process_resident_memory_bytes") > 1_000_000.0);
    assert!(!text.contains("/no/such/path"), "unmatched paths do not become labels");
}

#[tokio::test]
async fn a_separate_metrics_listener_serves_without_authentication() {
    let toml = format!("{}\n[metrics]\nbind = \"127.0.0.1:0\"\n", standard_config());
    let s = TestServer::start_with(&toml).await;
    s.svc_token(&[]).await;
    let base = s.metrics_base.clone().expect("metrics listener bound");
    let text = s.http.get(format!("{base}{}", paths::METRICS)).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        sample(&text, r#"gatehouse_tokens_issued_total{grant_type="client_credentials",client_id="svc"}"#),
        Some(1.0)
    );
    assert_eq!(s.http.get(s.url(paths::METRICS)).send().await.unwrap().status(), 404, "not on the public listener");
}

#[tokio::test]
async fn open_sessions_are_counted_at_each_scrape() {
    use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, browser_config};
    let toml = format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n", browser_config(), sha256_hex(ADMIN.as_bytes()));
    let s = TestServer::start_with(&toml).await;
    let scrape = || async {
        let text = s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
        sample(&text, "gatehouse_open_sessions").unwrap_or_else(|| panic!("no gauge in\n{text}"))
    };
    assert_eq!(scrape().await, 0.0);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    for _ in 0..2 {
        Browser::new(&s.base).sign_in(&params, ALICE, ALICE_PASSWORD).await;
    }
    assert_eq!(scrape().await, 2.0, "two browsers, two sessions");
    // Past the idle timeout (8 h by default) they no longer count.
    s.clock.advance(std::time::Duration::from_secs(9 * 3600));
    assert_eq!(scrape().await, 0.0);
}
