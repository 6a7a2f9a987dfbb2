//! The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2), advertising only
//! what is implemented. Built once at start-up and served as bytes.

use serde_json::json;

use crate::oauth::assertion::ASSERTION_ALGS;
use crate::oidc::claims::CLAIMS_SUPPORTED;
use crate::state::Urls;

/// Builds the discovery JSON.
pub fn document(issuer: &str, urls: &Urls) -> Result<Vec<u8>, serde_json::Error> {
    let auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"];
    let token_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
    let revoke_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
    serde_json::to_vec(&json!({
        "issuer": issuer,
        "authorization_endpoint": urls.authorize,
        "jwks_uri": urls.jwks,
        "token_endpoint": urls.token,
        "userinfo_endpoint": urls.userinfo,
        "end_session_endpoint": urls.logout,
        "introspection_endpoint": urls.introspect,
        "revocation_endpoint": urls.revoke,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid", "profile", "email", "phone", "groups", "offline_access"],
        "claims_supported": CLAIMS_SUPPORTED,
        "acr_values_supported": crate::mfa::ACR_VALUES,
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "token_endpoint_auth_methods_supported": token_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": revoke_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "access_token_signing_alg_values_supported": ["ES256"],
    }))
}
