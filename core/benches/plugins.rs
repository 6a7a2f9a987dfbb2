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
        let h = PluginHost::start(&config.plugins, config.plugin_runtime, Arc::new(Metrics::new(flush_histogram())))
            .await
            .unwrap();
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
}
