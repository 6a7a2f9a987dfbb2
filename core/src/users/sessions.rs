//! Ending a person's browser sessions: by the operator (admin API, disabling), at a password
//! reset, from the account page. Each ended session is audited as `session_ended` with its
//! `sid` and the reason. Signing someone out everywhere also revokes their refresh tokens
//! ([`revoke_refresh`]).

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEvent, AuditLog};
use crate::store::browser::{Digest, SessionRecord};
use crate::store::{BrowserStore, RevocationStore, StoreError};

/// Ends `sessions` (as `user_sessions` listed them) of `user_id`; the `sid`s ended.
pub async fn end(
    browser: &dyn BrowserStore,
    audit: &AuditLog,
    user_id: &str,
    sessions: &[(Digest, SessionRecord)],
    (actor, reason): (&Actor, &str),
    now: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    let mut ended = Vec::new();
    for (key, s) in sessions {
        if browser.delete_session(key).await?.is_some() {
            let event =
                AuditEvent::SessionEnded { user_id: user_id.to_owned(), sid: s.sid.clone(), reason: reason.into() };
            audit.record(actor.clone(), event, now).await?;
            ended.push(s.sid.clone());
        }
    }
    Ok(ended)
}

/// Ends every session of `user_id` (or only the one with `sid`); the `sid`s ended.
pub async fn end_all(
    browser: &dyn BrowserStore,
    audit: &AuditLog,
    user_id: &str,
    sid: Option<&str>,
    by: (&Actor, &str),
    now: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    let mut all = browser.user_sessions(user_id, now.unix_timestamp()).await?;
    if let Some(sid) = sid {
        all.retain(|(_, s)| s.sid == sid);
    }
    end(browser, audit, user_id, &all, by, now).await
}

/// Revokes every live refresh token family of `user_id` (a password reset, a disabled or
/// removed account: no application keeps access) and, as RFC 7009 revocation does, the
/// newest access token of each; each is audited as `refresh_token_revoked`. The number
/// revoked.
pub async fn revoke_refresh(
    browser: &dyn BrowserStore,
    revocations: &dyn RevocationStore,
    audit: &AuditLog,
    user_id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for family in browser.user_families(user_id).await? {
        if let Some(f) = browser.revoke_family(&family).await? {
            if !f.last_jti.is_empty() {
                revocations.revoke_token(&f.last_jti, f.last_access_exp).await?;
            }
            let event = AuditEvent::RefreshTokenRevoked { client_id: f.client_id, family };
            audit.record(actor.clone(), event, now).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Signs `user_id` out everywhere (an operator's new password, disabling, removal): ends
/// every session ([`end_all`]) and revokes every refresh family ([`revoke_refresh`]). The
/// `sid`s ended and the number of families revoked.
pub async fn sign_out_everywhere(
    db: &crate::store::Db,
    audit: &AuditLog,
    user_id: &str,
    by: (&Actor, &str),
    now: OffsetDateTime,
) -> Result<(Vec<String>, usize), StoreError> {
    let ended = end_all(db.browser(), audit, user_id, None, by, now).await?;
    let revoked = revoke_refresh(db.browser(), db.revocations(), audit, user_id, by.0, now).await?;
    Ok((ended, revoked))
}
