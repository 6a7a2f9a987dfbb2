//! Compact JWS (RFC 7515) with our held keys: the signing input is assembled here and
//! signed by aws-lc-rs; `jsonwebtoken::encode` is not used on the hot path because it
//! re-parses the key on every call (ARCHITECTURE §4).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::keys::{KeyError, KeySet, SigningKey};

/// Longest token we look at; anything larger is malformed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Signs `claims` (a serialisable object) with `key`, header `typ` as given.
pub fn sign<T: serde::Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, KeyError> {
    let header = key.encoded_header(typ)?;
    let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let mut out = String::with_capacity(header.len() + payload.len() * 4 / 3 + 100);
    out.push_str(&header);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut out);
    Ok(out)
}

/// The protected header fields we read.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    /// Algorithm.
    pub alg: String,
    /// Media type (`at+jwt` for access tokens, RFC 9068 §2.1).
    #[serde(default)]
    pub typ: Option<String>,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
}

/// Why a compact JWS was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with a JSON header and payload, or too large.
    #[error("malformed token")]
    Malformed,
    /// Unknown key, wrong algorithm for the key, or a signature that does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// A token whose signature checked out.
#[derive(Debug)]
pub struct Verified {
    /// Its header.
    pub header: Header,
    /// The decoded payload bytes (JSON).
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS signed by one of our published keys.
pub fn verify(keys: &KeySet, token: &str) -> Result<Verified, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.splitn(4, '.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let dec = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| JwtError::Malformed);
    let header: Header = serde_json::from_slice(&dec(h)?).map_err(|_| JwtError::Malformed)?;
    let payload = dec(p)?;
    let signature = dec(s)?;
    let verifier = header.kid.as_deref().and_then(|kid| keys.verifier(kid)).ok_or(JwtError::BadSignature)?;
    if verifier.alg.as_str() != header.alg {
        return Err(JwtError::BadSignature);
    }
    let signing_input = &token[..h.len() + 1 + p.len()];
    if !verifier.verify(signing_input.as_bytes(), &signature) {
        return Err(JwtError::BadSignature);
    }
    if payload.first().is_none_or(|b| *b != b'{') {
        return Err(JwtError::Malformed);
    }
    Ok(Verified { header, payload })
}
