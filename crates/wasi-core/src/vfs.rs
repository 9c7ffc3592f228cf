//! Virtual files: objects that are not host files but live in the fd table
//! beside them (WADI devices, cloud-filesystem entries, in-memory files).
//!
//! A [`System`](crate::System) that supports virtual files stores a
//! `Box<dyn VirtualFile>` in its [`FdTable`](crate::fdtable::FdTable) and
//! forwards the descriptor calls to it. Defaults give the errno POSIX gives
//! for an object that does not support the operation.

use crate::system::{DirentWriter, Result};
use crate::types::*;
use std::io::{IoSlice, IoSliceMut};

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
}
