//! One request and its response, between the server and a guest: the
//! request's head and body stream, and the response as the guest writes it
//! (`spec/wasi-cloud.md`, "HTTP functions").

use crate::body::{ChannelBody, ResponseBody, full};
use crate::head::{self, RequestHead};
use crate::socket::{self, Refusal, Session};
use bytes::Bytes;
use hyper::body::Body as _;
use hyper::{Response, StatusCode};
use std::io::{PipeReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use wasi_core::Errno;
use wasi_core::budget::HostBudget;
use wasi_core::runtime::Interrupter;
use wasi_core::sync::lock;

/// The most bytes one write to `/response/txt` passes on at once: a larger
/// write is short, and the guest writes the rest again.
pub const MAX_CHUNK: usize = 64 * 1024;

/// Body chunks buffered between a guest and a slow client, each at most
/// [`MAX_CHUNK`]; past them `fd_write` blocks.
const CHANNEL_CHUNKS: usize = 4;

/// The most bytes `/response/json` may hold.
pub const MAX_JSON_RESPONSE: usize = 16 << 20;

/// The largest request body `/request/json` takes (base64 makes it a third
/// larger): opening it for a larger one fails with `EFBIG`.
pub const MAX_JSON_REQUEST_BODY: u64 = 16 << 20;

/// How a guest's run for an exchange ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// `_start` returned, or the guest called `proc_exit` with this code.
    Exited(u32),
    /// The guest trapped (or ran out of fuel, or a host function failed).
    Trapped(String),
    /// The guest ran past its time limit.
    TimedOut,
    /// The guest could not be instantiated.
    Failed(String),
}

/// A concurrency slot of the server, and one of the share of the request's
/// connection (`spec/wasi-cloud.md`, "Slots and fair shares"): dropping it
/// lets another request's guest start.
#[derive(Debug)]
pub struct Slot {
    /// The server's slot, or once parked a parking place.
    pub(crate) server: OwnedSemaphorePermit,
    pub(crate) _connection: OwnedSemaphorePermit,
    /// The server's parking places, for a guest that waits for a slow
    /// client ([`Slot::park`]); `None` once parked.
    pub(crate) parking: Option<Arc<Semaphore>>,
}

impl Slot {
    /// Trades the server's slot for a parking place, if one is free: a
    /// guest waiting for a slow client lets another request's guest run
    /// (`spec/wasi-cloud.md`, "Slots and fair shares").
    fn park(&mut self) {
        let Some(parking) = &self.parking else {
            return;
        };
        if let Ok(place) = Arc::clone(parking).try_acquire_owned() {
            self.server = place;
            self.parking = None;
        }
    }
}

/// How long an exchange holds its [`Slot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotHeld {
    /// Until the guest's run ends ([`Exchange::finish`]): a function's.
    UntilFinished,
    /// Until the response is done: a daemon's, which goes on to the next
    /// request.
    UntilDone,
}

/// What the deadline did to an exchange ([`Exchange::expire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// No response head had gone out: the client gets 504.
    Answered,
    /// The response head had gone out: the body is aborted.
    Aborted,
    /// The response was complete already (its delivery may not be).
    WasDone,
}

/// What happened to the request body on its way from the client.
#[derive(Debug, Default)]
struct BodyStatus(AtomicU8);

const BODY_OK: u8 = 0;
const BODY_TOO_LARGE: u8 = 1;
const BODY_BROKEN: u8 = 2;

impl BodyStatus {
    /// The body went past the server's limit: the stream ends with `EIO`
    /// ([`Exchange::body_too_large`] sets it).
    fn too_large(&self) {
        self.0.store(BODY_TOO_LARGE, Ordering::Release);
    }

    /// The client's body failed, or the server stopped passing it on (the
    /// time limit): the stream ends with `EIO`.
    fn broken(&self) {
        let _ = self
            .0
            .compare_exchange(BODY_OK, BODY_BROKEN, Ordering::AcqRel, Ordering::Acquire);
    }

    fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}

/// Which response file the guest writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writer {
    Txt,
    Json,
}

/// The response side of an exchange.
struct ResponseState {
    /// The file the guest first opened for writing.
    writer: Option<Writer>,
    /// Open descriptors of that file.
    open: usize,
    /// The `txt` head written so far, until it is complete.
    head: Vec<u8>,
    /// Once the `txt` head went to the client: where the body goes.
    body: Option<BodyOut>,
    /// What `/response/json` holds.
    json: Vec<u8>,
    /// How the response goes to the server, until it has.
    reply: Option<oneshot::Sender<Response<ResponseBody>>>,
    /// The response is complete or aborted: nothing more is taken.
    done: bool,
    /// The request's concurrency slot, and how long it is held.
    slot: Option<(Slot, SlotHeld)>,
    /// Stops the daemon serving the request if it runs past its time.
    interrupter: Option<Interrupter>,
}

/// Where the rest of a `txt` response's body goes.
enum BodyOut {
    /// The first write held the whole body its `content-length` declared,
    /// and it went to the client with the head: nothing more can come.
    Whole,
    Streamed(BodySender),
}

/// The sending end of a streamed response body.
struct BodySender {
    chunks: mpsc::Sender<Bytes>,
    /// Bytes left of the declared `content-length`, if any.
    remaining: Option<u64>,
    /// Set before dropping `chunks` to make the client see an abort.
    abort: Arc<std::sync::atomic::AtomicBool>,
}

/// One request and its response. The server makes it; the guest's
/// `/request` and `/response` files ([`crate::RequestDir`],
/// [`crate::ResponseDir`]) read and write it; the runner reports how the
/// guest's run ended with [`finish`](Self::finish).
pub struct Exchange {
    head: RequestHead,
    /// The request as `/request/txt` begins.
    txt_head: Vec<u8>,
    /// The body stream; `None` for a request without a body.
    body: Option<PipeReader>,
    body_status: BodyStatus,
    /// Whether a write to `/response/txt` had to wait for the client.
    waited: AtomicBool,
    json: OnceLock<Arc<[u8]>>,
    max_body: u64,
    response: Mutex<ResponseState>,
    done: Notify,
    /// The WebSocket the request offers, if it is a valid handshake.
    websocket: OnceLock<Arc<Session>>,
}

impl Exchange {
    /// An exchange for the request with `head`, whose body the server
    /// writes into the pipe read by `body` (closing it at the end; `None`
    /// when the request has no body) and whose troubles it reports with
    /// [`body_broken`](Self::body_broken) and
    /// [`body_too_large`](Self::body_too_large). The response comes out of
    /// the returned receiver, once: a streamed one with its body still
    /// arriving.
    pub fn new(
        head: RequestHead,
        body: Option<PipeReader>,
        max_body: u64,
    ) -> (Arc<Self>, oneshot::Receiver<Response<ResponseBody>>) {
        let (tx, rx) = oneshot::channel();
        let exchange = Self {
            txt_head: head.txt(),
            head,
            body,
            body_status: BodyStatus::default(),
            waited: AtomicBool::new(false),
            json: OnceLock::new(),
            max_body,
            response: Mutex::new(ResponseState {
                writer: None,
                open: 0,
                head: Vec::new(),
                body: None,
                json: Vec::new(),
                reply: Some(tx),
                done: false,
                slot: None,
                interrupter: None,
            }),
            done: Notify::new(),
            websocket: OnceLock::new(),
        };
        (Arc::new(exchange), rx)
    }

    /// Makes the request a WebSocket request: a 101 from the guest
    /// accepts `session`.
    pub(crate) fn offer_websocket(&self, session: Arc<Session>) {
        let _ = self.websocket.set(session);
    }

    /// Whether the request is a WebSocket handshake the guest may accept
    /// (`spec/wasi-cloud.md`, "WebSocket daemons").
    pub fn is_websocket(&self) -> bool {
        self.websocket.get().is_some()
    }

    /// The WebSocket of `/response/socket`, opened with the guest's host
    /// memory `budget`: `ENOTCONN` before the guest's 101 went out.
    pub(crate) fn open_socket(
        &self,
        budget: &HostBudget,
    ) -> wasi_core::system::Result<Arc<Session>> {
        let session = self.websocket.get().ok_or(Errno::NOTCONN)?;
        session.open(budget)?;
        Ok(Arc::clone(session))
    }

    /// The request's head.
    pub fn request(&self) -> &RequestHead {
        &self.head
    }

    /// The request head as `/request/txt` begins.
    pub(crate) fn txt_head(&self) -> &[u8] {
        &self.txt_head
    }

    /// The request body stream, shared by every reader of the exchange;
    /// `None` for a request without a body.
    pub fn body(&self) -> Option<&PipeReader> {
        self.body.as_ref()
    }

    /// Whether a write to `/response/txt` had to wait for room (the client
    /// read slower than the guest wrote).
    pub fn waited_for_client(&self) -> bool {
        self.waited.load(Ordering::Relaxed)
    }

    /// Reads from the body stream: `EIO` when it ended because the body
    /// was too large or broken.
    pub(crate) fn read_body(&self, buf: &mut [u8]) -> wasi_core::system::Result<usize> {
        let Some(mut body) = self.body.as_ref() else {
            return Ok(0);
        };
        match body.read(buf) {
            Ok(0) if self.body_status.get() != BODY_OK => Err(Errno::IO),
            Ok(n) => Ok(n),
            Err(e) => Err(Errno::from_io_kind(e.kind())),
        }
    }

    /// `/request/json`: made once, reading the rest of the body, in
    /// memory charged to `budget` while it is made (`ENOMEM` past it).
    pub(crate) fn json(&self, budget: &HostBudget) -> wasi_core::system::Result<Arc<[u8]>> {
        if let Some(json) = self.json.get() {
            return Ok(Arc::clone(json));
        }
        let mut held = budget.try_reserve(MAX_CHUNK as u64)?;
        let mut body = Vec::new();
        let mut buf = vec![0; MAX_CHUNK];
        loop {
            let n = self.read_body(&mut buf)?;
            if n == 0 {
                break;
            }
            // The server stops the stream past `max_body`; this bounds it
            // here too, whatever feeds the pipe.
            if (body.len() + n) as u64 > self.max_body.min(MAX_JSON_REQUEST_BODY) {
                return Err(Errno::FBIG);
            }
            held.try_resize((MAX_CHUNK + body.len() + n) as u64)?;
            body.extend_from_slice(&buf[..n]);
        }
        let json: Arc<[u8]> = self.head.json(&body).into();
        Ok(Arc::clone(self.json.get_or_init(|| json)))
    }

    fn state(&self) -> MutexGuard<'_, ResponseState> {
        // Every update leaves the state consistent before anything that
        // can panic.
        lock(&self.response)
    }

    /// Whether the response is complete, or was aborted or replaced by an
    /// error.
    pub fn is_done(&self) -> bool {
        self.state().done
    }

    /// Waits until the exchange [`is_done`](Self::is_done).
    pub async fn done(&self) {
        loop {
            let notified = self.done.notified();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }

    /// Keeps `slot` until the response is done, or the deadline: a daemon's
    /// request.
    pub fn hold_until_done(&self, slot: Slot) {
        let mut state = self.state();
        if !state.done {
            state.slot = Some((slot, SlotHeld::UntilDone));
        }
    }

    /// Keeps `slot` until the guest's run ends ([`finish`](Self::finish)),
    /// or the deadline: a function's request.
    pub fn hold_until_finished(&self, slot: Slot) {
        self.state().slot = Some((slot, SlotHeld::UntilFinished));
    }

    /// A descriptor of `writer` is opened: `EBUSY` when the guest writes
    /// the other file, `EPIPE` when the response is done.
    pub(crate) fn open_writer(&self, writer: Writer) -> wasi_core::system::Result<()> {
        let mut state = self.state();
        if state.done {
            return Err(Errno::PIPE);
        }
        match state.writer {
            Some(w) if w != writer => return Err(Errno::BUSY),
            _ => state.writer = Some(writer),
        }
        state.open += 1;
        Ok(())
    }

    /// A descriptor of the response file is closed: the last one completes
    /// the response.
    pub(crate) fn close_writer(&self) {
        let mut state = self.state();
        state.open = state.open.saturating_sub(1);
        if state.open == 0 && !state.done {
            self.complete(&mut state);
        }
    }

    /// A write to `/response/txt`: the head until it is complete, then
    /// body. Returns how many bytes were taken.
    pub(crate) fn write_txt(&self, data: &[u8]) -> wasi_core::system::Result<usize> {
        let mut state = self.state();
        if state.done {
            return Err(Errno::PIPE);
        }
        if let Some(body) = &mut state.body {
            let BodyOut::Streamed(body) = body else {
                return if data.is_empty() {
                    Ok(0)
                } else {
                    Err(Errno::FBIG)
                };
            };
            let data = &data[..data.len().min(MAX_CHUNK)];
            let data = match body.remaining {
                Some(0) if !data.is_empty() => return Err(Errno::FBIG),
                Some(left) => &data[..data.len().min(usize::try_from(left).unwrap_or(usize::MAX))],
                None => data,
            };
            if data.is_empty() {
                return Ok(0);
            }
            if let Some(left) = &mut body.remaining {
                *left -= data.len() as u64;
            }
            let chunk = Bytes::copy_from_slice(data);
            let chunk = match body.chunks.try_send(chunk) {
                Ok(()) => return Ok(data.len()),
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(Errno::PIPE),
                Err(mpsc::error::TrySendError::Full(chunk)) => chunk,
            };
            // The client is slow: wait for room without the lock, and
            // without the slot if there is a parking place.
            let chunks = body.chunks.clone();
            if let Some((slot, _)) = &mut state.slot {
                slot.park();
            }
            drop(state);
            self.waited.store(true, Ordering::Relaxed);
            return match self.send_waiting(&chunks, chunk) {
                Ok(()) => Ok(data.len()),
                Err(()) => Err(Errno::PIPE),
            };
        }
        let room = head::MAX_HEAD - state.head.len();
        let taken = data.len().min(room);
        let before = state.head.len();
        state.head.extend_from_slice(&data[..taken]);
        match head::parse_response(&state.head) {
            Ok(None) if state.head.len() < head::MAX_HEAD => Ok(taken),
            Ok(None) => {
                self.reply_error(
                    &mut state,
                    StatusCode::BAD_GATEWAY,
                    "response head too large",
                );
                Err(Errno::INVAL)
            }
            Err(why) => {
                self.reply_error(&mut state, StatusCode::BAD_GATEWAY, &why);
                Err(Errno::INVAL)
            }
            Ok(Some((parsed, head_len))) if parsed.status() == StatusCode::SWITCHING_PROTOCOLS => {
                // A 101 has no body: the write takes the head only.
                state.head = Vec::new();
                let response = parsed.into_response(full(Bytes::new()));
                self.upgrade(&mut state, response)?;
                Ok(head_len - before)
            }
            Ok(Some((parsed, head_len))) => {
                // Bytes past the head in this write are the body's start.
                let rest = &state.head[head_len..];
                let extra = &rest[..rest.len().min(MAX_CHUNK)];
                let extra = match parsed.content_length {
                    Some(left) => &extra[..extra.len().min(usize::try_from(left).unwrap_or(0))],
                    None => extra,
                };
                let taken = head_len - before + extra.len();
                let (body, out) = if parsed.content_length == Some(extra.len() as u64) {
                    (full(Bytes::copy_from_slice(extra)), BodyOut::Whole)
                } else {
                    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
                    let abort = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let body = ChannelBody::new(rx, parsed.content_length, Arc::clone(&abort));
                    let remaining = parsed.content_length.map(|left| left - extra.len() as u64);
                    if !extra.is_empty() {
                        // The channel is new and empty: this cannot block.
                        let _ = tx.try_send(Bytes::copy_from_slice(extra));
                    }
                    let sender = BodySender {
                        chunks: tx,
                        remaining,
                        abort,
                    };
                    (ResponseBody::streamed(body), BodyOut::Streamed(sender))
                };
                state.head = Vec::new();
                state.body = Some(out);
                let response = parsed.into_response(body);
                if let Some(reply) = state.reply.take() {
                    let _ = reply.send(response);
                }
                Ok(taken)
            }
        }
    }

    /// The response is malformed (a WAGI module's CGI head): 502, if
    /// nothing went to the client yet.
    pub(crate) fn malformed(&self, why: &str) {
        let mut state = self.state();
        if !state.done && state.body.is_none() {
            self.reply_error(&mut state, StatusCode::BAD_GATEWAY, why);
        }
    }

    /// A write to `/response/json`, kept until the file is closed.
    pub(crate) fn write_json(&self, data: &[u8]) -> wasi_core::system::Result<usize> {
        let mut state = self.state();
        if state.done {
            return Err(Errno::PIPE);
        }
        if state.json.len() + data.len() > MAX_JSON_RESPONSE {
            return Err(Errno::FBIG);
        }
        state.json.extend_from_slice(data);
        Ok(data.len())
    }

    /// The guest's run for this exchange ended with `completion`: a
    /// response not yet complete is completed (exit 0), or replaced by an
    /// error or aborted (`spec/wasi-cloud.md`, "How the exchange ends").
    pub fn finish(&self, completion: &Completion) {
        if let Some(session) = self.websocket.get() {
            session.guest_ended(match completion {
                Completion::Exited(code) => Some(*code),
                _ => None,
            });
        }
        let mut state = self.state();
        self.release_slot(&mut state);
        if state.done {
            return;
        }
        match completion {
            Completion::Exited(0) => self.complete(&mut state),
            Completion::Exited(code) => self.fail(
                &mut state,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the handler exited with code {code}"),
            ),
            Completion::Trapped(_) => self.fail(
                &mut state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "the handler trapped",
            ),
            Completion::TimedOut => self.fail(
                &mut state,
                StatusCode::GATEWAY_TIMEOUT,
                "the handler ran past its time limit",
            ),
            Completion::Failed(why) => {
                // The client is told no more; the server's log says why.
                let line = format!("wasirun: a handler could not be started: {why}\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
                self.fail(
                    &mut state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the handler could not be started",
                );
            }
        }
    }

    /// No guest serves the request (no route of a server hosting several
    /// modules matches its path): 404, unless a response is already done.
    pub fn not_found(&self) {
        let mut state = self.state();
        if !state.done {
            self.reply_error(
                &mut state,
                StatusCode::NOT_FOUND,
                "no route matches the path",
            );
        }
    }

    /// Makes the server's time limit for the exchange stop the instance
    /// `interrupter` belongs to (a daemon that took it), unless it is done.
    pub fn interrupt_on_expiry(&self, interrupter: Interrupter) {
        let mut state = self.state();
        if !state.done {
            state.interrupter = Some(interrupter);
        }
    }

    /// The request's deadline passed: 504, or an abort; the slot is freed
    /// and the instance serving it, if any, interrupted (its waits in host
    /// calls end: see [`Interrupter::on_interrupt`]).
    pub fn expire(&self) -> Expired {
        self.body_status.broken();
        let mut state = self.state();
        self.release_slot(&mut state);
        if state.done {
            return Expired::WasDone;
        }
        let expired = if state.body.is_some() {
            Expired::Aborted
        } else {
            Expired::Answered
        };
        self.fail(
            &mut state,
            StatusCode::GATEWAY_TIMEOUT,
            "the handler ran past its time limit",
        );
        if let Some(interrupter) = state.interrupter.take() {
            // Its hooks may take this exchange's lock (a daemon's files).
            drop(state);
            interrupter.interrupt();
        }
        expired
    }

    /// The client's body failed: the stream ends with `EIO`.
    pub fn body_broken(&self) {
        self.body_status.broken();
    }

    /// The request body went past the server's limit: the stream ends with
    /// `EIO`, and unless the response head went out the client gets 413,
    /// whatever the guest writes after (`spec/wasi-cloud.md`, "Body size").
    pub fn body_too_large(&self) {
        self.body_status.too_large();
        let mut state = self.state();
        if !state.done && state.body.is_none() {
            self.reply_error(
                &mut state,
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            );
        }
    }

    /// Ends the exchange as it stands: what the guest wrote is its
    /// response.
    fn complete(&self, state: &mut ResponseState) {
        match state.writer {
            _ if state.body.is_some() => {
                if let Some(BodyOut::Streamed(body)) = state.body.take()
                    && body.remaining.is_some_and(|left| left > 0)
                {
                    body.abort.store(true, Ordering::Release);
                }
                self.mark_done(state);
            }
            Some(Writer::Txt) => self.reply_error(
                state,
                StatusCode::BAD_GATEWAY,
                "the handler's response head is incomplete",
            ),
            Some(Writer::Json) => match head::parse_json_response(&state.json) {
                Ok(response) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                    state.json = Vec::new();
                    if response.body().size_hint().exact() == Some(0) {
                        // Its errno is nobody's: the file is closed.
                        let _ = self.upgrade(state, response);
                    } else {
                        self.reply_error(state, StatusCode::BAD_GATEWAY, "a 101 has no body");
                    }
                }
                Ok(response) => {
                    state.json = Vec::new();
                    if let Some(reply) = state.reply.take() {
                        let _ = reply.send(response);
                    }
                    self.mark_done(state);
                }
                Err(why) => self.reply_error(state, StatusCode::BAD_GATEWAY, &why),
            },
            None => self.reply_error(
                state,
                StatusCode::BAD_GATEWAY,
                "the handler wrote no response",
            ),
        }
    }

    /// The guest answered 101 (`response`): the WebSocket it accepts goes
    /// on without the request's slot or deadline, or the client gets 502
    /// (not a WebSocket request, a bad 101: `EINVAL`) or 503 (too many
    /// WebSockets: `EBUSY`) (`spec/wasi-cloud.md`, "WebSocket daemons").
    fn upgrade(
        &self,
        state: &mut ResponseState,
        mut response: Response<ResponseBody>,
    ) -> wasi_core::system::Result<()> {
        let Some(session) = self.websocket.get() else {
            self.reply_error(
                state,
                StatusCode::BAD_GATEWAY,
                "the handler answered 101 to a request that is not a WebSocket handshake",
            );
            return Err(Errno::INVAL);
        };
        match session.accept(response.headers_mut(), state.interrupter.clone()) {
            Ok(()) => {
                state.interrupter = None;
                if let Some(reply) = state.reply.take() {
                    let _ = reply.send(response);
                }
                self.release_slot(state);
                self.mark_done(state);
                Ok(())
            }
            Err(Refusal::Malformed(why)) => {
                self.reply_error(state, StatusCode::BAD_GATEWAY, &why);
                Err(Errno::INVAL)
            }
            Err(Refusal::Busy) => {
                if let Some(reply) = state.reply.take() {
                    let _ = reply.send(socket::busy());
                }
                self.mark_done(state);
                Err(Errno::BUSY)
            }
        }
    }

    /// Ends the exchange in failure: `status`, or an abort when the
    /// response head went out already.
    fn fail(&self, state: &mut ResponseState, status: StatusCode, why: &str) {
        if let Some(body) = state.body.take() {
            // A body that has all its declared length is complete: there
            // is nothing left to abort.
            if let BodyOut::Streamed(body) = body
                && body.remaining != Some(0)
            {
                body.abort.store(true, Ordering::Release);
            }
            self.mark_done(state);
        } else {
            self.reply_error(state, status, why);
        }
    }

    /// Answers with an error response of the server's own, if the server
    /// has had no response yet, and ends the exchange.
    fn reply_error(&self, state: &mut ResponseState, status: StatusCode, why: &str) {
        if let Some(reply) = state.reply.take() {
            let _ = reply.send(error_response(status, why));
        }
        state.body = None;
        self.mark_done(state);
    }

    fn mark_done(&self, state: &mut ResponseState) {
        state.done = true;
        if state
            .slot
            .as_ref()
            .is_some_and(|(_, held)| *held == SlotHeld::UntilDone)
        {
            self.release_slot(state);
        }
        self.done.notify_waiters();
    }

    /// Gives the slot back, if it is held.
    fn release_slot(&self, state: &mut ResponseState) {
        if state.slot.take().is_some() {
            self.done.notify_waiters();
        }
    }

    /// Whether the exchange holds no slot (any more): its guest's run
    /// ended (a function's), or its response is done (a daemon's).
    pub fn slot_released(&self) -> bool {
        self.state().slot.is_none()
    }

    /// Waits until the exchange's response is done and its slot given
    /// back: nothing of it is left for the deadline to stop.
    pub async fn settled(&self) {
        loop {
            let notified = self.done.notified();
            {
                let state = self.state();
                if state.done && state.slot.is_none() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Sends `chunk`, waiting for room, or until the exchange is done (its
    /// deadline passed): `Err` when the client is gone or the exchange
    /// done. A guest run inline on one of the server's async workers
    /// ([`crate::Functions`]) hands the worker's other tasks, among them
    /// the connection that drains the channel, to another thread while it
    /// waits ([`crate::off_worker`]).
    fn send_waiting(&self, chunks: &mpsc::Sender<Bytes>, chunk: Bytes) -> Result<(), ()> {
        let wait = async {
            tokio::select! {
                sent = chunks.send(chunk) => sent.map_err(drop),
                () = self.done() => Err(()),
            }
        };
        block_on_here(wait)
    }
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("method", &self.head.method)
            .field("target", &self.head.target)
            .finish_non_exhaustive()
    }
}

/// A response of the server's own: `status`, a one-line plain text body.
pub fn error_response(status: StatusCode, why: &str) -> Response<ResponseBody> {
    let mut response = Response::new(full(format!("{why}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // The rest of a body too large is drained, not read: the connection
    // cannot serve another request.
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Runs `future` to its end on this guest's thread, which sleeps while it
/// waits, without holding up other requests ([`crate::off_worker`]).
pub(crate) fn block_on_here<F: std::future::Future>(future: F) -> F::Output {
    crate::off_worker(|| block_on(future))
}

/// Runs `future` to its end on this thread, which sleeps while it waits.
/// (tokio's own `block_on` needs a runtime, and daemons' threads have
/// none.)
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
