//! A sparse index over the audit file: the byte offset of every 4096th record, so that
//! reading records from a sequence number (queries, exports, verification, the notification
//! queue) seeks close to them instead of parsing the file from its start. Built lazily by
//! the first read, extended by later reads over what was appended since, and dropped when
//! retention rewrites the file (a new generation). Only the file's complete prefix (its
//! length taken under the writer's lock) is ever read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use super::StoreError;
use super::audit_file::{Line, parse_line};
use crate::audit_chain::AuditRecord;

/// Records between two marks.
const EVERY: u64 = 4096;

fn io(context: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("audit file: {context}: {e}"))
}

/// The `seq` of a record line without parsing it: records are written with `seq` first.
pub(super) fn quick_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Marks `(seq, byte offset)` over one generation of the file.
#[derive(Debug, Default)]
pub(super) struct AuditIndex {
    generation: u64,
    marks: Vec<(u64, u64)>,
    scanned_to: u64,
    records: u64,
}

impl AuditIndex {
    /// Extends the marks over `file` up to `len` and returns where to start reading for
    /// `from_seq`.
    pub(super) fn offset_for(
        &mut self,
        file: &mut File,
        len: u64,
        generation: u64,
        from_seq: u64,
    ) -> Result<u64, StoreError> {
        if generation != self.generation || len < self.scanned_to {
            *self = Self { generation, ..Self::default() };
        }
        if len > self.scanned_to {
            file.seek(SeekFrom::Start(self.scanned_to)).map_err(|e| io("seek", e))?;
            let mut reader = BufReader::with_capacity(256 * 1024, (&mut *file).take(len - self.scanned_to));
            let mut offset = self.scanned_to;
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(|e| io("read", e))?;
                if n == 0 || !line.ends_with(b"\n") {
                    break;
                }
                if let Some(seq) = quick_seq(&line) {
                    if self.records.is_multiple_of(EVERY) {
                        self.marks.push((seq, offset));
                    }
                    self.records += 1;
                }
                offset += n as u64;
            }
            self.scanned_to = offset;
        }
        let i = self.marks.partition_point(|(seq, _)| *seq <= from_seq);
        Ok(if i == 0 { 0 } else { self.marks[i - 1].1 })
    }
}

/// Up to `limit` records with `seq >= from_seq` in `file` between `offset` and `len`, in
/// file order; lines before `from_seq` are skipped without being parsed.
pub(super) fn read_range(
    file: File,
    offset: u64,
    len: u64,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<AuditRecord>, StoreError> {
    read_where(file, offset, len, from_seq, limit, &|_| true).map(|(records, _)| records)
}

/// The event type of a record line (the first `"type":"…"` key: inside strings a quote is
/// escaped, so only the event's own tag matches).
fn quick_type(line: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"type\":\"";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &line[at..];
    let end = rest.iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Looks at up to `scan` records with `seq >= from_seq` from `offset`, decodes those whose
/// event type `keep` accepts; returns them and the seq of the last record looked at.
pub(super) fn read_where(
    mut file: File,
    offset: u64,
    len: u64,
    from_seq: u64,
    scan: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
    file.seek(SeekFrom::Start(offset)).map_err(|e| io("seek", e))?;
    let reader = BufReader::with_capacity(256 * 1024, file.take(len.saturating_sub(offset)));
    let (mut out, mut last, mut seen) = (Vec::new(), None, 0);
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| io("read", e))?;
        let seq = match quick_seq(&line) {
            Some(s) => s,
            None if line.is_empty() => continue,
            // Not in the usual shape: decode it to know.
            None => match parse_line(&line, n + 1)? {
                Line::Record(r) => r.seq,
                Line::Start(_) => continue,
            },
        };
        if seq < from_seq {
            continue;
        }
        if quick_type(&line).is_none_or(keep)
            && let Line::Record(r) = parse_line(&line, n + 1)?
            && keep(r.event.name())
        {
            out.push(*r);
        }
        last = Some(seq);
        seen += 1;
        if seen >= scan {
            break;
        }
    }
    Ok((out, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_event::{Actor, AuditEvent};

    #[test]
    fn reads_seek_to_the_nearest_mark_and_survive_a_new_generation() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut audit = super::super::audit_file::AuditFile::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut prev = crate::audit_chain::GENESIS.to_owned();
        let records: Vec<AuditRecord> = (1..=10_000)
            .map(|seq| {
                let r = AuditRecord::next(seq, 0, Actor::system(), AuditEvent::ServerStopped, &prev);
                prev.clone_from(&r.hash);
                r
            })
            .collect();
        audit.append(&records).unwrap_or_else(|e| panic!("{e}"));
        let len = audit.len().unwrap_or_else(|e| panic!("{e}"));
        let mut index = AuditIndex::default();
        for from in [1, 4096, 4097, 8193, 9_999, 10_000, 10_001] {
            let mut file = audit.reader().unwrap_or_else(|e| panic!("{e}"));
            let offset = index.offset_for(&mut file, len, 0, from).unwrap_or_else(|e| panic!("{e}"));
            let got = read_range(file, offset, len, from, 3).unwrap_or_else(|e| panic!("{e}"));
            let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
            let want: Vec<u64> = (from..=10_000).take(3).collect();
            assert_eq!(seqs, want, "from {from}");
        }
        assert_eq!(index.marks.len(), 3, "a mark every 4096 records");
        // A rewritten file (another generation) is indexed afresh.
        let mut file = audit.reader().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.offset_for(&mut file, len, 1, 1).unwrap_or_else(|e| panic!("{e}")), 0);
        assert_eq!(quick_seq(b"{\"seq\":42,\"time_ms\":1}"), Some(42));
        let mut file = audit.reader().unwrap_or_else(|e| panic!("{e}"));
        let offset = index.offset_for(&mut file, len, 1, 9_000).unwrap_or_else(|e| panic!("{e}"));
        let (kept, last) =
            read_where(file, offset, len, 9_000, 10, &|t| t == "server_stopped").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((kept.len(), last), (10, Some(9_009)));
        let file = audit.reader().unwrap_or_else(|e| panic!("{e}"));
        let (kept, last) =
            read_where(file, 0, len, 9_990, 100, &|t| t == "login_failed").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((kept.len(), last), (0, Some(10_000)), "nothing kept, all looked at");
        assert_eq!(quick_type(b"{\"seq\":1,\"event\":{\"type\":\"login_failed\",\"x\":1}}"), Some("login_failed"));
        assert_eq!(quick_seq(b"{\"truncated_through\":3}"), None);
    }
}
