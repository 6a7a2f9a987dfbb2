//! Running the policy plugins: each call gets a permit (or fails fast), passes the circuit
//! breaker, a fresh store and instance, and a wall timeout; the outcome is classified for
//! the caller and counted in the metrics.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::exports::gatehouse::plugin::policy as wit;
use super::call::guarded;
use super::engine::Runtime;
use super::registry::{Exports, LoadedPlugin};
use super::{Failure, FailureKind, PluginRef, PolicyDecision, PolicyOutcome, PolicyRequest, PolicyVerdict, convert};
use crate::clock::monotonic;
use crate::metrics::Metrics;

/// Runs every policy in order; the first deny or step-up ends the run. Scopes narrow from
/// one plugin to the next; claims merge (a later plugin's value wins).
pub(crate) async fn evaluate_all(
    rt: &Runtime,
    policies: &[Arc<LoadedPlugin>],
    req: &PolicyRequest<'_>,
    metrics: &Metrics,
) -> PolicyOutcome {
    let mut scopes = req.scopes.to_vec();
    let mut claims = serde_json::Map::new();
    let mut decisions = Vec::with_capacity(policies.len());
    for p in policies {
        let started = monotonic();
        let narrowed = PolicyRequest { scopes: &scopes, ..*req };
        let input = convert::input(&narrowed);
        let result = call(rt, p, &input, req.now.unix_timestamp()).await;
        let took = started.elapsed();
        let plugin = PluginRef::of(p);
        let (outcome_label, verdict) = match result {
            Ok(wit::Decision::Allow(g)) => match convert::grant(g, &scopes) {
                Ok((kept, extra)) => {
                    scopes = kept;
                    claims.extend(extra);
                    p.breaker.success();
                    ("allow", Ok(None))
                }
                Err(why) => {
                    p.breaker.failure();
                    (
                        "error",
                        Err(Failure {
                            plugin: plugin.clone(),
                            kind: FailureKind::BadOutput(why),
                            retry_after: Duration::from_secs(1),
                        }),
                    )
                }
            },
            Ok(wit::Decision::Deny(reason)) => {
                p.breaker.success();
                ("deny", Ok(Some(PolicyVerdict::Deny { reason: truncate(reason) })))
            }
            Ok(wit::Decision::StepUp(methods)) => {
                p.breaker.success();
                ("step_up", Ok(Some(PolicyVerdict::StepUp { methods })))
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
                (kind.label(), Err(Failure { plugin: plugin.clone(), kind, retry_after }))
            }
        };
        metrics.plugin_call(&p.config.name, "policy", outcome_label, took);
        match verdict {
            Ok(None) => decisions.push(PolicyDecision { plugin, outcome: "allow", reason: None, took }),
            Ok(Some(v)) => {
                let (outcome, reason) = match &v {
                    PolicyVerdict::Deny { reason } => ("deny", Some(reason.clone())),
                    PolicyVerdict::StepUp { methods } => ("step_up", Some(methods.join(" "))),
                    PolicyVerdict::Allow { .. } => ("allow", None),
                };
                decisions.push(PolicyDecision { plugin, outcome, reason, took });
                return PolicyOutcome { verdict: Ok(v), decisions };
            }
            Err(f) => {
                decisions.push(PolicyDecision {
                    plugin: f.plugin.clone(),
                    outcome: "error",
                    reason: Some(f.kind.to_string()),
                    took,
                });
                return PolicyOutcome { verdict: Err(f), decisions };
            }
        }
    }
    PolicyOutcome { verdict: Ok(PolicyVerdict::Allow { scopes, claims }), decisions }
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

/// One call of one policy plugin.
async fn call(
    rt: &Runtime,
    p: &LoadedPlugin,
    input: &wit::PolicyInput,
    now_unix: i64,
) -> Result<wit::Decision, FailureKind> {
    let Exports::Policy(pre) = &p.exports else {
        return Err(FailureKind::BadOutput("not a policy plugin".into()));
    };
    guarded(rt, p, now_unix, |mut store| async move {
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.gatehouse_plugin_policy().call_evaluate(&mut store, input).await
        }
        .await;
        (store, result)
    })
    .await
}
