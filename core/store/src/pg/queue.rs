//! The notification queue, the plugins' key-value store and the sign-in counters. A queued
//! message's `due_ms` is its column (the record's copy is overwritten on reading). Claims use
//! `FOR UPDATE SKIP LOCKED`, so instances claiming at once take disjoint messages; the cursor
//! moves by compare-and-swap; counters and attempt records change under a row lock with the
//! shared rules (`plugin_kv.rs`, `login_attempts.rs`).

use async_trait::async_trait;

use super::{PgStore, big, col, count, enc, json, pg, text, unbig};
use crate::StoreError;
use crate::api::{LoginAttempts, NotifyQueue, PluginKv};
use crate::login_attempts::{self, AttemptRecord, LockoutPolicy, Outcome, Reserve};
use crate::notify_queue::{DeadLetter, Queued, Settle};
use crate::plugin_kv::{KvError, MAX_KEY, MAX_KEYS, MAX_TTL_SECS, MAX_VALUE};

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl NotifyQueue for PgStore {
    async fn notify_cursor(&self) -> Result<Option<u64>, StoreError> {
        let c = self.client().await?;
        let row = c.query_opt("SELECT seq FROM notify_cursor WHERE id = 1", &[]).await.map_err(pg)?;
        row.map(|r| col::<i64>(&r, 0, "notify_cursor").map(unbig)).transpose()
    }

    async fn notify_enqueue(
        &self,
        expected: Option<u64>,
        cursor: u64,
        messages: &[Queued],
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let moved = match expected {
            None => tx
                .execute(
                    "INSERT INTO notify_cursor (id, seq) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                    &[&big(cursor)],
                )
                .await
                .map_err(pg)?,
            Some(e) => tx
                .execute("UPDATE notify_cursor SET seq = $2 WHERE id = 1 AND seq = $1", &[&big(e), &big(cursor)])
                .await
                .map_err(pg)?,
        };
        if moved != 1 {
            return Ok(false);
        }
        let st = tx
            .prepare_cached(
                "INSERT INTO notify_queue (id, due_ms, record) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        for m in messages {
            tx.execute(&st, &[&m.message.id, &m.due_ms, &enc(m)?]).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }

    async fn notify_claim(&self, now_ms: i64, until_ms: i64, limit_n: usize) -> Result<Vec<Queued>, StoreError> {
        let c = self.client().await?;
        // The record keeps the due time it is stored under, as on the embedded backends.
        let st = c
            .prepare_cached(
                "WITH due AS (SELECT id, due_ms FROM notify_queue WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
                 UPDATE notify_queue q SET due_ms = $2 FROM due WHERE q.id = due.id RETURNING q.record, due.due_ms",
            )
            .await
            .map_err(pg)?;
        let rows = c.query(&st, &[&now_ms, &until_ms, &limit(limit_n)]).await.map_err(pg)?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                let q = Queued { due_ms: until_ms, ..json::<Queued>(r, 0, "notify_queue")? };
                Ok((col::<i64>(r, 1, "notify_queue")?, q))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Earliest first, as they were due.
        claimed.sort_by(|(a, qa), (b, qb)| a.cmp(b).then_with(|| qa.message.id.cmp(&qb.message.id)));
        Ok(claimed.into_iter().map(|(_, q)| q).collect())
    }

    async fn notify_next_due(&self) -> Result<Option<i64>, StoreError> {
        let c = self.client().await?;
        let row = c.query_one("SELECT min(due_ms) FROM notify_queue", &[]).await.map_err(pg)?;
        col(&row, 0, "notify_queue")
    }

    async fn notify_settle(&self, q: &Queued, outcome: Settle) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // Only while the claim holds: the message is still stored under the claimed due time.
        let gone = tx
            .execute("DELETE FROM notify_queue WHERE id = $1 AND due_ms = $2", &[&q.message.id, &q.due_ms])
            .await
            .map_err(pg)?;
        if gone != 1 {
            return Ok(false);
        }
        match outcome {
            Settle::Done => {}
            Settle::Retry(next) => {
                tx.execute(
                    "INSERT INTO notify_queue (id, due_ms, record) VALUES ($1, $2, $3)",
                    &[&next.message.id, &next.due_ms, &enc(&*next)?],
                )
                .await
                .map_err(pg)?;
            }
            Settle::Dead { reason, now_ms } => {
                let dead = DeadLetter { queued: q.clone(), reason, dead_ms: now_ms };
                tx.execute(
                    "INSERT INTO notify_dead (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                    &[&q.message.id, &enc(&dead)?],
                )
                .await
                .map_err(pg)?;
            }
        }
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }

    async fn notify_queued(&self, limit_n: usize) -> Result<Vec<Queued>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT record, due_ms FROM notify_queue ORDER BY due_ms, id LIMIT $1", &[&limit(limit_n)])
            .await
            .map_err(pg)?;
        rows.iter().map(|r| Ok(Queued { due_ms: col(r, 1, "notify_queue")?, ..json(r, 0, "notify_queue")? })).collect()
    }

    async fn notify_dead(&self, limit_n: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let c = self.client().await?;
        let rows =
            c.query("SELECT record FROM notify_dead ORDER BY id LIMIT $1", &[&limit(limit_n)]).await.map_err(pg)?;
        rows.iter().map(|r| json(r, 0, "notify_dead")).collect()
    }

    async fn notify_revive(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let Some(row) =
            tx.query_opt("DELETE FROM notify_dead WHERE id = $1 RETURNING record", &[&id]).await.map_err(pg)?
        else {
            return Ok(false);
        };
        let dead: DeadLetter = json(&row, 0, "notify_dead")?;
        let q = Queued { due_ms: now_ms, attempts: 0, last_error: None, ..dead.queued };
        tx.execute(
            "INSERT INTO notify_queue (id, due_ms, record) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET due_ms = excluded.due_ms, record = excluded.record",
            &[&q.message.id, &q.due_ms, &enc(&q)?],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }
}

fn expiry(ttl_secs: u32, now: i64) -> i64 {
    let ttl = if ttl_secs == 0 { MAX_TTL_SECS } else { ttl_secs.min(MAX_TTL_SECS) };
    now.saturating_add(i64::from(ttl))
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(KvError::Invalid("keys are 1 to 256 bytes"));
    }
    if text(key).is_none() {
        return Err(KvError::Invalid("keys cannot contain NUL on a postgres store"));
    }
    Ok(())
}

impl PgStore {
    /// Refuses a new key once the namespace holds `MAX_KEYS` live ones (dropping expired
    /// ones on the way); approximate under concurrent inserts, as on sled.
    async fn check_quota(&self, c: &deadpool_postgres::Object, ns: &str, key: &str, now: i64) -> Result<(), KvError> {
        let st = c
            .prepare_cached("SELECT 1 FROM plugin_kv WHERE ns = $1 AND key = $2 AND expires_at > $3")
            .await
            .map_err(pg)?;
        if c.query_opt(&st, &[&ns, &key, &now]).await.map_err(pg)?.is_some() {
            return Ok(());
        }
        c.execute("DELETE FROM plugin_kv WHERE ns = $1 AND expires_at <= $2", &[&ns, &now]).await.map_err(pg)?;
        let st = c.prepare_cached("SELECT count(*) FROM plugin_kv WHERE ns = $1").await.map_err(pg)?;
        let row = c.query_one(&st, &[&ns]).await.map_err(pg)?;
        let live: i64 = col(&row, 0, "plugin_kv")?;
        if count(unbig(live)) >= MAX_KEYS { Err(KvError::Quota) } else { Ok(()) }
    }
}

#[async_trait]
impl PluginKv for PgStore {
    async fn kv_get_value(&self, ns: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(key) = text(key) else { return Ok(None) };
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT value FROM plugin_kv WHERE ns = $1 AND key = $2 AND expires_at > $3")
            .await
            .map_err(pg)?;
        c.query_opt(&st, &[&ns, &key, &now]).await.map_err(pg)?.map(|r| col(&r, 0, "plugin_kv")).transpose()
    }

    async fn kv_set_value(&self, ns: &str, key: &str, value: &[u8], ttl_secs: u32, now: i64) -> Result<(), KvError> {
        check_key(key)?;
        if value.len() > MAX_VALUE {
            return Err(KvError::Invalid("values are at most 64 KiB"));
        }
        let c = self.client().await?;
        self.check_quota(&c, ns, key, now).await?;
        let st = c
            .prepare_cached(
                "INSERT INTO plugin_kv (ns, key, value, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            )
            .await
            .map_err(pg)?;
        c.execute(&st, &[&ns, &key, &value, &expiry(ttl_secs, now)]).await.map_err(pg)?;
        Ok(())
    }

    async fn kv_delete_value(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        let Some(key) = text(key) else { return Ok(()) };
        let c = self.client().await?;
        c.execute("DELETE FROM plugin_kv WHERE ns = $1 AND key = $2", &[&ns, &key]).await.map_err(pg)?;
        Ok(())
    }

    async fn kv_incr_value(&self, ns: &str, key: &str, delta: i64, ttl_secs: u32, now: i64) -> Result<i64, KvError> {
        check_key(key)?;
        let c = self.client().await?;
        self.check_quota(&c, ns, key, now).await?;
        // One statement: a new or expired key starts at `delta`; a live counter (any 8-byte
        // value, big-endian, as on sled) adds it; a live value of another length is left alone
        // and reported.
        let st = c
            .prepare_cached(
                "INSERT INTO plugin_kv (ns, key, value, expires_at) VALUES ($1, $2, int8send($3), $4) \
                 ON CONFLICT (ns, key) DO UPDATE SET \
                   value = CASE WHEN plugin_kv.expires_at <= $5 THEN excluded.value \
                           ELSE int8send((('x' || encode(plugin_kv.value, 'hex'))::bit(64)::bigint) + $3) END, \
                   expires_at = excluded.expires_at \
                 WHERE plugin_kv.expires_at <= $5 OR length(plugin_kv.value) = 8 \
                 RETURNING value",
            )
            .await
            .map_err(pg)?;
        let row = c.query_opt(&st, &[&ns, &key, &delta, &expiry(ttl_secs, now), &now]).await.map_err(pg)?;
        let Some(row) = row else { return Err(KvError::Invalid("the key holds a value that is not a counter")) };
        let bytes: Vec<u8> = col(&row, 0, "plugin_kv")?;
        let b = <[u8; 8]>::try_from(bytes.as_slice())
            .map_err(|_| StoreError::Corrupt { tree: "plugin_kv", detail: "a counter is not 8 bytes".into() })?;
        Ok(i64::from_be_bytes(b))
    }
}

impl PgStore {
    /// Applies `rule` to the attempt record of `key` under a row lock (the row is made first
    /// if missing, so that two first attempts also take turns).
    async fn update_attempts<T: Send>(
        &self,
        key: &str,
        rule: impl FnOnce(&mut AttemptRecord) -> T + Send,
    ) -> Result<T, StoreError> {
        // Keys come from typed names: one that PostgreSQL text cannot hold is counted under a
        // stand-in (merging such names only makes their limit stricter).
        let key = &key.replace('\0', "\u{fffd}");
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // One statement makes the row if missing and locks it (a no-op update of an existing
        // row takes its lock), returning the record as it is.
        let st = tx
            .prepare_cached(
                "INSERT INTO login_attempts (key, record, locked_until, last_attempt) VALUES ($1, '{}', 0, 0) \
                 ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING record",
            )
            .await
            .map_err(pg)?;
        let row = tx.query_one(&st, &[&key]).await.map_err(pg)?;
        let mut rec: AttemptRecord = json(&row, 0, "login_attempts")?;
        let out = rule(&mut rec);
        let st = tx
            .prepare_cached(
                "UPDATE login_attempts SET record = $2, locked_until = $3, last_attempt = $4 WHERE key = $1",
            )
            .await
            .map_err(pg)?;
        tx.execute(&st, &[&key, &enc(&rec)?, &rec.locked_until, &rec.last_attempt]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }
}

#[async_trait]
impl LoginAttempts for PgStore {
    async fn reserve_attempt(&self, key: &str, policy: &LockoutPolicy, now: i64) -> Result<Reserve, StoreError> {
        let policy = *policy;
        self.update_attempts(key, move |rec| login_attempts::reserve(rec, &policy, now)).await
    }

    async fn settle_attempt(
        &self,
        key: &str,
        policy: &LockoutPolicy,
        outcome: Outcome,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let policy = *policy;
        self.update_attempts(key, move |rec| login_attempts::settle(rec, &policy, outcome, now)).await
    }

    async fn purge_attempts(&self, now: i64) -> Result<usize, StoreError> {
        let c = self.client().await?;
        // `is_live` in SQL: locked, or an attempt within FORGET_AFTER.
        let n = c
            .execute(
                "DELETE FROM login_attempts WHERE locked_until <= $1 AND $1 - last_attempt >= $2",
                &[&now, &login_attempts::FORGET_AFTER],
            )
            .await
            .map_err(pg)?;
        Ok(count(n))
    }
}
