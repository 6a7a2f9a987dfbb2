//! The sled backend's groups: `groups` maps the id to the record, `group_names` the name key
//! to the id; a create is one transaction over both.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::groups::{GroupPatch, GroupRecord, SyncGroups, name_key, taken};
use crate::sled::{SledStore, io};
use crate::{Patched, StoreError, decode, encode};

/// Tree of groups by id.
pub(super) const GROUPS: &str = "groups";
/// Tree of name key → group id.
pub(super) const GROUP_NAMES: &str = "group_names";

impl SyncGroups for SledStore {
    fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        let value = encode(group)?;
        let key = name_key(&group.name);
        let r = (&self.groups, &self.group_names).transaction(|(groups, names)| {
            if groups.get(group.id.as_bytes())?.is_some() || names.get(key.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            names.insert(key.as_bytes(), group.id.as_bytes())?;
            groups.insert(group.id.as_bytes(), value.clone())?;
            Ok(())
        });
        match r {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(())) => Err(taken(group)),
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }

    fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        self.groups.get(id.as_bytes()).map_err(io)?.map(|v| decode(GROUPS, &v)).transpose()
    }

    fn find_group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        match self.group_names.get(name_key(name).as_bytes()).map_err(io)? {
            Some(id) => self.get_group(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.group_names.iter() {
            let (_, id) = entry.map_err(io)?;
            if let Some(g) = self.get_group(&String::from_utf8_lossy(&id))? {
                out.push(g);
            }
        }
        Ok(out)
    }

    fn patch_group(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &GroupPatch,
        now: i64,
    ) -> Result<Patched<GroupRecord>, StoreError> {
        let _w = self.writing()?;
        let outcome = std::sync::Mutex::new(Patched::Missing);
        self.groups
            .fetch_and_update(id.as_bytes(), |old| {
                let old = old?;
                let mut group: GroupRecord = decode(GROUPS, old).ok()?;
                let mut out = outcome.lock().ok()?;
                if expected.is_some_and(|v| v != group.version) {
                    *out = Patched::Stale(group.version);
                    return Some(old.to_vec());
                }
                patch.apply(&mut group, now);
                let bytes = encode(&group).ok()?;
                *out = Patched::Updated(Box::new(group));
                Some(bytes)
            })
            .map_err(io)?;
        outcome.into_inner().map_err(|_| StoreError::Io("patch lock poisoned".into()))
    }

    fn delete_group(&self, id: &str) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        let r = (&self.groups, &self.group_names).transaction(|(groups, names)| {
            let Some(v) = groups.remove(id.as_bytes())? else { return Ok(false) };
            let group: GroupRecord = decode(GROUPS, &v).map_err(|_| ConflictableTransactionError::Abort(()))?;
            names.remove(name_key(&group.name).as_bytes())?;
            Ok(true)
        });
        match r {
            Ok(found) => Ok(found),
            Err(TransactionError::Abort(())) => Err(StoreError::Io(format!("group `{id}` cannot be read"))),
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }
}
