//! `gatehouse backup FILE` and `gatehouse restore FILE`, on a stopped server's store.

use std::io::BufReader;
use std::path::Path;

use crate::audit::AuditEvent;
use crate::config::Config;
use crate::store::Db;

/// Writes a backup to `file` (`-`: standard output). A file is written beside its final name
/// and renamed when complete, so an interrupted backup never looks like a finished one.
pub(super) async fn backup(db: &Db, file: &Path) -> Result<(), String> {
    let summary = if file == Path::new("-") {
        db.maintenance().backup(Box::new(std::io::stdout())).await.map_err(|e| e.to_string())?
    } else {
        let partial = file.with_extension("partial");
        let out = std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        let s = db.maintenance().backup(Box::new(std::io::BufWriter::new(out))).await.map_err(|e| e.to_string())?;
        // The writer was flushed and closed by the backup; make the file itself durable.
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(|e| e.to_string())?;
        std::fs::rename(&partial, file).map_err(|e| format!("{}: {e}", file.display()))?;
        s
    };
    super::audited(db, AuditEvent::BackupCreated { entries: summary.entries, audit_lines: summary.audit_lines })
        .await?;
    eprintln!("backup: {} entries, {} audit records -> {}", summary.entries, summary.audit_lines, file.display());
    Ok(())
}

/// Restores `file` into the (empty) store of `config`, then checks the audit chain.
pub(super) async fn restore(config: &Config, db: &Db, file: &Path) -> Result<(), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let summary =
        db.maintenance().restore(Box::new(BufReader::new(f))).await.map_err(|e| format!("{}: {e}", file.display()))?;
    db.durable().await.map_err(|e| e.to_string())?;
    let records = match crate::audit::verify_store(db.audit()).await.map_err(|e| e.to_string())? {
        Ok(v) => v.records,
        Err(brk) => return Err(format!("restored, but the audit chain does not verify: {brk}")),
    };
    super::audited(db, AuditEvent::StoreRestored { entries: summary.entries, audit_lines: summary.audit_lines })
        .await?;
    println!(
        "restored {} entries and {} audit records into {} (audit chain ok: {records} records)",
        summary.entries,
        summary.audit_lines,
        config.store_path.display()
    );
    Ok(())
}
