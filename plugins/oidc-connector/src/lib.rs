//! A connector for any OpenID Connect provider (authorization code + PKCE, ID token checked
//! against the provider's JWKS by the host). Google is one configuration of it.
//!
//! The endpoints come from the configuration, or from the provider's discovery document
//! (`{issuer}/.well-known/openid-configuration`, or `discovery_url`), whose `issuer` must be
//! the configured one; it is kept in the plugin's kv-store for an hour. `issuers` lists the
//! spellings the provider's ID tokens may use (Google: `https://accounts.google.com` and
//! `accounts.google.com`); identities always carry the configured `issuer`, so one account
//! stays one link whatever the spelling. `hosted_domain` asks for and requires a Google
//! Workspace domain (`hd`). An email counts as verified only when `email_verified` says so.
//!
//! ```toml
//! [[plugins]]
//! name = "google"
//! kind = "idp-connector"
//! path = "plugins/target/wasm32-wasip2/release/oidc_connector.wasm"
//! allowed_hosts = ["oauth2.googleapis.com", "www.googleapis.com"]
//! secrets = ["GOOGLE_CLIENT_SECRET"]
//! [plugins.config]
//! id = "google"
//! display_name = "Google"
//! issuer = "https://accounts.google.com"
//! authorization_endpoint = "https://accounts.google.com/o/oauth2/v2/auth"
//! token_endpoint = "https://oauth2.googleapis.com/token"
//! jwks_uri = "https://www.googleapis.com/oauth2/v3/certs"
//! client_id = "…apps.googleusercontent.com"
//! client_secret = "GOOGLE_CLIENT_SECRET"   # the name of the granted secret
//! scopes = ["openid", "email", "profile"]
//! ```

use gatehouse_plugin::config;
use gatehouse_plugin::connector::{
    BeginRequest, BeginResponse, CompleteRequest, Connector, ExternalIdentity, Info, PluginError, VerifyOptions,
    post_token_form, verify_jwt,
};
use gatehouse_plugin::http::Request;

struct Oidc;

/// Where the provider's endpoints are.
struct Endpoints {
    authorization: String,
    token: String,
    jwks: String,
}

/// How long a fetched discovery document is kept.
const DISCOVERY_TTL_SECS: u32 = 3600;

/// The configured endpoints, or the discovery document's.
fn endpoints() -> Result<Endpoints, PluginError> {
    let (a, t, j) = (config::get("authorization_endpoint"), config::get("token_endpoint"), config::get("jwks_uri"));
    if let (Some(authorization), Some(token), Some(jwks)) = (a, t, j) {
        return Ok(Endpoints { authorization, token, jwks });
    }
    let issuer = setting("issuer")?;
    let text = match gatehouse_plugin::kv::get("discovery") {
        Some(cached) => String::from_utf8_lossy(&cached).into_owned(),
        None => {
            let url = config::get("discovery_url")
                .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
            let resp = Request::get(&url)
                .header("accept", "application/json")
                .send()
                .map_err(|e| PluginError::Unavailable(format!("discovery: {e:?}")))?;
            if resp.status != 200 {
                return Err(PluginError::Unavailable(format!("discovery document answered {}", resp.status)));
            }
            let text = String::from_utf8_lossy(&resp.body).into_owned();
            let _ = gatehouse_plugin::kv::set("discovery", text.as_bytes(), DISCOVERY_TTL_SECS);
            text
        }
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| PluginError::Invalid(format!("discovery document: {e}")))?;
    if doc["issuer"].as_str() != Some(issuer.as_str()) {
        return Err(PluginError::Invalid(format!(
            "the discovery document is of issuer {}, not the configured {issuer}",
            doc["issuer"]
        )));
    }
    let field = |k: &str| {
        doc[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PluginError::Invalid(format!("the discovery document has no {k}")))
    };
    Ok(Endpoints {
        authorization: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
        jwks: field("jwks_uri")?,
    })
}

fn setting(key: &str) -> Result<String, PluginError> {
    config::require(key).map_err(PluginError::Invalid)
}

fn scopes() -> Vec<String> {
    config::get_as::<Vec<String>>("scopes")
        .ok()
        .flatten()
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()])
}

impl Connector for Oidc {
    fn describe() -> Info {
        let id = config::get("id").unwrap_or_else(|| "oidc".into());
        Info {
            display_name: config::get("display_name").unwrap_or_else(|| id.clone()),
            id,
            icon_url: config::get("icon_url"),
            default_scopes: scopes(),
        }
    }

    fn begin(req: BeginRequest) -> Result<BeginResponse, PluginError> {
        let endpoint = endpoints()?.authorization;
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code")
            .append_pair("client_id", &setting("client_id")?)
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("scope", &scopes().join(" "))
            .append_pair("state", &req.state)
            .append_pair("nonce", &req.nonce)
            .append_pair("code_challenge", &req.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = &req.login_hint {
            q.append_pair("login_hint", hint);
        }
        if let Some(hd) = config::get("hosted_domain") {
            q.append_pair("hd", &hd);
        }
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        Ok(BeginResponse { authorization_url: format!("{endpoint}{sep}{}", q.finish()), flow_data: None })
    }

    fn complete(req: CompleteRequest) -> Result<ExternalIdentity, PluginError> {
        if let Some(error) = req.param("error") {
            return Err(PluginError::Invalid(format!("the provider answered {error}")));
        }
        let code = req.param("code").ok_or_else(|| PluginError::Invalid("the callback has no code".into()))?;
        let client_id = setting("client_id")?;
        let secret_name = setting("client_secret")?;
        let secret = gatehouse_plugin::secrets::get(&secret_name)
            .ok_or_else(|| PluginError::Invalid(format!("secret {secret_name} is not granted")))?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("code_verifier", &req.code_verifier)
            .append_pair("client_id", &client_id)
            .append_pair("client_secret", &secret)
            .finish();
        let endpoints = endpoints()?;
        let body = post_token_form(&endpoints.token, form)?;
        let id_token = body["id_token"].as_str().ok_or_else(|| PluginError::Invalid("no id_token".into()))?;
        let issuer = setting("issuer")?;
        let spellings = config::get_as::<Vec<String>>("issuers").map_err(PluginError::Invalid)?.unwrap_or_default();
        let mut accepted = vec![issuer.clone()];
        accepted.extend(spellings.into_iter().filter(|i| *i != issuer));
        // One verification per accepted spelling of the issuer, until one holds.
        let mut claims = Err(String::from("no issuer"));
        for iss in accepted {
            let opts = VerifyOptions {
                issuer: iss,
                audiences: vec![client_id.clone()],
                jwks_url: endpoints.jwks.clone(),
                nonce: Some(req.nonce.clone()),
                leeway_secs: 60,
            };
            claims = verify_jwt(id_token, &opts);
            if claims.is_ok() {
                break;
            }
        }
        let claims = claims.map_err(PluginError::Invalid)?;
        if let Some(hd) = config::get("hosted_domain")
            && claims.get("hd").and_then(serde_json::Value::as_str) != Some(hd.as_str())
        {
            return Err(PluginError::Invalid(format!("the account is not of the domain {hd}")));
        }
        let verified = match claims.get("email_verified") {
            Some(serde_json::Value::Bool(b)) => *b,
            // Some providers (older Google tokens) send it as a string.
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        let text = |k: &str| claims.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        Ok(ExternalIdentity {
            issuer,
            subject: text("sub").ok_or_else(|| PluginError::Invalid("the ID token has no sub".into()))?,
            email: text("email"),
            email_verified: verified,
            name: text("name"),
            picture: text("picture"),
            claims: serde_json::Value::Object(claims).to_string(),
        })
    }
}

gatehouse_plugin::export_connector!(Oidc);
