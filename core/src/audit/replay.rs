//! `gatehouse policy replay` and `POST /admin/policy/replay`: every recorded decision of one
//! policy plugin (with the input it saw and at the time it was made) is asked of a candidate
//! component, and the two outcomes are compared. The replay reads; it changes nothing.

use std::time::Duration;

use serde::Serialize;

use super::{AuditEvent, AuditRecord, format_time_ms};
use crate::config::{Config, PluginConfig, PluginKind, PolicyMode};
use crate::plugins::Candidate;

/// Differing records listed in a report (all are counted).
pub const MAX_LISTED: usize = 1000;

/// Which records to replay.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    /// Records of this plugin.
    pub plugin: String,
    /// From this time on (unix ms), inclusive.
    pub since_ms: Option<i64>,
    /// Before this time (unix ms).
    pub until_ms: Option<i64>,
}

impl ReplayFilter {
    /// Whether `r` is a decision of the plugin in the window.
    pub fn wants(&self, r: &AuditRecord) -> bool {
        matches!(&r.event, AuditEvent::PolicyDecision { plugin, .. } if *plugin == self.plugin)
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
    }
}

/// What a replay found.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ReplayReport {
    /// The plugin whose decisions were replayed.
    pub plugin: String,
    /// SHA-256 of the candidate component.
    pub candidate_sha256: String,
    /// Decisions asked of the candidate.
    pub replayed: u64,
    /// Same outcome (and, for an allow, the same scopes).
    pub agree: u64,
    /// Allowed then, denied by the candidate.
    pub allow_to_deny: u64,
    /// Denied then, allowed by the candidate.
    pub deny_to_allow: u64,
    /// Allowed both times, with other scopes.
    pub scopes_changed: u64,
    /// Any other change (to or from a step-up, or from a recorded failure).
    pub other_changes: u64,
    /// The candidate failed (trap, timeout, CPU or memory limit, bad output).
    pub failures: u64,
    /// Decisions of the plugin recorded without their input (older records): not replayed.
    pub without_input: u64,
    /// Whether every wanted record was replayed (false when a limit stopped it).
    pub complete: bool,
    /// What stopped the replay early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The records whose outcome would change (at most [`MAX_LISTED`]), in log order.
    pub differences: Vec<Difference>,
}

/// One record the candidate decides differently.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Difference {
    /// The audit record.
    pub seq: u64,
    /// Its time, RFC 3339.
    pub time: String,
    /// The request it was part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// authorize, token, refresh or userinfo.
    pub stage: String,
    /// The client.
    pub client_id: String,
    /// The user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `allow_to_deny`, `deny_to_allow`, `scopes_changed`, `other` or `failure`.
    pub change: String,
    /// The recorded outcome.
    pub recorded: String,
    /// The candidate's outcome.
    pub candidate: String,
    /// The candidate's reason (deny reason, step-up methods, failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The scopes granted then and by the candidate, for a change of scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<(Vec<String>, Vec<String>)>,
}

/// A replay in progress: offer it records in log order, then take the report.
pub struct Replay<'a> {
    candidate: &'a Candidate,
    filter: ReplayFilter,
    limit: Option<u64>,
    deadline: Option<(std::time::Instant, Duration)>,
    report: ReplayReport,
}

impl<'a> Replay<'a> {
    /// Replays `filter`'s records against `candidate`, at most `limit` of them and for at most
    /// `budget` of wall time when given.
    pub fn new(candidate: &'a Candidate, filter: ReplayFilter, limit: Option<u64>, budget: Option<Duration>) -> Self {
        let report = ReplayReport {
            plugin: filter.plugin.clone(),
            candidate_sha256: candidate.sha256().to_owned(),
            complete: true,
            ..ReplayReport::default()
        };
        Self { candidate, filter, limit, deadline: budget.map(|b| (crate::clock::monotonic(), b)), report }
    }

    /// Replays `r` when it is wanted; `false` once a limit stopped the replay.
    pub async fn offer(&mut self, r: &AuditRecord) -> bool {
        if !self.filter.wants(r) {
            return true;
        }
        let AuditEvent::PolicyDecision { stage, client_id, user_id, outcome, granted_scopes, input, .. } = &r.event
        else {
            return true;
        };
        let Some(input) = input else {
            self.report.without_input += 1;
            return true;
        };
        if self.limit.is_some_and(|l| self.report.replayed >= l) {
            return self.stop(format!("the limit of {} records was reached", self.report.replayed));
        }
        if let Some((started, budget)) = self.deadline
            && started.elapsed() >= budget
        {
            return self.stop(format!("the time budget of {} s was used up", budget.as_secs()));
        }
        let request_id = r.actor.request_id.as_deref().unwrap_or_default();
        let answer = self.candidate.decide(input, request_id).await;
        self.report.replayed += 1;
        let change = match (outcome.as_str(), answer.outcome) {
            (_, "error") => Some("failure"),
            ("allow", "allow") if granted_scopes.is_some() && answer.granted != *granted_scopes => {
                Some("scopes_changed")
            }
            (was, now) if was == now => None,
            ("allow", "deny") => Some("allow_to_deny"),
            ("deny", "allow") => Some("deny_to_allow"),
            _ => Some("other"),
        };
        let counter = match change {
            None => &mut self.report.agree,
            Some("failure") => &mut self.report.failures,
            Some("scopes_changed") => &mut self.report.scopes_changed,
            Some("allow_to_deny") => &mut self.report.allow_to_deny,
            Some("deny_to_allow") => &mut self.report.deny_to_allow,
            Some(_) => &mut self.report.other_changes,
        };
        *counter += 1;
        if let Some(change) = change
            && self.report.differences.len() < MAX_LISTED
        {
            let scopes = (change == "scopes_changed")
                .then(|| (granted_scopes.clone().unwrap_or_default(), answer.granted.clone().unwrap_or_default()));
            self.report.differences.push(Difference {
                seq: r.seq,
                time: format_time_ms(r.time_ms),
                request_id: r.actor.request_id.clone(),
                stage: stage.clone(),
                client_id: client_id.clone(),
                user_id: user_id.clone(),
                change: change.to_owned(),
                recorded: outcome.clone(),
                candidate: answer.outcome.to_owned(),
                reason: answer.reason,
                scopes,
            });
        }
        true
    }

    fn stop(&mut self, why: String) -> bool {
        self.report.complete = false;
        self.report.stopped = Some(why);
        false
    }

    /// The report.
    pub fn finish(self) -> ReplayReport {
        self.report
    }
}

/// The settings a candidate runs with: those of the configured plugin `name` (or, without a
/// name, of the only policy plugin in `config`), with `path` as its component. A name the
/// configuration does not have gets a policy's defaults.
pub fn candidate_config(config: &Config, name: Option<&str>, path: &std::path::Path) -> Result<PluginConfig, String> {
    let policies: Vec<&PluginConfig> = config.plugins.iter().filter(|p| p.kind == PluginKind::Policy).collect();
    let base = match name {
        Some(n) => match config.plugins.iter().find(|p| p.name == n) {
            Some(p) if p.kind != PluginKind::Policy => {
                return Err(format!("plugin `{n}` is a {} plugin, not a policy", p.kind.as_str()));
            }
            Some(p) => p.clone(),
            None => default_policy(n),
        },
        None => match policies.as_slice() {
            [one] => (*one).clone(),
            [] => return Err("name the plugin whose decisions to replay (--name NAME)".into()),
            many => {
                let names: Vec<&str> = many.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "the configuration has {} policy plugins ({}): name the one whose decisions to replay (--name NAME)",
                    many.len(),
                    names.join(", ")
                ));
            }
        },
    };
    Ok(PluginConfig { path: path.to_path_buf(), sha256: None, mode: PolicyMode::Enforce, ..base })
}

fn default_policy(name: &str) -> PluginConfig {
    PluginConfig {
        name: name.to_owned(),
        kind: PluginKind::Policy,
        path: std::path::PathBuf::new(),
        sha256: None,
        version: None,
        mode: PolicyMode::Enforce,
        limits: PluginKind::Policy.default_limits(),
        allowed_hosts: Vec::new(),
        secrets: Vec::new(),
        config: Vec::new(),
        config_json: "{}".into(),
        route: None,
        provision_users: false,
    }
}

/// The report for people: the counts, then one line per differing record.
pub fn render(r: &ReplayReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "replayed {} decisions of {} against candidate {}", r.replayed, r.plugin, r.candidate_sha256);
    let _ = writeln!(
        out,
        "agree {}, allow->deny {}, deny->allow {}, scopes changed {}, other changes {}, failures {}",
        r.agree, r.allow_to_deny, r.deny_to_allow, r.scopes_changed, r.other_changes, r.failures
    );
    if r.without_input > 0 {
        let _ = writeln!(out, "{} older decisions were recorded without their input and not replayed", r.without_input);
    }
    if let Some(why) = &r.stopped {
        let _ = writeln!(out, "stopped early: {why}");
    }
    for d in &r.differences {
        let user = d.user_id.as_deref().unwrap_or("-");
        let reason = d.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        let scopes =
            d.scopes.as_ref().map(|(a, b)| format!(" [{}] -> [{}]", a.join(" "), b.join(" "))).unwrap_or_default();
        let _ = writeln!(
            out,
            "#{} {} {} client={} user={user}: {} -> {}{scopes}{reason}",
            d.seq, d.time, d.stage, d.client_id, d.recorded, d.candidate
        );
    }
    let listed = r.differences.len() as u64;
    let changed = r.allow_to_deny + r.deny_to_allow + r.scopes_changed + r.other_changes + r.failures;
    if changed > listed {
        let _ = writeln!(out, "... and {} more", changed - listed);
    }
    out
}
