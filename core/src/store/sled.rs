//! The embedded default backend: one sled database, a tree per aggregate.

use std::path::Path;

use super::{ClientRecord, KeyRecord, Store, StoreError, decode, encode};

const CLIENTS: &str = "clients";
const KEYS: &str = "keys";
const REVOCATIONS: &str = "revocations";
const KEYSET_KEY: &[u8] = b"keyset";

/// A store in a sled directory. sled locks the directory: one process at a time.
pub struct SledStore {
    db: sled::Db,
    clients: sled::Tree,
    keys: sled::Tree,
    revocations: sled::Tree,
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl SledStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(|e| {
            let text = e.to_string();
            if text.contains("could not acquire lock") {
                StoreError::Locked { path: path.display().to_string() }
            } else {
                StoreError::Io(format!("opening {}: {text}", path.display()))
            }
        })?;
        let tree = |name: &str| db.open_tree(name).map_err(io);
        Ok(Self { clients: tree(CLIENTS)?, keys: tree(KEYS)?, revocations: tree(REVOCATIONS)?, db })
    }
}

impl Store for SledStore {
    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        match self.clients.get(id.as_bytes()).map_err(io)? {
            Some(v) => decode(CLIENTS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.clients.iter().values().map(|v| decode(CLIENTS, &v.map_err(io)?)).collect()
    }

    fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let value = encode(client)?;
        self.clients
            .compare_and_swap(client.id.as_bytes(), None::<&[u8]>, Some(value))
            .map_err(io)?
            .map_err(|_| StoreError::Conflict(format!("client `{}`", client.id)))
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.remove(id.as_bytes()).map_err(io)?.is_some())
    }

    fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        match self.keys.get(KEYSET_KEY).map_err(io)? {
            Some(v) => decode(KEYS, &v),
            None => Ok(Vec::new()),
        }
    }

    fn replace_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        self.keys.insert(KEYSET_KEY, encode(&keys)?).map_err(io)?;
        Ok(())
    }

    fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        self.revocations.insert(jti.as_bytes(), encode(&expires_at)?).map_err(io)?;
        Ok(())
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.revocations.contains_key(jti.as_bytes()).map_err(io)
    }

    fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.revocations.iter() {
            let (k, v) = entry.map_err(io)?;
            let exp: i64 = decode(REVOCATIONS, &v)?;
            if exp < now {
                self.revocations.remove(k).map_err(io)?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}
