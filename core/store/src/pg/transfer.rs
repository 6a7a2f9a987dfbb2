//! The PostgreSQL store as logical records (`transfer.rs`): an export read in one
//! repeatable-read, read-only transaction (one snapshot, however many instances write
//! meanwhile), and the kinds an import writes here directly.

use tokio_postgres::IsolationLevel;

use super::{PgStore, big, col, enc, json, pg, unbig};
use crate::StoreError;
use crate::transfer::{Item, b64, unb64};

impl PgStore {
    pub(super) async fn export_items(&self) -> Result<Vec<Item>, StoreError> {
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let rows = |sql: &'static str| {
            let tx = &tx;
            async move { tx.query(sql, &[]).await.map_err(pg) }
        };
        let mut out = Vec::new();
        for r in rows("SELECT version, keys FROM key_set").await? {
            let record = crate::KeySetRecord { version: unbig(col(&r, 0, "key_set")?), keys: json(&r, 1, "key_set")? };
            out.push(Item::KeySet { record });
        }
        for r in rows("SELECT record FROM clients ORDER BY id").await? {
            out.push(Item::Client { record: json(&r, 0, "clients")? });
        }
        for r in rows("SELECT record FROM users ORDER BY username").await? {
            out.push(Item::User { record: json(&r, 0, "users")? });
        }
        for r in rows("SELECT record FROM groups ORDER BY id").await? {
            out.push(Item::Group { record: json(&r, 0, "groups")? });
        }
        for r in rows("SELECT record FROM user_links ORDER BY issuer, subject").await? {
            out.push(Item::Link { record: json(&r, 0, "user_links")? });
        }
        for r in rows("SELECT record FROM user_factors ORDER BY user_id").await? {
            out.push(Item::Factors { record: json(&r, 0, "user_factors")? });
        }
        for r in rows("SELECT jti, expires_at FROM revocations ORDER BY jti").await? {
            out.push(Item::Revocation { jti: col(&r, 0, "revocations")?, expires_at: col(&r, 1, "revocations")? });
        }
        for r in rows("SELECT key, expires_at FROM once_keys ORDER BY key").await? {
            out.push(Item::UsedOnce { key: col(&r, 0, "once_keys")?, expires_at: col(&r, 1, "once_keys")? });
        }
        for r in rows("SELECT id, record FROM login_flows ORDER BY id").await? {
            let id: Vec<u8> = col(&r, 0, "login_flows")?;
            out.push(Item::Flow { id: b64(&id), record: json(&r, 1, "login_flows")? });
        }
        for r in rows("SELECT id, record FROM sessions ORDER BY id").await? {
            let id: Vec<u8> = col(&r, 0, "sessions")?;
            out.push(Item::Session { id: b64(&id), record: json(&r, 1, "sessions")? });
        }
        for r in rows("SELECT hash, record FROM auth_codes ORDER BY hash").await? {
            let hash: Vec<u8> = col(&r, 0, "auth_codes")?;
            out.push(Item::Code { hash: b64(&hash), record: json(&r, 1, "auth_codes")? });
        }
        for r in rows("SELECT id, record FROM refresh_families ORDER BY id").await? {
            out.push(Item::RefreshFamily {
                id: col(&r, 0, "refresh_families")?,
                record: json(&r, 1, "refresh_families")?,
            });
        }
        for r in rows("SELECT hash, record FROM refresh_tokens ORDER BY hash").await? {
            let hash: Vec<u8> = col(&r, 0, "refresh_tokens")?;
            out.push(Item::RefreshToken { hash: b64(&hash), record: json(&r, 1, "refresh_tokens")? });
        }
        for r in rows("SELECT user_id, client_id, scopes FROM consents ORDER BY user_id, client_id").await? {
            out.push(Item::Consent {
                user_id: col(&r, 0, "consents")?,
                client_id: col(&r, 1, "consents")?,
                scopes: json(&r, 2, "consents")?,
            });
        }
        for r in rows("SELECT key, record FROM login_attempts ORDER BY key").await? {
            out.push(Item::LoginAttempts {
                key: col(&r, 0, "login_attempts")?,
                record: json(&r, 1, "login_attempts")?,
            });
        }
        for r in rows("SELECT ns, key, value, expires_at FROM plugin_kv ORDER BY ns, key").await? {
            let value: Vec<u8> = col(&r, 2, "plugin_kv")?;
            out.push(Item::PluginKv {
                ns: col(&r, 0, "plugin_kv")?,
                key: col(&r, 1, "plugin_kv")?,
                value: b64(&value),
                expires_at: col(&r, 3, "plugin_kv")?,
            });
        }
        for r in rows("SELECT seq FROM notify_cursor").await? {
            out.push(Item::NotifyCursor { seq: unbig(col(&r, 0, "notify_cursor")?) });
        }
        for r in rows("SELECT record FROM notify_queue ORDER BY due_ms, id").await? {
            out.push(Item::Queued { record: json(&r, 0, "notify_queue")? });
        }
        for r in rows("SELECT record FROM notify_dead ORDER BY id").await? {
            out.push(Item::DeadLetter { record: json(&r, 0, "notify_dead")? });
        }
        for r in rows("SELECT pkcs8 FROM audit_key").await? {
            out.push(Item::AuditKey { pkcs8: col(&r, 0, "audit_key")? });
        }
        let start = "SELECT truncated_through, truncated_hash FROM audit_head WHERE truncated_through IS NOT NULL";
        for r in rows(start).await? {
            let through: i64 = col(&r, 0, "audit_head")?;
            let record = crate::audit_chain::ChainStart {
                truncated_through: unbig(through),
                last_hash: col(&r, 1, "audit_head")?,
            };
            out.push(Item::AuditStart { record });
        }
        for r in rows("SELECT line FROM audit_log ORDER BY seq").await? {
            out.push(Item::Audit { record: json(&r, 0, "audit_log")? });
        }
        for r in rows("SELECT record FROM audit_checkpoints ORDER BY seq").await? {
            out.push(Item::Checkpoint { record: json(&r, 0, "audit_checkpoints")? });
        }
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }

    pub(super) async fn import_extra_items(&self, items: &[Item]) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        for item in items {
            match item {
                Item::LoginAttempts { key, record } => {
                    tx.execute(
                        "INSERT INTO login_attempts (key, record, locked_until, last_attempt) VALUES ($1, $2, $3, $4)",
                        &[key, &enc(record)?, &record.locked_until, &record.last_attempt],
                    )
                    .await
                    .map_err(pg)?;
                }
                Item::PluginKv { ns, key, value, expires_at } => {
                    tx.execute(
                        "INSERT INTO plugin_kv (ns, key, value, expires_at) VALUES ($1, $2, $3, $4)",
                        &[ns, key, &unb64("plugin kv", value)?, expires_at],
                    )
                    .await
                    .map_err(pg)?;
                }
                Item::DeadLetter { record } => {
                    tx.execute(
                        "INSERT INTO notify_dead (id, record) VALUES ($1, $2)",
                        &[&record.queued.message.id, &enc(record)?],
                    )
                    .await
                    .map_err(pg)?;
                }
                Item::AuditStart { record } => {
                    // The head of an empty chain that resumes after the pruned records.
                    let through = big(record.truncated_through);
                    tx.execute(
                        "INSERT INTO audit_head (id, seq, hash, truncated_through, truncated_hash) \
                         VALUES (1, $1, $2, $1, $2)",
                        &[&through, &record.last_hash],
                    )
                    .await
                    .map_err(pg)?;
                }
                _ => {}
            }
        }
        tx.commit().await.map_err(pg)
    }
}
