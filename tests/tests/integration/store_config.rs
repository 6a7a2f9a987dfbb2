//! The `[store]` section: every mistake in it is named by key (never echoing the URL, which
//! may carry a password), and a database that cannot be reached stops the start after
//! `connect_wait` with a message naming `store.url`.

use gatehouse_tests::{TestServer, standard_config};

fn with_store(section: &str) -> String {
    standard_config().replace("[store]\npath = \"data\"\n", &format!("[store]\n{section}\n"))
}

#[tokio::test]
async fn every_store_mistake_is_named_by_its_key() {
    let toml = with_store(
        "backend = \"postgres\"\nurl = \"postgres://gatehouse:hunter2@db:5432/gatehouse?sslmode=sometimes\"\npool_size = 0",
    );
    let err = TestServer::try_start_with(&toml).await.err().expect("refused");
    assert!(err.contains("store.url") && err.contains("store.pool_size"), "{err}");
    assert!(!err.contains("hunter2"), "the password never shows: {err}");
    for (section, needle) in [
        ("backend = \"postgres\"", "store.url: is required"),
        ("backend = \"postgres\"\nurl = \"postgres://a@b/c\"\nurl_env = \"X\"", "set url or url_env, not both"),
        ("backend = \"postgres\"\nurl_env = \"GATEHOUSE_TEST_UNSET_VARIABLE\"", "store.url_env"),
        ("backend = \"mysql\"", "store.backend"),
        ("path = \"data\"\nurl = \"postgres://a@b/c\"", "store.url: applies only with backend = \"postgres\""),
        ("path = \"data\"\nconnect_wait = \"5s\"", "store.connect_wait"),
    ] {
        let err = TestServer::try_start_with(&with_store(section)).await.err().unwrap_or_else(|| panic!("{section}"));
        assert!(err.contains(needle), "{section}: {err}");
    }
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_naming_the_key() {
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let toml = with_store(&format!(
        "backend = \"postgres\"\nurl = \"postgres://gatehouse:hunter2@127.0.0.1:{port}/gatehouse\"\nconnect_wait = \"1s\""
    ));
    let started = gatehouse::clock::monotonic();
    let err = TestServer::try_start_with(&toml).await.err().expect("refused");
    assert!(err.contains("store.url") && err.contains("cannot reach the database"), "{err}");
    assert!(err.contains(&format!("gatehouse@127.0.0.1:{port}/gatehouse")) && !err.contains("hunter2"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "gave up after connect_wait");
}
