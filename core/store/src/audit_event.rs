//! The audit log's record types: what happened ([`AuditEvent`]) and who caused it
//! ([`Actor`]). They are part of the stored record (`audit_chain.rs` hashes them), so they
//! live with the store; the server's `audit` module writes and queries them.

use serde::{Deserialize, Serialize};

pub use crate::audit_actor::Actor;
pub use crate::audit_input::{PolicyInputRecord, PolicySubjectRecord};

/// What happened. `type` is the record's event name in exports and queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    /// The server started.
    ServerStarted {
        /// Gatehouse version.
        version: String,
        /// The configuration source.
        config: String,
    },
    /// The server stopped accepting requests and is shutting down.
    ServerStopped,
    /// Records up to `through_seq` were removed by retention; `last_hash` is the hash of that
    /// record, so the remaining chain is checked from there.
    AuditTruncated {
        /// The last removed record.
        through_seq: u64,
        /// Its hash.
        last_hash: String,
        /// How many records were removed.
        removed: u64,
    },
    /// An access token was issued.
    TokenIssued {
        /// Client.
        client_id: String,
        /// Grant type.
        grant_type: String,
        /// Token id.
        jti: String,
        /// Granted scopes.
        scope: Option<String>,
    },
    /// A token was revoked.
    TokenRevoked {
        /// Client that revoked it.
        client_id: String,
        /// Token id.
        jti: String,
    },
    /// Client authentication failed.
    ClientAuthFailed {
        /// The claimed client id, if any.
        client_id: Option<String>,
        /// Reason code.
        reason: String,
    },
    /// Admin authentication failed.
    AdminAuthFailed,
    /// A request was refused by a rate limit.
    RateLimited {
        /// Which limit.
        limit: String,
    },
    /// Signing keys were rotated.
    KeysRotated {
        /// `admin`, `schedule` or `cli`.
        trigger: String,
        /// New active key ids.
        active: Vec<String>,
    },
    /// A client was added (CLI).
    ClientCreated {
        /// Client id.
        client_id: String,
    },
    /// A client was removed (CLI).
    ClientRemoved {
        /// Client id.
        client_id: String,
    },
    /// A stored client was given a new secret (CLI); the old one stopped working.
    ClientSecretRotated {
        /// Client id.
        client_id: String,
    },
    /// A user was created (CLI or config bootstrap).
    UserCreated {
        /// Username.
        username: String,
    },
    /// A user was disabled or enabled (CLI).
    UserStatusChanged {
        /// Username.
        username: String,
        /// New state.
        disabled: bool,
    },
    /// A user's groups were replaced (CLI).
    UserGroupsChanged {
        /// Username.
        username: String,
        /// The new groups.
        groups: Vec<String>,
    },
    /// A user's password was changed (CLI).
    PasswordChanged {
        /// Username.
        username: String,
    },
    /// A person signed in (password checked) for a client.
    LoginSucceeded {
        /// User id.
        user_id: String,
        /// Username.
        username: String,
        /// The client that asked.
        client_id: String,
        /// Authentication methods (RFC 8176).
        amr: Vec<String>,
    },
    /// A sign-in attempt failed. The typed username is not recorded (people type passwords
    /// there); the user id is, when the name matched an account.
    LoginFailed {
        /// The matched user, if any.
        user_id: Option<String>,
        /// The client that asked.
        client_id: String,
        /// `bad_credentials`, `disabled`, `locked`, `rate_limited`.
        reason: String,
    },
    /// Repeated failures locked sign-in to an account name for a while.
    UserLocked {
        /// The matched user, if the name is an account.
        user_id: Option<String>,
        /// The client the last attempt was for.
        client_id: String,
    },
    /// A login-step plugin passed a sign-in.
    LoginStepPassed {
        /// Plugin name.
        plugin: String,
        /// SHA-256 of its component.
        sha256: String,
        /// User.
        user_id: String,
        /// Client.
        client_id: String,
        /// What the step recorded (`key=value`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recorded: Vec<String>,
    },
    /// A login-step plugin failed a sign-in (its reason), or failed itself (fail closed).
    LoginStepFailed {
        /// Plugin name.
        plugin: String,
        /// SHA-256 of its component, when it was loaded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// User.
        user_id: String,
        /// Client.
        client_id: String,
        /// `fail` (the step refused) or `error` (the plugin failed).
        outcome: String,
        /// The step's reason or the failure.
        reason: String,
    },
    /// A notification was given up on (dead-lettered).
    NotificationDeadLettered {
        /// Notifier plugin.
        plugin: String,
        /// Message id.
        id: String,
        /// The event it was about.
        event: String,
        /// Why.
        reason: String,
    },
    /// An operator put a dead letter back in the notification queue.
    NotificationRetried {
        /// Message id.
        id: String,
    },
    /// A browser session ended.
    SessionEnded {
        /// User id.
        user_id: String,
        /// Session id (`sid`).
        sid: String,
        /// `logout`.
        reason: String,
    },
    /// A user approved scopes for a client.
    ConsentGranted {
        /// User id.
        user_id: String,
        /// Client.
        client_id: String,
        /// Approved scopes.
        scope: String,
    },
    /// An authorization code was presented a second time: its tokens were revoked.
    CodeReplayed {
        /// Client that presented it.
        client_id: String,
        /// The user the code was for.
        user_id: String,
    },
    /// A spent refresh token was presented: its family was revoked.
    RefreshTokenReused {
        /// Client.
        client_id: String,
        /// User.
        user_id: String,
        /// The family id.
        family: String,
    },
    /// A backup was taken (admin API or CLI).
    BackupCreated {
        /// Store entries in it.
        entries: u64,
        /// Audit lines in it (this record is not among them).
        audit_lines: u64,
    },
    /// The store was restored from a backup (CLI).
    StoreRestored {
        /// Store entries restored.
        entries: u64,
        /// Audit lines restored.
        audit_lines: u64,
    },
    /// A person signed in through an identity-provider connector.
    FederatedLogin {
        /// The connector.
        connector_id: String,
        /// The provider's issuer.
        issuer: String,
        /// The provider's subject.
        subject: String,
        /// The local user.
        user_id: String,
    },
    /// A federated sign-in failed (provider error, bad callback, connector failure).
    FederatedLoginFailed {
        /// The connector.
        connector_id: String,
        /// Reason code.
        reason: String,
    },
    /// An external identity was linked to a user.
    IdentityLinked {
        /// The connector.
        connector_id: String,
        /// The provider's issuer.
        issuer: String,
        /// The provider's subject.
        subject: String,
        /// The local user.
        user_id: String,
    },
    /// An external identity was unlinked from a user.
    IdentityUnlinked {
        /// The connector.
        connector_id: String,
        /// The provider's issuer.
        issuer: String,
        /// The provider's subject.
        subject: String,
        /// The local user.
        user_id: String,
    },
    /// A second factor was added to an account (`method`: `totp`).
    MfaEnrolled {
        /// User.
        user_id: String,
        /// The factor.
        method: String,
    },
    /// Every second factor of an account was removed (by its owner, or an operator).
    MfaRemoved {
        /// User.
        user_id: String,
        /// `self` (the account page) or `admin`.
        by: String,
    },
    /// One passkey of several was removed from an account.
    PasskeyRemoved {
        /// User.
        user_id: String,
        /// The name it had.
        name: String,
    },
    /// A sign-in passed its second-factor step.
    MfaPassed {
        /// User.
        user_id: String,
        /// Client.
        client_id: String,
        /// `totp` or `recovery_code`.
        method: String,
    },
    /// A second-factor code was refused (wrong, replayed, or the account is locked).
    MfaFailed {
        /// User.
        user_id: String,
        /// Client.
        client_id: String,
        /// `bad_code`, `locked`, `rate_limited`, `flow_attempts`.
        reason: String,
    },
    /// A recovery code was used (it is spent).
    RecoveryCodeUsed {
        /// User.
        user_id: String,
        /// Codes left.
        remaining: u64,
    },
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated {
        /// User.
        user_id: String,
    },
    /// A user was created at their first federated sign-in.
    UserProvisioned {
        /// The connector.
        connector_id: String,
        /// The provider's issuer.
        issuer: String,
        /// The provider's subject.
        subject: String,
        /// The new user.
        user_id: String,
        /// Their username.
        username: String,
    },
    /// A policy plugin decided (one record per plugin per request).
    PolicyDecision {
        /// Plugin name.
        plugin: String,
        /// SHA-256 of its component.
        sha256: String,
        /// Operator's version label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// WIT package version it implements.
        wit: String,
        /// authorize, token, refresh or userinfo.
        stage: String,
        /// Client.
        client_id: String,
        /// User, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// SHA-256 of the decision's input facts.
        input_sha256: String,
        /// allow, deny, step_up or error.
        outcome: String,
        /// Deny reason, step-up methods or failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Call time, microseconds.
        micros: u64,
        /// The scopes an allowing plugin kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        granted_scopes: Option<Vec<String>>,
        /// What the plugin saw (`gatehouse policy replay` runs a candidate on it). Records
        /// written before this field existed have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Box<PolicyInputRecord>>,
    },
    /// A policy plugin in `mode = "shadow"` decided beside the enforcing ones; its decision
    /// changed nothing.
    PolicyShadowDecision {
        /// Plugin name.
        plugin: String,
        /// SHA-256 of its component.
        sha256: String,
        /// Operator's version label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// authorize, token, refresh or userinfo.
        stage: String,
        /// Client.
        client_id: String,
        /// User, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// SHA-256 of the decision's input facts (the same as the enforced decisions').
        input_sha256: String,
        /// What the shadow plugin decided: allow, deny, step_up or error.
        outcome: String,
        /// What the enforcing plugins decided.
        enforced: String,
        /// Whether the two are the same.
        agree: bool,
        /// Deny reason, step-up methods or failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Call time, microseconds.
        micros: u64,
    },
    /// Recorded policy decisions were replayed against a candidate component on the server.
    PolicyReplayed {
        /// The plugin whose decisions were replayed.
        plugin: String,
        /// SHA-256 of the candidate.
        candidate_sha256: String,
        /// Decisions replayed.
        replayed: u64,
        /// Of which the candidate would decide differently (failures included).
        changed: u64,
    },
    /// A set of plugins was loaded (start-up or reload).
    PluginsLoaded {
        /// `name sha256 version wit` of each, in order.
        plugins: Vec<String>,
        /// `startup` or `reload`.
        trigger: String,
    },
    /// A reload was refused; the previous set stays.
    PluginReloadFailed {
        /// What was wrong.
        reason: String,
    },
    /// The chain's head was signed with the audit key (`checkpoint.rs`): records up to
    /// `through_seq` are vouched for by whoever keeps this checkpoint.
    AuditCheckpoint {
        /// The last record covered.
        through_seq: u64,
        /// Its hash.
        hash: String,
        /// The audit key's id.
        key_id: String,
        /// Ed25519 signature, base64url.
        signature: String,
    },
    /// A refresh token family was revoked by its client (RFC 7009).
    RefreshTokenRevoked {
        /// Client.
        client_id: String,
        /// The family id.
        family: String,
    },
    /// A password reset link was asked for (the link itself is never recorded).
    PasswordResetRequested {
        /// User.
        user_id: String,
        /// Notifiers the message was handed to (0: none subscribes to it).
        messages: u32,
    },
    /// A password was set through a reset link; every session of the user ended.
    PasswordReset {
        /// User.
        user_id: String,
        /// Username.
        username: String,
        /// Sessions ended.
        sessions_ended: u32,
    },
    /// A link to verify the user's address was asked for (never recorded itself).
    EmailVerificationRequested {
        /// User.
        user_id: String,
        /// Notifiers the message was handed to (0: none subscribes to it).
        messages: u32,
    },
    /// The user's address was verified through its link.
    EmailVerified {
        /// User.
        user_id: String,
    },
    /// An operator changed a user's attributes (the fields named, not their values).
    UserUpdated {
        /// User.
        user_id: String,
        /// The fields changed.
        fields: Vec<String>,
    },
    /// A user was removed with their links, factors, consents and sessions (by id only).
    UserDeleted { user_id: String },
    /// A stored client's metadata changed (the fields named).
    ClientUpdated { client_id: String, fields: Vec<String> },
    /// A group was made (admin API, SCIM).
    GroupCreated { group_id: String, name: String },
    /// A group's attributes changed (the fields named).
    GroupUpdated { group_id: String, fields: Vec<String> },
    /// A group was removed (its members no longer name it).
    GroupDeleted { group_id: String, name: String },
    /// Users (by id) joined or left a group.
    GroupMembersChanged { group_id: String, added: Vec<String>, removed: Vec<String> },
}
