//! Hot reload (admin endpoint and SIGHUP), and the author tools `plugins check` and
//! `policy eval`.

use std::time::Duration;

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::plugins::{component, policy_entry};
use gatehouse_tests::{ChildServer, SVC_ID, SVC_SECRET, TestServer, run_cli, standard_config, write_config};

const ADMIN: &str = "admin-token-for-plugin-tests-0123";

fn hostile(mode: &str, extra: &str, config: &str) -> String {
    let entry = policy_entry("hostile", "test_hostile", extra, &format!("mode = \"{mode}\"\n{config}"));
    format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n{entry}", standard_config(), sha256_hex(ADMIN.as_bytes()))
}

async fn cc_status(http: &reqwest::Client, base: &str) -> u16 {
    let url = format!("{base}{}", paths::TOKEN);
    gatehouse_tests::post_basic(http, &url, SVC_ID, SVC_SECRET, &[("grant_type", "client_credentials")])
        .await
        .status()
        .as_u16()
}

async fn reload(s: &TestServer) -> (u16, serde_json::Value) {
    let resp = s.http.post(s.url(paths::ADMIN_PLUGINS_RELOAD)).bearer_auth(ADMIN).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn admin_reload_swaps_the_set_and_a_broken_set_leaves_the_old_one_running() {
    let s = TestServer::start_with(&hostile("deny", "version = \"1\"", "")).await;
    let config_file = s.dir.path().join("gatehouse.toml");
    assert_eq!(cc_status(&s.http, &s.base).await, 403);

    std::fs::write(&config_file, hostile("allow", "version = \"2\"", "")).unwrap();
    let (status, body) = reload(&s).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plugins"][0]["version"], "2");
    assert_eq!(cc_status(&s.http, &s.base).await, 200);

    // A pinned digest that does not match: refused, the running set stays.
    let wrong = format!("version = \"3\"\nsha256 = \"{}\"", "a".repeat(64));
    std::fs::write(&config_file, hostile("deny", &wrong, "")).unwrap();
    let (status, body) = reload(&s).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("sha256"), "{body}");
    assert_eq!(cc_status(&s.http, &s.base).await, 200, "still the allowing version 2");
    let listed: serde_json::Value =
        s.http.get(s.url(paths::ADMIN_PLUGINS)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["plugins"][0]["version"], "2");
    let names = s.audit_events(&["plugin_reload_failed"]).await;
    assert!(names.contains(&"plugin_reload_failed") && names.contains(&"plugins_loaded"));
    // The admin token is required.
    let resp = s.http.post(s.url(paths::ADMIN_PLUGINS_RELOAD)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_plugin_of_any_kind_added_by_reload_with_its_defaults_fits() {
    // Started with one policy (32 MiB), then the README's terms-of-service step is added
    // without limits (a login step's default is 64 MiB).
    let s = TestServer::start_with(&hostile("allow", "", "")).await;
    let config_file = s.dir.path().join("gatehouse.toml");
    let step = gatehouse_tests::plugins::plugin_entry(
        "terms",
        "login-step",
        "terms_of_service",
        "",
        "version = \"1\"\ntext = \"Accept.\"\nurl = \"https://example.com/terms\"",
    );
    std::fs::write(&config_file, format!("{}{step}", hostile("allow", "", ""))).unwrap();
    let (status, body) = reload(&s).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plugins"].as_array().unwrap().len(), 2, "{body}");
    // One that asks for more than the slots hold is refused with the key to set.
    let big =
        gatehouse_tests::plugins::plugin_entry("terms", "login-step", "terms_of_service", "memory_limit_mb = 200", "");
    std::fs::write(&config_file, format!("{}{big}", hostile("allow", "", ""))).unwrap();
    let (status, body) = reload(&s).await;
    assert_eq!(status, 422);
    assert!(body["error_description"].as_str().unwrap().contains("[plugin_runtime] max_memory_mb = 200"), "{body}");
}

#[tokio::test]
async fn requests_in_flight_during_a_reload_all_succeed() {
    let s = TestServer::start_with(&hostile("sleep", "", "sleep_ms = 20")).await;
    let config_file = s.dir.path().join("gatehouse.toml");
    let load = async {
        let mut statuses = Vec::new();
        for _ in 0..15 {
            let batch = futures_join(&s).await;
            statuses.extend(batch);
        }
        statuses
    };
    let swap = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(&config_file, hostile("allow", "", "")).unwrap();
        let (status, body) = reload(&s).await;
        assert_eq!(status, 200, "{body}");
    };
    let (statuses, ()) = tokio::join!(load, swap);
    assert_eq!(statuses.len(), 60);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// Four concurrent token requests.
async fn futures_join(s: &TestServer) -> [u16; 4] {
    let (a, b, c, d) = tokio::join!(
        cc_status(&s.http, &s.base),
        cc_status(&s.http, &s.base),
        cc_status(&s.http, &s.base),
        cc_status(&s.http, &s.base)
    );
    [a, b, c, d]
}

#[tokio::test]
async fn sighup_reloads_the_plugins_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", &hostile("deny", "", ""));
    let server = ChildServer::spawn(&cfg);
    let http = reqwest::Client::new();
    assert_eq!(cc_status(&http, &server.base).await, 403);
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap().replace("mode = \"deny\"", "mode = \"allow\""))
        .unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let mut last = 0;
    for _ in 0..100 {
        last = cc_status(&http, &server.base).await;
        if last == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, 200, "the reloaded policy allows");
}

#[tokio::test]
async fn sighup_does_not_stop_a_server_without_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", &standard_config());
    let server = ChildServer::spawn(&cfg);
    let status = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    assert_eq!(cc_status(&http, &server.base).await, 200, "still serving");
}

#[test]
fn plugins_check_validates_a_component_and_names_the_grants_it_needs() {
    let ok = component("allow_email_domain").display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "plugins", "check", &ok, "--kind", "policy"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, kind policy (gatehouse:plugin@0.1.0)") && out.contains("sha256 = \""), "{out}");
    assert!(!out.contains("needs"), "{out}");
    let net = component("test_net_probe").display().to_string();
    let (code, out, _) = run_cli(&["gatehouse", "plugins", "check", &net]);
    assert_eq!(code, 0);
    assert!(out.contains("needs allowed_hosts") && out.contains("needs secrets"), "{out}");
    let cmd = component("test_not_a_plugin").display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "plugins", "check", &cmd]);
    assert_eq!(code, 1);
    assert!(err.contains("policy-plugin world"), "{err}");
    // Every kind is checked against its own world.
    let terms = component("terms_of_service").display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "plugins", "check", &terms, "--kind", "login-step"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, kind login-step") && out.contains("kv-store"), "{out}");
    let (code, _, err) = run_cli(&["gatehouse", "plugins", "check", &terms, "--kind", "notifier"]);
    assert_eq!(code, 1);
    assert!(err.contains("notifier-plugin world"), "{err}");
    assert!(err.contains(&terms) && err.contains("try --kind login-step"), "names the file and the kind: {err}");
    // Without --kind (policy), a connector is named with the kind its exports match.
    let connector = component("oidc_connector").display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "plugins", "check", &connector]);
    assert_eq!(code, 1);
    assert!(err.contains(&connector) && err.contains("try --kind idp-connector"), "{err}");
    let hook = component("webhook_notifier").display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "plugins", "check", &hook, "--kind", "notifier"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, kind notifier") && out.contains("needs allowed_hosts"), "{out}");
}

#[test]
fn policy_eval_prints_each_decision_and_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let entry = policy_entry("email-domain", "allow_email_domain", "", "allowed_email_domain = \"example.com\"");
    let cfg = write_config(dir.path(), "gatehouse.toml", &format!("{}{entry}", standard_config()));
    let input = |email: &str| {
        let json = format!(
            r#"{{"stage": "authorize", "client_id": "web", "scopes": ["openid"], "subject": {{"id": "u1", "email": "{email}"}}}}"#
        );
        write_config(dir.path(), "input.json", &json).display().to_string()
    };
    let cfg_s = cfg.display().to_string();
    let (code, out, err) =
        run_cli(&["gatehouse", "policy", "eval", "--config", &cfg_s, "--input", &input("a@example.com")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("email-domain (") && out.contains(") allow in "), "{out}");
    assert!(out.contains("verdict: allow scopes=[openid]"), "{out}");
    let (_, out, _) = run_cli(&["gatehouse", "policy", "eval", "--config", &cfg_s, "--input", &input("a@evil.com")]);
    assert!(out.contains("deny: email domain evil.com is not allowed") && out.contains("verdict: deny"), "{out}");
}

/// The `gatehouse_plugin_compilations_total` counter.
async fn compilations(s: &TestServer) -> u64 {
    let text = s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("gatehouse_plugin_compilations_total ")).expect(&text);
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_reload_compiles_only_components_whose_file_changed() {
    let s = TestServer::start_with(&hostile("deny", "version = \"1\"", "")).await;
    let config_file = s.dir.path().join("gatehouse.toml");
    assert_eq!(compilations(&s).await, 1, "the start compiled the one plugin");
    assert_eq!(cc_status(&s.http, &s.base).await, 403);
    // New settings, same file: the compiled component is reused and the settings take effect.
    for (mode, status) in [("allow", 200), ("deny", 403), ("allow", 200)] {
        std::fs::write(&config_file, hostile(mode, "version = \"2\"", "")).unwrap();
        assert_eq!(reload(&s).await.0, 200);
        assert_eq!(cc_status(&s.http, &s.base).await, status);
    }
    assert_eq!(compilations(&s).await, 1, "unchanged bytes are not compiled again");
    // Another file: compiled once, and again only if it comes back after being dropped.
    let other = policy_entry("other", "allow_email_domain", "", "");
    let both = format!("{}\n{other}", hostile("allow", "version = \"2\"", ""));
    std::fs::write(&config_file, &both).unwrap();
    assert_eq!(reload(&s).await.0, 200);
    assert_eq!(compilations(&s).await, 2);
    assert_eq!(reload(&s).await.0, 200);
    assert_eq!(compilations(&s).await, 2);
}
