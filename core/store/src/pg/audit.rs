//! The audit log: one hash chain shared by every instance. `audit_head` holds the chain's head;
//! an append locks it, checks that the batch follows it (`audit_chain::follows`), inserts the
//! records and moves the head, in one transaction, so two instances never fork the chain: the
//! later one gets `Conflict` and chains its batch again after the new head. Each record is
//! stored as the exact JSON line the sled backend writes to `audit.jsonl`.

use async_trait::async_trait;

use super::{PgStore, big, col, enc, json, pg, unbig};
use crate::StoreError;
use crate::api::AuditStore;
use crate::audit_chain::{AuditRecord, ChainStart, follows};
use crate::audit_checkpoints::CheckpointRecord;

fn line(r: &AuditRecord) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| StoreError::Io(e.to_string()))
}

fn parse(row: &tokio_postgres::Row, idx: usize) -> Result<AuditRecord, StoreError> {
    let text: &str = col(row, idx, "audit_log")?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { tree: "audit_log", detail: e.to_string() })
}

/// The head row: (last record's seq and hash, the truncation point).
type Head = (Option<(u64, String)>, Option<ChainStart>);

fn head_of(row: Option<&tokio_postgres::Row>) -> Result<Head, StoreError> {
    let Some(r) = row else { return Ok((None, None)) };
    let seq: i64 = col(r, 0, "audit_head")?;
    let hash: String = col(r, 1, "audit_head")?;
    let through: Option<i64> = col(r, 2, "audit_head")?;
    let thash: Option<String> = col(r, 3, "audit_head")?;
    let start = match (through, thash) {
        (Some(t), Some(h)) => Some(ChainStart { truncated_through: unbig(t), last_hash: h }),
        _ => None,
    };
    Ok(((seq > 0).then(|| (unbig(seq), hash)), start))
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else { return Ok(()) };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let st = tx
            .prepare_cached(
                "SELECT seq, hash, truncated_through, truncated_hash FROM audit_head WHERE id = 1 FOR UPDATE",
            )
            .await
            .map_err(pg)?;
        let row = tx.query_opt(&st, &[]).await.map_err(pg)?;
        let (head, start) = head_of(row.as_ref())?;
        // `follows` reads only the head's seq and hash.
        let stub = head.map(|(seq, hash)| AuditRecord { seq, hash, ..first.clone() });
        if !follows(stub.as_ref(), start.as_ref(), first) {
            return Err(StoreError::Conflict("an audit record at that position".into()));
        }
        let mut seqs = Vec::with_capacity(records.len());
        let mut times = Vec::with_capacity(records.len());
        let mut types = Vec::with_capacity(records.len());
        let mut lines = Vec::with_capacity(records.len());
        for r in records {
            seqs.push(big(r.seq));
            times.push(r.time_ms);
            types.push(r.event.name().to_owned());
            lines.push(line(r)?);
        }
        let st = tx
            .prepare_cached(
                "INSERT INTO audit_log (seq, time_ms, type, line) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])",
            )
            .await
            .map_err(pg)?;
        tx.execute(&st, &[&seqs, &times, &types, &lines]).await.map_err(pg)?;
        let st = tx
            .prepare_cached(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )
            .await
            .map_err(pg)?;
        tx.execute(&st, &[&big(last.seq), &last.hash]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    async fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let c = self.client().await?;
        let st =
            c.prepare_cached("SELECT line FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2").await.map_err(pg)?;
        let rows = c.query(&st, &[&big(from_seq), &i64::try_from(limit).unwrap_or(i64::MAX)]).await.map_err(pg)?;
        rows.iter().map(|r| parse(r, 0)).collect()
    }

    async fn audit_records_of(
        &self,
        from_seq: u64,
        scan: usize,
        types: &[&str],
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
        let c = self.client().await?;
        // Every record in the window is looked at; only the wanted ones are sent and decoded.
        let st = c
            .prepare_cached(
                "SELECT seq, CASE WHEN type = ANY($3) THEN line END FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
            )
            .await
            .map_err(pg)?;
        let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
        let rows =
            c.query(&st, &[&big(from_seq), &i64::try_from(scan).unwrap_or(i64::MAX), &types]).await.map_err(pg)?;
        let mut out = Vec::new();
        let mut last = None;
        for r in &rows {
            last = Some(unbig(col(r, 0, "audit_log")?));
            if col::<Option<&str>>(r, 1, "audit_log")?.is_some() {
                out.push(parse(r, 1)?);
            }
        }
        Ok((out, last))
    }

    async fn last_audit_record(&self) -> Result<Option<AuditRecord>, StoreError> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT line FROM audit_log ORDER BY seq DESC LIMIT 1").await.map_err(pg)?;
        c.query_opt(&st, &[]).await.map_err(pg)?.map(|r| parse(&r, 0)).transpose()
    }

    async fn audit_start(&self) -> Result<Option<ChainStart>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT seq, hash, truncated_through, truncated_hash FROM audit_head WHERE id = 1")
            .await
            .map_err(pg)?;
        Ok(head_of(c.query_opt(&st, &[]).await.map_err(pg)?.as_ref())?.1)
    }

    async fn prune_audit(&self, start: &ChainStart) -> Result<u64, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        tx.query_opt("SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE", &[]).await.map_err(pg)?;
        let through = big(start.truncated_through);
        let row = tx.query_opt("SELECT line FROM audit_log WHERE seq = $1", &[&through]).await.map_err(pg)?;
        let found = row.map(|r| parse(&r, 0)).transpose()?;
        if found.is_none_or(|r| r.hash != start.last_hash) {
            return Err(StoreError::Refused("the truncation point does not match the chain".into()));
        }
        let removed = tx.execute("DELETE FROM audit_log WHERE seq <= $1", &[&through]).await.map_err(pg)?;
        tx.execute(
            "UPDATE audit_head SET truncated_through = $1, truncated_hash = $2 WHERE id = 1",
            &[&through, &start.last_hash],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(removed)
    }

    async fn audit_key(&self) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        let row = c.query_opt("SELECT pkcs8 FROM audit_key WHERE id = 1", &[]).await.map_err(pg)?;
        row.map(|r| col(&r, 0, "audit_key")).transpose()
    }

    async fn init_audit_key(&self, pkcs8: &str) -> Result<String, StoreError> {
        let c = self.client().await?;
        c.execute("INSERT INTO audit_key (id, pkcs8) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", &[&pkcs8])
            .await
            .map_err(pg)?;
        // Of two racing starts both use the key stored first.
        self.audit_key().await?.ok_or_else(|| StoreError::Io("the audit key vanished while it was created".into()))
    }

    async fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO audit_checkpoints (seq, record) VALUES ($1, $2) ON CONFLICT (seq) DO UPDATE SET record = excluded.record",
            &[&big(checkpoint.seq), &enc(checkpoint)?],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c.query("SELECT record FROM audit_checkpoints ORDER BY seq", &[]).await.map_err(pg)?;
        rows.iter().map(|r| json(r, 0, "audit_checkpoints")).collect()
    }
}
