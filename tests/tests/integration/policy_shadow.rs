//! Shadow policies (`[[plugins]] mode = "shadow"`): asked beside the enforcing ones with the
//! same input, audited and counted, never obeyed; their failures and their slowness touch no
//! answer.

use std::time::Duration;

use gatehouse::audit::AuditEvent;
use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::plugins::policy_entry;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, standard_config};
use serde_json::Value;

const ADMIN: &str = "admin-token-for-shadow-tests-0123";

/// The standard config with an admin token, an enforcing `gate` (hostile in `gate_mode`)
/// and the shadow entries given.
fn config(gate_mode: &str, shadows: &[(&str, &str, &str)]) -> String {
    let mut toml = format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n", standard_config(), sha256_hex(ADMIN.as_bytes()));
    if !gate_mode.is_empty() {
        toml.push_str(&policy_entry("gate", "test_hostile", "", &format!("mode = \"{gate_mode}\"")));
    }
    for (name, mode, extra) in shadows {
        toml.push_str(&policy_entry(
            name,
            "test_hostile",
            &format!("mode = \"shadow\"\n{extra}"),
            &format!("mode = \"{mode}\""),
        ));
    }
    toml
}

async fn cc(s: &TestServer) -> (u16, Value) {
    let resp = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// The shadow decisions recorded so far as (plugin, outcome, enforced, agree), once there are
/// at least `n` (a shadow runs after the answer, so its records trail it).
async fn shadow_records(s: &TestServer, n: usize) -> Vec<(String, String, String, bool)> {
    let mut out = Vec::new();
    for _ in 0..200 {
        out = gatehouse::audit::all_records(s.state.db.audit(), 0)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| match r.event {
                AuditEvent::PolicyShadowDecision { plugin, outcome, enforced, agree, .. } => {
                    Some((plugin, outcome, enforced, agree))
                }
                _ => None,
            })
            .collect();
        if out.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

async fn plugins(s: &TestServer) -> Value {
    s.http.get(s.url(paths::ADMIN_PLUGINS)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

async fn metrics(s: &TestServer) -> String {
    s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn a_shadow_that_denies_everything_changes_no_answer_and_its_disagreements_are_audited_and_counted() {
    let s = TestServer::start_with(&config("allow", &[("strict", "deny", "")])).await;
    for _ in 0..4 {
        let (status, body) = cc(&s).await;
        assert_eq!(status, 200, "the shadow's deny is not applied: {body}");
    }
    let records = shadow_records(&s, 4).await;
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        assert_eq!(r, &("strict".to_owned(), "deny".to_owned(), "allow".to_owned(), false));
    }
    // The enforcing plugin's own records are unchanged: four allows, by gate only.
    let enforced = s.policy_decisions(4).await;
    assert_eq!(enforced.len(), 4);
    assert!(enforced.iter().all(|d| d.0 == "gate" && d.1 == "allow"), "{enforced:?}");

    let listed = plugins(&s).await;
    let strict = listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "strict").unwrap().clone();
    assert_eq!(strict["mode"], "shadow");
    assert_eq!(strict["shadow"]["decisions"], 4, "{strict}");
    assert_eq!(strict["shadow"]["disagreed"], 4);
    assert_eq!(strict["shadow"]["agreement_rate"], 0.0);
    let gate = listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "gate").unwrap().clone();
    assert_eq!(gate["mode"], "enforce");
    assert!(gate.get("shadow").is_none(), "{gate}");
    let text = metrics(&s).await;
    assert!(text.contains("gatehouse_policy_shadow_total{plugin=\"strict\",agree=\"false\"} 4"), "{text}");
}

#[tokio::test]
async fn a_shadow_that_agrees_is_counted_so_and_a_shadow_alone_enforces_nothing() {
    // An agreeing shadow beside a denying gate: the answer is the gate's 403.
    let s = TestServer::start_with(&config("deny", &[("same", "deny", "")])).await;
    assert_eq!(cc(&s).await.0, 403);
    assert_eq!(shadow_records(&s, 1).await, [("same".to_owned(), "deny".to_owned(), "deny".to_owned(), true)]);
    assert_eq!(plugins(&s).await["plugins"][1]["shadow"]["agreement_rate"], 1.0);
    drop(s);

    // Only a shadow policy: every request is allowed as asked, and the shadow still reports.
    let s = TestServer::start_with(&config("", &[("strict", "deny", "")])).await;
    assert_eq!(cc(&s).await.0, 200);
    assert_eq!(shadow_records(&s, 1).await, [("strict".to_owned(), "deny".to_owned(), "allow".to_owned(), false)]);
}

#[tokio::test]
async fn trapping_looping_and_slow_shadows_fail_no_request_and_delay_none() {
    let shadows = [
        ("trapper", "panic", ""),
        ("looper", "loop", ""),
        // Sleeps 3 s within a 5 s timeout: the answer must not wait for it.
        ("sleeper", "sleep", "timeout_ms = 5000"),
    ];
    let mut toml = config("allow", &shadows);
    toml = toml.replace("mode = \"sleep\"", "mode = \"sleep\"\nsleep_ms = 3000");
    let s = TestServer::start_with(&toml).await;
    for _ in 0..3 {
        let started = gatehouse::clock::monotonic();
        let (status, body) = cc(&s).await;
        assert_eq!(status, 200, "{body}");
        // Far below the sleeper's 3 s: the answer does not wait for shadows.
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    }
    let records = shadow_records(&s, 9).await;
    for name in ["trapper", "looper"] {
        let mine: Vec<_> = records.iter().filter(|r| r.0 == name).collect();
        assert_eq!(mine.len(), 3, "{records:?}");
        assert!(mine.iter().all(|r| r.1 == "error" && r.2 == "allow" && !r.3), "{mine:?}");
    }
    let slept: Vec<_> = records.iter().filter(|r| r.0 == "sleeper").collect();
    assert_eq!(slept.len(), 3, "{records:?}");
    assert!(slept.iter().all(|r| r.1 == "allow" && r.3), "{slept:?}");
    // The enforcing gate's breaker is untouched by the shadows' failures: still answering.
    assert_eq!(cc(&s).await.0, 200);
    assert!(s.state.plugins.health().1.iter().all(|(name, _)| name != "gate"));
}

#[tokio::test]
async fn shadow_mode_is_only_for_policies_and_a_wrong_mode_is_named() {
    let bad =
        format!("{}{}", standard_config(), policy_entry("p", "test_hostile", "mode = \"audit\"", "mode = \"allow\""));
    let err = TestServer::try_start_with(&bad).await.err().expect("refused");
    assert!(err.contains("plugins[0].mode") && err.contains("enforce, shadow"), "{err}");
    let step = gatehouse_tests::plugins::plugin_entry("t", "login-step", "terms_of_service", "mode = \"shadow\"", "");
    let err = TestServer::try_start_with(&format!("{}{step}", standard_config())).await.err().expect("refused");
    assert!(err.contains("plugins[0].mode") && err.contains("only for kind = \"policy\""), "{err}");
}
