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
        let c = self.client().await?;
        let (version, value) = (big(record.version), enc(&record)?);
        let written = if expected == 0 {
            let st = c
                .prepare_cached(
                    "INSERT INTO user_factors (user_id, version, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(pg)?;
            c.execute(&st, &[&record.user_id, &version, &value]).await
        } else {
            let st = c
                .prepare_cached("UPDATE user_factors SET version = $2, record = $3 WHERE user_id = $1 AND version = $4")
                .await
                .map_err(pg)?;
            c.execute(&st, &[&record.user_id, &version, &value, &big(expected)]).await
        };
        match written {
            Ok(n) => Ok(n == 1),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(factors::no_user(&record.user_id))
            }
            Err(e) => Err(pg(e)),
        }
    }
}
