//! Second factors (`factors.rs`): one row per user, swapped by its version column. The
//! `WHERE version = expected` makes each write lose to any write that came first, across
//! every instance on the database.

use async_trait::async_trait;

use super::{PgStore, big, enc, json, pg, text};
use crate::StoreError;
use crate::api::FactorStore;
use crate::factors::{self, FactorsRecord};

#[async_trait]
impl FactorStore for PgStore {
    async fn get_factors(&self, user_id: &str) -> Result<Option<FactorsRecord>, StoreError> {
        let Some(user_id) = text(user_id) else { return Ok(None) };
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM user_factors WHERE user_id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&user_id]).await.map_err(pg)?.map(|r| json(&r, 0, "user_factors")).transpose()
    }

    async fn put_factors(&self, record: &FactorsRecord, expected: u64) -> Result<bool, StoreError> {
        let record = factors::next(record, expected)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let (version, value) = (big(record.version), enc(&record)?);
        let written = if expected == 0 {
            let st = tx
                .prepare_cached(
                    "INSERT INTO user_factors (user_id, version, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(pg)?;
            tx.execute(&st, &[&record.user_id, &version, &value]).await
        } else {
            let st = tx
                .prepare_cached("UPDATE user_factors SET version = $2, record = $3 WHERE user_id = $1 AND version = $4")
                .await
                .map_err(pg)?;
            tx.execute(&st, &[&record.user_id, &version, &value, &big(expected)]).await
        };
        match written {
            Ok(1) => {}
            // Another write came first: nothing of this one happens.
            Ok(_) => return Ok(false),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => {
                return Err(factors::no_user(&record.user_id));
            }
            Err(e) => return Err(pg(e)),
        }
        // The credential index follows the record, in the same transaction.
        let ids: Vec<&str> = record.credential_ids().collect();
        let drop = tx
            .prepare_cached("DELETE FROM passkey_credentials WHERE user_id = $1 AND NOT (credential_id = ANY($2))")
            .await
            .map_err(pg)?;
        tx.execute(&drop, &[&record.user_id, &ids]).await.map_err(pg)?;
        let add = tx
            .prepare_cached(
                "INSERT INTO passkey_credentials (credential_id, user_id) SELECT unnest($2::text[]), $1 \
                 ON CONFLICT (credential_id) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        tx.execute(&add, &[&record.user_id, &ids]).await.map_err(pg)?;
        let foreign = tx
            .prepare_cached("SELECT 1 FROM passkey_credentials WHERE credential_id = ANY($2) AND user_id <> $1 LIMIT 1")
            .await
            .map_err(pg)?;
        if tx.query_opt(&foreign, &[&record.user_id, &ids]).await.map_err(pg)?.is_some() {
            return Err(factors::credential_taken());
        }
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }
}
