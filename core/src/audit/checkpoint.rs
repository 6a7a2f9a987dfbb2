//! Signed checkpoints. The hash chain shows a record changed in place, but not a missing tail
//! nor a chain recomputed after an edit. So at an interval and at shutdown the server signs
//! the chain's head (seq, hash, time) with the audit key (Ed25519, made on first start and
//! used for nothing else), keeps the checkpoint apart from the log (`store::audit_checkpoints`)
//! and appends an `audit_checkpoint` record, which notifiers can ship elsewhere
//! (`audit.checkpoint`). Verification checks the records against every checkpoint: a log
//! that ends before a checkpoint lost its tail; a record whose hash differs from a signed
//! one was rewritten. Whoever holds exported checkpoints and the public key can prove this
//! even if the store itself was changed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::chain::{ChainBreak, ChainStart, ChainVerifier};
use super::{Actor, AuditEvent, AuditLog, unix_ms};
use crate::store::audit_checkpoints::CheckpointRecord;
use crate::store::{AuditStore, Db, StoreError};

/// What a checkpoint's signature covers.
fn message(seq: u64, hash: &str, time_ms: i64) -> Vec<u8> {
    format!("gatehouse-audit-checkpoint/1\n{seq}\n{hash}\n{time_ms}").into_bytes()
}

/// The audit key's public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPublicKey {
    /// RFC 7638 thumbprint.
    pub key_id: String,
    bytes: Vec<u8>,
}

impl AuditPublicKey {
    fn from_bytes(bytes: Vec<u8>) -> Self {
        let x = URL_SAFE_NO_PAD.encode(&bytes);
        // RFC 7638 §3.2: the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let key_id = URL_SAFE_NO_PAD.encode(crate::secret::sha256(canonical.as_bytes()));
        Self { key_id, bytes }
    }

    /// As a JWK (RFC 8037).
    pub fn to_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&self.bytes),
            "kid": self.key_id, "alg": "EdDSA", "use": "audit-checkpoint",
        })
    }

    /// From a JWK written by [`Self::to_jwk`].
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, String> {
        let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
        if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
            return Err("the key is not an Ed25519 JWK".into());
        }
        let x = field("x").ok_or("the key has no `x`")?;
        let bytes = URL_SAFE_NO_PAD.decode(x).map_err(|_| "the key's `x` is not base64url")?;
        if bytes.len() != 32 {
            return Err("the key's `x` is not 32 bytes".into());
        }
        Ok(Self::from_bytes(bytes))
    }

    /// Whether `cp` carries this key's valid signature.
    pub fn verifies(&self, cp: &CheckpointRecord) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(&cp.signature) else { return false };
        cp.key_id == self.key_id
            && UnparsedPublicKey::new(&ED25519, &self.bytes)
                .verify(&message(cp.seq, &cp.hash, cp.time_ms), &sig)
                .is_ok()
    }
}

/// The audit key pair.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
    public: AuditPublicKey,
}

impl AuditSigner {
    /// The stored audit key, made and stored on first use.
    pub async fn load_or_create(store: &dyn AuditStore) -> Result<Self, StoreError> {
        let b64 = match store.audit_key().await? {
            Some(k) => k,
            None => {
                let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                    .map_err(|_| StoreError::Io("no randomness for the audit key".into()))?;
                store.init_audit_key(&STANDARD.encode(doc.as_ref())).await?
            }
        };
        let corrupt = |detail: &str| StoreError::Corrupt { tree: "keys", detail: format!("audit key: {detail}") };
        let der = STANDARD.decode(b64).map_err(|_| corrupt("not base64"))?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| corrupt("not an Ed25519 PKCS#8 key"))?;
        let public = AuditPublicKey::from_bytes(pair.public_key().as_ref().to_vec());
        Ok(Self { pair, public })
    }

    /// The public key (exported with the checkpoints).
    pub fn public_key(&self) -> &AuditPublicKey {
        &self.public
    }

    fn sign(&self, seq: u64, hash: &str, time_ms: i64) -> CheckpointRecord {
        let sig = self.pair.sign(&message(seq, hash, time_ms));
        CheckpointRecord {
            seq,
            hash: hash.to_owned(),
            time_ms,
            key_id: self.public.key_id.clone(),
            signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
        }
    }
}

/// What `gatehouse audit checkpoints` writes and `audit verify --checkpoints` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointExport {
    /// The audit public key (JWK).
    pub key: serde_json::Value,
    /// Every checkpoint, oldest first.
    pub checkpoints: Vec<CheckpointRecord>,
}

/// The server's checkpointer: the key and the newest checkpoint's seq.
pub struct Checkpointer {
    signer: AuditSigner,
    last_seq: Mutex<u64>,
}

impl Checkpointer {
    /// Loads (or makes) the key and finds the newest checkpoint.
    pub async fn open(store: &dyn AuditStore) -> Result<Self, StoreError> {
        let signer = AuditSigner::load_or_create(store).await?;
        let last = store.checkpoints().await?.last().map_or(0, |c| c.seq);
        Ok(Self { signer, last_seq: Mutex::new(last) })
    }

    /// Signs the chain's head if it moved since the last checkpoint; the checkpoint is kept
    /// and appended to the log (durably) as an `audit_checkpoint` record.
    pub async fn checkpoint(
        &self,
        db: &Db,
        audit: &AuditLog,
        now: OffsetDateTime,
    ) -> Result<Option<CheckpointRecord>, StoreError> {
        let Some(head) = db.audit().last_audit_record().await? else { return Ok(None) };
        let last = *self.last_seq.lock().map_err(|_| StoreError::Io("checkpoint lock poisoned".into()))?;
        if head.seq <= last {
            return Ok(None);
        }
        // Everything the checkpoint covers is on disk before it is signed, so a crash cannot
        // leave a checkpoint that vouches for records that were lost.
        db.durable().await?;
        let cp = self.signer.sign(head.seq, &head.hash, unix_ms(now));
        db.audit().add_checkpoint(&cp).await?;
        if let Ok(mut l) = self.last_seq.lock() {
            *l = (*l).max(cp.seq);
        }
        let event = AuditEvent::AuditCheckpoint {
            through_seq: cp.seq,
            hash: cp.hash.clone(),
            key_id: cp.key_id.clone(),
            signature: cp.signature.clone(),
        };
        audit.record(Actor::system(), event, now).await?;
        Ok(Some(cp))
    }

    /// The public key.
    pub fn public_key(&self) -> &AuditPublicKey {
        self.signer.public_key()
    }
}

/// How much a verification covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Records whose chain verified.
    pub records: u64,
    /// Checkpoints the records agreed with.
    pub checkpoints: u64,
}

/// Verifies `records` (in stored order, from `start`) as a chain and against `checkpoints`
/// signed by `key`. An unreadable record is a break, not an error; only store failures are.
pub async fn verify_records(
    start: Option<ChainStart>,
    mut records: super::Records<'_>,
    checkpoints: &[CheckpointRecord],
    key: Option<&AuditPublicKey>,
) -> Result<Result<Verified, ChainBreak>, StoreError> {
    let floor = start.as_ref().map_or(0, |s| s.truncated_through);
    let mut pending = BTreeMap::new();
    for cp in checkpoints.iter().filter(|c| c.seq > floor) {
        if !key.is_some_and(|k| k.verifies(cp)) {
            let reason = format!("the checkpoint of record {} does not carry a valid audit-key signature", cp.seq);
            return Ok(Err(ChainBreak { seq: cp.seq, reason }));
        }
        pending.insert(cp.seq, cp);
    }
    let agreed = pending.len() as u64;
    let mut v = ChainVerifier::new(start);
    let mut last_good = floor;
    while let Some(r) = records.next().await {
        let r = match r {
            Ok(r) => r,
            Err(StoreError::Corrupt { detail, .. }) => {
                let reason = format!("an unreadable record stands here ({detail})");
                return Ok(Err(ChainBreak { seq: v.next_seq(), reason }));
            }
            Err(e) => return Err(e),
        };
        if let Err(b) = v.push(&r) {
            return Ok(Err(b));
        }
        if let Some(cp) = pending.remove(&r.seq) {
            if cp.hash != r.hash {
                let reason = format!(
                    "it differs from the signed checkpoint: records after {last_good} were rewritten and the chain recomputed"
                );
                return Ok(Err(ChainBreak { seq: r.seq, reason }));
            }
            last_good = r.seq;
        }
    }
    let end = v.next_seq();
    if let Some((seq, _)) = pending.first_key_value() {
        let reason = format!("the log ends here, but a checkpoint signed records up to {seq}: its tail was removed");
        return Ok(Err(ChainBreak { seq: end, reason }));
    }
    Ok(v.finish().map(|records| Verified { records, checkpoints: agreed }))
}

/// Verifies the whole stored log against the stored checkpoints.
pub async fn verify_store(store: &dyn AuditStore) -> Result<Result<Verified, ChainBreak>, StoreError> {
    let key = match store.audit_key().await? {
        Some(_) => Some(AuditSigner::load_or_create(store).await?),
        None => None,
    };
    let checkpoints = store.checkpoints().await?;
    let start = store.audit_start().await?;
    verify_records(start, super::records(store, 0), &checkpoints, key.as_ref().map(|k| k.public_key())).await
}

/// The start-up check: the records from the newest checkpoint to the end verify and agree
/// with it (cheap: one checkpoint interval of records). `Ok(None)` when there is nothing to
/// check or all is well.
pub async fn check_tail(store: &dyn AuditStore, key: &AuditPublicKey) -> Result<Option<ChainBreak>, StoreError> {
    let Some(cp) = store.checkpoints().await?.pop() else { return Ok(None) };
    let start = store.audit_start().await?;
    if start.as_ref().is_some_and(|s| s.truncated_through >= cp.seq) {
        return Ok(None);
    }
    if !key.verifies(&cp) {
        return Ok(Some(ChainBreak {
            seq: cp.seq,
            reason: "the newest checkpoint's signature does not verify".into(),
        }));
    }
    let mut records = super::records(store, cp.seq);
    let unreadable = |detail: String| format!("an unreadable record stands here ({detail})");
    match records.next().await {
        Some(Ok(r)) if r.seq == cp.seq && r.hash == cp.hash && r.compute_hash() == r.hash => {}
        Some(Err(StoreError::Corrupt { detail, .. })) => {
            return Ok(Some(ChainBreak { seq: cp.seq, reason: unreadable(detail) }));
        }
        Some(Err(e)) => return Err(e),
        _ => {
            let reason =
                "the record the newest checkpoint signed is missing or differs: the log was truncated or rewritten";
            return Ok(Some(ChainBreak { seq: cp.seq, reason: reason.into() }));
        }
    }
    let mut v = ChainVerifier::resume(cp.seq, &cp.hash);
    while let Some(r) = records.next().await {
        let r = match r {
            Ok(r) => r,
            Err(StoreError::Corrupt { detail, .. }) => {
                return Ok(Some(ChainBreak { seq: v.next_seq(), reason: unreadable(detail) }));
            }
            Err(e) => return Err(e),
        };
        if let Err(b) = v.push(&r) {
            return Ok(Some(b));
        }
    }
    Ok(None)
}
