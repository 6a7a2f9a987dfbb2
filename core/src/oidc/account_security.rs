//! The account page's security section: two-step verification. A signed-in person adds an
//! authenticator app (QR code, then one code from it; the session counts as two factors
//! from then on), makes new recovery codes, or turns two-step verification off (refused
//! while `[mfa] require = "always"`). These changes need a recent sign-in or a
//! re-authentication with the strongest factor (`account_reauth.rs`).

use time::OffsetDateTime;

use super::account_reauth::{Typed, check, confirm, needed, recent, unconfirmed};
use super::flow::{Action, Page, Reply, unavailable};
use super::service::SignIn;
use super::session;
use crate::audit::AuditEvent;
use crate::config::MfaRequire;
use crate::oauth::RequestMeta;
use crate::oauth::params::Params;
use crate::secret::Secret;

/// What the security section shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityView {
    /// A second factor is active (an authenticator app or a passkey).
    pub enrolled: bool,
    /// An authenticator app is active.
    pub has_totp: bool,
    /// Passkeys: `(name, credential id, added, last used)`.
    pub passkeys: Vec<(String, String, String, Option<String>)>,
    /// Passkeys work on this server (the issuer is a host name).
    pub passkeys_enabled: bool,
    /// When it was added, RFC 3339.
    pub totp_added: Option<String>,
    /// Unused recovery codes.
    pub codes_left: usize,
    /// Two-step verification may be turned off.
    pub removable: bool,
    /// What a change needs beyond the session (`account_reauth::Reauth::name`).
    pub reauth: &'static str,
    /// The account has a password (it can be changed here).
    pub has_password: bool,
}

/// The section for `live`'s user.
pub(super) async fn view(svc: &SignIn, live: &session::Live, now: OffsetDateTime) -> Result<SecurityView, Reply> {
    let f = svc.mfa.factors(&live.user.id).await.map_err(|e| unavailable("reading factors failed", &e))?;
    let at = super::account::time_of;
    Ok(SecurityView {
        enrolled: f.enrolled(),
        has_totp: f.totp.is_some(),
        passkeys: f
            .passkeys
            .iter()
            .map(|p| {
                (p.name.clone(), p.credential_id.clone(), at(p.created_at), (p.last_used > 0).then(|| at(p.last_used)))
            })
            .collect(),
        passkeys_enabled: svc.mfa.passkeys().enabled(),
        totp_added: f.totp.as_ref().map(|t| crate::audit::format_time_ms(t.created_at.saturating_mul(1000))),
        codes_left: f.recovery_codes.len(),
        removable: svc.mfa.require() != MfaRequire::Always,
        reauth: super::account_reauth::needed(svc, live, &f, now).name(),
        has_password: svc.password_login && !live.user.password_hash.is_empty(),
    })
}

/// The enrolment page of the account.
async fn enrol_page(svc: &SignIn, live: &session::Live, error: Option<&str>, now: OffsetDateTime) -> Reply {
    let account = live.user.email.clone().unwrap_or_else(|| live.user.username.clone());
    let factors = match svc.mfa.factors(&live.user.id).await {
        Ok(f) => f,
        Err(e) => return unavailable("reading factors failed", &e),
    };
    match svc.mfa.begin_totp(&live.user.id, &account, now.unix_timestamp()).await {
        Ok(enrolment) => Action::Page(Box::new(Page::AccountTotp {
            csrf: live.record.csrf.clone(),
            enrolment: Box::new(enrolment),
            error: error.map(str::to_owned),
            reauth: needed(svc, live, &factors, now).name(),
        }))
        .into(),
        Err(e) => unavailable("starting an enrolment failed", &e),
    }
}

fn codes_page(live: &session::Live, codes: Vec<String>) -> Reply {
    Action::Page(Box::new(Page::RecoveryCodes { flow: None, csrf: live.record.csrf.clone(), codes: Some(codes) }))
        .into()
}

/// Runs a security `action` of the account form; `None` when the action is not one of them.
pub(super) async fn submit(
    svc: &SignIn,
    live: &session::Live,
    action: &str,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Option<Reply> {
    let t = now.unix_timestamp();
    let user_id = &live.user.id;
    let actor = || meta.actor(format!("user:{user_id}"));
    Some(match action {
        "totp_begin" => enrol_page(svc, live, None, now).await,
        "totp_confirm" => {
            if let Err(refused) = confirm(svc, live, Typed::of(params), meta, now).await {
                return Some(match refused {
                    Ok(message) => enrol_page(svc, live, Some(message), now).await,
                    Err(reply) => reply,
                });
            }
            let code = params.one("code").ok().flatten().unwrap_or("");
            let codes = match svc.mfa.confirm_totp(user_id, code, t).await {
                Ok(Some(codes)) => codes,
                Ok(None) => return Some(enrol_page(svc, live, Some(super::factor::WRONG_CODE), now).await),
                Err(e) => return Some(unavailable("confirming an enrolment failed", &e)),
            };
            let event = AuditEvent::MfaEnrolled { user_id: user_id.clone(), method: "totp".to_owned() };
            if let Err(e) = svc.audit.record(actor(), event, now).await {
                return Some(unavailable("recording an enrolment failed", &e));
            }
            // The person holds the session and just used the new authenticator: two factors.
            let mut record = live.record.clone();
            super::factor::add_methods(&mut record.amr, &super::factor::OTP);
            if let Err(e) = svc.browser.update_session(&live.key, &record).await {
                return Some(unavailable("updating a session failed", &e));
            }
            codes_page(live, codes)
        }
        "password_change" => change_password(svc, live, params, meta, now).await,
        "passkey_remove" => remove_passkey(svc, live, params, meta, now).await,
        "codes_regenerate" | "mfa_remove" => {
            if let Some(reply) =
                unconfirmed(svc, live, confirm(svc, live, Typed::of(params), meta, now).await, now).await
            {
                return Some(reply);
            }
            if action == "codes_regenerate" {
                match svc.mfa.regenerate_codes(user_id, t).await {
                    Ok(Some(codes)) => {
                        let event = AuditEvent::RecoveryCodesRegenerated { user_id: user_id.clone() };
                        if let Err(e) = svc.audit.record(actor(), event, now).await {
                            return Some(unavailable("recording new recovery codes failed", &e));
                        }
                        codes_page(live, codes)
                    }
                    Ok(None) => {
                        super::account::render(svc, live, Some("Turn on two-step verification first."), now).await
                    }
                    Err(e) => unavailable("making recovery codes failed", &e),
                }
            } else if svc.mfa.require() == MfaRequire::Always {
                super::account::render(svc, live, Some("Two-step verification is required here."), now).await
            } else {
                match svc.mfa.remove_all(user_id, t).await {
                    Ok(true) => {
                        let event = AuditEvent::MfaRemoved { user_id: user_id.clone(), by: "self".to_owned() };
                        if let Err(e) = svc.audit.record(actor(), event, now).await {
                            return Some(unavailable("recording a removal failed", &e));
                        }
                        super::account::render(svc, live, Some("Two-step verification is off."), now).await
                    }
                    Ok(false) => super::account::render(svc, live, None, now).await,
                    Err(e) => unavailable("removing factors failed", &e),
                }
            }
        }
        _ => return None,
    })
}

/// `password_change`: the current password (always, however recent the sign-in) and the new
/// one, checked like any new password.
async fn change_password(
    svc: &SignIn,
    live: &session::Live,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    if live.user.password_hash.is_empty() || !svc.password_login {
        return super::account::render(svc, live, Some("This account signs in without a password."), now).await;
    }
    // The current password always; after a while also what `confirm` asks for.
    let typed = Typed::of(params);
    let confirmed = if recent(svc, live, now) {
        check(svc, live, typed.password, None, meta, now).await
    } else {
        confirm(svc, live, typed, meta, now).await
    };
    if let Some(reply) = unconfirmed(svc, live, confirmed, now).await {
        return reply;
    }
    let new = params.one("new_password").ok().flatten().unwrap_or("");
    if let Err(why) = crate::users::check_new_password(new) {
        // "the password must have ..." as a sentence.
        let sentence = format!("T{}.", why.strip_prefix('t').unwrap_or(&why));
        return super::account::render(svc, live, Some(&sentence), now).await;
    }
    let hash = match svc.passwords.hash(Secret::new(new)).await {
        Ok(h) => h,
        Err(e) => return unavailable("hashing a password failed", &e),
    };
    match svc.users.set_user_password(&live.user.id, &hash, now.unix_timestamp()).await {
        Ok(true) => {}
        Ok(false) => return super::flow::expired(),
        Err(e) => return unavailable("storing a password failed", &e),
    }
    let event = AuditEvent::PasswordChanged { username: live.user.username.clone() };
    if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", live.user.id)), event, now).await {
        return unavailable("recording a password change failed", &e);
    }
    super::account::render(svc, live, Some("Your password was changed."), now).await
}

/// `passkey_remove` with `credential_id`: needs a recent sign-in or the password; the last
/// factor stays while `[mfa] require = "always"`.
async fn remove_passkey(
    svc: &SignIn,
    live: &session::Live,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Reply {
    if let Some(reply) = unconfirmed(svc, live, confirm(svc, live, Typed::of(params), meta, now).await, now).await {
        return reply;
    }
    let id = params.one("credential_id").ok().flatten().unwrap_or("");
    let factors = match svc.mfa.factors(&live.user.id).await {
        Ok(f) => f,
        Err(e) => return unavailable("reading factors failed", &e),
    };
    let last = factors.totp.is_none() && factors.passkeys.len() == 1;
    if last && svc.mfa.require() == MfaRequire::Always {
        return super::account::render(svc, live, Some("Two-step verification is required here."), now).await;
    }
    match svc.mfa.remove_passkey(&live.user.id, id, now.unix_timestamp()).await {
        Ok(true) => {
            let by = "self".to_owned();
            let name = factors.passkeys.iter().find(|p| p.credential_id == id).map(|p| p.name.clone());
            let event = if last {
                AuditEvent::MfaRemoved { user_id: live.user.id.clone(), by }
            } else {
                AuditEvent::PasskeyRemoved { user_id: live.user.id.clone(), name: name.unwrap_or_default() }
            };
            if let Err(e) = svc.audit.record(meta.actor(format!("user:{}", live.user.id)), event, now).await {
                return unavailable("recording a removal failed", &e);
            }
            super::account::render(svc, live, Some("The passkey was removed."), now).await
        }
        Ok(false) => super::account::render(svc, live, Some("That passkey is not on this account."), now).await,
        Err(e) => unavailable("removing a passkey failed", &e),
    }
}
