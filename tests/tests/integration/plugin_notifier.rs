//! Notifications through the `webhook-notifier` example (from `plugins/`) to a webhook on
//! loopback: the events a notifier subscribed to arrive (and no others), never carrying the
//! password; a failing webhook is retried with the same idempotency key; one that keeps
//! failing, or refuses, ends on the dead-letter list, from which an operator puts it back.
//! The test server's clock is manual, so retries come due when the test moves it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, browser_config};
use gatehouse_tests::plugins::plugin_entry;
use serde_json::Value;

const ADMIN: &str = "notify-admin-token-0123456789abcdef";

/// What the webhook received and what it answers next.
#[derive(Default)]
struct Hook {
    /// `(idempotency key, body)` of each request.
    got: Vec<(String, Value)>,
    /// Statuses to answer, in order; 204 once they run out.
    script: Vec<u16>,
}

type Shared = Arc<Mutex<Hook>>;

async fn receive(State(hook): State<Shared>, headers: HeaderMap, body: String) -> (StatusCode, HeaderMap) {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut h = hook.lock().unwrap();
    h.got.push((key, serde_json::from_str(&body).unwrap_or(Value::Null)));
    let status = if h.script.is_empty() { 204 } else { h.script.remove(0) };
    let mut out = HeaderMap::new();
    out.insert("retry-after", "1".parse().unwrap());
    (StatusCode::from_u16(status).unwrap(), out)
}

async fn webhook() -> (u16, Shared) {
    let hook = Shared::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/hook", post(receive)).with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hook)
}

async fn server(port: u16, events: &str, max_attempts: u32) -> TestServer {
    let extra = format!(
        "events = [{events}]\nchannel = \"webhook\"\nrecipient = \"http://127.0.0.1:{port}/hook\"\n\
         allowed_hosts = [\"127.0.0.1:{port}\"]"
    );
    let entry = plugin_entry("hook", "notifier", "webhook_notifier", &extra, "");
    let toml = format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n[plugin_runtime]\nallow_loopback_http = true\n\
         [notifications]\nretry_base = \"1s\"\nmax_attempts = {max_attempts}\n{entry}",
        browser_config(),
        sha256_hex(ADMIN.as_bytes())
    );
    TestServer::start_with(&toml).await
}

/// Waits until the webhook got `n` requests.
async fn received(hook: &Shared, n: usize) -> Vec<(String, Value)> {
    for _ in 0..100 {
        let got = hook.lock().unwrap().got.clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = hook.lock().unwrap().got.clone();
    panic!("the webhook got {} of {n} requests: {got:?}", got.len());
}

async fn sign_in(s: &TestServer, password: &str) {
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    let start = b.authorize(&params).await;
    let login = b.get(start.location.as_deref().expect("login page")).await;
    b.submit_login(&login, ALICE, password).await;
}

async fn admin_queue(s: &TestServer) -> Value {
    let resp = s.http.get(s.url(paths::ADMIN_NOTIFICATIONS)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The admin view of the queue once it lists a dead letter.
async fn with_dead_letter(s: &TestServer) -> Value {
    let mut q = Value::Null;
    for _ in 0..100 {
        q = admin_queue(s).await;
        if q["dead"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    q
}

/// `POST /admin/notifications/retry` for `id`: the status.
async fn requeue(s: &TestServer, id: &str) -> u16 {
    let url = s.url(paths::ADMIN_NOTIFICATIONS_RETRY);
    s.http.post(url).bearer_auth(ADMIN).form(&[("id", id)]).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn subscribed_events_reach_the_webhook_and_others_do_not() {
    let (port, hook) = webhook().await;
    let s = server(port, "\"login.failed\", \"login.succeeded\"", 5).await;
    sign_in(&s, "a wrong password 123").await;
    let got = received(&hook, 1).await;
    let (key, body) = &got[0];
    assert_eq!(body["event"], "login.failed", "{body}");
    assert_eq!(&body["id"], key, "the message id is the idempotency key");
    assert!(key.ends_with(".hook"), "{key}");
    assert_eq!(body["data"]["detail"]["reason"], "bad_credentials", "{body}");
    assert!(body["text"].as_str().unwrap().contains("A sign-in to web failed"), "{body}");
    assert!(!body.to_string().contains("a wrong password"), "no password in a notification");

    sign_in(&s, ALICE_PASSWORD).await;
    let got = received(&hook, 2).await;
    assert_eq!(got[1].1["event"], "login.succeeded");
    assert_eq!(got[1].1["data"]["username"], "alice");
    // A consent or a token issued is not subscribed: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hook.lock().unwrap().got.len(), 2);
    let metrics = s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatehouse_notifications_total{plugin=\"hook\",outcome=\"sent\"} 2"), "{metrics}");
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_the_same_key_then_dead_lettered_and_requeued() {
    let (port, hook) = webhook().await;
    let s = server(port, "\"*\"", 3).await;
    // 503 (retry after 1 s), then 500 twice: three attempts, then the dead-letter list.
    hook.lock().unwrap().script = vec![503, 500, 500];
    sign_in(&s, "a wrong password 123").await;
    received(&hook, 1).await;
    // Not due again until the (manual) clock moves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.lock().unwrap().got.len(), 1);
    let queue = admin_queue(&s).await;
    assert_eq!(queue["queued"][0]["attempts"], 1, "{queue}");
    assert_eq!(queue["queued"][0]["recipient"], format!("http://127.0.0.1:{port}"), "only the origin: {queue}");
    s.clock.advance(Duration::from_secs(2));
    received(&hook, 2).await;
    s.clock.advance(Duration::from_secs(5));
    let got = received(&hook, 3).await;
    assert!(got.iter().all(|(k, _)| *k == got[0].0), "one idempotency key for every attempt: {got:?}");

    let dead = with_dead_letter(&s).await;
    assert_eq!(dead["queued"].as_array().map(Vec::len), Some(0), "{dead}");
    let letter = &dead["dead"][0];
    assert!(letter["reason"].as_str().unwrap().starts_with("3 attempts"), "{letter}");
    assert!(s.audit_events(&["notification_dead_lettered"]).await.contains(&"notification_dead_lettered"));

    // The operator puts it back; the webhook now answers 204.
    let id = letter["id"].as_str().unwrap().to_owned();
    assert_eq!(requeue(&s, &id).await, 200);
    let got = received(&hook, 4).await;
    assert_eq!(got[3].0, id);
    assert_eq!(requeue(&s, &id).await, 404, "no longer a dead letter");
    assert!(s.audit_events(&["notification_retried"]).await.contains(&"notification_retried"));
}

#[tokio::test]
async fn a_refused_message_is_dead_lettered_at_once_and_delivery_survives_a_restart() {
    let (port, hook) = webhook().await;
    let s = server(port, "\"login.failed\"", 5).await;
    hook.lock().unwrap().script = vec![400];
    sign_in(&s, "a wrong password 123").await;
    received(&hook, 1).await;
    let q = with_dead_letter(&s).await;
    assert!(q["dead"][0]["reason"].as_str().unwrap().contains("answered 400"), "{q}");

    // A message queued but not yet delivered when the server stops is delivered after the
    // restart (the queue is in the store), exactly once.
    hook.lock().unwrap().script = vec![503];
    sign_in(&s, "another wrong one 123").await;
    received(&hook, 2).await;
    let dir = s.stop().await;
    let toml = std::fs::read_to_string(dir.path().join("gatehouse.toml")).unwrap();
    let s = TestServer::start_in(dir, &toml).await;
    s.clock.advance(Duration::from_secs(60));
    let got = received(&hook, 3).await;
    assert_eq!(got[2].0, got[1].0, "the retry after the restart carries the same key");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hook.lock().unwrap().got.len(), 3, "delivered once, not again");
}

#[tokio::test]
async fn a_cursor_past_the_end_of_the_log_follows_the_log_again() {
    let (port, hook) = webhook().await;
    let s = server(port, "\"login.failed\"", 5).await;
    // As if a crash had lost audit lines the queue had already seen.
    let head = s.state.db.audit().last_audit_record().await.unwrap().map_or(0, |r| r.seq);
    let queue = s.state.db.notify();
    while !queue.notify_enqueue(queue.notify_cursor().await.unwrap(), head + 50, &[]).await.unwrap() {}
    sign_in(&s, "a wrong password 123").await;
    let got = received(&hook, 1).await;
    assert_eq!(got[0].1["event"], "login.failed");
}

#[tokio::test]
async fn each_audit_checkpoint_can_be_shipped_to_another_system() {
    let (port, hook) = webhook().await;
    let s = server(port, "\"audit.checkpoint\"", 3).await;
    // The shutdown checkpoint of a restart is the easiest to wait for: it signs the chain's
    // head at the moment the server stops, and the next start delivers it.
    s.svc_token(&[]).await;
    let dir = s.stop().await;
    let toml = std::fs::read_to_string(dir.path().join("gatehouse.toml")).unwrap();
    let s = TestServer::start_in(dir, &toml).await;
    let got = received(&hook, 1).await;
    let detail = &got[0].1["data"]["detail"];
    assert_eq!(got[0].1["event"], "audit.checkpoint", "{:?}", got[0].1);
    assert_eq!(detail["type"], "audit_checkpoint");
    let checkpoints = s.state.db.audit().checkpoints().await.unwrap();
    let signed = checkpoints.last().unwrap();
    assert_eq!(detail["through_seq"], signed.seq);
    assert_eq!(detail["signature"], signed.signature.as_str(), "the shipped checkpoint is the signed one");
}
