//! `[mfa]`: when a sign-in asks for a second factor, the name authenticator apps show, and
//! how recent a sign-in must be for account changes.

use std::time::Duration;

use super::validate::Check;
use super::{MfaConfig, MfaRequire};

pub(super) fn check(c: &mut Check<'_>, m: &super::file::MfaSection, issuer: &str) -> MfaConfig {
    let require = match m.require.as_deref() {
        None | Some("enrolled") => MfaRequire::Enrolled,
        Some("never") => MfaRequire::Never,
        Some("always") => MfaRequire::Always,
        Some(other) => {
            c.problem("mfa.require", format!("`{other}` is not one of \"never\", \"enrolled\", \"always\""));
            MfaRequire::Enrolled
        }
    };
    // Authenticator apps show this beside the account name; a colon would split the label.
    let default_issuer = url::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_owned));
    let totp_issuer = match m.totp_issuer.as_deref() {
        Some(name) if name.trim().is_empty() || name.contains(':') || name.len() > 64 => {
            c.problem("mfa.totp_issuer", format!("`{name}` must be 1 to 64 characters without a colon"));
            String::new()
        }
        Some(name) => name.trim().to_owned(),
        None => default_issuer.unwrap_or_else(|| "Gatehouse".to_owned()),
    };
    let reauthenticate_after = c.duration(
        "mfa.reauthenticate_after",
        m.reauthenticate_after.as_deref(),
        Duration::from_secs(300),
        Duration::from_secs(30),
        Duration::from_secs(24 * 3600),
    );
    MfaConfig { require, totp_issuer, reauthenticate_after }
}
