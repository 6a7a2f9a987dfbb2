//! Clients, users, the key set, revocations, single-use markers and leases.

use async_trait::async_trait;

use super::{PgStore, col, count, enc, json, pg, text};
use crate::api::{ClientStore, Coordination, KeyStore, RevocationStore, UserStore};
use crate::{ClientRecord, KeyRecord, KeySetRecord, StoreError, UserRecord};

#[async_trait]
impl ClientStore for PgStore {
    async fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let Some(id) = text(id) else { return Ok(None) };
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM clients WHERE id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&id]).await.map_err(pg)?.map(|r| json(&r, 0, "clients")).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c.query("SELECT record FROM clients ORDER BY id", &[]).await.map_err(pg)?;
        rows.iter().map(|r| json(r, 0, "clients")).collect()
    }

    async fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("INSERT INTO clients (id, record) VALUES ($1, $2)").await.map_err(pg)?;
        match c.execute(&st, &[&client.id, &enc(client)?]).await.map_err(pg) {
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!("client `{}`", client.id))),
            other => other.map(|_| ()),
        }
    }

    async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let Some(id) = text(id) else { return Ok(false) };
        let c = self.client().await?;
        Ok(c.execute("DELETE FROM clients WHERE id = $1", &[&id]).await.map_err(pg)? > 0)
    }

    async fn set_client_secret(&self, id: &str, secret_sha256: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM clients WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&id]).await.map_err(pg)? else { return Ok(false) };
        let mut client: ClientRecord = json(&row, 0, "clients")?;
        client.secret_sha256 = Some(secret_sha256.to_owned());
        client.version = client.version.saturating_add(1);
        tx.execute("UPDATE clients SET record = $2 WHERE id = $1", &[&id, &enc(&client)?]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        expected: u64,
    ) -> Result<crate::Patched<ClientRecord>, StoreError> {
        let Some(id) = text(&client.id) else { return Ok(crate::Patched::Missing) };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM clients WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&id]).await.map_err(pg)? else { return Ok(crate::Patched::Missing) };
        let stored: ClientRecord = json(&row, 0, "clients")?;
        if stored.version != expected {
            return Ok(crate::Patched::Stale(stored.version));
        }
        let next = ClientRecord { version: expected.saturating_add(1), ..client.clone() };
        tx.execute("UPDATE clients SET record = $2 WHERE id = $1", &[&id, &enc(&next)?]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(crate::Patched::Updated(Box::new(next)))
    }
}

impl PgStore {
    /// Applies `change` to the user `id` under a row lock; `false` when there is none.
    async fn update_user(&self, id: &str, change: impl FnOnce(&mut UserRecord) + Send) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM users WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&id]).await.map_err(pg)? else { return Ok(false) };
        let mut user: UserRecord = json(&row, 0, "users")?;
        change(&mut user);
        let st = tx.prepare_cached("UPDATE users SET record = $2 WHERE id = $1").await.map_err(pg)?;
        tx.execute(&st, &[&id, &enc(&user)?]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn delete_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let Some(id) = text(id) else { return Ok(None) };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // Links, factors and passkey ids go with the user (ON DELETE CASCADE).
        tx.execute("DELETE FROM consents WHERE user_id = $1", &[&id]).await.map_err(pg)?;
        let row = tx.query_opt("DELETE FROM users WHERE id = $1 RETURNING record", &[&id]).await.map_err(pg)?;
        let user = row.map(|r| json(&r, 0, "users")).transpose()?;
        tx.commit().await.map_err(pg)?;
        Ok(user)
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = &crate::first_version(user);
        let c = self.client().await?;
        let st = c
            .prepare_cached("INSERT INTO users (id, username, email, record) VALUES ($1, $2, $3, $4)")
            .await
            .map_err(pg)?;
        match c.execute(&st, &[&user.id, &user.username, &user.email, &enc(user)?]).await.map_err(pg) {
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!("user `{}` or its email", user.username))),
            other => other.map(|_| ()),
        }
    }

    async fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let Some(id) = text(id) else { return Ok(None) };
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM users WHERE id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&id]).await.map_err(pg)?.map(|r| json(&r, 0, "users")).transpose()
    }

    async fn find_user(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let Some(login) = text(login) else { return Ok(None) };
        let c = self.client().await?;
        // A username never contains `@`, so at most one row matches either way.
        let st = c
            .prepare_cached(
                "SELECT record FROM users WHERE username = $1 OR email = $1 ORDER BY username = $1 DESC LIMIT 1",
            )
            .await
            .map_err(pg)?;
        c.query_opt(&st, &[&login]).await.map_err(pg)?.map(|r| json(&r, 0, "users")).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c.query("SELECT record FROM users ORDER BY username", &[]).await.map_err(pg)?;
        rows.iter().map(|r| json(r, 0, "users")).collect()
    }

    async fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let (Some(prefix), Some(after)) = (prefix.map_or(Some(""), text), after.map_or(Some(""), text)) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.client().await?;
        // Byte order (COLLATE "C"), as the cursor compares; `starts_with` takes the prefix
        // literally (no LIKE wildcards from a request).
        let st = c
            .prepare_cached(
                "SELECT record FROM users WHERE username COLLATE \"C\" > $1 \
                 AND (starts_with(username, $2) OR starts_with(coalesce(email, ''), $2)) \
                 ORDER BY username COLLATE \"C\" LIMIT $3",
            )
            .await
            .map_err(pg)?;
        let rows = c.query(&st, &[&after, &prefix, &limit]).await.map_err(pg)?;
        rows.iter().map(|r| json(r, 0, "users")).collect()
    }

    async fn set_user_password(&self, id: &str, password_hash: &str, now: i64) -> Result<bool, StoreError> {
        self.update_user(id, |u| {
            u.password_hash = password_hash.to_owned();
            crate::touch(u, now);
        })
        .await
    }

    async fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError> {
        self.update_user(id, |u| {
            u.disabled = disabled;
            crate::touch(u, now);
        })
        .await
    }

    async fn patch_user(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &crate::UserPatch,
        now: i64,
    ) -> Result<crate::Patched, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM users WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&id]).await.map_err(pg)? else { return Ok(crate::Patched::Missing) };
        let mut user: UserRecord = json(&row, 0, "users")?;
        if expected.is_some_and(|v| v != user.version) {
            return Ok(crate::Patched::Stale(user.version));
        }
        patch.apply(&mut user, now);
        let st = tx.prepare_cached("UPDATE users SET record = $2 WHERE id = $1").await.map_err(pg)?;
        tx.execute(&st, &[&id, &enc(&user)?]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(crate::Patched::Updated(Box::new(user)))
    }

    async fn set_user_profile(&self, id: &str, profile: &crate::Profile, now: i64) -> Result<bool, StoreError> {
        let profile = profile.clone();
        self.update_user(id, |u| {
            u.profile = profile;
            crate::touch(u, now);
        })
        .await
    }

    async fn set_email_verified(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        let matched = std::sync::atomic::AtomicBool::new(false);
        self.update_user(id, |u| {
            let same = u.email.as_deref() == Some(email);
            matched.store(same, std::sync::atomic::Ordering::Relaxed);
            if same {
                crate::verify_email(u, now);
            }
        })
        .await?;
        Ok(matched.into_inner())
    }

    async fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError> {
        let groups = groups.to_vec();
        self.update_user(id, |u| {
            u.groups = groups;
            crate::touch(u, now);
        })
        .await
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn load_keys(&self) -> Result<KeySetRecord, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT version, keys FROM key_set WHERE id = 1").await.map_err(pg)?;
        match c.query_opt(&st, &[]).await.map_err(pg)? {
            None => Ok(KeySetRecord::default()),
            Some(r) => {
                Ok(KeySetRecord { version: super::unbig(col(&r, 0, "key_set")?), keys: json(&r, 1, "key_set")? })
            }
        }
    }

    async fn replace_keys(&self, expected: u64, keys: &[KeyRecord]) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let (expected, next) = (super::big(expected), super::big(expected + 1));
        // One statement either way: the first set is inserted, a later one replaces the
        // version the caller read; a writer that read an older version changes nothing.
        let sql = if expected == 0 {
            "INSERT INTO key_set (id, version, keys) SELECT 1, $2, $3 WHERE $1::bigint = 0 ON CONFLICT (id) DO NOTHING"
        } else {
            "UPDATE key_set SET version = $2, keys = $3 WHERE id = 1 AND version = $1"
        };
        let st = c.prepare_cached(sql).await.map_err(pg)?;
        match c.execute(&st, &[&expected, &next, &enc(keys)?]).await.map_err(pg)? {
            1 => Ok(super::unbig(next)),
            _ => Err(StoreError::Conflict(format!("key set version {expected}"))),
        }
    }
}

#[async_trait]
impl RevocationStore for PgStore {
    async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO revocations (jti, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(revocations.expires_at, excluded.expires_at)",
            )
            .await
            .map_err(pg)?;
        c.execute(&st, &[&jti, &expires_at]).await.map_err(pg)?;
        self.revoked.revoked(jti, expires_at);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let Some(jti) = text(jti) else { return Ok(false) };
        self.revoked.is_revoked(jti).await
    }

    async fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let n = c.execute("DELETE FROM revocations WHERE expires_at < $1", &[&now]).await.map_err(pg)?;
        self.revoked.purge(now);
        let used = c.execute("DELETE FROM once_keys WHERE expires_at <= $1", &[&now]).await.map_err(pg)?;
        // Barrier rows of instances gone for a day.
        c.execute("DELETE FROM durable_barrier WHERE at < $1", &[&(now - 24 * 3600)]).await.map_err(pg)?;
        Ok(count(n + used))
    }
}

#[async_trait]
impl Coordination for PgStore {
    async fn use_once(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        // Inserted, or taken over from an expired use: one statement, so one winner.
        let st = c
            .prepare_cached(
                "INSERT INTO once_keys (key, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE once_keys.expires_at <= $3",
            )
            .await
            .map_err(pg)?;
        Ok(c.execute(&st, &[&key, &expires_at, &now]).await.map_err(pg)? == 1)
    }

    async fn try_lease(&self, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
                 WHERE leases.holder = excluded.holder OR leases.until_ms <= $4",
            )
            .await
            .map_err(pg)?;
        Ok(c.execute(&st, &[&name, &holder, &until_ms, &now_ms]).await.map_err(pg)? == 1)
    }
}
