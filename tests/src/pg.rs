//! PostgreSQL for the integration tests: the test binary's shared throwaway cluster
//! (`gatehouse::store::pg_testing`), a fresh schema per test, and configs that use it.

/// A connection string for a new, empty schema on the shared cluster; `None` (after saying
/// so) when PostgreSQL is not installed and `GATEHOUSE_REQUIRE_PG` is unset.
pub async fn fresh_url() -> Option<String> {
    let cluster = gatehouse::store::pg_testing::shared()?;
    Some(cluster.fresh_url().await)
}

/// `toml` with its `[store]` (the standard `path = "data"`) pointed at `url` instead.
pub fn on_postgres(toml: &str, url: &str) -> String {
    let store = "[store]\npath = \"data\"\n";
    assert!(toml.contains(store), "the config has the standard [store] section");
    toml.replace(store, &format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"))
}
