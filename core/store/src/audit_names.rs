//! The audit events' names (their serde tags), for queries and notifications that look at
//! the type without decoding the record.

use crate::audit_event::AuditEvent;

impl AuditEvent {
    /// The event name (the serde tag).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ServerStarted { .. } => "server_started",
            Self::ServerStopped => "server_stopped",
            Self::AuditTruncated { .. } => "audit_truncated",
            Self::AuditCheckpoint { .. } => "audit_checkpoint",
            Self::TokenIssued { .. } => "token_issued",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::ClientAuthFailed { .. } => "client_auth_failed",
            Self::AdminAuthFailed => "admin_auth_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::KeysRotated { .. } => "keys_rotated",
            Self::ClientCreated { .. } => "client_created",
            Self::ClientRemoved { .. } => "client_removed",
            Self::ClientSecretRotated { .. } => "client_secret_rotated",
            Self::UserCreated { .. } => "user_created",
            Self::UserStatusChanged { .. } => "user_status_changed",
            Self::UserGroupsChanged { .. } => "user_groups_changed",
            Self::PasswordChanged { .. } => "password_changed",
            Self::LoginSucceeded { .. } => "login_succeeded",
            Self::LoginFailed { .. } => "login_failed",
            Self::UserLocked { .. } => "user_locked",
            Self::LoginStepPassed { .. } => "login_step_passed",
            Self::LoginStepFailed { .. } => "login_step_failed",
            Self::NotificationDeadLettered { .. } => "notification_dead_lettered",
            Self::NotificationRetried { .. } => "notification_retried",
            Self::SessionEnded { .. } => "session_ended",
            Self::ConsentGranted { .. } => "consent_granted",
            Self::CodeReplayed { .. } => "code_replayed",
            Self::RefreshTokenReused { .. } => "refresh_token_reused",
            Self::RefreshTokenRevoked { .. } => "refresh_token_revoked",
            Self::BackupCreated { .. } => "backup_created",
            Self::StoreRestored { .. } => "store_restored",
            Self::FederatedLogin { .. } => "federated_login",
            Self::FederatedLoginFailed { .. } => "federated_login_failed",
            Self::IdentityLinked { .. } => "identity_linked",
            Self::IdentityUnlinked { .. } => "identity_unlinked",
            Self::UserProvisioned { .. } => "user_provisioned",
            Self::MfaEnrolled { .. } => "mfa_enrolled",
            Self::MfaRemoved { .. } => "mfa_removed",
            Self::MfaPassed { .. } => "mfa_passed",
            Self::PasskeyRemoved { .. } => "passkey_removed",
            Self::MfaFailed { .. } => "mfa_failed",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            Self::PasswordResetRequested { .. } => "password_reset_requested",
            Self::PasswordReset { .. } => "password_reset",
            Self::EmailVerificationRequested { .. } => "email_verification_requested",
            Self::EmailVerified { .. } => "email_verified",
            Self::PolicyDecision { .. } => "policy_decision",
            Self::PolicyShadowDecision { .. } => "policy_shadow_decision",
            Self::PolicyReplayed { .. } => "policy_replayed",
            Self::PluginsLoaded { .. } => "plugins_loaded",
            Self::PluginReloadFailed { .. } => "plugin_reload_failed",
        }
    }
}
