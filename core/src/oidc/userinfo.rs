//! The UserInfo endpoint (OpenID Connect Core §5.3): a Bearer access token with the
//! `openid` scope gets the user's claims by scope.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::state::AppState;
use crate::tokens::access::TokenProblem;

/// Why userinfo refused (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserinfoError {
    /// No token was sent.
    NoToken,
    /// Malformed, expired, revoked, or not a user's token.
    InvalidToken,
    /// The token lacks `openid`.
    InsufficientScope,
    /// The store failed.
    Unavailable,
}

/// The claims for the user of `token`.
pub fn userinfo(
    state: &AppState,
    token: Option<&str>,
    now: OffsetDateTime,
) -> Result<Map<String, Value>, UserinfoError> {
    let token = token.ok_or(UserinfoError::NoToken)?;
    let claims = state.access.verify_active(state.db.store(), token, now).map_err(|p| match p {
        TokenProblem::Unavailable => UserinfoError::Unavailable,
        _ => UserinfoError::InvalidToken,
    })?;
    let scopes: Vec<String> = claims.scope.as_deref().unwrap_or("").split(' ').map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(UserinfoError::InsufficientScope);
    }
    let user = match state.db.get_user(&claims.sub) {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return Err(UserinfoError::InvalidToken),
        Err(e) => {
            tracing::error!(request_id = %crate::logctx::current(), error = %e, "user lookup failed");
            return Err(UserinfoError::Unavailable);
        }
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    out.extend(super::claims::for_scopes(&user, &scopes));
    Ok(out)
}
