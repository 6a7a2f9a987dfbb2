//! Work that must happen once, with several instances on one PostgreSQL database: each
//! notification reaches its webhook once although every instance runs a dispatcher, and
//! one that an instance dies while sending is sent by another once the claim's lease has
//! passed; what an instance acknowledged survives its `kill -9`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::pg::{fresh_url, on_postgres};
use gatehouse_tests::plugins::plugin_entry;
use gatehouse_tests::{ChildServer, TestServer, write_config};

const PARAMS: [(&str, &str); 4] =
    [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid offline_access")];

/// Idempotency keys of the requests a webhook received.
type Received = Arc<Mutex<Vec<String>>>;

#[derive(Clone)]
struct Hook {
    got: Received,
    /// Never answer the first request (its sender dies waiting).
    stall_first: bool,
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap) -> StatusCode {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let first = {
        let mut got = hook.got.lock().unwrap();
        got.push(key);
        got.len() == 1
    };
    if first && hook.stall_first {
        std::future::pending::<()>().await;
    }
    StatusCode::NO_CONTENT
}

async fn webhook(stall_first: bool) -> (u16, Received) {
    let got = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/hook", post(receive)).with_state(Hook { got: got.clone(), stall_first });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

/// The browser config on `url` with the webhook notifier (login failures to `port`).
fn notifying(url: &str, port: u16) -> String {
    let extra = format!(
        "events = [\"login.failed\"]\nchannel = \"webhook\"\nrecipient = \"http://127.0.0.1:{port}/hook\"\n\
         allowed_hosts = [\"127.0.0.1:{port}\"]"
    );
    let entry = plugin_entry("hook", "notifier", "webhook_notifier", &extra, "");
    format!(
        "{}\n[plugin_runtime]\nallow_loopback_http = true\n{entry}",
        on_postgres(&browser_config().replace("[login]\n", "[login]\nfailed_per_ip = \"1000/min\"\n"), url)
    )
}

/// Waits until `got` holds `n` requests.
async fn received(got: &Received, n: usize) -> Vec<String> {
    for _ in 0..200 {
        if got.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    got.lock().unwrap().clone()
}

async fn wrong_password(s: &TestServer) {
    let b = Browser::new(&s.base);
    let start = b.authorize(&PARAMS).await;
    let page = b.get(start.location.as_deref().expect("login page")).await;
    assert_eq!(b.submit_login(&page, ALICE, "not her password").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_notification_is_sent_once_by_one_of_the_instances() {
    let Some(url) = fresh_url().await else { return };
    let (port, got) = webhook(false).await;
    let toml = notifying(&url, port);
    let a = TestServer::start_with(&toml).await;
    let b = TestServer::start_with(&toml).await;
    // Two failures through each instance (fewer than the lockout).
    for s in [&a, &b, &a, &b] {
        wrong_password(s).await;
    }
    received(&got, 4).await;
    // Both dispatchers keep polling: give a duplicate time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let keys = got.lock().unwrap().clone();
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), 4, "four events, four deliveries: {keys:?}");
    assert_eq!(distinct.len(), 4, "no message delivered twice: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_whose_sender_died_is_sent_by_another_instance_after_the_lease() {
    let Some(url) = fresh_url().await else { return };
    let (port, got) = webhook(true).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", &notifying(&url, port));
    let first = ChildServer::spawn(&cfg);
    let b = Browser::new(&first.base);
    let start = b.authorize(&PARAMS).await;
    let page = b.get(start.location.as_deref().expect("login page")).await;
    assert_eq!(b.submit_login(&page, ALICE, "not her password").await.status, 200);
    // The first instance claimed the message and is sending it: it dies mid-delivery.
    assert_eq!(received(&got, 1).await.len(), 1, "the first instance sends");
    first.kill9();

    let second = TestServer::start_with(&notifying(&url, port)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "nobody sends while the claim holds");
    // Past the lease (60 s, and at least the notifier's timeout plus 10 s) on the second
    // instance's clock, the message is its to send.
    second.clock.advance(Duration::from_secs(120));
    let keys = received(&got, 2).await;
    assert_eq!(keys.len(), 2, "sent again by the second instance: {keys:?}");
    assert_eq!(keys[0], keys[1], "with the same idempotency key, so the receiver can drop a duplicate");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(got.lock().unwrap().len(), 2, "and settled: not sent a third time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_instance_acknowledged_survives_its_kill_9() {
    let Some(url) = fresh_url().await else { return };
    const ISSUER: &str = "http://localhost:9443";
    let dir = tempfile::tempdir().unwrap();
    let toml = browser_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"));
    let cfg = write_config(dir.path(), "gatehouse.toml", &on_postgres(&toml, &url));

    let first = ChildServer::spawn(&cfg);
    let b = Browser::with_issuer(&first.base, ISSUER);
    let code = query_param(&b.sign_in(&PARAMS, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (status, tokens) = redeem(&b.http, &first.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A second code from the same session (SSO), issued and not yet redeemed.
    let unredeemed = query_param(b.authorize(&PARAMS).await.location.as_deref().unwrap(), "code").unwrap();
    first.kill9();

    let second = ChildServer::spawn(&cfg);
    let b = Browser { base: second.base.clone(), ..b };
    let (status, body) = redeem(&b.http, &second.base, (WEB_ID, WEB_SECRET), &unredeemed, WEB_CB, None).await;
    assert_eq!(status, 200, "an issued code survived: {body}");
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let resp = gatehouse_tests::post_basic(&b.http, &second.url(paths::TOKEN), WEB_ID, WEB_SECRET, &form).await;
    assert_eq!(resp.status(), 200, "the refresh token survived");
    let (status, body) = redeem(&b.http, &second.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a spent code stays spent");
    let to = b.authorize(&PARAMS).await.location.unwrap();
    assert!(query_param(&to, "code").is_some(), "the session survived: {to}");
}
