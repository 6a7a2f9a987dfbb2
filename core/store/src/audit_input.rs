//! The input of a policy decision as its audit record keeps it (`gatehouse policy replay`
//! runs a candidate component on it).

use serde::{Deserialize, Serialize};

/// The input of one policy decision as the plugin saw it (the WIT `policy-input`), kept in
/// the audit record. It holds no secret: the host never passes credentials, codes or tokens
/// to a policy. The request id is the record's actor's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInputRecord {
    /// authorize, token, refresh or userinfo.
    pub stage: String,
    /// The client.
    pub client_id: String,
    /// The host's time of the decision, unix milliseconds (replay runs at this time).
    pub now_ms: i64,
    /// The caller's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// The caller's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<PolicySubjectRecord>,
    /// Grant type at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// Scopes the plugin was asked about.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Audiences of the access token.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Further facts, `[key, value]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
}

/// The user of a recorded policy input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySubjectRecord {
    /// `sub`.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether it was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Authentication methods of the session (RFC 8176).
    #[serde(default)]
    pub amr: Vec<String>,
}
