//! Emailed links: issuing, checking and using the single-use tickets behind them
//! (`store/tickets.rs`), and the CSRF token of their pages.
//!
//! A link carries 32 random bytes (base64url); the store keeps their SHA-256. A ticket works
//! for [`TICKET_TTL`], once, and only while what it was issued against is unchanged: a reset
//! link dies when the password changes (by any means, so a second reset link dies with the
//! first use), a verification link when the address does. At most one link per person and
//! purpose is sent per minute (a single-use key, so across instances too), besides the
//! per-address rate `[login] emails_per_ip`.
//!
//! The pages have no session or flow to keep a CSRF token in, so theirs is derived from the
//! browser-binding cookie (HttpOnly, SameSite=Lax, so another site can neither read it nor
//! send it on a cross-site form post): a form is accepted only from the browser that was
//! shown it.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::flow::{BrowserCookies, Reply};
use super::service::SignIn;
use crate::audit::{Actor, AuditEvent, AuditLog};
use crate::notify::transactional::{Letter, Outbox};
use crate::oauth::params::Params;
use crate::secret::{ct_eq, random_token, sha256, sha256_hex};
use crate::state::Urls;
use crate::store::tickets::{TicketPurpose, TicketRecord};
use crate::store::{BrowserStore, Coordination, StoreError, UserRecord, UserStore};

/// How long a link works.
pub const TICKET_TTL: Duration = Duration::from_secs(30 * 60);

/// What a ticket is checked against: the password hash, or the address.
fn stamp(purpose: TicketPurpose, user: &UserRecord) -> String {
    match purpose {
        TicketPurpose::PasswordReset => sha256_hex(user.password_hash.as_bytes()),
        TicketPurpose::EmailVerification => sha256_hex(user.email.as_deref().unwrap_or_default().as_bytes()),
    }
}

/// The CSRF token of the link pages for the browser holding `binding`.
fn form_csrf(binding: &str) -> String {
    sha256_hex(format!("gatehouse.link-form:{binding}").as_bytes())
}

/// The CSRF token for a page about to be shown, and the binding cookie to set when the
/// browser has none yet.
pub(super) fn csrf_for(cookies: &BrowserCookies) -> Result<(String, Option<String>), Reply> {
    match &cookies.binding {
        Some(b) => Ok((form_csrf(b), None)),
        None => {
            let fresh = random_token().map_err(|e| super::flow::unavailable("no randomness for a form", &e))?;
            Ok((form_csrf(&fresh), Some(fresh)))
        }
    }
}

/// Whether a submitted form came from the browser it was shown to.
pub(super) fn csrf_ok(cookies: &BrowserCookies, params: &Params) -> bool {
    let sent = params.one("csrf").ok().flatten().unwrap_or("");
    cookies.binding.as_deref().is_some_and(|b| ct_eq(sent.as_bytes(), form_csrf(b).as_bytes()))
}

/// A link's token as typed: what [`random_token`] makes, nothing else is looked up.
fn plausible(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

/// What sending a link needs, owned (a reset request is handled after its answer went out).
#[derive(Clone)]
pub(super) struct Links {
    users: Arc<dyn UserStore>,
    browser: Arc<dyn BrowserStore>,
    once: Arc<dyn Coordination>,
    outbox: Outbox,
    audit: AuditLog,
    urls: Arc<Urls>,
}

impl SignIn {
    /// Mails `user` a password reset link, as asked for by `actor` (an operator): the number
    /// of notifiers that took it, or `None` when one went out less than a minute ago.
    pub async fn send_reset_link(
        &self,
        user: &UserRecord,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<Option<u32>, StoreError> {
        Ok(match self.links().send(TicketPurpose::PasswordReset, user, actor, now).await? {
            Sent::To(n) => Some(n),
            Sent::TooSoon => None,
        })
    }

    /// The link sender.
    pub(super) fn links(&self) -> Links {
        Links {
            users: self.users.clone(),
            browser: self.browser.clone(),
            once: self.once.clone(),
            outbox: self.outbox.clone(),
            audit: self.audit.clone(),
            urls: self.urls.clone(),
        }
    }
}

/// The outcome of [`Links::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// Handed to this many notifiers (0: none takes this event).
    To(u32),
    /// A link of this kind went to this person less than a minute ago.
    TooSoon,
}

impl Links {
    /// The users.
    pub(super) fn users(&self) -> &dyn UserStore {
        &*self.users
    }

    /// Issues a ticket of `purpose` for `user` (who has an address) and sends its link;
    /// audited (without the link) as asked for by `actor`.
    pub(super) async fn send(
        &self,
        purpose: TicketPurpose,
        user: &UserRecord,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<Sent, StoreError> {
        let Some(email) = user.email.clone() else { return Ok(Sent::To(0)) };
        let t = now.unix_timestamp();
        let kind = match purpose {
            TicketPurpose::PasswordReset => "reset",
            TicketPurpose::EmailVerification => "verify",
        };
        if !self.once.use_once(&format!("link-sent:{kind}:{}:{}", user.id, t / 60), t + 120, t).await? {
            return Ok(Sent::TooSoon);
        }
        let token = random_token().map_err(|e| StoreError::Io(format!("no randomness for a link: {e}")))?;
        let ttl = i64::try_from(TICKET_TTL.as_secs()).unwrap_or(i64::MAX);
        let ticket = TicketRecord {
            purpose,
            user_id: user.id.clone(),
            stamp: stamp(purpose, user),
            created_at: t,
            expires_at: t.saturating_add(ttl),
        };
        self.browser.put_ticket(&sha256(token.as_bytes()), &ticket).await?;
        let expires = crate::audit::format_time_ms(ticket.expires_at.saturating_mul(1000));
        let (event, base, subject, intro) = match purpose {
            TicketPurpose::PasswordReset => (
                "password.reset_requested",
                &self.urls.password_reset,
                "Reset your password",
                format!("Someone asked to reset the password of {}. To choose a new one, open:", user.username),
            ),
            TicketPurpose::EmailVerification => (
                "email.verification_requested",
                &self.urls.email_verify,
                "Verify your email address",
                format!("To confirm that {email} is the address of {}, open:", user.username),
            ),
        };
        let letter = Letter {
            event,
            user_id: user.id.clone(),
            username: user.username.clone(),
            email,
            subject: subject.to_owned(),
            intro,
            link: format!("{base}?token={token}"),
            expires,
        };
        let messages = self.outbox.send(&letter);
        let record = match purpose {
            TicketPurpose::PasswordReset => AuditEvent::PasswordResetRequested { user_id: user.id.clone(), messages },
            TicketPurpose::EmailVerification => {
                AuditEvent::EmailVerificationRequested { user_id: user.id.clone(), messages }
            }
        };
        self.audit.record(actor, record, now).await?;
        Ok(Sent::To(messages))
    }

    /// The user a link's `token` of `purpose` is good for now, if it is: issued, not used,
    /// not expired, the user enabled and unchanged. `take` uses it up (whatever the answer).
    pub(super) async fn check(
        &self,
        purpose: TicketPurpose,
        token: &str,
        take: bool,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StoreError> {
        if !plausible(token) {
            return Ok(None);
        }
        let id = sha256(token.as_bytes());
        let ticket = if take { self.browser.take_ticket(&id).await? } else { self.browser.get_ticket(&id).await? };
        let Some(ticket) = ticket.filter(|t| t.purpose == purpose && t.expires_at >= now.unix_timestamp()) else {
            return Ok(None);
        };
        let user = self.users.get_user(&ticket.user_id).await?;
        Ok(user.filter(|u| !u.disabled && ct_eq(stamp(purpose, u).as_bytes(), ticket.stamp.as_bytes())))
    }
}
