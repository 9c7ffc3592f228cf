//! Virtual files: objects that are not host files but live in the fd table
//! beside them (WADI devices, cloud-filesystem entries, in-memory files),
//! and virtual directories ([`VirtualDir`]): trees of them that the mount
//! layer ([`crate::mount`]) serves at a guest path.
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

use crate::budget::HostBudget;
use crate::system::{Decorator, DirentWriter, Result};
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

    /// Whether one more descriptor fits the guest's table: `EMFILE` when
    /// it holds its limit (`spec/preview1.md`, "File descriptors"). An
    /// extension asks before it opens or creates anything it will install,
    /// so that a full table has no side effect (the mount layer asks before
    /// every open). Decorators forward it to their inner system.
    fn fd_room(&self) -> Result<()>;

    /// The guest's budget of host memory ([`HostBudget`]), which every
    /// layer keeping host memory for the guest charges. The system holding
    /// the table holds it; decorators forward it to their inner system.
    fn host_budget(&self) -> &HostBudget;
}

/// The methods of [`VirtualFds`] for a layer that passes every one of them
/// to the system `$inner` (an expression of `self`, such as `self.inner`):
/// written once, so that a method added to the trait reaches every such
/// layer by construction, as [`for_each_system_method!`](crate::for_each_system_method)
/// does for [`Decorator`]s.
///
/// ```
/// use wasi_core::system::{Decorator, System};
/// use wasi_core::vfs::VirtualFds;
///
/// /// A layer that changes no call.
/// struct Layer<S>(S);
///
/// impl<S: System> Decorator for Layer<S> {
///     type Inner = S;
///     fn inner(&mut self) -> &mut S {
///         &mut self.0
///     }
/// }
///
/// impl<S: VirtualFds> VirtualFds for Layer<S> {
///     wasi_core::forward_virtual_fds!(self => self.0);
/// }
/// ```
#[macro_export]
macro_rules! forward_virtual_fds {
    ($self:ident => $inner:expr) => {
        fn insert_virtual(
            &mut $self,
            file: ::std::boxed::Box<dyn $crate::vfs::VirtualFile>,
            rights: $crate::types::Rights,
            inheriting: $crate::types::Rights,
            preopen: ::std::option::Option<&str>,
        ) -> $crate::system::Result<$crate::types::Fd> {
            $crate::vfs::VirtualFds::insert_virtual(&mut $inner, file, rights, inheriting, preopen)
        }

        fn insert_host(
            &mut $self,
            fd: ::std::os::fd::OwnedFd,
            rights: $crate::types::Rights,
            inheriting: $crate::types::Rights,
        ) -> $crate::system::Result<$crate::types::Fd> {
            $crate::vfs::VirtualFds::insert_host(&mut $inner, fd, rights, inheriting)
        }

        fn fd_room(&$self) -> $crate::system::Result<()> {
            $crate::vfs::VirtualFds::fd_room(&$inner)
        }

        fn host_budget(&$self) -> &$crate::budget::HostBudget {
            $crate::vfs::VirtualFds::host_budget(&$inner)
        }
    };
}

/// A boxed system that takes descriptors from extensions is a system (as a
/// boxed [`System`](crate::System) is).
impl Decorator for Box<dyn VirtualFds + Send> {
    type Inner = dyn VirtualFds + Send + 'static;

    #[inline]
    fn inner(&mut self) -> &mut (dyn VirtualFds + Send + 'static) {
        &mut **self
    }
}

/// A boxed system taking descriptors from extensions still takes them: a
/// host assembling a guest's layers at run time keeps the box, and its
/// extensions install descriptors through it.
impl VirtualFds for Box<dyn VirtualFds + Send> {
    crate::forward_virtual_fds!(self => **self);
}

/// Copies `src` into `iovs` in order, filling each before the next, as
/// `readv` does; returns the number of bytes copied: the smaller of
/// `src.len()` and the buffers' total length.
///
/// ```
/// use std::io::IoSliceMut;
/// use wasi_core::vfs::copy_to_iovs;
///
/// let (mut a, mut b) = ([0u8; 2], [0u8; 8]);
/// let n = copy_to_iovs(b"hello", &mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)]);
/// assert_eq!((n, &a, &b[..3]), (5, b"he", &b"llo"[..]));
/// ```
pub fn copy_to_iovs(mut src: &[u8], iovs: &mut [IoSliceMut<'_>]) -> usize {
    let mut copied = 0;
    for iov in iovs {
        if src.is_empty() {
            break;
        }
        let n = iov.len().min(src.len());
        iov[..n].copy_from_slice(&src[..n]);
        src = &src[n..];
        copied += n;
    }
    copied
}

/// A read-only file over bytes: `fd_read`, `fd_pread`, `fd_seek` and
/// `fd_filestat_get` served from `B` (`&'static [u8]`, `Vec<u8>`,
/// `Arc<[u8]>`, `Cow<'static, [u8]>`, anything that is `AsRef<[u8]>`),
/// with a position of its own; writes are `EBADF`, as for a descriptor
/// not open for writing.
///
/// It reports a regular file of the bytes' length ([`Filestat::file`])
/// unless given other attributes with [`BytesFile::with_filestat`]. It
/// seeks whatever its type: the rights the descriptor gets (for a mount,
/// those of its type) decide whether the guest may.
///
/// ```
/// use std::io::IoSliceMut;
/// use std::sync::Arc;
/// use wasi_core::types::{Filestat, Whence};
/// use wasi_core::vfs::{BytesFile, VirtualFile};
///
/// let text: Arc<[u8]> = Arc::from(&b"hello, world"[..]);
/// let mut file = BytesFile::new(text).with_filestat(Filestat { ino: 9, ..Filestat::file(0) });
/// let mut buf = [0u8; 5];
/// assert_eq!(file.read(&mut [IoSliceMut::new(&mut buf)]), Ok(5));
/// assert_eq!(&buf, b"hello");
/// assert_eq!(file.seek(-5, Whence::END), Ok(7));
/// assert_eq!(file.read(&mut [IoSliceMut::new(&mut buf)]), Ok(5));
/// assert_eq!(&buf, b"world");
/// assert_eq!(file.pread(&mut [IoSliceMut::new(&mut buf)], 5), Ok(5));
/// assert_eq!(&buf, b", wor");
/// // The size is the bytes' length, whatever the attributes given.
/// assert_eq!(file.filestat().map(|s| (s.ino, s.size)), Ok((9, 12)));
/// ```
#[derive(Clone, Debug)]
pub struct BytesFile<B> {
    bytes: B,
    pos: Filesize,
    filestat: Filestat,
}

impl<B: AsRef<[u8]>> BytesFile<B> {
    /// A regular file reading as `bytes`, positioned at the start.
    pub fn new(bytes: B) -> Self {
        let size = bytes.as_ref().len() as Filesize;
        Self {
            bytes,
            pos: 0,
            filestat: Filestat::file(size),
        }
    }

    /// Reports `filestat` (its type, inode, times...) instead, but for the
    /// size, which stays the bytes' length.
    pub fn with_filestat(mut self, filestat: Filestat) -> Self {
        self.filestat = Filestat {
            size: self.filestat.size,
            ..filestat
        };
        self
    }

    /// The bytes it reads as.
    pub fn bytes(&self) -> &B {
        &self.bytes
    }

    /// Copies the bytes from `offset` on into `iovs`.
    fn read_at(&self, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Size {
        let bytes = self.bytes.as_ref();
        let start = usize::try_from(offset).map_or(bytes.len(), |at| at.min(bytes.len()));
        let end = bytes.len().min(start.saturating_add(Size::MAX as usize));
        copy_to_iovs(&bytes[start..end], iovs) as Size
    }
}

/// The largest position: `fd_seek` and `fd_tell` report positions as a
/// signed 64-bit offset.
const MAX_POSITION: Filesize = Filedelta::MAX as Filesize;

impl<B: AsRef<[u8]> + Send> VirtualFile for BytesFile<B> {
    fn filetype(&self) -> Filetype {
        self.filestat.filetype
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(self.filestat)
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let n = self.read_at(iovs, self.pos);
        self.pos += Filesize::from(n);
        Ok(n)
    }

    fn pread(&mut self, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        if offset > MAX_POSITION {
            return Err(Errno::INVAL);
        }
        Ok(self.read_at(iovs, offset))
    }

    fn seek(&mut self, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        let base = match whence {
            Whence::SET => 0,
            Whence::CUR => self.pos,
            Whence::END => self.filestat.size,
            _ => return Err(Errno::INVAL),
        };
        let pos = base
            .checked_add_signed(offset)
            .filter(|&pos| pos <= MAX_POSITION)
            .ok_or(Errno::INVAL)?;
        self.pos = pos;
        Ok(pos)
    }
}

/// A tree of files, or a single file, that [`Mounts`] serves at a guest path.
///
/// [`Mounts`]: crate::mount::Mounts
///
/// Paths given to it are relative to its root and normalized: `""` is the
/// root, otherwise components joined by `/`, none empty, `.` or `..`. The
/// mount layer has checked the rights of the directory descriptor the call
/// came through. Mutating calls default to `ENOTSUP`, as on a file system
/// that cannot do them; a read-only tree implements only [`stat`],
/// [`open`] and, for a directory, [`readdir`].
///
/// Calls may come from several guests at once (a mount may be shared), so
/// the trait takes `&self`.
///
/// [`stat`]: VirtualDir::stat
/// [`open`]: VirtualDir::open
/// [`readdir`]: VirtualDir::readdir
pub trait VirtualDir: Send + Sync {
    /// The type of the root: a directory (the default), or the type of the
    /// single file this mount is. Below a root that is not a directory
    /// nothing exists: paths there give `ENOTDIR`.
    fn filetype(&self) -> Filetype {
        Filetype::DIRECTORY
    }

    /// Attributes of `path`; `ENOENT` when it does not exist.
    fn stat(&self, path: &str) -> Result<Filestat>;

    /// Opens what is at `path`, for `path_open`, in one step: a file is
    /// [`Opened::File`]; a directory is [`Opened::Directory`], with no
    /// effect (the mount layer opens directories itself, and answers
    /// `EISDIR` or `EEXIST` to `CREAT`, `TRUNC` and `EXCL` on them).
    ///
    /// The rules: nothing at `path` is `ENOENT`, unless `CREAT` is given
    /// and `how.directory` is not, in which case the file is created (with
    /// `EXCL`, atomically: `EEXIST` if it exists); `CREAT|EXCL` on an
    /// existing file is `EEXIST`; `how.directory` on a file is `ENOTDIR`
    /// with no effect. `TRUNC` and the `APPEND` fdflag are the
    /// implementation's to honour.
    ///
    /// The default follows these rules with [`stat`](Self::stat) first,
    /// then [`open_file`](Self::open_file). A mount whose every call is a
    /// round trip (a network store) overrides it to answer in one.
    fn open(&self, path: &str, how: &OpenHow) -> Result<Opened> {
        let creat = how.oflags.contains(Oflags::CREAT);
        match self.stat(path) {
            Ok(stat) if stat.filetype == Filetype::DIRECTORY => Ok(Opened::Directory),
            Ok(_) if how.directory => Err(Errno::NOTDIR),
            Ok(_) if creat && how.oflags.contains(Oflags::EXCL) => Err(Errno::EXIST),
            Ok(_) => self.open_file(path, how).map(Opened::File),
            Err(Errno::NOENT) if creat && !how.directory => {
                self.open_file(path, how).map(Opened::File)
            }
            Err(errno) => Err(errno),
        }
    }

    /// Opens the file (not a directory) at `path` for the default
    /// [`open`](Self::open): called when [`stat`](Self::stat) found a file,
    /// or found nothing and `how.oflags` has `CREAT` (create it; with
    /// `EXCL`, atomically: `EEXIST` when it appeared meanwhile).
    fn open_file(&self, path: &str, how: &OpenHow) -> Result<Box<dyn VirtualFile>>;

    /// Lists the directory `path` from `cookie` on, for `fd_readdir`.
    /// Cookies are the implementation's own: `0` is the first entry, each
    /// entry carries the cookie of the next. `.` and `..` are not listed
    /// (the mount layer adds them). `ENOTDIR` by default.
    fn readdir(&self, path: &str, cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
        let _ = (path, cookie, out);
        Err(Errno::NOTDIR)
    }

    /// Creates the directory `path` (`path_create_directory`).
    fn create_directory(&self, path: &str) -> Result<()> {
        let _ = path;
        Err(Errno::NOTSUP)
    }

    /// Removes the empty directory `path` (`path_remove_directory`).
    fn remove_directory(&self, path: &str) -> Result<()> {
        let _ = path;
        Err(Errno::NOTSUP)
    }

    /// Removes the file `path` (`path_unlink_file`).
    fn unlink_file(&self, path: &str) -> Result<()> {
        let _ = path;
        Err(Errno::NOTSUP)
    }

    /// Renames `from` to `to`, both in this mount, replacing `to`
    /// atomically as `rename(2)` does (`path_rename`).
    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let _ = (from, to);
        Err(Errno::NOTSUP)
    }
}

/// How a file is opened ([`VirtualDir::open`]).
#[derive(Clone, Debug)]
pub struct OpenHow {
    /// `path_open`'s oflags.
    pub oflags: Oflags,
    /// `path_open`'s fdflags.
    pub fdflags: Fdflags,
    /// The rights the descriptor will have (before narrowing to the file's
    /// type): a file may choose not to buffer writes it cannot get.
    pub rights: Rights,
    /// Whether only a directory will do: `O_DIRECTORY`, or a path ending
    /// in `/`, `/.` or `/..`.
    pub directory: bool,
    /// The opening guest's budget of host memory
    /// ([`VirtualFds::host_budget`]): a file that keeps buffers for the
    /// guest (a value read or written) charges them here, for as long as
    /// it holds them.
    pub budget: HostBudget,
}

/// What [`VirtualDir::open`] found.
pub enum Opened {
    /// A file, opened.
    File(Box<dyn VirtualFile>),
    /// A directory, which the mount layer opens.
    Directory,
}

/// Entries of a directory being listed ([`VirtualDir::readdir`]): a
/// [`DirentWriter`] whose cookies are moved past `.` and `..`.
pub struct Listing<'w, 'a> {
    out: &'w mut DirentWriter<'a>,
}

/// The cookies `.` and `..` take before a mounted directory's own entries.
pub(crate) const DOT_ENTRIES: Dircookie = 2;

impl<'w, 'a> Listing<'w, 'a> {
    /// The listing of a mounted directory into `out`.
    pub(crate) fn new(out: &'w mut DirentWriter<'a>) -> Self {
        Self { out }
    }

    /// Appends an entry whose successor has cookie `next`. Returns `false`
    /// once the guest's buffer is full: stop listing.
    pub fn push(&mut self, next: Dircookie, ino: Inode, filetype: Filetype, name: &str) -> bool {
        self.out.push(
            next.saturating_add(DOT_ENTRIES),
            ino,
            filetype,
            name.as_bytes(),
        )
    }
}
