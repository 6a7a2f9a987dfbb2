//! A candidate policy component for `gatehouse policy replay`: loaded with its own engine
//! (so a replay on a running server takes no instance slot from the live plugins), a scratch
//! key-value store (a replay writes nothing anywhere), no circuit breaker, and asked about
//! recorded inputs at their recorded time.

use std::sync::Arc;

use super::bindings::exports::gatehouse::plugin::policy as wit;
use super::engine::Runtime;
use super::policy::{Answer, ask};
use super::registry::{self, Exports, LoadedPlugin};
use super::{PolicyRequest, PolicyStage, SubjectFacts};
use crate::audit::PolicyInputRecord;
use crate::config::{PluginConfig, PluginKind, PluginRuntimeConfig};

/// What a candidate decided about one recorded input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateAnswer {
    /// `allow`, `deny`, `step_up` or `error`.
    pub outcome: &'static str,
    /// Deny reason, step-up methods or failure.
    pub reason: Option<String>,
    /// On allow, the scopes it kept.
    pub granted: Option<Vec<String>>,
}

/// A loaded candidate policy.
pub struct Candidate {
    rt: Runtime,
    plugin: LoadedPlugin,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate").field("plugin", &self.plugin).finish()
    }
}

impl Candidate {
    /// Compiles and checks `bytes` as a policy plugin with the settings of `cfg` (its name,
    /// limits, config table and grants); compilation runs off the async workers.
    pub async fn load(bytes: Vec<u8>, cfg: PluginConfig, settings: PluginRuntimeConfig) -> Result<Self, String> {
        if cfg.kind != PluginKind::Policy {
            return Err(format!("plugin `{}` is a {} plugin, not a policy", cfg.name, cfg.kind.as_str()));
        }
        let settings = PluginRuntimeConfig {
            // One call at a time; a failure is the candidate's answer, not a reason to stop.
            pool_instances: 2,
            breaker_threshold: 0,
            ..settings
        };
        let kv: super::KvSlot = Arc::default();
        let _ = kv.set(crate::store::memory());
        let loaded = tokio::task::spawn_blocking(move || {
            let rt = Runtime::new(settings, cfg.limits.memory_limit_bytes, Default::default())?;
            let plugin = registry::load_bytes(&rt, &cfg, &bytes, &|k| std::env::var(k).ok(), Some(&kv))?;
            Ok::<_, String>((rt, plugin))
        })
        .await
        .map_err(|e| format!("loading the candidate failed: {e}"))?;
        let (rt, mut plugin) = loaded?;
        registry::trial(&rt, 0, &mut plugin).await.map_err(|e| e.problem)?;
        if !matches!(plugin.exports, Exports::Policy(_)) {
            return Err("the candidate is not a policy plugin".into());
        }
        Ok(Self { rt, plugin })
    }

    /// SHA-256 of the candidate component, hex.
    pub fn sha256(&self) -> &str {
        &self.plugin.sha256_hex
    }

    /// Asks the candidate about a recorded input, at the record's time.
    pub async fn decide(&self, input: &PolicyInputRecord, request_id: &str) -> CandidateAnswer {
        let (answer, _took) = ask(&self.rt, &self.plugin, &wit_input(input, request_id), input.now_ms, None).await;
        match answer {
            Ok(Answer::Allow(kept, _)) => CandidateAnswer { outcome: "allow", reason: None, granted: Some(kept) },
            Ok(a) => CandidateAnswer { outcome: a.label(), reason: a.reason(), granted: None },
            Err(f) => CandidateAnswer { outcome: "error", reason: Some(f.kind.to_string()), granted: None },
        }
    }
}

/// A recorded input as the WIT `policy-input` the plugin saw (built as for a live call).
fn wit_input(r: &PolicyInputRecord, request_id: &str) -> wit::PolicyInput {
    let stage = match r.stage.as_str() {
        "authorize" => PolicyStage::Authorize,
        "refresh" => PolicyStage::Refresh,
        "userinfo" => PolicyStage::Userinfo,
        _ => PolicyStage::Token,
    };
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let attributes: Vec<(&str, String)> = r.attributes.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let req = PolicyRequest {
        stage,
        request_id,
        client_id: &r.client_id,
        remote_ip: r.remote_ip.as_deref().and_then(|ip| ip.parse().ok()),
        user_agent: r.user_agent.as_deref(),
        now,
        subject: r.subject.as_ref().map(|s| SubjectFacts {
            id: &s.id,
            username: &s.username,
            email: s.email.as_deref(),
            email_verified: s.email_verified,
            groups: &s.groups,
            amr: &s.amr,
        }),
        grant_type: r.grant_type.as_deref(),
        scopes: &r.scopes,
        audiences: &r.audiences,
        attributes: &attributes,
    };
    super::convert::input(&req)
}
