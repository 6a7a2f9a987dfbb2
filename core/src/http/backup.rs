//! `POST /admin/backup`: streams a consistent snapshot of the running server's store (the
//! `gatehouse-backup` JSON lines format). The store is read on a blocking thread and sent in
//! 64 KiB chunks; a failure mid-way aborts the body, so the client sees a broken transfer
//! (and `gatehouse restore` refuses the truncated file) rather than a short "success".

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body_util::Channel;
use http_body_util::channel::Sender;

use super::admin_auth::Admin;
use crate::audit::AuditEvent;
use crate::state::AppState;

const CHUNK: usize = 64 * 1024;

/// The body's sender, shared by the writer and the task that aborts it on failure.
type SharedSender = std::sync::Arc<std::sync::Mutex<Option<Sender<Bytes, std::io::Error>>>>;

/// A `Write` that sends chunks into the response body from a blocking thread (the store
/// writes backups on the blocking pool).
struct BodyWriter {
    tx: SharedSender,
    runtime: tokio::runtime::Handle,
    buf: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let gone = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away");
        let mut guard = self.tx.lock().map_err(|_| gone())?;
        let tx = guard.as_mut().ok_or_else(gone)?;
        self.runtime.block_on(tx.send_data(chunk)).map_err(|_| gone())
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Streams a backup.
pub async fn backup_post(State(state): State<AppState>, admin: Admin) -> Response {
    let meta = admin.meta;
    let (tx, body) = Channel::<Bytes, std::io::Error>::new(4);
    let tx: SharedSender = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let runtime = tokio::runtime::Handle::current();
    let task_state = state.clone();
    tokio::spawn(async move {
        let w = BodyWriter { tx: tx.clone(), runtime, buf: Vec::with_capacity(CHUNK) };
        match task_state.db.maintenance().backup(Box::new(w)).await {
            Ok(summary) => {
                let event = AuditEvent::BackupCreated { entries: summary.entries, audit_lines: summary.audit_lines };
                task_state.audit.emit(meta.actor("admin"), event, task_state.clock.now());
                tracing::info!(request_id = %meta.request_id, entries = summary.entries, "backup streamed");
            }
            Err(e) => {
                tracing::error!(request_id = %meta.request_id, error = %e, "backup failed");
                if let Some(tx) = tx.lock().ok().and_then(|mut g| g.take()) {
                    tx.abort(std::io::Error::other("backup failed"));
                }
            }
        }
    });
    let mut resp = Body::new(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"gatehouse-backup.jsonl\""));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
