//! The HTTP surface: the only module that imports axum. One file per area; handlers are
//! thin (extract, call the domain, map the result).

mod admin;
mod admin_auth;
mod admin_clients;
mod admin_grants;
mod admin_groups;
mod admin_json;
mod admin_notify;
mod admin_replay;
mod admin_user_ops;
mod admin_user_patch;
mod admin_users;
mod backup;
pub mod client_ip;
mod dev;
pub mod error;
mod extract;
pub(crate) mod health;
mod introspect;
mod links;
pub mod listener;
mod login;
mod middleware;
mod oidc;
mod pages;
mod passkeys;
pub mod paths;
pub mod serve;
mod token;
mod verify;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::state::AppState;

/// The router for `state`.
pub fn router(state: AppState) -> Router {
    // Endpoints a browser app calls from another origin: CORS per `[cors] origins`. The
    // layer answers preflights; it sits inside each route's method router, so the routes
    // accept OPTIONS (anything but a preflight still gets 405).
    let cors = cors_layer(&state.cors);
    let opt = |m: axum::routing::MethodRouter<AppState>| if cors.is_some() { m.options(method_not_allowed) } else { m };
    let mut cross_origin = Router::new()
        .route(paths::DISCOVERY, opt(get(oidc::discovery_get)))
        .route(paths::AS_METADATA, opt(get(oidc::discovery_get)))
        .route(paths::JWKS, opt(get(oidc::jwks_get)))
        .route(paths::TOKEN, opt(post(token::token_post)))
        .route(paths::REVOKE, opt(post(introspect::revoke_post)))
        .route(paths::USERINFO, opt(get(login::userinfo_handler).post(login::userinfo_handler)));
    if let Some(cors) = cors {
        cross_origin = cross_origin.layer(cors);
    }
    let mut r = Router::new()
        .route(paths::PING, get(health::ping_get))
        .route(paths::READY, get(health::ready_get))
        .route(paths::INTROSPECT, post(introspect::introspect_post))
        .route(paths::VERIFY, post(verify::verify_post))
        .route(paths::AUTHORIZE, get(login::authorize).post(login::authorize))
        .route(paths::LOGIN, get(login::login_get).post(login::login_post))
        .route(paths::ACCOUNT, get(login::account_get).post(login::account_post))
        .route(paths::PASSWORD_FORGOT, get(links::forgot_get).post(links::forgot_post))
        .route(paths::PASSWORD_RESET, get(links::reset_get).post(links::reset_post))
        .route(paths::EMAIL_VERIFY, get(links::verify_get).post(links::verify_post))
        .route(paths::FEDERATION_START, get(login::federation_start))
        .route(paths::FEDERATION_CALLBACK, get(login::federation_callback))
        .route(paths::LOGOUT, get(login::logout_get).post(login::logout_post))
        .route(paths::STYLESHEET, get(login::stylesheet))
        .route(paths::PASSKEY_SCRIPT, get(passkeys::script_get))
        .route(paths::LOGIN_PASSKEY_BEGIN, post(passkeys::login_begin))
        .route(paths::LOGIN_PASSKEY_FINISH, post(passkeys::login_finish))
        .route(paths::PASSKEY_REGISTER_BEGIN, post(passkeys::register_begin))
        .route(paths::PASSKEY_REGISTER_FINISH, post(passkeys::register_finish))
        .route(paths::HOME, get(login::home_get))
        .merge(cross_origin);
    if state.config.server.dev_mode {
        r = r.route(paths::TEST_TOKEN, get(dev::test_token_get));
    }
    if state.config.admin_token_sha256.is_some() {
        r = r
            .route(paths::ADMIN_KEYS_ROTATE, post(admin::keys_rotate_post))
            .route(paths::ADMIN_PLUGINS_RELOAD, post(admin::plugins_reload_post))
            .route(paths::ADMIN_PLUGINS, get(admin::plugins_get))
            .route(
                paths::ADMIN_POLICY_REPLAY,
                post(admin_replay::policy_replay_post)
                    .layer(axum::extract::DefaultBodyLimit::max(admin_replay::MAX_COMPONENT_BYTES)),
            )
            .route(paths::ADMIN_NOTIFICATIONS, get(admin_notify::notifications_get))
            .route(paths::ADMIN_NOTIFICATIONS_RETRY, post(admin_notify::notifications_retry_post))
            .route(paths::ADMIN_BACKUP, post(backup::backup_post))
            .route(paths::ADMIN_AUDIT_VERIFY, get(admin::audit_verify_get))
            .route(paths::ADMIN_AUDIT, get(admin::audit_get))
            .route(paths::ADMIN_USERS, get(admin_users::users_get).post(admin_users::users_post))
            .route(
                paths::ADMIN_USER,
                get(admin_users::user_get).patch(admin_user_patch::user_patch).delete(admin_user_ops::user_delete),
            )
            .route(
                paths::ADMIN_USER_SESSIONS,
                get(admin_user_ops::sessions_get).delete(admin_user_ops::sessions_delete),
            )
            .route(paths::ADMIN_USER_SESSION, axum::routing::delete(admin_user_ops::session_delete))
            .route(paths::ADMIN_USER_MFA_RESET, post(admin_user_ops::mfa_reset_post))
            .route(paths::ADMIN_USER_PASSWORD, post(admin_user_ops::password_post))
            .route(paths::ADMIN_CLIENTS, get(admin_clients::clients_get).post(admin_clients::clients_post))
            .route(
                paths::ADMIN_CLIENT,
                get(admin_clients::client_get).patch(admin_clients::client_patch).delete(admin_clients::client_delete),
            )
            .route(paths::ADMIN_CLIENT_SECRET, post(admin_clients::secret_post))
            .route(paths::ADMIN_GROUPS, get(admin_groups::groups_get).post(admin_groups::groups_post))
            .route(
                paths::ADMIN_GROUP,
                get(admin_groups::group_get).patch(admin_groups::group_patch).delete(admin_groups::group_delete),
            )
            .route(paths::ADMIN_GROUP_MEMBERS, get(admin_groups::members_get))
            .route(
                paths::ADMIN_GROUP_MEMBER,
                axum::routing::put(admin_groups::member_put).delete(admin_groups::member_delete),
            );
        if state.config.metrics_bind.is_none() {
            r = r.route(paths::METRICS, get(admin::metrics_get));
        }
    }
    let settings = std::sync::Arc::new(middleware::Settings {
        request_timeout: state.config.server.request_timeout,
        hsts: state.issuer.starts_with("https://"),
        metrics: state.metrics.clone(),
        proxies: client_ip::TrustedProxies::new(state.config.server.trusted_proxies.clone()),
    });
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(settings, middleware::request_context))
        .with_state(state)
}

/// CORS for the origins of `[cors]` and of the clients (`oauth/cors.rs`): GET and POST with
/// `Authorization` and `Content-Type`, never credentials (these endpoints take no cookies).
fn cors_layer(policy: &crate::oauth::cors::CorsPolicy) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if !policy.enabled() {
        return None;
    }
    let policy = policy.clone();
    let allow = AllowOrigin::predicate(move |origin, _| origin.to_str().is_ok_and(|o| policy.answers(o)));
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "not_found", "error_description": "no such endpoint" })))
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({ "error": "invalid_request", "error_description": "method not allowed" })),
    )
        .into_response()
}

/// The router of the separate `[metrics] bind` listener: `GET /metrics`, no authentication.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route(paths::METRICS, get(move || async move { health::metrics_text(&state).await }))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(request_id = %crate::logctx::current(), "a request handler panicked");
    error::ApiError::OAuth(crate::oauth::error::OAuthError::ServerError).into_response()
}
