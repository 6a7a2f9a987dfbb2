//! Flows, sessions, codes, refresh families, consent and tickets. The single-use rules are the shared
//! ones (`browser::redeem`, `browser::rotate`), applied to rows locked `FOR UPDATE` in one
//! transaction: of two racing redemptions, the second waits for the first's commit and then
//! sees its redemption.

use async_trait::async_trait;

use super::{PgStore, count, enc, json, pg, text};
use crate::StoreError;
use crate::api::BrowserStore;
use crate::browser::{
    CodeRecord, CodeRedemption, Digest, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation, SessionRecord,
    code_keep_until, redeem, rotate,
};
use crate::tickets::TicketRecord;

/// How long a family is kept: while a member can be valid or its last access token lives.
fn family_keep(f: &FamilyRecord) -> i64 {
    f.expires_at.max(f.last_access_exp)
}

#[async_trait]
impl BrowserStore for PgStore {
    async fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO login_flows (id, record, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at",
            )
            .await
            .map_err(pg)?;
        c.execute(&st, &[&&id[..], &enc(flow)?, &flow.expires_at]).await.map_err(pg)?;
        Ok(())
    }

    async fn update_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let st =
            c.prepare_cached("UPDATE login_flows SET record = $2, expires_at = $3 WHERE id = $1").await.map_err(pg)?;
        Ok(c.execute(&st, &[&&id[..], &enc(flow)?, &flow.expires_at]).await.map_err(pg)? == 1)
    }

    async fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM login_flows WHERE id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&&id[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "login_flows")).transpose()
    }

    async fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("DELETE FROM login_flows WHERE id = $1 RETURNING record").await.map_err(pg)?;
        c.query_opt(&st, &[&&id[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "login_flows")).transpose()
    }

    async fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO sessions (id, record, last_seen, expires_at, user_id) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record, last_seen = excluded.last_seen, \
                 expires_at = excluded.expires_at, user_id = excluded.user_id",
            )
            .await
            .map_err(pg)?;
        let values: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&&id[..], &enc(session)?, &session.last_seen, &session.expires_at, &session.user_id];
        c.execute(&st, &values).await.map_err(pg)?;
        Ok(())
    }

    async fn update_session(&self, id: &Digest, session: &SessionRecord) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE sessions SET record = $2, last_seen = $3, expires_at = $4, user_id = $5 WHERE id = $1",
            )
            .await
            .map_err(pg)?;
        let values: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&&id[..], &enc(session)?, &session.last_seen, &session.expires_at, &session.user_id];
        let n = c.execute(&st, &values).await.map_err(pg)?;
        Ok(n == 1)
    }

    async fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM sessions WHERE id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&&id[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "sessions")).transpose()
    }

    async fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("DELETE FROM sessions WHERE id = $1 RETURNING record").await.map_err(pg)?;
        c.query_opt(&st, &[&&id[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "sessions")).transpose()
    }

    async fn user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<(Digest, SessionRecord)>, StoreError> {
        let Some(user_id) = super::text(user_id) else { return Ok(Vec::new()) };
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT id, record FROM sessions WHERE user_id = $1 AND expires_at > $2")
            .await
            .map_err(pg)?;
        let mut out = Vec::new();
        for row in c.query(&st, &[&user_id, &now]).await.map_err(pg)? {
            let id: Vec<u8> = super::col(&row, 0, "sessions")?;
            let Ok(id) = Digest::try_from(id.as_slice()) else { continue };
            out.push((id, json::<SessionRecord>(&row, 1, "sessions")?));
        }
        out.sort_by_key(|(_, s)| s.created_at);
        Ok(out)
    }

    async fn count_open_sessions(&self, now: i64, idle_since: i64) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one("SELECT count(*) FROM sessions WHERE expires_at > $1 AND last_seen >= $2", &[&now, &idle_since])
            .await
            .map_err(pg)?;
        Ok(count(super::unbig(super::col(&row, 0, "sessions")?)))
    }

    async fn put_ticket(&self, id: &Digest, ticket: &TicketRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO tickets (id, record, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at",
            )
            .await
            .map_err(pg)?;
        c.execute(&st, &[&&id[..], &enc(ticket)?, &ticket.expires_at]).await.map_err(pg)?;
        Ok(())
    }

    async fn get_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM tickets WHERE id = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&&id[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "tickets")).transpose()
    }

    async fn take_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("DELETE FROM tickets WHERE id = $1 RETURNING record").await.map_err(pg)?;
        c.query_opt(&st, &[&&id[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "tickets")).transpose()
    }

    async fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO auth_codes (hash, record, keep_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (hash) DO UPDATE SET record = excluded.record, keep_until = excluded.keep_until",
            )
            .await
            .map_err(pg)?;
        c.execute(&st, &[&&code[..], &enc(record)?, &code_keep_until(record)]).await.map_err(pg)?;
        Ok(())
    }

    async fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM auth_codes WHERE hash = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&&code[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "auth_codes")).transpose()
    }

    async fn redeem_code(
        &self,
        code: &Digest,
        redemption: &Redemption,
        now: i64,
    ) -> Result<CodeRedemption, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM auth_codes WHERE hash = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&&code[..]]).await.map_err(pg)? else { return Ok(CodeRedemption::Invalid) };
        let mut rec: CodeRecord = json(&row, 0, "auth_codes")?;
        let outcome = redeem(&mut rec, redemption, now);
        if matches!(outcome, CodeRedemption::Redeemed(_)) {
            let st = tx
                .prepare_cached("UPDATE auth_codes SET record = $2, keep_until = $3 WHERE hash = $1")
                .await
                .map_err(pg)?;
            tx.execute(&st, &[&&code[..], &enc(&rec)?, &code_keep_until(&rec)]).await.map_err(pg)?;
            tx.commit().await.map_err(pg)?;
        }
        Ok(outcome)
    }

    async fn create_refresh(
        &self,
        token: &Digest,
        record: &RefreshRecord,
        family: &FamilyRecord,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx
            .prepare_cached(
                "INSERT INTO refresh_families (id, record, keep_until, user_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record, keep_until = excluded.keep_until",
            )
            .await
            .map_err(pg)?;
        tx.execute(&st, &[&record.family, &enc(family)?, &family_keep(family), &family.user_id]).await.map_err(pg)?;
        self::put_token(&tx, token, record).await?;
        tx.commit().await.map_err(pg)
    }

    async fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT record FROM refresh_tokens WHERE hash = $1").await.map_err(pg)?;
        c.query_opt(&st, &[&&token[..]]).await.map_err(pg)?.map(|r| json(&r, 0, "refresh_tokens")).transpose()
    }

    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        jti: &str,
        access_exp: i64,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // Token, then family: every writer locks in this order.
        let st = tx.prepare_cached("SELECT record FROM refresh_tokens WHERE hash = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&&old[..]]).await.map_err(pg)? else { return Ok(Rotation::Invalid) };
        let mut spent: RefreshRecord = json(&row, 0, "refresh_tokens")?;
        let st = tx.prepare_cached("SELECT record FROM refresh_families WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&spent.family]).await.map_err(pg)? else { return Ok(Rotation::Invalid) };
        let mut family: FamilyRecord = json(&row, 0, "refresh_families")?;
        let outcome = rotate(&mut spent, &mut family, jti, access_exp, now);
        if matches!(outcome, Rotation::Invalid) {
            return Ok(outcome);
        }
        let st = tx
            .prepare_cached("UPDATE refresh_families SET record = $2, keep_until = $3 WHERE id = $1")
            .await
            .map_err(pg)?;
        tx.execute(&st, &[&spent.family, &enc(&family)?, &family_keep(&family)]).await.map_err(pg)?;
        if matches!(outcome, Rotation::Rotated(_)) {
            put_token(&tx, old, &spent).await?;
            put_token(&tx, new, record).await?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(outcome)
    }

    async fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError> {
        let Some(family) = text(family) else { return Ok(None) };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx.prepare_cached("SELECT record FROM refresh_families WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let Some(row) = tx.query_opt(&st, &[&family]).await.map_err(pg)? else { return Ok(None) };
        let mut f: FamilyRecord = json(&row, 0, "refresh_families")?;
        f.revoked = true;
        tx.execute("UPDATE refresh_families SET record = $2 WHERE id = $1", &[&family, &enc(&f)?]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(Some(f))
    }

    async fn user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let Some(user_id) = text(user_id) else { return Ok(Vec::new()) };
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT id, record FROM refresh_families WHERE user_id = $1").await.map_err(pg)?;
        let mut out = Vec::new();
        for r in c.query(&st, &[&user_id]).await.map_err(pg)? {
            let f: FamilyRecord = json(&r, 1, "refresh_families")?;
            if !f.revoked {
                out.push(super::col(&r, 0, "refresh_families")?);
            }
        }
        Ok(out)
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let (Some(user_id), Some(client_id)) = (text(user_id), text(client_id)) else { return Ok(None) };
        let c = self.client().await?;
        let st =
            c.prepare_cached("SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2").await.map_err(pg)?;
        c.query_opt(&st, &[&user_id, &client_id]).await.map_err(pg)?.map(|r| json(&r, 0, "consents")).transpose()
    }

    async fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes",
            )
            .await
            .map_err(pg)?;
        c.execute(&st, &[&user_id, &client_id, &enc(scopes)?]).await.map_err(pg)?;
        Ok(())
    }

    async fn purge_browser(&self, now: i64) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM login_flows WHERE expires_at < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
            "DELETE FROM auth_codes WHERE keep_until < $1",
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM refresh_families WHERE keep_until < $1",
            "DELETE FROM tickets WHERE expires_at < $1",
        ] {
            n += c.execute(sql, &[&now]).await.map_err(pg)?;
        }
        Ok(count(n))
    }
}

/// Stores a refresh token (a new one, or the tombstone of a spent one).
async fn put_token(
    tx: &deadpool_postgres::Transaction<'_>,
    token: &Digest,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    let st = tx
        .prepare_cached(
            "INSERT INTO refresh_tokens (hash, family, record, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (hash) DO UPDATE SET family = excluded.family, record = excluded.record, \
             expires_at = excluded.expires_at",
        )
        .await
        .map_err(pg)?;
    tx.execute(&st, &[&&token[..], &record.family, &enc(record)?, &record.expires_at]).await.map_err(pg)?;
    Ok(())
}
