//! `kv-store`: a plugin's counters and values persist across calls (each call is a fresh
//! instance), expire with the host's clock, and no plugin sees another's keys.

use std::time::Duration;

use gatehouse::paths;
use gatehouse_tests::plugins::policy_entry;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, jwt_parts, standard_config};

async fn probe(s: &TestServer) -> String {
    let resp = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    jwt_parts(body["access_token"].as_str().unwrap()).1["probe"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn counters_persist_across_calls_and_expire_with_the_clock() {
    let toml = format!("{}{}", standard_config(), policy_entry("counter", "test_hostile", "", "mode = \"kv-incr\""));
    let s = TestServer::start_with(&toml).await;
    assert_eq!(probe(&s).await, "ok: 1");
    assert_eq!(probe(&s).await, "ok: 2");
    assert_eq!(probe(&s).await, "ok: 3");
    s.clock.advance(Duration::from_secs(61));
    assert_eq!(probe(&s).await, "ok: 1", "the 60 s TTL has passed");
}

#[tokio::test]
async fn a_plugin_cannot_read_another_plugins_keys() {
    let writer =
        policy_entry("writer", "test_hostile", "", "mode = \"kv-write\"\nkey = \"k\"\nvalue = \"writer's secret\"");
    let reader = policy_entry("reader", "test_hostile", "", "mode = \"kv-read\"\nkey = \"k\"");
    let s = TestServer::start_with(&format!("{}{writer}{reader}", standard_config())).await;
    // Both run on every token request, writer first; the later plugin's claim wins.
    assert_eq!(probe(&s).await, "err: none");
    assert_eq!(probe(&s).await, "err: none");
    // The writer reads its own key back.
    let own = policy_entry("writer", "test_hostile", "", "mode = \"kv-read\"\nkey = \"k\"");
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, &format!("{}{own}", standard_config())).await;
    assert_eq!(probe(&s).await, "ok: writer's secret");
}
