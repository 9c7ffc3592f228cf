//! WebSocket daemons: the RFC 6455 handshake a function accepts by
//! answering 101, and `/response/socket`, the WebSocket's messages as a
//! framed byte stream (`spec/wasi-cloud.md`, "WebSocket daemons").
//!
//! A [`Session`] joins the two sides: the guest's reads and writes of
//! `/response/socket` (on the guest's blocking thread), and the task that
//! runs the WebSocket over the upgraded connection ([`converse`]), spawned
//! when the guest accepts. Between them, a bounded queue each way.

use crate::body::ResponseBody;
use crate::exchange::{block_on_here, error_response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use std::io::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig as WsConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};
use wasi_core::Errno;
use wasi_core::budget::{HostBudget, Reservation};
use wasi_core::runtime::Interrupter;
use wasi_core::sync::lock;

/// The limits of WebSocket daemons (`spec/wasi-cloud.md`, "WebSocket
/// daemons", 5).
#[derive(Clone, Debug)]
pub struct WebSocketConfig {
    /// WebSockets open at once; the next handshake a guest accepts gets
    /// 503.
    pub max_websockets: usize,
    /// The largest message, either way: a client's larger one closes the
    /// WebSocket with 1009, a guest's fails its write with `EMSGSIZE`.
    pub max_message: usize,
    /// A WebSocket with no message either way for this long is closed
    /// with 1001.
    pub idle_timeout: Duration,
    /// A WebSocket is closed with 1001 this long after its 101.
    pub lifetime: Duration,
}

/// [`WebSocketConfig::idle_timeout`] when none is given.
pub const DEFAULT_WEBSOCKET_IDLE: Duration = Duration::from_secs(300);

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            max_websockets: 256,
            max_message: 1 << 20,
            idle_timeout: DEFAULT_WEBSOCKET_IDLE,
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// How long a guest has to end once the server closed its WebSocket,
/// before it is interrupted.
pub const GUEST_GRACE: Duration = Duration::from_secs(5);

/// How long the server waits for the other side's answering close.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Messages waiting each way between the guest and the client.
const QUEUE: usize = 16;

/// A message's header in `/response/socket`: kind, then length (u32 LE).
const HEADER: usize = 5;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
const CLOSE: u8 = 8;

/// The largest payload of a close message (RFC 6455, 5.5).
const MAX_CLOSE: usize = 125;

/// Close codes the server uses.
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const NO_STATUS: u16 = 1005;
const ABNORMAL: u16 = 1006;
const INVALID_DATA: u16 = 1007;
const TOO_BIG: u16 = 1009;
const INTERNAL_ERROR: u16 = 1011;

/// What the server's WebSockets share: their limits, their count, the
/// shutdown signal, the access log's switch.
pub(crate) struct WebSockets {
    pub(crate) config: WebSocketConfig,
    /// One permit per WebSocket open.
    count: Arc<Semaphore>,
    /// Turns `true` when the server stops.
    stop: watch::Receiver<bool>,
    quiet: bool,
}

impl WebSockets {
    /// The server's WebSockets, told to close when `stop` turns `true`.
    /// A message's length must fit the framing's u32, and the count a
    /// semaphore: larger bounds are lowered to those.
    pub(crate) fn new(
        mut config: WebSocketConfig,
        stop: watch::Receiver<bool>,
        quiet: bool,
    ) -> Self {
        let most = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        config.max_websockets = config.max_websockets.clamp(1, most);
        config.max_message = config.max_message.min(u32::MAX as usize);
        Self {
            count: Arc::new(Semaphore::new(config.max_websockets)),
            config,
            stop,
            quiet,
        }
    }

    /// Waits until every WebSocket ended (its connection and its
    /// instance).
    pub(crate) async fn drain(&self) {
        let all = u32::try_from(self.config.max_websockets).unwrap_or(u32::MAX);
        let _ = self.count.acquire_many(all).await;
    }
}

/// What a request's head says of a WebSocket handshake.
pub(crate) enum Handshake {
    /// Not a WebSocket request.
    None,
    /// A valid handshake: the `sec-websocket-accept` to answer with, and
    /// the subprotocols the client offered.
    Valid {
        accept: String,
        protocols: Vec<String>,
    },
    /// `upgrade: websocket` with a broken handshake: the server's answer.
    Bad(Response<ResponseBody>),
}

/// Whether the comma-separated `field` of `headers` has `token`.
fn has_token(headers: &HeaderMap, field: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(field)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Checks a request head for an RFC 6455 handshake (section 4.2.1).
pub(crate) fn handshake(method: &Method, version: Version, headers: &HeaderMap) -> Handshake {
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Handshake::None;
    }
    // RFC 8441 (over HTTP/2) is not spoken: such a request is an ordinary
    // one.
    if version != Version::HTTP_11 {
        return Handshake::None;
    }
    let bad = |why: &str| Handshake::Bad(error_response(StatusCode::BAD_REQUEST, why));
    if method != Method::GET {
        return bad("a WebSocket handshake must be a GET");
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return bad("a WebSocket handshake needs connection: upgrade");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut response = error_response(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is spoken",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Handshake::Bad(response);
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return bad("a WebSocket handshake needs sec-websocket-key");
    };
    if BASE64.decode(key.as_bytes()).map(|k| k.len()) != Ok(16) {
        return bad("sec-websocket-key is not the base64 of 16 bytes");
    }
    let protocols = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    Handshake::Valid {
        accept: tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        protocols,
    }
}

/// Why a guest's 101 was refused.
pub(crate) enum Refusal {
    /// The 101 is malformed (502), for this reason.
    Malformed(String),
    /// `--max-websockets` are open (503).
    Busy,
}

/// A message from the client, framed for the guest, its bytes charged to
/// the guest's host memory until read.
struct Inbound {
    bytes: Vec<u8>,
    held: Reservation,
}

/// A message from the guest, its bytes charged until sent.
type Outbound = (Message, Reservation);

/// The guest's reading side of `/response/socket`.
struct Reader {
    queue: mpsc::Receiver<Inbound>,
    current: Vec<u8>,
    /// `current`'s charge, until it is all read.
    held: Option<Reservation>,
    pos: usize,
    /// The last message (the close) was given: EOF from now on.
    ended: bool,
}

/// The guest's writing side: the message in progress.
struct Writer {
    queue: mpsc::Sender<Outbound>,
    header: [u8; HEADER],
    header_len: usize,
    payload: Vec<u8>,
    /// The payload's bytes, charged to the guest's host memory.
    held: Option<Reservation>,
}

impl Writer {
    fn reset(&mut self) {
        self.header_len = 0;
        self.payload = Vec::new();
        if let Some(held) = &mut self.held {
            // Shrinking always succeeds.
            let _ = held.try_resize(0);
        }
    }

    fn kind(&self) -> u8 {
        self.header[0]
    }

    fn len(&self) -> usize {
        let [_, a, b, c, d] = self.header;
        u32::from_le_bytes([a, b, c, d]) as usize
    }
}

/// An eventfd readable while `/response/socket` has bytes to read, or
/// its end (`poll_oneoff`: [`wasi_core::vfs::VirtualFile::ready_fd`]).
struct Ready(OwnedFd);

impl Ready {
    /// A new eventfd, not readable; `None` when the kernel gives none
    /// (then the file is always ready, as virtual files are by default).
    fn new() -> Option<Self> {
        use rustix::event::{EventfdFlags, eventfd};
        eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .ok()
            .map(Self)
    }

    /// Makes it readable. Its counter cannot overflow from our few signals
    /// between clears; a failure leaves it readable anyway.
    fn signal(&self) {
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// Makes it not readable (until the next signal); non-blocking
    /// (`EAGAIN` when already clear).
    fn clear(&self) {
        let _ = rustix::io::read(&self.0, &mut [0; 8]);
    }
}

/// The host's ends of the queues, taken by the task that runs the
/// WebSocket.
struct HostEnds {
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<Outbound>,
    upgrade: OnUpgrade,
}

/// One WebSocket request, from its handshake to its end.
pub(crate) struct Session {
    accept: String,
    protocols: Vec<String>,
    websockets: Arc<WebSockets>,
    /// The request's path, for the access log.
    path: String,
    /// Set once the guest's 101 went out.
    accepted: AtomicBool,
    /// The server stopped taking the guest's messages: writes fail with
    /// `EPIPE`.
    closed: AtomicBool,
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
    host: Mutex<Option<HostEnds>>,
    /// The guest's host memory, known from its first open.
    budget: OnceLock<HostBudget>,
    opened: Notify,
    /// The close message the guest reads last.
    last_close: Mutex<Option<Vec<u8>>>,
    /// How the guest ended: the close code to send, 0 while it runs.
    ended_code: AtomicU32,
    ended: Notify,
    interrupter: Mutex<Option<Interrupter>>,
    /// The server's runtime, which runs the WebSocket once accepted.
    runtime: tokio::runtime::Handle,
    /// Readable while the guest has something to read.
    ready: Option<Ready>,
}

impl Session {
    /// A session for a valid handshake of the request to `path`, its
    /// connection upgraded through `upgrade`; made on the server's runtime,
    /// which will run the WebSocket.
    pub(crate) fn new(
        accept: String,
        protocols: Vec<String>,
        upgrade: OnUpgrade,
        websockets: Arc<WebSockets>,
        path: String,
    ) -> Self {
        let (inbound, queue) = mpsc::channel(QUEUE);
        let (tx, outbound) = mpsc::channel(QUEUE);
        Self {
            accept,
            protocols,
            websockets,
            path,
            accepted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            reader: Mutex::new(Reader {
                queue,
                current: Vec::new(),
                held: None,
                pos: 0,
                ended: false,
            }),
            writer: Mutex::new(Writer {
                queue: tx,
                header: [0; HEADER],
                header_len: 0,
                payload: Vec::new(),
                held: None,
            }),
            host: Mutex::new(Some(HostEnds {
                inbound,
                outbound,
                upgrade,
            })),
            budget: OnceLock::new(),
            opened: Notify::new(),
            last_close: Mutex::new(None),
            ended_code: AtomicU32::new(0),
            ended: Notify::new(),
            interrupter: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
            ready: Ready::new(),
        }
    }

    /// Checks the guest's 101 and completes its head (`headers`): on
    /// success the WebSocket is counted and its task started, the
    /// instance (`interrupter`) closed in at its limits.
    pub(crate) fn accept(
        self: &Arc<Self>,
        headers: &mut HeaderMap,
        interrupter: Option<Interrupter>,
    ) -> Result<(), Refusal> {
        if let Some(protocol) = headers.get(header::SEC_WEBSOCKET_PROTOCOL) {
            let offered = protocol
                .to_str()
                .is_ok_and(|p| self.protocols.iter().any(|o| o == p.trim()));
            if !offered {
                return Err(Refusal::Malformed(
                    "the handler chose a WebSocket subprotocol the client did not offer".into(),
                ));
            }
        }
        let permit = Arc::clone(&self.websockets.count)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy)?;
        let accept = HeaderValue::from_str(&self.accept)
            .map_err(|_| Refusal::Malformed("invalid accept key".into()))?;
        headers.remove(header::SEC_WEBSOCKET_ACCEPT);
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        let Some(ends) = lock(&self.host).take() else {
            return Err(Refusal::Malformed(
                "the WebSocket was accepted twice".into(),
            ));
        };
        *lock(&self.interrupter) = interrupter;
        self.accepted.store(true, Ordering::Release);
        self.runtime.spawn(run(Arc::clone(self), ends, permit));
        Ok(())
    }

    /// The guest's run ended with `code` (0: exited with 0): its
    /// WebSocket is closed with 1000, or 1011.
    pub(crate) fn guest_ended(&self, exit_code: Option<u32>) {
        let code = if exit_code == Some(0) {
            NORMAL
        } else {
            INTERNAL_ERROR
        };
        if self
            .ended_code
            .compare_exchange(0, u32::from(code), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.ended.notify_one();
        }
    }

    /// Opens `/response/socket`: `ENOTCONN` before the 101 went out.
    pub(crate) fn open(&self, budget: &HostBudget) -> wasi_core::system::Result<()> {
        if !self.accepted.load(Ordering::Acquire) {
            return Err(Errno::NOTCONN);
        }
        if self.budget.set(budget.clone()).is_ok() {
            self.opened.notify_one();
        }
        Ok(())
    }

    /// The descriptor readable while a read would not block, for
    /// `poll_oneoff`.
    pub(crate) fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        self.ready.as_ref().map(|ready| ready.0.as_fd())
    }

    /// Tells `poll_oneoff` there is more to read.
    fn signal_ready(&self) {
        if let Some(ready) = &self.ready {
            ready.signal();
        }
    }

    /// A read of `/response/socket`: waits for at least one byte of the
    /// stream, or its end (0).
    pub(crate) fn read(&self, buf: &mut [u8]) -> wasi_core::system::Result<usize> {
        let mut reader = lock(&self.reader);
        loop {
            if reader.pos < reader.current.len() {
                let start = reader.pos;
                let n = buf.len().min(reader.current.len() - start);
                buf[..n].copy_from_slice(&reader.current[start..start + n]);
                reader.pos += n;
                if reader.pos == reader.current.len() {
                    reader.held = None;
                    // Nothing left in hand: readable again only with a
                    // message queued, or the end (cleared first, so that
                    // a message queued meanwhile signals after).
                    if let Some(ready) = self.ready.as_ref().filter(|_| !reader.ended) {
                        ready.clear();
                        if !reader.queue.is_empty() || reader.queue.is_closed() {
                            ready.signal();
                        }
                    }
                }
                return Ok(n);
            }
            if reader.ended || buf.is_empty() {
                return Ok(0);
            }
            let next = match reader.queue.try_recv() {
                Ok(message) => Some(message),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                // Only this guest's threads wait on its reader's lock.
                Err(mpsc::error::TryRecvError::Empty) => block_on_here(reader.queue.recv()),
            };
            match next {
                Some(message) => {
                    reader.current = message.bytes;
                    reader.held = Some(message.held);
                    reader.pos = 0;
                }
                None => {
                    // The WebSocket ended: its close message, then EOF.
                    reader.current = lock(&self.last_close)
                        .take()
                        .unwrap_or_else(|| close_message(ABNORMAL, ""));
                    reader.held = None;
                    reader.pos = 0;
                    reader.ended = true;
                }
            }
        }
    }

    /// A write of `/response/socket`: takes bytes of messages, sending each
    /// when complete (`spec/wasi-cloud.md`, "WebSocket daemons", 4).
    pub(crate) fn write(&self, data: &[u8]) -> wasi_core::system::Result<usize> {
        let mut writer = lock(&self.writer);
        if self.closed.load(Ordering::Acquire) {
            return Err(Errno::PIPE);
        }
        let mut taken = 0;
        while taken < data.len() {
            let rest = &data[taken..];
            if writer.header_len < HEADER {
                let start = writer.header_len;
                let n = rest.len().min(HEADER - start);
                writer.header[start..start + n].copy_from_slice(&rest[..n]);
                writer.header_len += n;
                taken += n;
                if writer.header_len < HEADER {
                    break;
                }
                if let Err(errno) = self.begin(&mut writer) {
                    writer.reset();
                    return Err(errno);
                }
            } else {
                let n = rest.len().min(writer.len() - writer.payload.len());
                writer.payload.extend_from_slice(&rest[..n]);
                taken += n;
            }
            if writer.payload.len() == writer.len() {
                let sent = self.send(&mut writer);
                writer.reset();
                sent?;
            }
        }
        Ok(taken)
    }

    /// Checks a complete header, and charges its payload.
    fn begin(&self, writer: &mut Writer) -> wasi_core::system::Result<()> {
        let len = writer.len();
        match writer.kind() {
            TEXT | BINARY if len > self.websockets.config.max_message => {
                return Err(Errno::MSGSIZE);
            }
            TEXT | BINARY => {}
            CLOSE if len == 1 || len > MAX_CLOSE => return Err(Errno::INVAL),
            CLOSE => {}
            _ => return Err(Errno::INVAL),
        }
        let budget = self.budget.get().ok_or(Errno::NOTCONN)?;
        let held = writer.held.get_or_insert_with(|| budget.reservation());
        held.try_resize(len as u64).map_err(|_| Errno::NOSPC)?;
        // Bounded by `max_message`, or by `MAX_CLOSE`, above.
        writer.payload = Vec::with_capacity(len);
        Ok(())
    }

    /// Sends the writer's complete message to the client.
    fn send(&self, writer: &mut Writer) -> wasi_core::system::Result<()> {
        let payload = std::mem::take(&mut writer.payload);
        let message = match writer.kind() {
            TEXT => Message::Text(Utf8Bytes::try_from(payload).map_err(|_| Errno::INVAL)?),
            BINARY => Message::Binary(Bytes::from(payload)),
            _ => Message::Close(close_frame(&payload).ok_or(Errno::INVAL)?),
        };
        let closing = matches!(message, Message::Close(_));
        let budget = self.budget.get().ok_or(Errno::NOTCONN)?;
        // The payload's charge goes with it until it is sent.
        let held = std::mem::replace(
            writer.held.get_or_insert_with(|| budget.reservation()),
            budget.reservation(),
        );
        let queued = match writer.queue.try_send((message, held)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Errno::PIPE),
            Err(mpsc::error::TrySendError::Full(out)) => {
                block_on_here(writer.queue.send(out)).map_err(|_| Errno::PIPE)
            }
        };
        if closing {
            self.closed.store(true, Ordering::Release);
        }
        queued
    }

    /// Records the close message the guest reads last (the first one
    /// recorded stands).
    fn close_with(&self, code: u16, reason: &str) {
        let mut last = lock(&self.last_close);
        if last.is_none() {
            *last = Some(close_message(code, reason));
        }
    }
}

/// A close message in the guest's framing.
fn close_message(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CLOSE - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    let mut bytes = Vec::with_capacity(HEADER + 2 + reason.len());
    bytes.push(CLOSE);
    bytes.extend_from_slice(&(2 + reason.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&code.to_be_bytes());
    bytes.extend_from_slice(reason);
    bytes
}

/// The close frame a guest's close payload describes: `None` when it is
/// not a valid one (a code a peer may send, a UTF-8 reason).
fn close_frame(payload: &[u8]) -> Option<Option<CloseFrame>> {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return payload.is_empty().then_some(None);
    };
    let code = u16::from_be_bytes(*code);
    let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
    let reason = std::str::from_utf8(reason).ok()?;
    valid.then(|| {
        Some(CloseFrame {
            code: code.into(),
            reason: reason.into(),
        })
    })
}

/// A message from the client, in the guest's framing: `None` for what
/// the guest does not see (pings, pongs).
fn framed(message: &Message) -> Option<Vec<u8>> {
    let (kind, payload): (u8, &[u8]) = match message {
        Message::Text(text) => (TEXT, text.as_bytes()),
        Message::Binary(data) => (BINARY, data),
        _ => return None,
    };
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.push(kind);
    // A message is at most `max_message`, which `WebSockets::new` keeps
    // within u32.
    bytes.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    bytes.extend_from_slice(payload);
    Some(bytes)
}

/// The close code for an error of the client's WebSocket.
fn error_code(error: &WsError) -> (u16, &'static str) {
    match error {
        WsError::Capacity(_) => (TOO_BIG, "message too big"),
        WsError::Utf8(_) => (INVALID_DATA, "text is not UTF-8"),
        // The connection went away without a close.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => (ABNORMAL, ""),
        WsError::Protocol(_) => (PROTOCOL_ERROR, "protocol error"),
        _ => (ABNORMAL, ""),
    }
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Runs a WebSocket from its upgrade to the end of its instance, holding
/// its `permit` of the server's count.
async fn run(session: Arc<Session>, ends: HostEnds, permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let HostEnds {
        inbound,
        mut outbound,
        upgrade,
    } = ends;
    let code = match upgrade.await {
        Ok(upgraded) => {
            let limits = &session.websockets.config;
            let config = WsConfig::default()
                .max_message_size(Some(limits.max_message))
                .max_frame_size(Some(limits.max_message));
            let mut socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            converse(&session, &mut socket, inbound, &mut outbound, started).await
        }
        Err(_) => {
            session.close_with(ABNORMAL, "");
            ABNORMAL
        }
    };
    // The queues' host ends are gone: the guest reads the close message
    // and EOF, its writes fail with `EPIPE`.
    session.closed.store(true, Ordering::Release);
    drop(outbound);
    session.signal_ready();
    // The guest has a while to end; then it is stopped.
    if session.ended_code.load(Ordering::Acquire) == 0
        && timeout(GUEST_GRACE, session.ended.notified())
            .await
            .is_err()
    {
        let interrupter = lock(&session.interrupter).take();
        if let Some(interrupter) = interrupter {
            interrupter.interrupt();
            // Within 10 ms of wasm on wasmtime; one blocked in a host call
            // of its own is not waited for long.
            let _ = timeout(CLOSE_WAIT, session.ended.notified()).await;
        }
    }
    drop(permit);
    if !session.websockets.quiet {
        let line = format!(
            "WS {} {code} {}ms\n",
            session.path,
            started.elapsed().as_millis()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// Passes messages between the client's `socket` and the guest until the
/// WebSocket closes; returns the close code sent or received.
async fn converse(
    session: &Session,
    socket: &mut Socket,
    inbound: mpsc::Sender<Inbound>,
    outbound: &mut mpsc::Receiver<Outbound>,
    started: Instant,
) -> u16 {
    let limits = &session.websockets.config;
    let lifetime = started + limits.lifetime;
    let mut stop = session.websockets.stop.clone();
    if *stop.borrow_and_update() {
        return host_close(session, socket, GOING_AWAY, "server shutting down").await;
    }
    let mut last = Instant::now();
    let mut opened = session.budget.get().is_some();
    // Room in the guest's queue, taken before a message is read from the
    // client: a guest that does not read holds the client back.
    let mut room: Option<mpsc::OwnedPermit<Inbound>> = None;
    loop {
        tokio::select! {
            () = session.opened.notified(), if !opened => opened = true,
            taken = inbound.clone().reserve_owned(), if opened && room.is_none() => {
                match taken {
                    Ok(taken) => room = Some(taken),
                    // The guest's reader is gone with its session.
                    Err(_) => return host_close(session, socket, GOING_AWAY, "").await,
                }
            }
            message = socket.next(), if room.is_some() => {
                last = Instant::now();
                let message = match message {
                    None => {
                        session.close_with(ABNORMAL, "");
                        return ABNORMAL;
                    }
                    Some(Err(error)) => {
                        let (code, reason) = error_code(&error);
                        if code == ABNORMAL {
                            session.close_with(ABNORMAL, "");
                            return ABNORMAL;
                        }
                        return host_close(session, socket, code, reason).await;
                    }
                    Some(Ok(message)) => message,
                };
                if let Message::Close(frame) = message {
                    let (code, reason) = frame.map_or((NO_STATUS, Utf8Bytes::default()), |f| {
                        (f.code.into(), f.reason)
                    });
                    session.close_with(code, &reason);
                    // tungstenite answers the close; the client then
                    // closes the connection.
                    let _ = timeout(CLOSE_WAIT, async {
                        while socket.next().await.is_some() {}
                    })
                    .await;
                    return code;
                }
                let Some(bytes) = framed(&message) else {
                    continue;
                };
                let Some(budget) = session.budget.get() else {
                    continue;
                };
                let Ok(held) = budget.try_reserve(bytes.len() as u64) else {
                    return host_close(
                        session,
                        socket,
                        TOO_BIG,
                        "message too big for the handler's memory",
                    )
                    .await;
                };
                if let Some(room) = room.take() {
                    room.send(Inbound { bytes, held });
                    session.signal_ready();
                }
            }
            out = outbound.recv() => {
                last = Instant::now();
                let Some((message, _held)) = out else {
                    continue;
                };
                let closing = match &message {
                    Message::Close(frame) => {
                        Some(frame.as_ref().map_or(NO_STATUS, |f| f.code.into()))
                    }
                    _ => None,
                };
                if socket.send(message).await.is_err() {
                    session.close_with(ABNORMAL, "");
                    return ABNORMAL;
                }
                if let Some(code) = closing {
                    await_close(session, socket).await;
                    return code;
                }
            }
            () = session.ended.notified() => {
                let code = u16::try_from(session.ended_code.load(Ordering::Acquire))
                    .unwrap_or(INTERNAL_ERROR);
                // Notified again for `run`, which waits for the same end.
                session.ended.notify_one();
                let reason = if code == NORMAL { "" } else { "the handler failed" };
                return host_close(session, socket, code, reason).await;
            }
            () = sleep_until(last + limits.idle_timeout) => {
                return host_close(session, socket, GOING_AWAY, "idle timeout").await;
            }
            () = sleep_until(lifetime) => {
                return host_close(session, socket, GOING_AWAY, "lifetime ended").await;
            }
            Ok(()) = stop.changed() => {
                if *stop.borrow_and_update() {
                    return host_close(session, socket, GOING_AWAY, "server shutting down").await;
                }
            }
        }
    }
}

/// Closes the WebSocket from the server's side with `code`: the client
/// gets a close frame, the guest a close message; returns `code`.
async fn host_close(session: &Session, socket: &mut Socket, code: u16, reason: &str) -> u16 {
    session.close_with(code, reason);
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        let _ = timeout(CLOSE_WAIT, async {
            while let Some(Ok(message)) = socket.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    code
}

/// Waits (up to [`CLOSE_WAIT`]) for the client's answer to the guest's
/// close, recorded for the guest to read; 1006 without one.
async fn await_close(session: &Session, socket: &mut Socket) {
    let answer = timeout(CLOSE_WAIT, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return Some(frame);
            }
        }
        None
    })
    .await;
    match answer {
        Ok(Some(Some(frame))) => session.close_with(frame.code.into(), &frame.reason),
        Ok(Some(None)) => session.close_with(NO_STATUS, ""),
        _ => session.close_with(ABNORMAL, ""),
    }
}

/// The response for a handshake when the server's WebSockets are all
/// taken.
pub(crate) fn busy() -> Response<ResponseBody> {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many WebSockets are open",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    const GOOD: [(&str, &str); 4] = [
        ("upgrade", "WebSocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn handshakes_are_checked() {
        match handshake(&Method::GET, Version::HTTP_11, &head(&GOOD)) {
            // RFC 6455, section 1.3's example.
            Handshake::Valid { accept, protocols } => {
                assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
                assert!(protocols.is_empty());
            }
            _ => panic!("a valid handshake"),
        }
        assert!(matches!(
            handshake(&Method::GET, Version::HTTP_11, &head(&GOOD[1..])),
            Handshake::None
        ));
        assert!(matches!(
            handshake(&Method::GET, Version::HTTP_2, &head(&GOOD)),
            Handshake::None
        ));
        let status = |method: Method, fields: &[(&str, &str)]| match handshake(
            &method,
            Version::HTTP_11,
            &head(fields),
        ) {
            Handshake::Bad(response) => response.status(),
            _ => panic!("a bad handshake: {fields:?}"),
        };
        assert_eq!(status(Method::POST, &GOOD), 400);
        let mut fields = GOOD;
        fields[3].1 = "c2hvcnQ=";
        assert_eq!(status(Method::GET, &fields), 400);
        fields = GOOD;
        fields[2].1 = "8";
        assert_eq!(status(Method::GET, &fields), 426);
        fields = GOOD;
        fields[1].1 = "keep-alive";
        assert_eq!(status(Method::GET, &fields), 400);
    }

    /// A session as after the guest's 101 and first open (its WebSocket
    /// not running: the test holds the host's ends), on `runtime`.
    fn accepted(
        runtime: &tokio::runtime::Runtime,
        budget: &HostBudget,
    ) -> (Arc<Session>, HostEnds) {
        let _entered = runtime.enter();
        let config = WebSocketConfig {
            max_message: 16,
            ..WebSocketConfig::default()
        };
        let (_stop, stopping) = watch::channel(false);
        let websockets = Arc::new(WebSockets::new(config, stopping, true));
        let upgrade = hyper::upgrade::on(hyper::Request::new(()));
        let session = Arc::new(Session::new(
            String::new(),
            Vec::new(),
            upgrade,
            websockets,
            "/".into(),
        ));
        assert_eq!(session.open(budget), Err(Errno::NOTCONN), "before the 101");
        session.accepted.store(true, Ordering::Release);
        session.open(budget).unwrap();
        let ends = lock(&session.host).take().unwrap();
        (session, ends)
    }

    /// A server's WebSockets, at most `max` open.
    fn websockets(max: usize) -> Arc<WebSockets> {
        let config = WebSocketConfig {
            max_websockets: max,
            ..WebSocketConfig::default()
        };
        let (_stop, stopping) = watch::channel(false);
        Arc::new(WebSockets::new(config, stopping, true))
    }

    /// An exchange for a GET offering a WebSocket of `websockets`
    /// (subprotocols: `chat`); the runtime must be entered.
    fn offered(
        websockets: &Arc<WebSockets>,
    ) -> (
        Arc<crate::Exchange>,
        tokio::sync::oneshot::Receiver<Response<ResponseBody>>,
    ) {
        let head = crate::RequestHead {
            method: "GET".into(),
            target: "/".into(),
            version: "HTTP/1.1",
            headers: Vec::new(),
            remote_addr: None,
            local_addr: None,
        };
        let (exchange, reply) = crate::Exchange::new(head, None, 0);
        exchange.offer_websocket(Arc::new(Session::new(
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
            vec!["chat".into()],
            hyper::upgrade::on(hyper::Request::new(())),
            Arc::clone(websockets),
            "/".into(),
        )));
        (exchange, reply)
    }

    #[test]
    fn a_101_is_checked_and_completed_by_the_host() {
        use crate::exchange::Writer as File;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let one = websockets(1);
        // `/response/json`: the host's fields are added, the guest's
        // subprotocol kept; the slot is given back.
        let (exchange, mut reply) = offered(&one);
        exchange.open_writer(File::Json).unwrap();
        let json =
            br#"{"status": 101, "headers": [["sec-websocket-protocol", "chat"], ["x-a", "1"]]}"#;
        exchange.write_json(json).unwrap();
        exchange.close_writer();
        let response = reply.try_recv().unwrap();
        assert_eq!(response.status(), 101);
        let headers = response.headers();
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["connection"], "upgrade");
        assert_eq!(
            headers["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(headers["sec-websocket-protocol"], "chat");
        assert_eq!(headers["x-a"], "1");
        assert!(exchange.slot_released() && exchange.is_done());

        // Its one place is taken: the next 101 gets 503, `EBUSY`.
        let head = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let (busy, mut reply) = offered(&one);
        busy.open_writer(File::Txt).unwrap();
        assert_eq!(busy.write_txt(head), Err(Errno::BUSY));
        assert_eq!(reply.try_recv().unwrap().status(), 503);

        // A subprotocol the client did not offer, a 101 with a body: 502.
        let more = websockets(4);
        let (exchange, mut reply) = offered(&more);
        exchange.open_writer(File::Txt).unwrap();
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nsec-websocket-protocol: nope\r\n\r\n";
        assert_eq!(exchange.write_txt(bad), Err(Errno::INVAL));
        assert_eq!(reply.try_recv().unwrap().status(), 502);
        let (exchange, mut reply) = offered(&more);
        exchange.open_writer(File::Json).unwrap();
        exchange
            .write_json(br#"{"status": 101, "body": "x"}"#)
            .unwrap();
        exchange.close_writer();
        assert_eq!(reply.try_recv().unwrap().status(), 502);
        // A txt 101 takes its head only.
        let (exchange, mut reply) = offered(&more);
        exchange.open_writer(File::Txt).unwrap();
        assert_eq!(exchange.write_txt(b"HTTP/1.1 101 OK\r\n\r\nmore"), Ok(19));
        assert_eq!(reply.try_recv().unwrap().status(), 101);
        assert_eq!(exchange.write_txt(b"more"), Err(Errno::PIPE));
    }

    #[test]
    fn the_guests_messages_are_checked_and_sent_whole() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let budget = HostBudget::new(1 << 20);
        let (session, mut ends) = accepted(&runtime, &budget);
        // A message split anywhere, even in its header, goes out whole.
        let message = b"\x02\x03\0\0\0abc\x01\x02\0\0\0hi";
        for part in [&message[..2], &message[2..6], &message[6..]] {
            assert_eq!(session.write(part), Ok(part.len()));
        }
        let (first, _) = ends.outbound.try_recv().unwrap();
        assert_eq!(first, Message::Binary(Bytes::from_static(b"abc")));
        let (second, _) = ends.outbound.try_recv().unwrap();
        assert_eq!(second, Message::Text("hi".into()));
        // Bad messages fail, and the next write starts a new one.
        for (bad, errno) in [
            (&b"\x03\0\0\0\0"[..], Errno::INVAL),
            (b"\x02\x11\0\0\0", Errno::MSGSIZE),
            (b"\x01\x01\0\0\0\xff", Errno::INVAL),
            (b"\x08\x02\0\0\0\x03\xee", Errno::INVAL),
            (b"\x08\x01\0\0\0", Errno::INVAL),
        ] {
            assert_eq!(session.write(bad), Err(errno), "{bad:?}");
            assert!(ends.outbound.try_recv().is_err());
        }
        // Nothing of them stays charged.
        assert_eq!(budget.used(), 0);
        assert_eq!(session.write(b"\x08\x02\0\0\0\x03\xe8"), Ok(7));
        let (close, _) = ends.outbound.try_recv().unwrap();
        assert!(matches!(close, Message::Close(Some(frame)) if u16::from(frame.code) == 1000));
        // After its close, the guest writes no more.
        assert_eq!(session.write(b"\x01"), Err(Errno::PIPE));
    }

    /// Whether `poll` finds the session's ready descriptor readable now.
    fn readable(session: &Session) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let fd = session.ready_fd().expect("an eventfd");
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        poll(&mut fds, Some(&Timespec::default())).unwrap() == 1
    }

    #[test]
    fn the_guest_reads_messages_then_the_close_then_eof() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let budget = HostBudget::new(1 << 20);
        let (session, ends) = accepted(&runtime, &budget);
        let held = budget.try_reserve(7).unwrap();
        ends.inbound
            .try_send(Inbound {
                bytes: framed(&Message::Text("hi".into())).unwrap(),
                held,
            })
            .unwrap();
        assert!(!readable(&session), "nothing signalled yet");
        session.signal_ready();
        session.close_with(1001, "bye");
        drop(ends);
        assert!(readable(&session));
        let mut stream = Vec::new();
        let mut buf = [0; 3];
        loop {
            let n = session.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            stream.extend_from_slice(&buf[..n]);
        }
        assert_eq!(stream, b"\x01\x02\0\0\0hi\x08\x05\0\0\0\x03\xe9bye");
        // EOF stays readable.
        assert!(readable(&session));
        // What was read is no longer charged.
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn close_payloads() {
        assert_eq!(close_frame(b""), Some(None));
        assert_eq!(close_frame(b"\x03"), None);
        assert_eq!(close_frame(b"\x03\xed"), None, "1005 is not sent");
        assert_eq!(close_frame(b"\x03\xe8\xff"), None, "a reason is UTF-8");
        let frame = close_frame(b"\x0f\xa0bye").unwrap().unwrap();
        assert_eq!(
            (u16::from(frame.code), frame.reason.as_str()),
            (4000, "bye")
        );
        assert_eq!(close_message(1000, "x"), b"\x08\x03\0\0\0\x03\xe8x");
        let long = "é".repeat(100);
        // Cut at a character's boundary, within 125 bytes.
        assert_eq!(close_message(1001, &long).len(), HEADER + MAX_CLOSE - 1);
    }
}
