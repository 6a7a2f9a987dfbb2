//! The account page (`/account`): who is signed in, and the sign-in providers linked to the
//! account, with a way to link another one and to unlink one as long as one way to sign in
//! remains (a password, or another link). Linking runs the federated sign-in in a flow of its
//! own (`link_for`): the callback records the link for the signed-in user and comes back here.
//! The forms carry the session's CSRF token. Two-step verification has its section
//! (`account_security.rs`).

use time::OffsetDateTime;

use super::flow::{Action, BrowserCookies, ErrorKind, Page, Reply, error, redirect, unavailable};
use super::service::SignIn;
use super::session;
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;
use crate::secret::{ct_eq, random_token, sha256};
use crate::store::browser::FlowRecord;

/// A linked provider as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// The connector's display name (its id when it is no longer loaded).
    pub provider: String,
    /// Issuer (hidden field of the unlink form).
    pub issuer: String,
    /// Subject (hidden field of the unlink form).
    pub subject: String,
    /// When it was linked, RFC 3339.
    pub linked_at: String,
    /// Whether it may be unlinked (another way to sign in remains).
    pub removable: bool,
}

/// What the account page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPage {
    /// The session's CSRF token.
    pub csrf: String,
    /// Username.
    pub username: String,
    /// Email, if any.
    pub email: Option<String>,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Linked providers.
    pub links: Vec<LinkView>,
    /// Loaded connectors not linked yet: `(id, display name)`.
    pub available: Vec<(String, String)>,
    /// A message above the lists.
    pub notice: Option<String>,
    /// Two-step verification.
    pub security: super::account_security::SecurityView,
    /// Where the person is signed in.
    pub sessions: Vec<super::account_sessions::SessionView>,
}

fn not_signed_in() -> Reply {
    error(
        ErrorKind::Forbidden,
        "Not signed in",
        "Sign in through an application first; then this page shows your account.",
    )
}

/// A unix time in seconds as the account page shows it (RFC 3339).
pub(super) fn time_of(t: i64) -> String {
    crate::audit::format_time_ms(t.saturating_mul(1000))
}

/// `GET /account`.
pub async fn show(svc: &SignIn, cookies: &BrowserCookies, now: OffsetDateTime) -> Reply {
    match session::lookup(svc.sessions(), cookies.session.as_deref(), &svc.session_config, now).await {
        Ok(Some(live)) => render(svc, &live, None, now).await,
        Ok(None) => not_signed_in(),
        Err(e) => unavailable("session lookup failed", &e),
    }
}

/// The page of `live`'s user, with `notice` above the lists.
pub(super) async fn render(svc: &SignIn, live: &session::Live, notice: Option<&str>, now: OffsetDateTime) -> Reply {
    let security = match super::account_security::view(svc, live, now).await {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let sessions = match super::account_sessions::view(svc, live, now).await {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let links = match svc.links.user_links(&live.user.id).await {
        Ok(l) => l,
        Err(e) => return unavailable("reading links failed", &e),
    };
    let connectors = svc.plugins.connectors();
    let has_password = svc.password_login && !live.user.password_hash.is_empty();
    let removable = has_password || links.len() > 1;
    let name_of =
        |id: &str| connectors.iter().find(|c| c.id == id).map_or_else(|| id.to_owned(), |c| c.display_name.clone());
    let views = links
        .iter()
        .map(|l| LinkView {
            provider: name_of(&l.connector_id),
            issuer: l.issuer.clone(),
            subject: l.subject.clone(),
            linked_at: time_of(l.linked_at),
            removable,
        })
        .collect();
    let available = connectors
        .iter()
        .filter(|c| !links.iter().any(|l| l.connector_id == c.id))
        .map(|c| (c.id.clone(), c.display_name.clone()))
        .collect();
    Action::Page(Box::new(Page::Account(Box::new(AccountPage {
        csrf: live.record.csrf.clone(),
        username: live.user.username.clone(),
        email: live.user.email.clone(),
        email_verified: live.user.email_verified,
        links: views,
        available,
        notice: notice.map(str::to_owned),
        security,
        sessions,
    }))))
    .into()
}

/// `POST /account`: `action=unlink` (with `issuer`, `subject`) or `action=link` (with
/// `connector`), and the session's `csrf`.
pub async fn submit(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let live = match session::lookup(svc.sessions(), cookies.session.as_deref(), &svc.session_config, now).await {
        Ok(Some(l)) => l,
        Ok(None) => return not_signed_in(),
        Err(e) => return unavailable("session lookup failed", &e),
    };
    let csrf_ok = params.one("csrf").ok().flatten().is_some_and(|c| ct_eq(c.as_bytes(), live.record.csrf.as_bytes()));
    if !csrf_ok {
        return error(
            ErrorKind::Forbidden,
            "Form expired",
            "The form could not be verified. Open the account page again.",
        );
    }
    let field = |k: &str| params.one(k).ok().flatten().unwrap_or_default();
    match field("action") {
        "unlink" => unlink(svc, &live, field("issuer"), field("subject"), meta, now).await,
        "link" => start_link(svc, &live, field("connector"), cookies, meta, now).await,
        "cancel" => redirect(svc.urls.account.clone()),
        other => match super::account_sessions::submit(svc, &live, other, params, meta, now).await {
            Some(reply) => reply,
            None => match super::account_security::submit(svc, &live, other, params, meta, now).await {
                Some(reply) => reply,
                None => match super::email_verify::submit(svc, &live, other, meta, now).await {
                    Some(reply) => reply,
                    None => {
                        error(ErrorKind::BadRequest, "Invalid request", "The form asked for nothing this page does.")
                    }
                },
            },
        },
    }
}

async fn unlink(
    svc: &SignIn,
    live: &session::Live,
    issuer: &str,
    subject: &str,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let links = match svc.links.user_links(&live.user.id).await {
        Ok(l) => l,
        Err(e) => return unavailable("reading links failed", &e),
    };
    let Some(link) = links.iter().find(|l| l.issuer == issuer && l.subject == subject) else {
        return render(svc, live, Some("That provider is not linked to this account."), now).await;
    };
    let has_password = svc.password_login && !live.user.password_hash.is_empty();
    if !has_password && links.len() <= 1 {
        return render(svc, live, Some("This is your only way to sign in: link another provider first."), now).await;
    }
    match svc.links.remove_link(&live.user.id, issuer, subject).await {
        Ok(_) => {}
        Err(e) => return unavailable("removing a link failed", &e),
    }
    let event = AuditEvent::IdentityUnlinked {
        connector_id: link.connector_id.clone(),
        issuer: link.issuer.clone(),
        subject: link.subject.clone(),
        user_id: live.user.id.clone(),
    };
    if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", live.user.id)), event, now).await {
        return unavailable("recording an unlink failed", &e);
    }
    redirect(svc.urls.account.clone())
}

/// A flow that links `connector` to the signed-in user, started at once.
async fn start_link(
    svc: &SignIn,
    live: &session::Live,
    connector: &str,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    if svc.plugins.connector_info(connector).is_none() {
        return error(ErrorKind::BadRequest, "Unknown sign-in provider", "This way to sign in is not available.");
    }
    let (Ok(id), Ok(fresh)) = (random_token(), random_token()) else {
        return unavailable("no randomness for a flow", &"random");
    };
    // The flow is bound to this browser like any other (a binding cookie if it has none).
    let (binding, set_binding) = match cookies.binding.clone() {
        Some(b) => (b, None),
        None => (fresh.clone(), Some(fresh)),
    };
    let t = now.unix_timestamp();
    let flow = FlowRecord {
        browser: hex::encode(sha256(binding.as_bytes())),
        link_for: Some(live.user.id.clone()),
        created_at: t,
        expires_at: t.saturating_add(i64::try_from(super::flow::FLOW_TTL.as_secs()).unwrap_or(i64::MAX)),
        ..FlowRecord::default()
    };
    if svc.limiter.flow_started(meta.ip).is_err() {
        return error(
            ErrorKind::TooMany,
            "Too many sign-ins",
            "Too many sign-ins from your network. Wait a minute and try again.",
        );
    }
    if let Err(e) = svc.browser.put_flow(&sha256(id.as_bytes()), &flow).await {
        return unavailable("storing a login flow failed", &e);
    }
    let mut reply = redirect(super::federation::start_url(svc, connector, &id));
    reply.set_binding = set_binding;
    reply
}
