//! Signing keys: generation, the in-memory key set (parsed once), the JWKS document
//! (precomputed bytes), and rotation. Old public keys stay published until every token they
//! signed has expired (`publish_until`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use time::OffsetDateTime;

use crate::secret::sha256;
use crate::store::{Db, KeyRecord, KeySetRecord, StoreError};

/// JWS algorithms of our signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 SHA-256: access tokens.
    Es256,
    /// RSASSA-PKCS1-v1_5 SHA-256: ID tokens (what OIDC relying parties expect).
    Rs256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// Key handling failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// aws-lc-rs refused to generate, parse or sign.
    #[error("key operation failed: {0}")]
    Crypto(String),
    /// The stored key set could not be used.
    #[error("stored key `{kid}` is unusable: {detail}")]
    BadRecord {
        /// Key id.
        kid: String,
        /// Why.
        detail: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(signature::RsaKeyPair),
}

/// A private key parsed once and held for signing.
pub struct SigningKey {
    /// Key id (RFC 7638 JWK thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: Alg,
    pair: Pair,
    rng: SystemRandom,
    /// base64url of the JWS header for access tokens (`typ: at+jwt`), built once.
    at_jwt_header: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} {})", self.alg.as_str(), self.kid)
    }
}

fn crypto(e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto(e.to_string())
}

impl SigningKey {
    /// Generates a new key; returns it with its PKCS#8 encoding for storage.
    pub fn generate(alg: Alg) -> Result<(Self, Vec<u8>), KeyError> {
        let pkcs8 = match alg {
            Alg::Es256 => {
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                        .map_err(crypto)?;
                doc.as_ref().to_vec()
            }
            Alg::Rs256 => {
                let kp = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(crypto)?;
                kp.as_der().map_err(crypto)?.as_ref().to_vec()
            }
        };
        Ok((Self::from_pkcs8(alg, &pkcs8)?, pkcs8))
    }

    /// Parses a PKCS#8 private key.
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, KeyError> {
        let pair = match alg {
            Alg::Es256 => {
                Pair::Ec(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(crypto)?)
            }
            Alg::Rs256 => Pair::Rsa(signature::RsaKeyPair::from_pkcs8(der).map_err(crypto)?),
        };
        let mut key = Self { kid: String::new(), alg, pair, rng: SystemRandom::new(), at_jwt_header: String::new() };
        key.kid = key.thumbprint();
        key.at_jwt_header = encoded_header(alg, super::access::AT_JWT, &key.kid)?;
        Ok(key)
    }

    /// The base64url-encoded protected header for `typ` (cached for access tokens).
    pub fn encoded_header(&self, typ: &str) -> Result<std::borrow::Cow<'_, str>, KeyError> {
        if typ == super::access::AT_JWT {
            Ok(std::borrow::Cow::Borrowed(&self.at_jwt_header))
        } else {
            encoded_header(self.alg, typ, &self.kid).map(std::borrow::Cow::Owned)
        }
    }

    /// Signs `message` (the JWS signing input).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ec(kp) => Ok(kp.sign(&self.rng, message).map_err(crypto)?.as_ref().to_vec()),
            Pair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig).map_err(crypto)?;
                Ok(sig)
            }
        }
    }

    /// The public key's JWK members without `kid`/`alg`/`use`, in RFC 7638 order.
    fn public_members(&self) -> Vec<(&'static str, String)> {
        match &self.pair {
            Pair::Ec(kp) => {
                let point = kp.public_key().as_ref();
                let (x, y) = point.get(1..).unwrap_or_default().split_at(point.len().saturating_sub(1) / 2);
                vec![
                    ("crv", "P-256".into()),
                    ("kty", "EC".into()),
                    ("x", URL_SAFE_NO_PAD.encode(x)),
                    ("y", URL_SAFE_NO_PAD.encode(y)),
                ]
            }
            Pair::Rsa(kp) => {
                let pk = kp.public_key();
                vec![
                    ("e", URL_SAFE_NO_PAD.encode(pk.exponent().big_endian_without_leading_zero())),
                    ("kty", "RSA".into()),
                    ("n", URL_SAFE_NO_PAD.encode(pk.modulus().big_endian_without_leading_zero())),
                ]
            }
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    fn thumbprint(&self) -> String {
        let canonical: serde_json::Map<String, serde_json::Value> =
            self.public_members().into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
        // serde_json's Map is ordered by key, which is RFC 7638's lexicographic order.
        let json = serde_json::Value::Object(canonical).to_string();
        URL_SAFE_NO_PAD.encode(sha256(json.as_bytes()))
    }

    /// The public JWK as published.
    pub fn public_jwk(&self) -> serde_json::Value {
        let mut m: serde_json::Map<String, serde_json::Value> =
            self.public_members().into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
        m.insert("kid".into(), self.kid.clone().into());
        m.insert("alg".into(), self.alg.as_str().into());
        m.insert("use".into(), "sig".into());
        serde_json::Value::Object(m)
    }

    fn verifier(&self) -> Result<ParsedPublicKey, KeyError> {
        let (alg, bytes): (&'static dyn signature::VerificationAlgorithm, Vec<u8>) = match &self.pair {
            Pair::Ec(kp) => (&signature::ECDSA_P256_SHA256_FIXED, kp.public_key().as_ref().to_vec()),
            Pair::Rsa(kp) => (&signature::RSA_PKCS1_2048_8192_SHA256, kp.public_key().as_ref().to_vec()),
        };
        UnparsedPublicKey::new(alg, bytes).parse().map_err(crypto)
    }
}

fn encoded_header(alg: Alg, typ: &str, kid: &str) -> Result<String, KeyError> {
    let header = serde_json::json!({ "alg": alg.as_str(), "typ": typ, "kid": kid });
    let bytes = serde_json::to_vec(&header).map_err(crypto)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A public key that verifies our own signatures.
pub struct Verifier {
    /// The algorithm the key is for (the JWS `alg` must match).
    pub alg: Alg,
    key: ParsedPublicKey,
}

impl Verifier {
    /// Whether `signature` over `message` is valid.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// The keys in force: one active signing key per algorithm, every published verifier, and
/// the JWKS bytes.
pub struct KeySet {
    /// Active ES256 key (access tokens).
    pub es256: Arc<SigningKey>,
    /// Active RS256 key (ID tokens).
    pub rs256: Arc<SigningKey>,
    verifiers: HashMap<String, Verifier>,
    /// `GET /jwks` body.
    pub jwks_json: bytes::Bytes,
    /// The records this set was built from.
    pub records: Vec<KeyRecord>,
    /// The stored set's version (instances sharing a store compare it to pick up rotations).
    pub version: u64,
}

impl KeySet {
    /// Builds a set from stored records (parsing each private key once).
    pub fn from_records(records: Vec<KeyRecord>) -> Result<Self, KeyError> {
        Self::from_stored(KeySetRecord { version: 0, keys: records })
    }

    /// Builds a set from the stored, versioned records.
    pub fn from_stored(stored: KeySetRecord) -> Result<Self, KeyError> {
        let KeySetRecord { version, keys: records } = stored;
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        let mut active: HashMap<Alg, Arc<SigningKey>> = HashMap::new();
        for r in &records {
            let bad = |detail: String| KeyError::BadRecord { kid: r.kid.clone(), detail };
            let alg = Alg::parse(&r.alg).ok_or_else(|| bad(format!("unknown alg {}", r.alg)))?;
            let der = STANDARD.decode(&r.pkcs8).map_err(|e| bad(e.to_string()))?;
            let key = SigningKey::from_pkcs8(alg, &der)?;
            if key.kid != r.kid {
                return Err(bad("kid does not match the key".into()));
            }
            jwks.push(key.public_jwk());
            verifiers.insert(key.kid.clone(), Verifier { alg, key: key.verifier()? });
            if r.retired_at.is_none() {
                active.insert(alg, Arc::new(key));
            }
        }
        let missing =
            |alg: Alg| KeyError::BadRecord { kid: "-".into(), detail: format!("no active {} key", alg.as_str()) };
        let es256 = active.remove(&Alg::Es256).ok_or_else(|| missing(Alg::Es256))?;
        let rs256 = active.remove(&Alg::Rs256).ok_or_else(|| missing(Alg::Rs256))?;
        let jwks_json = serde_json::to_vec(&serde_json::json!({ "keys": jwks })).map_err(crypto)?;
        Ok(Self { es256, rs256, verifiers, jwks_json: jwks_json.into(), records, version })
    }

    /// The verifier for `kid`, if that key is published.
    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.get(kid)
    }
}

fn new_record(alg: Alg, now: i64) -> Result<KeyRecord, KeyError> {
    let (key, pkcs8) = SigningKey::generate(alg)?;
    Ok(KeyRecord {
        kid: key.kid,
        alg: alg.as_str().into(),
        pkcs8: STANDARD.encode(pkcs8),
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

/// The records after a rotation at `now`: active keys retire (published for `retention`
/// more), a fresh key per algorithm becomes active, keys past `publish_until` are dropped.
pub fn rotated(records: &[KeyRecord], now: i64, retention: Duration) -> Result<Vec<KeyRecord>, KeyError> {
    let keep_until = now.saturating_add(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
    let mut out: Vec<KeyRecord> = records
        .iter()
        .filter(|r| r.publish_until.is_none_or(|t| t > now))
        .cloned()
        .map(|mut r| {
            if r.retired_at.is_none() {
                r.retired_at = Some(now);
                r.publish_until = Some(keep_until);
            }
            r
        })
        .collect();
    out.push(new_record(Alg::Es256, now)?);
    out.push(new_record(Alg::Rs256, now)?);
    Ok(out)
}

/// Owns the key set of a running server. The store holds the set with a version; every
/// replacement is a compare-and-swap on it, so instances sharing a store never sign with
/// keys nobody publishes: the loser of a race adopts the winner's set, and [`Self::refresh`]
/// (polled every second) picks up a rotation made elsewhere.
pub struct KeyManager {
    db: Db,
    current: ArcSwap<KeySet>,
    rotate_lock: tokio::sync::Mutex<()>,
    retention: Duration,
}

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RotationSummary {
    /// Kids of the new active keys.
    pub active: Vec<String>,
    /// Kids still published but no longer signing.
    pub retired: Vec<String>,
}

/// Whether `keys` has an active key for each algorithm.
fn complete(keys: &[KeyRecord]) -> bool {
    let has = |alg: Alg| keys.iter().any(|r| r.retired_at.is_none() && r.alg == alg.as_str());
    has(Alg::Es256) && has(Alg::Rs256)
}

/// The records after a rotation, computed off the async threads (RSA generation is slow).
async fn rotated_async(keys: Vec<KeyRecord>, now: i64, retention: Duration) -> Result<Vec<KeyRecord>, KeyError> {
    tokio::task::spawn_blocking(move || rotated(&keys, now, retention)).await.map_err(crypto)?
}

/// Parses a stored set off the async threads.
async fn parse(stored: KeySetRecord) -> Result<KeySet, KeyError> {
    tokio::task::spawn_blocking(move || KeySet::from_stored(stored)).await.map_err(crypto)?
}

/// How often a rotation retries when other instances keep replacing the set meanwhile.
const ROTATE_ATTEMPTS: usize = 5;

impl KeyManager {
    /// Loads the stored key set, generating (and durably storing) the first keys if there
    /// are none; when another instance generates them at the same moment, its set is used.
    /// `retention` must cover the longest lifetime of any token we sign.
    pub async fn load_or_create(db: Db, now: OffsetDateTime, retention: Duration) -> Result<Self, KeyError> {
        let mut stored = db.keys().load_keys().await?;
        if !complete(&stored.keys) {
            let keys = rotated_async(stored.keys.clone(), now.unix_timestamp(), retention).await?;
            match db.keys().replace_keys(stored.version, &keys).await {
                Ok(version) => {
                    db.durable().await?;
                    stored = KeySetRecord { version, keys };
                    tracing::info!("generated signing keys (ES256, RS256)");
                }
                Err(StoreError::Conflict(_)) => {
                    stored = db.keys().load_keys().await?;
                    tracing::info!("another instance generated the signing keys; using them");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let set = parse(stored).await?;
        Ok(Self { db, current: ArcSwap::from_pointee(set), rotate_lock: tokio::sync::Mutex::new(()), retention })
    }

    /// The key set in force.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Adopts the stored set if another instance replaced it; `true` when it changed.
    pub async fn refresh(&self) -> Result<bool, KeyError> {
        let stored = self.db.keys().load_keys().await?;
        if stored.version == self.current().version {
            return Ok(false);
        }
        let set = parse(stored).await?;
        tracing::info!(version = set.version, "signing keys replaced by another instance; using them");
        self.current.store(Arc::new(set));
        Ok(true)
    }

    /// Rotates now: new keys sign from the moment this returns; old ones stay published.
    /// A rotation by another instance in the meantime is built on, not overwritten.
    pub async fn rotate(&self, now: OffsetDateTime) -> Result<RotationSummary, KeyError> {
        let _guard = self.rotate_lock.lock().await;
        for _ in 0..ROTATE_ATTEMPTS {
            let stored = self.db.keys().load_keys().await?;
            if let Some(summary) = self.try_rotate(stored, now).await? {
                return Ok(summary);
            }
        }
        Err(StoreError::Conflict("a key set that kept changing during the rotation".into()).into())
    }

    /// The scheduled rotation: rotates if the active keys are older than `every`. Of several
    /// instances that find it due at once, one rotates and the others adopt its keys.
    pub async fn rotate_if_due(
        &self,
        now: OffsetDateTime,
        every: Duration,
    ) -> Result<Option<RotationSummary>, KeyError> {
        let _guard = self.rotate_lock.lock().await;
        if !self.due(now, every) {
            return Ok(None);
        }
        // Built on the set in force: if another instance replaced it meanwhile, the swap
        // fails and its set is adopted instead.
        let current = self.current();
        let stored = KeySetRecord { version: current.version, keys: current.records.clone() };
        let summary = self.try_rotate(stored, now).await?;
        if summary.is_none() {
            self.refresh().await?;
        }
        Ok(summary)
    }

    /// Replaces `stored` by its rotation; `None` when another writer replaced it first.
    async fn try_rotate(&self, stored: KeySetRecord, now: OffsetDateTime) -> Result<Option<RotationSummary>, KeyError> {
        let next = rotated_async(stored.keys, now.unix_timestamp(), self.retention).await?;
        let version = match self.db.keys().replace_keys(stored.version, &next).await {
            Ok(v) => v,
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.db.durable().await?;
        let summary = summary(&next);
        self.current.store(Arc::new(parse(KeySetRecord { version, keys: next }).await?));
        tracing::info!(version, "rotated signing keys");
        Ok(Some(summary))
    }

    /// Whether the active keys are older than `every`.
    pub fn due(&self, now: OffsetDateTime, every: Duration) -> bool {
        let age_limit = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
        self.current()
            .records
            .iter()
            .filter(|r| r.retired_at.is_none())
            .any(|r| now.unix_timestamp().saturating_sub(r.created_at) >= age_limit)
    }
}

/// Summarises a record list.
pub fn summary(records: &[KeyRecord]) -> RotationSummary {
    let (active, retired): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.retired_at.is_none());
    RotationSummary {
        active: active.into_iter().map(|r| r.kid.clone()).collect(),
        retired: retired.into_iter().map(|r| r.kid.clone()).collect(),
    }
}

/// Rotates the stored key set from the CLI (on postgres the servers pick it up within a
/// second; on sled the server is stopped).
pub async fn rotate_offline(db: &Db, now: i64, retention: Duration) -> Result<RotationSummary, KeyError> {
    let stored = db.keys().load_keys().await?;
    let next = rotated_async(stored.keys, now, retention).await?;
    db.keys().replace_keys(stored.version, &next).await?;
    db.durable().await?;
    Ok(summary(&next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        let records = rotated(&[], 1000, Duration::from_secs(600)).unwrap();
        let set = KeySet::from_records(records).unwrap();
        for key in [&set.es256, &set.rs256] {
            let sig = key.sign(b"payload").unwrap();
            let v = set.verifier(&key.kid).unwrap();
            assert!(v.verify(b"payload", &sig));
            assert!(!v.verify(b"payloaD", &sig));
        }
        let jwks: serde_json::Value = serde_json::from_slice(&set.jwks_json).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(jwks["keys"][0]["use"], "sig");
    }

    #[test]
    fn rotation_keeps_old_keys_until_publish_until() {
        let first = rotated(&[], 1000, Duration::from_secs(600)).unwrap();
        let second = rotated(&first, 2000, Duration::from_secs(600)).unwrap();
        assert_eq!(second.len(), 4);
        assert_eq!(second.iter().filter(|r| r.retired_at.is_none()).count(), 2);
        assert!(second.iter().all(|r| r.retired_at.is_none() || r.publish_until == Some(2600)));
        let third = rotated(&second, 2700, Duration::from_secs(600)).unwrap();
        assert_eq!(third.len(), 4, "keys past publish_until are dropped");
        assert!(KeySet::from_records(third).is_ok());
    }
}
