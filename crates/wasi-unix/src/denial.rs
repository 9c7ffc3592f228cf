//! Calls the sandbox refused, reported to the embedder.
//!
//! The guest only sees an errno (`ENOTCAPABLE`, or what `spec/` names for the
//! case); the user running it would see nothing. A [`UnixSystem`] built with
//! [`Builder::on_denial`](crate::Builder::on_denial) calls a handler with a
//! [`Denial`] each time it refuses one, so that a runner can say what was
//! refused and which permission would allow it, as Deno does.
//!
//! [`UnixSystem`]: crate::UnixSystem

use std::fmt;
use std::net::SocketAddr;

/// One refused call: what the guest tried, without the permission for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// Binding (or listening on) `addr` without a bind rule for it.
    Bind(SocketAddr),
    /// Connecting, or sending a datagram, to `addr` without a connect rule.
    Connect(SocketAddr),
    /// Resolving `node` without permission to resolve names.
    Resolve(String),
    /// Opening `path` (as the guest named it) on a kernel pseudo-filesystem
    /// (procfs, sysfs, ...) without permission to (`spec/preview1.md`).
    PseudoFs(String),
}

/// Which kind of permission a [`Denial`] lacks; a runner may report each kind
/// once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DenialKind {
    /// [`Denial::Bind`].
    Bind,
    /// [`Denial::Connect`].
    Connect,
    /// [`Denial::Resolve`].
    Resolve,
    /// [`Denial::PseudoFs`].
    PseudoFs,
}

impl Denial {
    /// The kind of permission lacking.
    pub fn kind(&self) -> DenialKind {
        match self {
            Denial::Bind(_) => DenialKind::Bind,
            Denial::Connect(_) => DenialKind::Connect,
            Denial::Resolve(_) => DenialKind::Resolve,
            Denial::PseudoFs(_) => DenialKind::PseudoFs,
        }
    }
}

impl fmt::Display for Denial {
    /// What was refused, as in `connect to 127.0.0.1:8080`. Guest-supplied
    /// text (names, paths) is printed with control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Bind(addr) => write!(f, "bind to {addr}"),
            Denial::Connect(addr) => write!(f, "connect to {addr}"),
            Denial::Resolve(node) => write!(f, "resolving {}", node.escape_debug()),
            Denial::PseudoFs(path) => write!(f, "opening {}", path.escape_debug()),
        }
    }
}

/// Receives the [`Denial`]s of a [`UnixSystem`](crate::UnixSystem).
pub type DenialHandler = Box<dyn FnMut(&Denial) + Send>;

/// Where a system sends its denials: nowhere unless a handler was given.
#[derive(Default)]
pub(crate) struct Denials(Option<DenialHandler>);

impl Denials {
    pub(crate) fn new(handler: Option<DenialHandler>) -> Self {
        Self(handler)
    }

    /// Reports `denial` to the handler, if any.
    pub(crate) fn report(&mut self, denial: Denial) {
        if let Some(handler) = &mut self.0 {
            handler(&denial);
        }
    }
}

impl fmt::Debug for Denials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Denials(handler)"
        } else {
            "Denials(none)"
        })
    }
}
