//! A connector for any OpenID Connect provider (authorization code + PKCE, ID token checked
//! against the provider's JWKS by the host). Google is one configuration of it.
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
    verify_jwt,
};
use gatehouse_plugin::http::Request;

struct Oidc;

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
        let endpoint = setting("authorization_endpoint")?;
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
        let resp = Request::post(&setting("token_endpoint")?)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .map_err(|e| PluginError::Unavailable(format!("token endpoint: {e:?}")))?;
        if resp.status >= 500 {
            return Err(PluginError::Unavailable(format!("token endpoint answered {}", resp.status)));
        }
        if resp.status != 200 {
            return Err(PluginError::Invalid(format!("token endpoint answered {}", resp.status)));
        }
        let body: serde_json::Value = resp.json().map_err(PluginError::Invalid)?;
        let id_token = body["id_token"].as_str().ok_or_else(|| PluginError::Invalid("no id_token".into()))?;
        let issuer = setting("issuer")?;
        let opts = VerifyOptions {
            issuer: issuer.clone(),
            audiences: vec![client_id],
            jwks_url: setting("jwks_uri")?,
            nonce: Some(req.nonce.clone()),
            leeway_secs: 60,
        };
        let claims = verify_jwt(id_token, &opts).map_err(PluginError::Invalid)?;
        let text = |k: &str| claims.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        Ok(ExternalIdentity {
            issuer,
            subject: text("sub").ok_or_else(|| PluginError::Invalid("the ID token has no sub".into()))?,
            email: text("email"),
            email_verified: claims.get("email_verified").and_then(serde_json::Value::as_bool).unwrap_or(false),
            name: text("name"),
            picture: text("picture"),
            claims: serde_json::Value::Object(claims).to_string(),
        })
    }
}

gatehouse_plugin::export_connector!(Oidc);
