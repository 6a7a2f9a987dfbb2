//! `gatehouse users|clients --url URL ...`: the same verbs against a running server, through
//! its admin API, with a Bearer credential from `GATEHOUSE_ADMIN_TOKEN` (the `[admin]` token,
//! or an access token for `gatehouse-admin` with the role the verb needs). The output is the
//! offline mode's; the server audits each change with the caller.

use reqwest::Method;
use serde_json::{Value, json};

use super::replay_cmd::TOKEN_ENV;
use super::{ClientsCommand, UsersCommand};
use crate::http::paths;

/// A running server's admin API.
struct Remote {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

impl Remote {
    fn new(url: &str) -> Result<Self, String> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("--url needs an admin credential in the environment variable {TOKEN_ENV}"))?;
        let base = url::Url::parse(url).map_err(|e| format!("--url `{url}`: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self { http, base, token })
    }

    /// Calls `method path` with `body`; the JSON answer, or the server's error as a message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let endpoint = self.base.join(path).map_err(|e| format!("--url: {e}"))?;
        let mut req = self.http.request(method, endpoint.clone()).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| format!("{endpoint}: {e}"))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| format!("{endpoint}: {e}"))?;
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(value);
        }
        let why = value["error_description"].as_str().or(value["error"].as_str()).unwrap_or(text.as_str());
        let field = value["field"].as_str().map(|f| format!(" ({f})")).unwrap_or_default();
        Err(format!("{status}: {why}{field}"))
    }

    /// Every user, following the pages.
    async fn users(&self, q: Option<&str>) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{}?limit=500", paths::ADMIN_USERS);
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            if let Some(q) = q {
                pairs.append_pair("q", q);
            }
            if let Some(c) = &cursor {
                pairs.append_pair("cursor", c);
            }
            let extra = pairs.finish();
            if !extra.is_empty() {
                path = format!("{path}&{extra}");
            }
            let page = self.call(Method::GET, &path, None).await?;
            out.extend(page["users"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// The user whose username or email is `login`.
    async fn find(&self, login: &str) -> Result<Value, String> {
        let key = login.trim().to_lowercase();
        self.users(Some(&key))
            .await?
            .into_iter()
            .find(|u| u["username"] == key.as_str() || u["email"] == key.as_str())
            .ok_or_else(|| format!("no user `{key}`"))
    }
}

fn user_path(u: &Value) -> String {
    format!("{}/{}", paths::ADMIN_USERS, u["id"].as_str().unwrap_or_default())
}

fn list(v: &Value) -> String {
    let items: Vec<&str> = v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    items.join(",")
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// `gatehouse users --url URL ...`.
pub(super) fn users(url: &str, action: UsersCommand) -> Result<(), String> {
    let remote = Remote::new(url)?;
    runtime()?.block_on(users_remote(&remote, action))
}

async fn users_remote(r: &Remote, action: UsersCommand) -> Result<(), String> {
    match action {
        UsersCommand::Add { username, email, groups } => {
            let password = super::user_cmds::read_new_password()?;
            let body = json!({ "username": username, "email": email, "groups": groups, "password": password.expose() });
            let u = r.call(Method::POST, paths::ADMIN_USERS, Some(body)).await?;
            println!("added user `{}`", u["username"].as_str().unwrap_or_default());
        }
        UsersCommand::List => {
            for u in r.users(None).await? {
                let state = if u["disabled"] == true { "disabled" } else { "enabled" };
                let groups = list(&u["groups"]);
                println!(
                    "{}\t{}\t{state}\t{}\tgroups={}",
                    u["username"].as_str().unwrap_or_default(),
                    u["email"].as_str().unwrap_or("-"),
                    u["id"].as_str().unwrap_or_default(),
                    if groups.is_empty() { "-" } else { &groups }
                );
            }
        }
        UsersCommand::SetGroups { user, groups } => {
            let u = r.find(&user).await?;
            let after = r.call(Method::PATCH, &user_path(&u), Some(json!({ "groups": groups }))).await?;
            let groups = list(&after["groups"]);
            let name = after["username"].as_str().unwrap_or_default();
            println!("groups of `{name}`: {}", if groups.is_empty() { "none" } else { &groups });
        }
        UsersCommand::Disable { user } => status(r, &user, true).await?,
        UsersCommand::Enable { user } => status(r, &user, false).await?,
        UsersCommand::SetPassword { user } => {
            let u = r.find(&user).await?;
            let password = super::user_cmds::read_new_password()?;
            let path = format!("{}/password", user_path(&u));
            r.call(Method::POST, &path, Some(json!({ "password": password.expose() }))).await?;
            println!("set the password of `{}`", u["username"].as_str().unwrap_or_default());
        }
        UsersCommand::Show { user } => {
            let u = r.find(&user).await?;
            let text = |k: &str| u[k].as_str().map(str::to_owned);
            println!("username\t{}", text("username").unwrap_or_default());
            println!("id\t{}", text("id").unwrap_or_default());
            let verified = if u["email_verified"] == true { " (verified)" } else { "" };
            println!("email\t{}{verified}", text("email").unwrap_or_else(|| "-".into()));
            for field in crate::store::Profile::FIELDS {
                if let Some(v) = text(field) {
                    println!("{field}\t{v}");
                }
            }
            println!("version\t{}", u["version"]);
            println!("status\t{}", if u["disabled"] == true { "disabled" } else { "enabled" });
            println!("password\t{}", if u["has_password"] == true { "set" } else { "none" });
            let groups = list(&u["groups"]);
            println!("groups\t{}", if groups.is_empty() { "-" } else { &groups });
            let roles = list(&u["roles"]);
            println!("roles\t{}", if roles.is_empty() { "-" } else { &roles });
        }
        UsersCommand::Unlink { .. } => {
            return Err("`users unlink` works on the store only (run it without --url, server stopped)".into());
        }
        UsersCommand::ResetMfa { user } => {
            let u = r.find(&user).await?;
            let out = r.call(Method::POST, &format!("{}/mfa/reset", user_path(&u)), None).await?;
            let name = u["username"].as_str().unwrap_or_default();
            if out["removed"] == true {
                println!("removed the second factors of `{name}`");
            } else {
                println!("`{name}` has no second factor; nothing changed");
            }
        }
    }
    Ok(())
}

async fn status(r: &Remote, user: &str, disabled: bool) -> Result<(), String> {
    let u = r.find(user).await?;
    r.call(Method::PATCH, &user_path(&u), Some(json!({ "disabled": disabled }))).await?;
    let name = u["username"].as_str().unwrap_or_default();
    println!("{} user `{name}`", if disabled { "disabled" } else { "enabled" });
    Ok(())
}

/// `gatehouse clients --url URL ...`.
pub(super) fn clients(url: &str, action: ClientsCommand) -> Result<(), String> {
    let remote = Remote::new(url)?;
    runtime()?.block_on(clients_remote(&remote, action))
}

async fn clients_remote(r: &Remote, action: ClientsCommand) -> Result<(), String> {
    let one = |id: &str| {
        format!("{}/{}", paths::ADMIN_CLIENTS, url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>())
    };
    match action {
        ClientsCommand::Add { id, scopes, audiences, grant_types, redirect_uris, public, can_introspect } => {
            let mut body = json!({
                "id": id, "public": public, "scopes": scopes, "audiences": audiences,
                "redirect_uris": redirect_uris, "can_introspect": can_introspect,
            });
            if !grant_types.is_empty() {
                body["grant_types"] = json!(grant_types);
            }
            let made = r.call(Method::POST, paths::ADMIN_CLIENTS, Some(body)).await?;
            println!("added client `{id}`");
            if let Some(s) = made["client_secret"].as_str() {
                println!("client_secret: {s}");
                println!("(shown once; only its SHA-256 is stored)");
            }
        }
        ClientsCommand::List => {
            let all = r.call(Method::GET, paths::ADMIN_CLIENTS, None).await?;
            for c in all["clients"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{}\t{}\t{}\tgrants={}\tscopes={}\taudiences={}",
                    c["id"].as_str().unwrap_or_default(),
                    c["source"].as_str().unwrap_or_default(),
                    if c["public"] == true { "public" } else { "confidential" },
                    list(&c["grant_types"]),
                    list(&c["scopes"]),
                    list(&c["audiences"])
                );
            }
        }
        ClientsCommand::Remove { id } => {
            r.call(Method::DELETE, &one(&id), None).await?;
            println!("removed client `{id}`");
        }
        ClientsCommand::RotateSecret { id } => {
            let out = r.call(Method::POST, &format!("{}/secret", one(&id)), None).await?;
            println!("new secret for client `{id}` (the old one no longer works)");
            println!("client_secret: {}", out["client_secret"].as_str().unwrap_or_default());
            println!("(shown once; only its SHA-256 is stored)");
        }
    }
    Ok(())
}
