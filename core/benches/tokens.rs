//! `cargo bench -p gatehouse --bench tokens`: per-operation cost of signing and verifying
//! on one thread, without HTTP (the load script measures the server end to end).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods, reason = "benchmark")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::store::Db;
use gatehouse::tokens::access::{AccessTokens, IssueRequest};
use gatehouse::tokens::keys::{Alg, KeyManager, SigningKey};

fn measure(name: &str, mut f: impl FnMut()) {
    for _ in 0..200 {
        f();
    }
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    let per = start.elapsed() / u32::try_from(n).unwrap();
    println!("{name:<36} {:>9.2} µs/op {:>10.0} op/s", per.as_secs_f64() * 1e6, 1.0 / per.as_secs_f64());
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let keys = rt.block_on(async {
        let db = Db::new(gatehouse::store::memory());
        Arc::new(KeyManager::load_or_create(db, now, Duration::from_secs(3600)).await.unwrap())
    });
    let (es, _) = SigningKey::generate(Alg::Es256).unwrap();
    let (rs, _) = SigningKey::generate(Alg::Rs256).unwrap();
    let msg = [7u8; 300];
    measure("ES256 sign (held key)", || {
        black_box(es.sign(black_box(&msg)).unwrap());
    });
    // In the server other request work runs between signatures and evicts the P-256
    // tables from the caches; emulate that with a 2 MiB sweep and subtract its own cost.
    let mut sweep = vec![0u8; 2 << 20];
    let mut touch = || {
        for i in (0..sweep.len()).step_by(64) {
            sweep[i] = sweep[i].wrapping_add(1);
        }
        black_box(&sweep);
    };
    measure("  2 MiB cache sweep alone", &mut touch);
    measure("  ES256 sign + 2 MiB cache sweep", || {
        touch();
        black_box(es.sign(black_box(&msg)).unwrap());
    });
    measure("RS256 sign (held key)", || {
        black_box(rs.sign(black_box(&msg)).unwrap());
    });
    let access = AccessTokens::new("https://id.example".into(), keys);
    let scopes = vec!["logs:write".to_owned(), "logs:read".to_owned()];
    let issue = || {
        access
            .issue(
                IssueRequest {
                    sub: "svc",
                    client_id: "svc",
                    audiences: vec!["logging-service".into()],
                    scopes: &scopes,
                    ttl: Duration::from_secs(600),
                    jti: None,
                    claims: serde_json::Map::new(),
                },
                now,
            )
            .unwrap()
    };
    measure("access token issue (claims+JWS)", || {
        black_box(issue());
    });
    let token = issue().token;
    measure("access token verify (cached)", || {
        black_box(access.verify(black_box(&token), now).unwrap());
    });
}
