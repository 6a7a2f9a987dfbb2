//! The authorization endpoint and the login pages: `authorize` answers from an existing
//! session (SSO) or starts a flow; `show` renders the flow's current step; `submit` runs a
//! step (password, consent) and either shows the next one or ends the flow with a session
//! and a code.

use std::sync::Arc;

use time::OffsetDateTime;

use super::factor::{self, Submitted};
use super::flow::{
    BrowserCookies, ErrorKind, Issued, Reply, SignedIn, client_error, current_step, error, expired, issue_code, load,
    login_url, redirect, unavailable,
};
use super::login_pages::{page, recovery_codes};
use super::password::{Refused, check_password};
use super::session;
use super::steps::{self, StepRun};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::authorize::{AuthorizeError, error_url, validate};
use crate::oauth::client::Client;
use crate::oauth::params::Params;
use crate::oidc::service::SignIn;
use crate::plugins::SubmittedValues as _;
use crate::secret::{ct_eq, sha256};
use crate::store::browser::{Digest, FlowRecord, Step};

pub use super::password::LOGIN_FAILED;

/// `GET|POST /authorize`.
pub async fn authorize(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let client = match params.one("client_id") {
        Err(_) => return error(ErrorKind::BadRequest, "Invalid request", "The request repeats client_id."),
        Ok(None) => return error(ErrorKind::BadRequest, "Invalid request", "The request has no client_id."),
        Ok(Some(id)) => match svc.clients.get(id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return error(
                    ErrorKind::BadRequest,
                    "Unknown application",
                    "The application that sent you here is not registered.",
                );
            }
            Err(e) => return unavailable("client lookup failed", &e),
        },
    };
    let req = match validate(&client, params, svc.require_pkce) {
        Ok(r) => r,
        Err(AuthorizeError::Page(message)) => return error(ErrorKind::BadRequest, "Invalid request", message),
        Err(AuthorizeError::Redirect(e)) => return redirect(error_url(&e, &svc.issuer)),
    };
    let live = match session::lookup(svc.sessions(), cookies.session.as_deref(), &svc.session_config, now).await {
        Ok(l) => l,
        Err(e) => return unavailable("session lookup failed", &e),
    };
    let t = now.unix_timestamp();
    let fresh = |l: &session::Live| !req.force_login && req.max_age.is_none_or(|m| t - l.record.auth_time <= m);
    // A session with one factor does not satisfy a sign-in that now needs two.
    let live = match live {
        Some(l) if !factor::has_mfa(&l.record.amr) => {
            let needs = client.record.require_mfa || req.mfa_requested;
            match factor::session_short(svc, &l.user.id, needs).await {
                Ok(true) => None,
                Ok(false) => Some(l),
                Err(e) => return unavailable("reading factors failed", &e),
            }
        }
        other => other,
    };
    let Some(mut live) = live.filter(fresh) else {
        if req.no_prompt {
            return client_error(svc, &req, "login_required", "the user is not signed in");
        }
        let flow = FlowRecord { request: req, pending: vec![Step::Password, Step::Consent], ..Default::default() };
        return super::flow::start(svc, flow, cookies, meta.ip, now).await;
    };
    if req.select_account {
        // The person chooses: continue with this session's account, or sign in with another.
        let flow = FlowRecord {
            request: req,
            pending: vec![Step::SelectAccount, Step::Consent],
            user_id: Some(live.user.id.clone()),
            auth_time: Some(live.record.auth_time),
            amr: live.record.amr.clone(),
            session: Some(live.key),
            ..Default::default()
        };
        return super::flow::start(svc, flow, cookies, meta.ip, now).await;
    }
    let consent = match super::flow::needs_consent(svc, &client, &live.user.id, &req).await {
        Ok(c) => c,
        Err(_) => return error(ErrorKind::Unavailable, "Temporarily unavailable", "Please try again in a moment."),
    };
    if !consent {
        match session::touch(&*svc.browser, &mut live, client.id(), now).await {
            Ok(true) => {}
            Ok(false) => return expired(),
            Err(e) => return unavailable("updating a session failed", &e),
        }
        svc.metrics.login("sso");
        let r = &live.record;
        let who = SignedIn {
            user_id: &live.user.id,
            sid: &r.sid,
            auth_time: r.auth_time,
            amr: &r.amr,
            idp: r.idp.as_deref(),
        };
        return match issue_code(svc, &req, &who, Some(meta.ip), now).await {
            Ok(Issued::Redirect(url)) => redirect(url),
            Ok(Issued::StepUp { passkey_only }) => {
                // The policy wants a further factor: a flow that asks for it, on this session.
                let step = match factor::step_for(svc, &live.user.id).await {
                    Ok(s) => s,
                    Err(e) => return unavailable("reading factors failed", &e),
                };
                let flow = FlowRecord {
                    request: req,
                    pending: vec![step],
                    passkey_only,
                    user_id: Some(live.user.id.clone()),
                    auth_time: Some(live.record.auth_time),
                    amr: live.record.amr.clone(),
                    idp: live.record.idp.clone(),
                    session: Some(live.key),
                    ..Default::default()
                };
                super::flow::start(svc, flow, cookies, meta.ip, now).await
            }
            Err(_) => error(ErrorKind::Unavailable, "Temporarily unavailable", "Please try again in a moment."),
        };
    }
    if req.no_prompt {
        return client_error(svc, &req, "consent_required", "the user has not approved this client");
    }
    let flow = FlowRecord {
        request: req,
        pending: vec![Step::Consent],
        user_id: Some(live.user.id.clone()),
        auth_time: Some(live.record.auth_time),
        amr: live.record.amr.clone(),
        session: Some(live.key),
        ..Default::default()
    };
    super::flow::start(svc, flow, cookies, meta.ip, now).await
}

/// `GET /login?flow=...`: the current step's page (a login step's `start` runs here).
pub async fn show(
    svc: &SignIn,
    flow_id: Option<&str>,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let (key, flow) = match load(svc, flow_id, cookies, now).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let Some(client) = flow_client(svc, &flow).await else { return expired() };
    let next = Next { key: &key, flow_id: flow_id.unwrap_or_default(), client: &client, cookies, meta, now };
    proceed(svc, &next, flow, true).await
}

/// What [`proceed`] needs to know about the request.
pub(super) struct Next<'a> {
    pub(super) key: &'a Digest,
    pub(super) flow_id: &'a str,
    pub(super) client: &'a Client,
    pub(super) cookies: &'a BrowserCookies,
    pub(super) meta: &'a RequestMeta,
    pub(super) now: OffsetDateTime,
}

/// Moves a flow on from its current step: starts the session once the sign-in steps are
/// done, then shows the next step (`render`; after a POST: redirects to it) or finishes.
pub(super) async fn proceed(svc: &SignIn, n: &Next<'_>, mut flow: FlowRecord, render: bool) -> Reply {
    let mut new_session = None;
    let mut reply = loop {
        let signed_in =
            !matches!(flow.pending.first(), Some(Step::Password | Step::Plugin | Step::Factor | Step::FactorEnrol));
        if signed_in && flow.session.is_none() && flow.user_id.is_some() {
            match start_session(svc, &mut flow, n).await {
                Ok(s) => new_session = Some(s),
                Err(reply) => break reply,
            }
        }
        let step = match current_step(svc, n.client, &mut flow).await {
            Ok(s) => s,
            Err(_) => break error(ErrorKind::Unavailable, "Temporarily unavailable", "Please try again in a moment."),
        };
        match step {
            None => break finish(svc, n, flow).await,
            Some(Step::Plugin) if render && flow.step_form.is_none() => {
                match steps::run(svc, n.key, &mut flow, n.client, n.meta, n.now, None).await {
                    StepRun::Advanced => {}
                    StepRun::Show => break store_and_show(svc, n, &flow, Step::Plugin).await,
                    StepRun::Reply(r) => break r,
                }
            }
            Some(step) if render => break store_and_show(svc, n, &flow, step).await,
            Some(_) => match svc.browser.update_flow(n.key, &flow).await {
                Ok(true) => break redirect(login_url(svc, n.flow_id)),
                Ok(false) => break expired(),
                Err(e) => break unavailable("storing a login flow failed", &e),
            },
        }
    };
    if new_session.is_some() {
        reply.set_session = new_session;
    }
    reply
}

async fn store_and_show(svc: &SignIn, n: &Next<'_>, flow: &FlowRecord, step: Step) -> Reply {
    // Update only: a flow finished meanwhile (a second tab, another instance) stays finished.
    match svc.browser.update_flow(n.key, flow).await {
        Ok(true) => page(svc, step, n.flow_id, flow, n.client, None, n.now).await,
        Ok(false) => expired(),
        Err(e) => unavailable("storing a login flow failed", &e),
    }
}

/// The session of a finished sign-in (replacing any the browser had: no fixation).
async fn start_session(
    svc: &SignIn,
    flow: &mut FlowRecord,
    n: &Next<'_>,
) -> Result<(String, std::time::Duration), Reply> {
    let (Some(user_id), Some(auth_time)) = (flow.user_id.as_deref(), flow.auth_time) else { return Err(expired()) };
    if let Some(old) = n.cookies.session.as_deref() {
        let _ = svc.browser.delete_session(&sha256(old.as_bytes())).await;
    }
    let cfg = &svc.session_config;
    let methods = (flow.amr.as_slice(), flow.idp.as_deref());
    match session::create(&*svc.browser, user_id, auth_time, methods, (n.client.id(), n.meta), cfg, n.now).await {
        Ok((cookie, _)) => {
            flow.session = Some(sha256(cookie.as_bytes()));
            Ok((cookie, cfg.lifetime))
        }
        Err(e) => Err(unavailable("creating a session failed", &e)),
    }
}

pub(super) async fn flow_client(svc: &SignIn, flow: &FlowRecord) -> Option<Arc<Client>> {
    svc.clients.get(&flow.request.client_id).await.ok().flatten()
}

/// `POST /login`: runs the current step.
pub async fn submit(
    svc: &SignIn,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let flow_id = params.one("flow").ok().flatten();
    let (key, mut flow) = match load(svc, flow_id, cookies, now).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let flow_id = flow_id.unwrap_or_default();
    let csrf_ok = params.one("csrf").ok().flatten().is_some_and(|c| ct_eq(c.as_bytes(), flow.csrf.as_bytes()));
    if !csrf_ok {
        return error(
            ErrorKind::Forbidden,
            "Form expired",
            "The form could not be verified. Go back to the application and start again.",
        );
    }
    let Some(client) = flow_client(svc, &flow).await else { return expired() };
    let action = params.one("action").ok().flatten().unwrap_or("");
    let step = match current_step(svc, &client, &mut flow).await {
        Ok(s) => s,
        Err(_) => return error(ErrorKind::Unavailable, "Temporarily unavailable", "Please try again in a moment."),
    };
    if action == "cancel" || action == "deny" {
        let _ = svc.browser.take_flow(&key).await;
        return client_error(svc, &flow.request, "access_denied", "the user declined");
    }
    match step {
        Some(Step::Password) if !svc.password_login => {
            return page(
                svc,
                Step::Password,
                flow_id,
                &flow,
                &client,
                Some(("Sign in with one of the providers above.", "")),
                now,
            )
            .await;
        }
        Some(Step::Password) => {
            let user = match check_password(svc, params, &client, &key, meta, now).await {
                Ok(u) => u,
                Err(Refused::Credentials) => {
                    let typed = params.one("username").ok().flatten().unwrap_or("");
                    return page(svc, Step::Password, flow_id, &flow, &client, Some((LOGIN_FAILED, typed)), now).await;
                }
                Err(Refused::Reply(reply)) => return reply,
            };
            // Authenticated: the login steps run next; the session starts when they are done.
            flow.user_id = Some(user.id.clone());
            flow.auth_time = Some(now.unix_timestamp());
            flow.amr = vec!["pwd".to_owned()];
            if let Some(pending) = flow.pending_link.take() {
                super::federation::link_after_password(svc, &user, &pending, meta, now).await;
                flow.amr.push("fed".to_owned());
                flow.idp = Some(pending.connector);
            }
            flow.pending.remove(0);
            let needs = client.record.require_mfa || flow.request.mfa_requested;
            if let Err(reply) = factor::schedule(svc, &mut flow, needs).await {
                return reply;
            }
        }
        Some(Step::Factor) => match factor::submit(svc, params, &client, &key, &mut flow, meta, now).await {
            Submitted::Passed => {}
            Submitted::Again(message) => {
                return page(svc, Step::Factor, flow_id, &flow, &client, Some((message, "")), now).await;
            }
            Submitted::Reply(reply) => return reply,
        },
        Some(Step::FactorEnrol) => match factor::submit_enrolment(svc, params, &client, &mut flow, meta, now).await {
            // Shown once, in this answer: the codes are kept nowhere but as digests.
            Ok(codes) => {
                let next = Next { key: &key, flow_id, client: &client, cookies, meta, now };
                return show_codes(svc, &next, flow, codes).await;
            }
            Err(Ok(message)) => {
                return page(svc, Step::FactorEnrol, flow_id, &flow, &client, Some((message, "")), now).await;
            }
            Err(Err(reply)) => return reply,
        },
        Some(Step::RecoveryCodes) => {
            if action != "continue" {
                return page(svc, Step::RecoveryCodes, flow_id, &flow, &client, None, now).await;
            }
            flow.pending.remove(0);
        }
        Some(Step::Plugin) => {
            let Some(form) = flow.step_form.clone() else {
                // Not started yet (the page was never shown): show it.
                let next = Next { key: &key, flow_id, client: &client, cookies, meta, now };
                return proceed(svc, &next, flow, true).await;
            };
            let values = match form.values(|name| params.one(name).ok().flatten().map(str::to_owned)) {
                Ok(v) => v,
                Err(message) => {
                    return page(svc, Step::Plugin, flow_id, &flow, &client, Some((&message, "")), now).await;
                }
            };
            match steps::run(svc, &key, &mut flow, &client, meta, now, Some(&values)).await {
                StepRun::Advanced => {}
                StepRun::Show => {
                    return match svc.browser.update_flow(&key, &flow).await {
                        Ok(true) => page(svc, Step::Plugin, flow_id, &flow, &client, None, now).await,
                        Ok(false) => expired(),
                        Err(e) => unavailable("storing a login flow failed", &e),
                    };
                }
                StepRun::Reply(r) => return r,
            }
        }
        Some(Step::SelectAccount) => match action {
            "continue" => {
                flow.pending.remove(0);
            }
            "switch" => {
                // Another account: a fresh password step; the session it starts replaces this one.
                flow.pending.splice(0..1, [Step::Password]);
                flow.user_id = None;
                flow.auth_time = None;
                flow.amr.clear();
                flow.session = None;
            }
            _ => return page(svc, Step::SelectAccount, flow_id, &flow, &client, None, now).await,
        },
        Some(Step::Consent) => {
            if action != "approve" {
                return page(svc, Step::Consent, flow_id, &flow, &client, None, now).await;
            }
            let Some(user_id) = flow.user_id.clone() else { return expired() };
            if let Err(e) = svc.browser.put_consent(&user_id, client.id(), &flow.request.scopes).await {
                return unavailable("storing consent failed", &e);
            }
            let event = AuditEvent::ConsentGranted {
                user_id,
                client_id: client.id().to_owned(),
                scope: flow.request.scopes.join(" "),
            };
            svc.audit.emit(meta.actor(format!("user:{}", flow.user_id.as_deref().unwrap_or_default())), event, now);
            flow.pending.remove(0);
        }
        None => {}
    }
    let next = Next { key: &key, flow_id, client: &client, cookies, meta, now };
    proceed(svc, &next, flow, false).await
}

/// Stores the flow at its recovery-codes step (starting the session: both factors are done)
/// and shows the codes.
async fn show_codes(svc: &SignIn, n: &Next<'_>, mut flow: FlowRecord, codes: Vec<String>) -> Reply {
    let session = match start_session(svc, &mut flow, n).await {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let mut reply = match svc.browser.update_flow(n.key, &flow).await {
        Ok(true) => recovery_codes(n.flow_id, &flow, Some(codes)),
        Ok(false) => return expired(),
        Err(e) => return unavailable("storing a login flow failed", &e),
    };
    reply.set_session = Some(session);
    reply
}

/// Ends a flow whose steps are all done: the flow's session (made by its password step, or
/// the one the browser had, which gains the factors this flow added) records the client,
/// and the client gets a code; or a policy asks for a second factor, and the flow goes on
/// with that step.
async fn finish(svc: &SignIn, n: &Next<'_>, mut flow: FlowRecord) -> Reply {
    let (key, meta, now) = (n.key, n.meta, n.now);
    // Taking the stored flow makes finishing single-use even if the form is posted twice.
    match svc.browser.take_flow(key).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired(),
        Err(e) => return unavailable("reading a login flow failed", &e),
    }
    let (Some(user_id), Some(session_key)) = (flow.user_id.as_deref(), flow.session) else { return expired() };
    let mut live = match session::by_key(svc.sessions(), session_key, &svc.session_config, now).await {
        Ok(Some(l)) if l.user.id == user_id => l,
        Ok(_) => return expired(),
        Err(e) => return unavailable("session lookup failed", &e),
    };
    // A factor this flow added (a step-up on an existing session) is the session's now.
    factor::add_methods(&mut live.record.amr, &flow.amr);
    match session::touch(&*svc.browser, &mut live, &flow.request.client_id, now).await {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return unavailable("updating a session failed", &e),
    }
    let r = &live.record;
    let who = SignedIn { user_id, sid: &r.sid, auth_time: r.auth_time, amr: &r.amr, idp: r.idp.as_deref() };
    match issue_code(svc, &flow.request, &who, Some(meta.ip), now).await {
        Ok(Issued::Redirect(url)) => redirect(url),
        Ok(Issued::StepUp { passkey_only }) => {
            let step = match factor::step_for(svc, user_id).await {
                Ok(s) => s,
                Err(e) => return unavailable("reading factors failed", &e),
            };
            flow.pending = vec![step];
            flow.passkey_only = passkey_only;
            // Put back (it was taken above): this browser goes on with the factor step.
            match svc.browser.put_flow(key, &flow).await {
                Ok(()) => redirect(login_url(svc, n.flow_id)),
                Err(e) => unavailable("storing a login flow failed", &e),
            }
        }
        Err(_) => error(ErrorKind::Unavailable, "Temporarily unavailable", "Please try again in a moment."),
    }
}
