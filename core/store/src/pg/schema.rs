//! The schema, as numbered forward-only migrations embedded in the binary. They are applied at
//! start (and by `gatehouse store migrate`) in one transaction that first takes an advisory
//! lock, so of several instances starting at once one migrates and the others then find the
//! work done. A database whose schema is newer than this binary knows is refused: an older
//! binary must not write records it does not understand.

use super::{PgStore, col, pg};
use crate::StoreError;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = 8;

/// `(version, SQL)`, in order. Times are unix seconds unless the name ends in `_ms`.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE durable_barrier (instance text PRIMARY KEY, n bigint NOT NULL, at bigint NOT NULL);
CREATE TABLE leases (name text PRIMARY KEY, holder text NOT NULL, until_ms bigint NOT NULL);
CREATE TABLE once_keys (key text PRIMARY KEY, expires_at bigint NOT NULL);
CREATE INDEX once_keys_expiry ON once_keys (expires_at);

CREATE TABLE clients (id text PRIMARY KEY, record text NOT NULL);
CREATE TABLE users (
    id text PRIMARY KEY,
    username text NOT NULL UNIQUE,
    email text UNIQUE,
    record text NOT NULL
);
CREATE TABLE key_set (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL, keys text NOT NULL);
CREATE TABLE revocations (jti text PRIMARY KEY, expires_at bigint NOT NULL);
CREATE INDEX revocations_expiry ON revocations (expires_at);

CREATE TABLE login_flows (id bytea PRIMARY KEY, record text NOT NULL, expires_at bigint NOT NULL);
CREATE INDEX login_flows_expiry ON login_flows (expires_at);
CREATE TABLE sessions (
    id bytea PRIMARY KEY,
    record text NOT NULL,
    last_seen bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE TABLE auth_codes (hash bytea PRIMARY KEY, record text NOT NULL, keep_until bigint NOT NULL);
CREATE INDEX auth_codes_keep ON auth_codes (keep_until);
CREATE TABLE refresh_families (id text PRIMARY KEY, record text NOT NULL, keep_until bigint NOT NULL);
CREATE INDEX refresh_families_keep ON refresh_families (keep_until);
CREATE TABLE refresh_tokens (
    hash bytea PRIMARY KEY,
    family text NOT NULL,
    record text NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE TABLE consents (
    user_id text NOT NULL,
    client_id text NOT NULL,
    scopes text NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE login_attempts (
    key text PRIMARY KEY,
    record text NOT NULL,
    locked_until bigint NOT NULL,
    last_attempt bigint NOT NULL
);
CREATE TABLE plugin_kv (
    ns text NOT NULL,
    key text NOT NULL,
    value bytea NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE INDEX plugin_kv_expiry ON plugin_kv (ns, expires_at);

CREATE TABLE audit_log (seq bigint PRIMARY KEY, time_ms bigint NOT NULL, type text NOT NULL, line text NOT NULL);
CREATE INDEX audit_log_time ON audit_log (time_ms);
CREATE TABLE audit_head (
    id int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL,
    truncated_through bigint,
    truncated_hash text
);
CREATE TABLE audit_key (id int PRIMARY KEY CHECK (id = 1), pkcs8 text NOT NULL);
CREATE TABLE audit_checkpoints (seq bigint PRIMARY KEY, record text NOT NULL);

CREATE TABLE notify_cursor (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);
CREATE TABLE notify_queue (id text PRIMARY KEY, due_ms bigint NOT NULL, record text NOT NULL);
CREATE INDEX notify_queue_due ON notify_queue (due_ms, id);
CREATE TABLE notify_dead (id text PRIMARY KEY, record text NOT NULL);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE user_links (
    issuer text NOT NULL,
    subject text NOT NULL,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    record text NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_links_user ON user_links (user_id);
"#,
    ),
    (
        3,
        r#"
CREATE TABLE user_factors (
    user_id text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version bigint NOT NULL,
    record text NOT NULL
);
"#,
    ),
    (
        4,
        r#"
CREATE TABLE passkey_credentials (
    credential_id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX passkey_credentials_user ON passkey_credentials (user_id);
"#,
    ),
    (
        5,
        r#"
ALTER TABLE sessions ADD COLUMN user_id text;
UPDATE sessions SET user_id = record::jsonb ->> 'user_id';
CREATE INDEX sessions_user ON sessions (user_id);
"#,
    ),
    (
        6,
        r#"
CREATE TABLE tickets (id bytea PRIMARY KEY, record text NOT NULL, expires_at bigint NOT NULL);
CREATE INDEX tickets_expiry ON tickets (expires_at);
"#,
    ),
    (
        7,
        r#"
CREATE TABLE groups (id text PRIMARY KEY, name_key text NOT NULL UNIQUE, record text NOT NULL);
"#,
    ),
    (
        8,
        r#"
ALTER TABLE refresh_families ADD COLUMN user_id text;
UPDATE refresh_families SET user_id = record::jsonb ->> 'user_id';
CREATE INDEX refresh_families_user ON refresh_families (user_id);
"#,
    ),
];

/// The lock every migrating instance takes (an arbitrary constant: "gate" in ASCII), with the
/// schema's name as the second key.
const MIGRATION_LOCK: i32 = 0x6761_7465;

/// The schema version the database holds (0: none yet).
pub async fn schema_version(store: &PgStore) -> Result<i64, StoreError> {
    let c = store.client().await?;
    let exists = c
        .query_one("SELECT to_regclass('gatehouse_schema') IS NOT NULL", &[])
        .await
        .map_err(pg)
        .and_then(|r| col::<bool>(&r, 0, "gatehouse_schema"))?;
    if !exists {
        return Ok(0);
    }
    let row = c.query_opt("SELECT max(version) FROM gatehouse_schema", &[]).await.map_err(pg)?;
    Ok(row.and_then(|r| r.try_get::<_, Option<i64>>(0).ok().flatten()).unwrap_or(0))
}

/// Applies the migrations this database lacks; refuses a newer schema.
pub(super) async fn migrate(store: &PgStore) -> Result<(), StoreError> {
    let mut c = store.client().await?;
    let tx = c.transaction().await.map_err(pg)?;
    // Durable before any instance relies on it.
    tx.batch_execute("SET LOCAL synchronous_commit = on").await.map_err(pg)?;
    // One migrator at a time per database schema; the lock ends with the transaction.
    tx.execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", &[&MIGRATION_LOCK]).await.map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS gatehouse_schema (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(pg)?;
    let row = tx.query_one("SELECT coalesce(max(version), 0) FROM gatehouse_schema", &[]).await.map_err(pg)?;
    let current: i64 = col(&row, 0, "gatehouse_schema")?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Refused(format!(
            "the database's schema is version {current}, newer than this gatehouse knows ({SCHEMA_VERSION}): upgrade gatehouse"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("INSERT INTO gatehouse_schema (version) VALUES ($1)", &[version]).await.map_err(pg)?;
        tracing::info!(version, "database schema migrated");
    }
    tx.commit().await.map_err(pg)
}
