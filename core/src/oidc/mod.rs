//! OpenID Connect: discovery, ID tokens and claims, browser sessions, the login flow and its
//! pages, userinfo and RP-initiated logout.

pub mod account;
mod account_reauth;
mod account_security;
mod account_sessions;
pub mod claims;
pub mod discovery;
pub mod email_verify;
pub mod factor;
pub mod federated_user;
pub mod federation;
pub mod flow;
pub mod login;
mod login_pages;
pub mod logout;
pub mod page;
pub mod passkeys;
mod password;
pub mod password_reset;
pub mod service;
pub mod session;
pub mod steps;
#[cfg(test)]
mod tests;
mod tickets;
pub mod userinfo;
