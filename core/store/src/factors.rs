//! A user's second factors: a TOTP authenticator (active, or waiting for its first code),
//! passkeys (WebAuthn credentials, each credential id unique across all users: a write that
//! would give one to a second user is a `Conflict`) and recovery codes (SHA-256 digests, each
//! removed when used). One record per user, replaced by
//! compare-and-swap on its `version`: spending a TOTP time step or a recovery code is a read,
//! a check and a swap that loses to any concurrent write, so a code is accepted once even
//! when two instances see it at the same moment. Removing every factor stores an empty record
//! with the next version (never a delete), so a stale writer can never succeed afterwards.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// The second factors of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FactorsRecord {
    /// The user.
    pub user_id: String,
    /// Bumped by every write; `0` when nothing is stored.
    pub version: u64,
    /// The active authenticator app.
    pub totp: Option<TotpFactor>,
    /// An authenticator being enrolled: active once one code from it is accepted.
    pub pending_totp: Option<TotpFactor>,
    /// Registered passkeys.
    pub passkeys: Vec<PasskeyFactor>,
    /// A passkey registration under way (its WebAuthn ceremony state), one-shot.
    pub pending_passkey: Option<PendingCeremony>,
    /// Unused recovery codes, as lowercase hex SHA-256 digests.
    pub recovery_codes: Vec<String>,
    /// When the recovery codes were generated, unix seconds.
    pub recovery_created_at: i64,
    /// The last write, unix seconds.
    pub updated_at: i64,
}

impl FactorsRecord {
    /// Nothing stored for `user_id`.
    pub fn empty(user_id: &str) -> Self {
        Self { user_id: user_id.to_owned(), ..Self::default() }
    }

    /// Whether the user has a second factor that signs them in.
    pub fn enrolled(&self) -> bool {
        self.totp.is_some() || !self.passkeys.is_empty()
    }

    /// The credential ids of the passkeys.
    pub fn credential_ids(&self) -> impl Iterator<Item = &str> {
        self.passkeys.iter().map(|p| p.credential_id.as_str())
    }
}

/// A WebAuthn passkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PasskeyFactor {
    /// The name the person gave it.
    pub name: String,
    /// The credential id, base64url without padding (unique across all users).
    pub credential_id: String,
    /// The credential as the WebAuthn library serialises it (public key, counter, flags).
    pub passkey: String,
    /// When it was registered, unix seconds.
    pub created_at: i64,
    /// When it last signed in, unix seconds (`0`: never).
    pub last_used: i64,
}

/// A WebAuthn ceremony waiting for the browser's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PendingCeremony {
    /// The library's ceremony state (JSON); it holds the challenge.
    pub state: String,
    /// The name the passkey will get.
    pub name: String,
    /// When it started, unix seconds.
    pub created_at: i64,
}

/// A TOTP authenticator (RFC 6238: SHA-1, 6 digits, 30 s steps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TotpFactor {
    /// The shared HMAC key, base32 (RFC 4648, no padding) as authenticator apps take it.
    pub secret: String,
    /// When it was added, unix seconds.
    pub created_at: i64,
    /// The last time step accepted (codes of this step and earlier are refused).
    pub last_step: u64,
    /// When a code was last accepted, unix seconds (`0`: never).
    pub last_used: i64,
}

/// The factor store of a synchronous backend.
pub trait SyncFactors {
    /// The user's factors; `None` when nothing was ever stored.
    fn get_factors(&self, user_id: &str) -> Result<Option<FactorsRecord>, StoreError>;
    /// Stores `record` (its `version` is ignored) with version `expected + 1` if the stored
    /// version is still `expected` (`0`: nothing stored); `false` when another write came
    /// first. `Refused` when the user does not exist, `Conflict` when one of its passkeys'
    /// credential ids belongs to another user.
    fn put_factors(&self, record: &FactorsRecord, expected: u64) -> Result<bool, StoreError>;
}

/// The record `put_factors` stores.
pub(crate) fn next(record: &FactorsRecord, expected: u64) -> Result<FactorsRecord, StoreError> {
    if record.user_id.is_empty() || record.user_id.contains('\0') {
        return Err(StoreError::Refused("factors name no user".into()));
    }
    let version = expected.checked_add(1).ok_or_else(|| StoreError::Refused("factor version overflow".into()))?;
    Ok(FactorsRecord { version, ..record.clone() })
}

/// The conflict of a credential id registered to another user.
pub(crate) fn credential_taken() -> StoreError {
    StoreError::Conflict("a passkey with this credential id".into())
}

/// The refusal for factors of a user that does not exist.
pub(crate) fn no_user(user_id: &str) -> StoreError {
    StoreError::Refused(format!("no user with id {user_id}"))
}
