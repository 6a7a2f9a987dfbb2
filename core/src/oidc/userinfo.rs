//! The UserInfo endpoint (OpenID Connect Core §5.3): a Bearer access token with the
//! `openid` scope gets the user's claims by scope.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::oauth::RequestMeta;
use crate::oauth::grants::user_tokens::subject;
use crate::oauth::service::TokenService;
use crate::plugins::{PolicyRequest, PolicyStage};
use crate::tokens::access::{Audience, TokenProblem};

/// Why userinfo refused (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserinfoError {
    /// No token was sent.
    NoToken,
    /// Malformed, expired, revoked, or not a user's token.
    InvalidToken,
    /// The token lacks `openid`.
    InsufficientScope,
    /// A policy plugin refused or failed.
    Denied,
    /// The store failed.
    Unavailable,
}

/// The claims for the user of `token`, if the policy plugins allow; claims they add come
/// after (never over) the ones released by scope.
pub async fn userinfo(
    svc: &TokenService,
    token: Option<&str>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<Map<String, Value>, UserinfoError> {
    let token = token.ok_or(UserinfoError::NoToken)?;
    let claims = svc.access.verify_active(&*svc.revocations, token, now).await.map_err(|p| match p {
        TokenProblem::Unavailable => UserinfoError::Unavailable,
        _ => UserinfoError::InvalidToken,
    })?;
    let scopes: Vec<String> = claims.scope.as_deref().unwrap_or("").split(' ').map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(UserinfoError::InsufficientScope);
    }
    // From a browser: the token's client must be allowed this origin (`oauth/cors.rs`).
    if meta.origin.is_some() {
        match svc.clients.get(&claims.client_id).await {
            Ok(Some(c)) if svc.cors.check(meta.origin.as_deref(), &c).is_ok() => {}
            Ok(_) => return Err(UserinfoError::Denied),
            Err(e) => {
                tracing::error!(request_id = %crate::logctx::current(), error = %e, "client lookup failed");
                return Err(UserinfoError::Unavailable);
            }
        }
    }
    let user = match svc.users.get_user(&claims.sub).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return Err(UserinfoError::InvalidToken),
        Err(e) => {
            tracing::error!(request_id = %crate::logctx::current(), error = %e, "user lookup failed");
            return Err(UserinfoError::Unavailable);
        }
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    if !svc.policies.any() {
        out.extend(super::claims::for_scopes(&user, &scopes));
    } else {
        let audiences = match &claims.aud {
            Audience::One(a) => vec![a.clone()],
            Audience::Many(v) => v.clone(),
        };
        let ask = PolicyRequest {
            stage: PolicyStage::Userinfo,
            request_id: &meta.request_id,
            client_id: &claims.client_id,
            remote_ip: Some(meta.ip),
            user_agent: None,
            now,
            subject: Some(subject(&user, &[])),
            grant_type: None,
            scopes: &scopes,
            audiences: &audiences,
            attributes: &[],
        };
        let actor = meta.actor(format!("client:{}", claims.client_id));
        let allowed = svc.policies.decide(&ask, actor).await.map_err(|_| UserinfoError::Denied)?;
        // A policy may narrow what this call releases.
        out.extend(super::claims::for_scopes(&user, &allowed.scopes));
        for (k, v) in allowed.claims {
            out.entry(k).or_insert(v);
        }
    }
    Ok(out)
}
