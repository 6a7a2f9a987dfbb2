//! The password step: the credentials a person typed, checked against the account after
//! the attempt was counted against every sign-in limit (`ratelimit/login.rs`), so that
//! concurrent guesses cannot outrun them; and the one generic answer to every failure.

use time::OffsetDateTime;

use super::flow::{ErrorKind, Reply, error, unavailable};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::client::Client;
use crate::oauth::params::Params;
use crate::oidc::service::SignIn;
use crate::ratelimit::{AttemptKeys, Refusal};
use crate::secret::Secret;
use crate::store::UserRecord;
use crate::store::browser::Digest;
use crate::store::login_attempts::Outcome;

/// The one message for every failed sign-in: it does not say whether the user exists.
pub const LOGIN_FAILED: &str = "Incorrect username or password.";

fn too_many() -> Reply {
    error(
        ErrorKind::TooMany,
        "Too many attempts",
        "Too many failed sign-in attempts. Wait a few minutes and try again.",
    )
}

/// Why a password step did not pass.
pub(super) enum Refused {
    /// Wrong name or password, or a disabled account: the form again, generic message.
    Credentials,
    /// Anything else (limits, busy, store failure): this reply.
    Reply(Reply),
}

/// Checks the submitted credentials. The attempt is counted against the flow, the address
/// and the account before the password is hashed (`ratelimit/login.rs`), so concurrent
/// guesses cannot outrun the limits.
pub(super) async fn check_password(
    svc: &SignIn,
    params: &Params,
    client: &Client,
    flow_key: &Digest,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<UserRecord, Refused> {
    let login = params.one("username").ok().flatten().unwrap_or("");
    let password = Secret::new(params.one("password").ok().flatten().unwrap_or(""));
    let normalized = if login.contains('@') {
        crate::users::normalize_email(login).ok()
    } else {
        crate::users::normalize_username(login).ok()
    };
    let found = match normalized.as_deref() {
        Some(n) => svc.users.find_user(n).await,
        None => Ok(None),
    };
    let user = match found {
        Ok(u) => u,
        Err(e) => return Err(Refused::Reply(unavailable("user lookup failed", &e))),
    };
    // An account is counted as itself whichever of its names was typed; a name without an
    // account is counted as typed (normalised when possible), so it locks like a real one.
    let account = match &user {
        Some(u) => format!("u:{}", u.id),
        None => {
            let typed = normalized.unwrap_or_else(|| login.trim().to_lowercase().chars().take(254).collect());
            format!("n:{typed}")
        }
    };
    let keys = AttemptKeys { ip: meta.ip, account, flow: format!("f:{}", hex::encode(flow_key)) };
    let t = now.unix_timestamp();
    let attempt = match svc.limiter.begin_login(&*svc.attempts, keys, t).await {
        Ok(Ok(a)) => a,
        Ok(Err(refusal)) => return Err(Refused::Reply(refused(svc, client, user.as_ref(), refusal, meta, now))),
        Err(e) => return Err(Refused::Reply(unavailable("counting a sign-in attempt failed", &e))),
    };
    let too_long = password.expose().len() > crate::users::MAX_PASSWORD_LEN;
    let verified = match &user {
        Some(u) if !too_long => svc.passwords.verify(password, u.password_hash.clone()).await,
        // Same work for unknown users, so response time does not reveal which names exist.
        _ if !too_long => svc.passwords.verify_nothing(password).await.map(|()| false),
        _ => Ok(false),
    };
    let ok = match verified {
        Ok(ok) => ok,
        Err(e) => {
            // Never checked: the attempt is given back.
            let _ = svc.limiter.settle_login(&*svc.attempts, attempt, Outcome::Cancelled, t).await;
            return Err(Refused::Reply(match e {
                crate::users::PasswordError::Busy => {
                    error(ErrorKind::TooMany, "Busy", "Too many sign-ins at once. Please try again in a moment.")
                }
                e => unavailable("password check failed", &e),
            }));
        }
    };
    let failure = match &user {
        Some(u) if ok && !u.disabled => None,
        Some(u) if ok => Some((Some(u.id.clone()), "disabled")),
        Some(u) => Some((Some(u.id.clone()), "bad_credentials")),
        None => Some((None, "bad_credentials")),
    };
    let outcome = if failure.is_some() { Outcome::Failure } else { Outcome::Success };
    let locked = match svc.limiter.settle_login(&*svc.attempts, attempt, outcome, t).await {
        Ok(l) => l,
        Err(e) => return Err(Refused::Reply(unavailable("settling a sign-in attempt failed", &e))),
    };
    if let Some((user_id, reason)) = failure {
        svc.metrics.login("failure");
        if locked.is_some() {
            let event = AuditEvent::UserLocked { user_id: user_id.clone(), client_id: client.id().to_owned() };
            svc.audit.emit(meta.actor("anonymous"), event, now);
        }
        let event = AuditEvent::LoginFailed { user_id, client_id: client.id().to_owned(), reason: reason.to_owned() };
        svc.audit.emit(meta.actor("anonymous"), event, now);
        tracing::info!(request_id = %meta.request_id, client_id = %client.id(), reason, "sign-in failed");
        return Err(Refused::Credentials);
    }
    let Some(user) = user else { return Err(Refused::Credentials) };
    svc.metrics.login("success");
    let event = AuditEvent::LoginSucceeded {
        user_id: user.id.clone(),
        username: user.username.clone(),
        client_id: client.id().to_owned(),
        amr: vec!["pwd".to_owned()],
    };
    svc.audit.emit(meta.actor(format!("user:{}", user.id)), event, now);
    Ok(user)
}

/// The answer to an attempt refused before its password was looked at (audited).
fn refused(
    svc: &SignIn,
    client: &Client,
    user: Option<&UserRecord>,
    refusal: Refusal,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let reason = refusal_reason(refusal);
    svc.metrics.rate_limited("failed_login");
    let event = AuditEvent::LoginFailed {
        user_id: user.map(|u| u.id.clone()),
        client_id: client.id().to_owned(),
        reason: reason.to_owned(),
    };
    svc.audit.emit(meta.actor("anonymous"), event, now);
    refusal_page(refusal)
}

/// The reason an attempt refused before it was checked is recorded with.
pub(super) fn refusal_reason(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::FlowExhausted => "flow_attempts",
        Refusal::RateLimited(_) => "rate_limited",
        Refusal::Locked(_) => "locked",
        Refusal::Busy(_) => "busy",
    }
}

/// The page for an attempt (a password, a code) refused before it was checked.
pub(super) fn refusal_page(refusal: Refusal) -> Reply {
    match refusal {
        Refusal::FlowExhausted => error(
            ErrorKind::TooMany,
            "Too many attempts",
            "This sign-in has had too many attempts. Go back to the application and start again.",
        ),
        Refusal::RateLimited(_) | Refusal::Locked(_) => too_many(),
        Refusal::Busy(_) => {
            error(ErrorKind::TooMany, "Busy", "Too many sign-ins at once. Please try again in a moment.")
        }
    }
}
