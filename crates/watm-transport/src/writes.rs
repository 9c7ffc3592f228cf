//! Writes on a WATM's connections complete (`spec/watm-v0.md` §3, "Writes
//! on connections complete"): a [`System`](wasi_core::System) decorator over the instance's
//! system, the only layer that knows which descriptors are connections.

use crate::conn::Control;
use rustix::event::{PollFd, PollFlags};
use rustix::time::Timespec;
use std::io::IoSlice;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;
use wasi_core::Errno;
use wasi_core::types::{Fd, Rights, Siflags, Size};
use wasi_core::vfs::VirtualFds;

/// The system of one connection's instance: everything forwarded to the
/// system it wraps, except that `fd_write` and `sock_send` on the
/// connection descriptors write every byte, waiting for the socket in the
/// host, until the connection is cancelled or its deadline passes.
pub(crate) struct CompleteWrites {
    inner: Box<dyn VirtualFds + Send>,
    /// The connection descriptors (guest number, a duplicate of the host
    /// socket to wait on); at most `MAX_HOST_CONNS` and the caller.
    conns: Vec<(Fd, Arc<OwnedFd>)>,
    /// Cancelling the connection ends a wait.
    control: Arc<Control>,
    /// The end of the instance's time (`Config::timeout`), which ends a
    /// wait too.
    deadline: Option<Instant>,
}

impl CompleteWrites {
    /// Wraps `inner`, the system of the connection `control` holds, which
    /// may run until `deadline`.
    pub(crate) fn new(
        inner: Box<dyn VirtualFds + Send>,
        control: Arc<Control>,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            inner,
            conns: Vec::new(),
            control,
            deadline,
        }
    }

    /// Inserts the connection `socket` (rights `SOCKET`) at the lowest free
    /// descriptor, whose writes then complete; the host keeps a duplicate
    /// (in the control too, to shut it down if the module never does).
    pub(crate) fn insert_conn(&mut self, socket: OwnedFd) -> Result<Fd, Errno> {
        let duplicate = socket.try_clone().map(Arc::new);
        let fd = self
            .inner
            .insert_host(socket, Rights::SOCKET, Rights::empty())?;
        if let Ok(duplicate) = duplicate {
            self.control.keep_socket(Arc::clone(&duplicate));
            self.conns.push((fd, duplicate));
        }
        Ok(fd)
    }

    /// The duplicate of the connection at `fd`, if `fd` is one.
    fn conn(&self, fd: Fd) -> Option<Arc<OwnedFd>> {
        self.conns
            .iter()
            .find(|(conn, _)| *conn == fd)
            .map(|(_, socket)| Arc::clone(socket))
    }

    /// Writes `iovs` with `write` (the inner system's `fd_write` or
    /// `sock_send` on `fd`), then, if `fd` is a connection and not every
    /// byte went, waits for the socket and writes the rest, until all are
    /// written or the wait ends (`spec/watm-v0.md`). The buffers are guest
    /// memory, written from in place: the rest of a partly written buffer
    /// is passed alone, the buffers after it as they are.
    fn complete(
        &mut self,
        fd: Fd,
        iovs: &[IoSlice<'_>],
        mut write: impl FnMut(&mut (dyn VirtualFds + Send), &[IoSlice<'_>]) -> Result<Size, Errno>,
    ) -> Result<Size, Errno> {
        let first = write(&mut *self.inner, iovs);
        let want = iovs
            .iter()
            .map(|iov| iov.len())
            .fold(0usize, usize::saturating_add)
            .min(Size::MAX as usize);
        let mut written = match first {
            Ok(n) if n as usize >= want => return first,
            Ok(0) => return first,
            Ok(n) => n as usize,
            Err(Errno::AGAIN) => 0,
            Err(_) => return first,
        };
        let Some(socket) = self.conn(fd) else {
            return first;
        };
        // What ends the write early: the bytes written so far, or the
        // errno when there are none.
        let end = |written: usize, errno: Errno| {
            if written > 0 {
                Ok(written as Size)
            } else {
                Err(errno)
            }
        };
        while written < want {
            if let Err(errno) = self.wait_writable(&socket) {
                return end(written, errno);
            }
            let (index, offset) = position(iovs, written);
            let rest = if offset == 0 {
                write(&mut *self.inner, &iovs[index..])
            } else {
                write(&mut *self.inner, &[IoSlice::new(&iovs[index][offset..])])
            };
            match rest {
                Ok(0) => break,
                Ok(n) => written += n as usize,
                Err(Errno::AGAIN) => {}
                Err(errno) => return end(written, errno),
            }
        }
        Ok(written.min(want) as Size)
    }

    /// Waits until `socket` is writable (or failed: the next write tells
    /// how), the connection is cancelled (`ECANCELED`) or the deadline
    /// passes (`ETIMEDOUT`).
    fn wait_writable(&self, socket: &OwnedFd) -> Result<(), Errno> {
        let wake = self.control.wake()?;
        loop {
            let left = match self.deadline {
                None => None,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Errno::TIMEDOUT);
                    }
                    Some(Timespec {
                        tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
                        tv_nsec: left.subsec_nanos().into(),
                    })
                }
            };
            let mut fds = [
                PollFd::new(socket, PollFlags::OUT),
                PollFd::from_borrowed_fd(wake, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, left.as_ref()) {
                Ok(_) if !fds[1].revents().is_empty() => return Err(Errno::CANCELED),
                Ok(_) if !fds[0].revents().is_empty() => return Ok(()),
                // Timed out: the deadline is checked again.
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Errno::from_io_kind(std::io::Error::from(e).kind())),
            }
        }
    }

    /// Forgets the connection at `fd` (closed, or replaced by a renumber).
    fn forget(&mut self, fd: Fd) {
        self.conns.retain(|(conn, _)| *conn != fd);
    }
}

/// Where the byte `written` of `iovs` is: the buffer's index and the
/// offset in it (the buffer after the last full one, at 0, when `written`
/// ends one).
fn position(iovs: &[IoSlice<'_>], mut written: usize) -> (usize, usize) {
    for (index, iov) in iovs.iter().enumerate() {
        if written < iov.len() {
            return (index, written);
        }
        written -= iov.len();
    }
    (iovs.len(), 0)
}

impl wasi_core::system::Decorator for CompleteWrites {
    type Inner = dyn VirtualFds + Send;

    #[inline]
    fn inner(&mut self) -> &mut Self::Inner {
        &mut *self.inner
    }

    fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size, Errno> {
        self.complete(fd, iovs, |inner, iovs| inner.fd_write(fd, iovs))
    }

    fn sock_send(&mut self, fd: Fd, iovs: &[IoSlice<'_>], flags: Siflags) -> Result<Size, Errno> {
        self.complete(fd, iovs, |inner, iovs| inner.sock_send(fd, iovs, flags))
    }

    fn fd_close(&mut self, fd: Fd) -> Result<(), Errno> {
        (*self.inner).fd_close(fd)?;
        self.forget(fd);
        Ok(())
    }

    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<(), Errno> {
        (*self.inner).fd_renumber(from, to)?;
        if from != to {
            self.forget(to);
            if let Some(conn) = self.conns.iter_mut().find(|(conn, _)| *conn == from) {
                conn.0 = to;
            }
        }
        Ok(())
    }
}

impl VirtualFds for CompleteWrites {
    wasi_core::forward_virtual_fds!(self => self.inner);
}

#[cfg(test)]
mod tests {
    use super::position;
    use std::io::IoSlice;

    #[test]
    fn position_finds_the_first_byte_not_written() {
        let (a, b) = ([0u8; 3], [0u8; 2]);
        let iovs = [IoSlice::new(&a), IoSlice::new(&[]), IoSlice::new(&b)];
        assert_eq!(position(&iovs, 0), (0, 0));
        assert_eq!(position(&iovs, 2), (0, 2));
        assert_eq!(position(&iovs, 3), (2, 0));
        assert_eq!(position(&iovs, 4), (2, 1));
        assert_eq!(position(&iovs, 5), (3, 0));
    }
}
