//! Identity-provider connectors: the domain side of the `idp-connector` world. The host owns
//! `state`, `nonce` and the PKCE verifier (the federation flow generates and checks them);
//! a connector only builds the provider's authorization URL and turns its callback into an
//! external identity. A connector failure fails that sign-in, nothing else.

use std::sync::Arc;

use time::OffsetDateTime;

use super::FailureKind;
use super::bindings::connector_world::exports::gatehouse::plugin::connector as wit;
use super::bindings::gatehouse::plugin::types::{CallContext, Kv, PluginError};
use super::call::guarded;
use super::engine::Runtime;
use super::registry::{Exports, LoadedPlugin};

/// How a connector is shown and what it asks the provider for (from `describe`, at load).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectorInfo {
    /// Stable id (`[a-z0-9_-]`, used in callback paths).
    pub id: String,
    /// Button text.
    pub display_name: String,
    /// Button icon (https).
    pub icon_url: Option<String>,
    /// Scopes asked of the provider.
    pub default_scopes: Vec<String>,
}

/// Where a sign-in with the provider starts.
#[derive(Debug, Clone, Copy)]
pub struct BeginRequest<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Now.
    pub now: OffsetDateTime,
    /// Our callback URL.
    pub redirect_uri: &'a str,
    /// The `state` the host will check on the callback.
    pub state: &'a str,
    /// The `nonce` the ID token must carry.
    pub nonce: &'a str,
    /// The S256 PKCE challenge.
    pub code_challenge: &'a str,
    /// A hint about the account.
    pub login_hint: Option<&'a str>,
}

/// The provider's authorization URL and the connector's opaque data for `complete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginResponse {
    /// Where to send the browser (http or https URL).
    pub authorization_url: String,
    /// Kept by the host until the callback.
    pub flow_data: Option<Vec<u8>>,
}

/// The provider's callback, after the host checked `state`.
#[derive(Debug, Clone, Copy)]
pub struct CompleteRequest<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Now.
    pub now: OffsetDateTime,
    /// Our callback URL.
    pub redirect_uri: &'a str,
    /// The callback's query parameters.
    pub params: &'a [(String, String)],
    /// The PKCE verifier.
    pub code_verifier: &'a str,
    /// The nonce sent in `begin`.
    pub nonce: &'a str,
    /// What `begin` returned.
    pub flow_data: Option<&'a [u8]>,
}

/// Who the provider says the person is.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalIdentity {
    /// Provider issuer.
    pub issuer: String,
    /// Provider subject.
    pub subject: String,
    /// Email address.
    pub email: Option<String>,
    /// Whether the provider verified it.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Further claims (a JSON object).
    pub claims: serde_json::Value,
}

/// Why a connector call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// No loaded connector has this id.
    #[error("no connector {0}")]
    Unknown(String),
    /// The plugin failed (trap, timeout, limits).
    #[error("{0}")]
    Failed(FailureKind),
    /// The connector refused: the input was not acceptable (e.g. the provider sent an error).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The provider is unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

fn context(request_id: &str, now: OffsetDateTime) -> CallContext {
    super::convert::context(request_id, None, None, None, now)
}

fn plugin_error(e: PluginError) -> ConnectorError {
    match e {
        PluginError::Invalid(m) => ConnectorError::Invalid(m),
        PluginError::Unavailable(m) => ConnectorError::Unavailable(m),
        PluginError::Internal(m) => ConnectorError::Failed(FailureKind::Trap(format!("plugin error: {m}"))),
    }
}

fn pre(
    p: &LoadedPlugin,
) -> Result<&super::bindings::connector_world::IdpConnectorPre<super::host::Ctx>, ConnectorError> {
    match &p.exports {
        Exports::Connector(pre, _) => Ok(pre),
        _ => Err(ConnectorError::Unknown(p.config.name.clone())),
    }
}

/// Counts the outcome in the plugin's circuit breaker.
fn settle<T>(p: &LoadedPlugin, r: Result<T, FailureKind>) -> Result<T, ConnectorError> {
    match r {
        Ok(v) => {
            p.breaker.success();
            Ok(v)
        }
        Err(kind) => {
            if !matches!(kind, FailureKind::Busy | FailureKind::BreakerOpen) {
                p.breaker.failure();
            }
            Err(ConnectorError::Failed(kind))
        }
    }
}

/// `begin`: the provider's authorization URL.
pub(crate) async fn begin(
    rt: &Runtime,
    p: &Arc<LoadedPlugin>,
    req: &BeginRequest<'_>,
) -> Result<BeginResponse, ConnectorError> {
    let pre = pre(p)?;
    let input = wit::BeginRequest {
        ctx: context(req.request_id, req.now),
        redirect_uri: req.redirect_uri.to_owned(),
        state: req.state.to_owned(),
        nonce: req.nonce.to_owned(),
        code_challenge: req.code_challenge.to_owned(),
        login_hint: req.login_hint.map(str::to_owned),
    };
    let result = guarded(rt, p, crate::audit::unix_ms(req.now), |mut store| async move {
        let r = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.gatehouse_plugin_connector().call_begin(&mut store, &input).await
        }
        .await;
        (store, r)
    })
    .await;
    let resp = settle(p, result)?.map_err(plugin_error)?;
    match url::Url::parse(&resp.authorization_url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => {}
        _ => {
            return Err(ConnectorError::Failed(FailureKind::BadOutput(
                "authorization-url is not an http(s) URL".into(),
            )));
        }
    }
    Ok(BeginResponse { authorization_url: resp.authorization_url, flow_data: resp.flow_data })
}

/// `complete`: the callback turned into an identity.
pub(crate) async fn complete(
    rt: &Runtime,
    p: &Arc<LoadedPlugin>,
    req: &CompleteRequest<'_>,
) -> Result<ExternalIdentity, ConnectorError> {
    let pre = pre(p)?;
    let input = wit::CompleteRequest {
        ctx: context(req.request_id, req.now),
        redirect_uri: req.redirect_uri.to_owned(),
        params: req.params.iter().map(|(k, v)| Kv { key: k.clone(), value: v.clone() }).collect(),
        code_verifier: req.code_verifier.to_owned(),
        nonce: req.nonce.to_owned(),
        flow_data: req.flow_data.map(<[u8]>::to_vec),
    };
    let result = guarded(rt, p, crate::audit::unix_ms(req.now), |mut store| async move {
        let r = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.gatehouse_plugin_connector().call_complete(&mut store, &input).await
        }
        .await;
        (store, r)
    })
    .await;
    let id = settle(p, result)?.map_err(plugin_error)?;
    if id.issuer.is_empty() || id.subject.is_empty() {
        return Err(ConnectorError::Failed(FailureKind::BadOutput("issuer and subject are required".into())));
    }
    let claims = match serde_json::from_str::<serde_json::Value>(&id.claims) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return Err(ConnectorError::Failed(FailureKind::BadOutput("claims is not a JSON object".into()))),
    };
    Ok(ExternalIdentity {
        issuer: id.issuer,
        subject: id.subject,
        email: id.email,
        email_verified: id.email_verified,
        name: id.name,
        picture: id.picture,
        claims,
    })
}

/// Checks what `describe` returned (at load).
pub(crate) fn info(i: wit::Info) -> Result<ConnectorInfo, String> {
    let id_ok = !i.id.is_empty()
        && i.id.len() <= 64
        && i.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!("describe: id `{}` must be 1-64 characters of a-z, 0-9, - and _", i.id));
    }
    if i.display_name.trim().is_empty() {
        return Err("describe: display-name is empty".into());
    }
    if let Some(icon) = &i.icon_url
        && !url::Url::parse(icon).is_ok_and(|u| u.scheme() == "https")
    {
        return Err(format!("describe: icon-url `{icon}` is not an https URL"));
    }
    Ok(ConnectorInfo { id: i.id, display_name: i.display_name, icon_url: i.icon_url, default_scopes: i.default_scopes })
}
