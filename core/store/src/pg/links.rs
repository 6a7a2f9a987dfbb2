//! Federated links (`links.rs`): one row per `(issuer, subject)`, indexed by user. A user and
//! its first link are inserted in one transaction.

use async_trait::async_trait;

use super::{PgStore, enc, json, pg, text};
use crate::api::LinkStore;
use crate::links::{self, LinkRecord};
use crate::{StoreError, UserRecord};

const INSERT: &str = "INSERT INTO user_links (issuer, subject, user_id, record) VALUES ($1, $2, $3, $4)";

/// A failed link insert, said in the store's terms: the identity is linked already, or the
/// user is gone (the foreign key).
fn insert_failed(e: tokio_postgres::Error, link: &LinkRecord) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
        return links::no_user(&link.user_id);
    }
    match pg(e) {
        StoreError::Conflict(_) => links::taken(link),
        other => other,
    }
}

#[async_trait]
impl LinkStore for PgStore {
    async fn find_link(&self, issuer: &str, subject: &str) -> Result<Option<LinkRecord>, StoreError> {
        let (Some(issuer), Some(subject)) = (text(issuer), text(subject)) else { return Ok(None) };
        let c = self.client().await?;
        let st =
            c.prepare_cached("SELECT record FROM user_links WHERE issuer = $1 AND subject = $2").await.map_err(pg)?;
        c.query_opt(&st, &[&issuer, &subject]).await.map_err(pg)?.map(|r| json(&r, 0, "user_links")).transpose()
    }

    async fn user_links(&self, user_id: &str) -> Result<Vec<LinkRecord>, StoreError> {
        let Some(user_id) = text(user_id) else { return Ok(Vec::new()) };
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT record FROM user_links WHERE user_id = $1 ORDER BY issuer, subject")
            .await
            .map_err(pg)?;
        c.query(&st, &[&user_id]).await.map_err(pg)?.iter().map(|r| json(r, 0, "user_links")).collect()
    }

    async fn add_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        links::valid(link)?;
        let c = self.client().await?;
        let st = c.prepare_cached(INSERT).await.map_err(pg)?;
        c.execute(&st, &[&link.issuer, &link.subject, &link.user_id, &enc(link)?])
            .await
            .map(|_| ())
            .map_err(|e| insert_failed(e, link))
    }

    async fn create_linked_user(&self, user: &UserRecord, link: &LinkRecord) -> Result<(), StoreError> {
        let user = &crate::first_version(user);
        let link = LinkRecord { user_id: user.id.clone(), ..link.clone() };
        links::valid(&link)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx
            .prepare_cached("INSERT INTO users (id, username, email, record) VALUES ($1, $2, $3, $4)")
            .await
            .map_err(pg)?;
        match tx.execute(&st, &[&user.id, &user.username, &user.email, &enc(user)?]).await.map_err(pg) {
            Err(StoreError::Conflict(_)) => {
                return Err(StoreError::Conflict(format!("user `{}` or its email", user.username)));
            }
            other => other.map(|_| ())?,
        }
        let st = tx.prepare_cached(INSERT).await.map_err(pg)?;
        tx.execute(&st, &[&link.issuer, &link.subject, &link.user_id, &enc(&link)?])
            .await
            .map_err(|e| insert_failed(e, &link))?;
        tx.commit().await.map_err(pg)
    }

    async fn remove_link(&self, user_id: &str, issuer: &str, subject: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("DELETE FROM user_links WHERE issuer = $1 AND subject = $2 AND user_id = $3")
            .await
            .map_err(pg)?;
        Ok(c.execute(&st, &[&issuer, &subject, &user_id]).await.map_err(pg)? > 0)
    }

    async fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<bool, StoreError> {
        let Some(link) = self.find_link(issuer, subject).await? else { return Ok(false) };
        let touched = LinkRecord { last_used: now, ..link };
        let c = self.client().await?;
        // Only the row read: a link removed and made again meanwhile is not overwritten.
        let st = c
            .prepare_cached("UPDATE user_links SET record = $3 WHERE issuer = $1 AND subject = $2 AND user_id = $4")
            .await
            .map_err(pg)?;
        Ok(c.execute(&st, &[&issuer, &subject, &enc(&touched)?, &touched.user_id]).await.map_err(pg)? > 0)
    }
}
