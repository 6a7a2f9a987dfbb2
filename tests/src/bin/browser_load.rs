//! Load generator for the browser workloads (used by `tests/bench/browser.sh`):
//!
//! ```text
//! browser-load login   BASE SECONDS CONCURRENCY   full sign-ins: authorize → login → token
//! browser-load refresh BASE SECONDS CONCURRENCY   refresh grants with rotation
//! browser-load token   BASE                       prints a user access token (for wrk)
//! browser-load provider PORT                      runs a fake OpenID provider (federation.sh)
//! browser-load federated BASE SECONDS CONCURRENCY federated sign-ins through it:
//!                                                 authorize → login page → provider → callback → token
//! browser-load mfa-users N                        prints N [[users]] (mfa0..), and pk0..pk31, sharing one
//!                                                 password hash
//! browser-load totp BASE SECONDS CONCURRENCY N    sets up an authenticator for each of them (not
//!                                                 timed), then sign-ins with password + TOTP code, each
//!                                                 user once (a code's time step is accepted once)
//! browser-load passkey BASE SECONDS CONCURRENCY   registers a software passkey for pk0.. (one per
//!                                                 worker, not timed), then passwordless sign-ins with it
//! ```
//!
//! Prints one line: `name req/s p50_ms p99_ms errors` (`totp`, `passkey`: a second line for
//! the factor step alone). `ISSUER` set: the server's issuer when it is not BASE (passkeys
//! need a host name, `http://localhost:PORT`).
#![allow(clippy::expect_used, clippy::panic, reason = "a load tool: setup failures end it loudly")]

use std::time::Duration;

use gatehouse_tests::browser::{Browser, query_param, redeem};
use gatehouse_tests::soft_passkey::SoftPasskey;

const CLIENT: (&str, &str) = ("bench-web", "bench-web-secret-0123456789abcdef");
const CB: &str = "https://bench.example/cb";
const USER: (&str, &str) = ("bench", "bench password 0123");
/// Users `pk0..` that `mfa-users` adds for the passkey workload.
const PASSKEY_USERS: usize = 32;

/// A browser for `base`, knowing the issuer when `ISSUER` names one.
fn browser(base: &str) -> Browser {
    match std::env::var("ISSUER") {
        Ok(issuer) => Browser::with_issuer(base, &issuer),
        Err(_) => Browser::new(base),
    }
}

async fn sign_in(base: &str, scope: &str) -> Result<serde_json::Value, String> {
    let b = browser(base);
    let params = [("response_type", "code"), ("client_id", CLIENT.0), ("redirect_uri", CB), ("scope", scope)];
    let start = b.authorize(&params).await;
    let login = b.get(start.location.as_deref().ok_or("no redirect")?).await;
    let done = b.submit_login(&login, USER.0, USER.1).await;
    let to = done.location.ok_or_else(|| format!("login failed: {}", done.status))?;
    let code = query_param(&to, "code").ok_or("no code")?;
    let (status, tokens) = redeem(&b.http, base, CLIENT, &code, CB, None).await;
    if status == 200 { Ok(tokens) } else { Err(format!("token: {status}")) }
}

/// One federated sign-in through the login page's first provider button.
async fn federated(base: &str) -> Result<(), String> {
    use gatehouse_tests::browser::{follow, href};
    let b = browser(base);
    let params = [("response_type", "code"), ("client_id", CLIENT.0), ("redirect_uri", CB), ("scope", "openid")];
    let login = follow(&b, b.authorize(&params).await).await;
    let start = href(&login, "/federation/").ok_or("no provider button")?;
    let end = follow(&b, b.get(&start).await).await;
    let to = end.location.ok_or_else(|| format!("federated sign-in failed: {}", end.status))?;
    let code = query_param(&to, "code").ok_or("no code")?;
    let (status, _) = redeem(&b.http, base, CLIENT, &code, CB, None).await;
    if status == 200 { Ok(()) } else { Err(format!("token: {status}")) }
}

async fn sign_in_owned(base: String) -> Result<String, String> {
    // Rotation without openid: the refresh grant itself, no RS256 ID token.
    let t = sign_in(&base, "offline_access api").await?;
    t["refresh_token"].as_str().map(str::to_owned).ok_or_else(|| "no refresh token".to_owned())
}

/// The code an authenticator shows for `secret` at `offset` seconds from now (wall clock:
/// the server runs on it too).
fn totp_code(secret: &str, offset: i64) -> String {
    gatehouse_tests::mfa::code_at(secret, gatehouse::clock::system_now().unix_timestamp() + offset)
}

/// Signs `user` in and sets up an authenticator on the account page: its secret.
async fn enrol(base: String, user: String) -> Result<String, String> {
    use gatehouse_tests::mfa::{account_post, secret_of};
    let b = browser(&base);
    let params = [("response_type", "code"), ("client_id", CLIENT.0), ("redirect_uri", CB), ("scope", "openid")];
    b.sign_in(&params, &user, USER.1).await;
    let secret = secret_of(&account_post(&b, &[("action", "totp_begin")]).await);
    let done = account_post(&b, &[("action", "totp_confirm"), ("code", &totp_code(&secret, 0))]).await;
    if done.body.contains("recovery-codes") { Ok(secret) } else { Err(format!("enrolment of {user} failed")) }
}

/// A sign-in with password and code: the whole round trip, and the code step alone.
async fn sign_in_totp(base: &str, user: &str, secret: &str) -> Result<(Duration, Duration), String> {
    let started = gatehouse::clock::monotonic();
    let b = browser(base);
    let params = [("response_type", "code"), ("client_id", CLIENT.0), ("redirect_uri", CB), ("scope", "openid")];
    let start = b.authorize(&params).await;
    let login = b.get(start.location.as_deref().ok_or("no redirect")?).await;
    let done = b.submit_login(&login, user, USER.1).await;
    let step = b.get(done.location.as_deref().ok_or("login failed")?).await;
    let flow = gatehouse_tests::browser::hidden(&step.body, "flow").ok_or("no code step")?;
    let csrf = gatehouse_tests::browser::hidden(&step.body, "csrf").ok_or("no csrf")?;
    // The next step's code (one step of skew is allowed): the enrolment spent the current one.
    let code = totp_code(secret, 30);
    let t = gatehouse::clock::monotonic();
    let passed = b.post("/login", &[("flow", &flow), ("csrf", &csrf), ("code", &code), ("action", "verify")]).await;
    let factor = t.elapsed();
    let to = passed.location.ok_or_else(|| format!("code refused: {}", passed.status))?;
    let code = query_param(&to, "code").ok_or("no code")?;
    let (status, _) = redeem(&b.http, base, CLIENT, &code, CB, None).await;
    if status == 200 { Ok((started.elapsed(), factor)) } else { Err(format!("token: {status}")) }
}

/// Signs `user` in with the password and registers a software passkey on the account page.
async fn enrol_passkey(base: String, user: String) -> Result<SoftPasskey, String> {
    let b = browser(&base);
    let params = [("response_type", "code"), ("client_id", CLIENT.0), ("redirect_uri", CB), ("scope", "openid")];
    b.sign_in(&params, &user, USER.1).await;
    let mut pk = SoftPasskey::new(&std::env::var("ISSUER").map_err(|_| "passkeys need ISSUER")?);
    gatehouse_tests::soft_passkey::register(&b, &mut pk, "bench").await;
    Ok(pk)
}

/// A passwordless sign-in with `pk`: the whole round trip, and the passkey step alone.
async fn sign_in_passkey(base: &str, pk: &mut SoftPasskey) -> Result<(Duration, Duration), String> {
    let started = gatehouse::clock::monotonic();
    let b = browser(base);
    let params = [("response_type", "code"), ("client_id", CLIENT.0), ("redirect_uri", CB), ("scope", "openid")];
    let start = b.authorize(&params).await;
    let login = b.get(start.location.as_deref().ok_or("no redirect")?).await;
    let t = gatehouse::clock::monotonic();
    let (status, done) = gatehouse_tests::soft_passkey::sign_in(&b, &login, pk).await;
    let factor = t.elapsed();
    let mut to = done["redirect"].as_str().ok_or_else(|| format!("passkey refused: {status}"))?.to_owned();
    // The flow finishes at the login page, which sends the browser on to the client.
    if !to.starts_with(CB) {
        to = b.get(&to).await.location.ok_or("no redirect to the client")?;
    }
    let code = query_param(&to, "code").ok_or("no code")?;
    let (status, _) = redeem(&b.http, base, CLIENT, &code, CB, None).await;
    if status == 200 { Ok((started.elapsed(), factor)) } else { Err(format!("token: {status}")) }
}

/// `passkey`: one software passkey per worker, signing in again and again.
async fn passkey_workload(base: String, secs: u64, keys: Vec<SoftPasskey>) {
    let until = gatehouse::clock::monotonic() + Duration::from_secs(secs);
    let started = gatehouse::clock::monotonic();
    let mut tasks = Vec::new();
    for mut pk in keys {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let (mut whole, mut factor, mut errors) = (Vec::new(), Vec::new(), 0usize);
            while gatehouse::clock::monotonic() < until {
                match sign_in_passkey(&base, &mut pk).await {
                    Ok((w, f)) => {
                        whole.push(w);
                        factor.push(f);
                    }
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("browser-load: a passkey sign-in failed: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (whole, factor, errors)
        }));
    }
    let (whole, factor, errors) = gather(tasks).await;
    let took = started.elapsed();
    report("passkey", whole, errors, took);
    report("factor", factor, errors, took);
}

/// What the workers of a two-step workload measured: every round trip, every factor step,
/// and the errors.
type Measured = (Vec<Duration>, Vec<Duration>, usize);

/// The workers' measurements together.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Measured>>) -> Measured {
    let (mut whole, mut factor, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (w, f, e) = t.await.expect("worker");
        whole.extend(w);
        factor.extend(f);
        errors += e;
    }
    (whole, factor, errors)
}

/// `totp`: the timed part.
async fn totp_workload(base: String, secs: u64, conc: usize, secrets: Vec<String>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let secrets = std::sync::Arc::new(secrets);
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let until = gatehouse::clock::monotonic() + Duration::from_secs(secs);
    let started = gatehouse::clock::monotonic();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (base, secrets, next) = (base.clone(), secrets.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut whole, mut factor, mut errors) = (Vec::new(), Vec::new(), 0usize);
            while gatehouse::clock::monotonic() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(secret) = secrets.get(i) else { break };
                match sign_in_totp(&base, &format!("mfa{i}"), secret).await {
                    Ok((w, f)) => {
                        whole.push(w);
                        factor.push(f);
                    }
                    Err(_) => errors += 1,
                }
            }
            (whole, factor, errors)
        }));
    }
    let (whole, factor, errors) = gather(tasks).await;
    let took = started.elapsed();
    if next.load(Ordering::Relaxed) >= secrets.len() {
        eprintln!("browser-load: every user signed in before the time was up; give more users");
    }
    report("totp", whole, errors, took);
    report("factor", factor, errors, took);
}

fn report(name: &str, mut lat: Vec<Duration>, errors: usize, took: Duration) {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!(
        "{name} {:.0} {:.2} {:.2} {errors}",
        lat.len() as f64 / took.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("usage: browser-load login|refresh|token BASE[,BASE...] [SECONDS CONCURRENCY]"))
    };
    // Several bases (instances on one database): chain i signs in at base i, and each
    // rotation goes to the next base, so every chain rotates across all of them.
    if arg(1) == "provider" {
        let person = gatehouse_tests::fake_oidc::Person::verified("bench-person", "bench@partner.example");
        let _provider = gatehouse_tests::fake_oidc::FakeOidc::start_on(&format!("127.0.0.1:{}", arg(2)), person).await;
        std::future::pending::<()>().await;
    }
    if arg(1) == "mfa-users" {
        let n: usize = arg(2).parse().expect("a count");
        // OWASP's cost, the server's default (the hash carries its parameters).
        let cfg =
            gatehouse::config::PasswordHashing { memory_kib: 19456, iterations: 2, parallelism: 1, concurrency: 1 };
        let hash = gatehouse::users::Passwords::new(&cfg)
            .expect("hashing")
            .hash_blocking(&gatehouse::secret::Secret::new(USER.1))
            .expect("a hash");
        for i in 0..n {
            println!("[[users]]\nusername = \"mfa{i}\"\npassword_hash = \"{hash}\"\n");
        }
        // The passkey workload's users (one per worker), apart from the TOTP ones.
        for i in 0..PASSKEY_USERS {
            println!("[[users]]\nusername = \"pk{i}\"\npassword_hash = \"{hash}\"\n");
        }
        return;
    }
    let (mode, bases) = (arg(1), arg(2));
    let bases: Vec<String> = bases.split(',').map(str::to_owned).collect();
    let base = bases[0].clone();
    if mode == "token" {
        let t = sign_in(&base, "openid profile email").await.expect("sign in");
        println!("{}", t["access_token"].as_str().expect("access token"));
        return;
    }
    let secs: u64 = arg(3).parse().expect("seconds");
    let conc: usize = arg(4).parse().expect("concurrency");
    if mode == "passkey" {
        assert!(conc <= PASSKEY_USERS, "at most {PASSKEY_USERS} passkey workers");
        let mut keys = Vec::with_capacity(conc);
        for i in 0..conc {
            keys.push(enrol_passkey(base.clone(), format!("pk{i}")).await.expect("enrol a passkey"));
        }
        passkey_workload(base, secs, keys).await;
        return;
    }
    if mode == "totp" {
        let n: usize = arg(5).parse().expect("a count of users");
        let mut secrets = Vec::with_capacity(n);
        for batch in (0..n).collect::<Vec<_>>().chunks(4) {
            let setup: Vec<_> = batch.iter().map(|i| tokio::spawn(enrol(base.clone(), format!("mfa{i}")))).collect();
            for s in setup {
                secrets.push(s.await.expect("setup").expect("enrol"));
            }
        }
        totp_workload(base, secs, conc, secrets).await;
        return;
    }
    // Refresh workers each start from their own sign-in, done before the clock starts, four
    // at a time: more password checks of one account at once than its lockout threshold (5)
    // are refused as the lockout counts them before they finish.
    let mut chains = Vec::new();
    if mode == "refresh" {
        for batch in (0..conc).collect::<Vec<_>>().chunks(4) {
            let setup: Vec<_> =
                batch.iter().map(|i| tokio::spawn(sign_in_owned(bases[i % bases.len()].clone()))).collect();
            for s in setup {
                chains.push(s.await.expect("setup").expect("sign in"));
            }
        }
    }
    let until = gatehouse::clock::monotonic() + Duration::from_secs(secs);
    let started = gatehouse::clock::monotonic();
    let mut tasks = Vec::new();
    for i in 0..conc {
        let base = bases[i % bases.len()].clone();
        let bases = bases.clone();
        let mode = mode.clone();
        let first = chains.get(i).cloned().unwrap_or_default();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            if mode == "login" || mode == "federated" {
                while gatehouse::clock::monotonic() < until {
                    let t = gatehouse::clock::monotonic();
                    let done = if mode == "login" {
                        sign_in(&base, "openid").await.map(|_| ())
                    } else {
                        federated(&base).await
                    };
                    match done {
                        Ok(_) => lat.push(t.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
            } else {
                let mut rt = first;
                let http = reqwest::Client::new();
                let mut turn = i;
                while gatehouse::clock::monotonic() < until {
                    let t = gatehouse::clock::monotonic();
                    turn += 1;
                    let url = format!("{}/token", bases[turn % bases.len()]);
                    let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
                    let resp = gatehouse_tests::post_basic(&http, &url, CLIENT.0, CLIENT.1, &form).await;
                    let body: serde_json::Value = resp.json().await.unwrap_or_default();
                    match body["refresh_token"].as_str() {
                        Some(next) => {
                            rt = next.to_owned();
                            lat.push(t.elapsed());
                        }
                        None => panic!("refresh failed: {body}"),
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        all.extend(l);
        errors += e;
    }
    report(&mode, all, errors, started.elapsed());
}
