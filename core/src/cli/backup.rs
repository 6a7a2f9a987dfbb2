//! `gatehouse backup FILE` and `gatehouse restore FILE`, on a stopped server's store.

use std::io::{BufReader, Write as _};
use std::path::Path;

use crate::audit::AuditEvent;
use crate::config::Config;
use crate::store::Store;

/// Writes a backup to `file` (`-`: standard output). A file is written beside its final name
/// and renamed when complete, so an interrupted backup never looks like a finished one.
pub(super) fn backup(store: &dyn Store, file: &Path) -> Result<(), String> {
    let summary = if file == Path::new("-") {
        let mut out = std::io::stdout().lock();
        let s = store.backup(&mut out).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        s
    } else {
        let partial = file.with_extension("partial");
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?,
        );
        let s = store.backup(&mut out).map_err(|e| e.to_string())?;
        let f = out.into_inner().map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&partial, file).map_err(|e| format!("{}: {e}", file.display()))?;
        s
    };
    super::audited(store, AuditEvent::BackupCreated { entries: summary.entries, audit_lines: summary.audit_lines })?;
    eprintln!("backup: {} entries, {} audit records -> {}", summary.entries, summary.audit_lines, file.display());
    Ok(())
}

/// Restores `file` into the (empty) store of `config`, then checks the audit chain.
pub(super) fn restore(config: &Config, store: &dyn Store, file: &Path) -> Result<(), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let summary = store.restore(&mut BufReader::new(f)).map_err(|e| format!("{}: {e}", file.display()))?;
    store.flush().map_err(|e| e.to_string())?;
    let records = match crate::audit::verify_store(store).map_err(|e| e.to_string())? {
        Ok(v) => v.records,
        Err(brk) => return Err(format!("restored, but the audit chain does not verify: {brk}")),
    };
    super::audited(store, AuditEvent::StoreRestored { entries: summary.entries, audit_lines: summary.audit_lines })?;
    println!(
        "restored {} entries and {} audit records into {} (audit chain ok: {records} records)",
        summary.entries,
        summary.audit_lines,
        config.store_path.display()
    );
    Ok(())
}
