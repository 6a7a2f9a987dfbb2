//! A policy that misbehaves on purpose, chosen by `mode` in its config, so the sandbox tests
//! can show what the host does about it. Probing modes report what they could do in the
//! claim `probe` of an allow; the tests assert that the answer is "nothing".

use std::io::Read;

use gatehouse_plugin::config;
use gatehouse_plugin::policy::{Decision, Grant, Policy, PolicyInput};

struct Hostile;

impl Policy for Hostile {
    fn evaluate(input: PolicyInput) -> Decision {
        let mode = config::get("mode").unwrap_or_default();
        match mode.as_str() {
            "allow" => Decision::allow(),
            "deny" => Decision::deny(config::get("reason").unwrap_or_else(|| "hostile says no".into())),
            "step-up" => Decision::step_up(["otp"]),
            "loop" => spin_forever(),
            "alloc" => allocate_forever(),
            "recurse" => Decision::deny(format!("depth {}", recurse(input.client_id.len() as u64 + 1))),
            "panic" => panic!("hostile plugin panics on purpose"),
            "sleep" => {
                let ms = config::get_as::<u64>("sleep_ms").ok().flatten().unwrap_or(100);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Decision::allow()
            }
            "spin" => {
                let ms = config::get_as::<u128>("spin_ms").ok().flatten().unwrap_or(10);
                let start = std::time::Instant::now();
                while start.elapsed().as_millis() < ms {
                    std::hint::spin_loop();
                }
                Decision::allow()
            }
            "read-file" => probe(read_file(&config::get("path").unwrap_or_else(|| "/etc/passwd".into()))),
            "env" => probe(Ok(format!("{} vars, HOME={:?}", std::env::vars().count(), std::env::var("HOME").ok()))),
            "socket" => probe(connect(&config::get("target").unwrap_or_else(|| "127.0.0.1:80".into()))),
            "claims" => Grant::new()
                .scopes(["openid", "profile", "logs:read", "admin", "everything"])
                .claims(&serde_json::json!({
                    "iss": "https://evil.example", "sub": "someone-else", "aud": "evil",
                    "exp": 4_102_444_800_u64, "iat": 0, "nbf": 0, "jti": "fixed", "azp": "evil",
                    "nonce": "n", "at_hash": "x", "client_id": "evil", "scope": "admin",
                    "department": "research",
                }))
                .allow(),
            "kv-write" => {
                let (key, value) = (config::get("key").unwrap_or_default(), config::get("value").unwrap_or_default());
                probe(gatehouse_plugin::kv::set(&key, value.as_bytes(), 60).map(|()| "stored".to_owned()))
            }
            "kv-read" => match gatehouse_plugin::kv::get(&config::get("key").unwrap_or_default()) {
                Some(v) => probe(Ok(String::from_utf8_lossy(&v).into_owned())),
                None => probe(Err("none".into())),
            },
            "kv-incr" => probe(gatehouse_plugin::kv::incr("calls", 1, 60).map(|n| n.to_string())),
            // Replay tests: a decision that depends on the client, and one that depends on
            // the wall clock the host gives the plugin.
            "deny-client" => match config::get("client") {
                Some(c) if c == input.client_id => Decision::deny(format!("client {c} is refused")),
                _ => Decision::allow(),
            },
            "clock" => {
                let until = config::get_as::<u128>("deny_until_ms").ok().flatten().unwrap_or(0);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                if now < until { Decision::deny(format!("before {until}")) } else { Decision::allow() }
            }
            other => Decision::deny(format!("unknown mode {other:?}")),
        }
    }
}

/// Never returns: only the host's CPU budget ends it.
fn spin_forever() -> Decision {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Grows the heap 1 MiB at a time, touching every page, until the host's limit stops it.
fn allocate_forever() -> Decision {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xAB; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Recursion with a stack frame the optimiser cannot remove.
fn recurse(n: u64) -> u64 {
    let frame = std::hint::black_box([n; 64]);
    if frame[0] == 0 { 0 } else { recurse(frame[63].wrapping_add(1)).wrapping_add(frame[1]) }
}

fn read_file(path: &str) -> Result<String, String> {
    let mut s = String::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut s)).map_err(|e| e.to_string())?;
    Ok(format!("read {} bytes", s.len()))
}

fn connect(target: &str) -> Result<String, String> {
    std::net::TcpStream::connect(target).map(|_| "connected".to_owned()).map_err(|e| e.to_string())
}

/// Allows, reporting the probe's outcome as `probe = "ok: ..."` or `"err: ..."`.
fn probe(outcome: Result<String, String>) -> Decision {
    let text = match outcome {
        Ok(v) => format!("ok: {v}"),
        Err(e) => format!("err: {e}"),
    };
    Grant::new().claims(&serde_json::json!({ "probe": text })).allow()
}

gatehouse_plugin::export_policy!(Hostile);
