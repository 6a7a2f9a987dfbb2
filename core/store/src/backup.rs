//! Backups: a consistent snapshot of the store as JSON lines. The first line names the
//! format, then every sled entry (`{"tree","key","value"}`, base64url), then every audit log
//! line (`{"audit": "..."}`), and last `{"end": {...,"sha256"}}` over all the bytes before it,
//! so a truncated or altered backup is refused before anything is restored.

use std::io::{BufRead, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// The format name in the first line.
pub const FORMAT: &str = "gatehouse-backup";
const VERSION: u32 = 1;

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Store entries.
    pub entries: u64,
    /// Audit log lines.
    pub audit_lines: u64,
}

/// The first line of a backup (both versions).
#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) format: String,
    pub(crate) version: u32,
}

/// The last line's content (both versions): the counts and the SHA-256 of every line before.
#[derive(Serialize, Deserialize)]
pub(crate) struct End {
    pub(crate) entries: u64,
    pub(crate) audit_lines: u64,
    pub(crate) sha256: String,
}

/// One line of a backup.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Entry { tree: String, key: String, value: String },
    Audit { audit: String },
    End { end: End },
    Header(Header),
}

/// One item to restore.
#[derive(Debug)]
pub enum Item {
    /// A store entry.
    Entry {
        /// Tree name.
        tree: String,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// An audit log line (without the newline).
    Audit(String),
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("backup: {e}"))
}

fn bad(detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { tree: "backup", detail: detail.into() }
}

/// Writes a backup, hashing as it goes.
pub struct Writer<'a> {
    out: &'a mut dyn Write,
    hash: aws_lc_rs::digest::Context,
    summary: Summary,
}

impl<'a> Writer<'a> {
    /// Starts a backup on `out` (writes the header line).
    pub fn new(out: &'a mut dyn Write) -> Result<Self, StoreError> {
        let mut w = Self {
            out,
            hash: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            summary: Summary::default(),
        };
        w.line(&Line::Header(Header { format: FORMAT.into(), version: VERSION }))?;
        Ok(w)
    }

    fn line(&mut self, line: &Line) -> Result<(), StoreError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| StoreError::Io(e.to_string()))?;
        bytes.push(b'\n');
        self.hash.update(&bytes);
        self.out.write_all(&bytes).map_err(io)
    }

    /// Adds a store entry.
    pub fn entry(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.summary.entries += 1;
        self.line(&Line::Entry {
            tree: tree.to_owned(),
            key: URL_SAFE_NO_PAD.encode(key),
            value: URL_SAFE_NO_PAD.encode(value),
        })
    }

    /// Adds an audit log line.
    pub fn audit(&mut self, line: &str) -> Result<(), StoreError> {
        self.summary.audit_lines += 1;
        self.line(&Line::Audit { audit: line.to_owned() })
    }

    /// Writes the end line.
    pub fn finish(mut self) -> Result<Summary, StoreError> {
        let sha256 = hex::encode(self.hash.clone().finish());
        let s = self.summary;
        self.line(&Line::End { end: End { entries: s.entries, audit_lines: s.audit_lines, sha256 } })?;
        self.out.flush().map_err(io)?;
        Ok(s)
    }
}

/// Reads a backup: checks the header, every line, the counts and the checksum; `apply` gets
/// each item only when `apply` is given. Run once without `apply` to verify, then with it.
pub fn read(
    input: &mut dyn BufRead,
    mut apply: Option<&mut dyn FnMut(Item) -> Result<(), StoreError>>,
) -> Result<Summary, StoreError> {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut summary = Summary::default();
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            return Err(bad("the backup ends early (no end line): truncated?"));
        }
        n += 1;
        if buf.last() != Some(&b'\n') {
            return Err(bad(format!("line {n} is incomplete: truncated?")));
        }
        let line: Line = serde_json::from_slice(&buf).map_err(|e| bad(format!("line {n}: {e}")))?;
        match line {
            Line::Header(h) if n == 1 => {
                if h.format != FORMAT || h.version != VERSION {
                    return Err(bad(format!("not a {FORMAT} version {VERSION} file")));
                }
            }
            _ if n == 1 => return Err(bad(format!("not a {FORMAT} file"))),
            Line::Header(_) => return Err(bad(format!("line {n}: a second header"))),
            Line::End { end } => {
                let actual = hex::encode(hash.finish());
                if end.sha256 != actual || end.entries != summary.entries || end.audit_lines != summary.audit_lines {
                    return Err(bad("the checksum or counts do not match: the backup was altered or damaged"));
                }
                if input.read_until(b'\n', &mut buf).map_err(io)? != 0 {
                    return Err(bad("data after the end line"));
                }
                return Ok(summary);
            }
            Line::Entry { tree, key, value } => {
                summary.entries += 1;
                let dec = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| bad(format!("line {n}: {e}")));
                let item = Item::Entry { tree, key: dec(&key)?, value: dec(&value)? };
                if let Some(f) = apply.as_mut() {
                    f(item)?;
                }
            }
            Line::Audit { audit } => {
                summary.audit_lines += 1;
                if let Some(f) = apply.as_mut() {
                    f(Item::Audit(audit))?;
                }
            }
        }
        hash.update(&buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out).unwrap();
        w.entry("clients", b"a", b"\x01{}").unwrap();
        w.audit("{\"seq\":1}").unwrap();
        assert_eq!(w.finish().unwrap(), Summary { entries: 1, audit_lines: 1 });
        out
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let good = sample();
        let mut items = Vec::new();
        let mut f = |i: Item| {
            items.push(format!("{i:?}"));
            Ok(())
        };
        assert_eq!(read(&mut good.as_slice(), Some(&mut f)).unwrap(), Summary { entries: 1, audit_lines: 1 });
        assert_eq!(items.len(), 2);
        let truncated = &good[..good.len() - 10];
        assert!(read(&mut &truncated[..], None).is_err());
        let cut = good.iter().take_while(|b| **b != b'}').count();
        assert!(read(&mut &good[..cut], None).is_err());
        let altered = String::from_utf8(good.clone()).unwrap().replace("seq\\\":1", "seq\\\":2");
        assert!(read(&mut altered.as_bytes(), None).is_err(), "checksum");
        let mut extra = good.clone();
        extra.extend_from_slice(b"{}\n");
        assert!(read(&mut extra.as_slice(), None).is_err());
        assert!(read(&mut &b"{\"hello\":1}\n"[..], None).is_err());
    }
}
