//! The accept loop: hyper serving each connection under the limits, with a watchdog per
//! connection that drops clients too slow to send a request head or to read a reply, and closes
//! connections idle too long (`axum::serve` has no timer and no limits at all).
//!
//! hyper's own header timer starts when a connection begins waiting for a request, so it would
//! also cut idle keep-alive connections at the header timeout; and HTTP/2 has none. The watchdog
//! instead sees the bytes themselves (through [`WatchedStream`]) and the requests (through the
//! service), which gives both protocols the same rules:
//! - no request in progress and nothing received since the last reply: closed after
//!   `keep_alive_idle`;
//! - bytes of a new HTTP/1 request head received but no request yet: dropped
//!   `header_read_timeout` after its first byte;
//! - a reply write stalled because the client does not read: dropped after `send_timeout`.
//!
//! Bodies and the request as a whole are timed by the router, which can answer in the dialect.
//! Over TLS the watchdog sees the encrypted bytes, and the handshake is bounded like a head.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::limits::{Drop, DropCounters, Limits};
use crate::tls::ReloadableTls;

/// How long a graceful shutdown waits for requests in progress before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Connections beyond `max_connections` by more than this are closed without a reply.
const REFUSED_CONNECTION_SLACK: usize = 64;

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` resolves, then
/// lets requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Arc<Limits>,
    counters: Arc<DropCounters>,
    refusing: Router,
    tls: Option<Arc<ReloadableTls>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let builder = Arc::new(connection_builder());
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    let refused_limits = Arc::new(limits.for_refused_connection());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors, usually: waiting lets connections close meanwhile.
                counters.count(Drop::AcceptError);
                tracing::debug!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let already_open = open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenConnection(open.clone());
        let (service, conn_limits) = if already_open < limits.max_connections {
            (app.clone(), limits.clone())
        } else if already_open < limits.max_connections + REFUSED_CONNECTION_SLACK {
            counters.count(Drop::ConnectionLimit);
            (refusing.clone(), refused_limits.clone())
        } else {
            counters.count(Drop::ConnectionLimit);
            continue;
        };
        let connection = Connection {
            activity: Arc::new(Activity::new()),
            limits: conn_limits,
            counters: counters.clone(),
        };
        let watched = WatchedStream {
            inner: stream,
            activity: connection.activity.clone(),
            first_read: true,
        };
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => {
                    connection
                        .serve(&builder, watcher, watched, peer, service)
                        .await
                }
                Some(tls) => {
                    if let Some(secured) = connection.handshake(&tls, watched).await {
                        connection
                            .serve(&builder, watcher, secured, peer, service)
                            .await;
                    }
                }
            }
            drop(guard);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in progress after the shutdown grace; stopping anyway");
    }
}

fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog times request heads (see the module comment).
        .header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .max_header_list_size(64 * 1024);
    builder
}

/// Keeps the count of open connections true however the connection's task ends.
struct OpenConnection(Arc<AtomicUsize>);

impl std::ops::Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Connection {
    activity: Arc<Activity>,
    limits: Arc<Limits>,
    counters: Arc<DropCounters>,
}

impl Connection {
    /// The TLS handshake, bounded by `header_read_timeout` like a request head. `None`: the
    /// client is dropped (plain HTTP on this port, a failed or slow handshake).
    async fn handshake(
        &self,
        tls: &ReloadableTls,
        stream: WatchedStream,
    ) -> Option<tokio_rustls::server::TlsStream<WatchedStream>> {
        let accepted = tokio::time::timeout(
            self.limits.header_read_timeout,
            tls.acceptor().accept(stream),
        )
        .await;
        match accepted {
            Ok(Ok(secured)) => {
                // The watchdog cannot see HTTP/2's preface through TLS; ALPN names it.
                if secured.get_ref().1.alpn_protocol() == Some(b"h2") {
                    self.activity.http2.store(true, Ordering::Relaxed);
                }
                Some(secured)
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "TLS handshake failed");
                self.counters.count(Drop::TlsHandshake);
                None
            }
            Err(_) => {
                self.counters.count(Drop::TlsHandshake);
                None
            }
        }
    }

    async fn serve<S>(
        self,
        builder: &auto::Builder<TokioExecutor>,
        watcher: Watcher,
        stream: S,
        peer: std::net::SocketAddr,
        app: Router,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(stream);
        let activity = self.activity.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = activity.request_started();
            let app = app.clone();
            async move {
                let mut request = request.map(axum::body::Body::new);
                // For the access log: where the request came from.
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let reply = app.oneshot(request).await;
                drop(in_flight);
                reply
            }
        });
        let served = watcher.watch(builder.serve_connection(io, service).into_owned());
        tokio::pin!(served);
        loop {
            let check_at = self.activity.next_check(&self.limits);
            tokio::select! {
                _ = served.as_mut() => return,
                () = tokio::time::sleep_until(check_at.into()) => {
                    if let Some(drop) = self.activity.verdict(&self.limits, now_ms()) {
                        if drop != Verdict::Idle {
                            self.counters.count(match drop {
                                Verdict::SlowHeader => Drop::SlowHeader,
                                _ => Drop::SlowReader,
                            });
                        }
                        // Dropping the connection's future closes the socket.
                        return;
                    }
                }
                () = self.activity.changed.notified() => {}
            }
        }
    }
}

/// Milliseconds since the first call, plus one, so that 0 can mean "not set".
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

fn instant_of(ms: u64) -> Instant {
    let now = now_ms();
    let now_instant = Instant::now();
    if ms >= now {
        now_instant + Duration::from_millis(ms - now)
    } else {
        now_instant
            .checked_sub(Duration::from_millis(now - ms))
            .unwrap_or(now_instant)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Idle,
    SlowHeader,
    SlowReader,
}

/// What one connection is doing, as its stream and its service see it.
struct Activity {
    in_flight: AtomicUsize,
    /// When the connection last became free of requests (or was accepted).
    idle_since: AtomicU64,
    /// When the first byte after `idle_since` arrived; 0 when none has.
    head_started: AtomicU64,
    /// When a write first found the socket full; 0 while writes go through.
    write_blocked_since: AtomicU64,
    http2: AtomicBool,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now_ms()),
            head_started: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    fn bytes_received(&self) {
        if self.head_started.load(Ordering::Relaxed) == 0
            && self.in_flight.load(Ordering::Relaxed) == 0
        {
            self.head_started.store(now_ms(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn write_progress(&self, blocked: bool) {
        let since = self.write_blocked_since.load(Ordering::Relaxed);
        if blocked && since == 0 {
            self.write_blocked_since.store(now_ms(), Ordering::Release);
            self.changed.notify_one();
        } else if !blocked && since != 0 {
            self.write_blocked_since.store(0, Ordering::Release);
        }
    }

    /// The deadlines that apply now: a stalled write, and the wait for a request.
    fn deadlines(&self, limits: &Limits) -> [Option<(u64, Verdict)>; 2] {
        let add = |at: u64, d: Duration| at.saturating_add(d.as_millis() as u64);
        let blocked = self.write_blocked_since.load(Ordering::Acquire);
        let write =
            (blocked != 0).then(|| (add(blocked, limits.send_timeout), Verdict::SlowReader));
        let waiting = if self.in_flight.load(Ordering::Acquire) > 0 {
            None
        } else {
            let head = self.head_started.load(Ordering::Acquire);
            if head != 0 && !self.http2.load(Ordering::Relaxed) {
                Some((add(head, limits.header_read_timeout), Verdict::SlowHeader))
            } else {
                let idle = self.idle_since.load(Ordering::Acquire);
                Some((add(idle, limits.keep_alive_idle), Verdict::Idle))
            }
        };
        [write, waiting]
    }

    fn next_check(&self, limits: &Limits) -> Instant {
        match self
            .deadlines(limits)
            .into_iter()
            .flatten()
            .map(|(at, _)| at)
            .min()
        {
            Some(at) => instant_of(at),
            // A request is being answered: the router times it, and its end notifies.
            None => Instant::now() + limits.request_timeout + limits.send_timeout,
        }
    }

    /// The rule the connection breaks at `now` (from [`now_ms`]), if any.
    fn verdict(&self, limits: &Limits, now: u64) -> Option<Verdict> {
        self.deadlines(limits)
            .into_iter()
            .flatten()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at)
            .map(|(_, verdict)| verdict)
    }
}

/// Held while a request is answered; the connection is idle again once the last one is dropped.
struct InFlight(Arc<Activity>);

impl std::ops::Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(now_ms(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.changed.notify_one();
    }
}

/// A TCP stream that tells the connection's [`Activity`] what arrives and what stalls.
struct WatchedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
    first_read: bool,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            if self.first_read {
                self.first_read = false;
                // HTTP/2's connection preface: its requests are timed by the idle rule only.
                if buf.filled()[before..].starts_with(b"PRI ") {
                    self.activity.http2.store(true, Ordering::Relaxed);
                }
            }
            self.activity.bytes_received();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.write_progress(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.write_progress(polled.is_pending());
        polled
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(60),
            send_timeout: Duration::from_secs(5),
            ..Limits::default()
        }
    }

    /// A point on the watchdog's clock, well after its start.
    const T: u64 = 1_000_000;

    #[test]
    fn an_idle_connection_is_closed_after_the_idle_time_only() {
        let activity = Activity::new();
        activity.idle_since.store(T, Ordering::Relaxed);
        assert_eq!(
            activity.deadlines(&limits()),
            [None, Some((T + 60_000, Verdict::Idle))]
        );
        assert_eq!(activity.verdict(&limits(), T + 59_999), None);
        assert_eq!(activity.verdict(&limits(), T + 60_000), Some(Verdict::Idle));
    }

    #[test]
    fn a_head_started_late_in_the_idle_time_still_gets_the_whole_header_time() {
        let activity = Activity::new();
        activity.idle_since.store(T, Ordering::Relaxed);
        activity.head_started.store(T + 55_000, Ordering::Relaxed);
        assert_eq!(activity.verdict(&limits(), T + 60_000), None);
        assert_eq!(activity.verdict(&limits(), T + 64_999), None);
        assert_eq!(
            activity.verdict(&limits(), T + 65_000),
            Some(Verdict::SlowHeader)
        );
    }

    #[test]
    fn a_request_in_progress_is_left_to_the_router_but_a_stalled_write_is_not() {
        let activity = Arc::new(Activity::new());
        activity.head_started.store(T, Ordering::Relaxed);
        let in_flight = activity.request_started();
        assert_eq!(activity.head_started.load(Ordering::Relaxed), 0);
        assert_eq!(activity.deadlines(&limits()), [None, None]);
        activity.write_blocked_since.store(T, Ordering::Relaxed);
        assert_eq!(activity.verdict(&limits(), T + 4_999), None);
        assert_eq!(
            activity.verdict(&limits(), T + 5_000),
            Some(Verdict::SlowReader)
        );
        activity.write_progress(false);
        assert_eq!(activity.verdict(&limits(), T + 5_000), None);
        drop(in_flight);
        assert_eq!(activity.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(
            activity.deadlines(&limits())[1].map(|(_, verdict)| verdict),
            Some(Verdict::Idle)
        );
    }

    #[test]
    fn http2_connections_are_timed_by_the_idle_rule() {
        let activity = Activity::new();
        activity.http2.store(true, Ordering::Relaxed);
        activity.idle_since.store(T, Ordering::Relaxed);
        activity.head_started.store(T + 1, Ordering::Relaxed);
        assert_eq!(activity.verdict(&limits(), T + 20_000), None);
        assert_eq!(activity.verdict(&limits(), T + 60_000), Some(Verdict::Idle));
    }
}
