//! Login-step plugins in the browser sign-in: after the password step and before the
//! session exists, each enabled login step runs in config order. The host calls `start`
//! when the step's page is first shown and `submit` with the form's checked values; it keeps
//! the step's form and opaque state in the flow record, renders the form itself (escaped,
//! CSRF-protected like every form of the flow) and fails closed: a step that refuses sends
//! the browser back to the client with `access_denied`, a step that errs shows a retry page.
//! Outcomes go to the audit log, reasons never to the browser.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use super::flow::{ErrorKind, Reply, client_error, error, unavailable};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::client::Client;
use crate::oidc::service::SignIn;
use crate::plugins::{StepError, StepInput, StepOutcome};
use crate::store::browser::{Digest, FlowRecord, Step};

/// What running the current step came to.
pub enum StepRun {
    /// The step is done; the flow moved on.
    Advanced,
    /// The step's form is stored in the flow: show it.
    Show,
    /// The sign-in ends here, or cannot go on now (the flow is already taken or kept).
    Reply(Reply),
}

/// Puts the enabled login steps after the password step.
pub fn schedule(svc: &SignIn, flow: &mut FlowRecord) {
    let steps = svc.plugins.login_steps();
    for _ in &steps {
        flow.pending.insert(0, Step::Plugin);
    }
    flow.steps = steps;
    flow.step_form = None;
    flow.step_state = None;
}

/// Runs the current step: `start` when `values` is `None`, else `submit`.
pub async fn run(
    svc: &SignIn,
    key: &Digest,
    flow: &mut FlowRecord,
    client: &Client,
    meta: &RequestMeta,
    now: OffsetDateTime,
    values: Option<&[(String, String)]>,
) -> StepRun {
    let (Some(name), Some(user_id)) = (flow.steps.first().cloned(), flow.user_id.clone()) else {
        return StepRun::Reply(super::flow::expired());
    };
    let user = match svc.users.get_user(&user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => {
            let _ = svc.browser.take_flow(key).await;
            return StepRun::Reply(client_error(svc, &flow.request, "access_denied", "the account is disabled"));
        }
        Err(e) => return StepRun::Reply(unavailable("user lookup failed", &e)),
    };
    let step_state = flow.step_state.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
    let flow_digest = hex::encode(key);
    let input = StepInput {
        request_id: &meta.request_id,
        now,
        remote_ip: Some(meta.ip),
        user_agent: None,
        flow_id: &flow_digest,
        subject: Some(crate::oauth::grants::user_tokens::subject(&user, &flow.amr)),
        client_id: client.id(),
        state: step_state.as_deref(),
    };
    let actor = meta.actor(format!("user:{user_id}"));
    let failed = |plugin: &str, sha256: Option<String>, outcome: &str, reason: String| AuditEvent::LoginStepFailed {
        plugin: plugin.to_owned(),
        sha256,
        user_id: user_id.clone(),
        client_id: client.id().to_owned(),
        outcome: outcome.to_owned(),
        reason,
    };
    match svc.plugins.login_step(&name, &input, values).await {
        Ok((_, StepOutcome::Show(form, kept))) => {
            flow.step_form = Some(form);
            flow.step_state = kept.map(|s| URL_SAFE_NO_PAD.encode(s));
            StepRun::Show
        }
        Ok((plugin, StepOutcome::Done(recorded))) => {
            let event = AuditEvent::LoginStepPassed {
                plugin: plugin.name,
                sha256: plugin.sha256,
                user_id: user_id.clone(),
                client_id: client.id().to_owned(),
                recorded: recorded.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            };
            svc.audit.emit(actor, event, now);
            flow.pending.remove(0);
            flow.steps.remove(0);
            flow.step_form = None;
            flow.step_state = None;
            StepRun::Advanced
        }
        Ok((plugin, StepOutcome::Fail(reason))) => {
            tracing::info!(request_id = %meta.request_id, plugin = %plugin.name, reason = %reason, "a login step refused the sign-in");
            svc.audit.emit(actor, failed(&plugin.name, Some(plugin.sha256.clone()), "fail", reason), now);
            let _ = svc.browser.take_flow(key).await;
            StepRun::Reply(client_error(svc, &flow.request, "access_denied", "the sign-in was refused"))
        }
        Err(StepError::Unknown(name)) => {
            // Removed by a reload while this sign-in was under way: start again with the
            // steps now enabled.
            svc.audit.emit(actor, failed(&name, None, "error", "the step is no longer enabled".into()), now);
            let _ = svc.browser.take_flow(key).await;
            StepRun::Reply(super::flow::expired())
        }
        Err(e) => {
            tracing::warn!(request_id = %meta.request_id, plugin = %name, error = %e, "a login step failed");
            let sha = plugin_sha(svc, &name);
            svc.audit.emit(actor, failed(&name, sha, "error", e.to_string()), now);
            StepRun::Reply(error(
                ErrorKind::Unavailable,
                "Temporarily unavailable",
                "This sign-in step is not available right now. Please try again in a moment.",
            ))
        }
    }
}

fn plugin_sha(svc: &SignIn, name: &str) -> Option<String> {
    svc.plugins.loaded().into_iter().find(|p| p.name == name).map(|p| p.sha256)
}
