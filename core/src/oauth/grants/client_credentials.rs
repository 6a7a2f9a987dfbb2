//! `client_credentials` (RFC 6749 §4.4): a confidential client obtains a token for itself.
//! Scope is a subset of the client's (all of them when absent); the audience comes from
//! `audience`/`resource` (RFC 8707) within the client's `audiences`, else all of them, or
//! the issuer when the client has none. Stateless: nothing is written.

use time::OffsetDateTime;

use super::super::RequestMeta;
use super::super::client::Client;
use super::super::error::OAuthError;
use super::super::params::Params;
use super::super::policy::Refusal;
use super::super::scope;
use super::issue::{TokenResponse, issue_access_token};
use crate::oauth::service::TokenService;
use crate::plugins::{PolicyRequest, PolicyStage};
use crate::tokens::access::IssueRequest;

/// The grant type name.
pub const GRANT_TYPE: &str = "client_credentials";

/// Issues an access token to `client`, if the policy plugins allow.
pub async fn grant(
    svc: &TokenService,
    client: &Client,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::UnauthorizedClient("public clients cannot use client_credentials"));
    }
    if !client.allows_grant(GRANT_TYPE) {
        return Err(OAuthError::UnauthorizedClient("the client may not use this grant type"));
    }
    let scopes = scope::grant(params.one("scope")?, &client.record.scopes)?;
    let audiences = audiences(client, params, &svc.issuer)?;
    let actor = meta.actor(format!("client:{}", client.id()));
    let ask = PolicyRequest {
        stage: PolicyStage::Token,
        request_id: &meta.request_id,
        client_id: client.id(),
        remote_ip: Some(meta.ip),
        user_agent: None,
        now,
        subject: None,
        grant_type: Some(GRANT_TYPE),
        scopes: &scopes,
        audiences: &audiences,
        attributes: &[],
    };
    let allowed = svc.policies.decide(&ask, actor.clone()).await.map_err(Refusal::oauth_error)?;
    let req = IssueRequest {
        sub: client.id(),
        client_id: client.id(),
        audiences,
        scopes: &allowed.scopes,
        ttl: svc.ttl.access_token_ttl,
        jti: None,
        claims: allowed.claims,
    };
    issue_access_token(svc, req, GRANT_TYPE, actor, now)
}

/// The audiences asked for, each of which must be registered for the client.
fn audiences(client: &Client, params: &Params, issuer: &str) -> Result<Vec<String>, OAuthError> {
    let mut wanted: Vec<String> = Vec::new();
    for a in params.all("audience").chain(params.all("resource")) {
        // A client with admin roles may ask for a token to the admin API.
        let admin = a == crate::admin_roles::ADMIN_AUDIENCE && !client.record.roles.is_empty();
        if !admin && !client.record.audiences.iter().any(|x| x == a) {
            return Err(OAuthError::InvalidTarget);
        }
        if !wanted.iter().any(|w| w == a) {
            wanted.push(a.to_owned());
        }
    }
    if !wanted.is_empty() {
        Ok(wanted)
    } else if client.record.audiences.is_empty() {
        Ok(vec![issuer.to_owned()])
    } else {
        Ok(client.record.audiences.clone())
    }
}
