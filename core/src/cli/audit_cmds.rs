//! `gatehouse audit ...`: verify, checkpoints and export of a stopped server's audit log.

use std::io::Write as _;
use std::path::Path;

use super::AuditCommand;
use crate::store::Db;

fn parse_time(flag: &str, raw: Option<String>) -> Result<Option<i64>, String> {
    raw.map(|r| {
        crate::audit::parse_time_ms(&r)
            .ok_or_else(|| format!("--{flag} `{r}` is not an RFC 3339 time such as 2026-11-22T00:00:00Z"))
    })
    .transpose()
}

pub(super) async fn audit_cmd(db: &Db, action: AuditCommand) -> Result<(), String> {
    let store = db.audit();
    match action {
        AuditCommand::Verify { checkpoints } => {
            let result = match checkpoints {
                None => crate::audit::verify_store(store).await.map_err(|e| e.to_string())?,
                Some(file) => verify_with_export(db, &file).await?,
            };
            match result {
                Ok(v) => {
                    println!("audit chain ok: {} records, {} checkpoints agree", v.records, v.checkpoints);
                    Ok(())
                }
                Err(brk) => Err(brk.to_string()),
            }
        }
        AuditCommand::Checkpoints => {
            let signer =
                crate::audit::checkpoint::AuditSigner::load_or_create(store).await.map_err(|e| e.to_string())?;
            let export = crate::audit::checkpoint::CheckpointExport {
                key: signer.public_key().to_jwk(),
                checkpoints: store.checkpoints().await.map_err(|e| e.to_string())?,
            };
            let text = serde_json::to_string_pretty(&export).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        AuditCommand::Export { since, until } => {
            let (since, until) = (parse_time("since", since)?, parse_time("until", until)?);
            let mut out = std::io::stdout().lock();
            let mut all = crate::audit::records(store, 0);
            while let Some(r) = all.next().await {
                let r = r.map_err(|e| e.to_string())?;
                if since.is_some_and(|s| r.time_ms < s) || until.is_some_and(|u| r.time_ms >= u) {
                    continue;
                }
                let line = serde_json::to_string(&r).map_err(|e| e.to_string())?;
                match writeln!(out, "{line}") {
                    Ok(()) => {}
                    // The reader went away (`| head`): that is the end, not an error.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(())
        }
    }
}

/// Verifies the store's log against an exported checkpoint file.
async fn verify_with_export(
    db: &Db,
    file: &Path,
) -> Result<Result<crate::audit::Verified, crate::audit::ChainBreak>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let export: crate::audit::checkpoint::CheckpointExport =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a checkpoint export: {e}", file.display()))?;
    let key = crate::audit::checkpoint::AuditPublicKey::from_jwk(&export.key)
        .map_err(|e| format!("{}: key: {e}", file.display()))?;
    let store = db.audit();
    let start = store.audit_start().await.map_err(|e| e.to_string())?;
    crate::audit::checkpoint::verify_records(start, crate::audit::records(store, 0), &export.checkpoints, Some(&key))
        .await
        .map_err(|e| e.to_string())
}
