//! PKCE (RFC 7636) with S256 only: `plain` would let an intercepted authorization request
//! reveal the verifier.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::{ct_eq, sha256};

/// Whether `s` is a well-formed verifier or challenge: 43 to 128 unreserved characters
/// (RFC 7636 §4.1).
pub fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether `verifier` matches the S256 `challenge` (RFC 7636 §4.6), compared in constant time.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    well_formed(verifier) && ct_eq(URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(well_formed(verifier) && well_formed(challenge));
        assert!(verify_s256(verifier, challenge));
        assert!(!verify_s256(challenge, challenge));
        assert!(!verify_s256("short", challenge));
    }
}
