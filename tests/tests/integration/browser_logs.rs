//! Trace-level logs of a whole browser sign-in never hold a password, cookie, CSRF token,
//! flow id, code or token.

use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::{ChildServer, write_config};

const ISSUER: &str = "http://localhost:9443";

fn cookie_value(page: &gatehouse_tests::browser::Page, name: &str) -> String {
    let c = page.cookies.iter().find(|c| c.starts_with(&format!("{name}="))).expect("cookie set");
    c[name.len() + 1..].split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_a_browser_sign_in_hold_no_password_cookie_code_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let toml = browser_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"))
        + "\n[telemetry]\nlog_format = \"json\"\n";
    let cfg = write_config(dir.path(), "gatehouse.toml", &toml);
    let log = dir.path().join("server.log");
    let server = ChildServer::spawn_logging(&cfg, Some(&log), "trace");
    let b = Browser::with_issuer(&server.base, ISSUER);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid offline_access"),
        ("state", "st"),
    ];
    let start = b.authorize(&params).await;
    let binding = cookie_value(&start, "gatehouse_browser");
    let flow_url = start.location.unwrap();
    let page = b.get(&flow_url).await;
    let csrf = gatehouse_tests::browser::hidden(&page.body, "csrf").unwrap();
    let wrong = "not-alices-password-either";
    assert_eq!(b.submit_login(&page, ALICE, wrong).await.status, 200);
    let done = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    let session = cookie_value(&done, "gatehouse_session");
    let code = query_param(done.location.as_deref().unwrap(), "code").unwrap();
    let (_, tokens) = redeem(&b.http, &server.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    let (at, rt, idt) = (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        tokens["id_token"].as_str().unwrap().to_owned(),
    );
    let rotated = gatehouse_tests::post_basic(
        &b.http,
        &server.url(paths::TOKEN),
        WEB_ID,
        WEB_SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())],
    )
    .await
    .json::<serde_json::Value>()
    .await
    .unwrap();
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let r = b.http.get(server.url(paths::USERINFO)).bearer_auth(&at).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let q = serde_urlencoded::to_string([("id_token_hint", idt.as_str())]).unwrap();
    assert_eq!(b.get(&format!("{}?{q}", paths::LOGOUT)).await.status, 200);
    assert_eq!(server.terminate(std::time::Duration::from_secs(10)), Some(0));

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() > 20, "trace logging produced output");
    assert!(logs.contains("sign-in failed"), "the failure is logged");
    let flow_id = flow_url.split("flow=").nth(1).unwrap().to_owned();
    let secrets: [&str; 12] =
        [ALICE_PASSWORD, wrong, WEB_SECRET, &binding, &session, &csrf, &flow_id, &code, &at, &rt, &rt2, &idt];
    for secret in secrets {
        assert!(!logs.contains(secret), "a password, cookie, code or token appears in the logs");
    }
    for part in at.split('.').chain(idt.split('.')).skip(1) {
        assert!(!logs.contains(part), "a token part appears in the logs");
    }
}
