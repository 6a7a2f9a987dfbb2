//! Groups: unique names regardless of case, patches by version, removal.

use crate::groups::{GroupPatch, GroupRecord};
use crate::{Backend, Patched, StoreError};

/// A group named `name` with id `id`.
pub fn group(id: &str, name: &str) -> GroupRecord {
    GroupRecord { id: id.into(), name: name.into(), display_name: name.into(), created_at: 1, ..Default::default() }
}

pub async fn groups_are_unique_by_name_and_patched_by_version(s: &dyn Backend) {
    s.create_group(&group("gc-1", "Staff")).await.unwrap();
    assert!(matches!(s.create_group(&group("gc-2", "staff")).await, Err(StoreError::Conflict(_))), "name case");
    assert!(matches!(s.create_group(&group("gc-1", "other")).await, Err(StoreError::Conflict(_))), "same id");
    s.create_group(&group("gc-3", "auditors")).await.unwrap();
    let stored = s.get_group("gc-1").await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.version), ("Staff", 1), "version 1 at creation");
    assert_eq!(s.find_group("STAFF").await.unwrap().map(|g| g.id), Some("gc-1".into()));
    assert_eq!(s.find_group("nobody").await.unwrap(), None);
    assert_eq!(s.get_group("gc-\0").await.unwrap(), None, "a key no store holds");
    let names: Vec<_> = s.list_groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["auditors", "Staff"], "ordered by name regardless of case");

    let patch = GroupPatch {
        display_name: Some("All staff".into()),
        description: Some(Some("everyone".into())),
        roles: Some(vec!["auditor".into()]),
        external_id: None,
    };
    assert_eq!(s.patch_group("gc-1", Some(7), &patch, 5).await.unwrap(), Patched::Stale(1));
    let Patched::Updated(g) = s.patch_group("gc-1", Some(1), &patch, 5).await.unwrap() else { panic!("patched") };
    assert_eq!((g.version, g.updated_at, g.name.as_str()), (2, 5, "Staff"), "the name stays");
    assert_eq!(s.get_group("gc-1").await.unwrap().unwrap(), *g);
    assert_eq!(s.patch_group("gc-9", None, &patch, 5).await.unwrap(), Patched::Missing);

    assert!(s.delete_group("gc-1").await.unwrap());
    assert!(!s.delete_group("gc-1").await.unwrap());
    assert_eq!(s.find_group("staff").await.unwrap(), None, "the name is free again");
    s.create_group(&group("gc-4", "staff")).await.unwrap();
}
