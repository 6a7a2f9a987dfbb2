//! Request ids, security headers, readiness, request limits and graceful shutdown.

use std::time::Duration;

use gatehouse::paths;
use gatehouse_tests::{ChildServer, SVC_ID, SVC_SECRET, TestServer, standard_config, write_config};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[tokio::test]
async fn request_ids_are_echoed_when_safe_and_generated_otherwise() {
    let s = TestServer::start().await;
    let get = |id: Option<&'static str>| {
        let mut req = s.http.get(s.url(paths::PING));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let r = get(Some("trace-abc_123.4")).await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc_123.4");
    let a = get(Some("has space")).await.unwrap().headers()["x-request-id"].to_str().unwrap().to_owned();
    let b = get(None).await.unwrap().headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(a.len() >= 20 && b.len() >= 20 && a != b && a != "has space");
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let s = TestServer::start().await;
    let responses = [
        s.http.get(s.url(paths::PING)).send().await.unwrap(),
        s.http.get(s.url("/nowhere")).send().await.unwrap(),
        s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await,
        s.http.get(s.url(paths::JWKS)).send().await.unwrap(),
    ];
    for r in responses {
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{}", r.url());
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over http");
    }
    let https = TestServer::start_with(&format!("{}\n", standard_config()).replace(
        "[server]\nbind = \"127.0.0.1:0\"\n",
        "[server]\nbind = \"127.0.0.1:0\"\nissuer = \"https://id.example.com\"\n",
    ))
    .await;
    let r = https.http.get(https.url(paths::PING)).send().await.unwrap();
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
}

#[tokio::test]
async fn ready_reports_the_store_and_the_plugins() {
    let s = TestServer::start().await;
    let r = s.http.get(s.url(paths::READY)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({
            "status": "ready",
            "checks": {"store": "ok", "plugins": "ok"},
            "store": {"backend": "sled"},
            "plugins": {"loaded": 0, "open_breakers": []},
        })
    );
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_gets_503() {
    let s = TestServer::start_with(
        &format!("{}\n", standard_config())
            .replace("dev_mode = true\n", "dev_mode = true\nrequest_timeout = \"300ms\"\n"),
    )
    .await;
    let mut conn = TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap();
    // Promise 100 bytes of body, send 10, then stall.
    conn.write_all(
        b"POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.expect("answered").unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("temporarily_unavailable"));
}

#[tokio::test]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    let s = TestServer::start_with(
        &format!("{}\n", standard_config()).replace("dev_mode = true\n", "dev_mode = true\nmax_connections = 1\n"),
    )
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let first = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(&addr).await.unwrap();
    second.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(400), second.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the connection limit");
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf)).await.expect("served").unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed issuer: the restarted server binds another port, and tokens name the issuer.
    let toml = standard_config().replace("[server]\n", "[server]\nissuer = \"http://localhost:9443\"\n");
    let cfg = write_config(dir.path(), "g.toml", &toml);
    let http = reqwest::Client::new();
    let server = ChildServer::spawn(&cfg);
    let token = gatehouse_tests::cc_token(&http, &server.base, SVC_ID, SVC_SECRET).await;
    let r = gatehouse_tests::post_basic(
        &http,
        &server.url(paths::REVOKE),
        SVC_ID,
        SVC_SECRET,
        &[("token", token.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    let code = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(10))).await.unwrap();
    assert_eq!(code, Some(0), "exits 0 on SIGTERM");
    let again = ChildServer::spawn(&cfg);
    let v: Value = http.post(again.url(paths::VERIFY)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["reason"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_at_trace_level_never_contain_secrets_or_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "log-scan-admin-token-0123456789abcdef";
    let toml = format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n[telemetry]\nlog_format = \"json\"\n",
        standard_config(),
        gatehouse::secret::sha256_hex(admin.as_bytes())
    );
    let cfg = write_config(dir.path(), "g.toml", &toml);
    let log = dir.path().join("server.log");
    let server = ChildServer::spawn_logging(&cfg, Some(&log), "trace");
    let http = reqwest::Client::new();
    let token_of = |v: Value| v["access_token"].as_str().unwrap().to_owned();
    let t1 = gatehouse_tests::cc_token(&http, &server.base, SVC_ID, SVC_SECRET).await;
    let wrong = "wrong-secret-that-must-not-be-logged";
    let r = gatehouse_tests::post_basic(
        &http,
        &server.url(paths::TOKEN),
        SVC_ID,
        wrong,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status(), 401);
    let failed_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let r = gatehouse_tests::post_basic(
        &http,
        &server.url(paths::INTROSPECT),
        SVC_ID,
        SVC_SECRET,
        &[("token", t1.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = http.post(server.url(paths::VERIFY)).bearer_auth(&t1).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r =
        gatehouse_tests::post_basic(&http, &server.url(paths::REVOKE), SVC_ID, SVC_SECRET, &[("token", t1.as_str())])
            .await;
    assert_eq!(r.status(), 200);
    let r = http.post(server.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth(admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let t2 = token_of(http.get(server.url("/test-token?sub=alice")).send().await.unwrap().json().await.unwrap());
    assert_eq!(server.terminate(Duration::from_secs(10)), Some(0));

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() > 20, "trace logging produced output");
    assert!(logs.contains("request_id"), "request spans are logged");
    let failure = logs.lines().find(|l| l.contains("client authentication failed")).expect("the failure is logged");
    assert!(failure.contains(&failed_id), "the failure's log line carries its request id: {failure}");
    let basic = |secret: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{SVC_ID}:{secret}"))
    };
    for secret in [SVC_SECRET, wrong, admin, &t1, &t2, &basic(SVC_SECRET), &basic(wrong)] {
        assert!(!logs.contains(secret), "a secret or token appears in the logs");
    }
    // JWT signatures and payloads must not appear either (a token cut in half is still a leak).
    for part in t1.split('.').chain(t2.split('.')).skip(1) {
        assert!(!logs.contains(part), "a token part appears in the logs");
    }
}
