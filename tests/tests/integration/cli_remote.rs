//! `gatehouse users|clients --url`: the offline verbs against a running server through its
//! admin API, with the credential from `GATEHOUSE_ADMIN_TOKEN`; the server audits the caller.

use gatehouse::secret::sha256_hex;
use gatehouse_tests::browser::{Browser, WEB_CB, browser_config};
use gatehouse_tests::{TestServer, run_cli_env};

const ADMIN: &str = "cli-remote-admin-token-0123456789ab";

/// Runs `args` against `s` with `token`, off the async runtime.
async fn cli(s: &TestServer, args: &[&str], token: &str, stdin: &str) -> (i32, String, String) {
    let mut all: Vec<String> = ["gatehouse"].iter().chain(args).map(|a| (*a).to_owned()).collect();
    all.extend(["--url".to_owned(), s.base.clone()]);
    let (token, stdin) = (token.to_owned(), stdin.to_owned());
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        run_cli_env(&refs, &[("GATEHOUSE_ADMIN_TOKEN", &token)], &stdin)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn users_and_clients_verbs_work_on_a_running_server() {
    let config = format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n", browser_config(), sha256_hex(ADMIN.as_bytes()));
    let s = TestServer::start_with(&config).await;
    let (code, out, err) = cli(
        &s,
        &["users", "add", "Erin", "--email", "erin@example.com", "--group", "staff"],
        ADMIN,
        "erin's long password\n",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added user `erin`"), "{out}");
    let b = Browser::new(&s.base);
    assert!(b.sign_in(&gatehouse_tests::mfa::params(&[]), "erin", "erin's long password").await.starts_with(WEB_CB));

    let (_, out, _) = cli(&s, &["users", "list"], ADMIN, "").await;
    assert!(
        out.lines().any(|l| l.starts_with("erin\terin@example.com\tenabled\t") && l.ends_with("groups=staff")),
        "{out}"
    );
    let (code, out, err) = cli(&s, &["users", "set-groups", "erin@example.com", "ops", "staff"], ADMIN, "").await;
    assert_eq!((code, out.trim()), (0, "groups of `erin`: ops,staff"), "{err}");
    assert_eq!(cli(&s, &["users", "disable", "erin"], ADMIN, "").await.1.trim(), "disabled user `erin`");
    let (_, out, _) = cli(&s, &["users", "show", "erin"], ADMIN, "").await;
    assert!(out.contains("status\tdisabled") && out.contains("groups\tops,staff"), "{out}");
    assert_eq!(cli(&s, &["users", "enable", "erin"], ADMIN, "").await.0, 0);
    let (code, _, err) = cli(&s, &["users", "set-password", "erin"], ADMIN, "short\n").await;
    assert!(code != 0 && err.contains("password"), "{err}");
    assert_eq!(cli(&s, &["users", "set-password", "erin"], ADMIN, "erin's newer passphrase\n").await.0, 0);
    assert!(
        Browser::new(&s.base)
            .sign_in(&gatehouse_tests::mfa::params(&[]), "erin", "erin's newer passphrase")
            .await
            .starts_with(WEB_CB)
    );
    assert_eq!(
        cli(&s, &["users", "reset-mfa", "erin"], ADMIN, "").await.1.trim(),
        "`erin` has no second factor; nothing changed"
    );

    // Clients: added with a secret shown once that works at once, rotated, removed.
    let (code, out, err) = cli(&s, &["clients", "add", "billing", "--scope", "invoices"], ADMIN, "").await;
    assert_eq!(code, 0, "{err}");
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();
    let form = [("grant_type", "client_credentials"), ("scope", "invoices")];
    assert_eq!(s.post_basic(gatehouse::paths::TOKEN, "billing", &secret, &form).await.status(), 200);
    let (_, out, _) = cli(&s, &["clients", "list"], ADMIN, "").await;
    assert!(out.contains("billing\tstore\tconfidential\tgrants=client_credentials\tscopes=invoices"), "{out}");
    assert!(out.contains("web\tconfig\t"), "{out}");
    let (_, out, _) = cli(&s, &["clients", "rotate-secret", "billing"], ADMIN, "").await;
    let rotated = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();
    assert_eq!(s.post_basic(gatehouse::paths::TOKEN, "billing", &secret, &form).await.status(), 401);
    assert_eq!(s.post_basic(gatehouse::paths::TOKEN, "billing", &rotated, &form).await.status(), 200);
    assert_eq!(cli(&s, &["clients", "remove", "billing"], ADMIN, "").await.1.trim(), "removed client `billing`");
    let (code, _, err) = cli(&s, &["clients", "remove", "web"], ADMIN, "").await;
    assert!(code != 0 && err.contains("config file"), "{err}");

    // A wrong credential, and none, are refused plainly.
    let (code, _, err) = cli(&s, &["users", "list"], "wrong-token", "").await;
    assert!(code != 0 && err.contains("401"), "{err}");
    let (code, _, err) = cli(&s, &["users", "list"], "", "").await;
    assert!(code != 0 && err.contains("GATEHOUSE_ADMIN_TOKEN"), "{err}");
    let page = s.audit_events(&["user_created", "client_secret_rotated"]).await;
    assert!(page.contains(&"client_removed"), "{page:?}");
}
