//! An in-memory backend for unit tests and the conformance suite. Not durable.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{ClientRecord, KeyRecord, Store, StoreError};

/// A store held in process memory.
#[derive(Default)]
pub struct MemoryStore {
    clients: RwLock<BTreeMap<String, ClientRecord>>,
    keys: RwLock<Vec<KeyRecord>>,
    revocations: RwLock<BTreeMap<String, i64>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> StoreError {
    StoreError::Io("memory store lock poisoned".into())
}

impl Store for MemoryStore {
    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.clients.read().map_err(|_| poisoned())?.get(id).cloned())
    }

    fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Ok(self.clients.read().map_err(|_| poisoned())?.values().cloned().collect())
    }

    fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let mut map = self.clients.write().map_err(|_| poisoned())?;
        if map.contains_key(&client.id) {
            return Err(StoreError::Conflict(format!("client `{}`", client.id)));
        }
        map.insert(client.id.clone(), client.clone());
        Ok(())
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.write().map_err(|_| poisoned())?.remove(id).is_some())
    }

    fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self.keys.read().map_err(|_| poisoned())?.clone())
    }

    fn replace_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        *self.keys.write().map_err(|_| poisoned())? = keys.to_vec();
        Ok(())
    }

    fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        self.revocations.write().map_err(|_| poisoned())?.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revocations.read().map_err(|_| poisoned())?.contains_key(jti))
    }

    fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        let mut map = self.revocations.write().map_err(|_| poisoned())?;
        let before = map.len();
        map.retain(|_, exp| *exp >= now);
        Ok(before - map.len())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
