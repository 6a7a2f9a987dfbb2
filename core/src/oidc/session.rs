//! Browser sessions. The cookie carries 32 random bytes; the store keeps only their SHA-256,
//! so a copy of the store cannot be replayed as cookies. A session ends after
//! `[login] session_idle_timeout` without use or `session_lifetime` after sign-in. The `sid`
//! claim is a separate random id, so ID tokens do not carry the cookie.

use time::OffsetDateTime;

use crate::config::SessionConfig;
use crate::secret::{RandomError, random_token, sha256, unique_id};
use crate::store::browser::{Digest, SessionRecord};
use crate::store::{BrowserStore, StoreError, UserRecord, UserStore};

/// Session cookie name over http (dev) and https (`__Host-`: Secure, Path=/, no Domain).
pub fn session_cookie(secure: bool) -> &'static str {
    if secure { "__Host-gatehouse_session" } else { "gatehouse_session" }
}

/// Federation cookie name: the flow a browser took to an identity provider, so the callback
/// (which carries only the provider's parameters) finds it; the flow is still bound to the
/// browser by the binding cookie.
pub fn federation_cookie(secure: bool) -> &'static str {
    if secure { "__Host-gatehouse_federation" } else { "gatehouse_federation" }
}

/// Browser-binding cookie name: ties a login flow to the browser that started it.
pub fn browser_cookie(secure: bool) -> &'static str {
    if secure { "__Host-gatehouse_browser" } else { "gatehouse_browser" }
}

/// A live session with its user.
#[derive(Debug, Clone)]
pub struct Live {
    /// The store key.
    pub key: Digest,
    /// The record.
    pub record: SessionRecord,
    /// The signed-in user (enabled).
    pub user: UserRecord,
}

/// What a session lookup reads: the sessions and their users.
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    /// Sessions.
    pub browser: &'a dyn BrowserStore,
    /// Their users.
    pub users: &'a dyn UserStore,
}

/// The live session of a cookie value, if any: known, within both timeouts, and its user
/// still exists and is enabled.
pub async fn lookup(
    store: Stores<'_>,
    cookie: Option<&str>,
    cfg: &SessionConfig,
    now: OffsetDateTime,
) -> Result<Option<Live>, StoreError> {
    let Some(cookie) = cookie else { return Ok(None) };
    by_key(store, sha256(cookie.as_bytes()), cfg, now).await
}

/// The live session stored under `key` (a flow's own session).
pub async fn by_key(
    store: Stores<'_>,
    key: Digest,
    cfg: &SessionConfig,
    now: OffsetDateTime,
) -> Result<Option<Live>, StoreError> {
    let Some(record) = store.browser.get_session(&key).await? else { return Ok(None) };
    let t = now.unix_timestamp();
    let idle = i64::try_from(cfg.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    if t >= record.expires_at || t >= record.last_seen.saturating_add(idle) {
        return Ok(None);
    }
    match store.users.get_user(&record.user_id).await? {
        Some(user) if !user.disabled => Ok(Some(Live { key, record, user })),
        _ => Ok(None),
    }
}

/// A new session for `user_id`; returns the cookie value and the stored record.
pub async fn create(
    store: &dyn BrowserStore,
    user_id: &str,
    auth_time: i64,
    (amr, idp): (&[String], Option<&str>),
    (client_id, device): (&str, &crate::oauth::RequestMeta),
    cfg: &SessionConfig,
    now: OffsetDateTime,
) -> Result<(String, SessionRecord), CreateError> {
    let cookie = random_token()?;
    let t = now.unix_timestamp();
    let record = SessionRecord {
        sid: unique_id(),
        user_id: user_id.to_owned(),
        auth_time,
        amr: amr.to_vec(),
        idp: idp.map(str::to_owned),
        csrf: random_token()?,
        created_at: t,
        last_seen: t,
        expires_at: t.saturating_add(i64::try_from(cfg.lifetime.as_secs()).unwrap_or(i64::MAX)),
        clients: vec![client_id.to_owned()],
        user_agent: device.user_agent.clone(),
        ip: Some(device.ip.to_string()),
    };
    store.put_session(&sha256(cookie.as_bytes()), &record).await?;
    Ok((cookie, record))
}

/// Records use of a live session by `client_id` (idle timer restarts); `false` when the
/// session ended meanwhile (a logout, possibly on another instance, is never undone).
pub async fn touch(
    store: &dyn BrowserStore,
    live: &mut Live,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    live.record.last_seen = now.unix_timestamp();
    if !live.record.clients.iter().any(|c| c == client_id) {
        live.record.clients.push(client_id.to_owned());
    }
    store.update_session(&live.key, &live.record).await
}

/// Creating a session failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
