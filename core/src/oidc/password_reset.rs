//! "Forgot password?" (`/password/forgot`) and the page its link leads to
//! (`/password/reset?token=...`).
//!
//! Asking for a link gives the same answer, at once, whether or not the address is known:
//! the lookup and the sending happen after the answer went out, so neither the page nor its
//! timing tells. A link goes only to an enabled account with a password and an address.
//! Opening the link shows a form and uses nothing (mail scanners open links); submitting a
//! valid new password uses the link, sets the password, marks the address verified (the
//! person just proved they read its mail), ends every session of the account and is
//! audited as `password_reset` (notification `password.reset`). A second factor is still
//! asked at the next sign-in: a reset replaces the password only.

use time::OffsetDateTime;

use super::flow::{Action, BrowserCookies, ErrorKind, Reply, error, unavailable};
use super::page::{LinkPage, Page};
use super::service::SignIn;
use super::tickets::{Links, Sent, csrf_for, csrf_ok};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;
use crate::secret::Secret;
use crate::store::tickets::TicketPurpose;

const PURPOSE: TicketPurpose = TicketPurpose::PasswordReset;

/// A link page, with the binding cookie to set when there is one.
pub(super) fn page(page: LinkPage, set_binding: Option<String>) -> Reply {
    let mut reply: Reply = Action::Page(Box::new(Page::Link(page))).into();
    reply.set_binding = set_binding;
    reply
}

/// The page for a link that is unknown, used, expired, or of an account that changed.
pub(super) fn dead_link(ask_again: bool) -> Reply {
    let message = "This link has expired or was used already. Links work once, for 30 minutes.".to_owned();
    page(LinkPage::Done { title: "Link expired", message, ask_again }, None)
}

fn form_expired() -> Reply {
    error(ErrorKind::Forbidden, "Form expired", "The form could not be verified. Open the page again.")
}

fn no_passwords() -> Reply {
    error(ErrorKind::BadRequest, "Not available", "This service does not sign in with passwords.")
}

/// A login flow id worth linking back to (the login page checks it).
fn flow_of(params: &Params) -> Option<String> {
    let f = params.one("flow").ok().flatten()?;
    (f.len() <= 64 && f.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))).then(|| f.to_owned())
}

/// `GET /password/forgot[?flow=...]`.
pub async fn forgot_show(svc: &SignIn, params: &Params, cookies: &BrowserCookies) -> Reply {
    if !svc.password_login {
        return no_passwords();
    }
    match csrf_for(cookies) {
        Ok((csrf, set)) => page(LinkPage::Forgot { csrf, flow: flow_of(params), sent: false, error: None }, set),
        Err(reply) => reply,
    }
}

/// `POST /password/forgot` with `email` (an address or a username) and `csrf`.
pub async fn forgot_submit(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    if !svc.password_login {
        return no_passwords();
    }
    if !csrf_ok(cookies, params) {
        return form_expired();
    }
    let (csrf, flow) = match csrf_for(cookies) {
        Ok((csrf, _)) => (csrf, flow_of(params)),
        Err(reply) => return reply,
    };
    let typed = params.one("email").ok().flatten().unwrap_or("").trim().to_owned();
    if typed.is_empty() {
        let error = Some("Enter your email address.".to_owned());
        return page(LinkPage::Forgot { csrf, flow, sent: false, error }, None);
    }
    if svc.limiter.email_requested(meta.ip).is_err() {
        return error(
            ErrorKind::TooMany,
            "Too many requests",
            "Too many links were asked for from your network. Wait a while and try again.",
        );
    }
    let (links, actor) = (svc.links(), meta.actor("anonymous"));
    tokio::spawn(async move {
        if let Err(e) = request(&links, &typed, actor, now).await {
            tracing::warn!(error = %e, "a password reset request failed");
        }
    });
    page(LinkPage::Forgot { csrf, flow, sent: true, error: None }, None)
}

/// Sends a reset link to the account named `typed`, if there is one that can use it.
async fn request(
    links: &Links,
    typed: &str,
    actor: crate::audit::Actor,
    now: OffsetDateTime,
) -> Result<(), crate::store::StoreError> {
    let normalized = if typed.contains('@') {
        crate::users::normalize_email(typed).ok()
    } else {
        crate::users::normalize_username(typed).ok()
    };
    let Some(name) = normalized else { return Ok(()) };
    let Some(user) = links.users().find_user(&name).await? else { return Ok(()) };
    if user.disabled || user.password_hash.is_empty() || user.email.is_none() {
        return Ok(());
    }
    match links.send(PURPOSE, &user, actor, now).await? {
        Sent::To(0) => {
            tracing::warn!("a password reset link was asked for, but no notifier takes password.reset_requested")
        }
        Sent::To(_) | Sent::TooSoon => {}
    }
    Ok(())
}

/// `GET /password/reset?token=...`: the form, if the link is good (nothing is used yet).
pub async fn reset_show(svc: &SignIn, params: &Params, cookies: &BrowserCookies, now: OffsetDateTime) -> Reply {
    let token = params.one("token").ok().flatten().unwrap_or("");
    match svc.links().check(PURPOSE, token, false, now).await {
        Ok(Some(_)) => match csrf_for(cookies) {
            Ok((csrf, set)) => page(LinkPage::Reset { csrf, token: token.to_owned(), error: None }, set),
            Err(reply) => reply,
        },
        Ok(None) => dead_link(svc.password_login),
        Err(e) => unavailable("reading a reset link failed", &e),
    }
}

/// `POST /password/reset` with `token`, `new_password` and `csrf`.
pub async fn reset_submit(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    if !csrf_ok(cookies, params) {
        return form_expired();
    }
    let token = params.one("token").ok().flatten().unwrap_or("");
    let new = params.one("new_password").ok().flatten().unwrap_or("");
    let links = svc.links();
    if let Err(why) = crate::users::check_new_password(new) {
        // A dead link is said so before a password is asked for again.
        return match links.check(PURPOSE, token, false, now).await {
            Ok(Some(_)) => {
                let csrf = csrf_for(cookies).map(|(c, _)| c).unwrap_or_default();
                let error = Some(format!("T{}.", why.strip_prefix('t').unwrap_or(&why)));
                page(LinkPage::Reset { csrf, token: token.to_owned(), error }, None)
            }
            Ok(None) => dead_link(svc.password_login),
            Err(e) => unavailable("reading a reset link failed", &e),
        };
    }
    let user = match links.check(PURPOSE, token, true, now).await {
        Ok(Some(u)) => u,
        Ok(None) => return dead_link(svc.password_login),
        Err(e) => return unavailable("using a reset link failed", &e),
    };
    let hash = match svc.passwords.hash(Secret::new(new)).await {
        Ok(h) => h,
        Err(e) => return unavailable("hashing a password failed", &e),
    };
    let t = now.unix_timestamp();
    match svc.users.set_user_password(&user.id, &hash, t).await {
        Ok(true) => {}
        Ok(false) => return dead_link(svc.password_login),
        Err(e) => return unavailable("storing a password failed", &e),
    }
    if let Some(email) = &user.email
        && let Err(e) = svc.users.set_email_verified(&user.id, email, t).await
    {
        return unavailable("marking an address verified failed", &e);
    }
    let actor = || meta.actor(format!("user:{}", user.id));
    let sessions = match svc.browser.user_sessions(&user.id, t).await {
        Ok(s) => s,
        Err(e) => return unavailable("listing sessions failed", &e),
    };
    let by = (&actor(), "password_reset");
    if let Err(e) = crate::users::sessions::end(&*svc.browser, &svc.audit, &user.id, &sessions, by, now).await {
        return unavailable("ending a session failed", &e);
    }
    if let Err(e) =
        crate::users::sessions::revoke_refresh(&*svc.browser, &*svc.revocations, &svc.audit, &user.id, by.0, now).await
    {
        return unavailable("revoking refresh tokens failed", &e);
    }
    let event = AuditEvent::PasswordReset {
        user_id: user.id.clone(),
        username: user.username.clone(),
        sessions_ended: u32::try_from(sessions.len()).unwrap_or(u32::MAX),
    };
    if let Err(e) = svc.audit.record(actor(), event, now).await {
        return unavailable("recording a password reset failed", &e);
    }
    let message = "Your password was changed, and you were signed out everywhere. Sign in again from your \
                   application with the new password."
        .to_owned();
    let mut reply = page(LinkPage::Done { title: "Password changed", message, ask_again: false }, None);
    reply.clear_session = cookies.session.is_some();
    reply
}
