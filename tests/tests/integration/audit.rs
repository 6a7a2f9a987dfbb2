//! The audit chain: events from every flow, verification, export, tamper detection.

use std::time::Duration;

use gatehouse::audit::AuditRecord;
use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::{ChildServer, SVC_ID, SVC_SECRET, TestServer, run_cli, standard_config, write_config};
use serde_json::Value;

const ADMIN: &str = "audit-admin-token-0123456789abcdef";

fn config() -> String {
    format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n", standard_config(), sha256_hex(ADMIN.as_bytes()))
}

/// Waits (at most 5 s) until the chain holds every event named in `want`.
async fn records_with(s: &TestServer, want: &[&str]) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for _ in 0..50 {
        records = s.state.db.audit().audit_records(1, 10_000).await.unwrap();
        if want.iter().all(|w| records.iter().any(|r| r.event.name() == *w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    records
}

#[tokio::test]
async fn every_flow_reaches_the_audit_log_without_secrets() {
    let s = TestServer::start_with(&config()).await;
    let token = s.svc_token(&[]).await;
    assert_eq!(
        s.post_basic(paths::TOKEN, SVC_ID, "wrong-secret-xyz", &[("grant_type", "client_credentials")]).await.status(),
        401
    );
    assert_eq!(s.post_basic(paths::REVOKE, SVC_ID, SVC_SECRET, &[("token", token.as_str())]).await.status(), 200);
    let r = s.http.post(s.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.http.post(s.url(paths::ADMIN_KEYS_ROTATE)).bearer_auth("not-the-admin-token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let test_token: Value = s.get_json("/test-token?sub=alice").await;

    let want =
        ["server_started", "token_issued", "client_auth_failed", "token_revoked", "keys_rotated", "admin_auth_failed"];
    let records = records_with(&s, &want).await;
    for w in want {
        assert!(records.iter().any(|r| r.event.name() == w), "no {w} in {records:#?}");
    }
    let issued = records.iter().find(|r| r.event.name() == "token_issued").unwrap();
    assert_eq!(issued.actor.who, "client:svc");
    assert_eq!(issued.actor.ip.as_deref(), Some("127.0.0.1"));
    assert!(issued.actor.request_id.as_deref().is_some_and(|id| id.len() >= 20));
    let rotated = records.iter().find(|r| r.event.name() == "keys_rotated").unwrap();
    assert_eq!(rotated.actor.who, "admin");

    let dump = serde_json::to_string(&records).unwrap();
    for secret in [
        SVC_SECRET,
        "wrong-secret-xyz",
        ADMIN,
        "not-the-admin-token",
        token.as_str(),
        test_token["access_token"].as_str().unwrap(),
    ] {
        assert!(!dump.contains(secret), "the audit log contains a secret or token");
    }

    let v: Value =
        s.http.get(s.url(paths::ADMIN_AUDIT_VERIFY)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["records"].as_u64().unwrap() >= 6);
}

/// Rewrites the audit file with `f` applied to its records (as someone with disk access could).
fn tamper(path: &std::path::Path, f: impl Fn(&mut Vec<Value>)) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    f(&mut records);
    let out: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, out).unwrap();
}

#[test]
fn the_cli_verifies_exports_and_names_the_first_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "g.toml", &config());
    let cfg_s = cfg.display().to_string();
    let server = ChildServer::spawn(&cfg);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..3 {
            gatehouse_tests::cc_token(&http, &server.base, SVC_ID, SVC_SECRET).await;
        }
    });
    assert_eq!(server.terminate(Duration::from_secs(10)), Some(0));

    let (code, out, err) = run_cli(&["gatehouse", "audit", "verify", "--config", &cfg_s]);
    assert_eq!(code, 0, "{err}");
    let n = gatehouse_tests::verified_records(&out);
    assert!(n >= 5, "started, 3 issued, stopped: {out}");
    let (_, out, _) = run_cli(&["gatehouse", "audit", "export", "--config", &cfg_s]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), n);
    assert_eq!(lines[0]["event"]["type"], "server_started");
    // The stop is recorded, then the head is signed: the checkpoint is the last record.
    assert_eq!(lines[n - 2]["event"]["type"], "server_stopped");
    assert_eq!(lines[n - 1]["event"]["type"], "audit_checkpoint");
    assert_eq!(lines[n - 1]["event"]["through_seq"], n - 1);
    let (_, out, _) = run_cli(&["gatehouse", "audit", "export", "--since", "2999-01-01T00:00:00Z", "--config", &cfg_s]);
    assert!(out.trim().is_empty());
    let (code, _, err) = run_cli(&["gatehouse", "audit", "export", "--since", "yesterday", "--config", &cfg_s]);
    assert_eq!(code, 1);
    assert!(err.contains("RFC 3339"));

    let check = |expect_seq: u64, reason: &str| {
        let (code, _, err) = run_cli(&["gatehouse", "audit", "verify", "--config", &cfg_s]);
        assert_eq!(code, 1, "tampering went unnoticed");
        assert!(err.contains(&format!("broken at record {expect_seq}")) && err.contains(reason), "{err}");
    };
    let db_path = dir.path().join("data").join("audit.jsonl");
    let original = std::fs::read(&db_path).unwrap();
    let restore = || std::fs::write(&db_path, &original).unwrap();
    tamper(&db_path, |rs| rs[1]["time_ms"] = Value::from(rs[1]["time_ms"].as_i64().unwrap() + 1));
    check(2, "modified");
    restore();
    assert_eq!(run_cli(&["gatehouse", "audit", "verify", "--config", &cfg_s]).0, 0, "restored chain verifies");
    tamper(&db_path, |rs| {
        rs.remove(2);
    });
    check(3, "record 4 stands here");
    restore();
    tamper(&db_path, |rs| rs.swap(1, 2));
    check(2, "record 3 stands here");
}

#[tokio::test]
async fn retention_prunes_old_records_behind_an_attested_marker() {
    let s = TestServer::start_with(&format!("{}\n[audit]\nretention = \"1m\"\n", config())).await;
    for _ in 0..3 {
        s.svc_token(&[]).await;
    }
    records_with(&s, &["token_issued"]).await;
    s.clock.advance(Duration::from_secs(120));
    let fresh = s.svc_token(&[]).await;
    // The pruning task checks every few seconds of real time.
    let mut start = None;
    for _ in 0..80 {
        start = s.state.db.audit().audit_start().await.unwrap();
        if start.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = start.expect("old records were pruned");
    let kept = s.state.db.audit().audit_records(0, 10_000).await.unwrap();
    assert_eq!(kept.first().unwrap().seq, start.truncated_through + 1);
    assert!(kept.iter().any(|r| r.event.name() == "audit_truncated"));
    assert!(kept.iter().all(|r| r.seq > start.truncated_through));
    let v: Value =
        s.http.get(s.url(paths::ADMIN_AUDIT_VERIFY)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert!(!fresh.is_empty());
}

#[tokio::test]
async fn operators_query_the_audit_log_with_filters_and_cursor_paging() {
    let s = TestServer::start_with(&config()).await;
    for _ in 0..5 {
        s.svc_token(&[]).await;
    }
    assert_eq!(s.post_basic(paths::TOKEN, SVC_ID, "nope", &[("grant_type", "client_credentials")]).await.status(), 401);
    records_with(&s, &["token_issued", "client_auth_failed"]).await;
    let query = |q: &str| {
        let url = format!("{}?{q}", s.url(paths::ADMIN_AUDIT));
        let req = s.http.get(url).bearer_auth(ADMIN);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, page) = query("type=token_issued&limit=3").await;
    assert_eq!(status, 200);
    let first: Vec<_> = page["records"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(first.len(), 3);
    assert!(page["records"].as_array().unwrap().iter().all(|r| r["event"]["type"] == "token_issued"));
    let cursor = page["next_cursor"].as_u64().unwrap();
    let (_, page) = query(&format!("type=token_issued&limit=3&cursor={cursor}")).await;
    let second: Vec<_> = page["records"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(second.len(), 2, "five issued in all");
    assert!(second.iter().all(|seq| first.iter().all(|f| seq > f)));
    assert!(page.get("next_cursor").is_none(), "end of the chain");

    let (_, page) = query("actor=client:svc").await;
    assert_eq!(page["records"].as_array().unwrap().len(), 5);
    let (_, page) = query("type=client_auth_failed").await;
    assert_eq!(page["records"][0]["event"]["client_id"], SVC_ID);
    let (_, page) = query("since=2999-01-01T00:00:00Z").await;
    assert!(page["records"].as_array().unwrap().is_empty());
    // Bad input: the admin API's shape, naming the parameter at fault.
    for (bad, field) in
        [("limit=0", "limit"), ("limit=5000", "limit"), ("since=yesterday", "since"), ("cursor=x", "cursor")]
    {
        let (status, body) = query(bad).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{bad}");
        assert_eq!(body["field"], field, "{bad}: {body}");
    }
    let r = s.http.get(s.url(paths::ADMIN_AUDIT)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"gatehouse-admin\"") && challenge.contains("invalid_token"),
        "{challenge}"
    );
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "invalid_token");
}
