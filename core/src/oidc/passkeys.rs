//! The passkey ceremonies' JSON endpoints, used by the page script (`passkeys.js`) and by
//! tests. Sign-in (`/login/passkey/begin|finish?flow=…`): at the password step a
//! usernameless sign-in (the passkey names the account, and counts as two factors), at the
//! factor step one of the person's passkeys as the second factor. Registration
//! (`/account/passkeys/register/begin|finish`) on the account page. Each POST carries the
//! form's CSRF token (`csrf`: the flow's or the session's) in a JSON body, so a cross-site
//! page can neither read the options nor post an answer. The ceremony state stays
//! server-side, one-shot (spent before it is checked, and once across instances), for five
//! minutes. Failures are counted against the sign-in limits like wrong passwords.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::flow::{BrowserCookies, load, login_url};
use super::service::SignIn;
use super::session;
use crate::audit::AuditEvent;
use crate::mfa::MfaError;
use crate::mfa::passkey::{CEREMONY_TTL_SECS, PasskeyError};
use crate::oauth::RequestMeta;
use crate::ratelimit::{AttemptKeys, Refusal};
use crate::secret::{ct_eq, sha256_hex};
use crate::store::browser::{PasskeyChallenge, Step};
use crate::store::login_attempts::Outcome;

/// A JSON answer: status and body.
#[derive(Debug)]
pub struct JsonReply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

fn ok(body: Value) -> JsonReply {
    JsonReply { status: 200, body }
}

fn fail(status: u16, error: &str, description: &str) -> JsonReply {
    JsonReply { status, body: json!({ "error": error, "error_description": description }) }
}

fn unavailable(context: &'static str, cause: &dyn std::fmt::Display) -> JsonReply {
    tracing::error!(request_id = %crate::logctx::current(), error = %cause, "{context}");
    fail(503, "temporarily_unavailable", "please try again in a moment")
}

fn from_mfa(e: &MfaError) -> JsonReply {
    match e {
        MfaError::Passkey(PasskeyError::Taken) => fail(409, "already_registered", &e.to_string()),
        MfaError::Passkey(PasskeyError::Unavailable) => fail(404, "unavailable", &e.to_string()),
        MfaError::Passkey(p) => fail(400, "refused", &p.to_string()),
        other => unavailable("a passkey ceremony failed", other),
    }
}

fn csrf_ok(body: &Value, expected: &str) -> bool {
    body["csrf"].as_str().is_some_and(|c| ct_eq(c.as_bytes(), expected.as_bytes()))
}

/// `POST /login/passkey/begin?flow=…`.
pub async fn login_begin(
    svc: &SignIn,
    flow_id: Option<&str>,
    body: &Value,
    cookies: &BrowserCookies,
    now: OffsetDateTime,
) -> JsonReply {
    let Ok((key, mut flow)) = load(svc, flow_id, cookies, now).await else {
        return fail(400, "expired", "this sign-in expired; start again from the application");
    };
    if !csrf_ok(body, &flow.csrf) {
        return fail(403, "csrf", "the request could not be verified");
    }
    if !svc.mfa.passkeys().enabled() {
        return fail(404, "unavailable", "passkeys are not available on this server");
    }
    let (passkeys, discoverable) = match (flow.pending.first(), flow.user_id.as_deref()) {
        (Some(Step::Password), _) => (Vec::new(), true),
        (Some(Step::Factor), Some(user)) => match svc.mfa.factors(user).await {
            Ok(f) if !f.passkeys.is_empty() => (f.passkeys.into_iter().map(|p| p.passkey).collect(), false),
            Ok(_) => return fail(400, "no_passkey", "this account has no passkey"),
            Err(e) => return unavailable("reading factors failed", &e),
        },
        _ => return fail(400, "no_passkey_step", "this sign-in is not at a step a passkey answers"),
    };
    let (options, state) = match svc.mfa.passkeys().begin_authentication(&passkeys, discoverable) {
        Ok(o) => o,
        Err(e) => return from_mfa(&e.into()),
    };
    let t = now.unix_timestamp();
    flow.passkey = Some(Box::new(PasskeyChallenge { state, discoverable, created_at: t }));
    match svc.browser.update_flow(&key, &flow).await {
        Ok(true) => ok(options),
        Ok(false) => fail(400, "expired", "this sign-in expired; start again from the application"),
        Err(e) => unavailable("storing a login flow failed", &e),
    }
}

/// `POST /login/passkey/finish?flow=…`: checks the browser's answer; the page goes on at
/// `redirect`.
pub async fn login_finish(
    svc: &SignIn,
    flow_id: Option<&str>,
    body: &Value,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> JsonReply {
    let expired = || fail(400, "expired", "this passkey request expired; try again");
    let Ok((key, mut flow)) = load(svc, flow_id, cookies, now).await else { return expired() };
    if !csrf_ok(body, &flow.csrf) {
        return fail(403, "csrf", "the request could not be verified");
    }
    // One-shot: spent before it is checked, and once across instances.
    let Some(challenge) = flow.passkey.take() else { return expired() };
    let t = now.unix_timestamp();
    if let Err(e) = svc.browser.update_flow(&key, &flow).await {
        return unavailable("storing a login flow failed", &e);
    }
    let once_key = format!("passkey:{}", sha256_hex(challenge.state.as_bytes()));
    match svc.once.use_once(&once_key, challenge.created_at + CEREMONY_TTL_SECS, t).await {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return unavailable("spending a passkey challenge failed", &e),
    }
    if t - challenge.created_at >= CEREMONY_TTL_SECS {
        return expired();
    }
    let credential = &body["credential"];
    let user_id = if challenge.discoverable {
        match svc.mfa.passkeys().identify(credential) {
            Ok((user, _)) => user,
            Err(e) => return from_mfa(&e.into()),
        }
    } else {
        match flow.user_id.clone() {
            Some(u) => u,
            None => return expired(),
        }
    };
    let user = match svc.users.get_user(&user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return fail(400, "refused", &PasskeyError::Refused.to_string()),
        Err(e) => return unavailable("user lookup failed", &e),
    };
    let client_id = flow.request.client_id.clone();
    let keys = AttemptKeys { ip: meta.ip, account: format!("u:{user_id}"), flow: format!("f:{}", hex::encode(key)) };
    let attempt = match svc.limiter.begin_login(&*svc.attempts, keys, t).await {
        Ok(Ok(a)) => a,
        Ok(Err(Refusal::FlowExhausted)) => return fail(429, "too_many_attempts", "start again from the application"),
        Ok(Err(_)) => return fail(429, "too_many_attempts", "too many failed attempts; wait a few minutes"),
        Err(e) => return unavailable("counting a sign-in attempt failed", &e),
    };
    let used = svc.mfa.use_passkey(&user_id, &challenge.state, challenge.discoverable, credential, t).await;
    let outcome = match &used {
        Ok(()) => Outcome::Success,
        Err(MfaError::Passkey(_)) => Outcome::Failure,
        Err(_) => Outcome::Cancelled,
    };
    if let Err(e) = svc.limiter.settle_login(&*svc.attempts, attempt, outcome, t).await {
        return unavailable("settling a sign-in attempt failed", &e);
    }
    let actor = meta.actor(format!("user:{user_id}"));
    if let Err(e) = used {
        if matches!(e, MfaError::Passkey(_)) {
            svc.metrics.login("failure");
            let event = AuditEvent::MfaFailed { user_id: user_id.clone(), client_id, reason: "bad_passkey".to_owned() };
            svc.audit.emit(actor, event, now);
        }
        return from_mfa(&e);
    }
    let passed =
        AuditEvent::MfaPassed { user_id: user_id.clone(), client_id: client_id.clone(), method: "passkey".into() };
    svc.audit.emit(actor.clone(), passed, now);
    if challenge.discoverable {
        // A passkey with user verification: something the person has, and knows or is.
        flow.user_id = Some(user_id.clone());
        flow.auth_time = Some(t);
        flow.amr = vec!["pop".to_owned(), "user".to_owned(), "mfa".to_owned()];
        flow.pending.remove(0);
        svc.metrics.login("success");
        let event = AuditEvent::LoginSucceeded {
            user_id: user_id.clone(),
            username: user.username.clone(),
            client_id,
            amr: flow.amr.clone(),
        };
        svc.audit.emit(actor, event, now);
        super::steps::schedule(svc, &mut flow);
    } else {
        super::factor::add_methods(&mut flow.amr, &["pop", "mfa"]);
        flow.pending.remove(0);
    }
    match svc.browser.update_flow(&key, &flow).await {
        Ok(true) => ok(json!({ "redirect": login_url(svc, flow_id.unwrap_or_default()) })),
        Ok(false) => expired(),
        Err(e) => unavailable("storing a login flow failed", &e),
    }
}

/// The live session of an account request, checked against the body's CSRF token.
async fn account_session(
    svc: &SignIn,
    body: &Value,
    cookies: &BrowserCookies,
    now: OffsetDateTime,
) -> Result<session::Live, JsonReply> {
    let live = match session::lookup(svc.sessions(), cookies.session.as_deref(), &svc.session_config, now).await {
        Ok(Some(l)) => l,
        Ok(None) => return Err(fail(401, "login_required", "sign in first")),
        Err(e) => return Err(unavailable("session lookup failed", &e)),
    };
    if !csrf_ok(body, &live.record.csrf) {
        return Err(fail(403, "csrf", "the request could not be verified"));
    }
    Ok(live)
}

/// `POST /account/passkeys/register/begin` with `{"csrf", "name", "current_password"?,
/// "current_code"?}`.
pub async fn register_begin(
    svc: &SignIn,
    body: &Value,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> JsonReply {
    let live = match account_session(svc, body, cookies, now).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let field = |k: &str| body[k].as_str().unwrap_or("");
    let typed = super::account_reauth::Typed { password: field("current_password"), code: field("current_code") };
    if let Err(refused) = super::account_reauth::confirm(svc, &live, typed, meta, now).await {
        return match refused {
            Ok(message) => fail(403, "reauthentication_required", message),
            Err(_) => fail(503, "temporarily_unavailable", "please try again in a moment"),
        };
    }
    let name = body["name"].as_str().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Passkey");
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return fail(400, "invalid_name", "a passkey's name has at most 64 characters");
    }
    let display = live.user.email.clone().unwrap_or_else(|| live.user.username.clone());
    match svc.mfa.begin_passkey(&live.user.id, name, &display, now.unix_timestamp()).await {
        Ok(options) => ok(options),
        Err(e) => from_mfa(&e),
    }
}

/// `POST /account/passkeys/register/finish` with `{"csrf", "credential"}`: the recovery
/// codes to show once when the account had none.
pub async fn register_finish(
    svc: &SignIn,
    body: &Value,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> JsonReply {
    let live = match account_session(svc, body, cookies, now).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let codes = match svc.mfa.finish_passkey(&live.user.id, &body["credential"], now.unix_timestamp()).await {
        Ok(c) => c,
        Err(e) => return from_mfa(&e),
    };
    let event = AuditEvent::MfaEnrolled { user_id: live.user.id.clone(), method: "passkey".to_owned() };
    if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", live.user.id)), event, now).await {
        return unavailable("recording an enrolment failed", &e);
    }
    ok(json!({ "recovery_codes": codes.unwrap_or_default(), "redirect": svc.urls.account }))
}
