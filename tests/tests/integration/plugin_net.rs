//! What a plugin can reach: `http.fetch` only to granted hosts (checked again after name
//! resolution and on every redirect), with size caps; `secrets` only by granted name; and a
//! component that imports either without a grant is refused at load.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use gatehouse::paths;
use gatehouse_tests::plugins::policy_entry;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, jwt_parts, standard_config};

/// A small upstream on loopback: `/ok`, `/big` (200 KiB), `/hop` (redirect to `/ok`) and
/// `/away` (redirect to 127.0.0.2, not granted).
async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route("/big", get(|| async { "x".repeat(200 * 1024) }))
        .route("/hop", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok")]).into_response() }))
        .route(
            "/away",
            get(move || async move {
                (StatusCode::FOUND, [(header::LOCATION, format!("http://127.0.0.2:{port}/ok"))]).into_response()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// A server with the net-probe policy: `hosts` and `secrets` granted, `config` lines.
fn config(hosts: &str, secrets: &str, config: &str, loopback: bool) -> String {
    let extra = format!("allowed_hosts = [{hosts}]\nsecrets = [{secrets}]");
    let entry = policy_entry("probe", "test_net_probe", &extra, config);
    let runtime =
        if loopback { "\n[plugin_runtime]\nallow_loopback_http = true\nhttp_max_response_kb = 64\n" } else { "" };
    format!("{}{entry}{runtime}", standard_config())
}

async fn probe(toml: &str) -> String {
    let s = TestServer::start_with(toml).await;
    let resp = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    jwt_parts(body["access_token"].as_str().unwrap()).1["probe"].as_str().unwrap().to_owned()
}

async fn fetch(port: u16, url: &str) -> String {
    let cfg = format!("mode = \"http\"\nurl = \"{url}\"");
    probe(&config(&format!("\"127.0.0.1:{port}\""), "\"PATH\"", &cfg, true)).await
}

#[tokio::test]
async fn a_granted_host_is_reachable_and_redirects_stay_on_the_list() {
    let port = upstream().await;
    assert_eq!(fetch(port, &format!("http://127.0.0.1:{port}/ok")).await, "ok: 200 5 bytes");
    assert_eq!(fetch(port, &format!("http://127.0.0.1:{port}/hop")).await, "ok: 200 5 bytes");
}

#[tokio::test]
async fn hosts_off_the_list_and_redirects_off_the_list_are_denied() {
    let port = upstream().await;
    let p = fetch(port, &format!("http://127.0.0.2:{port}/ok")).await;
    assert!(p.starts_with("denied:") && p.contains("not in allowed_hosts"), "{p}");
    let p = fetch(port, &format!("http://127.0.0.1:{port}/away")).await;
    assert!(p.starts_with("denied:") && p.contains("redirect refused"), "{p}");
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let port = upstream().await;
    assert_eq!(fetch(port, &format!("http://127.0.0.1:{port}/big")).await, "too-large");
}

#[tokio::test]
async fn private_and_loopback_addresses_are_refused_after_resolution() {
    let port = upstream().await;
    // An allowed name that resolves to loopback: refused once resolved (no test switch).
    let cfg = format!("mode = \"http\"\nurl = \"https://localhost:{port}/ok\"");
    let p = probe(&config(&format!("\"localhost:{port}\""), "\"PATH\"", &cfg, false)).await;
    assert!(p.starts_with("denied:") && p.contains("loopback"), "{p}");
    // A granted private address literal.
    let p = probe(&config("\"10.0.0.1\"", "\"PATH\"", "mode = \"http\"\nurl = \"https://10.0.0.1/\"", false)).await;
    assert!(p.starts_with("denied:") && p.contains("not public"), "{p}");
    // Plain http is refused outside the test switch.
    let cfg = format!("mode = \"http\"\nurl = \"http://localhost:{port}/ok\"");
    let p = probe(&config(&format!("\"localhost:{port}\""), "\"PATH\"", &cfg, false)).await;
    assert!(p.starts_with("denied:") && p.contains("https only"), "{p}");
}

#[tokio::test]
async fn only_granted_secrets_are_readable() {
    let p = probe(&config("\"api.example.com\"", "\"PATH\"", "mode = \"secret\"\nname = \"PATH\"", false)).await;
    assert!(p.starts_with("ok: "), "{p}");
    let p = probe(&config("\"api.example.com\"", "\"PATH\"", "mode = \"secret\"\nname = \"HOME\"", false)).await;
    assert_eq!(p, "none");
}

#[tokio::test]
async fn imports_without_a_grant_are_refused_at_load() {
    let e = TestServer::try_start_with(&config("", "\"PATH\"", "", false)).await.err().expect("refused");
    assert!(e.contains("plugins[0] (probe): allowed_hosts: the component imports gatehouse:plugin/http"), "{e}");
    let e = TestServer::try_start_with(&config("\"api.example.com\"", "", "", false)).await.err().expect("refused");
    assert!(e.contains("plugins[0] (probe): secrets: the component imports gatehouse:plugin/secrets"), "{e}");
    let e = TestServer::try_start_with(&config("\"api.example.com\"", "\"GATEHOUSE_TEST_UNSET_SECRET\"", "", false))
        .await
        .err()
        .expect("refused");
    assert!(e.contains("secrets: environment variable `GATEHOUSE_TEST_UNSET_SECRET` is not set"), "{e}");
}
