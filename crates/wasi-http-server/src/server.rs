//! The HTTP server: hyper connections on tokio, each request made an
//! [`Exchange`] and handed to a [`Dispatch`] that runs a guest for it.

use crate::body::{Delivery, ResponseBody};
use crate::conn::{self, MAX_REQUEST_FIELDS, MAX_REQUEST_HEAD, Protocol};
use crate::exchange::{Completion, Exchange, Expired, Slot, error_response};
use crate::head::RequestHead;
use crate::socket::{self, Handshake, Session, WebSocketConfig, WebSockets};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::timeout_at;

/// The most requests an HTTP/2 connection may have in flight at once.
pub const MAX_STREAMS: u32 = 256;

/// How the server runs (`spec/wasi-cloud.md`, "Limits and slow clients").
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Requests whose guests run at once; more wait for a slot.
    pub max_concurrency: usize,
    /// Requests of one connection whose guests run at once; `None`: half
    /// of `max_concurrency`, at least one.
    pub max_per_connection: Option<usize>,
    /// Each request's deadline, from the end of its head: it covers the
    /// wait for a slot, the body, the guest and the response's delivery.
    pub timeout: Duration,
    /// The largest request body: 413 past it.
    pub max_body: u64,
    /// How much of a request's body the server reads before the request
    /// takes a slot (less if the body ends first): a client trickling its
    /// body holds no slot meanwhile. 0 starts the guest at once, for
    /// handlers that answer a body part by part while the client waits.
    pub body_before_slot: usize,
    /// Time a client has to send a request head.
    pub header_timeout: Duration,
    /// Whether to leave out the access log (one line per request on stderr).
    pub quiet: bool,
    /// How long [`serve`] waits, once told to stop, for the requests in
    /// flight: past it, connections still busy are dropped.
    pub drain_timeout: Duration,
    /// WebSocket daemons' limits, when guests may accept WebSocket
    /// handshakes; `None` (the default): a 101 is a 502
    /// (`spec/wasi-cloud.md`, "WebSocket daemons").
    pub websocket: Option<WebSocketConfig>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            max_per_connection: None,
            timeout: DEFAULT_TIMEOUT,
            max_body: 128 << 20,
            body_before_slot: DEFAULT_BODY_BEFORE_SLOT,
            header_timeout: Duration::from_secs(30),
            quiet: false,
            drain_timeout: Duration::from_secs(30),
            websocket: None,
        }
    }
}

/// A request's deadline when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a body the server reads before the request takes a slot,
/// when not told ([`ServeConfig::body_before_slot`]).
pub const DEFAULT_BODY_BEFORE_SLOT: usize = 64 * 1024;

impl ServeConfig {
    /// How many guests one connection's requests may run at once.
    pub fn per_connection(&self) -> usize {
        self.max_per_connection
            .unwrap_or(self.max_concurrency / 2)
            .clamp(1, self.max_concurrency.max(1))
    }
}

/// What runs a guest for each request.
pub trait Dispatch: Send + Sync + 'static {
    /// Starts serving `exchange`, holding `slot` while its guest runs
    /// ([`Exchange::hold_until_finished`], or
    /// [`Exchange::hold_until_done`]); returns at once (called on the
    /// server's async threads). The guest's run must end with
    /// [`Exchange::finish`], or its response file closed.
    fn dispatch(&self, exchange: Arc<Exchange>, slot: Slot);
}

/// Runs `run` for each request, one fresh guest per request, and finishes
/// the exchange with what it returns: on tokio's blocking pool, or, when
/// made [`with_inline`](Self::with_inline) and admitted by its inline
/// gate, on the async worker that received the request
/// (`spec/wasi-cloud.md`, "Where guests run").
pub struct Functions<F> {
    run: Arc<F>,
    inline: Option<Arc<InlineGate>>,
}

impl<F> Functions<F>
where
    F: Fn(&Arc<Exchange>) -> Completion + Send + Sync + 'static,
{
    /// Runs every guest on the blocking pool.
    pub fn new(run: F) -> Self {
        Self {
            run: Arc::new(run),
            inline: None,
        }
    }

    /// Runs guests inline on the async workers while they prove quick,
    /// and on the blocking pool otherwise.
    pub fn with_inline(run: F) -> Self {
        Self {
            run: Arc::new(run),
            inline: Some(Arc::new(InlineGate::new())),
        }
    }
}

impl<F> Dispatch for Functions<F>
where
    F: Fn(&Arc<Exchange>) -> Completion + Send + Sync + 'static,
{
    fn dispatch(&self, exchange: Arc<Exchange>, slot: Slot) {
        exchange.hold_until_finished(slot);
        let run = Arc::clone(&self.run);
        // A WebSocket's guest may live long: never on an async worker.
        let body_in = exchange.body().is_none() && !exchange.is_websocket();
        let Some(gate) = self
            .inline
            .as_ref()
            .filter(|gate| body_in && gate.is_open())
        else {
            return run_blocking(run, exchange);
        };
        let gate = Arc::clone(gate);
        // A task of its own on this worker, run next (no other thread
        // is woken): the connection's task, which waits for the response,
        // stays free to be polled elsewhere should the guest wait for the
        // client.
        tokio::spawn(async move {
            let mut ticket = gate.admit();
            // The guests inline take microseconds while the gate is open:
            // waiting a few turns of this worker for one to end costs
            // less than the blocking pool's two thread hand-offs.
            for _ in 0..INLINE_TURNS {
                if ticket.is_some() {
                    break;
                }
                tokio::task::yield_now().await;
                ticket = gate.admit();
            }
            let Some(ticket) = ticket else {
                return run_blocking(run, exchange);
            };
            let before = ThreadUsage::now();
            let completion = run(&exchange);
            ticket.done(before, exchange.waited_for_client());
            exchange.finish(&completion);
        });
    }
}

/// Runs `wait`, a wait that may block this thread for long, so that it
/// blocks no other request: on one of the server's async workers (a guest
/// run inline), the worker's other tasks move to another thread meanwhile
/// ([`tokio::task::block_in_place`]); anywhere else (the blocking pool, a
/// daemon's thread), it is simply called. Give it to each guest system's
/// canceller (`wasi_unix::Canceller::wait_through`) so that a guest's
/// sleeps and socket waits go through it.
pub fn off_worker<T>(wait: impl FnOnce() -> T) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

/// Runs `run` for `exchange` on tokio's blocking pool.
fn run_blocking<F>(run: Arc<F>, exchange: Arc<Exchange>)
where
    F: Fn(&Arc<Exchange>) -> Completion + Send + Sync + 'static,
{
    tokio::task::spawn_blocking(move || {
        let completion = run(&exchange);
        exchange.finish(&completion);
    });
}

/// How many turns of its worker a request the gate lets in waits for a
/// place inline, before it goes to the blocking pool.
const INLINE_TURNS: usize = 4;

/// The most CPU time a guest run inline may use and still count as quick.
const INLINE_MAX_CPU: Duration = Duration::from_millis(10);

/// The longest a guest run inline may take, if it waited for anything
/// (slept, or blocked in a system call), and still count as quick; up to
/// [`INLINE_LONG_WAIT`] it counts against the gate only with another.
const INLINE_MAX_WAIT: Duration = Duration::from_millis(5);

// `Run::judge` relies on it.
const _: () = assert!(INLINE_MAX_WAIT.as_micros() <= INLINE_MAX_CPU.as_micros());

/// A run that waited and took longer than this is slow on its own; one
/// that took less counts only with another within [`INLINE_WAIT_WINDOW`].
const INLINE_LONG_WAIT: Duration = Duration::from_millis(100);
const INLINE_WAIT_WINDOW: Duration = Duration::from_secs(1);

/// How long the gate stays shut after the first slow inline run; each
/// further one doubles it, up to [`INLINE_MAX_SHUT`], and a quick one
/// resets it.
const INLINE_FIRST_SHUT: Duration = Duration::from_secs(1);
const INLINE_MAX_SHUT: Duration = Duration::from_secs(64);

/// Admits guests to run inline on the server's async workers, which saves
/// the two thread hand-offs of the blocking pool: a request whose body is
/// all in (it has none), while fewer guests than there are workers minus
/// one run inline, unless the gate is shut; a request that finds no place
/// waits [`INLINE_TURNS`] turns of its worker for one. A slow inline run
/// shuts the gate for [`INLINE_FIRST_SHUT`], doubling on each further slow
/// run: one that used more than [`INLINE_MAX_CPU`] of CPU, or that waited
/// (its thread switched out of its own accord: a sleep, a blocking read)
/// and took longer than [`INLINE_LONG_WAIT`]; or two runs within
/// [`INLINE_WAIT_WINDOW`] that waited and took longer than
/// [`INLINE_MAX_WAIT`]. Being preempted is not the guest's doing and does
/// not count, nor is waiting for a slow client (the worker's other tasks
/// move to another thread meanwhile): such a run is judged by its CPU time
/// alone. So a guest that sleeps or computes at length keeps to the
/// blocking pool, and stalls at most one worker now and then to find out
/// it still does, while clients that read slowly cannot shut the gate for
/// everyone.
struct InlineGate {
    epoch: Instant,
    /// Microseconds after `epoch` until which nothing runs inline.
    shut_until: AtomicU64,
    /// The next shutting's length in microseconds.
    next_shut: AtomicU64,
    /// When the last run that waited briefly ended ([`Run::Waited`]), in
    /// microseconds after `epoch`; `u64::MAX` before the first.
    last_wait: AtomicU64,
    running: AtomicUsize,
}

impl InlineGate {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            shut_until: AtomicU64::new(0),
            next_shut: AtomicU64::new(micros(INLINE_FIRST_SHUT)),
            last_wait: AtomicU64::new(u64::MAX),
            running: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        micros(self.epoch.elapsed())
    }

    /// Whether the gate is open (no slow run shut it lately).
    fn is_open(&self) -> bool {
        self.now() >= self.shut_until.load(Ordering::Relaxed)
    }

    /// A ticket to run one guest inline, if the gate is open and, beside
    /// the guests already inline, a worker is left free of them.
    fn admit(self: &Arc<Self>) -> Option<InlineTicket> {
        if !self.is_open() {
            return None;
        }
        let workers = tokio::runtime::Handle::try_current()
            .map_or(1, |runtime| runtime.metrics().num_workers());
        if self.running.fetch_add(1, Ordering::AcqRel) >= workers.saturating_sub(1) {
            self.running.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InlineTicket {
            gate: Arc::clone(self),
        })
    }
}

/// One inline run; dropping it (also when the run panics) frees its place.
struct InlineTicket {
    gate: Arc<InlineGate>,
}

impl InlineTicket {
    /// Records how the run went, given the thread's usage `before` it (on
    /// this thread) and whether its response `waited` for the client.
    fn done(self, before: Option<ThreadUsage>, waited: bool) {
        self.gate.record(Run::judge(before, waited));
    }
}

impl InlineGate {
    /// Shuts the gate, or not, after a run that went as `run` did.
    fn record(&self, run: Run) {
        let now = self.now();
        let shut = match run {
            Run::Quick => {
                self.next_shut
                    .store(micros(INLINE_FIRST_SHUT), Ordering::Relaxed);
                false
            }
            Run::Slow => true,
            // A wait this short may be the host's (a lock, a page fault)
            // made long by a busy machine's scheduler: only a second one
            // close after it tells of the guest.
            Run::Waited => {
                let last = self.last_wait.swap(now, Ordering::Relaxed);
                last != u64::MAX && now.saturating_sub(last) <= micros(INLINE_WAIT_WINDOW)
            }
        };
        if shut {
            let shut = self.next_shut.load(Ordering::Relaxed);
            self.shut_until.store(now + shut, Ordering::Relaxed);
            self.next_shut
                .store((shut * 2).min(micros(INLINE_MAX_SHUT)), Ordering::Relaxed);
        }
    }
}

/// How an inline run went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Quick,
    /// It waited, and took longer than [`INLINE_MAX_WAIT`] but no longer
    /// than [`INLINE_LONG_WAIT`].
    Waited,
    Slow,
}

impl Run {
    /// Judges a run from the thread's usage `before` it (on this thread)
    /// and whether its response `waited` for the client.
    fn judge(before: Option<ThreadUsage>, waited: bool) -> Self {
        let Some(before) = before else {
            return Self::Slow;
        };
        // Time spent waiting for the client is the client's (the worker's
        // other tasks went to another thread meanwhile): such a run is
        // judged by its CPU time alone, so that clients that read slowly,
        // or not at all, do not send every other request to the blocking
        // pool.
        if waited {
            return match ThreadUsage::now() {
                Some(after) if after.cpu.saturating_sub(before.cpu) <= INLINE_MAX_CPU => {
                    Self::Quick
                }
                _ => Self::Slow,
            };
        }
        // CPU time never exceeds wall time on one thread, and
        // `INLINE_MAX_WAIT` is below `INLINE_MAX_CPU`: a run that took no
        // longer than `INLINE_MAX_WAIT` is quick, and needs no second look
        // at the thread's usage (a system call).
        let took = before.at.elapsed();
        if took <= INLINE_MAX_WAIT {
            return Self::Quick;
        }
        let Some(after) = ThreadUsage::now() else {
            return Self::Slow;
        };
        if after.cpu.saturating_sub(before.cpu) > INLINE_MAX_CPU {
            Self::Slow
        } else if after.waits == before.waits {
            Self::Quick
        } else if took > INLINE_LONG_WAIT {
            Self::Slow
        } else {
            Self::Waited
        }
    }
}

impl Drop for InlineTicket {
    fn drop(&mut self) {
        self.gate.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the current thread has used so far.
#[derive(Clone, Copy)]
struct ThreadUsage {
    at: Instant,
    /// CPU time, user and system.
    cpu: Duration,
    /// Voluntary context switches: each time the thread waited.
    waits: i64,
}

impl ThreadUsage {
    /// The current thread's usage (`getrusage(RUSAGE_THREAD)`); `None` if
    /// the kernel refuses it.
    fn now() -> Option<Self> {
        // SAFETY: `rusage` is plain integers, for which all zeros is a
        // valid value, and `getrusage` writes one through a pointer to it.
        let (result, usage) = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            (libc::getrusage(libc::RUSAGE_THREAD, &mut usage), usage)
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        (result == 0).then(|| Self {
            at: Instant::now(),
            cpu: time(usage.ru_utime) + time(usage.ru_stime),
            waits: usage.ru_nvcsw,
        })
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Sends each request to a pool of daemons ([`crate::DaemonQueue`]).
pub struct Daemons(pub crossbeam_channel::Sender<Arc<Exchange>>);

impl Dispatch for Daemons {
    fn dispatch(&self, exchange: Arc<Exchange>, slot: Slot) {
        exchange.hold_until_done(slot);
        if self.0.send(Arc::clone(&exchange)).is_err() {
            exchange.finish(&Completion::Failed("no daemon is running".into()));
        }
    }
}

struct Shared {
    dispatch: Arc<dyn Dispatch>,
    config: ServeConfig,
    slots: Arc<Semaphore>,
    /// Places for guests waiting for slow clients without a slot.
    parking: Arc<Semaphore>,
    /// Open WebSockets, when guests may accept them.
    websockets: Option<Arc<WebSockets>>,
    /// Turns `true` when the server stops: HTTP/1 connections (which
    /// hyper's graceful shutdown cannot watch once upgradable) and
    /// WebSockets end.
    stop: watch::Sender<bool>,
}

/// What the requests of one connection share.
struct Connection {
    /// The connection's share of the slots.
    slots: Arc<Semaphore>,
    /// Closes the connection (a response past its deadline that cannot be
    /// delivered): aborts its task.
    task: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl Connection {
    fn kill(&self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on `listener`
/// until `shutdown` completes, then stops accepting and waits for the connections' requests in flight to be
/// answered (their responses sent whole) before returning, for at most
/// [`ServeConfig::drain_timeout`].
pub async fn serve(
    listener: TcpListener,
    dispatch: Arc<dyn Dispatch>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
        parking: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
        websockets: config
            .websocket
            .clone()
            .map(|limits| Arc::new(WebSockets::new(limits, stopping, config.quiet))),
        stop,
        dispatch,
        config,
    });
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout)
        .max_headers(MAX_REQUEST_FIELDS)
        .max_header_size(MAX_REQUEST_HEAD)
        .max_buf_size(MAX_REQUEST_HEAD.max(8192) * 2)
        .keep_alive(true);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(MAX_REQUEST_HEAD).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS)
        // A client that stops answering pings is gone.
        .keep_alive_interval(shared.config.header_timeout)
        .keep_alive_timeout(shared.config.header_timeout);
    let builders = Arc::new((h1, h2));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let addrs = (Some(remote), stream.local_addr().ok());
        let shared = Arc::clone(&shared);
        let mut stop = shared.stop.subscribe();
        let (builders, watcher) = (Arc::clone(&builders), graceful.watcher());
        let connection = Arc::new(Connection {
            slots: Arc::new(Semaphore::new(shared.config.per_connection())),
            task: std::sync::OnceLock::new(),
        });
        let task = Arc::clone(&connection);
        let task = tokio::spawn(async move {
            let connection = task;
            // A client must say which protocol it speaks, and send its
            // first HTTP/1 head, within the time it has to send a head,
            // from accept.
            let header_timeout = shared.config.header_timeout;
            let Ok(Ok((protocol, stream))) =
                tokio::time::timeout(header_timeout, conn::sniff(stream, shared.config.timeout))
                    .await
            else {
                return;
            };
            let service = {
                let connection = Arc::clone(&connection);
                service_fn(move |request| {
                    let (shared, connection) = (Arc::clone(&shared), Arc::clone(&connection));
                    async move {
                        Ok::<_, Infallible>(handle(request, addrs, &shared, &connection).await)
                    }
                })
            };
            let io = TokioIo::new(stream);
            // A connection ends in error when the client goes away or
            // breaks the protocol: nothing to do but close it.
            let _ = match protocol {
                // Upgradable (WebSockets), which hyper-util's graceful
                // shutdown does not watch: the connection is told to stop
                // here, and the watcher held until it ends.
                Protocol::Http1 => {
                    let serving = builders.0.serve_connection(io, service).with_upgrades();
                    tokio::pin!(serving);
                    let stopping = async {
                        if !*stop.borrow_and_update() {
                            let _ = stop.changed().await;
                        }
                    };
                    let result = tokio::select! {
                        result = serving.as_mut() => result,
                        () = stopping => {
                            serving.as_mut().graceful_shutdown();
                            serving.await
                        }
                    };
                    drop(watcher);
                    result
                }
                Protocol::Http2 => {
                    watcher
                        .watch(builders.1.serve_connection(io, service))
                        .await
                }
            };
        });
        // Set before any request of the connection can be past its
        // deadline.
        let _ = connection.task.set(task.abort_handle());
    }
    drop(listener);
    shared.stop.send_replace(true);
    // Connections and WebSockets still busy past the limit are dropped
    // with the runtime.
    let drain = async {
        graceful.shutdown().await;
        if let Some(websockets) = &shared.websockets {
            websockets.drain().await;
        }
    };
    let _ = tokio::time::timeout(shared.config.drain_timeout, drain).await;
    Ok(())
}

/// The next connection on `listener`. A failed accept (out of
/// descriptors, or the peer gave up before accept) pauses 10 ms, rather
/// than spin, and accepting goes on.
pub async fn accept(listener: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Answers one request, and logs it.
async fn handle(
    request: Request<Incoming>,
    addrs: Addrs,
    shared: &Shared,
    connection: &Arc<Connection>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = respond(request, addrs, shared, connection).await;
    if !shared.config.quiet {
        // One write per line, so that lines of concurrent requests do not
        // interleave.
        let line = format!(
            "{method} {path} {} {}µs\n",
            response.status().as_u16(),
            started.elapsed().as_micros()
        );
        let _ = io::stderr().write_all(line.as_bytes());
    }
    response
}

/// The client's and the server's addresses of a connection.
type Addrs = (Option<SocketAddr>, Option<SocketAddr>);

/// An error response after which the connection is closed.
fn closing(status: StatusCode, why: &str) -> Response<ResponseBody> {
    let mut response = error_response(status, why);
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// Whether a request's `transfer-encoding` names a coding other than
/// `chunked` (RFC 9112, section 6.1: 501).
fn unknown_transfer_coding(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(hyper::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .any(|coding| !coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// What arrived of a body before its request took a slot.
enum BodyStart {
    /// The frames read, and the rest of the body if it has not ended.
    Read(Vec<Bytes>, Option<Incoming>),
    TooLarge(Incoming),
    Broken,
}

/// Reads `body` until it ends or `bound` bytes came.
async fn body_start(mut body: Incoming, bound: usize, max_body: u64) -> BodyStart {
    let mut frames = Vec::new();
    let mut total = 0;
    while total < bound {
        match body.frame().await {
            None => return BodyStart::Read(frames, None),
            Some(Err(_)) => return BodyStart::Broken,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    total += data.len();
                    if total as u64 > max_body {
                        return BodyStart::TooLarge(body);
                    }
                    frames.push(data);
                }
            }
        }
    }
    let rest = (!body.is_end_stream()).then_some(body);
    BodyStart::Read(frames, rest)
}

async fn respond(
    mut request: Request<Incoming>,
    (remote_addr, local_addr): Addrs,
    shared: &Shared,
    connection: &Arc<Connection>,
) -> Response<ResponseBody> {
    let deadline = tokio::time::Instant::now() + shared.config.timeout;
    let max_body = shared.config.max_body;
    if unknown_transfer_coding(&request) {
        tokio::spawn(linger(request.into_body()));
        return closing(
            StatusCode::NOT_IMPLEMENTED,
            "transfer codings other than chunked are not supported",
        );
    }
    // A WebSocket handshake is checked before the guest runs; a valid one
    // the guest may accept.
    let mut websocket = None;
    if let Some(websockets) = &shared.websockets {
        match socket::handshake(request.method(), request.version(), request.headers()) {
            Handshake::None => {}
            Handshake::Bad(response) => return response,
            Handshake::Valid { accept, protocols } => {
                let upgrade = hyper::upgrade::on(&mut request);
                let path = request.uri().path().to_owned();
                websocket = Some(Session::new(
                    accept,
                    protocols,
                    upgrade,
                    Arc::clone(websockets),
                    path,
                ));
            }
        }
    }
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body) {
        tokio::spawn(linger(request.into_body()));
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        );
    }
    let (parts, body) = request.into_parts();
    // A client trickling its body holds no slot while it does.
    let bound = shared.config.body_before_slot;
    let (first, rest) = if body.is_end_stream() {
        (Vec::new(), None)
    } else if bound == 0 {
        (Vec::new(), Some(body))
    } else {
        match timeout_at(deadline, body_start(body, bound, max_body)).await {
            Err(_) => {
                return closing(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not come in time",
                );
            }
            Ok(BodyStart::TooLarge(body)) => {
                tokio::spawn(linger(body));
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                );
            }
            Ok(BodyStart::Broken) => {
                return closing(StatusCode::BAD_REQUEST, "the request body is broken");
            }
            Ok(BodyStart::Read(first, rest)) => (first, rest),
        }
    };
    let slot = async {
        let connection = Arc::clone(&connection.slots).acquire_owned().await.ok()?;
        let server = Arc::clone(&shared.slots).acquire_owned().await.ok()?;
        Some(Slot {
            server,
            _connection: connection,
            parking: Some(Arc::clone(&shared.parking)),
        })
    };
    let slot = match timeout_at(deadline, slot).await {
        Ok(Some(slot)) => slot,
        Ok(None) => {
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
        }
        Err(_) => {
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy: no slot came free in time",
            );
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return response;
        }
    };
    // A request without a body (most GETs) needs no pipe and no pump: the
    // guest reads EOF after the head.
    let (reader, writer) = if first.is_empty() && rest.is_none() {
        (None, None)
    } else {
        match io::pipe() {
            Ok((reader, writer)) => (Some(reader), Some(writer)),
            Err(_) => {
                return error_response(StatusCode::SERVICE_UNAVAILABLE, "out of descriptors");
            }
        }
    };
    let head = RequestHead {
        remote_addr,
        local_addr,
        ..RequestHead::new(&parts)
    };
    let (exchange, reply) = Exchange::new(head, reader, max_body);
    if let Some(session) = websocket {
        exchange.offer_websocket(Arc::new(session));
    }
    let pump = writer.map(|writer| {
        tokio::spawn(pump(
            first,
            rest,
            writer.into(),
            max_body,
            Arc::clone(&exchange),
        ))
    });
    shared.dispatch.dispatch(Arc::clone(&exchange), slot);
    // At the deadline the exchange gets 504 or is aborted, its slot is
    // freed, its guest interrupted and the body stops flowing.
    let expire = |pump: &Option<tokio::task::JoinHandle<()>>, exchange: &Exchange| {
        if let Some(pump) = pump {
            pump.abort();
        }
        exchange.expire()
    };
    tokio::pin!(reply);
    let reply = tokio::select! {
        reply = &mut reply => reply,
        () = tokio::time::sleep_until(deadline) => {
            expire(&pump, &exchange);
            // The 504 (or whatever came first) is there now.
            reply.await
        }
    };
    let mut response = match reply {
        Ok(response) => response,
        Err(_) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the handler ended without a response",
        ),
    };
    // A guest still running, or a response still streaming, is watched
    // until the deadline: a response whose body is not delivered by then
    // closes the connection. (A whole body the client does not read is the
    // connection's stall timer's: see `conn::Rewound`.) Most requests
    // need no watchdog: their guest ended with a whole response.
    if response.body().is_streamed() || !exchange.slot_released() {
        let delivery = Arc::new(Delivery::default());
        response.body_mut().tell_delivered(Arc::clone(&delivery));
        let connection = Arc::clone(connection);
        tokio::spawn(async move {
            let settled = async { tokio::join!(delivery.wait(), exchange.settled()) };
            if timeout_at(deadline, settled).await.is_ok() {
                return;
            }

            if expire(&pump, &exchange) != Expired::Answered && !delivery.is_done() {
                connection.kill();
            }
        });
    }
    response
}

/// Passes the request body into the pipe the guest reads: the `first`
/// frames read before the request took its slot, then the `rest`, up to
/// `max` bytes; the pipe is closed at the end (EOF for the guest).
async fn pump(
    first: Vec<Bytes>,
    rest: Option<Incoming>,
    pipe: OwnedFd,
    max: u64,
    exchange: Arc<Exchange>,
) {
    let Ok(mut pipe) = tokio::net::unix::pipe::Sender::from_owned_fd(pipe) else {
        exchange.body_broken();
        return;
    };
    let mut total: u64 = 0;
    for data in &first {
        total += data.len() as u64;
        if pipe.write_all(data).await.is_err() {
            return;
        }
    }
    let Some(mut body) = rest else {
        return;
    };
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            exchange.body_broken();
            return;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > max {
            exchange.body_too_large();
            return linger(body).await;
        }
        // The guest stopped reading (it ended): the rest is not needed.
        if pipe.write_all(&data).await.is_err() {
            return linger(body).await;
        }
    }
}

/// The most body bytes the server still reads and throws away once it
/// stopped passing a body on (see [`linger`]).
const LINGER_BYTES: u64 = 4 << 20;

/// The longest the server reads a body it no longer needs (see [`linger`]).
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Reads and discards what is left of a body the server answered without
/// (413, or a guest that ended without reading it all), up to
/// [`LINGER_BYTES`] and for [`LINGER_TIME`], then drops it, which closes
/// the connection. A client still sending then gets to read its response:
/// closing a socket with unread data at once sends a reset, and the
/// client's write fails before it sees the answer (nginx's lingering
/// close does the same).
async fn linger(mut body: Incoming) {
    let drain = async {
        let mut left = LINGER_BYTES;
        while let Some(Ok(frame)) = body.frame().await {
            let len = frame.data_ref().map_or(0, |data| data.len() as u64);
            let Some(rest) = left.checked_sub(len) else {
                return;
            };
            left = rest;
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(run: impl FnOnce()) -> Run {
        let before = ThreadUsage::now();
        assert!(before.is_some(), "getrusage(RUSAGE_THREAD) failed");
        run();
        Run::judge(before, false)
    }

    /// How a run whose response waited for the client is judged.
    fn judged_waiting(run: impl FnOnce()) -> Run {
        let before = ThreadUsage::now();
        run();
        Run::judge(before, true)
    }

    #[test]
    fn runs_are_judged_by_cpu_and_waits() {
        assert_eq!(judged(|| {}), Run::Quick);
        assert_eq!(
            judged(|| std::thread::sleep(Duration::from_millis(20))),
            Run::Waited
        );
        assert_eq!(
            judged(|| std::thread::sleep(Duration::from_millis(150))),
            Run::Slow
        );
        let spin = || {
            let start = ThreadUsage::now().unwrap().cpu;
            while ThreadUsage::now().unwrap().cpu - start <= INLINE_MAX_CPU {}
        };
        assert_eq!(judged(spin), Run::Slow);
        // A response that waited for the client is judged by its CPU
        // time alone.
        assert_eq!(
            judged_waiting(|| std::thread::sleep(Duration::from_millis(150))),
            Run::Quick
        );
        assert_eq!(judged_waiting(spin), Run::Slow);
    }

    #[test]
    fn one_short_wait_leaves_the_gate_open_two_shut_it() {
        let gate = InlineGate::new();
        gate.record(Run::Waited);
        assert!(gate.is_open());
        gate.record(Run::Quick);
        gate.record(Run::Waited);
        assert!(!gate.is_open());
    }

    #[test]
    fn slow_runs_shut_the_gate_for_doubling_periods() {
        let gate = InlineGate::new();
        gate.record(Run::Slow);
        assert!(!gate.is_open());
        let first = gate.shut_until.load(Ordering::Relaxed) - gate.now();
        assert!(first <= micros(INLINE_FIRST_SHUT));
        gate.record(Run::Slow);
        let second = gate.shut_until.load(Ordering::Relaxed) - gate.now();
        assert!(second > micros(INLINE_FIRST_SHUT), "{second}");
        // A quick run resets the period, not the shut gate.
        gate.record(Run::Quick);
        assert!(!gate.is_open());
        assert_eq!(
            gate.next_shut.load(Ordering::Relaxed),
            micros(INLINE_FIRST_SHUT)
        );
    }
}
