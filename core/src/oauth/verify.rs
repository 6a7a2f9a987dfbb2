//! `POST /verify`: a token check for services that do not verify JWTs themselves. No client
//! authentication (it reveals no more than the JWKS does, plus revocation); failures are
//! rate-limited per source IP.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::RequestMeta;
use crate::audit::AuditEvent;
use crate::oauth::service::TokenService;
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
    svc: &TokenService,
    token: &str,
    audience: Option<&str>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> VerifyOutcome {
    if let Some(wait) = svc.limiter.verify_blocked(meta.ip) {
        svc.metrics.rate_limited("failed_verify");
        return VerifyOutcome::Limited(wait);
    }
    if let Err(wait) = svc.limiter.verify_request(meta.ip) {
        svc.metrics.rate_limited("verify_per_ip");
        return VerifyOutcome::Limited(wait);
    }
    let result = svc.access.verify_active(&*svc.revocations, token, now).await.and_then(|c| match audience {
        Some(a) if !c.aud.contains(a) => Err(TokenProblem::WrongAudience),
        _ => Ok(c),
    });
    match result {
        Ok(c) => VerifyOutcome::Active(c),
        Err(TokenProblem::Unavailable) => VerifyOutcome::Inactive(TokenProblem::Unavailable),
        Err(problem) => match svc.limiter.verify_failed(meta.ip) {
            Some(wait) => {
                svc.metrics.rate_limited("failed_verify");
                let event = AuditEvent::RateLimited { limit: "failed_verify".into() };
                svc.audit.emit(meta.actor("anonymous"), event, now);
                VerifyOutcome::Limited(wait)
            }
            None => VerifyOutcome::Inactive(problem),
        },
    }
}
