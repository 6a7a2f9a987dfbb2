//! A TCP listener with connection limits: each accepted connection holds a semaphore
//! permit until it closes (at the limit, new connections wait in the kernel's backlog), and
//! one address may hold at most `per_ip` of them (more are closed at once, so that one
//! client cannot take every slot; trusted proxies, which carry everyone, are exempt).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// [`TcpListener`] plus limits on open connections.
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    per_ip: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    exempt: crate::http::client_ip::TrustedProxies,
}

impl LimitedListener {
    /// At most `max` connections open at once, `per_ip` of them from one address (other
    /// than the `exempt` proxies).
    pub fn new(inner: TcpListener, max: usize, per_ip: usize, exempt: crate::http::client_ip::TrustedProxies) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
            per_ip: per_ip.max(1),
            open: Arc::new(Mutex::new(HashMap::new())),
            exempt,
        }
    }

    /// Counts a connection from `ip`; `None` when the address is at its limit.
    fn admit(&self, ip: IpAddr) -> Option<Option<PerIp>> {
        if self.exempt.contains(ip) {
            return Some(None);
        }
        let mut open = self.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return None;
        }
        *n += 1;
        Some(Some(PerIp { ip, open: self.open.clone() }))
    }
}

/// One address's share of the open connections, given back when the connection closes.
struct PerIp {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for PerIp {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A connection holding its permit.
pub struct LimitedStream {
    /// The socket.
    pub stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _per_ip: Option<PerIp>,
}

impl LimitedListener {
    /// The next admitted connection.
    pub async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                // The semaphore is never closed; if it were, stop accepting rather than spin.
                std::future::pending::<()>().await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => match self.admit(addr.ip()) {
                    Some(per_ip) => {
                        let _ = stream.set_nodelay(true);
                        return (LimitedStream { stream, _permit: permit, _per_ip: per_ip }, addr);
                    }
                    // Over its share: closed at once (dropping the socket), the permit goes back.
                    None => tracing::debug!(ip = %addr.ip(), "connection refused: too many from this address"),
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
