//! OpenID Connect / OAuth metadata. ID tokens, userinfo and sessions arrive with browser
//! sign-in.

pub mod discovery;
