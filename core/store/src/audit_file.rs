//! The audit chain's file for the sled backend: `audit.jsonl` in the store directory, one
//! record per line, only ever appended. sled keeps written data in memory, so an
//! append-heavy stream (a record per token issued) grew the process by the bytes written;
//! a plain append-only file keeps memory flat. `SledStore::flush` also syncs this file, so
//! audit durability still joins the group commit.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::audit_chain::{AuditRecord, ChainStart};

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
    start: Option<ChainStart>,
    /// Bumped whenever the file is rewritten (offsets of the old one mean nothing).
    generation: u64,
}

/// Parses one line: a record, or the truncation marker that may head the file.
pub(super) enum Line {
    Record(Box<AuditRecord>),
    Start(ChainStart),
}

pub(super) fn parse_line(line: &[u8], n: usize) -> Result<Line, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt { tree: "audit", detail: format!("line {n}: {e}") };
    if line.starts_with(b"{\"truncated_through\"") {
        serde_json::from_slice(line).map(Line::Start).map_err(corrupt)
    } else {
        serde_json::from_slice(line).map(|r| Line::Record(Box::new(r))).map_err(corrupt)
    }
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
        let last = match last_line.map(|l| parse_line(l, 0)).transpose()? {
            Some(Line::Record(r)) => Some(*r),
            Some(Line::Start(_)) | None => None,
        };
        let mut first = String::new();
        BufReader::new(File::open(&path).map_err(|e| io("open", e))?)
            .read_line(&mut first)
            .map_err(|e| io("read", e))?;
        let start = match parse_line(first.trim_end().as_bytes(), 1) {
            Ok(Line::Start(s)) => Some(s),
            _ => None,
        };
        Ok(Self { path, file, last, start, generation: 0 })
    }

    /// Appends records (one write).
    pub fn append(&mut self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if let Some(first) = records.first()
            && !crate::audit_chain::follows(self.last.as_ref(), self.start.as_ref(), first)
        {
            return Err(StoreError::Conflict("an audit record at that position".into()));
        }
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

    /// A second handle to the file, to sync it without holding the writer's lock.
    pub fn sync_handle(&self) -> Result<std::fs::File, StoreError> {
        self.file.try_clone().map_err(|e| io("sync", e))
    }

    /// The truncation marker heading the file, if retention pruned it.
    pub fn start(&self) -> Option<ChainStart> {
        self.start.clone()
    }

    /// Rewrites the file without records up to `start.truncated_through`, headed by a marker:
    /// temp file, sync, atomic rename, sync of the directory, reopen.
    pub fn prune(&mut self, start: &ChainStart) -> Result<u64, StoreError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(|e| io("create temp", e))?);
        serde_json::to_writer(&mut out, start).map_err(|e| StoreError::Io(e.to_string()))?;
        out.write_all(b"\n").map_err(|e| io("write temp", e))?;
        let mut removed = 0;
        let mut found = false;
        for (n, line) in BufReader::new(self.reader()?).split(b'\n').enumerate() {
            let line = line.map_err(|e| io("read", e))?;
            if line.is_empty() {
                continue;
            }
            if let Line::Record(r) = parse_line(&line, n + 1)? {
                if r.seq <= start.truncated_through {
                    found |= r.seq == start.truncated_through && r.hash == start.last_hash;
                    removed += 1;
                    continue;
                }
            } else {
                continue;
            }
            out.write_all(&line).map_err(|e| io("write temp", e))?;
            out.write_all(b"\n").map_err(|e| io("write temp", e))?;
        }
        if !found {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::Refused("the truncation point does not match the chain".into()));
        }
        let file = out.into_inner().map_err(|e| io("flush temp", e.into_error()))?;
        file.sync_all().map_err(|e| io("sync temp", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("rename", e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("sync directory", e))?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path).map_err(|e| io("reopen", e))?;
        self.start = Some(start.clone());
        self.generation += 1;
        Ok(removed)
    }

    /// The file's current length: with [`Self::reader`] (same inode) a fixed prefix that
    /// later appends and even a prune (which renames a new file over it) do not change.
    pub fn len(&self) -> Result<u64, StoreError> {
        self.file.metadata().map(|m| m.len()).map_err(|e| io("stat", e))
    }

    /// Whether no record was ever appended (or every one was pruned without a marker).
    pub fn is_empty(&self) -> bool {
        self.last.is_none() && self.start.is_none()
    }

    /// Appends lines as they are (restore), then reloads the newest record and marker.
    pub fn append_raw(&mut self, dir: &Path, lines: &[u8]) -> Result<(), StoreError> {
        self.file.write_all(lines).map_err(|e| io("append", e))?;
        self.file.sync_data().map_err(|e| io("sync", e))?;
        let generation = self.generation + 1;
        *self = Self { generation, ..Self::open(dir)? };
        Ok(())
    }

    /// A reader, the length of the complete prefix and the generation, taken together (under
    /// the lock that appends hold), for reading without holding it.
    pub fn snapshot(&self) -> Result<(File, u64, u64), StoreError> {
        Ok((self.reader()?, self.len()?, self.generation))
    }

    /// A reader over the whole file, for reading without holding the writer's lock.
    pub fn reader(&self) -> Result<File, StoreError> {
        File::open(&self.path).map_err(|e| io("open for reading", e))
    }
}
