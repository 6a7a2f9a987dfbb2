//! A login step that asks each user once to accept the current terms of service. The
//! acceptance is kept in the plugin's key-value store per user and terms version, so a new
//! `version` asks everyone again; a user who declines does not get in.

use gatehouse_plugin::kv;
use gatehouse_plugin::login_step::{Field, FieldKind, Form, Kv, LoginStep, PluginError, StepInput, StepResult, value};

struct TermsOfService;

/// How long an acceptance is remembered (the store's maximum: accept again after that).
const REMEMBER_SECS: u32 = 0;

fn version() -> Result<String, PluginError> {
    gatehouse_plugin::config::require("version").map_err(PluginError::Invalid)
}

fn key(input: &StepInput, version: &str) -> Result<String, PluginError> {
    let user = input.subject.as_ref().ok_or_else(|| PluginError::Invalid("no user in the sign-in".into()))?;
    Ok(format!("accepted/{version}/{}", user.id))
}

fn form(version: &str) -> Form {
    let text = gatehouse_plugin::config::get("text")
        .unwrap_or_else(|| "Please read and accept the terms of service to continue.".into());
    let mut accept =
        Field::new("accept", format!("I accept the terms of service (version {version})"), FieldKind::Checkbox)
            .required();
    if let Some(url) = gatehouse_plugin::config::get("url") {
        // `[text](url)` is rendered by the host as a link.
        accept = accept.help(format!("Read the [terms of service]({url})."));
    }
    Form::new("Terms of service", "Continue").description(text).field(accept)
}

impl LoginStep for TermsOfService {
    fn start(input: StepInput) -> Result<StepResult, PluginError> {
        let version = version()?;
        if kv::get(&key(&input, &version)?).is_some() {
            return Ok(StepResult::done([("terms_version", version)]));
        }
        Ok(StepResult::show(form(&version), None))
    }

    fn submit(input: StepInput, values: Vec<Kv>) -> Result<StepResult, PluginError> {
        let version = version()?;
        if value(&values, "accept") != Some("true") {
            return Ok(StepResult::show(form(&version).error("You need to accept the terms to continue."), None));
        }
        kv::set(&key(&input, &version)?, b"1", REMEMBER_SECS).map_err(PluginError::Unavailable)?;
        Ok(StepResult::done([("terms_version", version), ("accepted", "true".to_owned())]))
    }
}

gatehouse_plugin::export_login_step!(TermsOfService);
