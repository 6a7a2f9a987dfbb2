//! `authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OpenID Connect Core §3.1.3). The
//! code is checked against the client, the redirect URI and the PKCE verifier before it is
//! spent; spending is atomic in the store, so of two racing redemptions one wins. A code
//! presented again revokes what its first redemption issued (RFC 6749 §4.1.2).

use time::OffsetDateTime;

use super::super::RequestMeta;
use super::super::client::Client;
use super::super::error::{OAuthError, internal, unavailable};
use super::super::params::Params;
use super::super::pkce;
use super::issue::TokenResponse;
use super::user_tokens::{Grant, active_user, decide, expiry, issue, subject};
use crate::audit::AuditEvent;
use crate::oauth::authorize::OFFLINE_ACCESS;
use crate::oauth::service::TokenService;
use crate::plugins::PolicyStage;
use crate::secret::{random_token, sha256, unique_id};
use crate::store::browser::{CodeRecord, CodeRedemption, FamilyRecord, Redemption, RefreshRecord};

/// The grant type name.
pub const GRANT_TYPE: &str = "authorization_code";

/// Redeems a code for tokens.
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
    let code = params.required("code", "code is required")?;
    let key = sha256(code.as_bytes());
    let record = svc.browser.get_code(&key).await.map_err(|e| unavailable("reading a code failed", &e))?;
    let Some(record) = record else { return Err(OAuthError::InvalidGrant("the code is invalid or expired")) };
    // A second presentation is a replay whatever else the request carries (another client,
    // a wrong verifier): it revokes what the first redemption issued (RFC 6749 §4.1.2).
    if record.redeemed.is_some() {
        return Err(replayed(svc, client, &record, meta, now).await);
    }
    check(&record, client, params)?;
    let user = active_user(svc, &record.user_id).await?;
    let Some(user) = user else { return Err(OAuthError::InvalidGrant("the user is disabled or gone")) };

    // Policies decide before the code is spent, so a failing plugin costs the client a retry,
    // not its code.
    let stage = (PolicyStage::Token, GRANT_TYPE);
    let allowed = decide(svc, client, subject(&user, &record.amr), &record.request.scopes, stage, meta, now).await?;
    let scopes = &allowed.scopes;
    let refresh = scopes.iter().any(|s| s == OFFLINE_ACCESS) && client.allows_grant("refresh_token");
    let jti = unique_id();
    let access_exp = expiry(now, svc.ttl.access_token_ttl);
    let family = refresh.then(unique_id);
    let redemption = Redemption { jti: jti.clone(), access_exp, family: family.clone() };
    match svc.browser.redeem_code(&key, &redemption, now.unix_timestamp()).await {
        Ok(CodeRedemption::Redeemed(_)) => {}
        Ok(CodeRedemption::Invalid) => return Err(OAuthError::InvalidGrant("the code is invalid or expired")),
        Ok(CodeRedemption::Replayed(first)) => return Err(replayed(svc, client, &first, meta, now).await),
        Err(e) => return Err(unavailable("redeeming a code failed", &e)),
    }

    let refresh_token = match family {
        Some(family) => {
            let token = random_token().map_err(|e| internal("no randomness for a refresh token", &e))?;
            let ttl = svc.ttl.refresh_token_ttl;
            let rec = RefreshRecord {
                family: family.clone(),
                client_id: client.id().to_owned(),
                user_id: user.id.clone(),
                scopes: scopes.clone(),
                sid: record.sid.clone(),
                auth_time: record.auth_time,
                amr: record.amr.clone(),
                idp: record.idp.clone(),
                created_at: now.unix_timestamp(),
                expires_at: expiry(now, ttl),
                used: false,
            };
            let fam = FamilyRecord {
                client_id: client.id().to_owned(),
                user_id: user.id.clone(),
                revoked: false,
                last_jti: jti.clone(),
                last_access_exp: access_exp,
                // A family lives as long as its members keep rotating, up to a year.
                expires_at: expiry(now, std::time::Duration::from_secs(365 * 24 * 3600)),
            };
            svc.browser
                .create_refresh(&sha256(token.as_bytes()), &rec, &fam)
                .await
                .map_err(|e| unavailable("storing a refresh token failed", &e))?;
            Some(token)
        }
        None => None,
    };
    // The redemption and the refresh token are durable before anyone sees the tokens.
    svc.group_commit.commit().await.map_err(|e| unavailable("flushing a redemption failed", &e))?;
    let g = Grant {
        user: &user,
        scopes,
        nonce: record.request.nonce.as_deref(),
        sid: &record.sid,
        auth_time: record.auth_time,
        amr: &record.amr,
        idp: record.idp.as_deref(),
        jti,
        refresh_token,
        claims: allowed.claims,
    };
    issue(svc, client, g, GRANT_TYPE, meta, now)
}

/// The code must have been issued to this client for this redirect URI and challenge.
fn check(record: &CodeRecord, client: &Client, params: &Params) -> Result<(), OAuthError> {
    let req = &record.request;
    if req.client_id != client.id() {
        // The generic text: the answer must not confirm that the code exists.
        return Err(OAuthError::InvalidGrant("the code is invalid or expired"));
    }
    match (params.one("redirect_uri")?, req.redirect_uri_sent) {
        (Some(u), _) if u != req.redirect_uri => {
            return Err(OAuthError::InvalidGrant("redirect_uri does not match the authorization request"));
        }
        (None, true) => {
            return Err(OAuthError::InvalidGrant("redirect_uri is required: the authorization request had one"));
        }
        _ => {}
    }
    match (params.one("code_verifier")?, req.code_challenge.as_deref()) {
        (Some(v), Some(challenge)) if pkce::verify_s256(v, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::InvalidGrant("the code_verifier does not match the code_challenge")),
        (None, Some(_)) => Err(OAuthError::InvalidGrant("code_verifier is required")),
        (Some(_), None) => {
            Err(OAuthError::InvalidGrant("code_verifier sent, but the authorization request had no code_challenge"))
        }
        (None, None) => Ok(()),
    }
}

/// A second redemption: revoke the access token and refresh family of the first, durably.
async fn replayed(
    svc: &TokenService,
    client: &Client,
    first: &CodeRecord,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> OAuthError {
    let Some(r) = &first.redeemed else { return OAuthError::InvalidGrant("the code is invalid or expired") };
    let revoked = match svc.revocations.revoke_token(&r.jti, r.access_exp).await {
        Ok(()) => match &r.family {
            Some(f) => svc.browser.revoke_family(f).await.map(|_| ()),
            None => Ok(()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = revoked {
        return unavailable("revoking the tokens of a replayed code failed", &e);
    }
    tracing::warn!(request_id = %meta.request_id, client_id = %client.id(), "authorization code replayed; its tokens are revoked");
    let event = AuditEvent::CodeReplayed { client_id: client.id().to_owned(), user_id: first.user_id.clone() };
    if let Err(e) = svc.audit.record(meta.actor(format!("client:{}", client.id())), event, now).await {
        return unavailable("flushing a code replay failed", &e);
    }
    OAuthError::InvalidGrant("the code was already used; tokens issued from it are revoked")
}
