//! Why a module could not be run.

use crate::engine::EngineError;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use wadi_devices::driver::LoadFailure;
use wasi_core::Errno;
use wasi_core::runtime::LoadError;

/// Why a module could not be run: it could not be read or loaded, or what
/// the options ask for could not be set up. The guest's own code did not run
/// to an end (had it, the run would have an [`Outcome`](crate::Outcome)), so
/// a command-line runner exits with [`ERROR_EXIT_CODE`](crate::ERROR_EXIT_CODE).
///
/// The messages are one line each; the ones with a `source` leave it out
/// of their own text, for the caller to print the chain (`anyhow`'s `{:#}`
/// prints `message: source: ...`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A module or driver file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file is neither a wasm binary nor valid text format.
    #[error("{} is neither a wasm binary nor valid text format: {message}", path.display())]
    Text {
        /// The file.
        path: PathBuf,
        /// The text-format error, as `file:line:col: message`.
        message: String,
    },
    /// The module cannot be loaded: it is invalid, beyond a limit, or
    /// imports what is not offered. (A start function that runs and ends
    /// the guest is an [`Outcome`](crate::Outcome), not this.)
    #[error("cannot load {}", path.display())]
    Load {
        /// The module's path.
        path: PathBuf,
        /// Why.
        source: LoadError,
    },
    /// The module has no main function: it exports no function `""` or
    /// `_start`, and none was named ([`RunOptions::invoke`](crate::RunOptions::invoke)).
    #[error(
        "{} has no entry point: it exports no function \"\" or \"_start\" \
         (call one of its functions with --invoke NAME)",
        path.display()
    )]
    NoEntryPoint {
        /// The module's path.
        path: PathBuf,
    },
    /// An entry point cannot be called: the function named is not
    /// exported, has a type a run cannot call it with, or cannot take the
    /// arguments given (`spec/preview1.md`, "Entry points").
    #[error("{}: cannot call {name:?}: {reason}", path.display())]
    Entry {
        /// The module's path.
        path: PathBuf,
        /// The function.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A host directory could not be preopened.
    #[error("cannot preopen directory {}", host.display())]
    Preopen {
        /// The host directory.
        host: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A socket could not listen on its address.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// A connection could not be made.
    #[error("cannot connect to {addr}")]
    Dial {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The HTTP server could not run (`Server::run`).
    #[error("cannot serve HTTP")]
    Serve(#[source] io::Error),
    /// The guest's system could not be built (an argument or variable
    /// with a NUL byte, io_uring refused by the kernel, ...).
    #[error("cannot set up the WASI system")]
    System(#[source] io::Error),
    /// The key-value store could not be opened or mounted
    /// ([`RunOptions::kv`](crate::RunOptions::kv)).
    #[error("cannot set up the key-value store: {0}")]
    Kv(String),
    /// The trace file could not be created.
    #[error("cannot create trace file {}", path.display())]
    TraceFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The engine could not be set up.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An option was given to a mode it cannot apply to (a listening
    /// socket for HTTP guests, which run many at once).
    #[error("{option} does not apply to {mode}")]
    NotInMode {
        /// The option, as `RunOptions` names it.
        option: &'static str,
        /// The mode.
        mode: &'static str,
    },
    /// A mount could not be made in the guest's namespace
    /// ([`RunOptions::mount`](crate::RunOptions::mount), the key-value
    /// store, a mode's own files): its path overlaps another mount or is a
    /// preopen's own.
    #[error("cannot mount {path} in the guest's namespace: {errno}")]
    Mount {
        /// The guest path.
        path: String,
        /// Why, as the mount layer says it.
        errno: Errno,
    },
    /// A Daku program could not be run ([`run_daku`](crate::run_daku)): it
    /// is not one or cannot be loaded (the message names the module), or a
    /// file of its options could not be opened.
    #[error(transparent)]
    Daku(#[from] daku_host::DakuError),
    /// WADI's control file could not be mounted in the guest's namespace.
    #[error("cannot mount the WADI control file: {0}")]
    WadiControl(Errno),
    /// A WADI driver could not be loaded (the message names it).
    #[error("wadi: {0}")]
    Driver(LoadFailure),
}
