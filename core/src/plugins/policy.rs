//! Running the policy plugins: each call gets a permit (or fails fast), passes the circuit
//! breaker, a fresh store and instance, and a wall timeout; the outcome is classified for
//! the caller and counted in the metrics. Enforcing plugins run in order and decide; shadow
//! plugins run on the same input afterwards and only report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value};

use super::bindings::exports::gatehouse::plugin::policy as wit;
use super::call::guarded;
use super::engine::Runtime;
use super::registry::{Exports, LoadedPlugin};
use super::{
    Failure, FailureKind, PluginRef, PolicyDecision, PolicyOutcome, PolicyRequest, PolicyVerdict, ShadowDecision,
    convert,
};
use crate::clock::monotonic;
use crate::metrics::Metrics;

/// One plugin's answer.
pub(crate) enum Answer {
    /// Allowed, with the scopes it kept and its claims.
    Allow(Vec<String>, Map<String, Value>),
    /// Denied (the reason is bounded).
    Deny(String),
    /// Asked for these methods first.
    StepUp(Vec<String>),
}

impl Answer {
    /// The outcome's name in audit records and metrics.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Allow(..) => "allow",
            Self::Deny(_) => "deny",
            Self::StepUp(_) => "step_up",
        }
    }

    /// Deny reason or step-up methods.
    pub(crate) fn reason(&self) -> Option<String> {
        match self {
            Self::Allow(..) => None,
            Self::Deny(r) => Some(r.clone()),
            Self::StepUp(m) => Some(m.join(" ")),
        }
    }
}

/// Asks one plugin about `input` (whose requested scopes are `scopes`); keeps its breaker
/// and, when `metrics` is given, counts the call.
pub(crate) async fn ask(
    rt: &Runtime,
    p: &LoadedPlugin,
    input: &wit::PolicyInput,
    now_ms: i64,
    metrics: Option<&Metrics>,
) -> (Result<Answer, Failure>, Duration) {
    let started = monotonic();
    let result = call(rt, p, input, now_ms).await;
    let took = started.elapsed();
    let answer = match result {
        Ok(wit::Decision::Allow(g)) => match convert::grant(g, &input.requested_scopes) {
            Ok((kept, extra)) => {
                p.breaker.success();
                Ok(Answer::Allow(kept, extra))
            }
            Err(why) => {
                p.breaker.failure();
                Err(Failure {
                    plugin: PluginRef::of(p),
                    kind: FailureKind::BadOutput(why),
                    retry_after: Duration::from_secs(1),
                })
            }
        },
        Ok(wit::Decision::Deny(reason)) => {
            p.breaker.success();
            Ok(Answer::Deny(truncate(reason)))
        }
        Ok(wit::Decision::StepUp(methods)) => {
            p.breaker.success();
            Ok(Answer::StepUp(methods))
        }
        Err(kind) => {
            let counts = !matches!(kind, FailureKind::Busy | FailureKind::BreakerOpen);
            if counts && p.breaker.failure() {
                tracing::warn!(plugin = %p.config.name, "circuit breaker opened after repeated plugin failures");
            }
            let retry_after = match kind {
                FailureKind::BreakerOpen => p.breaker.retry_after().max(Duration::from_secs(1)),
                _ => Duration::from_secs(1),
            };
            Err(Failure { plugin: PluginRef::of(p), kind, retry_after })
        }
    };
    if let Some(m) = metrics {
        let label = match &answer {
            Ok(a) => a.label(),
            Err(f) if matches!(f.kind, FailureKind::BadOutput(_)) => "error",
            Err(f) => f.kind.label(),
        };
        m.plugin_call(&p.config.name, "policy", label, took);
    }
    (answer, took)
}

/// Runs every enforcing policy in order; the first deny or step-up ends the run. Scopes
/// narrow from one plugin to the next; claims merge (a later plugin's value wins).
pub(crate) async fn evaluate_all(
    rt: &Runtime,
    policies: &[Arc<LoadedPlugin>],
    req: &PolicyRequest<'_>,
    metrics: &Metrics,
) -> PolicyOutcome {
    let mut scopes = req.scopes.to_vec();
    let mut claims = Map::new();
    let mut decisions = Vec::with_capacity(policies.len());
    let now_ms = crate::audit::unix_ms(req.now);
    for p in policies {
        let narrowed = PolicyRequest { scopes: &scopes, ..*req };
        let input = convert::input(&narrowed);
        let (answer, took) = ask(rt, p, &input, now_ms, Some(metrics)).await;
        let plugin = PluginRef::of(p);
        let scopes_in = std::mem::take(&mut scopes);
        match answer {
            Ok(Answer::Allow(kept, extra)) => {
                claims.extend(extra);
                decisions.push(PolicyDecision {
                    plugin,
                    outcome: "allow",
                    reason: None,
                    took,
                    scopes_in,
                    granted: Some(kept.clone()),
                });
                scopes = kept;
            }
            Ok(Answer::Deny(reason)) => {
                let decision = PolicyDecision {
                    plugin,
                    outcome: "deny",
                    reason: Some(reason.clone()),
                    took,
                    scopes_in,
                    granted: None,
                };
                decisions.push(decision);
                return PolicyOutcome { verdict: Ok(PolicyVerdict::Deny { reason }), decisions };
            }
            Ok(Answer::StepUp(methods)) => {
                let decision = PolicyDecision {
                    plugin,
                    outcome: "step_up",
                    reason: Some(methods.join(" ")),
                    took,
                    scopes_in,
                    granted: None,
                };
                decisions.push(decision);
                return PolicyOutcome { verdict: Ok(PolicyVerdict::StepUp { methods }), decisions };
            }
            Err(f) => {
                decisions.push(PolicyDecision {
                    plugin: f.plugin.clone(),
                    outcome: "error",
                    reason: Some(f.kind.to_string()),
                    took,
                    scopes_in,
                    granted: None,
                });
                return PolicyOutcome { verdict: Err(f), decisions };
            }
        }
    }
    PolicyOutcome { verdict: Ok(PolicyVerdict::Allow { scopes, claims }), decisions }
}

/// Runs each shadow plugin on `input` (what the first enforcing plugin saw) and compares
/// its outcome with `enforced`; each runs under its own limits.
pub(crate) async fn evaluate_shadows(
    rt: &Runtime,
    shadows: &[Arc<LoadedPlugin>],
    input: &wit::PolicyInput,
    now_ms: i64,
    enforced: &str,
    metrics: &Metrics,
) -> Vec<ShadowDecision> {
    let mut out = Vec::with_capacity(shadows.len());
    for p in shadows {
        let (answer, took) = ask(rt, p, input, now_ms, Some(metrics)).await;
        let (outcome, reason) = match &answer {
            Ok(a) => (a.label(), a.reason()),
            Err(f) => ("error", Some(f.kind.to_string())),
        };
        let agree = outcome == enforced;
        let counter = if agree { &p.shadow.agree } else { &p.shadow.disagree };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics.policy_shadow(&p.config.name, agree);
        out.push(ShadowDecision { plugin: PluginRef::of(p), outcome, reason, took, agree });
    }
    out
}

/// Deny reasons are for logs and audit; keep them bounded.
fn truncate(mut s: String) -> String {
    if s.len() > 512 {
        let mut end = 512;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// One call of one policy plugin, at the host time `now_ms`.
async fn call(
    rt: &Runtime,
    p: &LoadedPlugin,
    input: &wit::PolicyInput,
    now_ms: i64,
) -> Result<wit::Decision, FailureKind> {
    let Exports::Policy(pre) = &p.exports else {
        return Err(FailureKind::BadOutput("not a policy plugin".into()));
    };
    guarded(rt, p, now_ms, |mut store| async move {
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.gatehouse_plugin_policy().call_evaluate(&mut store, input).await
        }
        .await;
        (store, result)
    })
    .await
}
