//! argon2id password hashing. Hashing is slow on purpose (OWASP parameters by default:
//! 19 MiB, 2 iterations, 1 lane), so it runs off the async workers through `spawn_blocking`,
//! behind a semaphore: a flood of sign-in attempts waits for a permit (and gives up after a
//! few seconds) instead of occupying every blocking thread.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordHashing;
use crate::secret::Secret;

/// How long a hash request waits for a free slot before giving up.
const PERMIT_WAIT: Duration = Duration::from_secs(5);

/// Hashing failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot stayed busy for the whole wait.
    #[error("password hashing is saturated; retry later")]
    Busy,
    /// argon2 or the blocking pool failed.
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The password hasher of a server (cheap to clone).
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passwords(m={} t={} p={})", self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
    }
}

impl Passwords {
    /// A hasher with the configured cost and concurrency.
    pub fn new(cfg: &PasswordHashing) -> Result<Self, PasswordError> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        Ok(Self { params, permits: Arc::new(Semaphore::new(cfg.concurrency.max(1))) })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` now, on this thread (CLI).
    pub fn hash_blocking(&self, password: &Secret) -> Result<String, PasswordError> {
        self.argon2()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Internal(e.to_string()))
    }

    /// Whether `password` matches the PHC string `hash` (its own parameters are used).
    pub fn verify_blocking(&self, password: &Secret, hash: &str) -> bool {
        self.argon2().verify_password(password.expose().as_bytes(), hash).is_ok()
    }

    /// Hashes off the async workers.
    pub async fn hash(&self, password: Secret) -> Result<String, PasswordError> {
        let this = self.clone();
        self.run(move || this.hash_blocking(&password)).await?
    }

    /// Verifies off the async workers.
    pub async fn verify(&self, password: Secret, hash: String) -> Result<bool, PasswordError> {
        let this = self.clone();
        self.run(move || this.verify_blocking(&password, &hash)).await
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(PERMIT_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let result = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await;
        result.map_err(|e| PasswordError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(&PasswordHashing { memory_kib: 256, iterations: 1, parallelism: 1, concurrency: 1 })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let p = cheap();
        let hash = p.hash(Secret::new("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{hash}");
        assert!(p.verify(Secret::new("correct horse"), hash.clone()).await.unwrap());
        assert!(!p.verify(Secret::new("wrong horse"), hash.clone()).await.unwrap());
        assert!(!p.verify(Secret::new("x"), "not a hash".into()).await.unwrap());
        let again = p.hash(Secret::new("correct horse")).await.unwrap();
        assert_ne!(hash, again, "salted");
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let p = cheap();
        let permit = p.permits.clone().acquire_owned().await.unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(200), p.hash(Secret::new("password1"))).await;
        assert!(blocked.is_err(), "a hash ran without a permit");
        drop(permit);
        assert!(p.hash(Secret::new("password1")).await.is_ok());
    }
}
