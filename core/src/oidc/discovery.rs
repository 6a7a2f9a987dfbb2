//! The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2), advertising only
//! what is implemented. Built once at start-up and served as bytes.

use serde_json::json;

use crate::oauth::assertion::ASSERTION_ALGS;
use crate::state::Urls;

/// Builds the discovery JSON.
pub fn document(issuer: &str, urls: &Urls) -> Result<Vec<u8>, serde_json::Error> {
    let auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"];
    let revoke_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
    serde_json::to_vec(&json!({
        "issuer": issuer,
        "jwks_uri": urls.jwks,
        "token_endpoint": urls.token,
        "introspection_endpoint": urls.introspect,
        "revocation_endpoint": urls.revoke,
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": revoke_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "access_token_signing_alg_values_supported": ["ES256"],
    }))
}
