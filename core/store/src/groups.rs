//! Groups as records. A group has a stable `id`, a `name` that never changes once made (it is
//! what the `groups` claim carries and what policy plugins see, so a rename elsewhere cannot
//! change what relying parties authorise on), a `display_name` and `description` that may
//! change, and admin API `roles` that its members hold. Membership is kept on the users
//! (`UserRecord::groups` holds group names, as the config's `[[users]]` do), so a sign-in
//! reads one user record and a group's members are the users naming it. Names are unique
//! regardless of case.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GroupRecord {
    /// Stable id (UUID v4).
    pub id: String,
    /// The name users' `groups` hold (unique regardless of case; never changes).
    pub name: String,
    /// The name shown to people (SCIM `displayName`).
    pub display_name: String,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin API roles its members hold.
    pub roles: Vec<String>,
    /// The id a provisioning system (SCIM `externalId`) knows it by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Last change, unix seconds.
    pub updated_at: i64,
    /// Moves on with every change (an ETag, `If-Match`).
    pub version: u64,
}

/// A change to a group: each field given is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupPatch {
    /// The shown name.
    pub display_name: Option<String>,
    /// The description (`Some(None)` removes it).
    pub description: Option<Option<String>>,
    /// The roles.
    pub roles: Option<Vec<String>>,
    /// The provisioning system's id (`Some(None)` removes it).
    pub external_id: Option<Option<String>>,
}

impl GroupPatch {
    /// Applies the patch to `group` at `now` (its version moves on).
    pub fn apply(&self, group: &mut GroupRecord, now: i64) {
        if let Some(d) = &self.display_name {
            group.display_name = d.clone();
        }
        if let Some(d) = &self.description {
            group.description = d.clone();
        }
        if let Some(r) = &self.roles {
            group.roles = r.clone();
        }
        if let Some(x) = &self.external_id {
            group.external_id = x.clone();
        }
        group.updated_at = now;
        group.version = group.version.saturating_add(1);
    }
}

/// The key a name is unique by.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// `group` as first stored: version 1 at least.
pub(crate) fn first_version(group: &GroupRecord) -> GroupRecord {
    GroupRecord { version: group.version.max(1), ..group.clone() }
}

/// The conflict of a taken name or id.
pub(crate) fn taken(group: &GroupRecord) -> StoreError {
    StoreError::Conflict(format!("group `{}`", group.name))
}

/// The group store of a synchronous backend (see `api::GroupStore`).
pub trait SyncGroups {
    /// Adds a group; `Conflict` when its id or name (regardless of case) is taken.
    fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError>;
    /// A group by id.
    fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError>;
    /// A group by name, regardless of case.
    fn find_group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError>;
    /// All groups, ordered by name key.
    fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError>;
    /// Applies `patch` if the group's version is `expected` (when given), atomically.
    fn patch_group(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &GroupPatch,
        now: i64,
    ) -> Result<crate::Patched<GroupRecord>, StoreError>;
    /// Removes a group record (not the members' names of it); `false` when there was none.
    fn delete_group(&self, id: &str) -> Result<bool, StoreError>;
}
