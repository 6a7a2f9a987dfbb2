//! The memory backend's groups: a map by id under one lock, so the name check and the insert
//! are one step.

use crate::groups::{GroupPatch, GroupRecord, SyncGroups, name_key, taken};
use crate::memory::{MemoryStore, poisoned};
use crate::{Patched, StoreError};

impl SyncGroups for MemoryStore {
    fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        let mut map = self.groups.write().map_err(|_| poisoned())?;
        let key = name_key(&group.name);
        if map.contains_key(&group.id) || map.values().any(|g| name_key(&g.name) == key) {
            return Err(taken(group));
        }
        map.insert(group.id.clone(), group.clone());
        Ok(())
    }

    fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        Ok(self.groups.read().map_err(|_| poisoned())?.get(id).cloned())
    }

    fn find_group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        let key = name_key(name);
        Ok(self.groups.read().map_err(|_| poisoned())?.values().find(|g| name_key(&g.name) == key).cloned())
    }

    fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let mut all: Vec<GroupRecord> = self.groups.read().map_err(|_| poisoned())?.values().cloned().collect();
        all.sort_by_cached_key(|g| name_key(&g.name));
        Ok(all)
    }

    fn patch_group(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &GroupPatch,
        now: i64,
    ) -> Result<Patched<GroupRecord>, StoreError> {
        let mut map = self.groups.write().map_err(|_| poisoned())?;
        let Some(group) = map.get_mut(id) else { return Ok(Patched::Missing) };
        if expected.is_some_and(|v| v != group.version) {
            return Ok(Patched::Stale(group.version));
        }
        patch.apply(group, now);
        Ok(Patched::Updated(Box::new(group.clone())))
    }

    fn delete_group(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.groups.write().map_err(|_| poisoned())?.remove(id).is_some())
    }
}
