//! WATER v0: a host for WebAssembly Transport Modules (WATMs).
//!
//! A WATM transforms a byte stream between an application's plain
//! connection and a network connection. This crate runs WATMs built for
//! refraction-networking's WATER v0 (by TinyGo, Rust or anything else) on
//! any engine with a [`Runtime`] (the workspace's wasmtime and wasmi
//! adapters), in the three roles of the contract (`spec/watm-v0.md`):
//!
//! - [`Dialer`]: [`Dialer::dial`] gives the application a [`Conn`] whose
//!   bytes the WATM carries, transformed, over a TCP connection it asks the
//!   host to dial;
//! - [`Listener`]: [`Listener::accept`] accepts TCP connections and gives
//!   the application a [`Conn`] carrying what the WATM makes of each;
//! - [`Relay`]: accepts TCP connections and has the WATM join each to a
//!   connection to a fixed remote address.
//!
//! Every connection gets its own instance of the module, on its own thread,
//! dropped when the connection ends. Host sockets are pushed into the
//! instance's descriptor table and served by the workspace's `UnixSystem`.
//! A module that traps, loops (under a limit) or fails a dial ends only its
//! own connection.
//!
//! # Engines
//!
//! This crate names no engine. The roles are generic over `R: `[`Runtime`]
//! and take a runtime of the embedder's chosen engine; the module is
//! compiled and linked on it once per role. The limits every instance runs
//! under are the [`Config`]'s, [`Config::runtime_config`] (memory, fuel,
//! time, and always interruptible, so that a module ignoring its
//! cancellation can be stopped): a runtime created with exactly those is
//! used as it is, any other is derived again with them
//! ([`Runtime::with_config`], which keeps its engine and its cache of
//! compiled modules). So an embedder hands any runtime of the engine it
//! chose: `wasirun water` chooses it with `wasi_runner::Engine::with_runtime`,
//! passing `config.runtime_config()`; a program fixed on one engine creates
//! the adapter's runtime itself. [`Conn`] and [`Closer`] are the same types
//! whatever the engine.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use wasi_wasmtime::WasmtimeRuntime;
//! use watm_transport::{Config, Dialer};
//!
//! let config = Config::from_file("plain.wat")?;
//! let runtime = WasmtimeRuntime::new(config.runtime_config())?;
//! let dialer = Dialer::new(&runtime, &config)?;
//! let mut conn = dialer.dial("127.0.0.1:8080")?;
//! conn.write_all(b"hello")?;
//! let mut reply = [0; 5];
//! conn.read_exact(&mut reply)?;
//! conn.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod config;
mod conn;
mod host;
mod roles;
mod validate;
mod writes;

pub use config::{Config, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MEMORY, SystemFactory};
pub use conn::Conn;
pub use roles::{Closer, Dialer, Forwarder, Listener, Relay, pipe};
pub use validate::Role;
// The engine interface the roles are generic over, and the limits
// `Config::runtime_config` gives: an embedder names them from here without
// depending on `wasi-core` itself.
pub use wasi_core::runtime::{Runtime, RuntimeConfig};

use std::io;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The module is not a WATER v0 module for the role, or cannot be
    /// loaded: one line naming the missing or mistyped export or import.
    #[error("{0}")]
    Invalid(String),
    /// The WATM failed to set up a connection: it trapped, returned a
    /// WATER error, or ran past the setup timeout.
    #[error("WATM: {0}")]
    Watm(String),
    /// A host operation failed (binding, accepting, making a socket pair).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Io(error) => error,
            Error::Invalid(msg) => io::Error::new(io::ErrorKind::InvalidData, msg),
            Error::Watm(msg) => io::Error::other(format!("WATM: {msg}")),
        }
    }
}
