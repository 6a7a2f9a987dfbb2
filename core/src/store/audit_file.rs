//! The audit chain's file for the sled backend: `audit.jsonl` in the store directory, one
//! record per line, only ever appended. sled keeps written data in memory, so an
//! append-heavy stream (a record per token issued) grew the process by the bytes written;
//! a plain append-only file keeps memory flat. `SledStore::flush` also syncs this file, so
//! audit durability still joins the group commit.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::audit::AuditRecord;

/// File name inside the store directory.
pub const FILE_NAME: &str = "audit.jsonl";

fn io(context: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("audit file: {context}: {e}"))
}

/// The open audit file and its newest record.
pub struct AuditFile {
    path: PathBuf,
    file: File,
    last: Option<AuditRecord>,
}

impl AuditFile {
    /// Opens (creating) the file; a partial last line from a crash is cut off (it was never
    /// acknowledged: durable records are synced whole).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let mut file =
            OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(|e| io("open", e))?;
        let len = file.metadata().map_err(|e| io("stat", e))?.len();
        let tail_start = len.saturating_sub(256 * 1024);
        file.seek(SeekFrom::Start(tail_start)).map_err(|e| io("seek", e))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(|e| io("read", e))?;
        let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < tail.len() {
            let keep = tail_start + complete as u64;
            tracing::warn!(bytes = len - keep, "audit file: dropping a partial last line left by a crash");
            file.set_len(keep).map_err(|e| io("truncate", e))?;
        }
        let last_line = tail[..complete].split(|b| *b == b'\n').rev().find(|l| !l.is_empty());
        let last = match last_line {
            Some(line) => Some(serde_json::from_slice(line).map_err(|e| StoreError::Corrupt {
                tree: "audit",
                detail: format!("last line of {}: {e}", path.display()),
            })?),
            None => None,
        };
        Ok(Self { path, file, last })
    }

    /// Appends records (one write).
    pub fn append(&mut self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(records.len() * 384);
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| StoreError::Io(e.to_string()))?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf).map_err(|e| io("append", e))?;
        if let Some(r) = records.last() {
            self.last = Some(r.clone());
        }
        Ok(())
    }

    /// The newest record.
    pub fn last(&self) -> Option<AuditRecord> {
        self.last.clone()
    }

    /// Makes appended records durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|e| io("sync", e))
    }

    /// A reader over the whole file, for [`read_range`] without holding the writer's lock.
    pub fn reader(&self) -> Result<File, StoreError> {
        File::open(&self.path).map_err(|e| io("open for reading", e))
    }
}

/// Up to `limit` records with `seq >= from_seq`, in file order.
pub fn read_range(file: File, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io("read", e))?;
        if line.is_empty() {
            continue;
        }
        let r: AuditRecord = serde_json::from_str(&line)
            .map_err(|e| StoreError::Corrupt { tree: "audit", detail: format!("line {}: {e}", n + 1) })?;
        if r.seq >= from_seq {
            out.push(r);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}
