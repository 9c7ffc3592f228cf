//! Ending a guest's waits from another thread: its `poll_oneoff` and its
//! blocking socket calls.

use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::OFlags;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock};
use wasi_core::Errno;

use crate::errno::from_host;
use crate::fdlimit::{FdPool, FdSlot};

/// Ends the waits of a [`UnixSystem`](crate::UnixSystem) from another
/// thread ([`UnixSystem::canceller`](crate::UnixSystem::canceller)): once
/// [`cancel`](Self::cancel) is called, a `poll_oneoff` waiting, or a
/// socket call waiting (`fd_read`, `fd_write`, `sock_recv`, `sock_send`,
/// `sock_accept`, ... on a blocking socket), returns `ECANCELED` (a send
/// that sent part of its data returns that count), and so does every
/// later call that would wait (`spec/preview1.md`, "Cancellation").
/// Cloning shares the handle.
///
/// The eventfd the waits watch is made by the first call that waits, so
/// that a guest that never waits (most) costs no descriptor.
#[derive(Clone, Debug)]
pub struct Canceller(Arc<State>);

/// What the thread of a system's guest is made to do around each wait
/// that may block it ([`Canceller::wait_through`]).
pub type AroundWait = dyn Fn(&mut dyn FnMut()) + Send + Sync;

struct State {
    cancelled: AtomicBool,
    /// Readable once cancelled, with its count in `pool`.
    fd: OnceLock<(OwnedFd, FdSlot)>,
    /// Where the eventfd is counted: the system's guests' pool.
    pool: FdPool,
    /// Runs each wait that may block, if set.
    around: OnceLock<Box<AroundWait>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("cancelled", &self.cancelled)
            .field("fd", &self.fd.get().map(|(fd, _)| fd))
            .field("around", &self.around.get().is_some())
            .finish()
    }
}

impl Canceller {
    /// A canceller whose descriptor, once made, counts in `pool` (the
    /// system's).
    pub(crate) fn new(pool: FdPool) -> Self {
        Self(Arc::new(State {
            cancelled: AtomicBool::new(false),
            fd: OnceLock::new(),
            pool,
            around: OnceLock::new(),
        }))
    }

    /// Cancels the system's waits, now and later.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        // With the fence in `fd`: either this sees the descriptor, or that
        // sees the flag.
        fence(Ordering::SeqCst);
        if let Some((fd, _)) = self.0.fd.get() {
            signal(fd.as_fd());
        }
    }

    /// Runs each of the system's waits that may block its thread (a
    /// `poll_oneoff` with a timeout, a sleep, a blocking socket call that
    /// found nothing to do) through `around`, which must call the wait it
    /// is given exactly once: for instance
    /// `|wait| tokio::task::block_in_place(wait)`, for a guest run on an
    /// async runtime's worker, so that the worker's other tasks move to
    /// another thread while the guest waits. Calls that do not wait do not
    /// go through it. Only the first call sets it.
    pub fn wait_through(&self, around: impl Fn(&mut dyn FnMut()) + Send + Sync + 'static) {
        let _ = self.0.around.set(Box::new(around));
    }

    /// Runs `wait`, which may block, as [`wait_through`](Self::wait_through)
    /// said.
    pub(crate) fn around<T>(&self, wait: impl FnOnce() -> T) -> T {
        let Some(around) = self.0.around.get() else {
            return wait();
        };
        let mut wait = Some(wait);
        let mut out = None;
        around(&mut || {
            if let Some(wait) = wait.take() {
                out = Some(wait());
            }
        });
        // An `around` that did not call the wait: call it here.
        match out {
            Some(out) => out,
            None => wait.map(|wait| wait()).expect("the wait ran once"),
        }
    }

    /// Makes `call` on host socket `fd`, a call that waits until `fd` is
    /// ready for `events` when the socket blocks, so that the wait ends
    /// when the system is cancelled: `call()` must not wait (a
    /// `MSG_DONTWAIT` call, or one made after a zero-timeout `poll`); when
    /// it gives `EAGAIN` on a socket whose open file description blocks
    /// (the guest did not make it non-blocking), this waits for `fd` and
    /// the canceller together, and calls again; `ECANCELED` once
    /// cancelled.
    pub(crate) fn socket_call<T>(
        &self,
        fd: BorrowedFd<'_>,
        events: PollFlags,
        mut call: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        loop {
            match call() {
                Err(Errno::AGAIN) if !nonblocking(fd)? => self.wait_for(fd, events)?,
                result => return result,
            }
        }
    }

    /// Waits until `fd` is ready for `events` (or hung up, or failed):
    /// `ECANCELED` if the system is cancelled first.
    fn wait_for(&self, fd: BorrowedFd<'_>, events: PollFlags) -> Result<(), Errno> {
        let cancel = self.fd()?;
        loop {
            let mut fds = [
                PollFd::from_borrowed_fd(fd, events),
                PollFd::from_borrowed_fd(cancel, PollFlags::IN),
            ];
            match self.around(|| rustix::event::poll(&mut fds, None)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(err) => return Err(from_host(err)),
            }
            if !fds[1].revents().is_empty() {
                return Err(Errno::CANCELED);
            }
            if !fds[0].revents().is_empty() {
                return Ok(());
            }
        }
    }

    /// The descriptor a wait watches beside the guest's, readable once
    /// cancelled; made at the first call.
    pub(crate) fn fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        let (fd, _) = match self.0.fd.get() {
            Some(made) => made,
            None => {
                // It counts as one of the guest's descriptors: `ENFILE`
                // when the guests hold their share.
                let slot = self.0.pool.take()?;
                let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                    .map_err(from_host)?;
                // Only the system's own thread makes it.
                self.0.fd.get_or_init(|| (fd, slot))
            }
        };
        fence(Ordering::SeqCst);
        if self.0.cancelled.load(Ordering::SeqCst) {
            signal(fd.as_fd());
        }
        Ok(fd.as_fd())
    }
}

/// Whether `fd`'s open file description is non-blocking.
fn nonblocking(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    Ok(rustix::fs::fcntl_getfl(fd)
        .map_err(from_host)?
        .contains(OFlags::NONBLOCK))
}

/// Makes the eventfd readable. The counter stays above zero (no one reads
/// it); writing can only fail when it would overflow, which leaves it
/// readable too.
fn signal(fd: BorrowedFd<'_>) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}
