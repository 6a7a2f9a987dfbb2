//! One file per grant type; `user_tokens.rs` issues what the user grants share.

pub mod authorization_code;
pub mod client_credentials;
pub mod issue;
pub mod refresh_token;
#[cfg(test)]
mod tests;
pub(crate) mod user_tokens;
