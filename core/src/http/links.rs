//! `GET|POST /password/forgot`, `GET|POST /password/reset` and `GET|POST /email/verify`:
//! thin handlers over `oidc::{password_reset, email_verify}`.

use axum::extract::State;
use axum::response::Response;

use super::extract::Meta;
use super::pages::{Cookies, PageParams, respond};
use crate::oidc::{email_verify, password_reset};
use crate::state::AppState;

/// "Forgot password?".
pub async fn forgot_get(
    State(state): State<AppState>,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    respond(&state, password_reset::forgot_show(&state.sign_in, &params, &cookies).await)
}

/// Asks for a reset link.
pub async fn forgot_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, password_reset::forgot_submit(&state.sign_in, &params, &cookies, &meta, now).await)
}

/// A reset link's form.
pub async fn reset_get(
    State(state): State<AppState>,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, password_reset::reset_show(&state.sign_in, &params, &cookies, now).await)
}

/// Sets the new password.
pub async fn reset_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, password_reset::reset_submit(&state.sign_in, &params, &cookies, &meta, now).await)
}

/// A verification link's confirmation page.
pub async fn verify_get(
    State(state): State<AppState>,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, email_verify::show(&state.sign_in, &params, &cookies, now).await)
}

/// Confirms the address.
pub async fn verify_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    PageParams(params): PageParams,
) -> Response {
    let now = state.clock.now();
    respond(&state, email_verify::confirm(&state.sign_in, &params, &cookies, &meta, now).await)
}
