//! Connections: accepting them within bounds, serving each with hyper's
//! HTTP/1.1 (WebSocket upgrades included), and closing them all within a
//! stated time at shutdown.
//!
//! `axum::serve` arms no header timer and takes any number of connections:
//! 200 half-sent request heads stayed open for good, and one of them kept
//! shutdown waiting forever. Here:
//! - a connection has [`Limits::header_timeout`] to send each request head,
//!   counted from when it connects or its last response went out, so the
//!   same timer also closes idle keep-alive connections;
//! - connections are admitted by [`Admission`], in all and per client
//!   address; one over either bound is answered 503 in the API's error
//!   shape and closed;
//! - at shutdown a connection with no request being handled (idle, or still
//!   sending a head) is closed at once; one with a request in flight gets it
//!   answered and closes; whatever is still open after the drain time is
//!   dropped;
//! - a write that waits [`Limits::write_timeout`] for the client to take any
//!   bytes closes the connection ([`WriteDeadline`]).
//!
//! Only HTTP/1.1: browsers speak nothing else to a plain-HTTP server, and
//! an HTTP/2 connection would need bounds of its own.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::error::ApiError;
use crate::admission::{Admission, Admitted, Client};

/// Refusals being written at once, at most; past it a connection over the
/// bounds is closed without a word.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// The most a connection's request head may be, and what it may buffer.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long a refused connection is given to read its 503.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// Files the gateway keeps for itself besides connections: its Kafka
/// clients' sockets and wake-up pipes (a few per broker for each client: the
/// producer, the consumers, up to 24 service members, the readers), the
/// refusals being written, the files it serves.
pub(crate) const RESERVED_FILES: u64 = 512;
/// The fewest connections served, however few files the process may open.
const MIN_CONNECTIONS: usize = 16;

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_timeout: Duration,
    /// How long a write may wait for the client to take any bytes.
    pub(crate) write_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_per_address: usize,
    /// How long shutdown waits for connections to finish what they are doing.
    pub(crate) drain: Duration,
}

impl Limits {
    /// Fits the connection bounds to the files this process may open. Its
    /// soft limit is raised as far as needed, up to its hard limit; if that
    /// is still short, fewer connections are served than asked, so that
    /// connections past the bound are refused with 503 rather than left
    /// unaccepted, and the Kafka clients still find a file to open.
    pub(crate) fn fit_to_open_files(mut self) -> Self {
        let asked = u64::try_from(self.max_connections).unwrap_or(u64::MAX);
        let wanted = asked.saturating_add(RESERVED_FILES);
        match rlimit::increase_nofile_limit(wanted) {
            Ok(limit) if limit < wanted => {
                let room = usize::try_from(limit.saturating_sub(RESERVED_FILES))
                    .unwrap_or(usize::MAX)
                    .max(MIN_CONNECTIONS);
                tracing::warn!(
                    "this process may open {limit} files, too few for --max-connections {asked} \
                     and {RESERVED_FILES} of its own: serving at most {room} connections \
                     (raise `ulimit -n` to serve more)"
                );
                self.max_connections = room;
                self.max_per_address = self.max_per_address.min(room);
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "could not read or raise the open-file limit"),
        }
        self
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then calls
/// `on_shutdown`, lets connections finish for up to `limits.drain`, and
/// drops the rest.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_shutdown: impl FnOnce(),
) {
    let admission = Admission::new(limits.max_connections, limits.max_per_address);
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let connections = TaskTracker::new();
    let finish = CancellationToken::new();
    let drop_now = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: accepting again at once would spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // No Nagle delay: live records go out as many small frames, and with
        // Nagle's algorithm each waited for the client's (delayed) ACK of the
        // last: at 1,000 records/s that added ~17 ms to the median end-to-end
        // latency in the benchmark.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
        match admission.admit(Client::of(peer.ip())) {
            Ok(admitted) => {
                connections.spawn(connection(
                    WriteDeadline::new(tcp, limits.write_timeout),
                    peer,
                    admitted,
                    app.clone(),
                    limits.header_timeout,
                    finish.clone(),
                    drop_now.clone(),
                ));
            }
            Err(refused) => {
                tracing::debug!(%peer, %refused, "connection refused");
                if let Ok(turn) = refusals.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(tcp, ApiError::TooManyConnections(refused)).await;
                        drop(turn);
                    });
                }
            }
        }
    }
    // No new connections during the drain: they would only wait and be reset.
    drop(listener);
    on_shutdown();
    finish.cancel();
    connections.close();
    if tokio::time::timeout(limits.drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown: closing, after {:?}, the connections still open",
            limits.drain
        );
        drop_now.cancel();
        connections.wait().await;
    }
}

/// Serves one connection until it closes, is told to finish (then it ends
/// after its request in flight), or is dropped at the end of the drain.
async fn connection(
    tcp: WriteDeadline<TcpStream>,
    peer: SocketAddr,
    admitted: Admitted,
    app: Router,
    header_timeout: Duration,
    finish: CancellationToken,
    drop_now: CancellationToken,
) {
    // Held by the connection, and by its WebSocket once upgraded (see
    // `ws`): the socket stays open after hyper hands it over.
    let admitted = ConnectionSlot(Arc::new(admitted));
    // Requests of this connection being handled: at shutdown a connection
    // with none (idle, or still sending a head) is closed at once.
    let busy = Arc::new(AtomicUsize::new(0));
    let service = hyper::service::service_fn({
        let busy = busy.clone();
        move |mut request: hyper::Request<Incoming>| {
            // What `ConnectInfo` extracts: the peer, for per-address bounds.
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(admitted.clone());
            let mut app = app.clone();
            let handling = Handling::new(&busy);
            async move {
                let response = app.call(request.map(Body::new)).await;
                drop(handling);
                response
            }
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // A request head of at most 64 KiB (hyper's default is about
        // 400 KiB): half-sent heads are what a slow client holds.
        .max_buf_size(MAX_HEAD_BYTES);
    let served = http
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(served);
    tokio::select! {
        result = served.as_mut() => return log_end(result),
        () = finish.cancelled() => {}
    }
    if busy.load(Ordering::Acquire) == 0 {
        // Idle, or a head still coming: no request to finish.
        return;
    }
    // Keep-alive off: the request in flight is answered, then the
    // connection closes.
    served.as_mut().graceful_shutdown();
    tokio::select! {
        result = served.as_mut() => log_end(result),
        () = drop_now.cancelled() => {}
    }
}

/// A connection whose writes must make progress: a write (or flush) that has
/// waited [`Limits::write_timeout`] for the client to take any bytes fails,
/// and hyper, or the WebSocket, then closes the connection. Without it a
/// client that never reads holds its connection for ever: hyper reads no
/// further request while an answer waits to be written, so no read timer
/// runs.
pub(crate) struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    /// Armed while a write waits; made once, at the first wait.
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            timer: None,
            armed: false,
        }
    }

    /// After the inner write said `Pending`: arms the timer if it is not,
    /// and fails once it has run out.
    fn wait<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let deadline = Instant::now() + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<R>(
        &mut self,
        result: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match result {
            Poll::Ready(done) => {
                self.armed = false;
                Poll::Ready(done)
            }
            Poll::Pending => self.wait(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progressed(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.progressed(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progressed(result, cx)
    }
}

/// A connection's place among the admitted ones, until every holder is gone.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<Admitted>);

/// One request being handled, counted while it lives.
struct Handling(Arc<AtomicUsize>);

impl Handling {
    fn new(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(busy.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        // A client that went away or timed out: routine, not an error of ours.
        tracing::debug!(%err, "connection ended");
    }
}

/// Answers a connection over the bounds with a 503 in the API's error shape,
/// without reading its request, and closes it.
async fn refuse(mut tcp: TcpStream, error: ApiError) {
    let status = error.status();
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let answer = async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await?;
        // Read what the client sent until it closes: closing with unread
        // bytes would reset the connection and could lose the answer.
        let mut sink = [0u8; 1024];
        while tokio::io::AsyncReadExt::read(&mut tcp, &mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(REFUSAL_GRACE, answer).await;
}
