//! Who caused an audit event, and from where.

use serde::{Deserialize, Serialize};

/// Who or what caused an event, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `client:<id>`, `admin`, `cli`, `system`, or `anonymous`.
    pub who: String,
    /// Source IP, for requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Request id, for requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Actor {
    /// The server itself.
    pub fn system() -> Self {
        Self { who: "system".into(), ..Self::default() }
    }

    /// An operator at the command line.
    pub fn cli() -> Self {
        Self { who: "cli".into(), ..Self::default() }
    }

    /// A request from `ip`, acting as `who`.
    pub fn request(who: impl Into<String>, ip: std::net::IpAddr) -> Self {
        Self { who: who.into(), ip: Some(ip.to_string()), request_id: None }
    }
}
