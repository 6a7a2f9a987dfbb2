//! The pages of the login flow's steps: what [`super::login`] shows for the current step
//! (password, login-step plugin, second factor, enrolment, recovery codes, account choice,
//! consent), with the failure message of a refused submission.

use time::OffsetDateTime;

use super::factor;
use super::flow::{Action, Page, Reply, describe_scope, expired};
use crate::oauth::client::Client;
use crate::oidc::service::SignIn;
use crate::store::browser::{FlowRecord, Step};

/// The username of the flow's user, for pages ("" when unknown).
async fn username_of(svc: &SignIn, flow: &FlowRecord) -> String {
    let Some(id) = flow.user_id.as_deref() else { return String::new() };
    svc.users.get_user(id).await.ok().flatten().map(|u| u.username).unwrap_or_default()
}

/// The page of `step` (with `failure`: the message, and the name as typed).
pub(super) async fn page(
    svc: &SignIn,
    step: Step,
    flow_id: &str,
    flow: &FlowRecord,
    client: &Client,
    failure: Option<(&str, &str)>,
    now: OffsetDateTime,
) -> Reply {
    let client_name = client.record.client_name.clone().unwrap_or_else(|| client.id().to_owned());
    match step {
        Step::Factor => factor::page(svc, flow_id, flow, client_name, failure.map(|(m, _)| m)).await,
        Step::FactorEnrol => factor::enrol_page(svc, flow_id, flow, client_name, failure.map(|(m, _)| m), now).await,
        Step::RecoveryCodes => recovery_codes(flow_id, flow, None),
        Step::Plugin => {
            let Some(mut form) = flow.step_form.clone() else { return expired() };
            if let Some((message, _)) = failure {
                form.error = Some(message.to_owned());
            }
            Action::Page(Box::new(Page::Step { flow: flow_id.to_owned(), csrf: flow.csrf.clone(), client_name, form }))
                .into()
        }
        Step::Password => Action::Page(Box::new(Page::Password {
            password: svc.password_login,
            passkeys: svc.mfa.passkeys().enabled(),
            providers: super::federation::providers(svc, flow_id),
            link_provider: flow.pending_link.as_ref().map(|l| l.display_name.clone()),
            flow: flow_id.to_owned(),
            csrf: flow.csrf.clone(),
            client_name,
            // After a failure the name as typed stays in the field (capped like the input).
            username: failure.map_or_else(
                || flow.request.login_hint.clone().unwrap_or_default(),
                |(_, typed)| typed.chars().take(254).collect(),
            ),
            error: failure.map(|(message, _)| message.to_owned()),
        }))
        .into(),
        Step::SelectAccount => Action::Page(Box::new(Page::SelectAccount {
            flow: flow_id.to_owned(),
            csrf: flow.csrf.clone(),
            client_name,
            username: username_of(svc, flow).await,
        }))
        .into(),
        Step::Consent => {
            let username = username_of(svc, flow).await;
            let scopes = flow.request.scopes.iter().map(|s| (s.clone(), describe_scope(s))).collect();
            Action::Page(Box::new(Page::Consent {
                flow: flow_id.to_owned(),
                csrf: flow.csrf.clone(),
                client_name,
                username,
                scopes,
            }))
            .into()
        }
    }
}

/// The recovery codes page of a flow: `codes` once, right after enrolment; later a note
/// that they were shown.
pub(super) fn recovery_codes(flow_id: &str, flow: &FlowRecord, codes: Option<Vec<String>>) -> Reply {
    Action::Page(Box::new(Page::RecoveryCodes { flow: Some(flow_id.to_owned()), csrf: flow.csrf.clone(), codes }))
        .into()
}
