//! Secrets and the primitives that touch them: a redacting newtype, SHA-256 digests,
//! constant-time comparison and random values. Everything here delegates to aws-lc-rs;
//! nothing in this module implements cryptography itself.

use std::fmt;

use aws_lc_rs::{constant_time, digest, rand};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// A secret string (client secret, admin token, password). `Debug` and `Display` print `***`
/// so that a secret can never reach a log line through formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where the value is needed (hashing, a one-time print).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lower-case hex SHA-256 of `data`, the form stored for secrets.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// Constant-time equality of two byte strings (length may leak, content does not).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Checks `presented` against a stored SHA-256 digest in constant time.
pub fn matches_sha256(presented: &[u8], stored: &[u8; 32]) -> bool {
    ct_eq(&sha256(presented), stored)
}

/// `n` bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    rand::fill(&mut buf).map_err(|_| RandomError)?;
    Ok(buf)
}

/// A base64url (no padding) string of 32 random bytes: generated secrets and opaque ids.
pub fn random_token() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A unique identifier (16 random bytes, base64url) for `jti` values. Uniqueness is what
/// matters here, not secrecy, so it comes from `rand`'s thread-local CSPRNG (ChaCha, seeded
/// from the OS) rather than a call into aws-lc's DRBG on every token.
pub fn unique_id() -> String {
    use ::rand::Rng as _;
    URL_SAFE_NO_PAD.encode(::rand::rng().random::<[u8; 16]>())
}

/// The system random generator failed (practically never; surfaced rather than ignored).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Parses a 64-character hex SHA-256 digest.
pub fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(s.trim()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let stored = parse_sha256_hex(&sha256_hex(b"abc")).unwrap_or([0; 32]);
        assert!(matches_sha256(b"abc", &stored));
        assert!(!matches_sha256(b"abd", &stored));
    }

    #[test]
    fn random_tokens_differ_and_have_32_bytes() {
        let a = random_token().unwrap_or_default();
        let b = random_token().unwrap_or_default();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|v| v.len()).unwrap_or(0), 32);
    }
}
