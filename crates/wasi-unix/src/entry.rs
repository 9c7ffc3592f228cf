//! What the fd table holds: host descriptors and virtual files.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::FileType;
use rustix::net::SocketType;
use wasi_core::fdtable::FdEntry;
use wasi_core::system::Result;
use wasi_core::types::{Fdflags, Filetype, Rights};
use wasi_core::vfs::VirtualFile;

use crate::errno::from_host;
use crate::fdlimit::FdSlot;

/// An open object in the fd table.
pub(crate) enum Entry {
    /// A host file, directory, pipe, character device or socket.
    Host(Host),
    /// A file provided by another crate; `fd_*` calls are forwarded to it.
    Virtual(Box<dyn VirtualFile>),
}

/// A host descriptor.
pub(crate) struct Host {
    /// The descriptor itself.
    pub(crate) fd: HostFd,
    /// The file type, once known. A descriptor opened by `path_open` without
    /// `oflags::directory` has an unknown type until a call needs it, so that
    /// opening costs one `openat2` and nothing else (see
    /// [`resolve_filetype`]).
    pub(crate) filetype: Option<Filetype>,
    /// Whether it is on a kernel pseudo-filesystem (procfs, sysfs, ...;
    /// see `crate::pseudo`). Every open beneath such a directory is checked,
    /// and the descriptor lacks `pseudo::WRITE_RIGHTS`. Only directories
    /// need to know.
    pub(crate) on_pseudo_fs: bool,
    /// How its reads and writes are made: plain system calls for all but
    /// standard streams and the guest's datagram sockets.
    pub(crate) io: Io,
}

/// How the reads and writes of a host descriptor are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Io {
    /// Plain system calls, under the flags of the open file description.
    Plain,
    /// A standard stream, whose open file description other processes
    /// share: the `fdflags` the guest set on it (`append`, `nonblock`) are
    /// kept here and emulated on each call (see `crate::stream`).
    Stream(Fdflags),
    /// A datagram socket the guest opened and has not bound under a bind
    /// rule: receiving drops datagrams from sources no connect rule allows,
    /// and the first `sock_send_to` binds it first (`spec/sockets.md`).
    Filtered,
}

impl Io {
    /// Whether calls must not wait: a standard stream's emulated
    /// `nonblock` (other descriptors carry theirs in the description).
    pub(crate) fn nonblock(self) -> bool {
        matches!(self, Self::Stream(flags) if flags.contains(Fdflags::NONBLOCK))
    }
}

impl Host {
    /// A host descriptor whose type is known, not on a pseudo-filesystem.
    pub(crate) fn new(fd: HostFd, filetype: Filetype) -> Self {
        Self {
            fd,
            filetype: Some(filetype),
            on_pseudo_fs: false,
            io: Io::Plain,
        }
    }

    /// Whether this is a socket (only sockets have socket types, and their
    /// type is always known).
    pub(crate) fn is_socket(&self) -> bool {
        matches!(
            self.filetype,
            Some(Filetype::SOCKET_STREAM | Filetype::SOCKET_DGRAM)
        )
    }
}

/// A host descriptor, owned or borrowed from the process.
pub(crate) enum HostFd {
    /// Closed when the entry is dropped, and then uncounted from the
    /// guests' share of the process's descriptors (the slot: no owned
    /// descriptor without one).
    Owned(
        OwnedFd,
        #[expect(
            dead_code,
            reason = "held for its `Drop`, which uncounts the descriptor"
        )]
        FdSlot,
    ),
    /// One of the process's own standard streams: never closed by us.
    Stdio(BorrowedFd<'static>),
}

impl AsFd for HostFd {
    #[inline]
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Owned(fd, _) => fd.as_fd(),
            Self::Stdio(fd) => *fd,
        }
    }
}

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Host(host) => f
                .debug_struct("Host")
                .field("fd", &host.fd.as_fd())
                .field("filetype", &host.filetype)
                .field("on_pseudo_fs", &host.on_pseudo_fs)
                .field("io", &host.io)
                .finish(),
            Self::Virtual(file) => f
                .debug_struct("Virtual")
                .field("filetype", &file.filetype())
                .finish_non_exhaustive(),
        }
    }
}

/// The WASI file type of a host file type. WASI has no FIFO type: pipes are
/// `unknown`. A socket inode seen through `stat` is reported as a stream
/// socket; descriptors of sockets we hold carry their exact type instead.
pub(crate) fn filetype_of(ft: FileType) -> Filetype {
    match ft {
        FileType::RegularFile => Filetype::REGULAR_FILE,
        FileType::Directory => Filetype::DIRECTORY,
        FileType::Symlink => Filetype::SYMBOLIC_LINK,
        FileType::CharacterDevice => Filetype::CHARACTER_DEVICE,
        FileType::BlockDevice => Filetype::BLOCK_DEVICE,
        FileType::Socket => Filetype::SOCKET_STREAM,
        _ => Filetype::UNKNOWN,
    }
}

/// The most rights a descriptor of type `ft` can hold.
pub(crate) fn max_rights(ft: Filetype) -> Rights {
    match ft {
        Filetype::DIRECTORY => Rights::DIRECTORY,
        Filetype::REGULAR_FILE | Filetype::BLOCK_DEVICE => Rights::REGULAR_FILE,
        Filetype::SOCKET_STREAM | Filetype::SOCKET_DGRAM => Rights::LISTENER,
        Filetype::SYMBOLIC_LINK => Rights::empty(),
        // Character devices, pipes and anything else: a stream.
        _ => Rights::CHARACTER_DEVICE,
    }
}

/// The exact type of a host socket and the most rights it can hold:
/// `LISTENER` when it listens, `SOCKET` otherwise. `None` for a socket that
/// is neither a stream nor a datagram socket, which WASI has no type for.
pub(crate) fn socket_kind(fd: BorrowedFd<'_>) -> rustix::io::Result<Option<(Filetype, Rights)>> {
    let filetype = match rustix::net::sockopt::socket_type(fd)? {
        SocketType::STREAM => Filetype::SOCKET_STREAM,
        SocketType::DGRAM => Filetype::SOCKET_DGRAM,
        _ => return Ok(None),
    };
    let rights = if rustix::net::sockopt::socket_acceptconn(fd)? {
        Rights::LISTENER
    } else {
        Rights::SOCKET
    };
    Ok(Some((filetype, rights)))
}

/// Rights of a descriptor whose type is not known yet: those of a regular
/// file or a directory (the only two types `path_open` meets in practice; a
/// pipe or device is narrowed further once its type is resolved).
pub(crate) const UNRESOLVED_RIGHTS: Rights = Rights::REGULAR_FILE.union(Rights::DIRECTORY);

/// The file type of a host entry, finding it with `fstat` the first time and
/// then narrowing the entry's rights to what that type supports (the rights a
/// descriptor reports are always those of its real type).
pub(crate) fn resolve_filetype(entry: &mut FdEntry<Entry>) -> Result<Filetype> {
    let host = match &entry.file {
        Entry::Host(host) => host,
        Entry::Virtual(file) => return Ok(file.filetype()),
    };
    if let Some(ft) = host.filetype {
        return Ok(ft);
    }
    let stat = rustix::fs::fstat(&host.fd).map_err(from_host)?;
    let ft = filetype_of(FileType::from_raw_mode(stat.st_mode));
    learn_filetype(entry, ft);
    Ok(ft)
}

/// Records a host entry's type (found by a call that did `fstat` anyway) and
/// narrows its rights accordingly.
pub(crate) fn learn_filetype(entry: &mut FdEntry<Entry>, ft: Filetype) {
    if let Entry::Host(host) = &mut entry.file
        && host.filetype.is_none()
    {
        host.filetype = Some(ft);
        entry.rights &= max_rights(ft);
        if ft != Filetype::DIRECTORY {
            entry.inheriting = Rights::empty();
        }
    }
}
