//! Ending a guest's waits in `poll_oneoff` from another thread.

use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::io;
use std::sync::Arc;

/// Ends the waits of a [`UnixSystem`](crate::UnixSystem)'s `poll_oneoff`
/// from another thread ([`UnixSystem::canceller`](crate::UnixSystem::canceller)):
/// once [`cancel`](Self::cancel) is called, a call waiting returns
/// `ECANCELED`, and so does every later call that would wait. Cloning
/// shares the handle.
#[derive(Clone, Debug)]
pub struct Canceller(Arc<OwnedFd>);

impl Canceller {
    /// An eventfd not yet signalled.
    pub(crate) fn new() -> io::Result<Self> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Self(Arc::new(fd)))
    }

    /// Cancels the system's waits, now and later.
    pub fn cancel(&self) {
        // The counter stays above zero: every later wait sees it readable.
        // Writing can only fail when the counter would overflow, which
        // leaves it readable too.
        let _ = rustix::io::write(&*self.0, &1u64.to_ne_bytes());
    }

    /// The descriptor that is readable once cancelled.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
