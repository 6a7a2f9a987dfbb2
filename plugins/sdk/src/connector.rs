//! Identity-provider connectors: [`Connector`] builds the provider's authorization URL and
//! turns its callback into an [`ExternalIdentity`]. The host generates and checks `state`,
//! `nonce` and the PKCE verifier; a connector only talks to its provider (through
//! [`crate::http`], and [`verify_jwt`] for ID tokens, which needs no crypto in the plugin).

pub use crate::bindings::gatehouse::plugin::types::{CallContext, Kv, PluginError};
pub use crate::connector_bindings::exports::gatehouse::plugin::connector::{
    BeginRequest, BeginResponse, CompleteRequest, ExternalIdentity, Info,
};
pub use crate::connector_bindings::gatehouse::plugin::jwt::VerifyOptions;

/// A connector. Every call runs in a fresh instance: keep no state (return `flow-data`
/// from `begin` to get it back in `complete`).
pub trait Connector {
    /// How the provider is shown; called once when the plugin is loaded.
    fn describe() -> Info;
    /// The provider's authorization URL for this sign-in.
    fn begin(req: BeginRequest) -> Result<BeginResponse, PluginError>;
    /// The provider's callback (the host has checked `state`) turned into an identity.
    fn complete(req: CompleteRequest) -> Result<ExternalIdentity, PluginError>;
}

/// Verifies a JWT against a JWKS the host fetches (the JWKS URL must be on the plugin's
/// `allowed_hosts`); returns the claims as a JSON object.
pub fn verify_jwt(token: &str, opts: &VerifyOptions) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = crate::connector_bindings::gatehouse::plugin::jwt::verify(token, opts)?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err("the host returned claims that are not a JSON object".into()),
    }
}

/// POSTs the form-encoded `form` to a token endpoint with `Accept: application/json` and
/// returns the JSON body. No answer or a 5xx is `unavailable` (the person may try again);
/// any other status but 200, or a body that is not JSON, is `invalid`.
pub fn post_token_form(url: &str, form: String) -> Result<serde_json::Value, PluginError> {
    let resp = crate::http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("user-agent", "gatehouse")
        .body(form)
        .send()
        .map_err(|e| PluginError::Unavailable(format!("token endpoint: {e:?}")))?;
    match resp.status {
        200 => resp.json().map_err(PluginError::Invalid),
        s if s >= 500 => Err(PluginError::Unavailable(format!("token endpoint answered {s}"))),
        s => Err(PluginError::Invalid(format!("token endpoint answered {s}"))),
    }
}

impl CompleteRequest {
    /// A callback parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|kv| kv.key == name).map(|kv| kv.value.as_str())
    }
}

/// Exports a [`Connector`] implementation as the component's `connector` interface.
#[macro_export]
macro_rules! export_connector {
    ($connector:path) => {
        #[allow(unsafe_code, reason = "wit-bindgen export glue")]
        mod __gatehouse_connector_export {
            #[allow(unused_imports)]
            use super::*;

            struct Export;

            impl $crate::connector_bindings::exports::gatehouse::plugin::connector::Guest for Export {
                fn describe() -> $crate::connector::Info {
                    <$connector as $crate::connector::Connector>::describe()
                }
                fn begin(
                    req: $crate::connector::BeginRequest,
                ) -> Result<$crate::connector::BeginResponse, $crate::connector::PluginError> {
                    <$connector as $crate::connector::Connector>::begin(req)
                }
                fn complete(
                    req: $crate::connector::CompleteRequest,
                ) -> Result<$crate::connector::ExternalIdentity, $crate::connector::PluginError> {
                    <$connector as $crate::connector::Connector>::complete(req)
                }
            }

            $crate::connector_bindings::__export_connector_world!(Export);
        }
    };
}
