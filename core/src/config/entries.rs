//! Checks of the `[[clients]]` and `[[users]]` entries.

use std::collections::HashSet;

use super::file::{ClientSection, UserSection};
use super::validate::{Check, is_http_url};
use super::{UserConfig, UserPassword};
use crate::secret::{Secret, parse_sha256_hex, sha256_hex};
use crate::store::ClientRecord;

/// Grant types a client may list (`authorization_code` and `refresh_token` are served once
/// browser sign-in exists; listing them now is not an error).
const GRANT_TYPES: &[&str] = &["client_credentials", "authorization_code", "refresh_token"];
/// Client authentication methods (RFC 7591 names).
const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
/// ID token algorithms a client may ask for.
const ID_TOKEN_ALGS: &[&str] = &["RS256", "ES256"];
/// Configured secrets shorter than this draw a warning.
pub(super) const SHORT_SECRET: usize = 24;

pub(super) fn check_client(c: &mut Check<'_>, key: &str, cl: ClientSection, dev_mode: bool) -> Option<ClientRecord> {
    let start = c.problems.len();
    if cl.id.trim().is_empty() {
        c.problem(format!("{key}.id"), "is required");
    }
    let sources = [cl.secret.is_some(), cl.secret_sha256.is_some(), cl.secret_env.is_some()];
    if sources.iter().filter(|s| **s).count() > 1 {
        c.problem(key, "set only one of secret, secret_sha256, secret_env");
    }
    let mut unresolved = false;
    let secret_sha256 = if let Some(s) = &cl.secret {
        if !dev_mode {
            c.problem(
                format!("{key}.secret"),
                "plain-text secrets are allowed only with server.dev_mode = true; use secret_sha256 or secret_env",
            );
        }
        if s.is_empty() {
            c.problem(format!("{key}.secret"), "must not be empty");
        } else if s.len() < SHORT_SECRET {
            c.warnings.push(format!(
                "{}: {key}.secret is shorter than {SHORT_SECRET} characters; generated secrets are 32 random bytes",
                c.file
            ));
        }
        Some(sha256_hex(Secret::new(s.as_str()).expose().as_bytes()))
    } else if let Some(h) = &cl.secret_sha256 {
        parse_sha256_hex(h).map(hex::encode).or_else(|| {
            c.problem(format!("{key}.secret_sha256"), "must be 64 hex characters");
            None
        })
    } else if let Some(var) = &cl.secret_env {
        match (c.env)(var) {
            Some(v) if !v.is_empty() => {
                if v.len() < SHORT_SECRET {
                    c.warnings.push(format!(
                        "{}: {key}: the secret in ${var} is shorter than {SHORT_SECRET} characters",
                        c.file
                    ));
                }
                Some(sha256_hex(v.as_bytes()))
            }
            // Verbs that only work on the store do not need the secret itself.
            _ if c.mode == super::LoadMode::Offline => {
                unresolved = true;
                None
            }
            _ => {
                c.problem(format!("{key}.secret_env"), format!("environment variable `{var}` is not set or empty"));
                None
            }
        }
    } else {
        None
    };
    let has_secret = secret_sha256.is_some() || unresolved;
    let has_keys = cl.jwks.is_some() || cl.jwks_uri.is_some();
    if cl.jwks.is_some() && cl.jwks_uri.is_some() {
        c.problem(key, "set jwks or jwks_uri, not both");
    }
    if let Some(j) = &cl.jwks
        && serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(j).is_err()
    {
        c.problem(format!("{key}.jwks"), "is not a JSON Web Key Set (RFC 7517 §5)");
    }
    if let Some(u) = &cl.jwks_uri
        && is_http_url(u).is_none()
    {
        c.problem(format!("{key}.jwks_uri"), format!("`{u}` is not an http(s) URL"));
    }
    if cl.public && (has_secret || has_keys) {
        c.problem(key, "a public client has no secret and no keys");
    }
    if !cl.public && !has_secret && !has_keys && c.problems.len() == start {
        c.problem(
            key,
            "a confidential client needs secret_sha256, secret_env (or secret in dev_mode), jwks or jwks_uri",
        );
    }
    let grant_types = cl
        .grant_types
        .unwrap_or_else(|| vec![if cl.public { "authorization_code" } else { "client_credentials" }.to_owned()]);
    for g in &grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            c.problem(
                format!("{key}.grant_types"),
                format!("unknown grant type `{g}` (known: {})", GRANT_TYPES.join(", ")),
            );
        }
    }
    let has = |g: &str| grant_types.iter().any(|x| x == g);
    if has("authorization_code") && cl.redirect_uris.is_empty() {
        c.problem(format!("{key}.redirect_uris"), "the authorization_code grant needs at least one redirect URI");
    }
    if has("refresh_token") && !has("authorization_code") {
        c.problem(format!("{key}.grant_types"), "refresh_token is issued only with authorization_code");
    }
    if cl.public && grant_types.iter().any(|g| g == "client_credentials") {
        c.problem(format!("{key}.grant_types"), "a public client cannot use client_credentials");
    }
    if let Some(m) = &cl.token_endpoint_auth_method {
        let fits = match m.as_str() {
            "none" => cl.public,
            "private_key_jwt" => has_keys,
            "client_secret_basic" | "client_secret_post" => has_secret || !c.problems.is_empty(),
            _ => true,
        };
        if !AUTH_METHODS.contains(&m.as_str()) {
            c.problem(
                format!("{key}.token_endpoint_auth_method"),
                format!("unknown method `{m}` (known: {})", AUTH_METHODS.join(", ")),
            );
        } else if !fits {
            c.problem(
                format!("{key}.token_endpoint_auth_method"),
                format!("`{m}` does not fit the credentials configured"),
            );
        }
    }
    for (field, list) in
        [("redirect_uris", &cl.redirect_uris), ("post_logout_redirect_uris", &cl.post_logout_redirect_uris)]
    {
        for u in list {
            if let Err(why) = check_redirect_uri(u, dev_mode) {
                c.problem(format!("{key}.{field}"), format!("`{u}` {why}"));
            }
        }
    }
    for (field, list) in [("scopes", &cl.scopes), ("audiences", &cl.audiences)] {
        for s in list {
            if s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ch == '"' || ch == '\\') {
                c.problem(
                    format!("{key}.{field}"),
                    format!("`{s}` is not a valid value (no spaces, quotes or backslashes)"),
                );
            }
        }
    }
    for (i, r) in cl.roles.iter().enumerate() {
        if crate::admin_roles::Role::parse(r).is_none() {
            c.problem(
                format!("{key}.roles[{i}]"),
                format!("`{r}` is not a role (known: {})", crate::admin_roles::NAMES.join(", ")),
            );
        }
    }
    if !cl.roles.is_empty() && !grant_types.iter().any(|g| g == "client_credentials") {
        c.problem(
            format!("{key}.roles"),
            "roles are for a client acting for itself: it needs the client_credentials grant",
        );
    }
    for (i, o) in cl.allowed_origins.iter().enumerate() {
        if let Err(why) = super::validate::check_origin(o) {
            c.problem(format!("{key}.allowed_origins[{i}]"), why);
        }
    }
    if let Some(a) = &cl.id_token_signed_response_alg
        && !ID_TOKEN_ALGS.contains(&a.as_str())
    {
        c.problem(
            format!("{key}.id_token_signed_response_alg"),
            format!("`{a}` is not one of {}", ID_TOKEN_ALGS.join(", ")),
        );
    }
    if let Some(name) = &cl.client_name
        && (name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control))
    {
        c.problem(format!("{key}.client_name"), "must be 1 to 100 printable characters");
    }
    (c.problems.len() == start).then_some(ClientRecord {
        id: cl.id,
        client_name: cl.client_name,
        secret_sha256,
        public: cl.public,
        redirect_uris: cl.redirect_uris,
        grant_types,
        scopes: cl.scopes,
        audiences: cl.audiences,
        token_endpoint_auth_method: cl.token_endpoint_auth_method,
        jwks: cl.jwks,
        jwks_uri: cl.jwks_uri,
        can_introspect: cl.can_introspect,
        trusted: cl.trusted,
        post_logout_redirect_uris: cl.post_logout_redirect_uris,
        id_token_signed_response_alg: cl.id_token_signed_response_alg,
        allowed_origins: cl.allowed_origins,
        require_mfa: cl.require_mfa,
        roles: cl.roles,
        created_at: 0,
        version: 0,
    })
}

pub(super) fn check_user(
    c: &mut Check<'_>,
    key: &str,
    u: UserSection,
    dev_mode: bool,
    seen: &mut HashSet<String>,
) -> Option<UserConfig> {
    let start = c.problems.len();
    let username = match crate::users::normalize_username(&u.username) {
        Ok(name) => {
            if !seen.insert(name.clone()) {
                c.problem(format!("{key}.username"), format!("`{name}` is defined twice"));
            }
            name
        }
        Err(why) => {
            c.problem(format!("{key}.username"), format!("`{}` {why}", u.username));
            String::new()
        }
    };
    let password = match (u.password, u.password_hash) {
        (Some(_), Some(_)) => {
            c.problem(key, "set password or password_hash, not both");
            None
        }
        (Some(p), None) => {
            if !dev_mode {
                c.problem(
                    format!("{key}.password"),
                    "plain-text passwords are allowed only with server.dev_mode = true; use password_hash",
                );
            }
            Some(UserPassword::Plain(Secret::new(p)))
        }
        (None, Some(h)) if h.starts_with("$argon2id$") => Some(UserPassword::Hash(h)),
        (None, Some(_)) => {
            c.problem(format!("{key}.password_hash"), "must be an argon2id PHC string ($argon2id$...)");
            None
        }
        (None, None) => {
            c.problem(key, "needs password_hash (or password in dev_mode)");
            None
        }
    };
    let email = u.email.and_then(|raw| match crate::users::normalize_email(&raw) {
        Ok(e) => Some(e),
        Err(why) => {
            c.problem(format!("{key}.email"), format!("`{raw}` {why}"));
            None
        }
    });
    for (i, g) in u.groups.iter().enumerate() {
        if let Err(why) = crate::users::check_group(g) {
            c.problem(format!("{key}.groups[{i}]"), format!("`{g}` {why}"));
        }
    }
    let profile = crate::store::Profile {
        name: u.name,
        given_name: u.given_name,
        family_name: u.family_name,
        locale: u.locale,
        zoneinfo: u.zoneinfo,
        picture: u.picture,
        phone_number: u.phone_number,
    };
    if let Err(e) = crate::users::profile::check(&profile) {
        c.problem(format!("{key}.{}", e.field), e.why);
    }
    match password {
        Some(password) if c.problems.len() == start => {
            Some(UserConfig { username, password, email, groups: u.groups, profile })
        }
        _ => None,
    }
}

/// Redirect URIs (RFC 6749 §3.1.2, OAuth security BCP §4.1, RFC 8252 §7): absolute, no
/// fragment; https, or http on a loopback host (any http host in dev_mode), or a private-use
/// scheme of a native app (reverse domain name: `com.example.app:/callback`).
fn check_redirect_uri(raw: &str, dev_mode: bool) -> Result<(), &'static str> {
    let u = url::Url::parse(raw).map_err(|_| "is not an absolute URI")?;
    if u.fragment().is_some() {
        return Err("must not contain a fragment (RFC 6749 §3.1.2)");
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if dev_mode => Ok(()),
        "http" => match u.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err("must use https (http is allowed for loopback hosts, or any host in dev_mode)"),
        },
        s if s.contains('.') => Ok(()),
        _ => Err("must use https, http on loopback, or a private-use scheme such as com.example.app"),
    }
}

/// The `[[clients]]` rules applied to a client made outside the file (the CLI); problems are
/// keyed `client.<field>`.
pub(super) fn check_record(record: &ClientRecord, dev_mode: bool) -> Vec<super::Problem> {
    let no_env = |_: &str| None;
    let mut c =
        Check { problems: Vec::new(), warnings: Vec::new(), env: &no_env, file: "", mode: super::LoadMode::Serve };
    let section = ClientSection {
        id: record.id.clone(),
        client_name: record.client_name.clone(),
        secret_sha256: record.secret_sha256.clone(),
        public: record.public,
        redirect_uris: record.redirect_uris.clone(),
        grant_types: Some(record.grant_types.clone()),
        scopes: record.scopes.clone(),
        audiences: record.audiences.clone(),
        token_endpoint_auth_method: record.token_endpoint_auth_method.clone(),
        jwks: record.jwks.clone(),
        jwks_uri: record.jwks_uri.clone(),
        can_introspect: record.can_introspect,
        trusted: record.trusted,
        post_logout_redirect_uris: record.post_logout_redirect_uris.clone(),
        id_token_signed_response_alg: record.id_token_signed_response_alg.clone(),
        allowed_origins: record.allowed_origins.clone(),
        require_mfa: record.require_mfa,
        roles: record.roles.clone(),
        ..ClientSection::default()
    };
    check_client(&mut c, "client", section, dev_mode);
    c.problems
}
