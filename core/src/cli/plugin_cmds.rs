//! `gatehouse plugins check FILE --kind policy` and `gatehouse policy eval --config FILE
//! --input input.json`: plugin authors test a component without a server or a browser.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::clock::system_now;
use crate::config::{Config, PluginKind};
use crate::metrics::{Metrics, flush_histogram};
use crate::plugins::{PluginHost, PolicyRequest, PolicyStage, PolicyVerdict, SubjectFacts, check_component};

/// Validates a component against the contract of `kind` and prints what it needs.
pub(super) fn plugins_check(file: &Path, kind: &str) -> Result<(), String> {
    let kind = PluginKind::parse(kind)
        .ok_or_else(|| format!("--kind: `{kind}` is not one of policy, login-step, notifier, idp-connector"))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = runtime.block_on(check_component(file, kind))?;
    println!("{}: ok, kind {} (gatehouse:plugin@{})", file.display(), kind.as_str(), report.wit);
    println!("sha256 = \"{}\"", report.sha256);
    let (wasi, ours): (Vec<&String>, Vec<&String>) = report.imports.iter().partition(|i| i.starts_with("wasi:"));
    for import in ours {
        println!("imports {import}");
    }
    if !wasi.is_empty() {
        println!(
            "imports {} WASI interfaces (linked with nothing granted: no files, environment or sockets)",
            wasi.len()
        );
    }
    if report.needs_http {
        println!("needs allowed_hosts = [...] (it imports http)");
    }
    if report.needs_secrets {
        println!("needs secrets = [...] (it imports secrets)");
    }
    Ok(())
}

/// A policy input as JSON (every field but `client_id` optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalInput {
    #[serde(default = "default_stage")]
    stage: String,
    client_id: String,
    #[serde(default)]
    subject: Option<EvalSubject>,
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalSubject {
    id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    amr: Vec<String>,
}

fn default_stage() -> String {
    "token".into()
}

/// Runs the configured policy plugins on one input; prints each decision, its time, and the
/// combined verdict.
pub(super) fn policy_eval(config: &Path, input: &Path) -> Result<(), String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: cannot read: {e}", input.display()))?;
    let input: EvalInput = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", input.display()))?;
    let stage = match input.stage.as_str() {
        "authorize" => PolicyStage::Authorize,
        "token" => PolicyStage::Token,
        "refresh" => PolicyStage::Refresh,
        "userinfo" => PolicyStage::Userinfo,
        other => return Err(format!("stage: `{other}` is not one of authorize, token, refresh, userinfo")),
    };
    if config.plugins.is_empty() {
        return Err(format!("{}: no [[plugins]] are enabled", config.source));
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let metrics = Arc::new(Metrics::new(flush_histogram()));
        // A scratch key-value store: an evaluation leaves nothing behind.
        let kv = crate::store::memory();
        let host = PluginHost::start(&config.plugins, config.plugin_runtime, metrics)
            .await
            .map_err(|e| format!("{}: {e}", config.source))?;
        host.attach_store(kv);
        let attributes: Vec<(&str, String)> = input.attributes.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let req = PolicyRequest {
            stage,
            request_id: "policy-eval",
            client_id: &input.client_id,
            remote_ip: None,
            user_agent: None,
            now: system_now(),
            subject: input.subject.as_ref().map(|s| SubjectFacts {
                id: &s.id,
                username: &s.username,
                email: s.email.as_deref(),
                email_verified: s.email_verified,
                groups: &s.groups,
                amr: &s.amr,
            }),
            grant_type: input.grant_type.as_deref(),
            scopes: &input.scopes,
            audiences: &input.audiences,
            attributes: &attributes,
        };
        let outcome = host.evaluate_policy(&req).await;
        for d in &outcome.decisions {
            let reason = d.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            println!(
                "{} ({}) {}{reason} in {} µs",
                d.plugin.name,
                &d.plugin.sha256[..12],
                d.outcome,
                d.took.as_micros()
            );
        }
        match outcome.verdict {
            Ok(PolicyVerdict::Allow { scopes, claims }) => {
                println!("verdict: allow scopes=[{}] claims={}", scopes.join(" "), serde_json::Value::Object(claims));
            }
            Ok(PolicyVerdict::Deny { reason }) => println!("verdict: deny ({reason})"),
            Ok(PolicyVerdict::StepUp { methods }) => println!("verdict: step-up ({})", methods.join(" ")),
            Err(f) => println!("verdict: error, fail closed ({} {})", f.plugin.name, f.kind),
        }
        Ok(())
    })
}
