//! `refresh_token` (RFC 6749 §6, OAuth security BCP §4.14.2): refresh tokens rotate on
//! every use; presenting a spent one revokes its whole family and the newest access token
//! issued from it. A request may narrow the scope, never widen it; the new refresh token
//! keeps the original scope (§6).

use time::OffsetDateTime;

use super::super::RequestMeta;
use super::super::client::Client;
use super::super::error::{OAuthError, internal, unavailable};
use super::super::params::Params;
use super::super::scope;
use super::issue::TokenResponse;
use super::user_tokens::{Grant, active_user, decide, expiry, issue, subject};
use crate::audit::AuditEvent;
use crate::oauth::service::TokenService;
use crate::plugins::PolicyStage;
use crate::secret::{random_token, sha256, unique_id};
use crate::store::browser::{FamilyRecord, RefreshRecord, Rotation};

/// The grant type name.
pub const GRANT_TYPE: &str = "refresh_token";

/// Rotates a refresh token and issues fresh tokens.
pub async fn grant(
    svc: &TokenService,
    client: &Client,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GRANT_TYPE) {
        return Err(OAuthError::UnauthorizedClient("the client may not use this grant type"));
    }
    let presented = params.required("refresh_token", "refresh_token is required")?;
    let old = sha256(presented.as_bytes());
    let record = svc.browser.get_refresh(&old).await.map_err(|e| unavailable("reading a refresh token failed", &e))?;
    let invalid = OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked");
    let Some(record) = record else { return Err(invalid) };
    // Reuse is detected before anything else the request carries is looked at (a `scope`,
    // another client, a disabled user): a spent token always revokes its family (RFC 9700
    // §4.14.2). The spent record keeps only what this needs.
    if record.used {
        return Err(match svc.browser.revoke_family(&record.family).await {
            Ok(Some(family)) => reused(svc, client, &record, &family, meta, now).await,
            Ok(None) => invalid,
            Err(e) => unavailable("revoking a reused refresh token family failed", &e),
        });
    }
    if record.client_id != client.id() {
        return Err(invalid);
    }
    let scopes = match params.one("scope")? {
        None => record.scopes.clone(),
        Some(raw) => {
            let wanted = scope::parse(raw)?;
            if !wanted.iter().all(|s| record.scopes.contains(s)) {
                return Err(OAuthError::InvalidScope);
            }
            wanted
        }
    };
    let Some(user) = active_user(svc, &record.user_id).await? else {
        let _ = svc.browser.revoke_family(&record.family).await;
        return Err(OAuthError::InvalidGrant("the user is disabled or gone"));
    };

    // Policies decide before the rotation: a refusal leaves the presented token valid.
    let stage = (PolicyStage::Refresh, GRANT_TYPE);
    let allowed = decide(svc, client, subject(&user, &record.amr), &scopes, stage, meta, now).await?;

    let token = random_token().map_err(|e| internal("no randomness for a refresh token", &e))?;
    let jti = unique_id();
    let access_exp = expiry(now, svc.ttl.access_token_ttl);
    let next = RefreshRecord {
        created_at: now.unix_timestamp(),
        expires_at: expiry(now, svc.ttl.refresh_token_ttl),
        used: false,
        ..record.clone()
    };
    let new = sha256(token.as_bytes());
    match svc.browser.rotate_refresh(&old, &new, &next, &jti, access_exp, now.unix_timestamp()).await {
        Ok(Rotation::Rotated(_)) => {}
        Ok(Rotation::Invalid) => return Err(invalid),
        Ok(Rotation::Reused(family)) => return Err(reused(svc, client, &record, &family, meta, now).await),
        Err(e) => return Err(unavailable("rotating a refresh token failed", &e)),
    }
    svc.group_commit.commit().await.map_err(|e| unavailable("flushing a rotation failed", &e))?;
    let g = Grant {
        user: &user,
        scopes: &allowed.scopes,
        nonce: None,
        sid: &record.sid,
        auth_time: record.auth_time,
        amr: &record.amr,
        idp: record.idp.as_deref(),
        jti,
        refresh_token: Some(token),
        claims: allowed.claims,
    };
    issue(svc, client, g, GRANT_TYPE, meta, now)
}

/// A spent token came back: the family is already revoked by the store; revoke its newest
/// access token as well, durably, and record it.
async fn reused(
    svc: &TokenService,
    client: &Client,
    record: &RefreshRecord,
    family: &FamilyRecord,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> OAuthError {
    if !family.last_jti.is_empty()
        && let Err(e) = svc.revocations.revoke_token(&family.last_jti, family.last_access_exp).await
    {
        return unavailable("revoking the access token of a reused family failed", &e);
    }
    tracing::warn!(request_id = %meta.request_id, client_id = %client.id(), "refresh token reused; its family is revoked");
    let event = AuditEvent::RefreshTokenReused {
        client_id: client.id().to_owned(),
        user_id: record.user_id.clone(),
        family: record.family.clone(),
    };
    if let Err(e) = svc.audit.record(meta.actor(format!("client:{}", client.id())), event, now).await {
        return unavailable("flushing a refresh token reuse failed", &e);
    }
    OAuthError::InvalidGrant("the refresh token was already used; every token of its grant is revoked")
}
