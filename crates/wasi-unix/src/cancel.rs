//! Ending a guest's waits in `poll_oneoff` from another thread.

use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock};
use wasi_core::Errno;

use crate::errno::from_host;

/// Ends the waits of a [`UnixSystem`](crate::UnixSystem)'s `poll_oneoff`
/// from another thread ([`UnixSystem::canceller`](crate::UnixSystem::canceller)):
/// once [`cancel`](Self::cancel) is called, a call waiting returns
/// `ECANCELED`, and so does every later call that would wait. Cloning
/// shares the handle.
///
/// The eventfd the waits watch is made by the first call that waits, so
/// that a guest that never waits (most) costs no descriptor.
#[derive(Clone, Debug, Default)]
pub struct Canceller(Arc<State>);

#[derive(Debug, Default)]
struct State {
    cancelled: AtomicBool,
    /// Readable once cancelled.
    fd: OnceLock<OwnedFd>,
}

impl Canceller {
    /// Cancels the system's waits, now and later.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        // With the fence in `fd`: either this sees the descriptor, or that
        // sees the flag.
        fence(Ordering::SeqCst);
        if let Some(fd) = self.0.fd.get() {
            signal(fd.as_fd());
        }
    }

    /// The descriptor a wait watches beside the guest's, readable once
    /// cancelled; made at the first call.
    pub(crate) fn fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        let fd = match self.0.fd.get() {
            Some(fd) => fd,
            None => {
                let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                    .map_err(from_host)?;
                // Only the system's own thread makes it.
                self.0.fd.get_or_init(|| fd)
            }
        };
        fence(Ordering::SeqCst);
        if self.0.cancelled.load(Ordering::SeqCst) {
            signal(fd.as_fd());
        }
        Ok(fd.as_fd())
    }
}

/// Makes the eventfd readable. The counter stays above zero (no one reads
/// it); writing can only fail when it would overflow, which leaves it
/// readable too.
fn signal(fd: BorrowedFd<'_>) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}
