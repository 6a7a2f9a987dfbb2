//! The second-factor steps of a sign-in. After the first factor (a password, or a
//! federated provider) [`schedule`] asks for a second one when `[mfa] require` or the
//! client's `require_mfa` says so: [`Step::Factor`] takes a code from the authenticator app
//! or a recovery code (form field `code`), counted against the sign-in limits like a
//! password; [`Step::FactorEnrol`] (`require = "always"`, nothing enrolled) enrols an
//! authenticator on the spot and then shows the new recovery codes once
//! ([`Step::RecoveryCodes`]). A passed step adds `otp` and `mfa` to the sign-in's `amr`.

use time::OffsetDateTime;

use super::flow::{Action, Page, Reply, unavailable};
use super::steps;
use crate::audit::AuditEvent;
use crate::config::MfaRequire;
use crate::mfa::Checked;
use crate::oauth::RequestMeta;
use crate::oauth::client::Client;
use crate::oauth::params::Params;
use crate::oidc::service::SignIn;
use crate::ratelimit::AttemptKeys;
use crate::store::browser::{Digest, FlowRecord, Step};
use crate::store::login_attempts::Outcome;

/// The message for a refused code.
pub const WRONG_CODE: &str = "That code is not right, or was used already. Try the next one your app shows.";

/// Whether a sign-in for a client needing (`client_requires`) by a person with (`enrolled`)
/// factors needs a second factor.
pub fn required(require: MfaRequire, client_requires: bool, enrolled: bool) -> bool {
    client_requires
        || match require {
            MfaRequire::Never => false,
            MfaRequire::Enrolled => enrolled,
            MfaRequire::Always => true,
        }
}

/// Whether an `amr` already has two factors.
pub fn has_mfa(amr: &[String]) -> bool {
    amr.iter().any(|m| m == "mfa")
}

/// Adds `methods` (RFC 8176 values) to a sign-in's `amr`, each once.
pub(super) fn add_methods<S: AsRef<str>>(amr: &mut Vec<String>, methods: &[S]) {
    for m in methods {
        if !amr.iter().any(|a| a == m.as_ref()) {
            amr.push(m.as_ref().to_owned());
        }
    }
}

/// The methods a passed code step adds.
pub(super) const OTP: [&str; 2] = ["otp", "mfa"];

/// After the first factor: the login-step plugins, preceded by the factor step when this
/// sign-in needs one.
pub(super) async fn schedule(svc: &SignIn, flow: &mut FlowRecord, client_requires: bool) -> Result<(), Reply> {
    steps::schedule(svc, flow);
    let Some(user_id) = flow.user_id.as_deref() else { return Ok(()) };
    if has_mfa(&flow.amr) {
        return Ok(());
    }
    let factors = svc.mfa.factors(user_id).await.map_err(|e| unavailable("reading factors failed", &e))?;
    if required(svc.mfa.require(), client_requires, factors.enrolled()) {
        flow.pending.insert(0, if factors.enrolled() { Step::Factor } else { Step::FactorEnrol });
    }
    Ok(())
}

/// Whether a one-factor session of `user_id` falls short of a sign-in that `needs` two
/// (the client or the request asks) or whose person has a factor to use.
pub(super) async fn session_short(svc: &SignIn, user_id: &str, needs: bool) -> Result<bool, crate::store::StoreError> {
    if needs {
        return Ok(true);
    }
    if svc.mfa.require() == MfaRequire::Never {
        return Ok(false);
    }
    let factors = svc.mfa.factors(user_id).await?;
    Ok(required(svc.mfa.require(), false, factors.enrolled()))
}

/// The step that gives `user_id` a second factor: the code step, or enrolment.
pub(super) async fn step_for(svc: &SignIn, user_id: &str) -> Result<Step, crate::store::StoreError> {
    Ok(if svc.mfa.factors(user_id).await?.enrolled() { Step::Factor } else { Step::FactorEnrol })
}

/// The factor step's page: the code field, and a passkey button when the person has one.
pub(super) async fn page(
    svc: &SignIn,
    flow_id: &str,
    flow: &FlowRecord,
    client_name: String,
    error: Option<&str>,
) -> Reply {
    let Some(user_id) = flow.user_id.as_deref() else { return super::flow::expired() };
    let factors = match svc.mfa.factors(user_id).await {
        Ok(f) => f,
        Err(e) => return unavailable("reading factors failed", &e),
    };
    Action::Page(Box::new(Page::Factor {
        flow: flow_id.to_owned(),
        csrf: flow.csrf.clone(),
        client_name,
        error: error.map(str::to_owned),
        totp: factors.totp.is_some(),
        passkey: !factors.passkeys.is_empty() && svc.mfa.passkeys().enabled(),
        codes: !flow.passkey_only,
    }))
    .into()
}

/// The enrolment step's page (the pending authenticator is made, or kept, here).
pub(super) async fn enrol_page(
    svc: &SignIn,
    flow_id: &str,
    flow: &FlowRecord,
    client_name: String,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Reply {
    let Some(user_id) = flow.user_id.as_deref() else { return super::flow::expired() };
    let account = match svc.users.get_user(user_id).await {
        Ok(Some(u)) => u.email.unwrap_or(u.username),
        Ok(None) => return super::flow::expired(),
        Err(e) => return unavailable("user lookup failed", &e),
    };
    match svc.mfa.begin_totp(user_id, &account, now.unix_timestamp()).await {
        Ok(enrolment) => Action::Page(Box::new(Page::FactorEnrol {
            flow: flow_id.to_owned(),
            csrf: flow.csrf.clone(),
            client_name,
            enrolment: Box::new(enrolment),
            error: error.map(str::to_owned),
        }))
        .into(),
        Err(e) => unavailable("starting an enrolment failed", &e),
    }
}

/// What a submitted code came to.
pub(super) enum Submitted {
    /// Passed: the flow moved on.
    Passed,
    /// Refused: show the step again with this message.
    Again(&'static str),
    /// The sign-in cannot go on now.
    Reply(Reply),
}

/// Checks the `code` of a factor step, counted against the sign-in limits.
pub(super) async fn submit(
    svc: &SignIn,
    params: &Params,
    client: &Client,
    key: &Digest,
    flow: &mut FlowRecord,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Submitted {
    let Some(user_id) = flow.user_id.clone() else { return Submitted::Reply(super::flow::expired()) };
    let code = params.one("code").ok().flatten().unwrap_or("").trim();
    if flow.passkey_only {
        return Submitted::Again("This application asks for your passkey: use it to go on.");
    }
    if code.is_empty() {
        return Submitted::Again("Enter the code from your authenticator app, or a recovery code.");
    }
    let keys = AttemptKeys { ip: meta.ip, account: format!("u:{user_id}"), flow: format!("f:{}", hex::encode(key)) };
    let t = now.unix_timestamp();
    let actor = || meta.actor(format!("user:{user_id}"));
    let failed = |reason: &str| AuditEvent::MfaFailed {
        user_id: user_id.clone(),
        client_id: client.id().to_owned(),
        reason: reason.to_owned(),
    };
    let attempt = match svc.limiter.begin_login(&*svc.attempts, keys, t).await {
        Ok(Ok(a)) => a,
        Ok(Err(refusal)) => {
            svc.metrics.rate_limited("failed_login");
            svc.audit.emit(actor(), failed(super::password::refusal_reason(refusal)), now);
            return Submitted::Reply(super::password::refusal_page(refusal));
        }
        Err(e) => return Submitted::Reply(unavailable("counting a sign-in attempt failed", &e)),
    };
    let checked = svc.mfa.verify(&user_id, code, t).await;
    let outcome = match &checked {
        Ok(Checked::Wrong) => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Cancelled,
    };
    let locked = match svc.limiter.settle_login(&*svc.attempts, attempt, outcome, t).await {
        Ok(l) => l,
        Err(e) => return Submitted::Reply(unavailable("settling a sign-in attempt failed", &e)),
    };
    let method = match checked {
        Err(e) => return Submitted::Reply(unavailable("checking a code failed", &e)),
        Ok(Checked::Wrong) => {
            svc.metrics.login("failure");
            if locked.is_some() {
                let event =
                    AuditEvent::UserLocked { user_id: Some(user_id.clone()), client_id: client.id().to_owned() };
                svc.audit.emit(actor(), event, now);
            }
            svc.audit.emit(actor(), failed("bad_code"), now);
            tracing::info!(request_id = %meta.request_id, client_id = %client.id(), "a second-factor code was refused");
            return Submitted::Again(WRONG_CODE);
        }
        Ok(Checked::Totp) => "totp",
        Ok(Checked::Recovery { remaining }) => {
            let event = AuditEvent::RecoveryCodeUsed { user_id: user_id.clone(), remaining: remaining as u64 };
            svc.audit.emit(actor(), event, now);
            "recovery_code"
        }
    };
    let event = AuditEvent::MfaPassed {
        user_id: user_id.clone(),
        client_id: client.id().to_owned(),
        method: method.to_owned(),
    };
    svc.audit.emit(actor(), event, now);
    add_methods(&mut flow.amr, &OTP);
    flow.pending.remove(0);
    Submitted::Passed
}

/// Confirms the authenticator being enrolled during sign-in with its first code; the new
/// recovery codes to show once, or the message to show with the enrolment again.
pub(super) async fn submit_enrolment(
    svc: &SignIn,
    params: &Params,
    client: &Client,
    flow: &mut FlowRecord,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<Vec<String>, Result<&'static str, Reply>> {
    let Some(user_id) = flow.user_id.clone() else { return Err(Err(super::flow::expired())) };
    let code = params.one("code").ok().flatten().unwrap_or("");
    let codes = match svc.mfa.confirm_totp(&user_id, code, now.unix_timestamp()).await {
        Ok(Some(codes)) => codes,
        Ok(None) => {
            return Err(Ok("That code is not right. Check the app shows this account and try its current code."));
        }
        Err(e) => return Err(Err(unavailable("confirming an enrolment failed", &e))),
    };
    let actor = meta.actor(format!("user:{user_id}"));
    let event = AuditEvent::MfaEnrolled { user_id: user_id.clone(), method: "totp".to_owned() };
    if let Err(e) = svc.audit.record(actor.clone(), event, now).await {
        return Err(Err(unavailable("recording an enrolment failed", &e)));
    }
    let passed = AuditEvent::MfaPassed { user_id, client_id: client.id().to_owned(), method: "totp".to_owned() };
    svc.audit.emit(actor, passed, now);
    add_methods(&mut flow.amr, &OTP);
    flow.pending[0] = Step::RecoveryCodes;
    Ok(codes)
}
