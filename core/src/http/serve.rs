//! Serving connections. hyper's HTTP/1 connection builder with a timer: a request head must
//! arrive whole within `header_read_timeout` and within `max_header_bytes` (431 beyond), a
//! kept-alive connection with no request in flight is closed after `keepalive_timeout`
//! without traffic, and shutdown closes every connection that has no request in flight at
//! once (a stalled or idle socket does not hold it up) while the others finish their
//! request. `axum::serve` has none of these: its builder has no timer, so hyper's head
//! timeout never ran.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::ServiceExt as _;

use super::listener::LimitedListener;

/// Per-connection limits (`[server]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request head must be complete this long after the server starts waiting for it.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no traffic for this long is closed.
    pub keepalive_timeout: Duration,
    /// The largest request head (request line and headers).
    pub max_header_bytes: usize,
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting, closes the
/// connections that have no request in flight and waits for the others (the caller bounds
/// that wait with its drain deadline by dropping this future).
pub async fn serve(mut listener: LimitedListener, app: Router, limits: ConnLimits, mut stop: watch::Receiver<bool>) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper's read buffer may not be smaller than 8 KiB; a head larger than
        // max_header_bytes is refused before the buffer reaches this.
        .max_buf_size(limits.max_header_bytes.max(8192) + 8192);
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            (io, peer) = listener.accept() => {
                let conn = connection(builder.clone(), app.clone(), limits, io, peer, closing.clone());
                connections.spawn(conn);
                while connections.try_join_next().is_some() {}
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
}

async fn connection<S>(
    builder: hyper::server::conn::http1::Builder,
    app: Router,
    limits: ConnLimits,
    io: S,
    peer: SocketAddr,
    mut closing: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let in_flight = Arc::new(AtomicUsize::new(0));
    let counter = in_flight.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let guard = InFlight::enter(&counter);
        let app = app.clone();
        async move {
            let resp = match app.oneshot(req.map(Body::new)).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|inner| Body::new(Guarded { inner, _guard: guard })))
        }
    });
    let io = TokioIo::new(Idle::new(io, limits.keepalive_timeout, in_flight.clone()));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }
        _ = closing.changed() => {
            if in_flight.load(Ordering::Acquire) == 0 {
                // Idle, or still sending a head: nothing to finish; dropping closes the socket.
                return;
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Counts a request from the moment hyper hands it over until its response body is gone.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted while it is written.
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, closed (read as end of stream) once no request is in flight and nothing was
/// read or written for `idle`. hyper's head timer covers a head that has started; this covers
/// the wait before it and a connection kept alive without use.
struct Idle<S> {
    inner: S,
    idle: Duration,
    in_flight: Arc<AtomicUsize>,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    fn new(inner: S, idle: Duration, in_flight: Arc<AtomicUsize>) -> Self {
        let now = crate::clock::monotonic();
        let timer = Box::pin(tokio::time::sleep_until((now + idle).into()));
        Self { inner, idle, in_flight, last_activity: now, timer }
    }

    /// Whether the connection has been idle too long (and arms the timer otherwise).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return false;
        }
        let deadline = self.last_activity + self.idle;
        if self.timer.deadline().into_std() != deadline {
            self.timer.as_mut().reset(deadline.into());
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.last_activity = crate::clock::monotonic();
                }
                Poll::Ready(result)
            }
            // End of stream: hyper closes an idle connection quietly.
            Poll::Pending if self.expired(cx) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.last_activity = crate::clock::monotonic();
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        self.last_activity = crate::clock::monotonic();
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
