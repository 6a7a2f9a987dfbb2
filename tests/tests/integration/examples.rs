//! The worker → logging-service example against a real Gatehouse: all three run here.

use std::sync::{Arc, Mutex};

use gatehouse::clock::Clock as _;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer};
use logging_service::{Entry, Settings};

async fn start_logging_service(gh: &TestServer) -> (String, Arc<Mutex<Vec<Entry>>>) {
    let (app, entries) = logging_service::router(Settings {
        issuer: gh.base.clone(),
        jwks_url: gh.url(gatehouse::paths::JWKS),
        audience: "logging-service".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, entries)
}

fn worker(gh: &TestServer, logging_url: &str, secret: &str) -> worker::Worker {
    worker::Worker::new(worker::Settings {
        token_url: gh.url(gatehouse::paths::TOKEN),
        client_id: SVC_ID.into(),
        client_secret: secret.into(),
        logging_url: logging_url.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_logs_through_a_service_that_verifies_tokens_itself() {
    let gh = TestServer::start().await;
    let (url, entries) = start_logging_service(&gh).await;
    let mut w = worker(&gh, &url, SVC_SECRET);
    let answer = w.log("first").await.unwrap();
    assert_eq!(answer["accepted"], true);
    w.log("second").await.unwrap();
    let got: Vec<_> = entries.lock().unwrap().iter().map(|e| (e.sub.clone(), e.message.clone())).collect();
    assert_eq!(got, [(SVC_ID.to_owned(), "first".to_owned()), (SVC_ID.to_owned(), "second".to_owned())]);

    // After a key rotation, new tokens carry a kid the service has not seen: it refetches.
    gh.state.keys.rotate(gh.clock.now()).await.unwrap();
    let mut fresh = worker(&gh, &url, SVC_SECRET);
    fresh.log("after rotation").await.unwrap();

    // Refusals: wrong secret at Gatehouse; wrong audience, missing scope, garbage at the service.
    assert!(worker(&gh, &url, "wrong").log("x").await.is_err());
    let http = reqwest::Client::new();
    for (form, status) in [
        (vec![("grant_type", "client_credentials"), ("audience", "metrics")], 401),
        (vec![("grant_type", "client_credentials"), ("scope", "logs:read")], 403),
    ] {
        let t: serde_json::Value = http
            .post(gh.url(gatehouse::paths::TOKEN))
            .basic_auth(SVC_ID, Some(SVC_SECRET))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resp = http
            .post(format!("{url}/log"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .json(&serde_json::json!({"message": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
    }
    let resp = http.post(format!("{url}/log")).bearer_auth("garbage").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(entries.lock().unwrap().len(), 3);
}

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_logging_service_logs_what_it_accepts_and_why_it_refuses() {
    // The service's default filter is `info`; capture what it writes at that level (this
    // test's runtime is single-threaded, so every task logs to this thread's subscriber).
    let out = Captured::default();
    let sink = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("logging_service=info"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let gh = TestServer::start().await;
    let (url, _) = start_logging_service(&gh).await;
    worker(&gh, &url, SVC_SECRET).log("hello from the worker").await.unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/log"))
        .bearer_auth("not-a-jwt")
        .json(&serde_json::json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("message accepted") && text.contains("hello from the worker"), "{text}");
    assert!(text.contains("message refused") && text.contains("reason=\"malformed\""), "{text}");
}
