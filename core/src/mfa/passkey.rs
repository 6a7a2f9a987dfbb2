//! Passkeys (WebAuthn, through webauthn-rs): the relying party is the issuer (rp id = its
//! host, origin = the issuer), so passkeys exist only when the issuer is a host name
//! (browsers refuse IP addresses as rp ids: in development use `http://localhost:PORT`).
//! User verification is required, so a passkey counts as two factors (`amr` `pop`, `user`,
//! `mfa`). A user's WebAuthn user handle is their user id (a UUID): a usernameless sign-in
//! learns the user from the passkey itself. Ceremony states are kept server-side (the
//! registration in the factor record, a sign-in in its login flow), one-shot and short-lived.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long a ceremony waits for the browser.
pub const CEREMONY_TTL_SECS: i64 = 5 * 60;

/// Why a ceremony failed (said to the page in these words; details go to the log).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PasskeyError {
    /// The issuer is not a host name, or the library refused the configuration.
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// No ceremony, or it expired, or it was used.
    #[error("this passkey request expired; try again")]
    Expired,
    /// The browser's answer did not verify (origin, rp id, challenge, signature, user
    /// verification, counter).
    #[error("the passkey could not be verified")]
    Refused,
    /// The passkey is registered to an account already.
    #[error("this passkey is registered already")]
    Taken,
    /// The account cannot have passkeys (its id is not a UUID).
    #[error("this account cannot use passkeys")]
    NoHandle,
}

/// The WebAuthn relying party of this server.
#[derive(Clone)]
pub struct RelyingParty {
    webauthn: Option<std::sync::Arc<Webauthn>>,
}

impl RelyingParty {
    /// The relying party of `issuer`, named `name` in the browser's prompts; without one
    /// (an IP address, a malformed URL) passkeys are off.
    pub fn new(issuer: &str, name: &str) -> Self {
        let webauthn = Url::parse(issuer).ok().and_then(|origin| {
            let host = origin.host_str()?.to_owned();
            if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
                tracing::info!(%issuer, "passkeys are off: WebAuthn needs a host name as the issuer (e.g. http://localhost:PORT)");
                return None;
            }
            match WebauthnBuilder::new(&host, &origin).and_then(|b| b.rp_name(name).build()) {
                Ok(w) => Some(std::sync::Arc::new(w)),
                Err(e) => {
                    tracing::warn!(%issuer, error = %e, "passkeys are off: the WebAuthn configuration was refused");
                    None
                }
            }
        });
        Self { webauthn }
    }

    /// Whether passkeys work here.
    pub fn enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.as_deref().ok_or(PasskeyError::Unavailable)
    }

    /// Starts registering a passkey for `user_id` (a UUID): the options for the browser
    /// (W3C `PublicKeyCredentialCreationOptions` under `publicKey`) and the state to keep.
    /// The passkey is made discoverable, so it can sign in without a username.
    pub fn begin_registration(
        &self,
        user_id: &str,
        name: &str,
        display_name: &str,
        existing: &[String],
    ) -> Result<(Value, String), PasskeyError> {
        let uuid = Uuid::parse_str(user_id).map_err(|_| PasskeyError::NoHandle)?;
        let exclude = existing.iter().filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok()).collect();
        let (ccr, state) = self
            .webauthn()?
            .start_passkey_registration(uuid, name, display_name, Some(exclude))
            .map_err(|e| refused("starting a registration", &e))?;
        let mut options = serde_json::to_value(&ccr).map_err(|_| PasskeyError::Refused)?;
        if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(Value::as_object_mut) {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        Ok((options, serde_json::to_string(&state).map_err(|_| PasskeyError::Refused)?))
    }

    /// Checks the browser's answer to a registration: the passkey (serialised) and its
    /// credential id (base64url).
    pub fn finish_registration(&self, state: &str, credential: &Value) -> Result<(String, String), PasskeyError> {
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(|_| PasskeyError::Expired)?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Refused)?;
        let passkey =
            self.webauthn()?.finish_passkey_registration(&reg, &state).map_err(|e| refused("a registration", &e))?;
        let id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
        Ok((serde_json::to_string(&passkey).map_err(|_| PasskeyError::Refused)?, id))
    }

    /// Starts a sign-in: usernameless (`passkeys` empty, `discoverable`), or with one of
    /// the user's passkeys as a second factor. The options (`publicKey`) and the state.
    pub fn begin_authentication(
        &self,
        passkeys: &[String],
        discoverable: bool,
    ) -> Result<(Value, String), PasskeyError> {
        let w = self.webauthn()?;
        let (rcr, state) = if discoverable {
            let (rcr, state) = w.start_discoverable_authentication().map_err(|e| refused("starting a sign-in", &e))?;
            (serde_json::to_value(&rcr), serde_json::to_string(&state))
        } else {
            let keys: Vec<Passkey> = passkeys.iter().filter_map(|p| serde_json::from_str(p).ok()).collect();
            let (rcr, state) = w.start_passkey_authentication(&keys).map_err(|e| refused("starting a sign-in", &e))?;
            (serde_json::to_value(&rcr), serde_json::to_string(&state))
        };
        let mut options = rcr.map_err(|_| PasskeyError::Refused)?;
        // A button starts this sign-in: the browser's modal prompt, not conditional mediation.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        Ok((options, state.map_err(|_| PasskeyError::Refused)?))
    }

    /// Who a usernameless answer says it is: the user id (from the user handle) and the
    /// credential id (base64url).
    pub fn identify(&self, credential: &Value) -> Result<(String, String), PasskeyError> {
        let cred: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Refused)?;
        let (uuid, id) =
            self.webauthn()?.identify_discoverable_authentication(&cred).map_err(|_| PasskeyError::Refused)?;
        Ok((uuid.hyphenated().to_string(), URL_SAFE_NO_PAD.encode(id)))
    }

    /// The credential id (base64url) of a sign-in answer.
    pub fn credential_id(credential: &Value) -> Option<String> {
        let cred: PublicKeyCredential = serde_json::from_value(credential.clone()).ok()?;
        Some(URL_SAFE_NO_PAD.encode(cred.get_credential_id()))
    }

    /// Checks a sign-in answer against `state` and the stored `passkey`; the passkey as it
    /// is now (its signature counter moved on).
    pub fn finish_authentication(
        &self,
        state: &str,
        discoverable: bool,
        passkey: &str,
        credential: &Value,
    ) -> Result<String, PasskeyError> {
        let w = self.webauthn()?;
        let cred: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Refused)?;
        let mut key: Passkey = serde_json::from_str(passkey).map_err(|_| PasskeyError::Refused)?;
        let result = if discoverable {
            let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(|_| PasskeyError::Expired)?;
            w.finish_discoverable_authentication_v2(&cred, state, &key)
        } else {
            let state: PasskeyAuthentication = serde_json::from_str(state).map_err(|_| PasskeyError::Expired)?;
            w.finish_passkey_authentication(&cred, &state)
        }
        .map_err(|e| refused("a sign-in", &e))?;
        if !result.user_verified() {
            return Err(PasskeyError::Refused);
        }
        key.update_credential(&result);
        serde_json::to_string(&key).map_err(|_| PasskeyError::Refused)
    }
}

fn refused(what: &str, e: &dyn std::fmt::Display) -> PasskeyError {
    tracing::info!(error = %e, "WebAuthn refused {what}");
    PasskeyError::Refused
}
