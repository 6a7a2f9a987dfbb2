//! `GET|POST /authorize`, `GET|POST /login`, the stylesheet, `GET|POST /userinfo` and
//! `GET|POST /logout`: thin handlers over `oidc::{login, userinfo, logout}`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::error::{BearerError, no_store};
use super::extract::{Meta, authorization, bearer, has_content_type, read_body};
use super::pages::{Cookies, PageParams, respond};
use crate::oauth::params::{MAX_FORM_BYTES, Params};
use crate::oidc::userinfo::UserinfoError;
use crate::oidc::{account, federation, login, logout, userinfo};
use crate::state::AppState;

/// Authorization endpoint.
pub async fn authorize(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    let reply = login::authorize(&state.sign_in, &params, &cookies, &meta, now).await;
    respond(&state, reply)
}

/// The current step of a login flow.
pub async fn login_get(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    let flow = params.one("flow").ok().flatten();
    let reply = login::show(&state.sign_in, flow, &cookies, &meta, now).await;
    respond(&state, reply)
}

/// A submitted step.
pub async fn login_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    let reply = login::submit(&state.sign_in, &params, &cookies, &meta, now).await;
    respond(&state, reply)
}

/// `GET /federation/{id}/start?flow=...`: off to the sign-in provider.
pub async fn federation_start(
    State(state): State<AppState>,
    axum::extract::Path(connector): axum::extract::Path<String>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    let flow = params.one("flow").ok().flatten();
    respond(&state, federation::start(&state.sign_in, &connector, flow, &cookies, &meta, now).await)
}

/// `GET /federation/{id}/callback?...`: back from the sign-in provider.
pub async fn federation_callback(
    State(state): State<AppState>,
    axum::extract::Path(connector): axum::extract::Path<String>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, federation::callback(&state.sign_in, &connector, &params, &cookies, &meta, now).await)
}

/// `GET /account`: the signed-in person's account page.
pub async fn account_get(State(state): State<AppState>, Cookies(cookies): Cookies) -> Response {
    let now = state.clock.now();
    respond(&state, account::show(&state.sign_in, &cookies, now).await)
}

/// `POST /account`: link or unlink a sign-in provider.
pub async fn account_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, account::submit(&state.sign_in, &params, &cookies, &meta, now).await)
}

/// RP-initiated logout (GET: from the relying party; POST: a form).
pub async fn logout_get(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, logout::logout(&state.sign_in, &params, &cookies, &meta, false, now).await)
}

/// Logout by form post (confirmation page or a relying party's form).
pub async fn logout_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, logout::logout(&state.sign_in, &params, &cookies, &meta, true, now).await)
}

/// `GET /`: a browser (it accepts `text/html`) gets a page naming the server with links to
/// discovery and the keys; anything else gets the JSON 404 of every unknown path.
pub async fn home_get(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let wants_html =
        headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| {
            v.split(',').any(|m| m.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html")))
        });
    if !wants_html {
        return super::not_found().await;
    }
    let body = state.pages.render(
        "home.html",
        minijinja::context! {
            issuer => state.issuer, discovery => super::paths::DISCOVERY, jwks => super::paths::JWKS,
        },
    );
    super::pages::html(axum::http::StatusCode::OK, body)
}

/// The pages' stylesheet.
pub async fn stylesheet(State(state): State<AppState>) -> Response {
    let mut r = state.pages.stylesheet.clone().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

/// UserInfo (OpenID Connect Core §5.3): the token in the Authorization header or, for POST,
/// the `access_token` form field (RFC 6750 §2.2), not both.
pub async fn userinfo_handler(State(state): State<AppState>, Meta(meta): Meta, req: Request) -> Response {
    let now = state.clock.now();
    let Ok(authorization) = authorization(req.headers()).map(|a| a.map(str::to_owned)) else {
        return BearerError::InvalidRequest.into_response();
    };
    let form = if req.method() == Method::POST && has_content_type(req.headers(), "application/x-www-form-urlencoded") {
        match read_body(req.into_body(), MAX_FORM_BYTES).await.and_then(|b| Params::parse(&b)) {
            Ok(p) => Some(p),
            Err(_) => return BearerError::InvalidRequest.into_response(),
        }
    } else {
        None
    };
    let from_header = authorization.as_deref().map(|h| bearer(h).ok_or(()));
    let from_body = form.as_ref().and_then(|p| p.one("access_token").ok().flatten());
    let token = match (from_header, from_body) {
        (Some(Ok(t)), None) => Some(t.to_owned()),
        (None, Some(t)) => Some(t.to_owned()),
        (None, None) => None,
        _ => return BearerError::InvalidRequest.into_response(),
    };
    match userinfo::userinfo(&state.tokens, token.as_deref(), &meta, now).await {
        Ok(claims) => no_store(axum::Json(claims).into_response()),
        Err(UserinfoError::NoToken) => BearerError::Missing.into_response(),
        Err(UserinfoError::InvalidToken) => BearerError::InvalidToken.into_response(),
        Err(UserinfoError::InsufficientScope) => BearerError::InsufficientScope("openid").into_response(),
        // A policy refusal or failure (fail closed); the reason is in the log and audit log.
        Err(UserinfoError::Denied) => BearerError::Denied.into_response(),
        Err(UserinfoError::Unavailable) => BearerError::Unavailable.into_response(),
    }
}
