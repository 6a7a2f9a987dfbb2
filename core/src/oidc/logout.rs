//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With an `id_token_hint` for
//! the signed-in user the session ends at once; otherwise the person confirms on a page whose
//! form carries the session's CSRF token. `post_logout_redirect_uri` must be registered for
//! the client named by the hint or `client_id`, else there is no redirect at all.

use time::OffsetDateTime;

use super::flow::{Action, BrowserCookies, ErrorKind, Page, Reply, error, redirect, unavailable};
use super::session;
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::authorize::with_query;
use crate::oauth::params::Params;
use crate::oidc::service::SignIn;
use crate::secret::ct_eq;
use crate::tokens::id_token::read_hint;

/// Parameters carried from the request through the confirmation form.
const CARRIED: &[&str] = &["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

fn bad(message: &'static str) -> Reply {
    error(ErrorKind::BadRequest, "Sign-out failed", message)
}

/// `GET|POST /logout`. `form_post` is true for a POST (the confirmation form).
pub async fn logout(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    form_post: bool,
    now: OffsetDateTime,
) -> Reply {
    let get = |name: &str| params.one(name).map_err(|_| bad("The sign-out request repeats a parameter."));
    let (hint_raw, client_param, target, rp_state) =
        match (get("id_token_hint"), get("client_id"), get("post_logout_redirect_uri"), get("state")) {
            (Ok(h), Ok(c), Ok(t), Ok(s)) => (h, c, t, s),
            (Err(r), ..) | (_, Err(r), ..) | (.., Err(r), _) | (.., Err(r)) => return r,
        };
    let hint = match hint_raw {
        Some(raw) => match read_hint(&svc.keys, &svc.issuer, raw) {
            Some(c) => Some(c),
            None => return bad("The sign-out request carries an ID token this server did not issue."),
        },
        None => None,
    };
    let client_id = match (&hint, client_param) {
        (Some(h), Some(c)) if h.aud != c => return bad("client_id does not match the ID token."),
        (Some(h), _) => Some(h.aud.clone()),
        (None, c) => c.map(str::to_owned),
    };
    let destination = match target {
        None => None,
        Some(uri) => {
            let Some(id) = &client_id else {
                return bad("A redirect after sign-out needs id_token_hint or client_id.");
            };
            let client = match svc.clients.get(id).await {
                Ok(Some(c)) => c,
                Ok(None) => return bad("The application is not registered."),
                Err(e) => return unavailable("client lookup failed", &e),
            };
            if !client.record.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return bad("The address to return to after sign-out is not registered for this application.");
            }
            Some(with_query(uri, &[("state", rp_state)]))
        }
    };
    let live = match session::lookup(svc.sessions(), cookies.session.as_deref(), &svc.session_config, now).await {
        Ok(l) => l,
        Err(e) => return unavailable("session lookup failed", &e),
    };
    let mut reply = match destination {
        Some(to) => redirect(to),
        None => Action::Page(Box::new(Page::LoggedOut)).into(),
    };
    let Some(live) = live else {
        reply.clear_session = cookies.session.is_some();
        return reply;
    };
    let hinted = hint.as_ref().is_some_and(|h| h.sub == live.user.id);
    let confirmed = form_post
        && params.one("csrf").ok().flatten().is_some_and(|c| ct_eq(c.as_bytes(), live.record.csrf.as_bytes()));
    if !hinted && !confirmed {
        let carry = CARRIED
            .iter()
            .filter_map(|k| params.one(k).ok().flatten().map(|v| ((*k).to_owned(), v.to_owned())))
            .collect();
        return Action::Page(Box::new(Page::Logout {
            csrf: live.record.csrf.clone(),
            username: live.user.username.clone(),
            carry,
        }))
        .into();
    }
    if let Err(e) = svc.browser.delete_session(&live.key).await {
        return unavailable("ending a session failed", &e);
    }
    let event = AuditEvent::SessionEnded {
        user_id: live.user.id.clone(),
        sid: live.record.sid.clone(),
        reason: "logout".into(),
    };
    if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", live.user.id)), event, now).await {
        return unavailable("ending a session failed", &e);
    }
    reply.clear_session = true;
    reply
}
