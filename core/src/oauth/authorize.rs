//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, RFC 7636,
//! RFC 9207). The client and the redirect URI are checked first: until both are known good,
//! errors are shown to the person and never redirected (§4.1.2.1), so the endpoint cannot be
//! used as an open redirector. Every later error goes back to the client with `state` and `iss`.

use super::client::Client;
use super::params::Params;
use super::pkce;
use crate::store::browser::AuthRequest;

/// Scopes any browser client may ask for (OpenID Connect Core §5.4, §11).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "groups"];
/// The scope that asks for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;
const MAX_HINT: usize = 256;
/// `max_age` above ten years is nonsense and would overflow nothing but is refused anyway.
const MAX_MAX_AGE: i64 = 10 * 365 * 24 * 3600;

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI is not trustworthy: an error page, never a redirect.
    Page(&'static str),
    /// An error for the client, sent to its redirect URI.
    Redirect(ErrorRedirect),
}

/// An error response to send to the client's redirect URI (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// The validated redirect URI.
    pub redirect_uri: String,
    /// The request's `state`.
    pub state: Option<String>,
    /// The `error` code.
    pub error: &'static str,
    /// The `error_description` (fixed text).
    pub description: &'static str,
}

/// Resolves the redirect URI: the one sent (exactly registered) or the only registered one.
fn redirect_uri(client: &Client, params: &Params) -> Result<(String, bool), AuthorizeError> {
    let sent = params.one("redirect_uri").map_err(|_| AuthorizeError::Page("redirect_uri is repeated"))?;
    let registered = &client.record.redirect_uris;
    match sent {
        // Exact string comparison (OAuth security BCP §4.1.3): no prefix, path or port matching.
        Some(u) if registered.iter().any(|r| r == u) => Ok((u.to_owned(), true)),
        Some(_) => Err(AuthorizeError::Page("the redirect_uri is not registered for this client")),
        None if registered.len() == 1 => Ok((registered[0].clone(), false)),
        None if registered.is_empty() => Err(AuthorizeError::Page("this client has no redirect URI registered")),
        None => Err(AuthorizeError::Page("redirect_uri is required: the client has several registered")),
    }
}

/// The scopes a client may be granted at the authorization endpoint.
pub fn allowed_scopes(client: &Client) -> Vec<String> {
    let mut allowed: Vec<String> = OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    if client.allows_grant("refresh_token") {
        allowed.push(OFFLINE_ACCESS.to_owned());
    }
    for s in &client.record.scopes {
        if !allowed.contains(s) {
            allowed.push(s.clone());
        }
    }
    allowed
}

/// Validates an authorization request for `client` (looked up by the caller from
/// `client_id`).
pub fn validate(client: &Client, params: &Params, require_pkce: bool) -> Result<AuthRequest, AuthorizeError> {
    let (redirect_uri, redirect_uri_sent) = redirect_uri(client, params)?;
    // From here on the redirect URI is trusted. `state` is read first so errors can carry it.
    let state = match params.one("state") {
        Ok(s) if s.is_some_and(|s| s.len() > MAX_STATE) => None,
        Ok(s) => s.map(str::to_owned),
        Err(_) => None,
    };
    let fail = |error: &'static str, description: &'static str| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        })
    };
    let invalid = |d: &'static str| fail("invalid_request", d);
    let one = |name: &str| params.one(name).map_err(|_| invalid("a request parameter was repeated"));

    if params.one("state").is_err() {
        return Err(invalid("state is repeated"));
    }
    if params.one("state").ok().flatten().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(invalid("state is too long"));
    }
    if one("request")?.is_some() {
        return Err(fail("request_not_supported", "request objects are not supported"));
    }
    if one("request_uri")?.is_some() {
        return Err(fail("request_uri_not_supported", "request_uri is not supported"));
    }
    if one("registration")?.is_some() {
        return Err(fail("registration_not_supported", "the registration parameter is not supported"));
    }
    match one("response_type")? {
        None => return Err(invalid("response_type is required")),
        Some("code") => {}
        Some(_) => return Err(fail("unsupported_response_type", "only response_type=code is supported")),
    }
    if one("response_mode")?.is_some_and(|m| m != "query") {
        return Err(invalid("only response_mode=query is supported"));
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail("unauthorized_client", "the client may not use the authorization code flow"));
    }

    let requested = one("scope")?.ok_or_else(|| fail("invalid_scope", "scope is required"))?;
    let requested = super::scope::parse(requested).map_err(|_| fail("invalid_scope", "the scope is malformed"))?;
    let allowed = allowed_scopes(client);
    let scopes: Vec<String> = requested.into_iter().filter(|s| allowed.contains(s)).collect();
    if scopes.is_empty() {
        return Err(fail("invalid_scope", "none of the requested scopes is allowed for this client"));
    }

    let nonce = one("nonce")?;
    if nonce.is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(invalid("nonce is too long"));
    }
    let login_hint = one("login_hint")?;
    if login_hint.is_some_and(|h| h.len() > MAX_HINT) {
        return Err(invalid("login_hint is too long"));
    }

    // A connector id (`[a-z0-9_-]`, as `describe` ids are); whether it is loaded is checked
    // when the sign-in starts.
    let idp_hint = one("idp_hint")?;
    let id_like = |h: &str| {
        (1..=64).contains(&h.len())
            && h.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
    };
    if idp_hint.is_some_and(|h| !id_like(h)) {
        return Err(invalid("idp_hint is not a sign-in provider id"));
    }

    let (mut force_login, mut force_consent, mut no_prompt, mut select_account) = (false, false, false, false);
    if let Some(prompt) = one("prompt")? {
        for p in prompt.split(' ').filter(|p| !p.is_empty()) {
            match p {
                "none" => no_prompt = true,
                "login" => force_login = true,
                "consent" => force_consent = true,
                "select_account" => select_account = true,
                _ => return Err(invalid("prompt has an unknown value")),
            }
        }
        if no_prompt && (force_login || force_consent || select_account) {
            return Err(invalid("prompt=none cannot be combined with other values"));
        }
    }
    let max_age = match one("max_age")? {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (0..=MAX_MAX_AGE).contains(&n) => Some(n),
            _ => return Err(invalid("max_age must be a non-negative number of seconds")),
        },
    };
    if max_age == Some(0) {
        force_login = true;
    }
    // Voluntary (OpenID Connect Core §3.1.2.1); the one value that asks for more is honoured.
    let mfa_requested = one("acr_values")?.is_some_and(|v| v.split(' ').any(|a| a == crate::mfa::ACR_MFA));

    let challenge = one("code_challenge")?;
    let method = one("code_challenge_method")?;
    let code_challenge = match (challenge, method) {
        (None, None) => None,
        (Some(c), Some("S256")) if pkce::well_formed(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => return Err(invalid("code_challenge is malformed")),
        (None, Some(_)) => return Err(invalid("code_challenge_method without code_challenge")),
        (Some(_), None | Some(_)) => return Err(invalid("code_challenge_method must be S256")),
    };
    if code_challenge.is_none() && (client.is_public() || require_pkce) {
        return Err(invalid("PKCE is required: send code_challenge with code_challenge_method=S256"));
    }

    Ok(AuthRequest {
        client_id: client.id().to_owned(),
        redirect_uri,
        redirect_uri_sent,
        scopes,
        state,
        nonce: nonce.map(str::to_owned),
        code_challenge,
        force_login,
        force_consent,
        no_prompt,
        select_account,
        max_age,
        mfa_requested,
        login_hint: login_hint.map(str::to_owned),
        idp_hint: idp_hint.map(str::to_owned),
    })
}

/// The redirect carrying an error (with `state` and `iss`, RFC 9207).
pub fn error_url(e: &ErrorRedirect, issuer: &str) -> String {
    response_url(
        &e.redirect_uri,
        &[("error", Some(e.error)), ("error_description", Some(e.description)), ("state", e.state.as_deref())],
        issuer,
    )
}

/// The redirect carrying a code.
pub fn code_url(req: &AuthRequest, code: &str, issuer: &str) -> String {
    response_url(&req.redirect_uri, &[("code", Some(code)), ("state", req.state.as_deref())], issuer)
}

/// Appends response parameters (and `iss`) to the query of a registered redirect URI.
fn response_url(redirect_uri: &str, pairs: &[(&str, Option<&str>)], issuer: &str) -> String {
    let mut all = pairs.to_vec();
    all.push(("iss", Some(issuer)));
    with_query(redirect_uri, &all)
}

/// `uri` with the present values of `pairs` appended to its query; unchanged when none is
/// present (or when it does not parse: registered URIs are validated at load, this only keeps
/// a bad stored one from panicking).
pub fn with_query(uri: &str, pairs: &[(&str, Option<&str>)]) -> String {
    if pairs.iter().all(|(_, v)| v.is_none()) {
        return uri.to_owned();
    }
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    if let Some(v) = v {
                        q.append_pair(k, v);
                    }
                }
            }
            u.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ClientRecord;

    fn client(public: bool, uris: &[&str]) -> Client {
        Client::from_record(ClientRecord {
            id: "web".into(),
            public,
            secret_sha256: (!public).then(|| "00".repeat(32)),
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["api".into()],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn params(q: &str) -> Params {
        Params::parse(q.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    const S256: &str = "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

    #[test]
    fn redirect_uri_is_matched_exactly_and_errors_before_it_are_pages() {
        let c = client(false, &["https://app.example/cb", "https://app.example/cb2"]);
        for bad in [
            "https://app.example/cb/x",
            "https://app.example/cb?x=1",
            "https://app.example@evil/cb",
            "HTTPS://app.example/cb",
        ] {
            let q = format!("response_type=code&scope=openid&redirect_uri={}", urlencode(bad));
            assert!(matches!(validate(&c, &params(&q), false), Err(AuthorizeError::Page(_))), "{bad}");
        }
        assert!(matches!(
            validate(&c, &params("response_type=code&scope=openid"), false),
            Err(AuthorizeError::Page(_))
        ));
        let ok = validate(
            &c,
            &params(
                "response_type=code&scope=openid%20api%20other&redirect_uri=https%3A%2F%2Fapp.example%2Fcb2&state=s",
            ),
            false,
        )
        .unwrap();
        assert_eq!(ok.redirect_uri, "https://app.example/cb2");
        assert_eq!(ok.scopes, ["openid", "api"], "scopes are intersected with the client's");
    }

    #[test]
    fn later_errors_redirect_with_state() {
        let c = client(true, &["https://app.example/cb"]);
        let err = |q: &str| match validate(&c, &params(q), false) {
            Err(AuthorizeError::Redirect(e)) => (e.error, e.state),
            x => panic!("{q}: {x:?}"),
        };
        assert_eq!(err("scope=openid&state=s"), ("invalid_request", Some("s".into())));
        assert_eq!(err("response_type=token&scope=openid").0, "unsupported_response_type");
        assert_eq!(err("response_type=code&scope=openid").0, "invalid_request", "public client without PKCE");
        assert_eq!(err(&format!("response_type=code&scope=nothing&{S256}")).0, "invalid_scope");
        assert_eq!(err("response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=plain").0, "invalid_request");
        assert_eq!(err(&format!("response_type=code&scope=openid&prompt=none%20login&{S256}")).0, "invalid_request");
        assert_eq!(err(&format!("response_type=code&scope=openid&max_age=-1&{S256}")).0, "invalid_request");
        let ok = validate(&c, &params(&format!("response_type=code&scope=openid&max_age=0&{S256}")), false).unwrap();
        assert!(ok.force_login);
    }

    #[test]
    fn responses_carry_iss_and_keep_the_registered_query() {
        let e = ErrorRedirect {
            redirect_uri: "https://app.example/cb?tenant=a".into(),
            state: Some("x y".into()),
            error: "access_denied",
            description: "no",
        };
        let u = error_url(&e, "https://id.example");
        assert_eq!(
            u,
            "https://app.example/cb?tenant=a&error=access_denied&error_description=no&state=x+y&iss=https%3A%2F%2Fid.example"
        );
    }

    fn urlencode(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }
}
