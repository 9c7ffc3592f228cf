//! The application's end of a connection, and the host's hold on the
//! instance serving it.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use wasi_core::budget::{HostBudget, Reservation};
use wasi_core::runtime::Interrupter;

/// Locks `mutex`, even if a thread panicked holding it (the state guarded
/// here stays consistent at every step).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The cancellation state of one connection.
#[derive(Default)]
struct Cancel {
    /// The host's end of the cancellation pair, once `_water_cancel_with`
    /// accepted the other.
    sender: Option<UnixStream>,
    cancelled: bool,
}

/// Makes the eventfd `fd` readable, for good (no one reads it; a write
/// can only fail when the counter would overflow, which leaves it readable
/// too).
fn signal(fd: &OwnedFd) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Whether the instance ended, and whether its sockets were shut down
/// because it did not.
#[derive(Default, Clone, Copy)]
struct State {
    ended: bool,
    forced: bool,
}

/// The host's hold on one connection's instance: its cancellation channel,
/// duplicates of the sockets it was given, and whether it has ended.
#[derive(Default)]
pub(crate) struct Control {
    cancel: Mutex<Cancel>,
    /// An eventfd readable once the connection is cancelled, which a write
    /// waiting for its socket watches (`crate::writes`); made by the first
    /// wait, so a connection that never waits costs no descriptor.
    wake: OnceLock<OwnedFd>,
    /// Duplicates of the sockets given to the instance, shared with the
    /// instance's system (which waits on them for writability).
    sockets: Mutex<Vec<Arc<OwnedFd>>>,
    /// Stops the instance's running call when the connection is forced.
    interrupter: Mutex<Option<Interrupter>>,
    state: Mutex<State>,
    changed: Condvar,
    /// The instance's host-memory budget (its system's), once set up:
    /// what the host keeps for the connection beyond the instance is
    /// charged to it.
    budget: Mutex<Option<HostBudget>>,
}

impl Control {
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Records the instance's host-memory budget.
    pub(crate) fn set_budget(&self, budget: HostBudget) {
        *lock(&self.budget) = Some(budget);
    }

    /// Reserves `bytes` of the instance's host-memory budget (of none when
    /// the instance was not set up); `OutOfMemory` when it cannot hold them.
    pub(crate) fn reserve(&self, bytes: u64) -> io::Result<Option<Reservation>> {
        match &*lock(&self.budget) {
            None => Ok(None),
            Some(budget) => budget.try_reserve(bytes).map(Some).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "the connection's buffers ({bytes} bytes) do not fit its host-memory \
                         budget ({} of {} bytes used)",
                        budget.used(),
                        budget.limit()
                    ),
                )
            }),
        }
    }

    /// Keeps a duplicate of a socket given to the instance.
    pub(crate) fn keep_socket(&self, fd: Arc<OwnedFd>) {
        lock(&self.sockets).push(fd);
    }

    /// The descriptor a waiting write watches beside its socket: readable
    /// once the connection is cancelled. `ECANCELED` if it already is;
    /// made at the first call.
    pub(crate) fn wake(&self) -> Result<BorrowedFd<'_>, wasi_core::Errno> {
        // Under the lock `cancel` takes: either the cancellation sees the
        // eventfd and signals it, or this sees the cancellation.
        let cancel = lock(&self.cancel);
        if cancel.cancelled {
            return Err(wasi_core::Errno::CANCELED);
        }
        let fd = match self.wake.get() {
            Some(fd) => fd,
            None => {
                let fd = rustix::event::eventfd(
                    0,
                    rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
                )
                .map_err(|e| wasi_core::Errno::from_io_kind(io::Error::from(e).kind()))?;
                self.wake.get_or_init(|| fd)
            }
        };
        drop(cancel);
        Ok(fd.as_fd())
    }

    /// Records the instance's interrupter; if the connection was forced
    /// closed meanwhile, interrupts now.
    pub(crate) fn set_interrupter(&self, interrupter: Option<Interrupter>) {
        let Some(interrupter) = interrupter else {
            return;
        };
        // Held while `forced` is read: a `force_close` that sets it after
        // the read waits here, then finds the interrupter.
        let mut held = lock(&self.interrupter);
        if lock(&self.state).forced {
            interrupter.interrupt();
        }
        *held = Some(interrupter);
    }

    /// Records the host's end of the cancellation channel; if the
    /// connection was cancelled meanwhile, cancels now.
    pub(crate) fn set_canceller(&self, sender: UnixStream) {
        let mut cancel = lock(&self.cancel);
        if cancel.cancelled {
            let _ = (&sender).write_all(&[0]);
        }
        cancel.sender = Some(sender);
    }

    /// Writes the cancellation byte, once.
    pub(crate) fn cancel(&self) {
        let mut cancel = lock(&self.cancel);
        if !cancel.cancelled {
            cancel.cancelled = true;
            if let Some(sender) = &cancel.sender {
                let _ = (&*sender).write_all(&[0]);
            }
            if let Some(wake) = self.wake.get() {
                signal(wake);
            }
        }
    }

    /// Whether the connection was cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        lock(&self.cancel).cancelled
    }

    /// Waits up to `timeout` for the instance to end; whether it has.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |state| state.ended)
    }

    /// Waits up to `timeout` for the instance to end or its sockets to be
    /// shut down: the connection is over either way.
    pub(crate) fn wait_released(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |state| state.ended || state.forced)
    }

    fn wait_for(&self, timeout: Duration, over: impl Fn(State) -> bool) -> bool {
        // A timeout past what `Instant` can hold waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut state = lock(&self.state);
        while !over(*state) {
            let left = deadline.map_or(Duration::from_secs(3600), |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            state = match self.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Shuts down every socket given to the instance, so that its peers see
    /// the connection end even if the module never returns.
    pub(crate) fn force_close(&self) {
        for fd in lock(&self.sockets).iter() {
            let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
        }
        lock(&self.state).forced = true;
        if let Some(interrupter) = &*lock(&self.interrupter) {
            interrupter.interrupt();
        }
        self.changed.notify_all();
    }

    /// Marks the instance ended (it has been dropped) and lets go of the
    /// duplicates.
    pub(crate) fn finish(&self) {
        lock(&self.sockets).clear();
        *lock(&self.interrupter) = None;
        lock(&self.cancel).sender = None;
        lock(&self.state).ended = true;
        self.changed.notify_all();
    }
}

/// The application's end of a connection served by a WATM: a byte stream
/// (one end of a socket pair whose other end the module reads and writes).
///
/// Closing it ([`Conn::close`], or dropping it) ends the connection: the
/// module's worker is cancelled and its instance dropped. After `close`,
/// reading and writing fail with [`io::ErrorKind::NotConnected`].
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    control: Arc<Control>,
    grace: Duration,
    closed: bool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancelled", &self.cancelled())
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(crate) fn new(stream: UnixStream, control: Arc<Control>, grace: Duration) -> Self {
        Self {
            stream,
            control,
            grace,
            closed: false,
        }
    }

    fn check_open(&self) -> io::Result<()> {
        if self.closed {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection is closed",
            ))
        } else {
            Ok(())
        }
    }

    /// Shuts down reading, writing or both, as `shutdown(2)`: after
    /// `Write`, the module reads end of stream from its caller connection.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.check_open()?;
        self.stream.shutdown(how)
    }

    /// Closes the connection: shuts the stream down, cancels the module's
    /// worker and waits for it up to the cancel grace
    /// ([`Config::cancel_grace`](crate::Config::cancel_grace)); past it, the
    /// module's sockets are shut down. Closing twice is a no-op.
    pub fn close(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let _ = self.stream.shutdown(Shutdown::Both);
        self.control.cancel();
        if !self.control.wait(self.grace) {
            self.control.force_close();
        }
        Ok(())
    }

    /// Reserves `bytes` of the instance's host-memory budget, for buffers
    /// the host keeps for this connection.
    pub(crate) fn reserve(&self, bytes: u64) -> io::Result<Option<Reservation>> {
        self.control.reserve(bytes)
    }

    /// Waits until the instance ended or its sockets were shut down.
    pub(crate) fn wait_released(&self) {
        self.control.wait_released(Duration::MAX);
    }

    /// Waits up to `timeout` for the module's instance to end (its worker
    /// returned or trapped); whether it has. `Duration::MAX` waits for as
    /// long as it takes.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        self.control.wait(timeout)
    }

    /// Sets a timeout for reads (`None`: block), as
    /// [`UnixStream::set_read_timeout`]; a read past it fails with
    /// `WouldBlock`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Sets a timeout for writes (`None`: block).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(timeout)
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_open()?;
        self.stream.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.check_open()?;
        self.stream.read_vectored(bufs)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check_open()?;
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_open()
    }
}

/// Reading through a shared reference, so that one thread can read while
/// another writes (as `TcpStream` allows).
impl Read for &Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_open()?;
        (&self.stream).read(buf)
    }
}

/// Writing through a shared reference.
impl Write for &Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        (&self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_open()
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Drop for Conn {
    /// Cancels the module's worker without waiting for it.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.stream.shutdown(Shutdown::Both);
            self.control.cancel();
        }
    }
}
