//! Login steps: the domain side of the `login-step-plugin` world. A step's output is
//! untrusted: its form is checked here (bounded sizes, field names that cannot collide with
//! the host's own fields) before the host stores and renders it; its state is opaque bytes
//! of at most [`MAX_STATE`]. A step that fails or errs fails the sign-in (closed).

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use super::bindings::gatehouse::plugin::types::{Kv, PluginError};
use super::bindings::login_step_world::exports::gatehouse::plugin::login_step as wit;
use super::call::guarded;
use super::engine::Runtime;
use super::registry::{Exports, LoadedPlugin};
use super::{FailureKind, SubjectFacts, convert};

/// Largest state a step may keep between calls.
pub const MAX_STATE: usize = 4 * 1024;
/// Most fields in one form.
const MAX_FIELDS: usize = 16;
/// Most options in one select.
const MAX_OPTIONS: usize = 64;
/// Longest text of a title, label, help or value.
const MAX_TEXT: usize = 2 * 1024;
/// Names the host's forms use itself.
const RESERVED_FIELDS: &[&str] = &["flow", "csrf", "action"];

pub use crate::store::login_form::{FieldKind, StepField, StepForm};

/// What a step is called with.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Now.
    pub now: OffsetDateTime,
    /// The browser's address.
    pub remote_ip: Option<IpAddr>,
    /// Its user agent.
    pub user_agent: Option<&'a str>,
    /// The sign-in flow (a digest of its id, stable across calls).
    pub flow_id: &'a str,
    /// The user who passed the password step.
    pub subject: Option<SubjectFacts<'a>>,
    /// The client being signed in to.
    pub client_id: &'a str,
    /// The state the step kept at its last call.
    pub state: Option<&'a [u8]>,
}

/// What a step decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Show this form; keep this state for the submit.
    Show(StepForm, Option<Vec<u8>>),
    /// Passed; the pairs are recorded in the audit log.
    Done(Vec<(String, String)>),
    /// The sign-in fails; the reason is for the log and audit only.
    Fail(String),
}

/// Why a step gave no outcome. All of these fail the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// No loaded login step has this name (removed by a reload).
    #[error("no login step {0}")]
    Unknown(String),
    /// The plugin failed (trap, timeout, limits, bad output).
    #[error("{0}")]
    Failed(FailureKind),
    /// The plugin said it cannot work now.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl StepError {
    /// Metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown",
            Self::Failed(k) => k.label(),
            Self::Unavailable(_) => "unavailable",
        }
    }
}

fn wit_input(i: &StepInput<'_>) -> wit::StepInput {
    wit::StepInput {
        ctx: convert::context(i.request_id, Some(i.client_id), i.remote_ip, i.user_agent, i.now),
        flow_id: i.flow_id.to_owned(),
        subject: i.subject.as_ref().map(convert::subject),
        client_id: i.client_id.to_owned(),
        state: i.state.map(<[u8]>::to_vec),
    }
}

/// Calls `start` (no values) or `submit` (the form's values) of the step `p`.
pub(crate) async fn call(
    rt: &Runtime,
    p: &Arc<LoadedPlugin>,
    input: &StepInput<'_>,
    values: Option<&[(String, String)]>,
) -> Result<StepOutcome, StepError> {
    let Exports::LoginStep(pre) = &p.exports else { return Err(StepError::Unknown(p.config.name.clone())) };
    let wit_in = wit_input(input);
    let values: Option<Vec<Kv>> =
        values.map(|v| v.iter().map(|(k, v)| Kv { key: k.clone(), value: v.clone() }).collect());
    let result = guarded(rt, p, crate::audit::unix_ms(input.now), |mut store| async move {
        let r = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let step = instance.gatehouse_plugin_login_step();
            match &values {
                None => step.call_start(&mut store, &wit_in).await,
                Some(v) => step.call_submit(&mut store, &wit_in, v).await,
            }
        }
        .await;
        (store, r)
    })
    .await;
    let answer = match result {
        Ok(a) => {
            p.breaker.success();
            a
        }
        Err(kind) => {
            if !matches!(kind, FailureKind::Busy | FailureKind::BreakerOpen) && p.breaker.failure() {
                tracing::warn!(plugin = %p.config.name, "circuit breaker opened after repeated plugin failures");
            }
            return Err(StepError::Failed(kind));
        }
    };
    match answer {
        Ok(wit::StepResult::Show((form, state))) => {
            if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
                return Err(bad(format!("state is over {MAX_STATE} bytes")));
            }
            Ok(StepOutcome::Show(check_form(form).map_err(bad)?, state))
        }
        Ok(wit::StepResult::Done(pairs)) => Ok(StepOutcome::Done(
            pairs.into_iter().take(16).map(|kv| (clip(kv.key, 64), clip(kv.value, 256))).collect(),
        )),
        Ok(wit::StepResult::Fail(reason)) => Ok(StepOutcome::Fail(clip(reason, 512))),
        Err(PluginError::Unavailable(m)) => Err(StepError::Unavailable(clip(m, 512))),
        Err(PluginError::Invalid(m) | PluginError::Internal(m)) => {
            Err(StepError::Failed(FailureKind::Trap(format!("plugin error: {}", clip(m, 512)))))
        }
    }
}

fn bad(why: String) -> StepError {
    StepError::Failed(FailureKind::BadOutput(why))
}

/// `s` cut to at most `max` bytes on a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn text(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT { Err(format!("{what} is over {MAX_TEXT} bytes")) } else { Ok(()) }
}

/// Checks a form from a plugin and turns it into the domain type.
fn check_form(f: wit::Form) -> Result<StepForm, String> {
    text("title", &f.title)?;
    text("submit-label", &f.submit_label)?;
    for t in [&f.description, &f.error].into_iter().flatten() {
        text("description or error", t)?;
    }
    if f.title.trim().is_empty() || f.submit_label.trim().is_empty() {
        return Err("title and submit-label must not be empty".into());
    }
    if f.fields.len() > MAX_FIELDS {
        return Err(format!("more than {MAX_FIELDS} fields"));
    }
    let mut names = std::collections::HashSet::new();
    let mut fields = Vec::with_capacity(f.fields.len());
    for field in f.fields {
        let name_ok = !field.name.is_empty()
            && field.name.len() <= 64
            && field.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !RESERVED_FIELDS.contains(&field.name.as_str());
        if !name_ok {
            return Err(format!(
                "field name `{}` must be 1-64 characters of A-Z, a-z, 0-9, _ and -, and not flow, csrf or action",
                clip(field.name, 64)
            ));
        }
        if !names.insert(field.name.clone()) {
            return Err(format!("field name `{}` is used twice", field.name));
        }
        text("a label", &field.label)?;
        for t in [&field.value, &field.help].into_iter().flatten() {
            text("a value or help text", t)?;
        }
        let kind = match field.kind {
            wit::FieldKind::Text => FieldKind::Text,
            wit::FieldKind::Password => FieldKind::Password,
            wit::FieldKind::Email => FieldKind::Email,
            wit::FieldKind::Number => FieldKind::Number,
            wit::FieldKind::Checkbox => FieldKind::Checkbox,
            wit::FieldKind::Hidden => FieldKind::Hidden,
            wit::FieldKind::Select(options) => {
                if options.is_empty() || options.len() > MAX_OPTIONS {
                    return Err(format!("select `{}` needs 1 to {MAX_OPTIONS} options", field.name));
                }
                for o in &options {
                    text("an option", &o.key)?;
                    text("an option", &o.value)?;
                }
                FieldKind::Select(options.into_iter().map(|kv| (kv.key, kv.value)).collect())
            }
        };
        fields.push(StepField {
            name: field.name,
            label: field.label,
            kind,
            required: field.required,
            value: field.value,
            help: field.help,
        });
    }
    Ok(StepForm { title: f.title, description: f.description, fields, submit_label: f.submit_label, error: f.error })
}

/// Checks a submitted form against the form the step asked for.
pub trait SubmittedValues {
    /// The values of the fields, checked against the form (required, options, numbers).
    fn values(&self, get: impl Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, String>;
}

impl SubmittedValues for StepForm {
    /// The values of a submitted form, in field order, checked against the fields: a
    /// checkbox is `true` or `false`, a select one of its options, a number a number, and
    /// required fields filled in. `Err` is a message for the person.
    fn values(&self, get: impl Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            let raw = get(&f.name).unwrap_or_default();
            if raw.len() > MAX_TEXT {
                return Err(format!("“{}” is too long.", f.label));
            }
            let value = match &f.kind {
                FieldKind::Checkbox => if raw == "true" { "true" } else { "false" }.to_owned(),
                _ => raw.trim().to_owned(),
            };
            let missing = value.is_empty() || (f.kind == FieldKind::Checkbox && value == "false");
            if f.required && missing {
                return Err(match f.kind {
                    FieldKind::Checkbox => format!("Please tick “{}”.", f.label),
                    _ => format!("Please fill in “{}”.", f.label),
                });
            }
            match &f.kind {
                FieldKind::Select(options) if !value.is_empty() && !options.iter().any(|(v, _)| *v == value) => {
                    return Err(format!("Please choose one of the options for “{}”.", f.label));
                }
                FieldKind::Number if !value.is_empty() && value.parse::<f64>().is_err() => {
                    return Err(format!("“{}” must be a number.", f.label));
                }
                FieldKind::Email if !value.is_empty() && !value.contains('@') => {
                    return Err(format!("“{}” must be an email address.", f.label));
                }
                _ => {}
            }
            out.push((f.name.clone(), value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: wit::FieldKind, required: bool) -> wit::Field {
        wit::Field { name: name.into(), label: name.into(), kind, required, value: None, help: None }
    }

    fn form(fields: Vec<wit::Field>) -> wit::Form {
        wit::Form { title: "T".into(), description: None, fields, submit_label: "Go".into(), error: None }
    }

    #[test]
    fn forms_with_host_names_or_duplicates_are_refused() {
        for name in ["csrf", "flow", "action", "", "a b", "<x>"] {
            assert!(check_form(form(vec![field(name, wit::FieldKind::Text, false)])).is_err(), "{name}");
        }
        let twice = form(vec![field("a", wit::FieldKind::Text, false), field("a", wit::FieldKind::Email, false)]);
        assert!(check_form(twice).is_err());
        let many = form((0..17).map(|i| field(&format!("f{i}"), wit::FieldKind::Text, false)).collect());
        assert!(check_form(many).is_err());
        assert!(check_form(form(vec![field("s", wit::FieldKind::Select(vec![]), false)])).is_err());
    }

    #[test]
    fn submitted_values_are_checked_against_the_form() {
        let options = vec![Kv { key: "a".into(), value: "A".into() }];
        let f = check_form(form(vec![
            field("ok", wit::FieldKind::Checkbox, true),
            field("pick", wit::FieldKind::Select(options), false),
            field("n", wit::FieldKind::Number, false),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert!(f.values(with(&[])).unwrap_err().contains("tick"));
        assert!(f.values(with(&[("ok", "true"), ("pick", "b")])).unwrap_err().contains("options"));
        assert!(f.values(with(&[("ok", "true"), ("n", "x")])).unwrap_err().contains("number"));
        let v = f.values(with(&[("ok", "true"), ("pick", "a"), ("n", " 3 "), ("other", "x")]));
        assert_eq!(v, Ok(vec![("ok".into(), "true".into()), ("pick".into(), "a".into()), ("n".into(), "3".into())]));
    }
}
