//! `cargo bench -p gatehouse --bench plugins`: the per-call overhead of a policy plugin as
//! the server pays it (a fresh pooled instance + `evaluate` + the host's checks), measured
//! around `PluginHost::evaluate_policy`. Build the plugins first:
//! `cd plugins && cargo build --release --target wasm32-wasip2`.
//! `GATEHOUSE_BENCH_PLUGIN` picks another component (default: allow_email_domain.wasm).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods, reason = "benchmark")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::config::Config;
use gatehouse::metrics::{Metrics, flush_histogram};
use gatehouse::plugins::{PluginHost, PolicyRequest, PolicyStage, PolicyVerdict, SubjectFacts};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = std::env::var("GATEHOUSE_BENCH_PLUGIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("plugins/target/wasm32-wasip2/release/allow_email_domain.wasm"));
    assert!(
        component.is_file(),
        "{} is missing: build the plugins first (see the top of this file)",
        component.display()
    );
    let toml = format!(
        "[server]\ndev_mode = true\n[[plugins]]\nname = \"bench\"\nkind = \"policy\"\npath = \"{}\"\n[plugins.config]\nallowed_email_domain = \"example.com\"\n",
        component.display()
    );
    let config = Config::from_toml(&toml, "bench.toml", &root, &|_| None).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let host = rt.block_on(async {
        let started = Instant::now();
        let kv = gatehouse::store::memory();
        let h = PluginHost::start(&config.plugins, config.plugin_runtime, Arc::new(Metrics::new(flush_histogram())))
            .await
            .unwrap();
        h.attach_store(kv);
        println!("load (compile + checks + trial instance): {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
        h
    });
    let groups = vec!["staff".to_owned()];
    let scopes = vec!["openid".to_owned(), "email".to_owned(), "api".to_owned()];
    let audiences = vec!["https://api.example".to_owned()];
    let now = time::OffsetDateTime::now_utc();
    let req = PolicyRequest {
        stage: PolicyStage::Token,
        request_id: "bench",
        client_id: "web",
        remote_ip: None,
        user_agent: None,
        now,
        subject: Some(SubjectFacts {
            id: "7d0b0c1e-1111-4222-8333-944455556666",
            username: "alice",
            email: Some("alice@example.com"),
            email_verified: false,
            groups: &groups,
            amr: &[],
        }),
        grant_type: Some("authorization_code"),
        scopes: &scopes,
        audiences: &audiences,
        attributes: &[],
    };
    let n = 20_000;
    let samples = rt.block_on(async {
        for _ in 0..1000 {
            host.evaluate_policy(&req).await;
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let out = host.evaluate_policy(&req).await;
            samples.push(t.elapsed());
            assert!(matches!(out.verdict, Ok(PolicyVerdict::Allow { .. })));
        }
        samples
    });
    let mut sorted = samples.clone();
    sorted.sort();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(n).unwrap();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "policy call ({} calls, one thread): p50 {:.1} µs  p90 {:.1} µs  p99 {:.1} µs  max {:.1} µs  mean {:.1} µs  ({:.0} calls/s)",
        n,
        us(percentile(&sorted, 0.5)),
        us(percentile(&sorted, 0.9)),
        us(percentile(&sorted, 0.99)),
        us(*sorted.last().unwrap()),
        us(mean),
        1.0 / mean.as_secs_f64()
    );
    println!("targets: p50 <= 25 µs, p99 <= 150 µs");

    // The same calls from 32 concurrent tasks on a 2-worker runtime, like a server under load.
    let mt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let per_task = 2_000;
    let started = Instant::now();
    mt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let host = host.clone();
            let (groups, scopes, audiences) = (groups.clone(), scopes.clone(), audiences.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    let req = PolicyRequest {
                        subject: Some(SubjectFacts {
                            id: "7d0b0c1e-1111-4222-8333-944455556666",
                            username: "alice",
                            email: Some("alice@example.com"),
                            email_verified: false,
                            groups: &groups,
                            amr: &[],
                        }),
                        scopes: &scopes,
                        audiences: &audiences,
                        ..req_template(now)
                    };
                    host.evaluate_policy(&req).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let total = 32 * per_task;
    println!(
        "policy calls, 32 tasks on 2 workers: {:.0} calls/s ({:.1} µs each)",
        f64::from(total) / started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() * 1e6 / f64::from(total)
    );
}

fn req_template(now: time::OffsetDateTime) -> PolicyRequest<'static> {
    PolicyRequest {
        stage: PolicyStage::Token,
        request_id: "bench",
        client_id: "web",
        remote_ip: None,
        user_agent: None,
        now,
        subject: None,
        grant_type: Some("authorization_code"),
        scopes: &[],
        audiences: &[],
        attributes: &[],
    }
}
