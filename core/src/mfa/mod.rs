//! Second factors: TOTP authenticators and recovery codes (`[mfa]`). [`Mfa`] checks a code
//! and spends it in one compare-and-swap of the user's factor record, so a TOTP time step or
//! a recovery code is accepted once even under concurrent sign-ins on several instances; it
//! enrols an authenticator (active only after one correct code) and replaces or removes
//! factors. Who must use a factor, and when, is the login flow's business (`oidc/factor.rs`);
//! counting failures against the sign-in limits is the caller's.

pub mod passkey;
pub mod recovery;
pub mod totp;

use std::sync::Arc;

use serde_json::Value;

use crate::config::{MfaConfig, MfaRequire};
use crate::store::factors::{FactorsRecord, PasskeyFactor, PendingCeremony, TotpFactor};
use crate::store::{FactorStore, StoreError};

/// The `acr` of a sign-in with two factors.
pub const ACR_MFA: &str = "urn:gatehouse:acr:mfa";
/// The `acr` of a sign-in with one factor (a password, or a sign-in provider).
pub const ACR_PWD: &str = "urn:gatehouse:acr:pwd";
/// Discovery's `acr_values_supported`, weakest first.
pub const ACR_VALUES: &[&str] = &[ACR_PWD, ACR_MFA];

/// The `acr` a sign-in with methods `amr` (RFC 8176) reached.
pub fn acr(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") { ACR_MFA } else { ACR_PWD }
}

/// How long an enrolment waits for its first code.
pub const ENROL_TTL_SECS: i64 = 15 * 60;
/// Compare-and-swap rounds before giving up (each lost round means another write won).
const ROUNDS: usize = 16;

/// What a typed code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// A TOTP code of a step not used before: now used.
    Totp,
    /// A recovery code: now spent; this many remain.
    Recovery {
        /// Codes left.
        remaining: usize,
    },
    /// Wrong, used already, or no factor to check it against.
    Wrong,
}

/// Errors of the factor service.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for a secret or codes.
    #[error("no randomness available")]
    Random,
    /// Writers kept winning (should not happen outside a storm of writes to one user).
    #[error("the factors of this user are being changed; try again")]
    Contended,
    /// A passkey ceremony failed.
    #[error(transparent)]
    Passkey(#[from] passkey::PasskeyError),
}

impl From<crate::secret::RandomError> for MfaError {
    fn from(_: crate::secret::RandomError) -> Self {
        Self::Random
    }
}

/// The second-factor service.
#[derive(Clone)]
pub struct Mfa {
    store: Arc<dyn FactorStore>,
    config: Arc<MfaConfig>,
    rp: passkey::RelyingParty,
}

impl Mfa {
    /// Over `store` with `config`; passkeys for `issuer` (none when it is not a host name).
    pub fn new(store: Arc<dyn FactorStore>, config: MfaConfig, issuer: &str) -> Self {
        let rp = passkey::RelyingParty::new(issuer, &config.totp_issuer);
        Self { store, config: Arc::new(config), rp }
    }

    /// The WebAuthn relying party.
    pub fn passkeys(&self) -> &passkey::RelyingParty {
        &self.rp
    }

    /// `[mfa] require`.
    pub fn require(&self) -> MfaRequire {
        self.config.require
    }

    /// `[mfa] reauthenticate_after`, in seconds.
    pub fn reauthenticate_after(&self) -> i64 {
        i64::try_from(self.config.reauthenticate_after.as_secs()).unwrap_or(i64::MAX)
    }

    /// The user's factors (an empty record when none were ever stored).
    pub async fn factors(&self, user_id: &str) -> Result<FactorsRecord, StoreError> {
        Ok(self.store.get_factors(user_id).await?.unwrap_or_else(|| FactorsRecord::empty(user_id)))
    }

    /// Reads, changes and swaps the user's record until the swap wins. `change` returns
    /// `None` to write nothing; the answer is its second value.
    async fn update<T>(
        &self,
        user_id: &str,
        mut change: impl FnMut(&mut FactorsRecord) -> Option<T>,
        none: T,
    ) -> Result<T, MfaError> {
        for _ in 0..ROUNDS {
            let mut record = self.factors(user_id).await?;
            let expected = record.version;
            let Some(answer) = change(&mut record) else { return Ok(none) };
            if self.store.put_factors(&record, expected).await? {
                return Ok(answer);
            }
        }
        Err(MfaError::Contended)
    }

    /// Checks `code` (six digits: the authenticator; else a recovery code) and spends it.
    pub async fn verify(&self, user_id: &str, code: &str, now: i64) -> Result<Checked, MfaError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        self.update(
            user_id,
            |r| {
                if let Some(t) = r.totp.as_mut()
                    && let Some(step) = totp::check(&t.secret, &code, now)
                {
                    // A step is accepted once: a code seen already (or an older one) is refused.
                    if step <= t.last_step {
                        return None;
                    }
                    t.last_step = step;
                    t.last_used = now;
                    r.updated_at = now;
                    return Some(Checked::Totp);
                }
                if !r.enrolled() {
                    return None;
                }
                let i = recovery::find(&r.recovery_codes, &code)?;
                r.recovery_codes.remove(i);
                r.updated_at = now;
                Some(Checked::Recovery { remaining: r.recovery_codes.len() })
            },
            Checked::Wrong,
        )
        .await
    }

    /// Starts (or continues, within [`ENROL_TTL_SECS`]) enrolling an authenticator; the
    /// page content for `account`.
    pub async fn begin_totp(&self, user_id: &str, account: &str, now: i64) -> Result<totp::Enrolment, MfaError> {
        let fresh = totp::new_secret()?;
        let secret = self
            .update(
                user_id,
                |r| match &r.pending_totp {
                    Some(p) if now - p.created_at < ENROL_TTL_SECS => Some(p.secret.clone()),
                    _ => {
                        r.pending_totp =
                            Some(TotpFactor { secret: fresh.clone(), created_at: now, ..TotpFactor::default() });
                        r.updated_at = now;
                        Some(fresh.clone())
                    }
                },
                String::new(),
            )
            .await?;
        totp::enrolment(&secret, account, &self.config.totp_issuer).ok_or(MfaError::Random)
    }

    /// Activates the pending authenticator if `code` is from it, replacing any earlier
    /// one, with a new set of recovery codes: the codes to show once. `None` when the code
    /// is wrong or the enrolment expired.
    pub async fn confirm_totp(&self, user_id: &str, code: &str, now: i64) -> Result<Option<Vec<String>>, MfaError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let (shown, stored) = recovery::generate()?;
        self.update(
            user_id,
            |r| {
                let pending = r.pending_totp.as_ref().filter(|p| now - p.created_at < ENROL_TTL_SECS)?;
                let step = totp::check(&pending.secret, &code, now)?;
                r.totp = Some(TotpFactor { last_step: step, last_used: now, created_at: now, ..pending.clone() });
                r.pending_totp = None;
                r.recovery_codes = stored.clone();
                r.recovery_created_at = now;
                r.updated_at = now;
                Some(Some(shown.clone()))
            },
            None,
        )
        .await
    }

    /// A new set of recovery codes for an enrolled user (the old ones stop working); `None`
    /// when the user has no factor.
    pub async fn regenerate_codes(&self, user_id: &str, now: i64) -> Result<Option<Vec<String>>, MfaError> {
        let (shown, stored) = recovery::generate()?;
        self.update(
            user_id,
            |r| {
                if !r.enrolled() {
                    return None;
                }
                r.recovery_codes = stored.clone();
                r.recovery_created_at = now;
                r.updated_at = now;
                Some(Some(shown.clone()))
            },
            None,
        )
        .await
    }

    /// Removes every factor (and the recovery codes, which only work beside one); `false`
    /// when there was none.
    pub async fn remove_all(&self, user_id: &str, now: i64) -> Result<bool, MfaError> {
        self.update(
            user_id,
            |r| {
                if !r.enrolled() && r.pending_totp.is_none() && r.recovery_codes.is_empty() {
                    return None;
                }
                *r = FactorsRecord { updated_at: now, version: r.version, ..FactorsRecord::empty(user_id) };
                Some(true)
            },
            false,
        )
        .await
    }

    /// Starts registering a passkey named `name` for `user_id` (shown as `display`): the
    /// options for the browser. The ceremony waits in the factor record.
    pub async fn begin_passkey(&self, user_id: &str, name: &str, display: &str, now: i64) -> Result<Value, MfaError> {
        let existing: Vec<String> = self.factors(user_id).await?.credential_ids().map(str::to_owned).collect();
        let (options, state) = self.rp.begin_registration(user_id, display, display, &existing)?;
        let pending = PendingCeremony { state, name: name.to_owned(), created_at: now };
        self.update(
            user_id,
            |r| {
                r.pending_passkey = Some(pending.clone());
                r.updated_at = now;
                Some(())
            },
            (),
        )
        .await?;
        Ok(options)
    }

    /// Checks the browser's answer to the pending registration (spent either way) and adds
    /// the passkey; the new recovery codes to show once when the account had none.
    pub async fn finish_passkey(
        &self,
        user_id: &str,
        credential: &Value,
        now: i64,
    ) -> Result<Option<Vec<String>>, MfaError> {
        let (shown, stored) = recovery::generate()?;
        let mut verdict = Err(passkey::PasskeyError::Expired);
        let written = self
            .update(
                user_id,
                |r| {
                    let pending = r.pending_passkey.take()?;
                    verdict = if now - pending.created_at >= passkey::CEREMONY_TTL_SECS {
                        Err(passkey::PasskeyError::Expired)
                    } else {
                        self.rp.finish_registration(&pending.state, credential).map(|(key, id)| (pending.name, key, id))
                    };
                    if let Ok((name, key, id)) = &verdict {
                        r.passkeys.push(PasskeyFactor {
                            name: name.clone(),
                            credential_id: id.clone(),
                            passkey: key.clone(),
                            created_at: now,
                            last_used: 0,
                        });
                    }
                    let new_codes = verdict.is_ok() && r.recovery_codes.is_empty();
                    if new_codes {
                        r.recovery_codes = stored.clone();
                        r.recovery_created_at = now;
                    }
                    r.updated_at = now;
                    Some(new_codes)
                },
                false,
            )
            .await;
        let new_codes = match written {
            Err(MfaError::Store(StoreError::Conflict(_))) => return Err(passkey::PasskeyError::Taken.into()),
            other => other?,
        };
        verdict?;
        Ok(new_codes.then_some(shown))
    }

    /// Checks a passkey sign-in answer for `user_id` against the ceremony `state` and
    /// records the use (the signature counter moves on, in the same swap).
    pub async fn use_passkey(
        &self,
        user_id: &str,
        state: &str,
        discoverable: bool,
        credential: &Value,
        now: i64,
    ) -> Result<(), MfaError> {
        let id = passkey::RelyingParty::credential_id(credential).ok_or(passkey::PasskeyError::Refused)?;
        let mut verdict = Err(passkey::PasskeyError::Refused);
        self.update(
            user_id,
            |r| {
                let key = r.passkeys.iter_mut().find(|p| p.credential_id == id)?;
                verdict = self.rp.finish_authentication(state, discoverable, &key.passkey, credential);
                let updated = verdict.as_ref().ok()?;
                key.passkey = updated.clone();
                key.last_used = now;
                r.updated_at = now;
                Some(())
            },
            (),
        )
        .await?;
        verdict.map(|_| ()).map_err(Into::into)
    }

    /// Removes the passkey `credential_id`; with it the recovery codes when no factor is
    /// left. `false` when there was none such.
    pub async fn remove_passkey(&self, user_id: &str, credential_id: &str, now: i64) -> Result<bool, MfaError> {
        self.update(
            user_id,
            |r| {
                let before = r.passkeys.len();
                r.passkeys.retain(|p| p.credential_id != credential_id);
                if r.passkeys.len() == before {
                    return None;
                }
                if !r.enrolled() {
                    r.recovery_codes.clear();
                }
                r.updated_at = now;
                Some(true)
            },
            false,
        )
        .await
    }
}
