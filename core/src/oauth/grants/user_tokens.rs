//! The tokens the user grants (authorization code, refresh) issue: an access token for the
//! user, an ID token when `openid` was granted, and the refresh token the grant made.

use time::OffsetDateTime;

use super::super::RequestMeta;
use super::super::client::Client;
use super::super::error::{OAuthError, internal};
use super::super::policy::{Allowed, Refusal};
use super::issue::{TokenResponse, issue_access_token};
use crate::oauth::service::TokenService;
use crate::plugins::{PolicyRequest, PolicyStage, SubjectFacts};
use crate::store::UserRecord;
use crate::tokens::access::IssueRequest;
use crate::tokens::id_token::{self, IdTokenInput};

/// The sign-in facts the tokens carry.
#[derive(Debug)]
pub(super) struct Grant<'a> {
    /// The user.
    pub user: &'a UserRecord,
    /// Scopes of this response.
    pub scopes: &'a [String],
    /// Nonce (authorization code only).
    pub nonce: Option<&'a str>,
    /// Session id.
    pub sid: &'a str,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: &'a [String],
    /// The connector of a federated sign-in.
    pub idp: Option<&'a str>,
    /// The access token id, chosen before signing so it could be recorded.
    pub jti: String,
    /// The new refresh token, if any.
    pub refresh_token: Option<String>,
    /// Claims added by policy plugins.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The audiences of a user's access token: the client's registered ones, else the issuer.
pub(super) fn audiences(svc: &TokenService, client: &Client) -> Vec<String> {
    if client.record.audiences.is_empty() { vec![svc.issuer.clone()] } else { client.record.audiences.clone() }
}

/// The user must still exist and be enabled.
pub(super) async fn active_user(svc: &TokenService, user_id: &str) -> Result<Option<UserRecord>, OAuthError> {
    match svc.users.get_user(user_id).await {
        Ok(Some(u)) if !u.disabled => Ok(Some(u)),
        Ok(_) => Ok(None),
        Err(e) => Err(super::super::error::unavailable("user lookup failed", &e)),
    }
}

/// Signs the access and ID tokens of a grant.
pub(super) fn issue(
    svc: &TokenService,
    client: &Client,
    g: Grant<'_>,
    grant_type: &str,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let req = IssueRequest {
        sub: &g.user.id,
        client_id: client.id(),
        audiences: audiences(svc, client),
        scopes: g.scopes,
        ttl: svc.ttl.access_token_ttl,
        jti: Some(g.jti),
        claims: g.claims.clone(),
    };
    let actor = meta.actor(format!("client:{}", client.id()));
    let mut resp = issue_access_token(svc, req, grant_type, actor, now)?;
    if g.scopes.iter().any(|s| s == "openid") {
        let input = IdTokenInput {
            user: g.user,
            client_id: client.id(),
            alg: client.record.id_token_signed_response_alg.as_deref(),
            released: crate::oidc::claims::for_scopes(g.user, g.scopes),
            nonce: g.nonce,
            auth_time: g.auth_time,
            amr: g.amr,
            idp: g.idp,
            sid: g.sid,
            access_token: &resp.access_token,
            claims: &g.claims,
            ttl: svc.ttl.id_token_ttl,
        };
        let token = id_token::sign(&svc.keys, &svc.issuer, input, now)
            .map_err(|e| internal("signing an ID token failed", &e))?;
        resp.id_token = Some(token);
    }
    resp.refresh_token = g.refresh_token;
    Ok(resp)
}

/// Asks the policy plugins about a user's grant at the token endpoint.
pub(super) async fn decide(
    svc: &TokenService,
    client: &Client,
    user: SubjectFacts<'_>,
    scopes: &[String],
    (stage, grant_type): (PolicyStage, &str),
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<Allowed, OAuthError> {
    let audiences = audiences(svc, client);
    let ask = PolicyRequest {
        stage,
        request_id: &meta.request_id,
        client_id: client.id(),
        remote_ip: Some(meta.ip),
        user_agent: None,
        now,
        subject: Some(user),
        grant_type: Some(grant_type),
        scopes,
        audiences: &audiences,
        attributes: &[],
    };
    let actor = meta.actor(format!("client:{}", client.id()));
    svc.policies.decide(&ask, actor).await.map_err(Refusal::oauth_error)
}

/// The facts about a user that policies see.
pub(crate) fn subject<'a>(user: &'a UserRecord, amr: &'a [String]) -> SubjectFacts<'a> {
    SubjectFacts {
        id: &user.id,
        username: &user.username,
        email: user.email.as_deref(),
        email_verified: user.email_verified,
        groups: &user.groups,
        amr,
    }
}

/// Seconds from `now` plus `ttl`.
pub(super) fn expiry(now: OffsetDateTime, ttl: std::time::Duration) -> i64 {
    now.unix_timestamp().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}
