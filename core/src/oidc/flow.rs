//! The login flow: a server-side record of the steps a sign-in still needs (password,
//! login-step plugins, consent; MFA and federated sign-in slot in as further [`Step`]s), bound to
//! the browser that started it by a cookie and to its forms by a CSRF token. This file holds
//! the replies the HTTP layer renders and the end of a flow: the session and the code.

use std::time::Duration;

use time::OffsetDateTime;

use crate::audit::Actor;
use crate::oauth::authorize::{ErrorRedirect, code_url, error_url};
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::policy::Refusal;
use crate::oidc::service::SignIn;
use crate::plugins::{PolicyRequest, PolicyStage};
use crate::secret::{random_token, sha256};
use crate::store::browser::{AuthRequest, CodeRecord, Digest, FlowRecord, Step};

/// How long a person has to finish a login flow.
pub const FLOW_TTL: Duration = Duration::from_secs(15 * 60);
/// Authorization code lifetime (RFC 6749 §4.1.2 recommends at most ten minutes).
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// The cookies that matter for sign-in.
#[derive(Debug, Clone, Default)]
pub struct BrowserCookies {
    /// Browser-binding cookie.
    pub binding: Option<String>,
    /// Session cookie.
    pub session: Option<String>,
    /// The flow a federated sign-in belongs to (set when the browser leaves for the provider).
    pub federation: Option<String>,
}

/// What the browser gets.
#[derive(Debug)]
pub struct Reply {
    /// The response.
    pub action: Action,
    /// Set the browser-binding cookie to this value (a browser session cookie).
    pub set_binding: Option<String>,
    /// Set the session cookie: value and lifetime.
    pub set_session: Option<(String, Duration)>,
    /// Expire the session cookie.
    pub clear_session: bool,
    /// The federation cookie: the flow id a callback finds its flow by.
    pub federation: CookieChange,
}

/// What a reply does to a cookie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CookieChange {
    /// Leave it.
    #[default]
    Keep,
    /// Set it to this value.
    Set(Box<str>),
    /// Expire it.
    Clear,
}

impl From<Action> for Reply {
    fn from(action: Action) -> Self {
        Self { action, set_binding: None, set_session: None, clear_session: false, federation: CookieChange::Keep }
    }
}

/// The response body kind.
#[derive(Debug)]
pub enum Action {
    /// 303 See Other to this URL.
    Redirect(String),
    /// A page of the flow.
    Page(Box<Page>),
    /// An error page for a person.
    Error(Box<ErrorPage>),
}

pub use super::page::{Page, Provider};

/// Why a page is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400.
    BadRequest,
    /// 403.
    Forbidden,
    /// 429.
    TooMany,
    /// 503.
    Unavailable,
}

/// An error page.
#[derive(Debug)]
pub struct ErrorPage {
    /// The status class.
    pub kind: ErrorKind,
    /// Heading.
    pub title: &'static str,
    /// Explanation (fixed text, never request data).
    pub message: &'static str,
    /// A way back (the sign-in page of the flow), when there is one.
    pub back: Option<Box<str>>,
}

/// An error page reply.
pub fn error(kind: ErrorKind, title: &'static str, message: &'static str) -> Reply {
    Action::Error(Box::new(ErrorPage { kind, title, message, back: None })).into()
}

/// An error page with a link back to `back` (the flow's sign-in page).
pub fn error_back(kind: ErrorKind, title: &'static str, message: &'static str, back: String) -> Reply {
    Action::Error(Box::new(ErrorPage { kind, title, message, back: Some(back.into()) })).into()
}

/// The reply when the store fails: logged with the cause, 503 for the person.
pub fn unavailable(context: &'static str, cause: &dyn std::fmt::Display) -> Reply {
    tracing::error!(request_id = %crate::logctx::current(), error = %cause, "{context}");
    error(
        ErrorKind::Unavailable,
        "Temporarily unavailable",
        "The service is temporarily unavailable. Please try again in a moment.",
    )
}

/// The reply for a missing, expired or foreign flow.
pub fn expired() -> Reply {
    error(
        ErrorKind::BadRequest,
        "Sign-in expired",
        "This sign-in page has expired or was opened in another browser. Start again from the application.",
    )
}

/// A redirect reply.
pub fn redirect(to: String) -> Reply {
    Action::Redirect(to).into()
}

/// Sends an OAuth error back to the client.
pub fn client_error(svc: &SignIn, req: &AuthRequest, error: &'static str, description: &'static str) -> Reply {
    let e = ErrorRedirect { redirect_uri: req.redirect_uri.clone(), state: req.state.clone(), error, description };
    redirect(error_url(&e, &svc.issuer))
}

/// A human description of a scope for the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are".to_owned(),
        "profile" => "See your name, username, picture, language and time zone".to_owned(),
        "phone" => "See your phone number".to_owned(),
        "groups" => "See the groups you belong to".to_owned(),
        "email" => "See your email address".to_owned(),
        "offline_access" => "Keep access while you are not using it".to_owned(),
        other => format!("Access “{other}”"),
    }
}

/// Whether the user must approve `req`'s scopes for `client`.
pub async fn needs_consent(
    svc: &SignIn,
    client: &Client,
    user_id: &str,
    req: &AuthRequest,
) -> Result<bool, OAuthError> {
    if client.record.trusted {
        return Ok(false);
    }
    if req.force_consent {
        return Ok(true);
    }
    let remembered = svc
        .browser
        .get_consent(user_id, client.id())
        .await
        .map_err(|e| crate::oauth::error::unavailable("reading consent failed", &e))?
        .unwrap_or_default();
    Ok(!req.scopes.iter().all(|s| remembered.contains(s)))
}

/// Starts a flow with `pending` steps and sends the browser to the login page.
pub async fn start(
    svc: &SignIn,
    flow: FlowRecord,
    cookies: &BrowserCookies,
    ip: std::net::IpAddr,
    now: OffsetDateTime,
) -> Reply {
    // Flows are stored: bound how fast one address can create them.
    if svc.limiter.flow_started(ip).is_err() {
        svc.metrics.rate_limited("login_flows");
        return error(
            ErrorKind::TooMany,
            "Too many sign-ins",
            "Too many sign-ins from your network. Wait a minute and try again.",
        );
    }
    let (binding, set_binding) = match &cookies.binding {
        Some(b) => (b.clone(), None),
        None => match random_token() {
            Ok(b) => (b.clone(), Some(b)),
            Err(e) => return unavailable("no randomness for a browser binding", &e),
        },
    };
    let (Ok(id), Ok(csrf)) = (random_token(), random_token()) else {
        return unavailable("no randomness for a flow", &"random");
    };
    let t = now.unix_timestamp();
    let flow = FlowRecord {
        browser: hex::encode(sha256(binding.as_bytes())),
        csrf,
        created_at: t,
        expires_at: t.saturating_add(i64::try_from(FLOW_TTL.as_secs()).unwrap_or(i64::MAX)),
        ..flow
    };
    if let Err(e) = svc.browser.put_flow(&sha256(id.as_bytes()), &flow).await {
        return unavailable("storing a login flow failed", &e);
    }
    // `idp_hint` of a loaded connector: straight to the provider, past the login page.
    let hinted = flow
        .request
        .idp_hint
        .as_deref()
        .filter(|h| flow.pending.first() == Some(&Step::Password) && svc.plugins.connector_info(h).is_some());
    let to = match hinted {
        Some(h) => super::federation::start_url(svc, h, &id),
        None => login_url(svc, &id),
    };
    let mut reply = redirect(to);
    reply.set_binding = set_binding;
    reply
}

/// The login page URL of a flow.
pub fn login_url(svc: &SignIn, flow_id: &str) -> String {
    format!("{}?flow={flow_id}", svc.urls.login)
}

/// Loads the flow `id` and checks it belongs to this browser and has not expired.
pub async fn load(
    svc: &SignIn,
    id: Option<&str>,
    cookies: &BrowserCookies,
    now: OffsetDateTime,
) -> Result<(Digest, FlowRecord), Reply> {
    let (Some(id), Some(binding)) = (id, cookies.binding.as_deref()) else { return Err(expired()) };
    if id.len() > 64 {
        return Err(expired());
    }
    let key = sha256(id.as_bytes());
    let flow = match svc.browser.get_flow(&key).await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(expired()),
        Err(e) => return Err(unavailable("reading a login flow failed", &e)),
    };
    let bound = crate::secret::ct_eq(hex::encode(sha256(binding.as_bytes())).as_bytes(), flow.browser.as_bytes());
    if !bound || now.unix_timestamp() >= flow.expires_at {
        return Err(expired());
    }
    Ok((key, flow))
}

/// What [`issue_code`] came to.
#[derive(Debug)]
pub enum Issued {
    /// The redirect to the client: a code, or `access_denied` when a policy refused.
    Redirect(String),
    /// A policy asked for a further factor first: any second factor, or a passkey.
    StepUp {
        /// Only a passkey does (the policy named `pop`, `hwk` or `swk`).
        passkey_only: bool,
    },
}

/// Issues a code for a finished sign-in (durable before the redirect) and returns the
/// redirect to the client. The policy plugins decide first: they may narrow the scopes the
/// code carries; a deny or a plugin failure sends the browser back with `access_denied`
/// (the reason stays in the log and audit log); a step-up that a factor of this person
/// satisfies is [`Issued::StepUp`] (any other is a deny; see [`step_up`]).
pub async fn issue_code(
    svc: &SignIn,
    req: &AuthRequest,
    signed_in: &SignedIn<'_>,
    ip: Option<std::net::IpAddr>,
    now: OffsetDateTime,
) -> Result<Issued, OAuthError> {
    let SignedIn { user_id, sid, auth_time, amr, idp } = *signed_in;
    let mut request = req.clone();
    if svc.policies.any() {
        let denied = || {
            let e = ErrorRedirect {
                redirect_uri: req.redirect_uri.clone(),
                error: "access_denied",
                description: "the request was denied by policy",
                state: req.state.clone(),
            };
            Ok(Issued::Redirect(error_url(&e, &svc.issuer)))
        };
        match authorize_policy(svc, req, user_id, amr, ip, now).await? {
            Ok(scopes) => request.scopes = scopes,
            Err(Refusal::StepUp { methods }) => match step_up(svc, &methods, user_id, amr).await? {
                Some(passkey_only) => return Ok(Issued::StepUp { passkey_only }),
                None => return denied(),
            },
            Err(_) => return denied(),
        }
    }
    let code = random_token().map_err(|e| crate::oauth::error::internal("no randomness for a code", &e))?;
    let t = now.unix_timestamp();
    let record = CodeRecord {
        request,
        user_id: user_id.to_owned(),
        sid: sid.to_owned(),
        auth_time,
        amr: amr.to_vec(),
        idp: idp.map(str::to_owned),
        created_at: t,
        expires_at: t.saturating_add(i64::try_from(CODE_TTL.as_secs()).unwrap_or(i64::MAX)),
        redeemed: None,
    };
    let unavailable = |e: &dyn std::fmt::Display| crate::oauth::error::unavailable("storing a code failed", e);
    svc.browser.put_code(&sha256(code.as_bytes()), &record).await.map_err(|e| unavailable(&e))?;
    svc.group_commit.commit().await.map_err(|e| unavailable(&e))?;
    Ok(Issued::Redirect(code_url(req, &code, &svc.issuer)))
}

/// How a step-up asking for one of `methods` can be met here, if it can: `Some(false)` by
/// any second factor (`otp`, `mfa`, asked of a one-factor sign-in), `Some(true)` by a passkey
/// only (`pop`, `hwk`, `swk`, asked of a sign-in without one, of a person who has one, where
/// passkeys work). Anything else (a sign-in that has what is asked already, a method no
/// factor here gives, a passkey the person lacks) is a deny.
async fn step_up(svc: &SignIn, methods: &[String], user_id: &str, amr: &[String]) -> Result<Option<bool>, OAuthError> {
    let named = |set: &[&str]| methods.iter().any(|m| set.contains(&m.as_str()));
    if named(&["otp", "mfa"]) && !super::factor::has_mfa(amr) {
        return Ok(Some(false));
    }
    if !named(&["pop", "hwk", "swk"]) || amr.iter().any(|m| m == "pop") || !svc.mfa.passkeys().enabled() {
        return Ok(None);
    }
    let factors =
        svc.mfa.factors(user_id).await.map_err(|e| crate::oauth::error::unavailable("reading factors failed", &e))?;
    Ok((!factors.passkeys.is_empty()).then_some(true))
}

/// Who a code is for: the user and their session.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn<'a> {
    /// The user.
    pub user_id: &'a str,
    /// Session id (`sid`).
    pub sid: &'a str,
    /// When the user authenticated.
    pub auth_time: i64,
    /// How (RFC 8176).
    pub amr: &'a [String],
    /// The connector of a federated sign-in.
    pub idp: Option<&'a str>,
}

/// Runs the policies at `authorize`: the scopes they allow, or why not.
async fn authorize_policy(
    svc: &SignIn,
    req: &AuthRequest,
    user_id: &str,
    amr: &[String],
    ip: Option<std::net::IpAddr>,
    now: OffsetDateTime,
) -> Result<Result<Vec<String>, Refusal>, OAuthError> {
    let user = match svc.users.get_user(user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(Err(Refusal::Denied)),
        Err(e) => return Err(crate::oauth::error::unavailable("user lookup failed", &e)),
    };
    let request_id = crate::logctx::current();
    let audiences = [svc.issuer.clone()];
    let attributes = [("redirect_uri", req.redirect_uri.clone())];
    let ask = PolicyRequest {
        stage: PolicyStage::Authorize,
        request_id: &request_id,
        client_id: &req.client_id,
        remote_ip: ip,
        user_agent: None,
        now,
        subject: Some(crate::oauth::grants::user_tokens::subject(&user, amr)),
        grant_type: None,
        scopes: &req.scopes,
        audiences: &audiences,
        attributes: &attributes,
    };
    let actor =
        Actor { who: format!("user:{user_id}"), ip: ip.map(|i| i.to_string()), request_id: Some(request_id.clone()) };
    Ok(svc.policies.decide(&ask, actor).await.map(|allowed| allowed.scopes))
}

/// The pending step of a flow after skipping a consent that is not needed.
pub async fn current_step(svc: &SignIn, client: &Client, flow: &mut FlowRecord) -> Result<Option<Step>, OAuthError> {
    while let Some(step) = flow.pending.first().copied() {
        match (step, flow.user_id.as_deref()) {
            (Step::Consent, Some(user)) if !needs_consent(svc, client, user, &flow.request).await? => {
                flow.pending.remove(0);
            }
            _ => return Ok(Some(step)),
        }
    }
    Ok(None)
}
