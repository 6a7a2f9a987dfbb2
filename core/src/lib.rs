//! Gatehouse: an OAuth 2.0 / OpenID Connect identity provider.
//!
//! Crate map (see ARCHITECTURE.md):
//! - [`audit`]: typed security events in a hash chain, one batching writer.
//! - [`cli`]: the `gatehouse` command (main.rs is a thin wrapper).
//! - [`server`]: bind, serve, shut down. [`state`]: what requests share.
//! - [`config`]: the TOML contract and its validation. [`clock`]: the only time source.
//! - `http`: the only module that imports axum.
//! - [`oauth`]: protocol logic (authorization requests, token endpoint and grants, PKCE,
//!   introspection, revocation, verify).
//! - [`oidc`]: discovery, the login flow, federated sign-in, the account page, sessions, ID
//!   tokens, userinfo, logout. [`outbound`]: the one outbound HTTP client and its address
//!   policy.
//!   [`ui`]: page templates. [`tokens`]: keys, JWS, access tokens.
//! - [`store`]: persistence traits, sled and memory backends, group commit, backups.
//! - [`users`]: accounts, normalisation, argon2id hashing on a bounded pool. [`mfa`]: TOTP
//!   and recovery codes, spent by compare-and-swap.
//! - [`metrics`]: Prometheus metrics.
//! - [`ratelimit`]: governor limiters. [`secret`]: redaction, digests, randomness.
#![forbid(unsafe_code)]

pub mod admin_roles;
pub mod audit;
mod background;
pub mod cli;
pub mod clock;
pub mod config;
mod http;
pub mod logctx;
pub mod metrics;
pub mod mfa;
pub mod notify;
pub mod oauth;
pub mod oidc;
pub mod outbound;
pub mod plugins;
pub mod ratelimit;
pub mod reload;
pub mod secret;
pub mod server;
mod services;
pub mod state;
#[cfg(test)]
mod testing;
pub use gatehouse_store as store;
pub mod telemetry;
pub mod tokens;
pub mod ui;
pub mod users;

pub use http::paths;
