//! Config loading: the contract keys, env overrides and the problems reported.

use std::path::Path;

use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml", Path::new("/etc/gh"), &|_| None)
}

#[test]
fn dev_default_loads() {
    let c = Config::dev_default().unwrap();
    assert!(c.server.dev_mode);
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
}

#[test]
fn contract_example_loads() {
    let c = load(
        r#"
[server]
bind = "127.0.0.1:9000"
issuer = "http://127.0.0.1:9000/"
dev_mode = true
[store]
path = "data"
[tokens]
access_token_ttl = "10m"
[[clients]]
id = "worker"
secret = "0123456789abcdef0123456789"
public = false
redirect_uris = []
grant_types = ["client_credentials"]
scopes = ["logs:write"]
audiences = ["logging-service"]
[[users]]
username = "Alice"
password = "pw"
email = "Alice@Example.com"
"#,
    )
    .unwrap();
    assert_eq!(c.server.issuer.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(c.store_path, Path::new("/etc/gh/data"));
    assert_eq!(c.tokens.access_token_ttl.as_secs(), 600);
    assert_eq!(c.clients[0].audiences, ["logging-service"]);
    assert_eq!(c.users[0].username, "alice");
    assert_eq!(c.users[0].email.as_deref(), Some("alice@example.com"));
    assert!(c.warnings.is_empty());
}

#[test]
fn unknown_key_names_line_and_section() {
    let e = load("[server]\nbnd = \"x\"\n").unwrap_err();
    assert_eq!(e.problems[0].key, "server.bnd");
    assert_eq!(e.problems[0].message, "unknown key (line 2)", "{e}");
    assert!(e.to_string().starts_with("test.toml: 1 problem"));
}

#[test]
fn unknown_keys_do_not_hide_the_other_problems() {
    let e = load(
        "colour = \"red\"\n[server]\nbind = \"nowhere\"\nbnd = 1\n[[clients]]\nid = \"a\"\n[[clients]]\nid = \"b\"\ncolour = 2\n\
         [tokens]\naccess_token_ttl = \"forever\"\n",
    )
    .unwrap_err();
    let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
    for k in ["colour", "server.bnd", "clients[1].colour", "server.bind", "tokens.access_token_ttl"] {
        assert!(keys.contains(&k), "{k} missing from {e}");
    }
    let colour = e.problems.iter().find(|p| p.key == "clients[1].colour").unwrap();
    assert_eq!(colour.message, "unknown key (line 9)");
}

#[test]
fn every_problem_is_reported() {
    let e = load(
        r#"
[server]
bind = "nowhere"
[tokens]
access_token_ttl = "forever"
[[clients]]
id = "a"
secret = "plain"
scopes = ["has space"]
"#,
    )
    .unwrap_err();
    let keys: Vec<_> = e.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["server.bind", "tokens.access_token_ttl", "clients[0].secret", "clients[0].scopes"]);
}

#[test]
fn env_overrides_scalars() {
    let env = |k: &str| match k {
        "GATEHOUSE_SERVER_BIND" => Some("127.0.0.1:7000".to_owned()),
        "GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL" => Some("5m".to_owned()),
        _ => None,
    };
    let c = Config::from_toml("[server]\ndev_mode = true\n", "t.toml", Path::new("."), &env).unwrap();
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:7000");
    assert_eq!(c.tokens.access_token_ttl.as_secs(), 300);
}

#[test]
fn short_secret_warns_but_loads() {
    let c = load("[server]\ndev_mode = true\n[[clients]]\nid = \"w\"\nsecret = \"short\"\n").unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.clients[0].grant_types, ["client_credentials"]);
}

#[test]
fn secret_env_missing_is_a_problem() {
    let e = load("[[clients]]\nid = \"w\"\nsecret_env = \"NOPE\"\n").unwrap_err();
    assert_eq!(e.problems[0].key, "clients[0].secret_env");
}

#[test]
fn rates_parse() {
    let r = validate::parse_rate("30/min").unwrap();
    assert_eq!((r.count.get(), r.per.as_secs()), (30, 60));
    assert!(validate::parse_rate("0/s").is_none());
    assert!(validate::parse_rate("5/fortnight").is_none());
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../../config/gatehouse.example.toml");
    let c = Config::from_toml(text, "gatehouse.example.toml", Path::new("."), &|_| None).unwrap();
    assert_eq!(c.clients.len(), 5);
    assert_eq!(
        c.clients.iter().find(|c| c.id == "ops-audit").map(|c| c.roles.clone()),
        Some(vec!["auditor".to_owned()])
    );
    assert_eq!(c.rate_limits.failed_auth_per_ip.count.get(), 30);
    assert_eq!(c.tokens.refresh_token_ttl.as_secs(), 30 * 24 * 3600);
    assert_eq!(c.login_limits.lockout.threshold, 5);
    assert_eq!(c.sessions.idle_timeout.as_secs(), 8 * 3600);
    // Its plugins are shown but disabled: they are loaded only once pinned.
    assert!(c.plugins.is_empty());
    assert_eq!(c.users[0].groups, vec!["staff".to_owned()]);
}

#[test]
fn plugin_entries_are_checked_and_keep_their_order() {
    let toml = r#"
[server]
dev_mode = true
[plugin_runtime]
breaker_cooldown = "forever"
[[plugins]]
name = "Bad Name"
kind = "policy"
path = "a.wasm"
[[plugins]]
name = "b"
kind = "spell-checker"
path = "b.wasm"
memory_limit_mb = 100000
allowed_hosts = ["https://api.example.com/x"]
secrets = ["NOT-A-VAR"]
[[plugins]]
name = "b"
kind = "policy"
"#;
    let e = Config::from_toml(toml, "f.toml", Path::new("."), &|_| None).unwrap_err();
    let keys: Vec<_> = e.problems.iter().map(|p| p.key.as_str()).collect();
    for k in [
        "plugin_runtime.breaker_cooldown",
        "plugins[0].name",
        "plugins[1].kind",
        "plugins[1].memory_limit_mb",
        "plugins[1].allowed_hosts[0]",
        "plugins[1].secrets[0]",
        "plugins[2].name",
        "plugins[2].path",
    ] {
        assert!(keys.contains(&k), "{k} missing from {e}");
    }
    let ok = r#"
[server]
dev_mode = true
[[plugins]]
name = "first"
kind = "policy"
path = "p/first.wasm"
timeout_ms = 500
[plugins.config]
s = "text"
n = 3
t = { a = [1, true] }
[[plugins]]
name = "off"
kind = "policy"
path = "off.wasm"
enabled = false
"#;
    let c = Config::from_toml(ok, "f.toml", Path::new("/etc/gh"), &|_| None).unwrap();
    assert_eq!(c.plugins.len(), 1, "disabled entries are not loaded");
    let p = &c.plugins[0];
    assert_eq!(p.path, Path::new("/etc/gh/p/first.wasm"));
    assert_eq!(p.limits.timeout.as_millis(), 500);
    assert_eq!(p.limits.cpu_budget.as_millis(), 50, "the policy default");
    let get = |k: &str| p.config.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("s"), Some("text"), "strings as they are");
    assert_eq!(get("n"), Some("3"));
    assert_eq!(get("t"), Some(r#"{"a":[1,true]}"#), "other values as JSON");
}

#[test]
fn notifier_routes_are_checked_and_only_for_notifiers() {
    let bad = r#"
[server]
dev_mode = true
[notifications]
max_attempts = 0
retry_base = "1ms"
[[plugins]]
name = "hook"
kind = "notifier"
path = "h.wasm"
events = ["login.failed", "login.exploded"]
channel = "pigeon"
[[plugins]]
name = "hook2"
kind = "notifier"
path = "h.wasm"
channel = "webhook"
[[plugins]]
name = "pol"
kind = "policy"
path = "p.wasm"
events = ["login.failed"]
"#;
    let e = Config::from_toml(bad, "f.toml", Path::new("."), &|_| None).unwrap_err();
    let keys: Vec<_> = e.problems.iter().map(|p| p.key.as_str()).collect();
    for k in [
        "notifications.max_attempts",
        "notifications.retry_base",
        "plugins[0].events[1]",
        "plugins[0].channel",
        "plugins[1].events",
        "plugins[1].recipient",
        "plugins[2].events",
    ] {
        assert!(keys.contains(&k), "{k} missing from {e}");
    }
    let ok = r#"
[server]
dev_mode = true
[[plugins]]
name = "hook"
kind = "notifier"
path = "h.wasm"
events = ["*"]
channel = "webhook"
recipient = "https://hooks.example/abc"
"#;
    let c = Config::from_toml(ok, "f.toml", Path::new("."), &|_| None).unwrap();
    let route = c.plugins[0].route.as_ref().unwrap();
    assert!(route.wants("user.locked") && route.wants("token.revoked"));
    assert_eq!(c.notifications.max_attempts, 8);
}

#[test]
fn browser_clients_are_checked() {
    let toml = r#"
[[clients]]
id = "a"
secret_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
grant_types = ["authorization_code"]
[[clients]]
id = "b"
secret_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
grant_types = ["refresh_token", "authorization_code"]
redirect_uris = ["http://app.example.com/cb", "http://127.0.0.1:9000/cb", "com.example.app:/cb", "myapp:/cb"]
[login]
lockout_threshold = 5000
"#;
    let e = Config::from_toml(toml, "f.toml", Path::new("."), &|_| None).unwrap_err();
    let keys: Vec<_> = e.problems.iter().map(|p| (p.key.as_str(), p.message.as_str())).collect();
    assert!(keys.iter().any(|(k, m)| *k == "clients[0].redirect_uris" && m.contains("at least one")), "{e}");
    assert!(
        keys.iter().any(|(k, m)| *k == "clients[1].redirect_uris" && m.contains("http://app.example.com/cb")),
        "{e}"
    );
    assert!(keys.iter().any(|(_, m)| m.contains("myapp:/cb")), "{e}");
    assert!(!keys.iter().any(|(_, m)| m.contains("`http://127.0.0.1") || m.contains("`com.example.app:")), "{e}");
    assert!(keys.iter().any(|(k, _)| *k == "login.lockout_threshold"), "{e}");
}

#[test]
fn an_otlp_endpoint_needs_the_otel_build() {
    let toml = "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/\"\nsample_ratio = 0.25\n";
    let r = Config::from_toml(toml, "f.toml", Path::new("."), &|_| None);
    if cfg!(feature = "otel") {
        let otlp = r.unwrap().server.otlp.unwrap();
        assert_eq!(otlp.traces_url, "http://127.0.0.1:4318/v1/traces");
        assert_eq!((otlp.service_name.as_str(), otlp.sample_ratio), ("gatehouse", 0.25));
    } else {
        let e = r.unwrap_err();
        assert!(e.problems.iter().any(|p| p.key == "telemetry.otlp_endpoint" && p.message.contains("--features otel")));
    }
    let e = Config::from_toml("[telemetry]\nsample_ratio = 2.0\n", "f.toml", Path::new("."), &|_| None).unwrap_err();
    assert!(e.problems.iter().any(|p| p.key == "telemetry.sample_ratio"), "{e}");
}
