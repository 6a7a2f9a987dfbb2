//! Backup and restore of a sled store (format in `backup.rs`). The backup takes the write
//! barrier only while it copies the trees and notes the audit file's length; it then streams
//! without blocking writers. The audit file is append-only, so the noted prefix is stable
//! (a prune renames a new file over it; the handle opened under the barrier still reads the
//! old one). A restore reads and checks the whole backup before it writes anything.

use std::io::{BufRead, BufReader, Read as _, Write};

use super::StoreError;
use super::backup::{Item, Summary, Writer, read};
use super::sled::SledStore;

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl SledStore {
    pub(super) fn backup_to(&self, out: &mut dyn Write) -> Result<Summary, StoreError> {
        let (trees, audit, audit_len) = {
            let _barrier = self.writes_exclusive()?;
            let mut trees = Vec::new();
            for name in self.sled().tree_names() {
                let tree = self.sled().open_tree(&name).map_err(io)?;
                let entries = tree.iter().collect::<Result<Vec<_>, _>>().map_err(io)?;
                trees.push((String::from_utf8_lossy(&name).into_owned(), entries));
            }
            let audit = self.audit_file()?;
            let len = audit.len()?;
            (trees, audit.reader()?, len)
        };
        let mut w = Writer::new(out)?;
        for (name, entries) in &trees {
            for (k, v) in entries {
                w.entry(name, k, v)?;
            }
        }
        for line in BufReader::new(audit.take(audit_len)).lines() {
            let line = line.map_err(|e| StoreError::Io(format!("reading the audit file: {e}")))?;
            if !line.is_empty() {
                w.audit(&line)?;
            }
        }
        w.finish()
    }

    pub(super) fn restore_from(&self, input: &mut dyn BufRead) -> Result<Summary, StoreError> {
        let _barrier = self.writes_exclusive()?;
        let occupied =
            self.sled().tree_names().iter().any(|n| self.sled().open_tree(n).map(|t| !t.is_empty()).unwrap_or(true));
        if occupied || !self.audit_file()?.is_empty() {
            return Err(StoreError::Refused(format!(
                "the store at {} holds data; restore needs an empty store",
                self.dir().display()
            )));
        }
        // Everything is read and checked (checksum, counts) before the first write.
        let (mut entries, mut audit) = (Vec::new(), Vec::new());
        let mut collect = |item: Item| -> Result<(), StoreError> {
            match item {
                Item::Entry { tree, key, value } => entries.push((tree, key, value)),
                Item::Audit(line) => {
                    audit.extend_from_slice(line.as_bytes());
                    audit.push(b'\n');
                }
            }
            Ok(())
        };
        let summary = read(input, Some(&mut collect))?;
        for (tree, key, value) in entries {
            self.sled().open_tree(tree.as_bytes()).map_err(io)?.insert(key, value).map_err(io)?;
        }
        self.audit_file()?.append_raw(self.dir(), &audit)?;
        self.sled().flush().map_err(io)?;
        Ok(summary)
    }
}
