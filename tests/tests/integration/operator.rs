//! What a new operator meets first: the root page, the CLI's answers (clients, secrets,
//! groups, key times, piped exports, restores), the logs' shape, and the second start.

use std::process::Stdio;

use gatehouse_tests::{ChildServer, TestServer, gatehouse_command, run_cli, run_cli_with_stdin, write_config};
use serde_json::Value;

const GOOD: &str = "[server]\nbind = \"127.0.0.1:0\"\n[store]\npath = \"data\"\n";

#[tokio::test]
async fn the_root_is_a_page_for_browsers_and_json_for_programs() {
    let s = TestServer::start().await;
    let page = s.http.get(s.url("/")).header("accept", "text/html,application/xhtml+xml;q=0.9").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let body = page.text().await.unwrap();
    let host = s.base.trim_start_matches("http://");
    assert!(body.contains("openid-configuration") && body.contains("jwks") && body.contains(host), "{body}");
    let api = s.http.get(s.url("/")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(api.status(), 404);
    let v: Value = api.json().await.unwrap();
    assert_eq!(v["error"], "not_found");
}

#[test]
fn clients_add_refuses_a_client_it_could_not_use_and_rotates_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "g.toml", GOOD);
    let cfg_s = cfg.display().to_string();
    let (code, _, err) = run_cli(&[
        "gatehouse",
        "clients",
        "add",
        "app",
        "--public",
        "--grant-type",
        "authorization_code",
        "--config",
        &cfg_s,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--redirect-uri") && err.contains("needs at least one redirect URI"), "{err}");
    let (_, out, _) = run_cli(&["gatehouse", "clients", "list", "--config", &cfg_s]);
    assert!(!out.contains("app\t"), "nothing was stored: {out}");
    let (code, out, err) = run_cli(&[
        "gatehouse",
        "clients",
        "add",
        "app",
        "--public",
        "--redirect-uri",
        "https://app.example/cb",
        "--config",
        &cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run_cli(&["gatehouse", "clients", "add", "svc", "--grant-type", "magic", "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("--grant-type") && err.contains("unknown grant type `magic`"), "{err}");

    // A new secret for a stored client: shown once, the old one stops working.
    let (_, out, _) = run_cli(&["gatehouse", "clients", "add", "worker", "--config", &cfg_s]);
    let first = out.split("client_secret: ").nth(1).unwrap().lines().next().unwrap().to_owned();
    let (code, out, err) = run_cli(&["gatehouse", "clients", "rotate-secret", "worker", "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    let second = out.split("client_secret: ").nth(1).unwrap().lines().next().unwrap().to_owned();
    assert_ne!(first, second);
    let (code, _, err) = run_cli(&["gatehouse", "clients", "rotate-secret", "app", "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("public"), "{err}");
    let server = ChildServer::spawn(&cfg);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = server.url("/token");
        let status = |secret: String| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                gatehouse_tests::post_basic(&http, &url, "worker", &secret, &[("grant_type", "client_credentials")])
                    .await
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(status(first).await, 401, "the old secret no longer works");
        assert_eq!(status(second).await, 200);
    });
}

#[test]
fn users_get_groups_from_the_cli_and_key_times_are_rfc_3339() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "g.toml",
        &format!("{GOOD}[login]\npassword_hash_memory_kib = 256\npassword_hash_iterations = 1\n"),
    );
    let cfg_s = cfg.display().to_string();
    let (code, _, err) = run_cli_with_stdin(
        &["gatehouse", "users", "add", "carol", "--group", "staff", "--group", "ops", "--config", &cfg_s],
        "a long enough password\n",
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run_cli(&["gatehouse", "users", "list", "--config", &cfg_s]);
    assert!(out.contains("groups=staff,ops"), "{out}");
    let (code, out, err) = run_cli(&["gatehouse", "users", "set-groups", "carol", "admins", "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("admins"));
    let (_, out, _) = run_cli(&["gatehouse", "users", "list", "--config", &cfg_s]);
    assert!(out.contains("groups=admins\n") || out.trim_end().ends_with("groups=admins"), "{out}");
    let (code, _, err) = run_cli(&["gatehouse", "users", "set-groups", "carol", "has space", "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("group `has space`"), "{err}");

    ChildServer::spawn(&cfg).terminate(std::time::Duration::from_secs(10));
    let (_, out, _) = run_cli(&["gatehouse", "keys", "list", "--config", &cfg_s]);
    let created = out.lines().next().unwrap().split("created ").nth(1).unwrap().split('\t').next().unwrap();
    assert!(time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).is_ok(), "{out}");
}

#[test]
fn a_closed_pipe_ends_an_export_quietly_and_a_full_store_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "g.toml", GOOD);
    let cfg_s = cfg.display().to_string();
    let server = ChildServer::spawn(&cfg);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        // Enough records that the export outgrows a pipe's buffer (64 KiB).
        for _ in 0..400 {
            let _ = gatehouse_tests::post_basic(
                &http,
                &server.url("/token"),
                "x",
                "y",
                &[("grant_type", "client_credentials")],
            )
            .await;
        }
    });
    server.terminate(std::time::Duration::from_secs(10));
    // `gatehouse audit export | head -1`: the reader leaves after one line.
    let mut child = gatehouse_command(&["gatehouse", "audit", "export", "--config", &cfg_s])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Broken pipe") && !err.contains("gatehouse:"), "{err}");
    assert!(out.status.success(), "{err}");

    let backup = dir.path().join("b.jsonl");
    assert_eq!(run_cli(&["gatehouse", "backup", &backup.display().to_string(), "--config", &cfg_s]).0, 0);
    let (code, _, err) = run_cli(&["gatehouse", "restore", &backup.display().to_string(), "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("holds data; restore needs an empty store") && !err.contains("already exists"), "{err}");
}

#[test]
fn logs_to_a_file_are_plain_and_a_second_dev_start_says_how_to_get_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "dev.toml", gatehouse::config::DEV_DEFAULT_TOML);
    let log = dir.path().join("server.log");
    let first = ChildServer::spawn_logging(&cfg, Some(&log), "info");
    assert!(first.stdout.contains("created demo client"));
    first.terminate(std::time::Duration::from_secs(10));
    let again = ChildServer::spawn_logging(&cfg, Some(&log), "info");
    assert!(!again.stdout.contains("created demo client"), "{}", again.stdout);
    assert!(again.stdout.contains("gatehouse clients rotate-secret demo --config"), "{}", again.stdout);
    rt_block(async {
        let http = reqwest::Client::new();
        gatehouse_tests::post_basic(
            &http,
            &again.url("/token"),
            "demo",
            "wrong",
            &[("grant_type", "client_credentials")],
        )
        .await;
    });
    again.terminate(std::time::Duration::from_secs(10));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("client authentication failed"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes in a file: {text}");
    assert!(text.contains("client_id=\"demo\"") && !text.contains("Some("), "{text}");
}

fn rt_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}
