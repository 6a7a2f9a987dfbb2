//! OpenTelemetry export (cargo feature `otel`, `[telemetry] otlp_endpoint`): a real server
//! process sends its request spans as OTLP/HTTP protobuf to a collector on loopback, joins a
//! caller's `traceparent`, names spans by method and route, and exports no secret: not the
//! client secret of the request, not a query string.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use gatehouse_tests::{ChildServer, SVC_ID, SVC_SECRET, standard_config, write_config};

type Received = Arc<Mutex<Vec<u8>>>;

async fn collector() -> (u16, Received) {
    let got = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(got): State<Received>, body: axum::body::Bytes| async move {
                got.lock().unwrap().extend_from_slice(&body);
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }),
        )
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector_in_the_callers_trace_without_secrets() {
    let (port, got) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nservice_name = \"gatehouse-otel-test\"\n",
        standard_config()
    );
    let cfg = write_config(dir.path(), "gatehouse.toml", &toml);
    let server = ChildServer::spawn(&cfg);
    let http = reqwest::Client::new();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = http
        .post(server.url("/token"))
        .basic_auth(SVC_ID, Some(SVC_SECRET))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http.get(server.url("/authorize?client_id=nobody&state=query-secret-xyz")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    // A graceful stop flushes the batch.
    let code = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(20))).await.unwrap();
    assert_eq!(code, Some(0));

    let body = got.lock().unwrap().clone();
    assert!(!body.is_empty(), "the collector received spans");
    assert!(contains(&body, b"gatehouse-otel-test"), "service.name");
    assert!(contains(&body, b"POST /token"), "span named by method and route");
    assert!(contains(&body, b"GET /authorize"));
    let trace_bytes: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert!(contains(&body, &trace_bytes), "the request span joined the caller's trace");
    assert!(!contains(&body, SVC_SECRET.as_bytes()), "no client secret in spans");
    assert!(!contains(&body, b"query-secret-xyz"), "no query string in spans");
}

#[test]
fn an_otlp_endpoint_must_be_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("{}\n[telemetry]\notlp_endpoint = \"collector:4318\"\n", standard_config());
    let cfg = write_config(dir.path(), "gatehouse.toml", &toml);
    let (code, _, err) = gatehouse_tests::run_cli(&["gatehouse", "check-config", &cfg.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("telemetry.otlp_endpoint") && err.contains("not an http(s) URL"), "{err}");
}
