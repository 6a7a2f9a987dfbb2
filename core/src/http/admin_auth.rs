//! The admin API's authentication and authorisation, as one extractor every `/admin/*` route
//! takes, typed by the role it needs (`Admin<need::Auditor>`; `Admin` alone needs `admin`).
//! A caller presents, as a Bearer token, either the bootstrap credential, the `[admin]` token
//! (`token_sha256` or `token_env`), which has every role, or a Gatehouse access token for the
//! audience `gatehouse-admin` (signature, expiry and revocation checked): a client's own
//! token carries the client's `roles`, a person's the roles of the person and their groups,
//! as they are now (not when it was issued); a disabled or removed person's token is none. Without a valid credential the answer is 401
//! with a Bearer challenge (audited as `admin_auth_failed`; failures from one address turn
//! into 429s for a while, `ratelimit::Limiter::admin_failed`, and a correct credential
//! always passes); with one that lacks the role, 403 naming it. When no admin token is
//! configured the admin routes answer 404, as if they did not exist.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::AdminError;
use super::extract::{Meta, authorization, bearer};
use crate::admin_roles::{ADMIN_AUDIENCE, Role, allows};
use crate::audit::{Actor, AuditEvent};
use crate::oauth::RequestMeta;
use crate::secret::matches_sha256;
use crate::state::AppState;
use crate::tokens::access::TokenProblem;

/// The role a route needs, as a type.
pub trait Needs: Send + Sync + 'static {
    /// The role.
    const ROLE: Role;
}

/// The roles, as types for [`Admin`].
pub mod need {
    use super::{Needs, Role};

    /// `admin`.
    pub struct Admin;
    /// `auditor` (or `admin`).
    pub struct Auditor;
    /// `user-admin` (or `admin`).
    pub struct UserAdmin;
    /// `client-admin` (or `admin`).
    pub struct ClientAdmin;

    impl Needs for Admin {
        const ROLE: Role = Role::Admin;
    }
    impl Needs for Auditor {
        const ROLE: Role = Role::Auditor;
    }
    impl Needs for UserAdmin {
        const ROLE: Role = Role::UserAdmin;
    }
    impl Needs for ClientAdmin {
        const ROLE: Role = Role::ClientAdmin;
    }
}

/// An authenticated admin caller holding the role `N` needs.
pub struct Admin<N: Needs = need::Admin> {
    /// The request (address, request id) for the audit records of what it does.
    pub meta: RequestMeta,
    /// Who it is in the audit log: `admin` (the token), `client:<id>` or `user:<id>`.
    pub who: String,
    /// The roles it holds; `None` for the bootstrap token, which holds every role.
    held: Option<Vec<String>>,
    need: PhantomData<N>,
}

impl<N: Needs> Admin<N> {
    /// The audit actor of this caller.
    pub fn actor(&self) -> Actor {
        self.meta.actor(self.who.clone())
    }

    /// Whether the caller also holds `role` (for what a route allows only some of its callers).
    pub fn holds(&self, role: Role) -> bool {
        self.held.as_deref().is_none_or(|held| allows(held, role))
    }

    /// 403 naming `role` unless the caller holds it.
    pub fn require(&self, role: Role) -> Result<(), AdminError> {
        if self.holds(role) { Ok(()) } else { Err(AdminError::Forbidden(role.name())) }
    }
}

/// What a presented access token amounts to: who, and their roles; `Err` when it is no
/// admin credential at all.
async fn token_roles(state: &AppState, token: &str) -> Result<(String, Vec<String>), AdminError> {
    let t = &state.tokens;
    let claims = match t.access.verify_active(&*t.revocations, token, state.clock.now()).await {
        Ok(c) => c,
        Err(TokenProblem::Unavailable) => return Err(AdminError::Unavailable(std::time::Duration::from_secs(1))),
        Err(_) => return Err(AdminError::Unauthorized),
    };
    if !claims.aud.contains(ADMIN_AUDIENCE) {
        return Err(AdminError::Unauthorized);
    }
    if claims.sub != claims.client_id {
        let unavailable = |e| AdminError::from(crate::oauth::error::unavailable("user lookup failed", &e));
        let user = match state.db.users().get_user(&claims.sub).await.map_err(unavailable)? {
            Some(u) if !u.disabled => u,
            _ => return Err(AdminError::Unauthorized),
        };
        let roles = crate::admin_roles::of_user(state.db.groups(), &user).await.map_err(unavailable)?;
        return Ok((format!("user:{}", claims.sub), roles));
    }
    match t.clients.get(&claims.client_id).await {
        Ok(Some(c)) => Ok((format!("client:{}", claims.client_id), c.record.roles.clone())),
        Ok(None) => Err(AdminError::Unauthorized),
        Err(e) => Err(crate::oauth::error::unavailable("client lookup failed", &e).into()),
    }
}

impl<N: Needs> FromRequestParts<AppState> for Admin<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(Meta(meta)) = Meta::from_request_parts(parts, state).await;
        let Some(expected) = &state.config.admin_token_sha256 else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        let presented = authorization(&parts.headers).ok().flatten().and_then(bearer);
        if presented.is_some_and(|t| matches_sha256(t.as_bytes(), expected)) {
            return Ok(Self { meta, who: "admin".to_owned(), held: None, need: PhantomData });
        }
        if let Some(token) = presented.filter(|t| t.matches('.').count() == 2) {
            match token_roles(state, token).await {
                Ok((who, roles)) if allows(&roles, N::ROLE) => {
                    return Ok(Self { meta, who, held: Some(roles), need: PhantomData });
                }
                Ok(_) => return Err(AdminError::Forbidden(N::ROLE.name()).into_response()),
                Err(AdminError::Unauthorized) => {}
                Err(e) => return Err(e.into_response()),
            }
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
