//! The email and SMS notifier examples (`plugins/email-notifier`, `plugins/sms-notifier`)
//! against fakes of the APIs they speak, on loopback: SendGrid's v3 Mail Send (Bearer key,
//! JSON, 202 + `X-Message-Id`) and Twilio's Messages API (Basic auth, a form, 201 + `sid`).
//! Email goes to the person's address, SMS to the operator's number; a 429 is retried after
//! `Retry-After`, a refusal dead-letters with the provider's reason, and neither message
//! carries a secret.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, browser_config};
use gatehouse_tests::plugins::plugin_entry;
use serde_json::{Value, json};

const ADMIN: &str = "email-sms-admin-token-0123456789ab";
const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// What a fake provider received (`(authorization, body)`) and the statuses it answers next.
#[derive(Default)]
struct Fake {
    got: Vec<(String, String)>,
    script: Vec<u16>,
}

type Shared = Arc<Mutex<Fake>>;

fn take(fake: &Shared, headers: &HeaderMap, body: String, ok: u16) -> u16 {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut f = fake.lock().unwrap();
    f.got.push((auth, body));
    if f.script.is_empty() { ok } else { f.script.remove(0) }
}

/// SendGrid's `POST /v3/mail/send`.
async fn mail_send(State(fake): State<Shared>, headers: HeaderMap, body: String) -> Response {
    match take(&fake, &headers, body, 202) {
        202 => (StatusCode::ACCEPTED, [("x-message-id", "sg-msg-1")]).into_response(),
        429 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response(),
        s => {
            let errors = json!({"errors": [{"message": "The from address does not match a verified Sender Identity", "field": "from"}]});
            (StatusCode::from_u16(s).unwrap(), axum::Json(errors)).into_response()
        }
    }
}

/// Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json`.
async fn messages(
    State(fake): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    assert_eq!(account, SID, "the account in the path");
    match take(&fake, &headers, body, 201) {
        201 => (StatusCode::CREATED, axum::Json(json!({"sid": "SM0123", "status": "queued"}))).into_response(),
        s => {
            let error = json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": s});
            (StatusCode::from_u16(s).unwrap(), axum::Json(error)).into_response()
        }
    }
}

async fn fakes() -> (u16, Shared, Shared) {
    let (mail, sms) = (Shared::default(), Shared::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/v3/mail/send", post(mail_send).with_state(mail.clone()))
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(messages).with_state(sms.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, mail, sms)
}

async fn received(fake: &Shared, n: usize) -> Vec<(String, String)> {
    for _ in 0..100 {
        let got = fake.lock().unwrap().got.clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the fake got {:?}", fake.lock().unwrap().got);
}

/// The secret both plugins are granted: `PATH`, which every environment has.
fn granted() -> String {
    std::env::var("PATH").unwrap()
}

async fn server(port: u16, sms_to: &str) -> TestServer {
    let hosts = format!("allowed_hosts = [\"127.0.0.1:{port}\"]\nsecrets = [\"PATH\"]");
    let email = plugin_entry(
        "mail",
        "notifier",
        "email_notifier",
        &format!("events = [\"login.succeeded\"]\nchannel = \"email\"\n{hosts}"),
        &format!(
            "base_url = \"http://127.0.0.1:{port}\"\napi_key = \"PATH\"\nfrom = \"security@example.com\"\nfrom_name = \"Example Security\""
        ),
    );
    let sms = plugin_entry(
        "sms",
        "notifier",
        "sms_notifier",
        &format!("events = [\"login.failed\"]\nchannel = \"sms\"\nrecipient = \"{sms_to}\"\n{hosts}"),
        &format!(
            "base_url = \"http://127.0.0.1:{port}\"\naccount_sid = \"{SID}\"\nauth_token = \"PATH\"\nfrom = \"+15005550006\""
        ),
    );
    let toml = format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n[plugin_runtime]\nallow_loopback_http = true\n\
         [notifications]\nretry_base = \"1s\"\nmax_attempts = 3\n{email}{sms}",
        browser_config(),
        sha256_hex(ADMIN.as_bytes())
    );
    TestServer::start_with(&toml).await
}

async fn fail_a_sign_in(s: &TestServer) {
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    let start = b.authorize(&params).await;
    let login = b.get(start.location.as_deref().unwrap()).await;
    assert_eq!(b.submit_login(&login, ALICE, "not the password").await.status, 200);
}

#[tokio::test]
async fn email_reaches_the_person_and_sms_the_operator_in_the_providers_shapes() {
    let (port, mail, sms) = fakes().await;
    mail.lock().unwrap().script = vec![429];
    let s = server(port, "+15551234567").await;
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    assert!(Browser::new(&s.base).sign_in(&params, ALICE, ALICE_PASSWORD).await.starts_with(WEB_CB));

    // 429 first: retried after its Retry-After, with the same message id.
    received(&mail, 1).await;
    s.clock.advance(Duration::from_secs(2));
    let got = received(&mail, 2).await;
    let key = granted();
    for (auth, _) in &got {
        assert_eq!(auth, &format!("Bearer {key}"), "the granted key as a Bearer token");
    }
    let first: Value = serde_json::from_str(&got[0].1).unwrap();
    let mail_body: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(first["custom_args"]["gatehouse_id"], mail_body["custom_args"]["gatehouse_id"]);
    assert_eq!(mail_body["personalizations"][0]["to"][0]["email"], "alice@example.com", "the person's address");
    assert_eq!(mail_body["from"], json!({"email": "security@example.com", "name": "Example Security"}));
    assert!(mail_body["subject"].as_str().unwrap().contains("alice signed in to web"), "{mail_body}");
    assert_eq!(mail_body["content"][0]["type"], "text/plain");
    assert_eq!(mail_body["custom_args"]["gatehouse_event"], "login.succeeded");

    fail_a_sign_in(&s).await;
    let got = received(&sms, 1).await;
    let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{SID}:{key}"));
    assert_eq!(got[0].0, format!("Basic {basic}"));
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&got[0].1).unwrap();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("To"), Some("+15551234567"));
    assert_eq!(field("From"), Some("+15005550006"));
    let text = field("Body").unwrap();
    assert!(text.starts_with("A sign-in to web failed") && !text.contains('\n'), "one line: {text}");
    assert!(!got[0].1.contains("not the password"), "never the typed password");

    let metrics = s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    for plugin in ["mail", "sms"] {
        let sent = format!("gatehouse_notifications_total{{plugin=\"{plugin}\",outcome=\"sent\"}} 1");
        assert!(metrics.contains(&sent), "{plugin}: {metrics}");
    }
}

/// The admin view of the queue once it lists `n` dead letters.
async fn dead_letters(s: &TestServer, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let resp = s.http.get(s.url(paths::ADMIN_NOTIFICATIONS)).bearer_auth(ADMIN).send().await.unwrap();
        let q: Value = resp.json().await.unwrap();
        let dead = q["dead"].as_array().cloned().unwrap_or_default();
        if dead.len() >= n {
            return dead;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} dead letters");
}

#[tokio::test]
async fn refusals_dead_letter_at_once_with_the_providers_reason() {
    let (port, mail, sms) = fakes().await;
    mail.lock().unwrap().script = vec![403];
    sms.lock().unwrap().script = vec![400];
    // A number that is valid E.164 (the plugin checks that itself) but the fake refuses.
    let s = server(port, "+15550000000").await;
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    Browser::new(&s.base).sign_in(&params, ALICE, ALICE_PASSWORD).await;
    fail_a_sign_in(&s).await;
    let dead = dead_letters(&s, 2).await;
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("answered 403") && r.contains("verified Sender Identity")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("error 21211")), "{reasons:?}");
    // One attempt each: a refusal is not retried.
    assert_eq!((mail.lock().unwrap().got.len(), sms.lock().unwrap().got.len()), (1, 1));
}

#[tokio::test]
async fn a_recipient_in_the_wrong_form_is_refused_without_a_request() {
    let (port, _mail, sms) = fakes().await;
    let s = server(port, "555-1234").await;
    fail_a_sign_in(&s).await;
    let dead = dead_letters(&s, 1).await;
    assert!(dead[0]["reason"].as_str().unwrap().contains("E.164"), "{dead:?}");
    assert!(sms.lock().unwrap().got.is_empty(), "no request for a number that is not one");
}
