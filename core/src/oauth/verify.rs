//! `POST /verify`: a token check for services that do not verify JWTs themselves. No client
//! authentication (it reveals no more than the JWKS does, plus revocation); failures are
//! rate-limited per source IP.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::RequestMeta;
use crate::audit::AuditEvent;
use crate::state::AppState;
use crate::tokens::access::{AccessClaims, TokenProblem};

/// The outcome of a verification.
#[derive(Debug)]
pub enum VerifyOutcome {
    /// The token is active (and names the audience, when one was asked about).
    Active(Arc<AccessClaims>),
    /// Not active, with the reason.
    Inactive(TokenProblem),
    /// Over a rate limit.
    Limited(Duration),
}

/// Verifies `token`, optionally for `audience`.
pub async fn verify(
    state: &AppState,
    token: &str,
    audience: Option<&str>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> VerifyOutcome {
    if let Some(wait) = state.limiter.verify_blocked(meta.ip) {
        state.metrics.rate_limited("failed_verify");
        return VerifyOutcome::Limited(wait);
    }
    if let Err(wait) = state.limiter.verify_request(meta.ip) {
        state.metrics.rate_limited("verify_per_ip");
        return VerifyOutcome::Limited(wait);
    }
    let result = state.access.verify_active(state.db.revocations(), token, now).await.and_then(|c| match audience {
        Some(a) if !c.aud.contains(a) => Err(TokenProblem::WrongAudience),
        _ => Ok(c),
    });
    match result {
        Ok(c) => VerifyOutcome::Active(c),
        Err(TokenProblem::Unavailable) => VerifyOutcome::Inactive(TokenProblem::Unavailable),
        Err(problem) => match state.limiter.verify_failed(meta.ip) {
            Some(wait) => {
                state.metrics.rate_limited("failed_verify");
                let event = AuditEvent::RateLimited { limit: "failed_verify".into() };
                state.audit.emit(meta.actor("anonymous"), event, now);
                VerifyOutcome::Limited(wait)
            }
            None => VerifyOutcome::Inactive(problem),
        },
    }
}
