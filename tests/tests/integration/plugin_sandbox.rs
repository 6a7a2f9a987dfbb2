//! The sandbox, proved with hostile components built from `plugins/tests/`: whatever a policy
//! plugin does, the server answers (403 or 503, never 500), keeps serving, and the plugin
//! reaches nothing it was not granted.

use std::time::Duration;

use gatehouse::clock::monotonic;

use gatehouse::paths;
use gatehouse_tests::plugins::{component, policy_entry, sha256_file};
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, jwt_parts, standard_config};
use serde_json::Value;

/// The standard config with the hostile policy in `mode`, plus `extra` plugin keys.
fn hostile(mode: &str, extra: &str, config: &str) -> String {
    let entry = policy_entry("hostile", "test_hostile", extra, &format!("mode = \"{mode}\"\n{config}"));
    format!("{}{entry}", standard_config())
}

async fn cc(s: &TestServer) -> (u16, Option<String>, Value) {
    let resp = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry, resp.json().await.expect("json body"))
}

/// The probe claim of a token issued by a probing mode.
async fn probe(s: &TestServer) -> String {
    let (status, _, body) = cc(s).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    claims["probe"].as_str().expect("probe claim").to_owned()
}

/// The `nth` (from 1) plugin call fails: 503 temporarily_unavailable with Retry-After, and
/// the audit log says why.
async fn assert_fails_closed(s: &TestServer, why: &str, nth: usize) {
    let (status, retry, body) = cc(s).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(retry.is_some(), "Retry-After is set");
    let decisions = s.policy_decisions(nth).await;
    let (plugin, outcome, reason) = decisions.get(nth - 1).expect("a policy decision was audited");
    assert_eq!((plugin.as_str(), outcome.as_str()), ("hostile", "error"));
    assert!(reason.as_deref().unwrap_or("").contains(why), "reason {reason:?} should contain {why:?}");
}

#[tokio::test]
async fn an_allowing_policy_lets_tokens_through_and_every_decision_is_audited() {
    let s = TestServer::start_with(&hostile("allow", "", "")).await;
    let (status, _, body) = cc(&s).await;
    assert_eq!(status, 200, "{body}");
    let decisions = s.policy_decisions(1).await;
    assert_eq!(decisions[0], ("hostile".into(), "allow".into(), None));
    let names = s.audit_events(&["plugins_loaded"]).await;
    assert!(names.contains(&"plugins_loaded"));
}

#[tokio::test]
async fn work_within_the_budget_passes_and_the_metrics_count_every_call() {
    let admin = "admin-token-for-sandbox-tests-0123";
    let toml = format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n",
        hostile("spin", "cpu_budget_ms = 300\ntimeout_ms = 3000", "spin_ms = 25"),
        gatehouse::secret::sha256_hex(admin.as_bytes())
    );
    let s = TestServer::start_with(&toml).await;
    // 25 ms of computing: many epoch ticks and at least one yield, well inside the budget.
    for _ in 0..2 {
        let (status, _, body) = cc(&s).await;
        assert_eq!(status, 200, "{body}");
    }
    let text = s.http.get(s.url(paths::METRICS)).bearer_auth(admin).send().await.unwrap().text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("gatehouse_plugin_calls_total{")
                && l.contains("plugin=\"hostile\"")
                && l.contains("outcome=\"allow\"")
        })
        .unwrap_or_else(|| panic!("no plugin call counter in:\n{text}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(text.contains("gatehouse_plugin_call_duration_seconds_count{plugin=\"hostile\"} 2"), "{text}");
}

#[tokio::test]
async fn a_deny_is_403_access_denied_and_the_reason_stays_in_the_audit_log() {
    let s = TestServer::start_with(&hostile("deny", "", "reason = \"secret internal reason\"")).await;
    let (status, _, body) = cc(&s).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "access_denied");
    assert!(!body.to_string().contains("secret internal reason"));
    let decisions = s.policy_decisions(1).await;
    assert_eq!(decisions[0].2.as_deref(), Some("secret internal reason"));
}

#[tokio::test]
async fn a_step_up_asked_of_a_client_acting_for_itself_is_a_deny() {
    // Nobody to ask for a second factor: access_denied, not interaction_required.
    let s = TestServer::start_with(&hostile("step-up", "", "")).await;
    let (status, _, body) = cc(&s).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")));
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_cpu_budget_while_other_requests_flow() {
    let s = TestServer::start_with(&hostile("loop", "cpu_budget_ms = 30\ntimeout_ms = 5000", "")).await;
    let started = monotonic();
    let looping = async {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(cc(&s).await);
        }
        out
    };
    let others = async {
        for _ in 0..20 {
            let r = s.http.get(s.url(paths::JWKS)).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    let (results, ()) = tokio::join!(looping, others);
    for (status, _, body) in results {
        assert_eq!(status, 503, "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "stopped by the CPU budget, not the 5 s timeout");
    let decisions = s.policy_decisions(3).await;
    assert!(decisions.iter().all(|d| d.2.as_deref() == Some("CPU budget exhausted")), "{decisions:?}");
}

#[tokio::test]
async fn a_wall_timeout_stops_a_plugin_that_waits() {
    let s = TestServer::start_with(&hostile("sleep", "timeout_ms = 100", "sleep_ms = 10000")).await;
    let started = monotonic();
    assert_fails_closed(&s, "timeout", 1).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let s = TestServer::start_with(&hostile("alloc", "memory_limit_mb = 16", "")).await;
    assert_fails_closed(&s, "out of memory", 1).await;
    // The server is fine and the next call gets a fresh instance.
    assert_eq!(s.http.get(s.url(paths::PING)).send().await.unwrap().status(), 200);
    assert_fails_closed(&s, "out of memory", 2).await;
}

#[tokio::test]
async fn deep_recursion_overflows_the_bounded_stack() {
    let s = TestServer::start_with(&hostile("recurse", "", "")).await;
    // Rust keeps its stack in linear memory: running off it traps (out of bounds or stack
    // overflow, whichever comes first), never escapes.
    assert_fails_closed(&s, "trap:", 1).await;
}

#[tokio::test]
async fn a_panic_is_a_trap_not_a_crash() {
    let s = TestServer::start_with(&hostile("panic", "", "")).await;
    assert_fails_closed(&s, "unreachable", 1).await;
    assert_fails_closed(&s, "unreachable", 2).await;
}

#[tokio::test]
async fn files_environment_and_sockets_are_out_of_reach() {
    let s = TestServer::start_with(&hostile("read-file", "", "path = \"/etc/hostname\"")).await;
    assert!(probe(&s).await.starts_with("err:"), "no file may be read");
    let s = TestServer::start_with(&hostile("env", "", "")).await;
    assert_eq!(probe(&s).await, "ok: 0 vars, HOME=None");
    // A real listener on loopback, so a refusal is the sandbox's doing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let s = TestServer::start_with(&hostile("socket", "", &format!("target = \"{target}\""))).await;
    let p = probe(&s).await;
    assert!(p.starts_with("err:"), "no socket may be opened: {p}");
}

#[tokio::test]
async fn reserved_claims_are_stripped_and_scopes_cannot_widen() {
    let s = TestServer::start_with(&hostile("claims", "", "")).await;
    let t = s.svc_token(&[("scope", "logs:read")]).await;
    let (_, claims) = jwt_parts(&t);
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["sub"], SVC_ID);
    assert_eq!(claims["client_id"], SVC_ID);
    assert_eq!(claims["scope"], "logs:read", "the plugin's admin/everything scopes are not granted");
    assert_ne!(claims["jti"], "fixed");
    assert_ne!(claims["exp"], 4_102_444_800_u64);
    assert!(claims.get("azp").is_none() && claims.get("nonce").is_none() && claims.get("at_hash").is_none());
    assert_eq!(claims["department"], "research", "a non-reserved claim is added");
}

#[tokio::test]
async fn pool_exhaustion_fails_fast_and_recovers() {
    let s = TestServer::start_with(&hostile("sleep", "max_concurrency = 1\ntimeout_ms = 5000", "sleep_ms = 400")).await;
    let slow = cc(&s);
    let fast = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = monotonic();
        let r = cc(&s).await;
        (r, started.elapsed())
    };
    let ((s1, _, b1), ((s2, retry, b2), took)) = tokio::join!(slow, fast);
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(s2, 503, "{b2}");
    assert!(retry.is_some());
    assert!(took < Duration::from_millis(300), "fails fast, does not queue: {took:?}");
    // Once the slot is free, calls succeed again.
    assert_eq!(cc(&s).await.0, 200);
}

#[tokio::test]
async fn repeated_failures_open_the_circuit_breaker() {
    let toml =
        format!("{}\n[plugin_runtime]\nbreaker_threshold = 2\nbreaker_cooldown = \"1h\"\n", hostile("panic", "", ""));
    let s = TestServer::start_with(&toml).await;
    let ready = s.http.get(s.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_fails_closed(&s, "unreachable", 1).await;
    assert_fails_closed(&s, "unreachable", 2).await;
    assert_fails_closed(&s, "circuit breaker open", 3).await;
    // Every token request fails closed now: the server says it is not ready, and why.
    let ready = s.http.get(s.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["plugins"], "error", "{body}");
    assert_eq!(body["plugins"]["open_breakers"], serde_json::json!(["hostile"]), "{body}");
}

#[tokio::test]
async fn loading_refuses_a_wrong_digest_a_wrong_world_and_an_oversized_memory() {
    let path = component("test_hostile");
    let wrong = format!("sha256 = \"{}\"", "0".repeat(64));
    let e = TestServer::try_start_with(&hostile("allow", &wrong, "")).await.err().expect("refused");
    assert!(e.contains("plugins[0] (hostile): sha256") && e.contains(&sha256_file(&path)), "{e}");

    let right = format!("sha256 = \"{}\"", sha256_file(&path));
    assert!(TestServer::try_start_with(&hostile("allow", &right, "")).await.is_ok());

    let cmd = format!("{}{}", standard_config(), policy_entry("cmd", "test_not_a_plugin", "", ""));
    let e = TestServer::try_start_with(&cmd).await.err().expect("refused");
    assert!(e.contains("plugins[0] (cmd)") && e.contains("policy-plugin world"), "{e}");

    let big = format!("{}{}", standard_config(), policy_entry("big", "test_big_memory", "memory_limit_mb = 32", ""));
    let e = TestServer::try_start_with(&big).await.err().expect("refused");
    assert!(e.contains("plugins[0] (big): memory_limit_mb"), "{e}");
}

#[tokio::test]
async fn production_config_requires_a_pinned_digest() {
    let toml = hostile("allow", "", "").replace("dev_mode = true", "dev_mode = false");
    let e = TestServer::try_start_with(&toml).await.err().expect("refused");
    assert!(e.contains("sha256: is required outside dev_mode"), "{e}");
}
