//! The account page's sessions section: where this person is signed in (browser, address,
//! sign-in time, last use, how they signed in), and signing out one of them or every one but
//! this. A session is named in the form by its `sid` and looked up among the person's own
//! sessions only, so another person's session cannot be ended from here.

use time::OffsetDateTime;

use super::flow::{Reply, unavailable};
use super::service::SignIn;
use super::session;
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;

/// One session as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionView {
    /// Its `sid` (the form's `sid`).
    pub sid: String,
    /// This browser's session.
    pub current: bool,
    /// The browser's `User-Agent`, if it sent one.
    pub device: Option<String>,
    /// The address it signed in from.
    pub ip: Option<String>,
    /// Sign-in time, RFC 3339.
    pub signed_in: String,
    /// Last use, RFC 3339.
    pub last_seen: String,
    /// How the person signed in (RFC 8176 values).
    pub methods: String,
}

/// The person's open sessions, oldest first.
pub(super) async fn view(svc: &SignIn, live: &session::Live, now: OffsetDateTime) -> Result<Vec<SessionView>, Reply> {
    let all = svc
        .browser
        .user_sessions(&live.user.id, now.unix_timestamp())
        .await
        .map_err(|e| unavailable("listing sessions failed", &e))?;
    let idle = i64::try_from(svc.session_config.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let at = super::account::time_of;
    Ok(all
        .into_iter()
        .filter(|(_, s)| now.unix_timestamp() < s.last_seen.saturating_add(idle))
        .map(|(key, s)| SessionView {
            current: key == live.key,
            device: s.user_agent.clone(),
            ip: s.ip.clone(),
            signed_in: at(s.auth_time),
            last_seen: at(s.last_seen),
            methods: s.amr.join(" "),
            sid: s.sid,
        })
        .collect())
}

/// `session_end` (with `sid`) or `sessions_end_others`; `None` for other actions.
pub(super) async fn submit(
    svc: &SignIn,
    live: &session::Live,
    action: &str,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Option<Reply> {
    let sid = match action {
        "session_end" => Some(params.one("sid").ok().flatten().unwrap_or("")),
        "sessions_end_others" => None,
        _ => return None,
    };
    let all = match svc.browser.user_sessions(&live.user.id, now.unix_timestamp()).await {
        Ok(a) => a,
        Err(e) => return Some(unavailable("listing sessions failed", &e)),
    };
    let ending: Vec<_> = all
        .into_iter()
        .filter(|(key, s)| match sid {
            Some(sid) => s.sid == sid,
            None => *key != live.key,
        })
        .collect();
    if sid.is_some() && ending.is_empty() {
        return Some(super::account::render(svc, live, Some("That session has ended already."), now).await);
    }
    let mut ended_this = false;
    for (key, s) in &ending {
        if let Err(e) = svc.browser.delete_session(key).await {
            return Some(unavailable("ending a session failed", &e));
        }
        ended_this |= *key == live.key;
        let event = AuditEvent::SessionEnded {
            user_id: live.user.id.clone(),
            sid: s.sid.clone(),
            reason: "account_page".to_owned(),
        };
        if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", live.user.id)), event, now).await {
            return Some(unavailable("recording a sign-out failed", &e));
        }
    }
    if ended_this {
        // Signed out here too: the page for someone signed out.
        let mut reply = super::flow::redirect(svc.urls.account.clone());
        reply.clear_session = true;
        return Some(reply);
    }
    let n = ending.len();
    let notice = if n == 1 { "Signed out of 1 session.".to_owned() } else { format!("Signed out of {n} sessions.") };
    Some(super::account::render(svc, live, Some(&notice), now).await)
}
