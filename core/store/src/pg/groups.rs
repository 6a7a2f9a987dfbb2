//! Groups: one row per group, its name key a unique column.

use async_trait::async_trait;

use super::{PgStore, enc, json, pg, text};
use crate::api::GroupStore;
use crate::groups::{GroupPatch, GroupRecord, first_version, name_key, taken};
use crate::{Patched, StoreError};

#[async_trait]
impl GroupStore for PgStore {
    async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        let group = &first_version(group);
        let c = self.client().await?;
        let st = c.prepare_cached("INSERT INTO groups (id, name_key, record) VALUES ($1, $2, $3)").await.map_err(pg)?;
        match c.execute(&st, &[&group.id, &name_key(&group.name), &enc(group)?]).await.map_err(pg) {
            Err(StoreError::Conflict(_)) => Err(taken(group)),
            other => other.map(|_| ()),
        }
    }

    async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        let Some(id) = text(id) else { return Ok(None) };
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM groups WHERE id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&id]).await.map_err(pg)?.map(|r| json(&r, 0, "groups")).transpose()
    }

    async fn find_group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        let Some(name) = text(name) else { return Ok(None) };
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM groups WHERE name_key = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&name_key(name)]).await.map_err(pg)?.map(|r| json(&r, 0, "groups")).transpose()
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let c = self.client().await?;
        // Ordered in Rust: the database's collation need not order as `name_key` bytes do.
        let rows = c.query("SELECT name_key, record FROM groups", &[]).await.map_err(pg)?;
        let mut all = rows
            .iter()
            .map(|r| Ok((super::col::<String>(r, 0, "groups")?, json(r, 1, "groups")?)))
            .collect::<Result<Vec<(String, GroupRecord)>, StoreError>>()?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all.into_iter().map(|(_, g)| g).collect())
    }

    async fn patch_group(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &GroupPatch,
        now: i64,
    ) -> Result<Patched<GroupRecord>, StoreError> {
        let Some(id) = text(id) else { return Ok(Patched::Missing) };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM groups WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&id]).await.map_err(pg)? else { return Ok(Patched::Missing) };
        let mut group: GroupRecord = json(&row, 0, "groups")?;
        if expected.is_some_and(|v| v != group.version) {
            return Ok(Patched::Stale(group.version));
        }
        patch.apply(&mut group, now);
        let st = tx.prepare_cached("UPDATE groups SET record = $2 WHERE id = $1").await.map_err(pg)?;
        tx.execute(&st, &[&id, &enc(&group)?]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(Patched::Updated(Box::new(group)))
    }

    async fn delete_group(&self, id: &str) -> Result<bool, StoreError> {
        let Some(id) = text(id) else { return Ok(false) };
        let c = self.client().await?;
        Ok(c.execute("DELETE FROM groups WHERE id = $1", &[&id]).await.map_err(pg)? > 0)
    }
}
