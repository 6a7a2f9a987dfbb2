//! WIT types <-> domain types, in one place. Plugin output is untrusted: scopes are only
//! ever intersected with the request's, claims must be a small JSON object and lose every
//! reserved name.

use super::bindings::exports::gatehouse::plugin::policy as wit;
use super::bindings::gatehouse::plugin::types::{CallContext, Kv, Subject};
use super::{PolicyRequest, PolicyStage};

/// Claims a plugin may never set: they carry the token's identity, audience, lifetime and
/// binding (RFC 7519 §4.1, RFC 9068 §2.2, OpenID Connect Core §2).
pub(crate) const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "azp",
    "nonce",
    "at_hash",
    "c_hash",
    "auth_time",
    "amr",
    "acr",
    "sid",
    "client_id",
    "scope",
    "cnf",
    "typ",
    "act",
    "may_act",
    "token_type",
    "s_hash",
    "idp",
];

/// Largest claims object a plugin may return, as JSON text.
const MAX_CLAIMS_JSON: usize = 8 * 1024;

/// The call context every export gets (no locale yet).
pub(crate) fn context(
    request_id: &str,
    client_id: Option<&str>,
    remote_ip: Option<std::net::IpAddr>,
    user_agent: Option<&str>,
    now: time::OffsetDateTime,
) -> CallContext {
    CallContext {
        request_id: request_id.to_owned(),
        client_id: client_id.map(str::to_owned),
        remote_ip: remote_ip.map(|ip| ip.to_string()),
        user_agent: user_agent.map(str::to_owned),
        locale: None,
        now_ms: u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
    }
}

/// The user as the WIT `subject`.
pub(crate) fn subject(s: &super::SubjectFacts<'_>) -> Subject {
    Subject {
        id: s.id.to_owned(),
        username: Some(s.username.to_owned()),
        email: s.email.map(str::to_owned),
        email_verified: s.email_verified,
        groups: s.groups.to_vec(),
        amr: s.amr.to_vec(),
        attributes: "{}".to_owned(),
    }
}

pub(crate) fn input(req: &PolicyRequest<'_>) -> wit::PolicyInput {
    wit::PolicyInput {
        stage: match req.stage {
            PolicyStage::Authorize => wit::Stage::Authorize,
            PolicyStage::Token => wit::Stage::Token,
            PolicyStage::Refresh => wit::Stage::Refresh,
            PolicyStage::Userinfo => wit::Stage::Userinfo,
        },
        ctx: context(req.request_id, Some(req.client_id), req.remote_ip, req.user_agent, req.now),
        subject: req.subject.as_ref().map(subject),
        client_id: req.client_id.to_owned(),
        grant_type: req.grant_type.map(str::to_owned),
        requested_scopes: req.scopes.to_vec(),
        requested_audience: req.audiences.to_vec(),
        attributes: req.attributes.iter().map(|(k, v)| Kv { key: (*k).to_owned(), value: v.clone() }).collect(),
    }
}

/// A plugin's allow: the scopes it keeps (only ones that were requested) and its claims
/// without reserved names. Malformed claims are the plugin's failure.
pub(crate) fn grant(
    g: wit::Grant,
    requested: &[String],
) -> Result<(Vec<String>, serde_json::Map<String, serde_json::Value>), String> {
    let scopes = match g.scopes {
        None => requested.to_vec(),
        Some(kept) => requested.iter().filter(|s| kept.contains(s)).cloned().collect(),
    };
    let mut claims = serde_json::Map::new();
    if let Some(text) = g.extra_claims {
        if text.len() > MAX_CLAIMS_JSON {
            return Err(format!("extra-claims is {} bytes (at most {MAX_CLAIMS_JSON})", text.len()));
        }
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => {
                claims = map.into_iter().filter(|(k, _)| !RESERVED_CLAIMS.contains(&k.as_str())).collect();
            }
            Ok(_) => return Err("extra-claims is not a JSON object".into()),
            Err(e) => return Err(format!("extra-claims is not JSON: {e}")),
        }
    }
    Ok((scopes, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn scopes_only_narrow() {
        let g = wit::Grant { scopes: Some(s(&["openid", "admin"])), extra_claims: None };
        let (scopes, _) = grant(g, &s(&["openid", "profile"])).unwrap();
        assert_eq!(scopes, s(&["openid"]));
        let (scopes, _) = grant(wit::Grant { scopes: None, extra_claims: None }, &s(&["a", "b"])).unwrap();
        assert_eq!(scopes, s(&["a", "b"]));
    }

    #[test]
    fn reserved_claims_are_dropped_and_bad_json_fails() {
        let g = wit::Grant { scopes: None, extra_claims: Some(r#"{"sub":"x","aud":"y","dept":"r"}"#.into()) };
        let (_, claims) = grant(g, &[]).unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!(claims["dept"], "r");
        assert!(grant(wit::Grant { scopes: None, extra_claims: Some("[1]".into()) }, &[]).is_err());
        assert!(grant(wit::Grant { scopes: None, extra_claims: Some("{".into()) }, &[]).is_err());
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(9000));
        assert!(grant(wit::Grant { scopes: None, extra_claims: Some(big) }, &[]).is_err());
    }
}
