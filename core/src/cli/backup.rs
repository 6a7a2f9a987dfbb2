//! `gatehouse backup FILE`, `gatehouse restore FILE` (a stopped server's sled store, or a
//! PostgreSQL store at any time) and `gatehouse store copy --from A --to B`.

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
        place(config)
    );
    Ok(())
}

/// Where `config`'s store is, for people.
pub(super) fn place(config: &Config) -> String {
    match &config.store {
        crate::config::StoreBackend::Sled => format!("sled {}", config.store_path.display()),
        crate::config::StoreBackend::Postgres(pg) => {
            format!("postgres {}", crate::store::pg::describe_url(pg.url.expose()))
        }
    }
}

/// `gatehouse store copy --from A --to B`: every record of A's store into B's, which must be
/// empty (sled to PostgreSQL when one instance becomes several, or back). A's store is read
/// in one snapshot; with sled, A's server must be stopped (sled locks its directory).
pub(super) fn copy(from: &Path, to: &Path) -> Result<(), String> {
    let source = super::load_for(Some(from), crate::config::LoadMode::Offline)?;
    let target = super::load_for(Some(to), crate::config::LoadMode::Offline)?;
    let (from_place, to_place) = (place(&source), place(&target));
    if from_place == to_place {
        return Err(format!("--from and --to name the same store ({from_place})"));
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let src = crate::server::open_store(&source).await.map_err(|e| e.to_string())?;
        let dst = crate::server::open_store(&target).await.map_err(|e| e.to_string())?;
        let items = src.export().await.map_err(|e| format!("{}: reading {from_place}: {e}", from.display()))?;
        let summary = crate::store::transfer::import(&*dst, items)
            .await
            .map_err(|e| format!("{}: writing {to_place}: {e}", to.display()))?;
        let db = Db::new(dst);
        db.durable().await.map_err(|e| e.to_string())?;
        let records = match crate::audit::verify_store(db.audit()).await.map_err(|e| e.to_string())? {
            Ok(v) => v.records,
            Err(brk) => return Err(format!("copied, but the audit chain does not verify: {brk}")),
        };
        super::audited(&db, AuditEvent::StoreRestored { entries: summary.entries, audit_lines: summary.audit_lines })
            .await?;
        println!(
            "copied {} entries and {} audit records from {from_place} to {to_place} (audit chain ok: {records} records)",
            summary.entries, summary.audit_lines
        );
        Ok(())
    })
}
