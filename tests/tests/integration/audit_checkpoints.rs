//! Signed audit checkpoints: a truncated tail, a chain recomputed after an edit and an
//! unreadable line are each reported by `audit verify` (with the first record that
//! disagrees), by `/admin/audit/verify` and at start-up; exported checkpoints and the audit
//! public key verify the log on their own.

use std::path::Path;

use gatehouse::audit::AuditRecord;
use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::{TestServer, run_cli, standard_config};
use serde_json::Value;
use tempfile::TempDir;

const ADMIN: &str = "checkpoint-admin-token-0123456789ab";

fn config() -> String {
    format!("{}\n[admin]\ntoken_sha256 = \"{}\"\n", standard_config(), sha256_hex(ADMIN.as_bytes()))
}

/// A stopped server's directory whose log ends with a checkpoint (signed at shutdown).
async fn stopped_with_records() -> TempDir {
    let s = TestServer::start_with(&config()).await;
    for _ in 0..4 {
        s.svc_token(&[]).await;
    }
    s.stop().await
}

fn log_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("data").join("audit.jsonl")
}

fn read_records(path: &Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn write_records(path: &Path, records: &[AuditRecord]) {
    let out: String = records.iter().map(|r| format!("{}\n", serde_json::to_string(r).unwrap())).collect();
    std::fs::write(path, out).unwrap();
}

/// `audit verify` on `dir`: (exit code, stdout, stderr).
fn verify(dir: &TempDir, extra: &[&str]) -> (i32, String, String) {
    let cfg = dir.path().join("gatehouse.toml").display().to_string();
    let mut args = vec!["gatehouse", "audit", "verify", "--config", &cfg];
    args.extend_from_slice(extra);
    run_cli(&args)
}

/// Starts a server on a tampered `dir`: what `/admin/audit/verify` and the metric say.
async fn restarted(dir: TempDir) -> (Value, String) {
    let s = TestServer::start_in(dir, &config()).await;
    let v: Value =
        s.http.get(s.url(paths::ADMIN_AUDIT_VERIFY)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    let metrics = s.http.get(s.url(paths::METRICS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    (v, metrics)
}

#[tokio::test]
async fn an_intact_log_agrees_with_its_checkpoints_and_the_export_verifies_it() {
    let dir = stopped_with_records().await;
    let (code, out, err) = verify(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 checkpoints agree"), "{out}");
    let cfg = dir.path().join("gatehouse.toml").display().to_string();
    let (code, export, err) = run_cli(&["gatehouse", "audit", "checkpoints", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    let export: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(export["key"]["crv"], "Ed25519");
    assert!(export["key"].get("d").is_none(), "the export carries the public key only");
    assert_eq!(export["checkpoints"].as_array().unwrap().len(), 1);
    let file = dir.path().join("checkpoints.json");
    std::fs::write(&file, export.to_string()).unwrap();
    let (code, out, err) = verify(&dir, &["--checkpoints", &file.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");

    // The audit key is not a token signing key.
    let s = TestServer::start_in(dir, &config()).await;
    let jwks: Value = s.get_json(paths::JWKS).await;
    let kid = export["key"]["kid"].as_str().unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k["kid"] != kid));
    let v: Value =
        s.http.get(s.url(paths::ADMIN_AUDIT_VERIFY)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!((v["ok"].as_bool(), v["checkpoints"].as_u64()), (Some(true), Some(1)), "{v}");

    // An export whose key was swapped does not vouch for anything.
    let dir = s.stop().await;
    let mut forged = export.clone();
    forged["key"]["x"] = Value::from("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    std::fs::write(&file, forged.to_string()).unwrap();
    let (code, _, err) = verify(&dir, &["--checkpoints", &file.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("signature"), "{err}");
}

#[tokio::test]
async fn a_removed_tail_is_reported_with_the_first_missing_record() {
    let dir = stopped_with_records().await;
    let path = log_path(&dir);
    let mut records = read_records(&path);
    let signed = records.iter().rev().find(|r| r.event.name() == "server_stopped").unwrap().seq;
    records.truncate(records.len() - 4);
    let first_missing = records.last().unwrap().seq + 1;
    write_records(&path, &records);
    // The hash chain alone still verifies: only the checkpoint shows what is missing.
    assert_eq!(gatehouse::audit::verify_chain(None, records.clone()).map(|_| ()), Ok(()));
    let (code, _, err) = verify(&dir, &[]);
    assert_eq!(code, 1, "truncation went unnoticed");
    assert!(err.contains(&format!("broken at record {first_missing}")) && err.contains("tail was removed"), "{err}");
    assert!(err.contains(&format!("up to {signed}")), "{err}");
    let (v, metrics) = restarted(dir).await;
    assert_eq!(v["ok"], false, "{v}");
    assert!(metrics.contains("gatehouse_audit_chain_intact 0"), "the start-up check saw it");
}

#[tokio::test]
async fn a_recomputed_chain_is_reported_at_the_checkpoint_it_contradicts() {
    let dir = stopped_with_records().await;
    let path = log_path(&dir);
    let mut records = read_records(&path);
    let checkpoint = records.iter().rev().find(|r| r.event.name() == "server_stopped").unwrap().seq;
    // Change record 3 and recompute every later hash, as an attacker with the file would.
    let edited = records.iter().position(|r| r.event.name() == "token_issued").unwrap();
    if let gatehouse::audit::AuditEvent::TokenIssued { client_id, .. } = &mut records[edited].event {
        *client_id = "someone-else".into();
    }
    for i in edited..records.len() {
        if i > 0 {
            records[i].prev = records[i - 1].hash.clone();
        }
        records[i].hash = String::new();
        records[i].hash = records[i].compute_hash();
    }
    write_records(&path, &records);
    assert!(gatehouse::audit::verify_chain(None, records.clone()).is_ok(), "the chain alone verifies");
    let (code, _, err) = verify(&dir, &[]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("broken at record {checkpoint}")) && err.contains("recomputed"), "{err}");
    let (v, metrics) = restarted(dir).await;
    assert_eq!((v["ok"].as_bool(), v["broken_at"].as_u64()), (Some(false), Some(checkpoint)), "{v}");
    assert!(metrics.contains("gatehouse_audit_chain_intact 0"));
}

#[tokio::test]
async fn an_unreadable_line_is_reported_not_an_error() {
    let dir = stopped_with_records().await;
    let path = log_path(&dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"seq\":3,\"this is not\" a record";
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (code, _, err) = verify(&dir, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("broken at record 3") && err.contains("unreadable"), "{err}");
    let (v, _) = restarted(dir).await;
    assert_eq!((v["ok"].as_bool(), v["broken_at"].as_u64()), (Some(false), Some(3)), "{v}");
    assert!(v["reason"].as_str().unwrap().contains("unreadable"), "{v}");
}
