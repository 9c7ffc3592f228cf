//! Reads and writes on the guest's standard streams, with its `fdflags`
//! emulated.
//!
//! The open file descriptions behind descriptors 0, 1 and 2 are shared with
//! other processes (the shell that started the host, the other commands of a
//! pipeline), and so are their file status flags: `fcntl(F_SETFL,
//! O_NONBLOCK)` made for the guest would hold for all of them and outlive
//! the host, and a shell whose terminal was left non-blocking fails its next
//! read with `EAGAIN`. So the `append` and `nonblock` a guest sets on a
//! standard stream are kept in its entry ([`Io::Stream`](crate::entry::Io))
//! and applied to each call with flags of the call, never of the
//! description:
//!
//! - `nonblock` on a socket is `MSG_DONTWAIT` (its calls are made in
//!   `crate::net`, with those of every socket). On a pipe, terminal or other
//!   character device it is `RWF_NOWAIT` (`preadv2`/`pwritev2`), which Linux
//!   honours on pipes made by `pipe(2)` and on the memory devices
//!   (`/dev/null`, ...); where the file refuses it with `EOPNOTSUPP`
//!   (terminals, named pipes, most other devices; Linux 6.18) a `poll`
//!   without timeout comes first, and the call gives `EAGAIN` unless the
//!   descriptor is ready. A write after such a `poll` writes at most
//!   `PIPE_BUF` bytes, which a pipe with room takes without waiting. (A
//!   process reading the same terminal or named pipe between the two calls
//!   can still make the read wait.) On a regular file or a block device
//!   `nonblock` changes nothing, as Linux's `O_NONBLOCK` there.
//! - `append` on a regular file or a block device writes with `RWF_APPEND`
//!   at the current offset (which moves to the new end, as with
//!   `O_APPEND`). On anything else it changes nothing, as Linux's
//!   `O_APPEND` on a pipe, terminal or socket.
//!
//! Streams without flags take the same system calls as other descriptors.

use std::io::{IoSlice, IoSliceMut};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::BorrowedFd;
use rustix::io::ReadWriteFlags;
use wasi_core::system::Result;
use wasi_core::types::{Fdflags, Filetype, Size};

use crate::errno::from_host;
use crate::size;

/// The offset of `preadv2`/`pwritev2` that means the current file offset,
/// used and moved as by `readv`/`writev`.
const CURRENT_OFFSET: u64 = u64::MAX;

/// What a stream's flags mean for it, by the type of the host object.
#[derive(Clone, Copy)]
enum Kind {
    /// A regular file or block device: `append` applies, `nonblock` means
    /// nothing.
    File,
    /// A pipe, terminal, other character device, or anything else:
    /// `nonblock` applies, `append` means nothing.
    Other,
}

impl Kind {
    fn of(filetype: Option<Filetype>) -> Self {
        match filetype {
            Some(Filetype::REGULAR_FILE | Filetype::BLOCK_DEVICE) => Self::File,
            _ => Self::Other,
        }
    }
}

/// `fd_read` on a standard stream: host descriptor `fd`, of type
/// `filetype` (not a socket), with the guest's `flags`.
pub(crate) fn read(
    fd: BorrowedFd<'_>,
    filetype: Option<Filetype>,
    flags: Fdflags,
    iovs: &mut [IoSliceMut<'_>],
) -> Result<Size> {
    let nonblock = flags.contains(Fdflags::NONBLOCK);
    match Kind::of(filetype) {
        Kind::Other if nonblock => {
            match rustix::io::preadv2(fd, iovs, CURRENT_OFFSET, ReadWriteFlags::NOWAIT) {
                Err(rustix::io::Errno::OPNOTSUPP) => {
                    ready(fd, PollFlags::IN).and_then(|()| rustix::io::readv(fd, iovs))
                }
                result => result,
            }
        }
        _ => match iovs {
            [one] => rustix::io::read(fd, &mut **one),
            _ => rustix::io::readv(fd, iovs),
        },
    }
    .map(size)
    .map_err(from_host)
}

/// `fd_write` on a standard stream: host descriptor `fd`, of type
/// `filetype` (not a socket), with the guest's `flags`.
pub(crate) fn write(
    fd: BorrowedFd<'_>,
    filetype: Option<Filetype>,
    flags: Fdflags,
    iovs: &[IoSlice<'_>],
) -> Result<Size> {
    let nonblock = flags.contains(Fdflags::NONBLOCK);
    match Kind::of(filetype) {
        Kind::File if flags.contains(Fdflags::APPEND) => {
            rustix::io::pwritev2(fd, iovs, CURRENT_OFFSET, ReadWriteFlags::APPEND)
        }
        Kind::Other if nonblock => {
            match rustix::io::pwritev2(fd, iovs, CURRENT_OFFSET, ReadWriteFlags::NOWAIT) {
                Err(rustix::io::Errno::OPNOTSUPP) => {
                    ready(fd, PollFlags::OUT).and_then(|()| write_pipe_buf(fd, iovs))
                }
                result => result,
            }
        }
        _ => match iovs {
            [one] => rustix::io::write(fd, one),
            _ => rustix::io::writev(fd, iovs),
        },
    }
    .map(size)
    .map_err(from_host)
}

/// `Ok` if `fd` is ready for `events`, or has hung up or failed (which the
/// call that follows reports), `EAGAIN` if not; never waits.
pub(crate) fn ready(fd: BorrowedFd<'_>, events: PollFlags) -> rustix::io::Result<()> {
    let mut pollfd = [PollFd::from_borrowed_fd(fd, events)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match rustix::event::poll(&mut pollfd, Some(&now))? {
        0 => Err(rustix::io::Errno::AGAIN),
        _ => Ok(()),
    }
}

/// Writes at most `PIPE_BUF` bytes of the first non-empty buffer of
/// `iovs`: as much as a pipe that `poll` reported writable takes without
/// waiting (a short write, which a non-blocking write may be).
fn write_pipe_buf(fd: BorrowedFd<'_>, iovs: &[IoSlice<'_>]) -> rustix::io::Result<usize> {
    match iovs.iter().find(|buf| !buf.is_empty()) {
        Some(buf) => rustix::io::write(fd, &buf[..buf.len().min(libc::PIPE_BUF)]),
        None => Ok(0),
    }
}
