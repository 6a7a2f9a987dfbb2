//! The admin API's authentication, as one extractor every `/admin/*` route takes: today the
//! bootstrap credential, the `[admin]` token (`token_sha256` or `token_env`), which has every
//! role. Without credentials, or with a wrong one, the answer is 401 with a Bearer challenge
//! (audited as `admin_auth_failed`); failures from one address turn into 429s for a while
//! (`ratelimit::Limiter::admin_failed`), and a correct token always passes. When no admin
//! token is configured the admin routes answer 404, as if they did not exist.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::AdminError;
use super::extract::{Meta, authorization, bearer};
use crate::audit::{Actor, AuditEvent};
use crate::oauth::RequestMeta;
use crate::secret::matches_sha256;
use crate::state::AppState;

/// An authenticated admin caller.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The request (address, request id) for the audit records of what it does.
    pub meta: RequestMeta,
}

impl Admin {
    /// The audit actor of this caller.
    pub fn actor(&self) -> Actor {
        self.meta.actor("admin")
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(Meta(meta)) = Meta::from_request_parts(parts, state).await;
        let Some(expected) = &state.config.admin_token_sha256 else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        let presented = authorization(&parts.headers).ok().flatten().and_then(bearer);
        if presented.is_some_and(|t| matches_sha256(t.as_bytes(), expected)) {
            return Ok(Self { meta });
        }
        let ip = meta.ip;
        tracing::warn!(request_id = %meta.request_id, %ip, "admin authentication failed");
        let now = state.clock.now();
        state.audit.emit(meta.actor("anonymous"), AuditEvent::AdminAuthFailed, now);
        Err(match state.limiter.admin_failed(ip) {
            Some(retry_after) => {
                state.metrics.rate_limited("failed_admin_auth");
                let event = AuditEvent::RateLimited { limit: "failed_admin_auth".into() };
                state.audit.emit(meta.actor("anonymous"), event, now);
                AdminError::TooMany(retry_after).into_response()
            }
            None => AdminError::Unauthorized.into_response(),
        })
    }
}
