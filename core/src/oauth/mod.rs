//! OAuth 2.0 protocol logic, free of HTTP types: the token endpoint and its grants,
//! introspection (RFC 7662), revocation (RFC 7009), the `/verify` service check, client
//! authentication and the errors they return.

pub mod assertion;
pub mod client;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod params;
pub mod revoke;
pub mod scope;
pub mod test_token;
pub mod token;
pub mod verify;

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use self::client::{AuthContext, Client, Credentials};
use self::error::{OAuthError, unavailable};
use self::params::Params;
use crate::state::AppState;

/// Authenticates the calling client of `endpoint`, applying the failed-authentication
/// limits: a blocked source or client gets 429 before its credentials are looked at.
pub(crate) async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    ip: IpAddr,
    endpoint: &str,
    now: OffsetDateTime,
) -> Result<Arc<Client>, OAuthError> {
    let creds = match Credentials::from_request(authorization, params) {
        Ok(c) => c,
        Err(e @ OAuthError::InvalidClient { .. }) => {
            return Err(match state.limiter.auth_failed(ip, None) {
                Some(retry_after) => OAuthError::TooManyRequests { retry_after },
                None => e,
            });
        }
        Err(e) => return Err(e),
    };
    let claimed = creds.claimed_id();
    if let Some(retry_after) = state.limiter.auth_blocked(ip, claimed.as_deref()) {
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    let ctx = AuthContext { issuer: &state.issuer, endpoint, token_endpoint: &state.urls.token };
    match state.clients.authenticate(creds, ctx, now).await {
        Ok(client) => Ok(client),
        Err(f) => {
            if let Some(e) = &f.store_error {
                return Err(unavailable("client lookup failed", e));
            }
            tracing::info!(client_id = ?f.client_id, reason = f.reason, "client authentication failed");
            Err(match state.limiter.auth_failed(ip, f.client_id.as_deref()) {
                Some(retry_after) => OAuthError::TooManyRequests { retry_after },
                None => OAuthError::InvalidClient { basic: f.basic },
            })
        }
    }
}
