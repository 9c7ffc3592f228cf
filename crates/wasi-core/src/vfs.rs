//! Virtual files: objects that are not host files but live in the fd table
//! beside them (WADI devices, cloud-filesystem entries, in-memory files).
//!
//! A [`System`](crate::System) that supports virtual files stores a
//! `Box<dyn VirtualFile>` in its [`FdTable`](crate::fdtable::FdTable) and
//! forwards the descriptor calls to it. Defaults give the errno POSIX gives
//! for an object that does not support the operation.
//!
//! Readiness ([`VirtualFile::ready_fd`]) and host descriptors
//! ([`VirtualFds::insert_host`]) are expressed with `std::os::fd`: this
//! module, and so wasi-core, is for hosts that have file descriptors (Unix,
//! WASI).

use crate::system::{DirentWriter, Result};
use crate::types::*;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, OwnedFd};

/// An open virtual file or directory.
pub trait VirtualFile: Send {
    /// The file type reported by `fd_fdstat_get` and `fd_filestat_get`.
    fn filetype(&self) -> Filetype;

    /// Attributes, as `fd_filestat_get` returns them.
    fn filestat(&mut self) -> Result<Filestat>;

    /// Reads at the current position (`fd_read`); `EBADF` by default, as for
    /// a descriptor not open for reading.
    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let _ = iovs;
        Err(Errno::BADF)
    }

    /// Writes at the current position (`fd_write`); `EBADF` by default.
    fn write(&mut self, iovs: &[IoSlice<'_>]) -> Result<Size> {
        let _ = iovs;
        Err(Errno::BADF)
    }

    /// Reads at `offset` (`fd_pread`); `ESPIPE` by default, as for a stream.
    fn pread(&mut self, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        let _ = (iovs, offset);
        Err(Errno::SPIPE)
    }

    /// Writes at `offset` (`fd_pwrite`); `ESPIPE` by default.
    fn pwrite(&mut self, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size> {
        let _ = (iovs, offset);
        Err(Errno::SPIPE)
    }

    /// Moves the position (`fd_seek`, and `fd_tell` as a zero `CUR` seek);
    /// `ESPIPE` by default.
    fn seek(&mut self, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        let _ = (offset, whence);
        Err(Errno::SPIPE)
    }

    /// Changes the size (`fd_filestat_set_size`); `EINVAL` by default, as
    /// `ftruncate` on an object that cannot be truncated.
    fn set_size(&mut self, size: Filesize) -> Result<()> {
        let _ = size;
        Err(Errno::INVAL)
    }

    /// Lists entries (`fd_readdir`); `ENOTDIR` by default.
    fn readdir(&mut self, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
        let _ = (cookie, out);
        Err(Errno::NOTDIR)
    }

    /// Flushes to the backing store (`fd_sync`, `fd_datasync`); nothing to do by default.
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    /// Called by `fd_close` before the file is dropped; its error is
    /// `fd_close`'s (the descriptor is closed all the same, as with
    /// `close(2)`). Nothing to do by default.
    ///
    /// A file that buffers writes commits them here, so that the guest
    /// learns whether they were kept. A file dropped without this call
    /// (replaced by `fd_renumber`, or left open when the system is dropped)
    /// can only clean up in `Drop`.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }

    /// The host descriptor whose readiness stands for this file's in
    /// `poll_oneoff`; `None` (the default) when the file is always ready.
    ///
    /// A subscription on the file waits until that descriptor is readable
    /// (`fd_read` subscription) or writable (`fd_write` subscription), as a
    /// subscription on the descriptor itself would: a file whose data is
    /// still arriving returns the read end of a pipe its producer writes to,
    /// or an eventfd it signals. A hang-up there is reported as
    /// `fd_readwrite_hangup`; `nbytes` is 0, the descriptor's byte count
    /// saying nothing about the file's.
    ///
    /// Return the same descriptor for as long as the file is open: a system
    /// may keep a wait registered on it between calls (the io_uring backend
    /// of wasi-unix does), until the guest closes or renumbers the file.
    fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A [`System`](crate::System) whose descriptor table can hold virtual files.
///
/// Decorators that mount virtual files into the guest's namespace (WADI
/// devices, the cloud filesystem) wrap a `VirtualFds` system: they resolve
/// the paths they own themselves and install what they open here, so that
/// descriptor numbers stay unique and every descriptor call reaches the
/// right object.
pub trait VirtualFds: crate::System {
    /// Installs `file` at the lowest free descriptor with the given rights.
    /// With `preopen`, the descriptor is a preopened directory that the guest
    /// sees under that path (`fd_prestat_get`, `fd_prestat_dir_name`).
    fn insert_virtual(
        &mut self,
        file: Box<dyn VirtualFile>,
        rights: Rights,
        inheriting: Rights,
        preopen: Option<&str>,
    ) -> Result<Fd>;

    /// Installs the host descriptor `fd` (a socket, a pipe, one end of a
    /// socket pair, a file) at the lowest free descriptor, while the guest
    /// may be running, and returns that descriptor; the guest then uses it
    /// as any descriptor of its type, `poll_oneoff` included.
    ///
    /// The system finds the descriptor's type itself and gives it `rights`
    /// and `inheriting` capped to what that type supports (the rules are in
    /// `spec/preview1.md`, "Descriptors inserted by extensions"). `fd` is
    /// closed if it cannot be installed.
    ///
    /// A table that holds no host descriptors (an in-memory system, a test
    /// double) gives `ENOTSUP`; decorators forward it to their inner system.
    /// There is no default, so that no decorator drops it unawares.
    fn insert_host(&mut self, fd: OwnedFd, rights: Rights, inheriting: Rights) -> Result<Fd>;
}
