//! OAuth errors (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2, RFC 6750 §3.1). Descriptions
//! are fixed strings from this code, never request data or internal error text.

use std::time::Duration;

/// An OAuth protocol error; `http/error.rs` maps it to a status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// Missing, repeated or malformed parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Client authentication failed; `basic` when the client used HTTP Basic.
    #[error("invalid_client")]
    InvalidClient {
        /// Answer with `WWW-Authenticate: Basic` (RFC 6749 §5.2).
        basic: bool,
    },
    /// The grant is invalid, expired or revoked.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The client may not use this grant or operation.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// Unknown or unimplemented grant type.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A requested scope is not allowed for the client.
    #[error("invalid_scope")]
    InvalidScope,
    /// A requested audience/resource is not allowed for the client (RFC 8707).
    #[error("invalid_target")]
    InvalidTarget,
    /// Policy refused the request.
    #[error("access_denied")]
    AccessDenied,
    /// Over a rate limit.
    #[error("too many requests")]
    TooManyRequests {
        /// When to try again.
        retry_after: Duration,
    },
    /// A policy needs the person to sign in again with more factors (OpenID Connect Core
    /// §3.1.2.6's code, at the token endpoint: the client sends them through `/authorize`
    /// with `acr_values=urn:gatehouse:acr:mfa`).
    #[error("interaction_required")]
    InteractionRequired,
    /// The body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// A dependency (store, plugin) is failing; retry later.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable {
        /// When to try again.
        retry_after: Duration,
    },
    /// A bug or an unexpected failure; details are in the log only.
    #[error("server_error")]
    ServerError,
}

impl OAuthError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::PayloadTooLarge => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::InteractionRequired => "interaction_required",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// The `error_description`, from a fixed table.
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidRequest(d) | Self::InvalidGrant(d) | Self::UnauthorizedClient(d) => d,
            Self::InvalidClient { .. } => "client authentication failed",
            Self::UnsupportedGrantType => "the grant type is not supported",
            Self::InvalidScope => "a requested scope is not allowed for this client",
            Self::InvalidTarget => "a requested audience or resource is not allowed for this client",
            Self::AccessDenied => "the request was denied by policy",
            Self::InteractionRequired => {
                "policy requires a second factor: sign the user in again with acr_values=urn:gatehouse:acr:mfa"
            }
            Self::TooManyRequests { .. } => "too many requests; retry later",
            Self::PayloadTooLarge => "the request body is too large",
            Self::TemporarilyUnavailable { .. } => "the server is temporarily unable to handle the request",
            Self::ServerError => "the server encountered an unexpected condition",
        }
    }
}

/// Logs an internal failure with its cause and returns the opaque `server_error`.
pub fn internal(context: &'static str, cause: &dyn std::fmt::Display) -> OAuthError {
    tracing::error!(request_id = %crate::logctx::current(), error = %cause, "{context}");
    OAuthError::ServerError
}

/// Logs a store failure and returns `temporarily_unavailable`.
pub fn unavailable(context: &'static str, cause: &dyn std::fmt::Display) -> OAuthError {
    tracing::error!(request_id = %crate::logctx::current(), error = %cause, "{context}");
    OAuthError::TemporarilyUnavailable { retry_after: Duration::from_secs(1) }
}
