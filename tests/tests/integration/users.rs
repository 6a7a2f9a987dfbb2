//! Users: the CLI verbs and the bootstrap of `[[users]]` from the config.

use gatehouse::config::PasswordHashing;
use gatehouse::secret::Secret;
use gatehouse::store::{SledStore, SyncStore};
use gatehouse::users::Passwords;
use gatehouse_tests::{TestServer, run_cli, run_cli_with_stdin, write_config};

/// Cheap argon2 parameters so tests stay fast (production defaults are OWASP's).
const CHEAP_LOGIN: &str = "[login]\npassword_hash_memory_kib = 256\npassword_hash_iterations = 1\n";

fn cheap() -> Passwords {
    Passwords::new(&PasswordHashing { memory_kib: 256, iterations: 1, parallelism: 1, concurrency: 1 }).unwrap()
}

#[test]
fn users_cli_adds_lists_disables_and_sets_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "g.toml", &format!("[store]\npath = \"data\"\n{CHEAP_LOGIN}"));
    let cfg = cfg.display().to_string();
    let users = |args: &[&str], stdin: &str| {
        let mut all = vec!["gatehouse", "users"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", &cfg]);
        run_cli_with_stdin(&all, stdin)
    };
    let (code, out, err) = users(&["add", "Bob", "--email", "Bob@Example.com"], "password-one\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added user `bob`"));
    for (args, stdin, needle) in [
        (vec!["add", "BOB"], "password-one\n", "already exists"),
        (vec!["add", "carol", "--email", "bob@example.com"], "password-one\n", "already exists"),
        (vec!["add", "x y"], "password-one\n", "may contain only"),
        (vec!["add", "dave"], "short\n", "at least 8"),
        (vec!["add", "erin", "--email", "not-an-email"], "password-one\n", "is not an email"),
        (vec!["disable", "nobody"], "", "no user `nobody`"),
    ] {
        let (code, _, err) = users(&args, stdin);
        assert_eq!(code, 1, "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let (_, out, _) = run_cli(&["gatehouse", "users", "list", "--config", &cfg]);
    assert!(out.starts_with("bob\tbob@example.com\tenabled\t"), "{out}");
    assert_eq!(out.lines().count(), 1);

    assert_eq!(users(&["disable", "bob@example.com"], "").0, 0);
    let (_, out, _) = run_cli(&["gatehouse", "users", "list", "--config", &cfg]);
    assert!(out.contains("\tdisabled\t"), "{out}");
    assert_eq!(users(&["enable", "bob"], "").0, 0);
    assert_eq!(users(&["set-password", "bob"], "password-two\n").0, 0);

    let store = SledStore::open(&dir.path().join("data")).unwrap();
    let bob = store.find_user("bob").unwrap().unwrap();
    assert!(!bob.disabled);
    assert!(bob.password_hash.starts_with("$argon2id$"));
    assert!(!bob.password_hash.contains("password-two"));
    assert!(cheap().verify_blocking(&Secret::new("password-two"), &bob.password_hash));
    assert!(!cheap().verify_blocking(&Secret::new("password-one"), &bob.password_hash));
}

#[tokio::test]
async fn configured_users_are_created_once_and_never_reset() {
    let hash = cheap().hash_blocking(&Secret::new("bob's password")).unwrap();
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\ndev_mode = true\n{CHEAP_LOGIN}\n[[users]]\nusername = \"Alice\"\npassword = \"alice's password\"\nemail = \"alice@example.com\"\n\n[[users]]\nusername = \"bob\"\npassword_hash = \"{hash}\"\n"
    );
    let s = TestServer::start_with(&toml).await;
    let alice = s.state.db.users().find_user("alice").await.unwrap().unwrap();
    assert_eq!(s.state.db.users().find_user("alice@example.com").await.unwrap().unwrap().id, alice.id);
    assert!(s.state.passwords.verify(Secret::new("alice's password"), alice.password_hash.clone()).await.unwrap());
    let bob = s.state.db.users().find_user("bob").await.unwrap().unwrap();
    assert_eq!(bob.password_hash, hash);
    // A password changed after bootstrap survives a restart with the same config.
    let changed = s.state.passwords.hash(Secret::new("new password")).await.unwrap();
    assert!(s.state.db.users().set_user_password(&alice.id, &changed, 1).await.unwrap());
    s.state.db.durable().await.unwrap();
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, &toml).await;
    let again = s.state.db.users().find_user("alice").await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.password_hash.as_str()), (alice.id.as_str(), changed.as_str()));
    assert_eq!(s.state.db.users().list_users().await.unwrap().len(), 2);
}
