//! Re-authentication for the account page's sensitive changes (factors, recovery codes, the
//! password). Within `[mfa] reauthenticate_after` (5 minutes) of signing in, the sign-in is
//! proof enough. After that the person proves it again with the strongest factor they have:
//! the password alone when there is no second factor, the password and a code from the
//! authenticator app (or a recovery code) when there is one, and a new sign-in when they have
//! a passkey (or no password), since the page cannot ask for a passkey inside a form. Each
//! check is one attempt against the sign-in limits and the lockout, like a sign-in.

use time::OffsetDateTime;

use super::flow::{Reply, unavailable};
use super::service::SignIn;
use super::session;
use crate::audit::AuditEvent;
use crate::mfa::Checked;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;
use crate::ratelimit::AttemptKeys;
use crate::secret::Secret;
use crate::store::factors::FactorsRecord;
use crate::store::login_attempts::Outcome;

/// What a change needs beyond the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reauth {
    /// Nothing: the sign-in is recent.
    Recent,
    /// The current password (field `current_password`).
    Password,
    /// The current password and an authenticator or recovery code (field `current_code`).
    PasswordAndCode,
    /// A new sign-in (a passkey is the strongest factor, or there is no password).
    SignIn,
}

impl Reauth {
    /// The templates' name for it (`""`, `password`, `password_code`, `sign_in`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Recent => "",
            Self::Password => "password",
            Self::PasswordAndCode => "password_code",
            Self::SignIn => "sign_in",
        }
    }

    /// The message when what it needs was missing or wrong.
    fn refusal(self) -> &'static str {
        match self {
            Self::Recent | Self::Password => "Enter your current password to make this change.",
            Self::PasswordAndCode => {
                "Enter your current password and a code from your authenticator app to make this change."
            }
            Self::SignIn => "Sign out and sign in again (with your passkey, if you have one) to make this change.",
        }
    }
}

/// Whether `live` signed in recently enough for a sensitive change.
pub(super) fn recent(svc: &SignIn, live: &session::Live, now: OffsetDateTime) -> bool {
    now.unix_timestamp() - live.record.auth_time <= svc.mfa.reauthenticate_after()
}

/// What a change by `live`, whose factors are `f`, needs now.
pub(super) fn needed(svc: &SignIn, live: &session::Live, f: &FactorsRecord, now: OffsetDateTime) -> Reauth {
    if recent(svc, live, now) {
        Reauth::Recent
    } else if !f.passkeys.is_empty() || live.user.password_hash.is_empty() || !svc.password_login {
        Reauth::SignIn
    } else if f.totp.is_some() {
        Reauth::PasswordAndCode
    } else {
        Reauth::Password
    }
}

/// What the person typed to confirm a change.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Typed<'a> {
    /// The current password.
    pub password: &'a str,
    /// An authenticator or recovery code.
    pub code: &'a str,
}

impl<'a> Typed<'a> {
    /// The fields of a form.
    pub(super) fn of(params: &'a Params) -> Self {
        let field = |k: &str| params.one(k).ok().flatten().unwrap_or("");
        Self { password: field("current_password"), code: field("current_code") }
    }
}

/// A refused confirmation: `Ok(message)` for the page, `Err(reply)` when the attempt could
/// not be made.
pub(super) type Refused = Result<&'static str, Reply>;

/// Checks that the person at the keyboard may make a sensitive change now.
pub(super) async fn confirm(
    svc: &SignIn,
    live: &session::Live,
    typed: Typed<'_>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<(), Refused> {
    if recent(svc, live, now) {
        return Ok(());
    }
    let f = svc.mfa.factors(&live.user.id).await.map_err(|e| Err(unavailable("reading factors failed", &e)))?;
    match needed(svc, live, &f, now) {
        Reauth::Recent => Ok(()),
        Reauth::SignIn => Err(Ok(Reauth::SignIn.refusal())),
        Reauth::Password => check(svc, live, typed.password, None, meta, now).await,
        Reauth::PasswordAndCode => check(svc, live, typed.password, Some(typed.code), meta, now).await,
    }
}

/// Checks the current password (and `code`, when given) as one attempt counted against the
/// sign-in limits; a recovery code used here is spent.
pub(super) async fn check(
    svc: &SignIn,
    live: &session::Live,
    password: &str,
    code: Option<&str>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<(), Refused> {
    let failed = if code.is_some() { Reauth::PasswordAndCode } else { Reauth::Password }.refusal();
    if password.is_empty() || password.len() > crate::users::MAX_PASSWORD_LEN || code.is_some_and(str::is_empty) {
        return Err(Ok(failed));
    }
    let keys =
        AttemptKeys { ip: meta.ip, account: format!("u:{}", live.user.id), flow: format!("s:{}", live.record.sid) };
    let t = now.unix_timestamp();
    let attempt = match svc.limiter.begin_login(&*svc.attempts, keys, t).await {
        Ok(Ok(a)) => a,
        Ok(Err(_)) => return Err(Ok("Too many failed attempts. Wait a few minutes and try again.")),
        Err(e) => return Err(Err(unavailable("counting a sign-in attempt failed", &e))),
    };
    let verified = match svc.passwords.verify(Secret::new(password), live.user.password_hash.clone()).await {
        Ok(true) => match code {
            None => Ok(true),
            Some(c) => match svc.mfa.verify(&live.user.id, c, t).await {
                Ok(Checked::Wrong) => Ok(false),
                Ok(Checked::Totp) => Ok(true),
                Ok(Checked::Recovery { remaining }) => {
                    let event =
                        AuditEvent::RecoveryCodeUsed { user_id: live.user.id.clone(), remaining: remaining as u64 };
                    svc.audit.emit(meta.actor(format!("user:{}", live.user.id)), event, now);
                    Ok(true)
                }
                Err(e) => Err(e.to_string()),
            },
        },
        Ok(false) => Ok(false),
        Err(e) => Err(e.to_string()),
    };
    let outcome = match verified {
        Ok(true) => Outcome::Success,
        Ok(false) => Outcome::Failure,
        Err(_) => Outcome::Cancelled,
    };
    if let Err(e) = svc.limiter.settle_login(&*svc.attempts, attempt, outcome, t).await {
        return Err(Err(unavailable("settling a sign-in attempt failed", &e)));
    }
    match verified {
        Ok(true) => Ok(()),
        Ok(false) => {
            let event = AuditEvent::LoginFailed {
                user_id: Some(live.user.id.clone()),
                client_id: "account".to_owned(),
                reason: "bad_credentials".to_owned(),
            };
            svc.audit.emit(meta.actor(format!("user:{}", live.user.id)), event, now);
            Err(Ok(failed))
        }
        Err(e) => Err(Err(unavailable("checking a password or code failed", &e))),
    }
}

/// The answer when a change was not confirmed: the account page with the message, or the
/// reply (unavailable); `None` when it was.
pub(super) async fn unconfirmed(
    svc: &SignIn,
    live: &session::Live,
    confirmed: Result<(), Refused>,
    now: OffsetDateTime,
) -> Option<Reply> {
    match confirmed {
        Ok(()) => None,
        Err(Ok(message)) => Some(super::account::render(svc, live, Some(message), now).await),
        Err(Err(reply)) => Some(reply),
    }
}
