//! Sign in with GitHub (plain OAuth 2.0, not OpenID Connect): the authorization code with
//! PKCE S256, the token request with `Accept: application/json`, then `GET /user` (the
//! subject is the numeric `id`, never the `login`, which people can change) and
//! `GET /user/emails` (only the primary, verified address counts). An account without one is
//! refused unless `require_verified_email = false`. `allowed_orgs` keeps out people who are
//! in none of those organisations (it needs the `read:org` scope).
//!
//! ```toml
//! [[plugins]]
//! name = "github"
//! kind = "idp-connector"
//! path = "plugins/target/wasm32-wasip2/release/github_connector.wasm"
//! allowed_hosts = ["github.com", "api.github.com"]
//! secrets = ["GITHUB_CLIENT_SECRET"]
//! [plugins.config]
//! client_id = "Iv1.…"
//! client_secret = "GITHUB_CLIENT_SECRET"    # the name of the granted secret
//! # allowed_orgs = ["my-company"]          # then add "read:org" to scopes
//! # GitHub Enterprise Server: web_url = "https://ghe.example.com", api_url = "https://ghe.example.com/api/v3"
//! ```

use gatehouse_plugin::config;
use gatehouse_plugin::connector::{
    BeginRequest, BeginResponse, CompleteRequest, Connector, ExternalIdentity, Info, PluginError, post_token_form,
};
use gatehouse_plugin::http::{Request, Response};
use serde::Deserialize;

struct GitHub;

fn setting(key: &str) -> Result<String, PluginError> {
    config::require(key).map_err(PluginError::Invalid)
}

/// github.com, or a GitHub Enterprise Server (the issuer of its identities too).
fn web_url() -> String {
    config::get("web_url").unwrap_or_else(|| "https://github.com".into()).trim_end_matches('/').to_owned()
}

fn api_url() -> String {
    config::get("api_url").unwrap_or_else(|| "https://api.github.com".into()).trim_end_matches('/').to_owned()
}

fn scopes() -> Vec<String> {
    config::get_as::<Vec<String>>("scopes")
        .ok()
        .flatten()
        .unwrap_or_else(|| vec!["read:user".into(), "user:email".into()])
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

#[derive(Deserialize)]
struct Org {
    login: String,
}

/// A GET of the REST API with the person's token.
fn api(path: &str, token: &str) -> Result<Response, PluginError> {
    let resp = Request::get(&format!("{}{path}", api_url()))
        .header("authorization", &format!("Bearer {token}"))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "gatehouse")
        .send()
        .map_err(|e| PluginError::Unavailable(format!("GitHub API {path}: {e:?}")))?;
    match resp.status {
        200 => Ok(resp),
        s if s >= 500 => Err(PluginError::Unavailable(format!("GitHub API {path} answered {s}"))),
        s => Err(PluginError::Invalid(format!("GitHub API {path} answered {s}"))),
    }
}

impl Connector for GitHub {
    fn describe() -> Info {
        Info {
            id: config::get("id").unwrap_or_else(|| "github".into()),
            display_name: config::get("display_name").unwrap_or_else(|| "GitHub".into()),
            icon_url: config::get("icon_url"),
            default_scopes: scopes(),
        }
    }

    fn begin(req: BeginRequest) -> Result<BeginResponse, PluginError> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &setting("client_id")?)
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("scope", &scopes().join(" "))
            .append_pair("state", &req.state)
            .append_pair("code_challenge", &req.code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "false");
        if let Some(hint) = &req.login_hint {
            q.append_pair("login", hint);
        }
        Ok(BeginResponse {
            authorization_url: format!("{}/login/oauth/authorize?{}", web_url(), q.finish()),
            flow_data: None,
        })
    }

    fn complete(req: CompleteRequest) -> Result<ExternalIdentity, PluginError> {
        let code = req.param("code").ok_or_else(|| PluginError::Invalid("the callback has no code".into()))?;
        let secret_name = setting("client_secret")?;
        let secret = gatehouse_plugin::secrets::get(&secret_name)
            .ok_or_else(|| PluginError::Invalid(format!("secret {secret_name} is not granted")))?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &setting("client_id")?)
            .append_pair("client_secret", &secret)
            .append_pair("code", code)
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("code_verifier", &req.code_verifier)
            .finish();
        // GitHub answers errors with 200 and an `error` member.
        let body = post_token_form(&format!("{}/login/oauth/access_token", web_url()), form)?;
        if let Some(error) = body["error"].as_str() {
            return Err(PluginError::Invalid(format!("token endpoint: {error}")));
        }
        let token = body["access_token"].as_str().ok_or_else(|| PluginError::Invalid("no access_token".into()))?;
        let user: User = api("/user", token)?.json().map_err(PluginError::Invalid)?;
        let emails: Vec<Email> = api("/user/emails", token)?.json().map_err(PluginError::Invalid)?;
        let email = emails.into_iter().find(|e| e.primary && e.verified).map(|e| e.email);
        let require_verified = config::get_as::<bool>("require_verified_email").ok().flatten().unwrap_or(true);
        if email.is_none() && require_verified {
            return Err(PluginError::Invalid(format!("GitHub account {} has no verified primary email", user.id)));
        }
        if let Some(allowed) = config::get_as::<Vec<String>>("allowed_orgs").map_err(PluginError::Invalid)? {
            let orgs: Vec<Org> = api("/user/orgs", token)?.json().map_err(PluginError::Invalid)?;
            let member = orgs.iter().any(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(&o.login)));
            if !member {
                return Err(PluginError::Invalid(format!(
                    "GitHub account {} is in none of the allowed organisations",
                    user.id
                )));
            }
        }
        Ok(ExternalIdentity {
            issuer: web_url(),
            subject: user.id.to_string(),
            email_verified: email.is_some(),
            email,
            name: user.name.clone(),
            picture: user.avatar_url,
            claims: serde_json::json!({ "preferred_username": user.login, "login": user.login, "name": user.name })
                .to_string(),
        })
    }
}

gatehouse_plugin::export_connector!(GitHub);
