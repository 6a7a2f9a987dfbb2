//! Replay of recorded policy decisions against a candidate component: through the admin API
//! of a running server, from a stopped server's store and from a backup file; at the recorded
//! time; with inputs that hold no secret.

use gatehouse::audit::AuditEvent;
use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::plugins::{component, policy_entry};
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, run_cli, standard_config, write_config};
use serde_json::Value;

const ADMIN: &str = "admin-token-for-replay-tests-01234";
const BOB_PASSWORD: &str = "bob's password 123";

fn admin() -> String {
    format!("\n[admin]\ntoken_sha256 = \"{}\"\n", sha256_hex(ADMIN.as_bytes()))
}

fn params() -> [(&'static str, &'static str); 5] {
    [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid email api offline_access"),
        ("state", "st-1"),
    ]
}

/// Signs `user` in, redeems the code and calls userinfo; `refresh` also refreshes. Returns
/// every credential the flow handled (none may reach the audit log).
async fn flow(s: &TestServer, user: &str, password: &str, refresh: bool) -> Vec<String> {
    let b = Browser::new(&s.base);
    let cb = b.sign_in(&params(), user, password).await;
    let code = query_param(&cb, "code").unwrap_or_else(|| panic!("no code: {cb}"));
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_owned();
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let mut seen = vec![code, at.clone(), rt.clone(), body["id_token"].as_str().unwrap().to_owned()];
    if refresh {
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
        let resp = s.post_basic(paths::TOKEN, WEB_ID, WEB_SECRET, &form).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        seen.push(v["access_token"].as_str().unwrap().to_owned());
        seen.push(v["refresh_token"].as_str().unwrap().to_owned());
    }
    let info = s.http.get(s.url(paths::USERINFO)).bearer_auth(&at).send().await.unwrap();
    assert_eq!(info.status(), 200);
    seen
}

async fn cc(s: &TestServer) -> String {
    let resp = s.post_basic(paths::TOKEN, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// The recorded `policy_decision`s as (seq, username or "-"), once there are `n`.
async fn decisions(s: &TestServer, n: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for _ in 0..100 {
        out = gatehouse::audit::all_records(s.state.db.audit(), 0)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| match r.event {
                AuditEvent::PolicyDecision { input: Some(input), .. } => {
                    Some((r.seq, input.subject.map_or_else(|| "-".to_owned(), |s| s.username)))
                }
                _ => None,
            })
            .collect();
        if out.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    out
}

async fn replay_post(s: &TestServer, query: &str, body: Vec<u8>) -> (u16, Value) {
    let url = format!("{}{}{query}", s.base, paths::ADMIN_POLICY_REPLAY);
    let resp = s.http.post(url).bearer_auth(ADMIN).body(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn counts(report: &Value) -> [u64; 5] {
    ["replayed", "agree", "allow_to_deny", "deny_to_allow", "failures"].map(|k| report[k].as_u64().unwrap())
}

fn seqs(report: &Value) -> Vec<u64> {
    report["differences"].as_array().unwrap().iter().map(|d| d["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn a_stricter_candidate_reports_exactly_the_records_it_would_change_online_offline_and_from_a_backup() {
    // The running gate lets everyone in; its config already carries the candidate's setting.
    let gate = policy_entry("gate", "test_hostile", "", "mode = \"allow\"\nallowed_email_domain = \"example.com\"");
    let s = TestServer::start_with(&format!("{}{}{gate}", browser_config(), admin())).await;
    let mut secrets =
        vec![ALICE_PASSWORD.to_owned(), BOB_PASSWORD.to_owned(), WEB_SECRET.to_owned(), SVC_SECRET.to_owned()];
    secrets.extend(flow(&s, ALICE, ALICE_PASSWORD, true).await);
    secrets.extend(flow(&s, "bob", BOB_PASSWORD, false).await);
    secrets.push(cc(&s).await);
    // alice: authorize, token, refresh, userinfo; bob: authorize, token, userinfo; svc: token.
    let recorded = decisions(&s, 8).await;
    assert_eq!(recorded.len(), 8, "{recorded:?}");
    let bobs: Vec<u64> = recorded.iter().filter(|(_, u)| u == "bob").map(|(seq, _)| *seq).collect();
    assert_eq!(bobs.len(), 3);

    // bob has no email address: the candidate would have refused exactly his three decisions.
    let candidate = std::fs::read(component("allow_email_domain")).unwrap();
    let (status, report) = replay_post(&s, "", candidate.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(counts(&report), [8, 5, 3, 0, 0], "{report}");
    assert_eq!(report["plugin"], "gate");
    assert_eq!(report["complete"], true);
    assert_eq!(seqs(&report), bobs, "{report}");
    for d in report["differences"].as_array().unwrap() {
        assert_eq!((d["recorded"].as_str(), d["candidate"].as_str()), (Some("allow"), Some("deny")));
        assert_eq!(d["reason"], "the user has no email address");
    }
    // Bounded by count when asked.
    let (status, short) = replay_post(&s, "?limit=2", candidate.clone()).await;
    assert_eq!(status, 200, "{short}");
    assert_eq!((short["replayed"].as_u64(), short["complete"].as_bool()), (Some(2), Some(false)), "{short}");
    s.audit_events(&["policy_replayed"]).await;

    // No credential of any of those flows is in the audit log, the replay inputs included.
    let log: String = gatehouse::audit::all_records(s.state.db.audit(), 0)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    assert!(log.contains("\"input\":{"), "the inputs are recorded");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a credential is in the audit log");
        assert!(!report.to_string().contains(secret.as_str()));
    }

    // The CLI against the running server (the child process posts the component).
    let wasm = component("allow_email_domain").display().to_string();
    let (url, path) = (s.base.clone(), wasm.clone());
    let remote = tokio::task::spawn_blocking(move || {
        gatehouse_tests::gatehouse_command(&["gatehouse", "policy", "replay", "--plugin", &path, "--url", &url])
            .env("GATEHOUSE_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&remote.stdout);
    assert!(remote.status.success(), "{out} {}", String::from_utf8_lossy(&remote.stderr));
    assert!(out.contains("agree 5, allow->deny 3, deny->allow 0"), "{out}");

    // The same replay on the stopped server's store, and from a backup of it.
    let dir = s.stop().await;
    let cfg = dir.path().join("gatehouse.toml").display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "policy", "replay", "--plugin", &wasm, "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{err}");
    let offline: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(counts(&offline), [8, 5, 3, 0, 0], "{offline}");
    assert_eq!(seqs(&offline), bobs);
    let backup = dir.path().join("b.jsonl").display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "backup", &backup, "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) =
        run_cli(&["gatehouse", "policy", "replay", "--plugin", &wasm, "--config", &cfg, "--backup", &backup]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replayed 8 decisions of gate"), "{out}");
    assert!(out.contains("agree 5, allow->deny 3, deny->allow 0"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("allow -> deny (the user has no email address)")).count(), 3, "{out}");
    for secret in &secrets {
        assert!(!out.contains(secret.as_str()));
    }
}

#[tokio::test]
async fn a_time_dependent_candidate_replays_at_the_recorded_time_and_since_until_select_records() {
    let gate = policy_entry("gate", "test_hostile", "", "mode = \"allow\"");
    let s = TestServer::start_with(&format!("{}{gate}", standard_config())).await;
    let t0 = gatehouse::audit::unix_ms(gatehouse::clock::Clock::now(&s.clock));
    cc(&s).await;
    s.clock.advance(std::time::Duration::from_secs(3600));
    cc(&s).await;
    assert_eq!(decisions(&s, 2).await.len(), 2);
    let dir = s.stop().await;

    // The candidate denies every call before t0 + 30 min by its wall clock. Run at today's
    // time it would deny both; at the recorded times only the first.
    let until = t0 + 30 * 60 * 1000;
    let candidate_gate =
        policy_entry("gate", "test_hostile", "", &format!("mode = \"clock\"\ndeny_until_ms = {until}"));
    let toml = format!("{}{candidate_gate}", standard_config());
    let cfg = write_config(dir.path(), "replay.toml", &toml).display().to_string();
    let wasm = component("test_hostile").display().to_string();
    let replay = |extra: &[&str]| {
        let mut args = vec!["gatehouse", "policy", "replay", "--plugin", &wasm, "--config", &cfg, "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = run_cli(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let all = replay(&[]);
    assert_eq!(counts(&all), [2, 1, 1, 0, 0], "{all}");
    assert_eq!(all["differences"][0]["reason"], format!("before {until}"));

    let half = gatehouse::audit::format_time_ms(until);
    let later = replay(&["--since", &half, "--name", "gate"]);
    assert_eq!(counts(&later), [1, 1, 0, 0, 0], "{later}");
    let earlier = replay(&["--until", &half]);
    assert_eq!(counts(&earlier), [1, 0, 1, 0, 0], "{earlier}");

    // Clear refusals: not a policy component, a plugin name of another kind, a bad time.
    let step = component("terms_of_service").display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "policy", "replay", "--plugin", &step, "--config", &cfg]);
    assert_ne!(code, 0);
    assert!(err.contains("policy-plugin world"), "{err}");
    let (code, _, err) =
        run_cli(&["gatehouse", "policy", "replay", "--plugin", &wasm, "--config", &cfg, "--since", "yesterday"]);
    assert_ne!(code, 0);
    assert!(err.contains("--since `yesterday` is not an RFC 3339 time"), "{err}");
}

#[tokio::test]
async fn the_replay_endpoint_refuses_bad_requests_clearly() {
    let gate = policy_entry("gate", "test_hostile", "", "mode = \"allow\"");
    let other = policy_entry("other", "test_hostile", "", "mode = \"allow\"");
    let s = TestServer::start_with(&format!("{}{}{gate}{other}", standard_config(), admin())).await;
    cc(&s).await;
    let wasm = std::fs::read(component("test_hostile")).unwrap();
    let url = format!("{}{}", s.base, paths::ADMIN_POLICY_REPLAY);
    let resp = s.http.post(&url).body(wasm.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 401, "the admin token is required");

    let (status, body) = replay_post(&s, "", wasm.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("2 policy plugins (gate, other)"), "{body}");
    let (status, body) = replay_post(&s, "?name=gate&limit=0", wasm.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let (status, body) = replay_post(&s, "?name=gate", Vec::new()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = replay_post(&s, "?name=gate", b"not wasm".to_vec()).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid_candidate")), "{body}");
    let (status, body) = replay_post(&s, "?name=gate&since=soon", wasm.clone()).await;
    assert_eq!(status, 400, "{body}");

    let (status, report) = replay_post(&s, "?name=gate", wasm).await;
    assert_eq!(status, 200, "{report}");
    // The candidate runs with gate's settings (mode = "allow"): it agrees.
    assert_eq!(counts(&report), [1, 1, 0, 0, 0], "{report}");
}

#[tokio::test]
async fn replay_reads_a_postgres_store_while_its_server_runs() {
    let Some(url) = gatehouse_tests::pg::fresh_url().await else { return };
    let gate = policy_entry("gate", "test_hostile", "", "mode = \"allow\"");
    let toml = gatehouse_tests::pg::on_postgres(&format!("{}{gate}", standard_config()), &url);
    let s = TestServer::start_with(&toml).await;
    cc(&s).await;
    cc(&s).await;
    assert_eq!(decisions(&s, 2).await.len(), 2);
    // A candidate that refuses the client those decisions were about, run with another
    // config naming the same database.
    let candidate = policy_entry("gate", "test_hostile", "", &format!("mode = \"deny-client\"\nclient = \"{SVC_ID}\""));
    let other = gatehouse_tests::pg::on_postgres(&format!("{}{candidate}", standard_config()), &url);
    let cfg = write_config(s.dir.path(), "replay.toml", &other).display().to_string();
    let wasm = component("test_hostile").display().to_string();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&["gatehouse", "policy", "replay", "--plugin", &wasm, "--config", &cfg, "--json"])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(counts(&report), [2, 0, 2, 0, 0], "{report}");
    assert_eq!(report["differences"][0]["reason"], format!("client {SVC_ID} is refused"));
}
