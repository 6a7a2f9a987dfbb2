//! argon2id password hashing. Hashing is slow on purpose (OWASP parameters by default:
//! 19 MiB, 2 iterations, 1 lane), so it runs off the async workers on a fixed set of
//! `concurrency` threads, behind a semaphore: a flood of sign-in attempts waits for a permit
//! (and gives up after a few seconds) instead of occupying the runtime. Fixed threads, not
//! tokio's blocking pool: each 19 MiB buffer stays with its thread and is reused, where
//! ever-new blocking threads left one in each malloc arena (measured: 170 MB resident after
//! 200 sign-ins, against 13 MB idle).

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
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

/// Work for a hashing thread, given that thread's reusable argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The password hasher of a server (cheap to clone). Its threads end when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    jobs: std::sync::mpsc::SyncSender<Job>,
    dummy: Arc<std::sync::OnceLock<String>>,
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
        let threads = cfg.concurrency.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(threads);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // Allocated at the first hash, then reused: resident memory stays at
                    // `concurrency` x m_cost instead of growing with malloc arenas.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        // The lock is held only while taking a job, not while running it.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Internal(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self { params, permits: Arc::new(Semaphore::new(threads)), jobs, dummy: Arc::default() })
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

    /// Whether `password` matches the PHC string `hash` (its own parameters are used), now,
    /// on this thread (CLI, tests).
    pub fn verify_blocking(&self, password: &Secret, hash: &str) -> bool {
        self.verify_in(password, hash, &mut Vec::new())
    }

    /// Whether `password` matches the PHC string `hash` (its own parameters are used),
    /// computing in `memory` (grown once, kept by the caller). A hash
    /// with more memory than configured gets a temporary buffer, so `memory` stays bounded.
    fn verify_in(&self, password: &Secret, hash: &str, memory: &mut Vec<Block>) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        let Ok(params) = Params::try_from(&parsed) else { return false };
        let (Some(salt), Some(expected)) = (parsed.salt.as_ref(), parsed.hash.as_ref()) else { return false };
        let algorithm = match Algorithm::try_from(parsed.algorithm.as_str()) {
            Ok(a) => a,
            Err(_) => return false,
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        let blocks = params.block_count();
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params);
        let pwd = password.expose().as_bytes();
        let computed = if blocks <= self.params.block_count() {
            if memory.len() < blocks {
                memory.resize(blocks, Block::new());
            }
            argon2.hash_password_into_with_memory(pwd, salt, &mut out, &mut memory[..blocks])
        } else {
            argon2.hash_password_into_with_memory(pwd, salt, &mut out, vec![Block::new(); blocks])
        };
        computed.is_ok() && crate::secret::ct_eq(&out, expected.as_bytes())
    }

    /// The same work as verifying a real password, for a name that matches no account, so
    /// response time does not tell which names exist.
    pub async fn verify_nothing(&self, password: Secret) -> Result<(), PasswordError> {
        let this = self.clone();
        self.run(move |memory| {
            let dummy = this.dummy.get_or_init(|| this.hash_blocking(&Secret::new("no such user")).unwrap_or_default());
            let _ = this.verify_in(&password, dummy, memory);
        })
        .await
    }

    /// Hashes off the async workers.
    pub async fn hash(&self, password: Secret) -> Result<String, PasswordError> {
        let this = self.clone();
        self.run(move |_| this.hash_blocking(&password)).await?
    }

    /// Verifies off the async workers.
    pub async fn verify(&self, password: Secret, hash: String) -> Result<bool, PasswordError> {
        let this = self.clone();
        self.run(move |memory| this.verify_in(&password, &hash, memory)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(PERMIT_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(f(memory));
            drop(permit);
        });
        // A permit guarantees a free thread, so the bounded queue has room.
        self.jobs.try_send(job).map_err(|e| PasswordError::Internal(format!("hashing queue: {e}")))?;
        result.await.map_err(|_| PasswordError::Internal("a hashing thread stopped".into()))
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
        // A hash made with more memory than configured verifies too (temporary buffer).
        let bigger =
            Passwords::new(&PasswordHashing { memory_kib: 512, iterations: 1, parallelism: 1, concurrency: 1 })
                .unwrap()
                .hash_blocking(&Secret::new("big"))
                .unwrap();
        assert!(p.verify(Secret::new("big"), bigger.clone()).await.unwrap());
        assert!(!p.verify(Secret::new("small"), bigger).await.unwrap());
        assert!(p.verify_nothing(Secret::new("x")).await.is_ok());
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
