//! Federated sign-in through idp-connector plugins: the login page's provider buttons,
//! `GET /federation/{id}/start` (the host makes `state`, `nonce` and the S256 PKCE pair, keeps
//! them in the flow and sends the browser to the provider) and `GET /federation/{id}/callback`
//! (the redirect URI operators register: `{issuer}/federation/{id}/callback`).
//!
//! The callback finds its flow by the federation cookie set at the start, checks the flow is
//! this browser's, takes the flow from the store (a replayed callback finds nothing), checks
//! that it came back on the connector it left for (mix-up defence) with the `state` it was
//! given, lets the connector exchange the code (verifier and nonce from the flow), compares an
//! RFC 9207 `iss`, and turns the identity into a local user (`federated_user.rs`). A failure
//! puts the flow back without the federation state, so the person can try again from the
//! sign-in page; only a person who cancels at the provider (`access_denied`) is sent back to
//! the application with an error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use super::federated_user::{Resolved, linked_event, login_event, resolve};
use super::flow::{
    BrowserCookies, CookieChange, ErrorKind, Provider, Reply, client_error, error, error_back, expired, load,
    login_url, redirect, unavailable,
};
use super::login::{Next, flow_client, proceed};
use super::service::SignIn;
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;
use crate::plugins::{BeginRequest, CompleteRequest, ConnectorError};
use crate::secret::{ct_eq, random_token, sha256};
use crate::store::browser::{FederationState, FlowRecord, Step};
use crate::store::links::LinkRecord;

/// Most parameters a provider's callback may carry.
const MAX_CALLBACK_PARAMS: usize = 32;
/// Longest callback parameter value (codes, and an ID token when a provider sends one).
const MAX_CALLBACK_VALUE: usize = 8 * 1024;

/// The buttons of the login page of flow `flow_id`: one per loaded connector.
pub fn providers(svc: &SignIn, flow_id: &str) -> Vec<Provider> {
    svc.plugins
        .connectors()
        .into_iter()
        .map(|c| Provider { start: start_url(svc, &c.id, flow_id), name: c.display_name, icon: c.icon_url })
        .collect()
}

/// Where a federated sign-in of flow `flow_id` with connector `id` starts.
pub fn start_url(svc: &SignIn, id: &str, flow_id: &str) -> String {
    format!("{}/{id}/start?flow={flow_id}", svc.urls.federation)
}

/// The redirect URI of connector `id`.
fn callback_url(svc: &SignIn, id: &str) -> String {
    format!("{}/{id}/callback", svc.urls.federation)
}

fn failed(svc: &SignIn, meta: &RequestMeta, connector: &str, reason: &str, now: OffsetDateTime) {
    tracing::warn!(request_id = %meta.request_id, connector, reason, "federated sign-in failed");
    svc.metrics.federated_login(connector, "failed");
    let event = AuditEvent::FederatedLoginFailed { connector_id: connector.to_owned(), reason: reason.to_owned() };
    svc.audit.emit(meta.actor("anonymous"), event, now);
}

/// `GET /federation/{id}/start?flow=...`.
pub async fn start(
    svc: &SignIn,
    connector: &str,
    flow_id: Option<&str>,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let (key, mut flow) = match load(svc, flow_id, cookies, now).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let flow_id = flow_id.unwrap_or_default();
    let back = login_url(svc, flow_id);
    let signing_in = flow.pending.first() == Some(&Step::Password) && flow.pending_link.is_none();
    if !signing_in && flow.link_for.is_none() {
        // Past the sign-in step, or waiting for the password of an account to link.
        return redirect(back);
    }
    let Some((info, _)) = svc.plugins.connector_info(connector) else {
        return error_back(
            ErrorKind::BadRequest,
            "Unknown sign-in provider",
            "This way to sign in is not available.",
            back,
        );
    };
    // Each start calls a plugin and stores state: bounded per address like new flows.
    if svc.limiter.flow_started(meta.ip).is_err() {
        svc.metrics.rate_limited("login_flows");
        return error(
            ErrorKind::TooMany,
            "Too many sign-ins",
            "Too many sign-ins from your network. Wait a minute and try again.",
        );
    }
    let (Ok(state), Ok(nonce), Ok(v1), Ok(v2)) = (random_token(), random_token(), random_token(), random_token())
    else {
        return unavailable("no randomness for a federated sign-in", &"random");
    };
    let verifier = format!("{v1}{v2}");
    let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    let redirect_uri = callback_url(svc, &info.id);
    let request_id = crate::logctx::current();
    let begin = BeginRequest {
        request_id: &request_id,
        now,
        redirect_uri: &redirect_uri,
        state: &state,
        nonce: &nonce,
        code_challenge: &challenge,
        login_hint: flow.request.login_hint.as_deref(),
    };
    let started = match svc.plugins.connector_begin(&info.id, &begin).await {
        Ok(b) => b,
        Err(e) => {
            failed(svc, meta, &info.id, &format!("begin: {e}"), now);
            return error_back(
                ErrorKind::Unavailable,
                "Sign-in unavailable",
                "This way to sign in does not answer right now. Try again in a moment, or sign in another way.",
                back,
            );
        }
    };
    flow.federation = Some(Box::new(FederationState {
        connector: info.id.clone(),
        state_sha256: hex::encode(sha256(state.as_bytes())),
        nonce,
        verifier,
        flow_data: started.flow_data.map(|d| URL_SAFE_NO_PAD.encode(d)),
        started_at: now.unix_timestamp(),
    }));
    match svc.browser.update_flow(&key, &flow).await {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return unavailable("storing a login flow failed", &e),
    }
    let mut reply = redirect(started.authorization_url);
    reply.federation = CookieChange::Set(flow_id.into());
    reply
}

/// Why a callback is refused: for the log and audit (`reason`) and the person (`page`).
struct Refused {
    reason: String,
    kind: ErrorKind,
    title: &'static str,
    message: &'static str,
}

fn refused(reason: impl Into<String>, kind: ErrorKind, title: &'static str, message: &'static str) -> Refused {
    Refused { reason: reason.into(), kind, title, message }
}

const NOT_VERIFIED: &str = "The answer of the sign-in provider could not be verified. Try again.";

/// `GET /federation/{id}/callback?...`.
pub async fn callback(
    svc: &SignIn,
    connector: &str,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let pairs = params.pairs();
    if pairs.len() > MAX_CALLBACK_PARAMS || pairs.iter().any(|(k, v)| k.len() > 64 || v.len() > MAX_CALLBACK_VALUE) {
        failed(svc, meta, connector, "oversized callback", now);
        return error(ErrorKind::BadRequest, "Invalid response", "The answer of the sign-in provider is too large.");
    }
    let flow_id = cookies.federation.as_deref();
    let (key, _) = match load(svc, flow_id, cookies, now).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    // Taken, so that a second callback (a replay, another tab) finds nothing.
    let mut flow = match svc.browser.take_flow(&key).await {
        Ok(Some(f)) => f,
        Ok(None) => return expired(),
        Err(e) => return unavailable("reading a login flow failed", &e),
    };
    let flow_id = flow_id.unwrap_or_default();
    if let Some(user_id) = flow.link_for.clone() {
        let mut reply = link_flow(svc, connector, &user_id, &flow, params, cookies, meta, now).await;
        reply.federation = CookieChange::Clear;
        return reply;
    }
    let back = login_url(svc, flow_id);
    let fed = flow.federation.take();
    let result = match fed {
        Some(fed) => check_and_complete(svc, connector, &fed, params, &mut flow, meta, now).await,
        None => Err(refused(
            "no federated sign-in in progress",
            ErrorKind::BadRequest,
            "Sign-in expired",
            "This answer does not belong to a sign-in in progress. Start again from the sign-in page.",
        )),
    };
    let mut reply = match result {
        Ok(Some(reply)) => reply,
        Ok(None) => {
            // Signed in (or waiting for a password to link): on with the flow.
            if let Err(e) = svc.browser.put_flow(&key, &flow).await {
                return unavailable("storing a login flow failed", &e);
            }
            let Some(client) = flow_client(svc, &flow).await else { return expired() };
            let next = Next { key: &key, flow_id, client: &client, cookies, meta, now };
            proceed(svc, &next, flow, false).await
        }
        Err(r) => {
            failed(svc, meta, connector, &r.reason, now);
            if let Err(e) = svc.browser.put_flow(&key, &flow).await {
                return unavailable("storing a login flow failed", &e);
            }
            error_back(r.kind, r.title, r.message, back)
        }
    };
    reply.federation = CookieChange::Clear;
    reply
}

/// What the provider's callback gave.
enum Exchanged {
    /// The person declined at the provider.
    Declined,
    /// Who they are.
    Identity(crate::plugins::ExternalIdentity),
}

/// The checks, the code exchange and the local user. `Ok(None)`: the flow goes on;
/// `Ok(Some(reply))`: the flow ends here (the person cancelled).
async fn check_and_complete(
    svc: &SignIn,
    connector: &str,
    fed: &FederationState,
    params: &Params,
    flow: &mut FlowRecord,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<Option<Reply>, Refused> {
    let identity = match exchange(svc, connector, fed, params, now).await? {
        Exchanged::Declined => {
            return Ok(Some(client_error(svc, &flow.request, "access_denied", "the user declined at the provider")));
        }
        Exchanged::Identity(i) => i,
    };
    match resolve(svc, connector, &identity, meta, now).await {
        Resolved::User(user) => {
            flow.user_id = Some(user.id.clone());
            flow.auth_time = Some(now.unix_timestamp());
            flow.amr = vec!["fed".to_owned()];
            flow.idp = Some(connector.to_owned());
            flow.pending.remove(0);
            let client_requires = match svc.clients.get(&flow.request.client_id).await {
                Ok(c) => c.is_some_and(|c| c.record.require_mfa) || flow.request.mfa_requested,
                Err(e) => return Ok(Some(super::flow::unavailable("client lookup failed", &e))),
            };
            if let Err(reply) = super::factor::schedule(svc, flow, client_requires).await {
                return Ok(Some(reply));
            }
            svc.metrics.login("success");
            Ok(None)
        }
        Resolved::LinkFirst(pending) => {
            // The sign-in page asks for the existing account's password; the link follows it.
            flow.pending_link = Some(Box::new(pending));
            Ok(None)
        }
        Resolved::Refused { reason, kind, title, message } => Err(refused(reason, kind, title, message)),
    }
}

/// The callback's checks and the connector's code exchange.
async fn exchange(
    svc: &SignIn,
    connector: &str,
    fed: &FederationState,
    params: &Params,
    now: OffsetDateTime,
) -> Result<Exchanged, Refused> {
    if fed.connector != connector {
        return Err(refused(
            format!("callback on {connector}'s path for a sign-in with {}", fed.connector),
            ErrorKind::BadRequest,
            "Sign-in failed",
            NOT_VERIFIED,
        ));
    }
    let state = params.one("state").ok().flatten().unwrap_or_default();
    let state_ok = ct_eq(hex::encode(sha256(state.as_bytes())).as_bytes(), fed.state_sha256.as_bytes());
    if !state_ok {
        return Err(refused("state mismatch", ErrorKind::BadRequest, "Sign-in failed", NOT_VERIFIED));
    }
    if let Some(code) = params.one("error").ok().flatten() {
        if code == "access_denied" {
            // The person declined at the provider: the application hears of it, as from our
            // own Cancel button.
            svc.metrics.federated_login(connector, "cancelled");
            return Ok(Exchanged::Declined);
        }
        let reason = format!("provider error {}", code.chars().take(64).collect::<String>());
        return Err(refused(
            reason,
            ErrorKind::Unavailable,
            "Sign-in failed",
            "The sign-in provider refused the sign-in. Try again, or sign in another way.",
        ));
    }
    let flow_data = fed.flow_data.as_deref().and_then(|d| URL_SAFE_NO_PAD.decode(d).ok());
    let request_id = crate::logctx::current();
    let redirect_uri = callback_url(svc, connector);
    let complete = CompleteRequest {
        request_id: &request_id,
        now,
        redirect_uri: &redirect_uri,
        params: params.pairs(),
        code_verifier: &fed.verifier,
        nonce: &fed.nonce,
        flow_data: flow_data.as_deref(),
    };
    let identity = match svc.plugins.connector_complete(connector, &complete).await {
        Ok(i) => i,
        Err(e @ ConnectorError::Invalid(_)) => {
            return Err(refused(format!("complete: {e}"), ErrorKind::BadRequest, "Sign-in failed", NOT_VERIFIED));
        }
        Err(e) => {
            return Err(refused(
                format!("complete: {e}"),
                ErrorKind::Unavailable,
                "Sign-in unavailable",
                "The sign-in provider does not answer right now. Try again in a moment, or sign in another way.",
            ));
        }
    };
    // RFC 9207: a provider that names itself must name the issuer its identity is from.
    if let Some(iss) = params.one("iss").ok().flatten()
        && iss != identity.issuer
    {
        return Err(refused("iss mismatch", ErrorKind::BadRequest, "Sign-in failed", NOT_VERIFIED));
    }
    Ok(Exchanged::Identity(identity))
}

/// The callback of a flow started on the account page: links the identity to the signed-in
/// user (who must still be signed in) and returns to the account page.
#[allow(clippy::too_many_arguments, reason = "the callback's request parts, passed on as they are")]
async fn link_flow(
    svc: &SignIn,
    connector: &str,
    user_id: &str,
    flow: &FlowRecord,
    params: &Params,
    cookies: &BrowserCookies,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    let account = svc.urls.account.clone();
    let live = crate::oidc::session::lookup(svc.sessions(), cookies.session.as_deref(), &svc.session_config, now).await;
    let signed_in = matches!(&live, Ok(Some(l)) if l.user.id == user_id);
    let Some(fed) = flow.federation.as_deref().filter(|_| signed_in) else {
        failed(svc, meta, connector, "link: not signed in as the flow's user", now);
        return error_back(
            ErrorKind::Forbidden,
            "Not signed in",
            "Sign in again, then link the provider from your account page.",
            account,
        );
    };
    let identity = match exchange(svc, connector, fed, params, now).await {
        Ok(Exchanged::Identity(i)) => i,
        Ok(Exchanged::Declined) => return redirect(account),
        Err(r) => {
            failed(svc, meta, connector, &format!("link: {}", r.reason), now);
            return error_back(r.kind, r.title, r.message, account);
        }
    };
    match svc.links.find_link(&identity.issuer, &identity.subject).await {
        Ok(Some(l)) if l.user_id == user_id => return redirect(account),
        Ok(Some(_)) => {
            failed(svc, meta, connector, "link: the identity is linked to another user", now);
            return error_back(
                ErrorKind::Forbidden,
                "Already linked",
                "This account at the provider is linked to another account here; it cannot be linked twice.",
                account,
            );
        }
        Ok(None) => {}
        Err(e) => return unavailable("link lookup failed", &e),
    }
    let link = LinkRecord::new(connector, &identity.issuer, &identity.subject, user_id, now.unix_timestamp());
    match svc.links.add_link(&link).await {
        Ok(()) => {}
        Err(crate::store::StoreError::Conflict(_)) => {
            return error_back(
                ErrorKind::Forbidden,
                "Already linked",
                "This account at the provider is linked already.",
                account,
            );
        }
        Err(e) => return unavailable("storing a link failed", &e),
    }
    svc.metrics.federated_login(connector, "linked");
    if let Err(e) = svc.audit.record(meta.actor(format!("user:{user_id}")), linked_event(&link), now).await {
        return unavailable("recording a link failed", &e);
    }
    redirect(account)
}

/// Records the link an identity waited for, now that the person signed in to `user` with its
/// password. An identity linked to someone else meanwhile stays as it is (logged).
pub async fn link_after_password(
    svc: &SignIn,
    user: &crate::store::UserRecord,
    pending: &crate::store::browser::PendingLink,
    meta: &RequestMeta,
    now: OffsetDateTime,
) {
    let link = LinkRecord::new(&pending.connector, &pending.issuer, &pending.subject, &user.id, now.unix_timestamp());
    match svc.links.add_link(&link).await {
        Ok(()) => {
            svc.metrics.federated_login(&pending.connector, "linked");
            let actor = meta.actor(format!("user:{}", user.id));
            svc.audit.emit(actor.clone(), linked_event(&link), now);
            svc.audit.emit(actor, login_event(&link), now);
        }
        Err(e) => tracing::warn!(request_id = %meta.request_id, error = %e, "the identity could not be linked"),
    }
}
