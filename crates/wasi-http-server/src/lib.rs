//! The HTTP server behind `wasirun serve`: HTTP functions through files
//! (`spec/wasi-cloud.md`, "HTTP functions").
//!
//! A guest reads its request from `/request/txt` (raw HTTP/1.1, the body
//! streamed as it arrives) or `/request/json`, and writes its response to
//! `/response/txt` (streamed to the client as written) or
//! `/response/json`. The pieces:
//!
//! - [`serve`] runs the HTTP server (hyper on tokio; HTTP/1.1 and h2c):
//!   each request becomes an [`Exchange`], handed to a [`Dispatch`]:
//!   [`Functions`] runs a fresh guest per request (inline on an async
//!   worker while guests prove quick, else on the blocking pool),
//!   [`Daemons`] queues it for long-lived guests;
//! - [`RequestDir`] and [`ResponseDir`] are the files, to mount at
//!   `/request` and `/response` ([`mount`]), reaching the exchange through
//!   an [`ExchangeSource`]: a function's own exchange, or a daemon's
//!   [`DaemonSource`];
//! - a function may accept a WebSocket handshake by answering 101: its
//!   instance then talks to the client through `/response/socket`, framed
//!   messages, within the limits of a [`WebSocketConfig`];
//! - [`wagi`] runs WAGI (CGI) modules over the same exchange;
//! - the runner reports how the guest ended with [`Exchange::finish`].
//!
//! Running the guests (engines, the guest's system, its other mounts) is
//! the runner's job: `wasi_runner::Server` puts this crate together with
//! it.

// The modules, each using only modules listed before it (no cycles):
// - `body`: response bodies, whole or streamed; uses none;
// - `conn`: telling HTTP/2 from HTTP/1, reading the first head; uses none;
// - `head`: request and response heads, parsed and checked; uses `body`;
// - `exchange`: one request and its response; uses `body`, `head`;
// - `files`: `/request` and `/response` as mounts; uses `exchange`;
// - `wagi`: CGI over an exchange; uses `exchange`, `head`;
// - `socket`: WebSocket handshakes and `/response/socket`'s sessions; uses
//   `body`, `exchange` (which holds a request's session: the two refer to
//   each other);
// - `server`: hyper on tokio; uses `body`, `conn`, `exchange`, `head`,
//   `socket`.
mod body;
mod conn;
mod exchange;
mod files;
mod head;
mod server;
mod socket;
pub mod wagi;

pub use body::ResponseBody;
pub use conn::{MAX_REQUEST_FIELDS, MAX_REQUEST_HEAD};
pub use exchange::{
    Completion, Exchange, Expired, MAX_CHUNK, MAX_JSON_REQUEST_BODY, MAX_JSON_RESPONSE, Slot,
    error_response,
};
pub use files::{DaemonQueue, DaemonSource, ExchangeSource, RequestDir, ResponseDir, mount};
pub use head::{MAX_FIELDS, MAX_HEAD, RequestHead};
pub use server::{
    DEFAULT_BODY_BEFORE_SLOT, DEFAULT_TIMEOUT, Daemons, Dispatch, Functions, MAX_STREAMS,
    ServeConfig, accept, off_worker, serve,
};
pub use socket::{DEFAULT_WEBSOCKET_IDLE, GUEST_GRACE, WebSocketConfig};
