//! Endpoint paths, defined once; used by the router, discovery and tests.

/// The root: a small page for people, a JSON 404 for programs.
pub const HOME: &str = "/";
/// OpenID Connect Discovery document.
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// RFC 8414 authorization server metadata (same document).
pub const AS_METADATA: &str = "/.well-known/oauth-authorization-server";
/// JSON Web Key Set.
pub const JWKS: &str = "/jwks";
/// Authorization endpoint.
pub const AUTHORIZE: &str = "/authorize";
/// Login pages (the flow's steps).
pub const LOGIN: &str = "/login";
/// The passkey page script.
pub const PASSKEY_SCRIPT: &str = "/assets/passkeys.js";
/// Passkey sign-in: the options (`?flow=`).
pub const LOGIN_PASSKEY_BEGIN: &str = "/login/passkey/begin";
/// Passkey sign-in: the browser's answer (`?flow=`).
pub const LOGIN_PASSKEY_FINISH: &str = "/login/passkey/finish";
/// Passkey registration on the account page: the options.
pub const PASSKEY_REGISTER_BEGIN: &str = "/account/passkeys/register/begin";
/// Passkey registration: the browser's answer.
pub const PASSKEY_REGISTER_FINISH: &str = "/account/passkeys/register/finish";
/// The signed-in person's account page (linked providers).
pub const ACCOUNT: &str = "/account";
/// "Forgot password?": ask for a reset link by email.
pub const PASSWORD_FORGOT: &str = "/password/forgot";
/// Where a reset link leads (`?token=...`): choose a new password.
pub const PASSWORD_RESET: &str = "/password/reset";
/// Where an address verification link leads (`?token=...`).
pub const EMAIL_VERIFY: &str = "/email/verify";
/// Federated sign-in: `{FEDERATION}/{id}/start` and `{FEDERATION}/{id}/callback`.
pub const FEDERATION: &str = "/federation";
/// The routes under [`FEDERATION`].
pub const FEDERATION_START: &str = "/federation/{id}/start";
/// The redirect URI registered at providers (contract: `{issuer}/federation/{id}/callback`).
pub const FEDERATION_CALLBACK: &str = "/federation/{id}/callback";
/// UserInfo endpoint.
pub const USERINFO: &str = "/userinfo";
/// RP-initiated logout (end-session endpoint).
pub const LOGOUT: &str = "/logout";
/// The pages' stylesheet.
pub const STYLESHEET: &str = crate::ui::STYLESHEET_PATH;
/// Token endpoint.
pub const TOKEN: &str = "/token";
/// Introspection (RFC 7662).
pub const INTROSPECT: &str = "/introspect";
/// Revocation (RFC 7009).
pub const REVOKE: &str = "/revoke";
/// Token check for services.
pub const VERIFY: &str = "/verify";
/// Dev-mode token minting.
pub const TEST_TOKEN: &str = "/test-token";
/// Liveness.
pub const PING: &str = "/ping";
/// Prometheus metrics.
pub const METRICS: &str = "/metrics";
/// Readiness (store health).
pub const READY: &str = "/ready";
/// Admin: query the audit log.
pub const ADMIN_AUDIT: &str = "/admin/audit";
/// Admin: verify the audit chain.
pub const ADMIN_AUDIT_VERIFY: &str = "/admin/audit/verify";
/// Admin: stream a backup.
pub const ADMIN_BACKUP: &str = "/admin/backup";
/// Admin: rotate signing keys.
pub const ADMIN_KEYS_ROTATE: &str = "/admin/keys/rotate";
/// Reload the plugins from the config file.
pub const ADMIN_PLUGINS_RELOAD: &str = "/admin/plugins/reload";
/// The loaded plugins.
pub const ADMIN_PLUGINS: &str = "/admin/plugins";
/// Replay recorded policy decisions against a candidate component.
pub const ADMIN_POLICY_REPLAY: &str = "/admin/policy/replay";
/// Users, for operators (`user-admin`).
pub const ADMIN_USERS: &str = "/admin/users";
/// One user.
pub const ADMIN_USER: &str = "/admin/users/{id}";
/// A user's sessions (admin API).
pub const ADMIN_USER_SESSIONS: &str = "/admin/users/{id}/sessions";
/// One session of a user.
pub const ADMIN_USER_SESSION: &str = "/admin/users/{id}/sessions/{sid}";
/// Removes a user's second factors.
pub const ADMIN_USER_MFA_RESET: &str = "/admin/users/{id}/mfa/reset";
/// Sets a user's password or sends a reset link.
pub const ADMIN_USER_PASSWORD: &str = "/admin/users/{id}/password";
/// Clients (admin API).
pub const ADMIN_CLIENTS: &str = "/admin/clients";
/// One client.
pub const ADMIN_CLIENT: &str = "/admin/clients/{id}";
/// A new secret for a client.
pub const ADMIN_CLIENT_SECRET: &str = "/admin/clients/{id}/secret";
/// Groups (admin API).
pub const ADMIN_GROUPS: &str = "/admin/groups";
/// One group.
pub const ADMIN_GROUP: &str = "/admin/groups/{id}";
/// A group's members.
pub const ADMIN_GROUP_MEMBERS: &str = "/admin/groups/{id}/members";
/// One member of a group.
pub const ADMIN_GROUP_MEMBER: &str = "/admin/groups/{id}/members/{user_id}";
/// The notification queue and its dead letters.
pub const ADMIN_NOTIFICATIONS: &str = "/admin/notifications";
/// Put a dead letter back in the notification queue.
pub const ADMIN_NOTIFICATIONS_RETRY: &str = "/admin/notifications/retry";
