//! Tokens and keys: signing keys held parsed in memory (`keys.rs`), compact JWS
//! (`jwt.rs`) and RFC 9068 access tokens (`access.rs`). No HTTP, no store types beyond
//! key records.

pub mod access;
pub mod id_token;
pub mod jwt;
pub mod keys;
