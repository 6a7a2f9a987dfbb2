//! The store's conformance suite: one set of checks per capability, run against every
//! backend (memory and sled in this crate's tests; PostgreSQL in its own), plus the races two
//! handles on one store must win or lose correctly ([`pair`]). Each backend only makes the
//! shared rules atomic; this suite is what says it did.
#![allow(clippy::unwrap_used, clippy::panic, reason = "a test suite: a failed step fails the test")]

mod audit;
mod browser;
mod factors;
mod groups;
mod identity;
mod links;
mod pair;
mod queue;
pub use queue::queued;

use std::sync::Arc;

use crate::Backend;

pub use identity::{client as identity_client, user as identity_user};
pub use links::link;
pub use pair::pair;

/// Every check on one fresh backend.
pub async fn all(s: Arc<dyn Backend>) {
    identity::clients_round_trip(&*s).await;
    identity::users_are_unique_by_name_and_email(&*s).await;
    identity::an_address_is_verified_only_while_it_is_kept(&*s).await;
    identity::patches_apply_only_to_the_expected_version(&*s).await;
    identity::users_are_paged_by_name_and_prefix(&*s).await;
    identity::keys_replace_atomically(&*s).await;
    identity::revocations_expire(&*s).await;
    identity::single_use_and_leases(&*s).await;
    groups::groups_are_unique_by_name_and_patched_by_version(&*s).await;
    links::links_are_unique_and_listed_by_user(&*s).await;
    links::a_user_made_with_its_link_is_made_whole_or_not_at_all(&*s).await;
    factors::factors_swap_by_version(&*s).await;
    factors::a_credential_id_belongs_to_one_user(&*s).await;
    factors::a_removed_user_leaves_nothing_behind(&*s).await;
    audit::audit_appends_in_order(&*s).await;
    audit::audit_key_and_checkpoints(&*s).await;
    queue::notify_queue_orders_settles_and_revives(&*s).await;
    queue::plugin_kv_namespaces_ttl_and_counters(&*s).await;
    queue::plugin_kv_quota_counts_live_keys(&*s).await;
    queue::login_attempts_lock_and_purge(&*s).await;
    browser::flows_are_taken_once(&*s).await;
    browser::sessions_round_trip(&*s).await;
    browser::codes_redeem_once(&*s).await;
    browser::refresh_rotates_and_detects_reuse(&*s).await;
    browser::consent_is_remembered(&*s).await;
    browser::tickets_are_taken_once(&*s).await;
    s.flush().await.unwrap();
}
