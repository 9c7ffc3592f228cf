//! HTTP functions through files (`spec/wasi-cloud.md`, "HTTP functions").
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
//! - the runner reports how the guest ended with [`Exchange::finish`].

mod body;
mod conn;
mod exchange;
mod files;
mod head;
mod server;
pub mod wagi;

pub use body::ResponseBody;
pub use exchange::{
    BodyStatus, Completion, Exchange, MAX_CHUNK, MAX_JSON_REQUEST_BODY, MAX_JSON_RESPONSE,
    error_response,
};
pub use files::{DaemonQueue, DaemonSource, ExchangeSource, RequestDir, ResponseDir};
pub use head::{MAX_FIELDS, MAX_HEAD, RequestHead};
pub use server::{
    Daemons, Dispatch, Functions, MAX_REQUEST_FIELDS, MAX_REQUEST_HEAD, MAX_STREAMS, ServeConfig,
    Slot, serve,
};

use std::sync::Arc;
use wasi_core::mount::Mounts;
use wasi_core::vfs::VirtualFds;

/// Mounts the files of `source` at `/request` and `/response`.
pub fn mount<S: VirtualFds, E: ExchangeSource + 'static>(
    system: &mut Mounts<S>,
    source: Arc<E>,
) -> wasi_core::system::Result<()> {
    system.mount("/request", Arc::new(RequestDir(Arc::clone(&source))))?;
    system.mount("/response", Arc::new(ResponseDir(source)))
}
