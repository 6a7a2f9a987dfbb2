//! Notifications: security events delivered by notifier plugins (email, SMS, webhooks),
//! never on a request path. The audit log is the source: every notifiable record (the
//! events in [`EVENTS`]) becomes one message per notifier that subscribed to it, queued
//! durably in the store together with the audit cursor (`store/notify_queue.rs`), so a
//! crash neither loses nor duplicates a message. `dispatch.rs` delivers with retry and
//! back-off, then dead-letters; the message id (audit sequence number and notifier) is the
//! idempotency key a receiver can deduplicate on. Links a person asked for (a password
//! reset, an address to verify) take a path of their own that stores nothing
//! (`transactional.rs`).

pub mod dispatch;
pub mod transactional;

use serde_json::json;

use crate::audit::{AuditEvent, AuditRecord};
use crate::plugins::{Channel, Message};

/// The events a notifier can subscribe to (`events = [...]`).
pub const EVENTS: &[&str] = &[
    "user.created",
    "user.status_changed",
    "user.locked",
    "password.changed",
    "login.succeeded",
    "login.failed",
    "login_step.failed",
    "session.ended",
    "consent.granted",
    "token.revoked",
    "token.reuse_detected",
    "keys.rotated",
    "plugin.reload_failed",
    "audit.checkpoint",
    "mfa.enrolled",
    "mfa.removed",
    "mfa.recovery_code_used",
    "mfa.recovery_codes_regenerated",
    "password.reset",
];

/// Audit event type (`AuditEvent::name`) → the notification event it raises; types not
/// listed raise none.
const BY_TYPE: &[(&str, &str)] = &[
    ("user_created", "user.created"),
    ("user_status_changed", "user.status_changed"),
    ("user_locked", "user.locked"),
    ("password_changed", "password.changed"),
    ("login_succeeded", "login.succeeded"),
    ("login_failed", "login.failed"),
    ("login_step_failed", "login_step.failed"),
    ("session_ended", "session.ended"),
    ("consent_granted", "consent.granted"),
    ("token_revoked", "token.revoked"),
    ("refresh_token_revoked", "token.revoked"),
    ("code_replayed", "token.reuse_detected"),
    ("refresh_token_reused", "token.reuse_detected"),
    ("keys_rotated", "keys.rotated"),
    ("plugin_reload_failed", "plugin.reload_failed"),
    ("audit_checkpoint", "audit.checkpoint"),
    ("mfa_enrolled", "mfa.enrolled"),
    ("mfa_removed", "mfa.removed"),
    ("passkey_removed", "mfa.removed"),
    ("recovery_code_used", "mfa.recovery_code_used"),
    ("recovery_codes_regenerated", "mfa.recovery_codes_regenerated"),
    ("password_reset", "password.reset"),
];

/// The notification event raised by audit events of type `audit_type`, if any (the queue
/// reads the type from the log without decoding the record).
pub fn event_for_type(audit_type: &str) -> Option<&'static str> {
    BY_TYPE.iter().find(|(t, _)| *t == audit_type).map(|(_, e)| *e)
}

/// The audit event types that raise a notification (the queue reads only these).
pub fn notifiable_types() -> Vec<&'static str> {
    BY_TYPE.iter().map(|(t, _)| *t).collect()
}

/// The notification event of an audit event, if it is one.
pub fn event_name(e: &AuditEvent) -> Option<&'static str> {
    event_for_type(e.name())
}

/// The user an event is about: `(user id, username)` as far as the record says.
fn who(e: &AuditEvent) -> (Option<&str>, Option<&str>) {
    match e {
        AuditEvent::UserCreated { username }
        | AuditEvent::UserStatusChanged { username, .. }
        | AuditEvent::PasswordChanged { username } => (None, Some(username)),
        AuditEvent::LoginSucceeded { user_id, username, .. } => (Some(user_id), Some(username)),
        AuditEvent::LoginFailed { user_id, .. } | AuditEvent::UserLocked { user_id, .. } => (user_id.as_deref(), None),
        AuditEvent::LoginStepFailed { user_id, .. }
        | AuditEvent::SessionEnded { user_id, .. }
        | AuditEvent::ConsentGranted { user_id, .. }
        | AuditEvent::CodeReplayed { user_id, .. }
        | AuditEvent::RefreshTokenReused { user_id, .. }
        | AuditEvent::MfaEnrolled { user_id, .. }
        | AuditEvent::MfaRemoved { user_id, .. }
        | AuditEvent::PasskeyRemoved { user_id, .. }
        | AuditEvent::RecoveryCodeUsed { user_id, .. }
        | AuditEvent::RecoveryCodesRegenerated { user_id } => (Some(user_id), None),
        AuditEvent::PasswordReset { user_id, username, .. } => (Some(user_id), Some(username)),
        _ => (None, None),
    }
}

/// One line a person can read.
fn summary(e: &AuditEvent, username: Option<&str>) -> String {
    let user = username.unwrap_or("an account");
    match e {
        AuditEvent::UserCreated { username } => format!("A new account was created: {username}."),
        AuditEvent::UserStatusChanged { username, disabled } => {
            format!("The account {username} was {}.", if *disabled { "disabled" } else { "enabled" })
        }
        AuditEvent::UserLocked { .. } => format!("Sign-in to {user} was locked after repeated failures."),
        AuditEvent::PasswordChanged { username } => format!("The password of {username} was changed."),
        AuditEvent::LoginSucceeded { client_id, .. } => format!("{user} signed in to {client_id}."),
        AuditEvent::LoginFailed { client_id, reason, .. } => format!("A sign-in to {client_id} failed ({reason})."),
        AuditEvent::LoginStepFailed { client_id, plugin, .. } => {
            format!("A sign-in of {user} to {client_id} failed at the step {plugin}.")
        }
        AuditEvent::SessionEnded { reason, .. } => format!("A session of {user} ended ({reason})."),
        AuditEvent::ConsentGranted { client_id, scope, .. } => format!("{user} allowed {client_id}: {scope}."),
        AuditEvent::TokenRevoked { client_id, .. } | AuditEvent::RefreshTokenRevoked { client_id, .. } => {
            format!("A token of {client_id} was revoked.")
        }
        AuditEvent::CodeReplayed { client_id, .. } | AuditEvent::RefreshTokenReused { client_id, .. } => {
            format!("A spent code or refresh token of {client_id} was presented again; its tokens were revoked.")
        }
        AuditEvent::MfaEnrolled { .. } => format!("An authenticator app was added to {user}."),
        AuditEvent::MfaRemoved { by, .. } => format!(
            "Two-step verification was turned off for {user}{}.",
            if by == "admin" { " by an administrator" } else { "" }
        ),
        AuditEvent::PasskeyRemoved { name, .. } => format!("The passkey \"{name}\" was removed from {user}."),
        AuditEvent::RecoveryCodeUsed { remaining, .. } => {
            format!("A recovery code of {user} was used to sign in; {remaining} remain.")
        }
        AuditEvent::RecoveryCodesRegenerated { .. } => {
            format!("New recovery codes were made for {user}; the old ones no longer work.")
        }
        AuditEvent::PasswordReset { username, sessions_ended, .. } => format!(
            "The password of {username} was reset through an emailed link; {sessions_ended} session{} ended.",
            if *sessions_ended == 1 { "" } else { "s" }
        ),
        AuditEvent::KeysRotated { trigger, .. } => format!("The signing keys were rotated ({trigger})."),
        AuditEvent::PluginReloadFailed { .. } => "A plugin reload failed; the previous plugins stay.".to_owned(),
        AuditEvent::AuditCheckpoint { through_seq, .. } => {
            format!("The audit log was signed through record {through_seq}; keep this checkpoint elsewhere.")
        }
        other => format!("{}.", other.name()),
    }
}

/// A user's details for addressing and texts.
#[derive(Debug, Clone, Default)]
pub struct UserFacts {
    /// Username.
    pub username: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// The message for `record` to a notifier on `channel` with a fixed `recipient` (or, for
/// email without one, the user's address); `None` when there is nobody to send it to.
pub fn message(
    record: &AuditRecord,
    event: &str,
    plugin: &str,
    channel: Channel,
    recipient: Option<&str>,
    user: &UserFacts,
) -> Option<Message> {
    let recipient = match (channel, recipient) {
        (_, Some(r)) => r.to_owned(),
        (Channel::Email, None) => user.email.clone()?,
        _ => return None,
    };
    let (user_id, username) = who(&record.event);
    let username = username.map(str::to_owned).or_else(|| user.username.clone());
    let line = summary(&record.event, username.as_deref());
    let time = crate::audit::format_time_ms(record.time_ms);
    let mut text = format!("{line}\n\nEvent: {event}\nTime: {time}\n");
    if let Some(u) = &username {
        text.push_str(&format!("User: {u}\n"));
    }
    if let Some(ip) = &record.actor.ip {
        text.push_str(&format!("From: {ip}\n"));
    }
    let data = json!({
        "event": event,
        "seq": record.seq,
        "time": time,
        "actor": record.actor,
        "user_id": user_id,
        "username": username,
        "detail": record.event,
    });
    Some(Message {
        id: format!("{}.{plugin}", record.seq),
        channel,
        template: event.to_owned(),
        locale: "en".to_owned(),
        recipient,
        subject: Some(format!("Gatehouse: {line}")),
        text_body: text,
        data: data.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_notifiable_audit_type_raises_a_subscribable_event() {
        let s = || "x".to_owned();
        let events = [
            AuditEvent::UserCreated { username: s() },
            AuditEvent::UserStatusChanged { username: s(), disabled: true },
            AuditEvent::UserLocked { user_id: None, client_id: s() },
            AuditEvent::PasswordChanged { username: s() },
            AuditEvent::LoginSucceeded { user_id: s(), username: s(), client_id: s(), amr: vec![] },
            AuditEvent::LoginFailed { user_id: None, client_id: s(), reason: s() },
            AuditEvent::LoginStepFailed {
                plugin: s(),
                sha256: None,
                user_id: s(),
                client_id: s(),
                outcome: s(),
                reason: s(),
            },
            AuditEvent::SessionEnded { user_id: s(), sid: s(), reason: s() },
            AuditEvent::ConsentGranted { user_id: s(), client_id: s(), scope: s() },
            AuditEvent::TokenRevoked { client_id: s(), jti: s() },
            AuditEvent::RefreshTokenRevoked { client_id: s(), family: s() },
            AuditEvent::CodeReplayed { client_id: s(), user_id: s() },
            AuditEvent::RefreshTokenReused { client_id: s(), user_id: s(), family: s() },
            AuditEvent::KeysRotated { trigger: s(), active: vec![] },
            AuditEvent::PluginReloadFailed { reason: s() },
            AuditEvent::AuditCheckpoint { through_seq: 1, hash: s(), key_id: s(), signature: s() },
            AuditEvent::MfaEnrolled { user_id: s(), method: s() },
            AuditEvent::MfaRemoved { user_id: s(), by: s() },
            AuditEvent::PasskeyRemoved { user_id: s(), name: s() },
            AuditEvent::RecoveryCodeUsed { user_id: s(), remaining: 3 },
            AuditEvent::RecoveryCodesRegenerated { user_id: s() },
            AuditEvent::PasswordReset { user_id: s(), username: s(), sessions_ended: 2 },
            AuditEvent::PasswordResetRequested { user_id: s(), messages: 1 },
            AuditEvent::EmailVerificationRequested { user_id: s(), messages: 1 },
            AuditEvent::EmailVerified { user_id: s() },
            AuditEvent::TokenIssued { client_id: s(), grant_type: s(), jti: s(), scope: None },
            AuditEvent::ServerStopped,
            AuditEvent::AdminAuthFailed,
            AuditEvent::NotificationRetried { id: s() },
        ];
        for (i, e) in events.iter().enumerate() {
            assert_eq!(event_name(e).is_some(), i < BY_TYPE.len(), "{}", e.name());
        }
        assert_eq!(events.iter().filter(|e| event_name(e).is_some()).count(), BY_TYPE.len());
        // Every event raised is one a notifier can subscribe to, and every such one is raised.
        assert!(BY_TYPE.iter().all(|(_, e)| EVENTS.contains(e)));
        assert!(EVENTS.iter().all(|e| BY_TYPE.iter().any(|(_, raised)| raised == e)));
    }
}
