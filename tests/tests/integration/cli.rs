//! The CLI verbs, run as child processes of the real `gatehouse::cli::main`.

use gatehouse::secret::sha256_hex;
use gatehouse_tests::{ChildServer, TestServer, run_cli, write_config};

const GOOD: &str = "[server]\nbind = \"127.0.0.1:0\"\n[store]\npath = \"data\"\n";

#[test]
fn check_config_names_file_key_and_reason_for_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_config(
        dir.path(),
        "bad.toml",
        "[server]\nbind = \"somewhere\"\n[tokens]\naccess_token_ttl = \"ages\"\n[[clients]]\nid = \"w\"\nsecret = \"plain\"\n",
    );
    let bad_s = bad.display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "check-config", &bad_s]);
    assert_eq!(code, 1);
    for needle in [
        format!("{bad_s}: server.bind: `somewhere` is not an address"),
        format!("{bad_s}: tokens.access_token_ttl: `ages` is not a duration"),
        format!("{bad_s}: clients[0].secret: plain-text secrets are allowed only with server.dev_mode = true"),
    ] {
        assert!(err.contains(&needle), "missing `{needle}` in:\n{err}");
    }
    let unknown = write_config(dir.path(), "unknown.toml", "[server]\nbnd = 1\n");
    let (code, _, err) = run_cli(&["gatehouse", "check-config", "--config", &unknown.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("server.bnd: unknown key (line 2)"), "{err}");

    let good = write_config(dir.path(), "good.toml", GOOD);
    let (code, out, _) = run_cli(&["gatehouse", "check-config", &good.display().to_string()]);
    assert_eq!(code, 0);
    assert!(out.contains(": ok"), "{out}");
}

#[test]
fn check_config_refuses_what_serve_refuses_and_serve_writes_nothing_first() {
    use gatehouse_tests::plugins::{component, policy_entry};
    let dir = tempfile::tempdir().unwrap();
    let wasm = component("allow_email_domain");
    let wrong_pin = policy_entry("p", "allow_email_domain", &format!("sha256 = \"{}\"", "00".repeat(32)), "");
    let missing = format!(
        "[[plugins]]\nname = \"gone\"\nkind = \"policy\"\npath = \"{}\"\n",
        dir.path().join("nowhere.wasm").display()
    );
    for (name, entry, needle) in
        [("pin.toml", wrong_pin, "but the config pins"), ("missing.toml", missing, "nowhere.wasm")]
    {
        let store = format!("data-{name}");
        let toml = format!("[server]\nbind = \"127.0.0.1:0\"\ndev_mode = true\n[store]\npath = \"{store}\"\n{entry}");
        let cfg = write_config(dir.path(), name, &toml);
        let cfg_s = cfg.display().to_string();
        let (code, _, err) = run_cli(&["gatehouse", "check-config", &cfg_s]);
        assert_eq!(code, 1, "{name}: check-config passed");
        assert!(err.contains(needle) && err.contains("plugins[0]"), "{name}: {err}");
        let (code, _, err) = run_cli(&["gatehouse", "serve", "--config", &cfg_s]);
        assert_eq!(code, 1, "{name}: serve started");
        assert!(err.contains(needle), "{name}: {err}");
        assert!(!dir.path().join(&store).exists(), "{name}: serve created the store before refusing");
    }
    assert!(wasm.exists());
    // The shipped example passes, honestly: its plugins are disabled until pinned.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gatehouse.example.toml");
    let (code, out, err) = run_cli(&["gatehouse", "check-config", &example.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok") && out.contains("0 plugins"), "{out}");
}

#[test]
fn out_of_range_durations_are_written_as_operators_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "g.toml", &format!("{GOOD}[tokens]\nid_token_ttl = \"2d\"\n"));
    let (code, _, err) = run_cli(&["gatehouse", "check-config", &cfg.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("tokens.id_token_ttl: `2d` is out of range (1m to 1d)"), "{err}");
}

#[test]
fn store_verbs_do_not_need_the_secrets_a_server_needs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "local.toml",
        &format!(
            "{GOOD}[admin]\ntoken_env = \"GATEHOUSE_TEST_UNSET_ADMIN\"\n[[clients]]\nid = \"w\"\nsecret_env = \"GATEHOUSE_TEST_UNSET_SECRET\"\n"
        ),
    );
    let cfg_s = cfg.display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "clients", "list", "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("w\tconfig"), "{out}");
    // Serving still needs them, and says which.
    let (code, _, err) = run_cli(&["gatehouse", "check-config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("admin.token_env") && err.contains("clients[0].secret_env"), "{err}");
}

#[test]
fn serve_with_a_broken_config_fails_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_config(dir.path(), "bad.toml", "[server]\nissuer = \"ftp://x\"\n");
    let bad_s = bad.display().to_string();
    let (code, _, err) = run_cli(&["gatehouse", "serve", "--config", &bad_s]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{bad_s}: server.issuer: `ftp://x` is not an http(s) URL")), "{err}");
    let (code, _, err) = run_cli(&["gatehouse", "serve", "--config", "/nonexistent/gatehouse.toml"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/gatehouse.toml") && err.contains("cannot read"), "{err}");
}

#[tokio::test]
async fn clients_add_list_remove_and_the_added_secret_works() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", GOOD);
    let cfg_s = cfg.display().to_string();
    let (code, out, err) = run_cli(&[
        "gatehouse",
        "clients",
        "add",
        "reporter",
        "--scope",
        "reports:read",
        "--audience",
        "reports",
        "--config",
        &cfg_s,
    ]);
    assert_eq!(code, 0, "{err}");
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().trim().to_owned();
    assert!(secret.len() >= 43, "32 random bytes, base64url");
    let (code, _, err) = run_cli(&["gatehouse", "clients", "add", "reporter", "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (_, out, _) = run_cli(&["gatehouse", "clients", "list", "--config", &cfg_s]);
    assert!(out.contains("reporter\tstore\tconfidential"), "{out}");
    assert!(!out.contains(&secret));

    let s = TestServer::start_in(dir, GOOD).await;
    let resp =
        s.post_basic(gatehouse::paths::TOKEN, "reporter", &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 200);
    let dir = s.stop().await;
    let cfg_s = dir.path().join("gatehouse.toml").display().to_string();

    let (code, _, _) = run_cli(&["gatehouse", "clients", "remove", "reporter", "--config", &cfg_s]);
    assert_eq!(code, 0);
    let (_, out, _) = run_cli(&["gatehouse", "clients", "list", "--config", &cfg_s]);
    assert!(!out.contains("reporter"));
}

#[test]
fn store_verbs_say_plainly_when_the_server_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "gatehouse.toml", GOOD);
    let cfg_s = cfg.display().to_string();
    let server = ChildServer::spawn(&cfg);
    let (code, _, err) = run_cli(&["gatehouse", "keys", "list", "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("is locked by another process") && err.contains("is the server running"), "{err}");
    server.kill9();
    let (code, out, _) = run_cli(&["gatehouse", "keys", "list", "--config", &cfg_s]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().filter(|l| l.contains("\tactive")).count(), 2, "{out}");
    let (code, out, _) = run_cli(&["gatehouse", "keys", "rotate", "--config", &cfg_s]);
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = run_cli(&["gatehouse", "keys", "list", "--config", &cfg_s]);
    assert_eq!(out.lines().filter(|l| l.contains("\tactive")).count(), 2);
    assert_eq!(out.lines().filter(|l| l.contains("retired, published until")).count(), 2);
}

#[test]
fn dev_default_serve_prints_the_demo_client_it_created() {
    let dir = tempfile::tempdir().unwrap();
    // The dev default stores under ./data relative to the working directory; run the child
    // there by pointing a copy of the embedded config at the temp dir.
    let cfg = write_config(dir.path(), "dev.toml", gatehouse::config::DEV_DEFAULT_TOML);
    let server = ChildServer::spawn(&cfg);
    assert!(server.stdout.contains("created demo client: client_id=demo client_secret="), "{}", server.stdout);
    assert!(server.stdout.contains("listening on http://127.0.0.1:"), "{}", server.stdout);
    let secret =
        server.stdout.split("client_secret=").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_owned();
    server.kill9();
    // Second start: the demo client exists, it says how to get a new secret, and its secret
    // is stored only as a hash.
    let again = ChildServer::spawn(&cfg);
    assert!(!again.stdout.contains("created demo client"));
    assert!(again.stdout.contains("client `demo` exists") && again.stdout.contains("rotate-secret demo"));
    drop(again);
    let (_, out, _) = run_cli(&["gatehouse", "clients", "list", "--config", &cfg.display().to_string()]);
    assert!(out.contains("demo\tstore"));
    assert!(!out.contains(&secret) && !out.contains(&sha256_hex(secret.as_bytes())));
}
