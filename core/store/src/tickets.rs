//! Tickets: the single-use tokens that a link in an email carries (a password reset, an
//! address to verify). The link holds a random token; the store keeps only its SHA-256, so a
//! copy of the store cannot be turned into a working link. `take_ticket` removes the record
//! and returns it, so of any number of racing uses (on any instance) exactly one gets it.
//! Each ticket carries a `stamp` of what it was issued against (the password hash, the
//! address): when that changed since, the ticket is refused even if it is still stored.
//! A logical copy of the store (`store copy`, `store export`) leaves tickets out: they live
//! 30 minutes, and a link in flight during a move is simply asked for again.

use serde::{Deserialize, Serialize};

/// What a ticket lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TicketPurpose {
    /// Set a new password without the old one.
    #[default]
    PasswordReset,
    /// Mark the user's email address verified.
    EmailVerification,
}

/// One ticket, keyed by the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TicketRecord {
    /// What it is for.
    pub purpose: TicketPurpose,
    /// The user it was issued to.
    pub user_id: String,
    /// Hex SHA-256 of what it was issued against (password hash or email address).
    pub stamp: String,
    /// When it was issued, unix seconds.
    pub created_at: i64,
    /// Past this it is refused (and purged).
    pub expires_at: i64,
}
