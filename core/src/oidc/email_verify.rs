//! Verifying an address: the account page's "Send a verification link" (action
//! `email_verify_send`) and the page its link leads to (`/email/verify?token=...`), which
//! asks for a click before it uses the link (mail scanners open links). The address becomes
//! `email_verified` only if it is still the one the link went to.

use time::OffsetDateTime;

use super::flow::{BrowserCookies, ErrorKind, Reply, error, unavailable};
use super::page::LinkPage;
use super::password_reset::{dead_link, page};
use super::service::SignIn;
use super::session;
use super::tickets::{Sent, csrf_for, csrf_ok};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;
use crate::store::tickets::TicketPurpose;

const PURPOSE: TicketPurpose = TicketPurpose::EmailVerification;

/// `email_verify_send` on the account page; `None` for other actions.
pub(super) async fn submit(
    svc: &SignIn,
    live: &session::Live,
    action: &str,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Option<Reply> {
    if action != "email_verify_send" {
        return None;
    }
    let notice = match (&live.user.email, live.user.email_verified) {
        (None, _) => "This account has no email address.".to_owned(),
        (Some(_), true) => "Your email address is verified already.".to_owned(),
        (Some(email), false) => {
            if svc.limiter.email_requested(meta.ip).is_err() {
                return Some(error(
                    ErrorKind::TooMany,
                    "Too many requests",
                    "Too many links were asked for from your network. Wait a while and try again.",
                ));
            }
            match svc.links().send(PURPOSE, &live.user, meta.actor(format!("user:{}", live.user.id)), now).await {
                Ok(Sent::To(0)) => {
                    "This service cannot send email; ask its administrator to verify your address.".into()
                }
                Ok(Sent::To(_)) => format!("A link was sent to {email}. It works once, for 30 minutes."),
                Ok(Sent::TooSoon) => "A link was sent a moment ago; wait a minute before asking for another.".into(),
                Err(e) => return Some(unavailable("sending a verification link failed", &e)),
            }
        }
    };
    Some(super::account::render(svc, live, Some(&notice), now).await)
}

/// `GET /email/verify?token=...`: a button to confirm, if the link is good.
pub async fn show(svc: &SignIn, params: &Params, cookies: &BrowserCookies, now: OffsetDateTime) -> Reply {
    let token = params.one("token").ok().flatten().unwrap_or("");
    match svc.links().check(PURPOSE, token, false, now).await {
        Ok(Some(user)) => match csrf_for(cookies) {
            Ok((csrf, set)) => {
                let email = user.email.unwrap_or_default();
                page(LinkPage::Verify { csrf, token: token.to_owned(), email }, set)
            }
            Err(reply) => reply,
        },
        Ok(None) => dead_link(false),
        Err(e) => unavailable("reading a verification link failed", &e),
    }
}

/// `POST /email/verify` with `token` and `csrf`.
pub async fn confirm(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    if !csrf_ok(cookies, params) {
        return error(ErrorKind::Forbidden, "Form expired", "The form could not be verified. Open the link again.");
    }
    let token = params.one("token").ok().flatten().unwrap_or("");
    let user = match svc.links().check(PURPOSE, token, true, now).await {
        Ok(Some(u)) => u,
        Ok(None) => return dead_link(false),
        Err(e) => return unavailable("using a verification link failed", &e),
    };
    let email = user.email.clone().unwrap_or_default();
    match svc.users.set_email_verified(&user.id, &email, now.unix_timestamp()).await {
        Ok(true) => {}
        Ok(false) => return dead_link(false),
        Err(e) => return unavailable("marking an address verified failed", &e),
    }
    let event = AuditEvent::EmailVerified { user_id: user.id.clone() };
    if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", user.id)), event, now).await {
        return unavailable("recording a verification failed", &e);
    }
    let message = format!("{email} is verified as the address of {}.", user.username);
    page(LinkPage::Done { title: "Address verified", message, ask_again: false }, None)
}
