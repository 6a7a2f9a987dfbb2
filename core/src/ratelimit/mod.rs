//! Rate limits (governor). Failed client authentications and failed `/verify` checks are
//! limited by default. Failure limits must never lock out a caller that presents correct
//! credentials: an address that failed too often *for one client* is refused before its
//! credentials are looked at (it learns nothing more), while a whole address or a whole
//! client over its limit only slows failures (429 instead of 401) and still lets correct,
//! high-entropy credentials through, so neither a flood from another address nor many
//! callers behind one proxy can lock a client out. The admin token has its own failure
//! count. Limits on successful traffic apply only when configured.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

mod login;
mod reserve;

pub use login::{Attempt, AttemptKeys, Refusal};

pub use crate::store::login_attempts::LockoutPolicy;
use reserve::Reserving;

use crate::clock::monotonic;
use crate::config::{LoginLimits, Rate, RateLimits};

const BLOCKED_CAP: usize = 100_000;

struct Keyed<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    blocked: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(rate: Rate) -> Self {
        let period = rate.per / rate.count.get();
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(rate.count))
            .allow_burst(rate.count);
        Self { limiter: RateLimiter::keyed(quota), blocked: Mutex::new(HashMap::new()) }
    }

    /// Remaining block time of `key`, if blocked.
    fn blocked(&self, key: &K) -> Option<Duration> {
        let now = monotonic();
        let map = self.blocked.lock().ok()?;
        map.get(key).and_then(|until| until.checked_duration_since(now)).filter(|d| !d.is_zero())
    }

    /// Counts one event; over the limit, blocks the key and returns the wait.
    fn hit(&self, key: &K) -> Result<(), Duration> {
        match self.limiter.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now()).max(Duration::from_secs(1));
                if let Ok(mut map) = self.blocked.lock() {
                    if map.len() >= BLOCKED_CAP {
                        let now = monotonic();
                        map.retain(|_, until| *until > now);
                    }
                    map.insert(key.clone(), monotonic() + wait);
                }
                Err(wait)
            }
        }
    }

    fn housekeeping(&self) {
        self.limiter.retain_recent();
        let now = monotonic();
        if let Ok(mut map) = self.blocked.lock() {
            map.retain(|_, until| *until > now);
        }
    }
}

/// All rate limiters of a server.
pub struct Limiter {
    failed_auth_ip: Keyed<IpAddr>,
    failed_auth_client: Keyed<String>,
    failed_auth_pair: Keyed<(IpAddr, String)>,
    failed_admin_ip: Keyed<IpAddr>,
    failed_verify_ip: Keyed<IpAddr>,
    token_client: Option<Keyed<String>>,
    introspect_client: Option<Keyed<String>>,
    verify_ip: Option<Keyed<IpAddr>>,
    failed_login_ip: Reserving<IpAddr>,
    failed_login_user: Reserving<String>,
    flows_ip: Keyed<IpAddr>,
    emails_ip: Keyed<IpAddr>,
    lockout: LockoutPolicy,
    flow_policy: LockoutPolicy,
}

impl Limiter {
    /// Limiters for the configured rates.
    pub fn new(r: &RateLimits, login: &LoginLimits) -> Self {
        Self {
            failed_auth_ip: Keyed::new(r.failed_auth_per_ip),
            failed_auth_client: Keyed::new(r.failed_auth_per_client),
            failed_auth_pair: Keyed::new(r.failed_auth_per_client),
            failed_admin_ip: Keyed::new(r.failed_auth_per_ip),
            failed_verify_ip: Keyed::new(r.failed_verify_per_ip),
            token_client: r.token_per_client.map(Keyed::new),
            introspect_client: r.introspect_per_client.map(Keyed::new),
            verify_ip: r.verify_per_ip.map(Keyed::new),
            failed_login_ip: Reserving::new(login.failed_per_ip),
            failed_login_user: Reserving::new(login.failed_per_user),
            flows_ip: Keyed::new(login.flows_per_ip),
            emails_ip: Keyed::new(login.emails_per_ip),
            lockout: login.lockout,
            // A flow that used its attempts stays refused for longer than a flow lives.
            flow_policy: LockoutPolicy {
                threshold: login.attempts_per_flow,
                base: Duration::from_secs(3600),
                max: Duration::from_secs(3600),
            },
        }
    }

    /// Whether `ip` may not try to authenticate as `client` now: its own failures for that
    /// client are over the limit (without a client id, the address's failures). Failures of
    /// other addresses or for other clients never block here.
    pub fn auth_blocked(&self, ip: IpAddr, client: Option<&str>) -> Option<Duration> {
        match client {
            Some(c) => self.failed_auth_pair.blocked(&(ip, c.to_owned())),
            None => self.failed_auth_ip.blocked(&ip),
        }
    }

    /// Records a failed client authentication against the address, the client and the pair;
    /// `Some(wait)` while any of them is over its limit (the failure is then answered 429).
    pub fn auth_failed(&self, ip: IpAddr, client: Option<&str>) -> Option<Duration> {
        let a = self.failed_auth_ip.hit(&ip).err();
        let b = client.and_then(|c| self.failed_auth_client.hit(&c.to_owned()).err());
        let p = client.and_then(|c| self.failed_auth_pair.hit(&(ip, c.to_owned())).err());
        a.max(b).max(p)
    }

    /// Records a failed admin authentication (its own count: client failures never block
    /// the admin token, nor the other way round); `Some(wait)` while over the limit.
    pub fn admin_failed(&self, ip: IpAddr) -> Option<Duration> {
        self.failed_admin_ip.hit(&ip).err()
    }

    /// Whether `/verify` from `ip` is blocked after failures.
    pub fn verify_blocked(&self, ip: IpAddr) -> Option<Duration> {
        self.failed_verify_ip.blocked(&ip)
    }

    /// Records a failed `/verify`; `Some(wait)` when this one crossed the limit.
    pub fn verify_failed(&self, ip: IpAddr) -> Option<Duration> {
        self.failed_verify_ip.hit(&ip).err()
    }

    /// Counts a new login flow from `ip` (flows are stored, so their creation is bounded).
    pub fn flow_started(&self, ip: IpAddr) -> Result<(), Duration> {
        self.flows_ip.hit(&ip)
    }

    /// Counts an emailed link asked for from `ip` (a password reset, an address to verify).
    pub fn email_requested(&self, ip: IpAddr) -> Result<(), Duration> {
        self.emails_ip.hit(&ip)
    }

    /// Counts a token request of `client` when a limit is configured.
    pub fn token_request(&self, client: &str) -> Result<(), Duration> {
        self.token_client.as_ref().map_or(Ok(()), |l| l.hit(&client.to_owned()))
    }

    /// Counts an introspection request of `client` when a limit is configured.
    pub fn introspect_request(&self, client: &str) -> Result<(), Duration> {
        self.introspect_client.as_ref().map_or(Ok(()), |l| l.hit(&client.to_owned()))
    }

    /// Counts a `/verify` request from `ip` when a limit is configured.
    pub fn verify_request(&self, ip: IpAddr) -> Result<(), Duration> {
        self.verify_ip.as_ref().map_or(Ok(()), |l| l.hit(&ip))
    }

    /// Drops state of keys that have recovered (run periodically).
    pub fn housekeeping(&self) {
        self.failed_auth_ip.housekeeping();
        self.failed_auth_client.housekeeping();
        self.failed_auth_pair.housekeeping();
        self.failed_admin_ip.housekeeping();
        self.failed_verify_ip.housekeeping();
        self.failed_login_ip.housekeeping();
        self.failed_login_user.housekeeping();
        self.flows_ip.housekeeping();
        self.emails_ip.housekeeping();
        for l in [&self.token_client, &self.introspect_client].into_iter().flatten() {
            l.housekeeping();
        }
        if let Some(l) = &self.verify_ip {
            l.housekeeping();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn failures_block_before_the_next_attempt() {
        let rate = Rate { count: NonZeroU32::new(2).unwrap(), per: Duration::from_secs(60) };
        let l = Keyed::<u8>::new(rate);
        assert!(l.hit(&1).is_ok());
        assert!(l.hit(&1).is_ok());
        assert!(l.blocked(&1).is_none());
        let wait = l.hit(&1).unwrap_err();
        assert!(wait >= Duration::from_secs(1));
        assert!(l.blocked(&1).is_some());
        assert!(l.blocked(&2).is_none());
    }
}
