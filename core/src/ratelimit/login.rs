//! Sign-in attempts. Before a password is hashed, one attempt is taken from each limit that
//! applies: the login flow's cap (`attempts_per_flow`), the address's and the account's
//! failure rates (`failed_per_ip`, `failed_per_user`; per instance) and the account's lockout
//! (`lockout_*`; in the store, so it survives restarts and is shared by instances). The
//! account key is the resolved account, so `bob` and `bob@example.com` share one count; a
//! name that matches no account is counted under the name as typed. When the check is
//! settled, a right password gives every token back and clears the lockout; a wrong one
//! keeps them and may lock the account.

use std::net::IpAddr;
use std::time::Duration;

use super::Limiter;
use crate::store::LoginAttempts;
use crate::store::StoreError;
use crate::store::login_attempts::{Outcome, Reserve};

/// What one password attempt is counted against.
#[derive(Debug, Clone)]
pub struct AttemptKeys {
    /// The caller's address.
    pub ip: IpAddr,
    /// `u:<user id>` for an account, `n:<normalised name>` for a name without one.
    pub account: String,
    /// `f:<hex flow hash>`.
    pub flow: String,
}

/// Why an attempt was refused before the password was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This login flow used its attempts: it must start again.
    FlowExhausted,
    /// Too many failures from the address or for the account: wait.
    RateLimited(Duration),
    /// The account is locked: wait.
    Locked(Duration),
    /// As many attempts for the account as the lockout allows are being checked right now
    /// (they may all succeed): try again in a moment.
    Busy(Duration),
}

/// An attempt that was counted and must be settled with [`Limiter::settle_login`].
#[derive(Debug)]
#[must_use = "an attempt must be settled"]
pub struct Attempt {
    keys: AttemptKeys,
}

fn wait_until(until: i64, now: i64) -> Duration {
    Duration::from_secs(u64::try_from(until - now).unwrap_or(0).max(1))
}

impl Limiter {
    /// Counts an attempt against every limit, or refuses it (taking nothing).
    pub async fn begin_login(
        &self,
        store: &dyn LoginAttempts,
        keys: AttemptKeys,
        now: i64,
    ) -> Result<Result<Attempt, Refusal>, StoreError> {
        if store.reserve_attempt(&keys.flow, &self.flow_policy, now).await? != Reserve::Granted {
            return Ok(Err(Refusal::FlowExhausted));
        }
        let cancel_flow = || store.settle_attempt(&keys.flow, &self.flow_policy, Outcome::Cancelled, now);
        if let Err(wait) = self.failed_login_ip.take(&keys.ip) {
            cancel_flow().await?;
            return Ok(Err(Refusal::RateLimited(wait)));
        }
        if let Err(wait) = self.failed_login_user.take(&keys.account) {
            self.failed_login_ip.give_back(&keys.ip);
            cancel_flow().await?;
            return Ok(Err(Refusal::RateLimited(wait)));
        }
        let refusal = match store.reserve_attempt(&keys.account, &self.lockout, now).await {
            Ok(Reserve::Granted) => return Ok(Ok(Attempt { keys })),
            Ok(Reserve::Refused { until }) => Ok(Refusal::Locked(wait_until(until, now))),
            Ok(Reserve::Busy { until }) => Ok(Refusal::Busy(wait_until(until, now))),
            Err(e) => Err(e),
        };
        // Not counted: give back what was taken.
        self.failed_login_ip.give_back(&keys.ip);
        self.failed_login_user.give_back(&keys.account);
        cancel_flow().await?;
        Ok(Err(refusal?))
    }

    /// Settles a counted attempt; `Some(lock)` when this failure locked the account.
    pub async fn settle_login(
        &self,
        store: &dyn LoginAttempts,
        attempt: Attempt,
        outcome: Outcome,
        now: i64,
    ) -> Result<Option<Duration>, StoreError> {
        let keys = attempt.keys;
        if outcome != Outcome::Failure {
            self.failed_login_ip.give_back(&keys.ip);
            self.failed_login_user.give_back(&keys.account);
        }
        // A flow's cap counts every verified attempt; only one never verified is given back.
        let flow_outcome = if outcome == Outcome::Cancelled { Outcome::Cancelled } else { Outcome::Failure };
        store.settle_attempt(&keys.flow, &self.flow_policy, flow_outcome, now).await?;
        let locked = store.settle_attempt(&keys.account, &self.lockout, outcome, now).await?;
        Ok(locked.map(|until| wait_until(until, now)))
    }
}
