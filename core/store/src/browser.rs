//! The browser sign-in aggregates: login flows, sessions, authorization codes, refresh token
//! families and remembered consent. Every key is the SHA-256 of an opaque value the browser or
//! client holds (a flow id, a session cookie, a code, a refresh token), so the store never
//! holds a usable secret. Each method is atomic inside the store.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// A SHA-256 digest used as a key.
pub type Digest = [u8; 32];

/// One step of a login flow, done in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Username and password.
    Password,
    /// A login-step plugin (the first of [`FlowRecord::steps`]), after the password and
    /// before the session exists.
    Plugin,
    /// The user approves the scopes for the client.
    Consent,
    /// `prompt=select_account` with a session: continue as the signed-in person, or sign
    /// in with another account (then [`Step::Password`] replaces this step).
    SelectAccount,
    /// A second factor: a code from the authenticator app, or a recovery code.
    Factor,
    /// Enrolling an authenticator app while signing in (`[mfa] require = "always"`).
    FactorEnrol,
    /// The recovery codes made at enrolment, shown once.
    RecoveryCodes,
}

/// A passkey sign-in's WebAuthn ceremony, kept in its flow until the browser answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PasskeyChallenge {
    /// The library's ceremony state (JSON); it holds the challenge.
    pub state: String,
    /// Usernameless (the passkey names the user) rather than a second factor.
    pub discoverable: bool,
    /// When it started, unix seconds.
    pub created_at: i64,
}

/// A validated authorization request, as the flow and the code keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AuthRequest {
    /// Client id.
    pub client_id: String,
    /// Where the response goes (resolved: the registered URI when the request had none).
    pub redirect_uri: String,
    /// Whether the request carried `redirect_uri` (then the token request must repeat it).
    pub redirect_uri_sent: bool,
    /// Granted scopes (request ∩ allowed).
    pub scopes: Vec<String>,
    /// `state`, echoed.
    pub state: Option<String>,
    /// `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// S256 code challenge.
    pub code_challenge: Option<String>,
    /// `prompt=login` or `max_age` demanded a fresh sign-in.
    pub force_login: bool,
    /// `prompt=consent`.
    pub force_consent: bool,
    /// `prompt=none`.
    pub no_prompt: bool,
    /// `prompt=select_account`.
    pub select_account: bool,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `acr_values` asked for two factors (`urn:gatehouse:acr:mfa`).
    pub mfa_requested: bool,
    /// `login_hint`, to prefill the username.
    pub login_hint: Option<String>,
    /// `idp_hint`: sign in with this connector at once, without the login page.
    pub idp_hint: Option<String>,
}

/// A federated sign-in under way: what the host generated at `/federation/{id}/start` and
/// checks at the callback. Kept in the flow (bound to the browser) until the callback takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FederationState {
    /// The connector the browser was sent to (a callback on another one's path is refused).
    pub connector: String,
    /// Hex SHA-256 of the `state` sent to the provider.
    pub state_sha256: String,
    /// The `nonce` the provider's ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the code exchange.
    pub verifier: String,
    /// The connector's opaque data from `begin`, base64url.
    pub flow_data: Option<String>,
    /// When the browser was sent (unix seconds).
    pub started_at: i64,
}

/// An external identity waiting to be linked to the account the person signs in to next
/// (its verified email matched that account: never linked without the account's password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PendingLink {
    /// The connector.
    pub connector: String,
    /// Its display name (for the notice on the sign-in page).
    pub display_name: String,
    /// The provider's issuer.
    pub issuer: String,
    /// The provider's subject.
    pub subject: String,
}

/// A login in progress, keyed by the hash of the flow id in the login page URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FlowRecord {
    /// The authorization request being answered.
    pub request: AuthRequest,
    /// Hex SHA-256 of the browser-binding cookie that started the flow.
    pub browser: String,
    /// Anti-CSRF token of the flow's forms.
    pub csrf: String,
    /// Steps still to do, first is current.
    pub pending: Vec<Step>,
    /// The user, once identified.
    pub user_id: Option<String>,
    /// When the user authenticated (unix seconds).
    pub auth_time: Option<i64>,
    /// Authentication methods used (RFC 8176 values: `pwd`, ...).
    pub amr: Vec<String>,
    /// The session the user already had, when the flow reuses it; or the one this flow
    /// started once its sign-in steps were done.
    pub session: Option<Digest>,
    /// Login-step plugins still to run, in config order (names); the first is the current
    /// one while `pending` starts with [`Step::Plugin`].
    pub steps: Vec<String>,
    /// The form the current login step shows.
    pub step_form: Option<crate::login_form::StepForm>,
    /// The current login step's opaque state, base64url.
    pub step_state: Option<String>,
    /// A federated sign-in under way.
    pub federation: Option<Box<FederationState>>,
    /// An identity to link once the person signs in with a password.
    pub pending_link: Option<Box<PendingLink>>,
    /// The connector the person signed in with (the ID token's `idp`).
    pub idp: Option<String>,
    /// A flow that only links an identity to this signed-in user (from the account page):
    /// no client, no code; the callback records the link and returns to the account page.
    pub link_for: Option<String>,
    /// A passkey sign-in under way: its WebAuthn ceremony, one-shot.
    pub passkey: Option<Box<PasskeyChallenge>>,
    /// The factor step takes a passkey only (a policy's step-up named `pop`, `hwk` or
    /// `swk`): codes are refused.
    pub passkey_only: bool,
    /// Creation time and expiry, unix seconds.
    pub created_at: i64,
    /// Past this, the flow is gone.
    pub expires_at: i64,
}

/// A signed-in browser, keyed by the hash of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SessionRecord {
    /// Public session id (the `sid` claim; not the cookie).
    pub sid: String,
    /// The user.
    pub user_id: String,
    /// When the user last authenticated (unix seconds).
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// The connector the person signed in with (the ID token's `idp`).
    pub idp: Option<String>,
    /// Anti-CSRF token of the logout confirmation.
    pub csrf: String,
    /// Creation time.
    pub created_at: i64,
    /// Last use (idle timeout counts from here).
    pub last_seen: i64,
    /// Absolute end.
    pub expires_at: i64,
    /// Clients that received a code in this session.
    pub clients: Vec<String>,
    /// The browser's `User-Agent` at sign-in (shown to the person).
    pub user_agent: Option<String>,
    /// The address it signed in from (shown to the person).
    pub ip: Option<String>,
}

/// What a redeemed code produced, so a replay can revoke it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Redemption {
    /// The access token issued.
    pub jti: String,
    /// Its expiry.
    pub access_exp: i64,
    /// The refresh token family started, if any.
    pub family: Option<String>,
}

/// An authorization code, keyed by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CodeRecord {
    /// The request it answers (client, redirect URI, scopes, nonce, challenge).
    pub request: AuthRequest,
    /// The user.
    pub user_id: String,
    /// Session id (`sid`).
    pub sid: String,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// The connector the person signed in with (the ID token's `idp`).
    pub idp: Option<String>,
    /// Issue time.
    pub created_at: i64,
    /// Expiry (about a minute after issue).
    pub expires_at: i64,
    /// Set on first redemption.
    pub redeemed: Option<Redemption>,
}

/// The outcome of [`SyncBrowser::redeem_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First redemption: the code as issued.
    Redeemed(CodeRecord),
    /// Redeemed before: what the first redemption produced must be revoked.
    Replayed(CodeRecord),
    /// Unknown or expired.
    Invalid,
}

/// A refresh token, keyed by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RefreshRecord {
    /// The family (all rotations of one grant).
    pub family: String,
    /// Client.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// Scopes (a rotation keeps or narrows them).
    pub scopes: Vec<String>,
    /// Session id at sign-in.
    pub sid: String,
    /// Authentication time at sign-in.
    pub auth_time: i64,
    /// Authentication methods at sign-in.
    pub amr: Vec<String>,
    /// The connector the person signed in with (the ID token's `idp`).
    pub idp: Option<String>,
    /// Issue time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Set when rotated (the token is then spent).
    pub used: bool,
}

/// A refresh token family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FamilyRecord {
    /// Client.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// Revoked (reuse, logout, revocation): no member works any more.
    pub revoked: bool,
    /// The newest access token issued from the family, revoked with it.
    pub last_jti: String,
    /// Its expiry.
    pub last_access_exp: i64,
    /// After this no member is valid (the family can be purged).
    pub expires_at: i64,
}

/// The outcome of [`SyncBrowser::rotate_refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is spent and the new one stored.
    Rotated(RefreshRecord),
    /// The token was spent before: the family is now revoked; revoke `family.last_jti` too.
    Reused(FamilyRecord),
    /// Unknown, expired or revoked.
    Invalid,
}

/// Storage of the browser sign-in aggregates.
pub trait SyncBrowser {
    /// Stores (or replaces) a flow.
    fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError>;
    /// Replaces a flow that is still stored; `false` when it is gone (taken, or purged): a
    /// finished flow is never revived.
    fn update_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<bool, StoreError>;
    /// A flow, if present (expiry is the caller's check).
    fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError>;
    /// Removes a flow and returns it: exactly one caller can finish a flow.
    fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError>;

    /// Stores (or replaces) a session.
    fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError>;
    /// Replaces a session that is still stored (`touch`); `false` when it ended meanwhile: a
    /// logout elsewhere is never undone.
    fn update_session(&self, id: &Digest, session: &SessionRecord) -> Result<bool, StoreError>;
    /// A session, if present.
    fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session; returns it.
    fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError>;
    /// Sessions still open at `now`: before their absolute end and used at or after
    /// `idle_since` (a scan: for metrics, not for request paths).
    fn count_open_sessions(&self, now: i64, idle_since: i64) -> Result<usize, StoreError>;
    /// A user's sessions not past their absolute end at `now`, with their keys, oldest first.
    fn user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<(Digest, SessionRecord)>, StoreError>;

    /// Stores a new ticket under the hash of its token.
    fn put_ticket(&self, id: &Digest, ticket: &crate::tickets::TicketRecord) -> Result<(), StoreError>;
    /// A ticket, if present (expiry is the caller's check).
    fn get_ticket(&self, id: &Digest) -> Result<Option<crate::tickets::TicketRecord>, StoreError>;
    /// Removes a ticket and returns it: exactly one caller can use a ticket.
    fn take_ticket(&self, id: &Digest) -> Result<Option<crate::tickets::TicketRecord>, StoreError>;

    /// Stores a new code.
    fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError>;
    /// A code, if present.
    fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError>;
    /// Marks a code redeemed, once: a second call reports the first redemption.
    fn redeem_code(&self, code: &Digest, redemption: &Redemption, now: i64) -> Result<CodeRedemption, StoreError>;

    /// Stores the first token of a new family.
    fn create_refresh(&self, token: &Digest, record: &RefreshRecord, family: &FamilyRecord) -> Result<(), StoreError>;
    /// A refresh token, if present.
    fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError>;
    /// Spends `old` and stores `new` in its family, recording the access token issued with it;
    /// a spent `old` revokes the family.
    fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        jti: &str,
        access_exp: i64,
        now: i64,
    ) -> Result<Rotation, StoreError>;
    /// Revokes a family; returns it (with the last access token id) when it existed.
    fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError>;
    /// The ids of a user's refresh families that are not revoked.
    fn user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// The scopes a user approved for a client.
    fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Remembers approved scopes (replacing earlier ones).
    fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError>;

    /// Drops flows, sessions, codes, refresh tokens and tickets that expired before `now`.
    fn purge_browser(&self, now: i64) -> Result<usize, StoreError>;
}

/// How long a spent refresh token is remembered, so that presenting it again is recognised
/// as reuse (and revokes its family). After that it is forgotten and simply invalid; keeping
/// every spent token for the refresh lifetime would grow the store with each rotation.
pub const REUSE_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// What remains of a refresh token once rotated: enough to recognise reuse.
pub(crate) fn spent(record: &RefreshRecord, now: i64) -> RefreshRecord {
    RefreshRecord {
        family: record.family.clone(),
        client_id: record.client_id.clone(),
        user_id: record.user_id.clone(),
        used: true,
        created_at: record.created_at,
        expires_at: record.expires_at.min(now.saturating_add(REUSE_WINDOW_SECS)),
        ..RefreshRecord::default()
    }
}

/// Redeems `code` at `now` if it may be (both backends apply this rule; the store makes it
/// atomic): a second redemption reports the first, an expired code is invalid.
pub(crate) fn redeem(code: &mut CodeRecord, redemption: &Redemption, now: i64) -> CodeRedemption {
    if code.redeemed.is_some() {
        CodeRedemption::Replayed(code.clone())
    } else if code.expires_at <= now {
        CodeRedemption::Invalid
    } else {
        code.redeemed = Some(redemption.clone());
        CodeRedemption::Redeemed(code.clone())
    }
}

/// Rotates `spent` within `family` at `now` if it may be (both backends apply this rule; the
/// store makes it atomic and writes the changed records). On success `spent` becomes its
/// tombstone and the family records the access token issued with the new token.
pub(crate) fn rotate(
    spent: &mut RefreshRecord,
    family: &mut FamilyRecord,
    jti: &str,
    access_exp: i64,
    now: i64,
) -> Rotation {
    if family.revoked {
        return Rotation::Invalid;
    }
    if spent.used {
        family.revoked = true;
        return Rotation::Reused(family.clone());
    }
    if spent.expires_at <= now || family.expires_at <= now {
        return Rotation::Invalid;
    }
    let before = spent.clone();
    *spent = self::spent(&before, now);
    family.last_jti = jti.to_owned();
    family.last_access_exp = access_exp;
    Rotation::Rotated(before)
}

/// The consent key of a user and client.
pub(crate) fn consent_key(user_id: &str, client_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user_id.len() + client_id.len() + 1);
    k.extend_from_slice(user_id.as_bytes());
    k.push(0);
    k.extend_from_slice(client_id.as_bytes());
    k
}

/// How long a redeemed code is kept (to detect replays) after it expired: as long as the
/// access token it produced can live.
pub(crate) fn code_keep_until(code: &CodeRecord) -> i64 {
    code.redeemed.as_ref().map_or(code.expires_at, |r| r.access_exp.max(code.expires_at))
}
