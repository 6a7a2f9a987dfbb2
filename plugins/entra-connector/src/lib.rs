//! Sign in with Microsoft Entra ID (work and school accounts) through the multi-tenant
//! `organizations` (or `common`) endpoints. Their ID tokens carry their tenant's own issuer
//! (`https://login.microsoftonline.com/{tid}/v2.0`), so the connector verifies each token
//! against the issuer of an **allowed** tenant: `allowed_tenants` lists the tenant ids, and
//! none is accepted by default. The subject is `{tid}/{oid}` (the object id is unique within
//! a tenant, stable across apps). The `email` claim is not verified by Entra unless the
//! token's `xms_edov` claim says the domain owner verified it ("nOAuth"): only then is the
//! address treated as verified.
//!
//! ```toml
//! [[plugins]]
//! name = "microsoft"
//! kind = "idp-connector"
//! path = "plugins/target/wasm32-wasip2/release/entra_connector.wasm"
//! allowed_hosts = ["login.microsoftonline.com"]
//! secrets = ["ENTRA_CLIENT_SECRET"]
//! [plugins.config]
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret = "ENTRA_CLIENT_SECRET"
//! allowed_tenants = ["11111111-1111-1111-1111-111111111111"]
//! ```

use gatehouse_plugin::config;
use gatehouse_plugin::connector::{
    BeginRequest, BeginResponse, CompleteRequest, Connector, ExternalIdentity, Info, PluginError, VerifyOptions,
    post_token_form, verify_jwt,
};

struct Entra;

fn setting(key: &str) -> Result<String, PluginError> {
    config::require(key).map_err(PluginError::Invalid)
}

/// `https://login.microsoftonline.com` (configurable for sovereign clouds and tests).
fn login_url() -> String {
    config::get("login_url")
        .unwrap_or_else(|| "https://login.microsoftonline.com".into())
        .trim_end_matches('/')
        .to_owned()
}

/// The tenant segment of the endpoints: `organizations`, `common` or one tenant id.
fn tenant_segment() -> String {
    config::get("tenant").unwrap_or_else(|| "organizations".into())
}

fn scopes() -> Vec<String> {
    config::get_as::<Vec<String>>("scopes")
        .ok()
        .flatten()
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()])
}

fn allowed_tenants() -> Result<Vec<String>, PluginError> {
    Ok(config::get_as::<Vec<String>>("allowed_tenants").map_err(PluginError::Invalid)?.unwrap_or_default())
}

impl Connector for Entra {
    fn describe() -> Info {
        Info {
            id: config::get("id").unwrap_or_else(|| "microsoft".into()),
            display_name: config::get("display_name").unwrap_or_else(|| "Microsoft".into()),
            icon_url: config::get("icon_url"),
            default_scopes: scopes(),
        }
    }

    fn begin(req: BeginRequest) -> Result<BeginResponse, PluginError> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &setting("client_id")?)
            .append_pair("response_type", "code")
            .append_pair("response_mode", "query")
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("scope", &scopes().join(" "))
            .append_pair("state", &req.state)
            .append_pair("nonce", &req.nonce)
            .append_pair("code_challenge", &req.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = &req.login_hint {
            q.append_pair("login_hint", hint);
        }
        let url = format!("{}/{}/oauth2/v2.0/authorize?{}", login_url(), tenant_segment(), q.finish());
        Ok(BeginResponse { authorization_url: url, flow_data: None })
    }

    fn complete(req: CompleteRequest) -> Result<ExternalIdentity, PluginError> {
        let tenants = allowed_tenants()?;
        if tenants.is_empty() {
            return Err(PluginError::Invalid("allowed_tenants is empty: no tenant is accepted".into()));
        }
        let code = req.param("code").ok_or_else(|| PluginError::Invalid("the callback has no code".into()))?;
        let client_id = setting("client_id")?;
        let secret_name = setting("client_secret")?;
        let secret = gatehouse_plugin::secrets::get(&secret_name)
            .ok_or_else(|| PluginError::Invalid(format!("secret {secret_name} is not granted")))?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &client_id)
            .append_pair("client_secret", &secret)
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("code_verifier", &req.code_verifier)
            .append_pair("scope", &scopes().join(" "))
            .finish();
        let body = post_token_form(&format!("{}/{}/oauth2/v2.0/token", login_url(), tenant_segment()), form)?;
        let id_token = body["id_token"].as_str().ok_or_else(|| PluginError::Invalid("no id_token".into()))?;
        let jwks = config::get("jwks_uri").unwrap_or_else(|| format!("{}/common/discovery/v2.0/keys", login_url()));
        // Each allowed tenant's issuer in turn: a token of any other tenant verifies against none.
        let mut verified = None;
        for tid in &tenants {
            let issuer = format!("{}/{tid}/v2.0", login_url());
            let opts = VerifyOptions {
                issuer: issuer.clone(),
                audiences: vec![client_id.clone()],
                jwks_url: jwks.clone(),
                nonce: Some(req.nonce.clone()),
                leeway_secs: 60,
            };
            if let Ok(claims) = verify_jwt(id_token, &opts) {
                verified = Some((tid.clone(), issuer, claims));
                break;
            }
        }
        let (tid, issuer, claims) = verified.ok_or_else(|| {
            PluginError::Invalid("the ID token is not of an allowed tenant, or does not verify".into())
        })?;
        let text = |k: &str| claims.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        if text("tid").as_deref() != Some(tid.as_str()) {
            return Err(PluginError::Invalid("the token's tid is not its issuer's tenant".into()));
        }
        let oid = text("oid").ok_or_else(|| PluginError::Invalid("the ID token has no oid".into()))?;
        // nOAuth: Entra lets tenant admins set any email; only a verified domain owner counts.
        let edov = match claims.get("xms_edov") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
            Some(serde_json::Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        };
        Ok(ExternalIdentity {
            issuer,
            subject: format!("{tid}/{oid}"),
            email: text("email"),
            email_verified: edov && text("email").is_some(),
            name: text("name"),
            picture: None,
            claims: serde_json::Value::Object(claims).to_string(),
        })
    }
}

gatehouse_plugin::export_connector!(Entra);
