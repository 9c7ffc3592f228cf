//! The `wasi_snapshot_preview1` types, with their exact wasm32 layouts.
//!
//! Enumerations are transparent newtypes over their wire integer (so that every
//! bit pattern a guest can write is representable and can be rejected with
//! `EINVAL` rather than causing undefined behaviour); flag sets use
//! [`bitflags`]; records are `#[repr(C)]` [`bytemuck::Pod`] structs whose sizes,
//! alignments and field offsets are asserted at compile time below.

use bytemuck::{Pod, Zeroable};
use core::fmt;
use core::mem::{align_of, offset_of, size_of};

/// A file descriptor handle.
pub type Fd = u32;
/// A size in guest memory (`usize` on wasm32).
pub type Size = u32;
/// A non-negative file size or length of a region within a file.
pub type Filesize = u64;
/// A relative offset within a file.
pub type Filedelta = i64;
/// A timestamp in nanoseconds.
pub type Timestamp = u64;
/// A reference to the offset of a directory entry; `0` is the first entry.
pub type Dircookie = u64;
/// File serial number, unique within its file system.
pub type Inode = u64;
/// Identifier for a device containing a file system.
pub type Device = u64;
/// Number of hard links to an inode.
pub type Linkcount = u64;
/// Exit code of a process.
pub type Exitcode = u32;
/// User-provided value that may be attached to objects and returned to the guest.
pub type Userdata = u64;

macro_rules! wasi_enum {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Pod, Zeroable)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($value); )*

            /// The name of this value as the WASI specification spells it, or
            /// `None` when the raw value is not one the specification defines.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }

            /// Whether the raw value is one the specification defines.
            pub const fn is_valid(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

wasi_enum! {
    /// Error codes returned by functions (`errno`).
    Errno(u16) {
        /// No error occurred.
        SUCCESS = 0 => "ESUCCESS",
        /// Argument list too long.
        TOOBIG = 1 => "E2BIG",
        /// Permission denied.
        ACCES = 2 => "EACCES",
        /// Address in use.
        ADDRINUSE = 3 => "EADDRINUSE",
        /// Address not available.
        ADDRNOTAVAIL = 4 => "EADDRNOTAVAIL",
        /// Address family not supported.
        AFNOSUPPORT = 5 => "EAFNOSUPPORT",
        /// Resource unavailable, or operation would block.
        AGAIN = 6 => "EAGAIN",
        /// Connection already in progress.
        ALREADY = 7 => "EALREADY",
        /// Bad file descriptor.
        BADF = 8 => "EBADF",
        /// Bad message.
        BADMSG = 9 => "EBADMSG",
        /// Device or resource busy.
        BUSY = 10 => "EBUSY",
        /// Operation canceled.
        CANCELED = 11 => "ECANCELED",
        /// No child processes.
        CHILD = 12 => "ECHILD",
        /// Connection aborted.
        CONNABORTED = 13 => "ECONNABORTED",
        /// Connection refused.
        CONNREFUSED = 14 => "ECONNREFUSED",
        /// Connection reset.
        CONNRESET = 15 => "ECONNRESET",
        /// Resource deadlock would occur.
        DEADLK = 16 => "EDEADLK",
        /// Destination address required.
        DESTADDRREQ = 17 => "EDESTADDRREQ",
        /// Mathematics argument out of domain of function.
        DOM = 18 => "EDOM",
        /// Reserved.
        DQUOT = 19 => "EDQUOT",
        /// File exists.
        EXIST = 20 => "EEXIST",
        /// Bad address.
        FAULT = 21 => "EFAULT",
        /// File too large.
        FBIG = 22 => "EFBIG",
        /// Host is unreachable.
        HOSTUNREACH = 23 => "EHOSTUNREACH",
        /// Identifier removed.
        IDRM = 24 => "EIDRM",
        /// Illegal byte sequence.
        ILSEQ = 25 => "EILSEQ",
        /// Operation in progress.
        INPROGRESS = 26 => "EINPROGRESS",
        /// Interrupted function.
        INTR = 27 => "EINTR",
        /// Invalid argument.
        INVAL = 28 => "EINVAL",
        /// I/O error.
        IO = 29 => "EIO",
        /// Socket is connected.
        ISCONN = 30 => "EISCONN",
        /// Is a directory.
        ISDIR = 31 => "EISDIR",
        /// Too many levels of symbolic links.
        LOOP = 32 => "ELOOP",
        /// File descriptor value too large.
        MFILE = 33 => "EMFILE",
        /// Too many links.
        MLINK = 34 => "EMLINK",
        /// Message too large.
        MSGSIZE = 35 => "EMSGSIZE",
        /// Reserved.
        MULTIHOP = 36 => "EMULTIHOP",
        /// Filename too long.
        NAMETOOLONG = 37 => "ENAMETOOLONG",
        /// Network is down.
        NETDOWN = 38 => "ENETDOWN",
        /// Connection aborted by network.
        NETRESET = 39 => "ENETRESET",
        /// Network unreachable.
        NETUNREACH = 40 => "ENETUNREACH",
        /// Too many files open in system.
        NFILE = 41 => "ENFILE",
        /// No buffer space available.
        NOBUFS = 42 => "ENOBUFS",
        /// No such device.
        NODEV = 43 => "ENODEV",
        /// No such file or directory.
        NOENT = 44 => "ENOENT",
        /// Executable file format error.
        NOEXEC = 45 => "ENOEXEC",
        /// No locks available.
        NOLCK = 46 => "ENOLCK",
        /// Reserved.
        NOLINK = 47 => "ENOLINK",
        /// Not enough space.
        NOMEM = 48 => "ENOMEM",
        /// No message of the desired type.
        NOMSG = 49 => "ENOMSG",
        /// Protocol not available.
        NOPROTOOPT = 50 => "ENOPROTOOPT",
        /// No space left on device.
        NOSPC = 51 => "ENOSPC",
        /// Function not supported.
        NOSYS = 52 => "ENOSYS",
        /// The socket is not connected.
        NOTCONN = 53 => "ENOTCONN",
        /// Not a directory or a symbolic link to a directory.
        NOTDIR = 54 => "ENOTDIR",
        /// Directory not empty.
        NOTEMPTY = 55 => "ENOTEMPTY",
        /// State not recoverable.
        NOTRECOVERABLE = 56 => "ENOTRECOVERABLE",
        /// Not a socket.
        NOTSOCK = 57 => "ENOTSOCK",
        /// Not supported, or operation not supported on socket.
        NOTSUP = 58 => "ENOTSUP",
        /// Inappropriate I/O control operation.
        NOTTY = 59 => "ENOTTY",
        /// No such device or address.
        NXIO = 60 => "ENXIO",
        /// Value too large to be stored in data type.
        OVERFLOW = 61 => "EOVERFLOW",
        /// Previous owner died.
        OWNERDEAD = 62 => "EOWNERDEAD",
        /// Operation not permitted.
        PERM = 63 => "EPERM",
        /// Broken pipe.
        PIPE = 64 => "EPIPE",
        /// Protocol error.
        PROTO = 65 => "EPROTO",
        /// Protocol not supported.
        PROTONOSUPPORT = 66 => "EPROTONOSUPPORT",
        /// Protocol wrong type for socket.
        PROTOTYPE = 67 => "EPROTOTYPE",
        /// Result too large.
        RANGE = 68 => "ERANGE",
        /// Read-only file system.
        ROFS = 69 => "EROFS",
        /// Invalid seek.
        SPIPE = 70 => "ESPIPE",
        /// No such process.
        SRCH = 71 => "ESRCH",
        /// Reserved.
        STALE = 72 => "ESTALE",
        /// Connection timed out.
        TIMEDOUT = 73 => "ETIMEDOUT",
        /// Text file busy.
        TXTBSY = 74 => "ETXTBSY",
        /// Cross-device link.
        XDEV = 75 => "EXDEV",
        /// Extension: Capabilities insufficient.
        NOTCAPABLE = 76 => "ENOTCAPABLE",
    }
}

impl std::error::Error for Errno {}

impl Errno {
    /// Maps a portable [`std::io::ErrorKind`] to the closest errno. Systems that
    /// know the host's raw error number should map that instead; this is meant
    /// for virtual files whose backends only report an `io::Error`.
    pub fn from_io_kind(kind: std::io::ErrorKind) -> Self {
        use std::io::ErrorKind as K;
        match kind {
            K::NotFound => Self::NOENT,
            K::PermissionDenied => Self::ACCES,
            K::ConnectionRefused => Self::CONNREFUSED,
            K::ConnectionReset => Self::CONNRESET,
            K::HostUnreachable => Self::HOSTUNREACH,
            K::NetworkUnreachable => Self::NETUNREACH,
            K::ConnectionAborted => Self::CONNABORTED,
            K::NotConnected => Self::NOTCONN,
            K::AddrInUse => Self::ADDRINUSE,
            K::AddrNotAvailable => Self::ADDRNOTAVAIL,
            K::NetworkDown => Self::NETDOWN,
            K::BrokenPipe => Self::PIPE,
            K::AlreadyExists => Self::EXIST,
            K::WouldBlock => Self::AGAIN,
            K::NotADirectory => Self::NOTDIR,
            K::IsADirectory => Self::ISDIR,
            K::DirectoryNotEmpty => Self::NOTEMPTY,
            K::ReadOnlyFilesystem => Self::ROFS,
            K::StaleNetworkFileHandle => Self::STALE,
            K::InvalidInput | K::InvalidData => Self::INVAL,
            K::TimedOut => Self::TIMEDOUT,
            K::StorageFull => Self::NOSPC,
            K::NotSeekable => Self::SPIPE,
            K::QuotaExceeded => Self::DQUOT,
            K::FileTooLarge => Self::FBIG,
            K::ResourceBusy => Self::BUSY,
            K::ExecutableFileBusy => Self::TXTBSY,
            K::Deadlock => Self::DEADLK,
            K::CrossesDevices => Self::XDEV,
            K::TooManyLinks => Self::MLINK,
            K::InvalidFilename => Self::NAMETOOLONG,
            K::ArgumentListTooLong => Self::TOOBIG,
            K::Interrupted => Self::INTR,
            K::Unsupported => Self::NOTSUP,
            K::UnexpectedEof => Self::IO,
            K::OutOfMemory => Self::NOMEM,
            _ => Self::IO,
        }
    }
}

wasi_enum! {
    /// Identifiers for clocks (`clockid`).
    Clockid(u32) {
        /// The clock measuring real time.
        REALTIME = 0 => "realtime",
        /// The store-wide monotonic clock.
        MONOTONIC = 1 => "monotonic",
        /// The CPU-time clock associated with the current process.
        PROCESS_CPUTIME_ID = 2 => "process_cputime_id",
        /// The CPU-time clock associated with the current thread.
        THREAD_CPUTIME_ID = 3 => "thread_cputime_id",
    }
}

wasi_enum! {
    /// The type of a file descriptor or file (`filetype`).
    Filetype(u8) {
        /// The type is unknown or different from any of the other types.
        UNKNOWN = 0 => "unknown",
        /// A block device inode.
        BLOCK_DEVICE = 1 => "block_device",
        /// A character device inode.
        CHARACTER_DEVICE = 2 => "character_device",
        /// A directory inode.
        DIRECTORY = 3 => "directory",
        /// A regular file inode.
        REGULAR_FILE = 4 => "regular_file",
        /// A datagram socket.
        SOCKET_DGRAM = 5 => "socket_dgram",
        /// A byte-stream socket.
        SOCKET_STREAM = 6 => "socket_stream",
        /// A symbolic link inode.
        SYMBOLIC_LINK = 7 => "symbolic_link",
    }
}

wasi_enum! {
    /// The position relative to which to set the offset of a file descriptor (`whence`).
    Whence(u8) {
        /// Seek relative to start-of-file.
        SET = 0 => "set",
        /// Seek relative to current position.
        CUR = 1 => "cur",
        /// Seek relative to end-of-file.
        END = 2 => "end",
    }
}

wasi_enum! {
    /// File or memory access pattern advisory information (`advice`).
    Advice(u8) {
        /// No advice.
        NORMAL = 0 => "normal",
        /// Data will be accessed sequentially.
        SEQUENTIAL = 1 => "sequential",
        /// Data will be accessed in random order.
        RANDOM = 2 => "random",
        /// Data will be accessed in the near future.
        WILLNEED = 3 => "willneed",
        /// Data will not be accessed in the near future.
        DONTNEED = 4 => "dontneed",
        /// Data will be accessed once.
        NOREUSE = 5 => "noreuse",
    }
}

wasi_enum! {
    /// Type of a subscription to an event or its occurrence (`eventtype`).
    Eventtype(u8) {
        /// The time value of a clock reached the subscription's timestamp.
        CLOCK = 0 => "clock",
        /// A file descriptor has data available for reading.
        FD_READ = 1 => "fd_read",
        /// A file descriptor has capacity available for writing.
        FD_WRITE = 2 => "fd_write",
    }
}

wasi_enum! {
    /// Signal condition (`signal`).
    Signal(u8) {
        /// No signal.
        NONE = 0 => "none",
        /// Hangup.
        HUP = 1 => "hup",
        /// Terminate interrupt signal.
        INT = 2 => "int",
        /// Terminal quit signal.
        QUIT = 3 => "quit",
        /// Illegal instruction.
        ILL = 4 => "ill",
        /// Trace/breakpoint trap.
        TRAP = 5 => "trap",
        /// Process abort signal.
        ABRT = 6 => "abrt",
        /// Access to an undefined portion of a memory object.
        BUS = 7 => "bus",
        /// Erroneous arithmetic operation.
        FPE = 8 => "fpe",
        /// Kill.
        KILL = 9 => "kill",
        /// User-defined signal 1.
        USR1 = 10 => "usr1",
        /// Invalid memory reference.
        SEGV = 11 => "segv",
        /// User-defined signal 2.
        USR2 = 12 => "usr2",
        /// Write on a pipe with no one to read it.
        PIPE = 13 => "pipe",
        /// Alarm clock.
        ALRM = 14 => "alrm",
        /// Termination signal.
        TERM = 15 => "term",
        /// Child process terminated, stopped, or continued.
        CHLD = 16 => "chld",
        /// Continue executing, if stopped.
        CONT = 17 => "cont",
        /// Stop executing.
        STOP = 18 => "stop",
        /// Terminal stop signal.
        TSTP = 19 => "tstp",
        /// Background process attempting read.
        TTIN = 20 => "ttin",
        /// Background process attempting write.
        TTOU = 21 => "ttou",
        /// High bandwidth data is available at a socket.
        URG = 22 => "urg",
        /// CPU time limit exceeded.
        XCPU = 23 => "xcpu",
        /// File size limit exceeded.
        XFSZ = 24 => "xfsz",
        /// Virtual timer expired.
        VTALRM = 25 => "vtalrm",
        /// Profiling timer expired.
        PROF = 26 => "prof",
        /// Window changed.
        WINCH = 27 => "winch",
        /// I/O possible.
        POLL = 28 => "poll",
        /// Power failure.
        PWR = 29 => "pwr",
        /// Bad system call.
        SYS = 30 => "sys",
    }
}

wasi_enum! {
    /// Identifiers for preopened capabilities (`preopentype`).
    Preopentype(u8) {
        /// A pre-opened directory.
        DIR = 0 => "dir",
    }
}

macro_rules! wasi_flags {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[doc = $fdoc:literal])* $flag:ident = $bit:literal, )*
        }
    ) => {
        bitflags::bitflags! {
            $(#[$meta])*
            #[repr(transparent)]
            #[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Pod, Zeroable)]
            pub struct $name: $repr {
                $( $(#[doc = $fdoc])* const $flag = 1 << $bit; )*
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                bitflags::parser::to_writer(self, &mut *f)?;
                if self.is_empty() {
                    f.write_str("0")?;
                }
                Ok(())
            }
        }
    };
}

wasi_flags! {
    /// File descriptor rights, determining which actions may be performed (`rights`).
    Rights(u64) {
        /// `fd_datasync`.
        FD_DATASYNC = 0,
        /// `fd_read` and `sock_recv`.
        FD_READ = 1,
        /// `fd_seek`; implies `FD_TELL`.
        FD_SEEK = 2,
        /// `fd_fdstat_set_flags`.
        FD_FDSTAT_SET_FLAGS = 3,
        /// `fd_sync`.
        FD_SYNC = 4,
        /// `fd_seek` with offset zero and `whence::cur`, and `fd_tell`.
        FD_TELL = 5,
        /// `fd_write` and `sock_send`.
        FD_WRITE = 6,
        /// `fd_advise`.
        FD_ADVISE = 7,
        /// `fd_allocate`.
        FD_ALLOCATE = 8,
        /// `path_create_directory`.
        PATH_CREATE_DIRECTORY = 9,
        /// `path_open` with `oflags::creat`.
        PATH_CREATE_FILE = 10,
        /// `path_link` on the source directory.
        PATH_LINK_SOURCE = 11,
        /// `path_link` on the target directory.
        PATH_LINK_TARGET = 12,
        /// `path_open`.
        PATH_OPEN = 13,
        /// `fd_readdir`.
        FD_READDIR = 14,
        /// `path_readlink`.
        PATH_READLINK = 15,
        /// `path_rename` on the source directory.
        PATH_RENAME_SOURCE = 16,
        /// `path_rename` on the target directory.
        PATH_RENAME_TARGET = 17,
        /// `path_filestat_get`.
        PATH_FILESTAT_GET = 18,
        /// `path_open` with `oflags::trunc`, changing a file's size.
        PATH_FILESTAT_SET_SIZE = 19,
        /// `path_filestat_set_times`.
        PATH_FILESTAT_SET_TIMES = 20,
        /// `fd_filestat_get`.
        FD_FILESTAT_GET = 21,
        /// `fd_filestat_set_size`.
        FD_FILESTAT_SET_SIZE = 22,
        /// `fd_filestat_set_times`.
        FD_FILESTAT_SET_TIMES = 23,
        /// `path_symlink`.
        PATH_SYMLINK = 24,
        /// `path_remove_directory`.
        PATH_REMOVE_DIRECTORY = 25,
        /// `path_unlink_file`.
        PATH_UNLINK_FILE = 26,
        /// `poll_oneoff` subscriptions of type `fd_read` / `fd_write`.
        POLL_FD_READWRITE = 27,
        /// `sock_shutdown`.
        SOCK_SHUTDOWN = 28,
        /// `sock_accept`.
        SOCK_ACCEPT = 29,
    }
}

impl Rights {
    /// Rights that apply to a regular file.
    pub const REGULAR_FILE: Self = Self::FD_DATASYNC
        .union(Self::FD_READ)
        .union(Self::FD_SEEK)
        .union(Self::FD_FDSTAT_SET_FLAGS)
        .union(Self::FD_SYNC)
        .union(Self::FD_TELL)
        .union(Self::FD_WRITE)
        .union(Self::FD_ADVISE)
        .union(Self::FD_ALLOCATE)
        .union(Self::FD_FILESTAT_GET)
        .union(Self::FD_FILESTAT_SET_SIZE)
        .union(Self::FD_FILESTAT_SET_TIMES)
        .union(Self::POLL_FD_READWRITE);

    /// Rights that apply to a directory (the directory itself, not what it contains).
    pub const DIRECTORY: Self = Self::FD_FDSTAT_SET_FLAGS
        .union(Self::FD_SYNC)
        .union(Self::FD_ADVISE)
        .union(Self::PATH_CREATE_DIRECTORY)
        .union(Self::PATH_CREATE_FILE)
        .union(Self::PATH_LINK_SOURCE)
        .union(Self::PATH_LINK_TARGET)
        .union(Self::PATH_OPEN)
        .union(Self::FD_READDIR)
        .union(Self::PATH_READLINK)
        .union(Self::PATH_RENAME_SOURCE)
        .union(Self::PATH_RENAME_TARGET)
        .union(Self::PATH_FILESTAT_GET)
        .union(Self::PATH_FILESTAT_SET_SIZE)
        .union(Self::PATH_FILESTAT_SET_TIMES)
        .union(Self::FD_FILESTAT_GET)
        .union(Self::FD_FILESTAT_SET_TIMES)
        .union(Self::PATH_SYMLINK)
        .union(Self::PATH_REMOVE_DIRECTORY)
        .union(Self::PATH_UNLINK_FILE);

    /// Rights a directory passes on to what is opened beneath it.
    pub const DIRECTORY_INHERITING: Self = Self::DIRECTORY.union(Self::REGULAR_FILE);

    /// Rights that apply to a character device or pipe (stdio).
    pub const CHARACTER_DEVICE: Self = Self::FD_READ
        .union(Self::FD_WRITE)
        .union(Self::FD_FDSTAT_SET_FLAGS)
        .union(Self::FD_FILESTAT_GET)
        .union(Self::POLL_FD_READWRITE);

    /// Rights that apply to a connected stream socket.
    pub const SOCKET: Self = Self::FD_READ
        .union(Self::FD_WRITE)
        .union(Self::FD_FDSTAT_SET_FLAGS)
        .union(Self::FD_FILESTAT_GET)
        .union(Self::POLL_FD_READWRITE)
        .union(Self::SOCK_SHUTDOWN);

    /// Rights that apply to a listening socket.
    pub const LISTENER: Self = Self::SOCKET.union(Self::SOCK_ACCEPT);
}

wasi_flags! {
    /// File descriptor flags (`fdflags`).
    Fdflags(u16) {
        /// Append mode: data written to the file is always appended to its end.
        APPEND = 0,
        /// Write according to synchronized I/O data integrity completion.
        DSYNC = 1,
        /// Non-blocking mode.
        NONBLOCK = 2,
        /// Synchronized read I/O operations.
        RSYNC = 3,
        /// Write according to synchronized I/O file integrity completion.
        SYNC = 4,
    }
}

wasi_flags! {
    /// Open flags used by `path_open` (`oflags`).
    Oflags(u16) {
        /// Create file if it does not exist.
        CREAT = 0,
        /// Fail if not a directory.
        DIRECTORY = 1,
        /// Fail if file already exists.
        EXCL = 2,
        /// Truncate file to size 0.
        TRUNC = 3,
    }
}

wasi_flags! {
    /// Flags determining the method of how paths are resolved (`lookupflags`).
    Lookupflags(u32) {
        /// As long as the resolved path corresponds to a symbolic link, it is expanded.
        SYMLINK_FOLLOW = 0,
    }
}

wasi_flags! {
    /// Which file time attributes to adjust (`fstflags`).
    Fstflags(u16) {
        /// Adjust the last data access timestamp to the value stored in `atim`.
        ATIM = 0,
        /// Adjust the last data access timestamp to the time of clock `realtime`.
        ATIM_NOW = 1,
        /// Adjust the last data modification timestamp to the value stored in `mtim`.
        MTIM = 2,
        /// Adjust the last data modification timestamp to the time of clock `realtime`.
        MTIM_NOW = 3,
    }
}

wasi_flags! {
    /// Flags provided to `sock_recv` (`riflags`).
    Riflags(u16) {
        /// Returns the message without removing it from the socket's receive queue.
        RECV_PEEK = 0,
        /// On byte-stream sockets, block until the full amount of data can be returned.
        RECV_WAITALL = 1,
    }
}

wasi_flags! {
    /// Flags returned by `sock_recv` (`roflags`).
    Roflags(u16) {
        /// Message data has been truncated.
        RECV_DATA_TRUNCATED = 0,
    }
}

wasi_flags! {
    /// Flags provided to `sock_send` (`siflags`); none are defined yet.
    Siflags(u16) {}
}

wasi_flags! {
    /// Which channels on a socket to shut down (`sdflags`).
    Sdflags(u8) {
        /// Disables further receive operations.
        RD = 0,
        /// Disables further send operations.
        WR = 1,
    }
}

wasi_flags! {
    /// The state of the file descriptor subscribed to with `fd_read` or `fd_write` (`eventrwflags`).
    Eventrwflags(u16) {
        /// The peer of this socket has closed or disconnected.
        FD_READWRITE_HANGUP = 0,
    }
}

wasi_flags! {
    /// Flags determining how to interpret the timestamp of a clock subscription (`subclockflags`).
    Subclockflags(u16) {
        /// The timeout is an absolute time of the clock rather than relative to now.
        SUBSCRIPTION_CLOCK_ABSTIME = 0,
    }
}

/// A region of guest memory (`iovec` and `ciovec`), as pointer and length.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Iovec {
    /// Guest address of the buffer.
    pub buf: u32,
    /// Length of the buffer in bytes.
    pub buf_len: u32,
}

/// File descriptor attributes (`fdstat`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Fdstat {
    /// File type.
    pub fs_filetype: Filetype,
    #[doc(hidden)]
    pub _pad0: u8,
    /// File descriptor flags.
    pub fs_flags: Fdflags,
    #[doc(hidden)]
    pub _pad1: [u8; 4],
    /// Rights that apply to this file descriptor.
    pub fs_rights_base: Rights,
    /// Maximum set of rights that may be installed on new file descriptors
    /// created through this file descriptor.
    pub fs_rights_inheriting: Rights,
}

impl Fdstat {
    /// Builds an fdstat record, zeroing the padding.
    pub const fn new(
        filetype: Filetype,
        flags: Fdflags,
        rights_base: Rights,
        rights_inheriting: Rights,
    ) -> Self {
        Self {
            fs_filetype: filetype,
            _pad0: 0,
            fs_flags: flags,
            _pad1: [0; 4],
            fs_rights_base: rights_base,
            fs_rights_inheriting: rights_inheriting,
        }
    }
}

/// File attributes (`filestat`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Filestat {
    /// Device ID of device containing the file.
    pub dev: Device,
    /// File serial number.
    pub ino: Inode,
    /// File type.
    pub filetype: Filetype,
    #[doc(hidden)]
    pub _pad0: [u8; 7],
    /// Number of hard links to the file.
    pub nlink: Linkcount,
    /// For regular files, the file size in bytes. For symbolic links, the
    /// length in bytes of the pathname contained in the symbolic link.
    pub size: Filesize,
    /// Last data access timestamp.
    pub atim: Timestamp,
    /// Last data modification timestamp.
    pub mtim: Timestamp,
    /// Last file status change timestamp.
    pub ctim: Timestamp,
}

/// Attributes of virtual objects (mounts, device files, in-memory files):
/// one link and the given type, every other field zero. Set the rest with
/// struct update syntax.
///
/// ```
/// use wasi_core::types::{Filestat, Filetype};
///
/// let stat = Filestat { ino: 7, mtim: 1_000, ..Filestat::file(12) };
/// assert_eq!((stat.filetype, stat.nlink, stat.size), (Filetype::REGULAR_FILE, 1, 12));
/// assert_eq!(Filestat::directory(), Filestat::new(Filetype::DIRECTORY));
/// ```
impl Filestat {
    /// An object of type `filetype` with one link; every other field zero.
    pub const fn new(filetype: Filetype) -> Self {
        Self {
            dev: 0,
            ino: 0,
            filetype,
            _pad0: [0; 7],
            nlink: 1,
            size: 0,
            atim: 0,
            mtim: 0,
            ctim: 0,
        }
    }

    /// A regular file of `size` bytes with one link; every other field zero.
    pub const fn file(size: Filesize) -> Self {
        Self {
            size,
            ..Self::new(Filetype::REGULAR_FILE)
        }
    }

    /// A directory with one link; every other field zero.
    pub const fn directory() -> Self {
        Self::new(Filetype::DIRECTORY)
    }
}

/// A directory entry header (`dirent`); the name follows it in the buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Dirent {
    /// The offset of the next directory entry stored in this directory.
    pub d_next: Dircookie,
    /// The serial number of the file referred to by this directory entry.
    pub d_ino: Inode,
    /// The length of the name of the directory entry.
    pub d_namlen: u32,
    /// The type of the file referred to by this directory entry.
    pub d_type: Filetype,
    #[doc(hidden)]
    pub _pad0: [u8; 3],
}

/// Information about a pre-opened capability (`prestat`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Prestat {
    /// The kind of preopen; only `dir` is defined.
    pub tag: Preopentype,
    #[doc(hidden)]
    pub _pad0: [u8; 3],
    /// The length of the directory name for use with `fd_prestat_dir_name`.
    pub pr_name_len: Size,
}

impl Prestat {
    /// A directory preopen whose guest name is `name_len` bytes long.
    pub const fn dir(name_len: Size) -> Self {
        Self {
            tag: Preopentype::DIR,
            _pad0: [0; 3],
            pr_name_len: name_len,
        }
    }
}

/// The contents of a clock subscription (`subscription_clock`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SubscriptionClock {
    /// The clock against which to compare the timestamp.
    pub id: Clockid,
    #[doc(hidden)]
    pub _pad0: [u8; 4],
    /// The absolute or relative timestamp.
    pub timeout: Timestamp,
    /// The amount of time that the implementation may wait additionally to
    /// coalesce with other events.
    pub precision: Timestamp,
    /// Flags specifying whether the timeout is absolute or relative.
    pub flags: Subclockflags,
    #[doc(hidden)]
    pub _pad1: [u8; 6],
}

/// A subscription to an event (`subscription`): a tagged union whose payload is
/// read with [`Subscription::kind`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Subscription {
    /// User-provided value that is attached to the subscription and returned in its event.
    pub userdata: Userdata,
    /// The type of the event to which to subscribe.
    pub tag: Eventtype,
    #[doc(hidden)]
    pub _pad0: [u8; 7],
    /// The union payload: a [`SubscriptionClock`] or a `subscription_fd_readwrite`
    /// (an [`Fd`] in its first four bytes).
    pub u: [u8; 32],
}

/// The decoded payload of a [`Subscription`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// Wait for a clock.
    Clock(SubscriptionClock),
    /// Wait for a file descriptor to become readable.
    FdRead(Fd),
    /// Wait for a file descriptor to become writable.
    FdWrite(Fd),
}

impl Subscription {
    /// Decodes the union; `None` when the tag is not a known event type.
    pub fn kind(&self) -> Option<SubscriptionKind> {
        let fd = || u32::from_le_bytes([self.u[0], self.u[1], self.u[2], self.u[3]]);
        match self.tag {
            Eventtype::CLOCK => Some(SubscriptionKind::Clock(bytemuck::pod_read_unaligned(
                &self.u,
            ))),
            Eventtype::FD_READ => Some(SubscriptionKind::FdRead(fd())),
            Eventtype::FD_WRITE => Some(SubscriptionKind::FdWrite(fd())),
            _ => None,
        }
    }

    /// Builds a subscription from its decoded form.
    pub fn new(userdata: Userdata, kind: SubscriptionKind) -> Self {
        let mut u = [0u8; 32];
        let tag = match kind {
            SubscriptionKind::Clock(clock) => {
                u.copy_from_slice(bytemuck::bytes_of(&clock));
                Eventtype::CLOCK
            }
            SubscriptionKind::FdRead(fd) => {
                u[..4].copy_from_slice(&fd.to_le_bytes());
                Eventtype::FD_READ
            }
            SubscriptionKind::FdWrite(fd) => {
                u[..4].copy_from_slice(&fd.to_le_bytes());
                Eventtype::FD_WRITE
            }
        };
        Self {
            userdata,
            tag,
            _pad0: [0; 7],
            u,
        }
    }
}

/// An event that occurred (`event`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Event {
    /// User-provided value that got attached to the subscription.
    pub userdata: Userdata,
    /// If non-zero, an error that occurred while processing the subscription request.
    pub error: Errno,
    /// The type of event that occurred.
    pub r#type: Eventtype,
    #[doc(hidden)]
    pub _pad0: [u8; 5],
    /// For `fd_read` and `fd_write` events: the number of bytes available.
    pub nbytes: Filesize,
    /// For `fd_read` and `fd_write` events: the state of the file descriptor.
    pub flags: Eventrwflags,
    #[doc(hidden)]
    pub _pad1: [u8; 6],
}

impl Event {
    /// An event for `subscription` with the given outcome.
    pub fn new(
        subscription: &Subscription,
        error: Errno,
        nbytes: Filesize,
        flags: Eventrwflags,
    ) -> Self {
        Self {
            userdata: subscription.userdata,
            error,
            r#type: subscription.tag,
            _pad0: [0; 5],
            nbytes,
            flags,
            _pad1: [0; 6],
        }
    }
}

// ---------------------------------------------------------------------------
// Sockets: the WasmEdge extension (see `spec/sockets.md`).

wasi_enum! {
    /// An address family of the WasmEdge sockets extension.
    AddressFamily(u8) {
        /// Unspecified (any family, or no address).
        UNSPEC = 0 => "unspec",
        /// IPv4.
        INET4 = 1 => "inet4",
        /// IPv6.
        INET6 = 2 => "inet6",
        /// Unix domain sockets (not supported by this host's systems).
        UNIX = 3 => "unix",
    }
}

impl AddressFamily {
    /// The family of a socket address.
    pub fn of(addr: &std::net::SocketAddr) -> Self {
        match addr {
            std::net::SocketAddr::V4(_) => Self::INET4,
            std::net::SocketAddr::V6(_) => Self::INET6,
        }
    }
}

wasi_enum! {
    /// A socket type of the WasmEdge sockets extension.
    SockType(u8) {
        /// Any type (only meaningful as a `getaddrinfo` hint).
        ANY = 0 => "any",
        /// Datagrams (UDP).
        DGRAM = 1 => "dgram",
        /// A byte stream (TCP).
        STREAM = 2 => "stream",
    }
}

/// A socket option with an `int` value, as `sock_getsockopt` and
/// `sock_setsockopt` name them (level, then name; see `spec/sockets.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockOpt {
    /// `SO_REUSEADDR`.
    ReuseAddr,
    /// `SO_TYPE` (read-only): the WASI [`SockType`].
    Type,
    /// `SO_ERROR` (read-only): the pending error as a WASI errno.
    Error,
    /// `SO_BROADCAST`.
    Broadcast,
    /// `SO_SNDBUF`.
    SndBuf,
    /// `SO_RCVBUF`.
    RcvBuf,
    /// `SO_KEEPALIVE`.
    KeepAlive,
    /// `SO_OOBINLINE`.
    OobInline,
    /// `SO_ACCEPTCONN` (read-only).
    AcceptConn,
    /// `TCP_NODELAY` (level `IPPROTO_TCP`).
    TcpNoDelay,
}

impl SockOpt {
    /// WasmEdge's `SOL_SOCKET` level.
    pub const SOL_SOCKET: u32 = 0;
    /// `IPPROTO_TCP`, for [`SockOpt::TcpNoDelay`].
    pub const IPPROTO_TCP: u32 = 6;

    /// Decodes a level and name. `Err(ENOTSUP)` for the options whose value
    /// is not an `int` (`SO_LINGER`, `SO_RCVTIMEO`, `SO_SNDTIMEO`,
    /// `SO_BINDTODEVICE`) and for `SO_DONTROUTE` and `SO_RCVLOWAT`,
    /// `Err(EINVAL)` for unknown ones.
    pub fn decode(level: u32, name: u32) -> Result<Self, Errno> {
        Ok(match (level, name) {
            (Self::SOL_SOCKET, 0) => Self::ReuseAddr,
            (Self::SOL_SOCKET, 1) => Self::Type,
            (Self::SOL_SOCKET, 2) => Self::Error,
            (Self::SOL_SOCKET, 4) => Self::Broadcast,
            (Self::SOL_SOCKET, 5) => Self::SndBuf,
            (Self::SOL_SOCKET, 6) => Self::RcvBuf,
            (Self::SOL_SOCKET, 7) => Self::KeepAlive,
            (Self::SOL_SOCKET, 8) => Self::OobInline,
            (Self::SOL_SOCKET, 3 | 9..=12 | 14) => return Err(Errno::NOTSUP),
            (Self::SOL_SOCKET, 13) => Self::AcceptConn,
            (Self::IPPROTO_TCP, 1) => Self::TcpNoDelay,
            _ => return Err(Errno::INVAL),
        })
    }

    /// Whether the option can only be read.
    pub fn is_read_only(self) -> bool {
        matches!(self, Self::Type | Self::Error | Self::AcceptConn)
    }

    /// The option's C name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReuseAddr => "SO_REUSEADDR",
            Self::Type => "SO_TYPE",
            Self::Error => "SO_ERROR",
            Self::Broadcast => "SO_BROADCAST",
            Self::SndBuf => "SO_SNDBUF",
            Self::RcvBuf => "SO_RCVBUF",
            Self::KeepAlive => "SO_KEEPALIVE",
            Self::OobInline => "SO_OOBINLINE",
            Self::AcceptConn => "SO_ACCEPTCONN",
            Self::TcpNoDelay => "TCP_NODELAY",
        }
    }
}

impl fmt::Display for SockOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `getaddrinfo` protocol numbers of the WasmEdge extension.
pub mod protocol {
    /// Any protocol.
    pub const IP: u8 = 0;
    /// TCP.
    pub const TCP: u8 = 1;
    /// UDP.
    pub const UDP: u8 = 2;
}

/// The hints of `sock_getaddrinfo`, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrinfoHints {
    /// `AI_*` flags (`AI_PASSIVE` is 1; bits above `0x7f` are rejected).
    pub flags: u16,
    /// Wanted family: unspec, inet4 or inet6.
    pub family: AddressFamily,
    /// Wanted socket type (`any` for all).
    pub socktype: SockType,
    /// Wanted protocol (see [`protocol`]).
    pub protocol: u8,
}

impl AddrinfoHints {
    /// `AI_PASSIVE`: an empty node means the unspecified address.
    pub const AI_PASSIVE: u16 = 1;
    /// Every flag WasmEdge defines.
    pub const ALL_FLAGS: u16 = 0x7f;
}

/// One result of `sock_getaddrinfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addrinfo {
    /// The address and port.
    pub addr: std::net::SocketAddr,
    /// Its socket type (stream or dgram).
    pub socktype: SockType,
    /// Its protocol (see [`protocol`]).
    pub protocol: u8,
}

/// WasmEdge's `__wasi_address_t`: where an address's bytes are.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct WasiAddress {
    /// Guest address of the bytes.
    pub buf: u32,
    /// Their length: 4, 16 or [`WasiAddress::STORAGE_LEN`].
    pub buf_len: u32,
}

impl WasiAddress {
    /// Length of an address storage buffer (family, then address).
    pub const STORAGE_LEN: u32 = 128;
}

/// WasmEdge's `__wasi_addrinfo_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct WasiAddrinfo {
    /// `AI_*` flags.
    pub ai_flags: u16,
    /// [`AddressFamily`].
    pub ai_family: u8,
    /// [`SockType`].
    pub ai_socktype: u8,
    /// Protocol (see [`protocol`]).
    pub ai_protocol: u32,
    /// Bytes of `sa_data` used.
    pub ai_addrlen: u32,
    /// Guest address of a [`WasiSockaddr`].
    pub ai_addr: u32,
    /// Guest address of the canonical name buffer.
    pub ai_canonname: u32,
    /// Length of the canonical name.
    pub ai_canonnamelen: u32,
    /// Guest address of the next record.
    pub ai_next: u32,
}

/// WasmEdge's `__wasi_sockaddr_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct WasiSockaddr {
    /// [`AddressFamily`].
    pub sa_family: u8,
    /// Padding.
    pub _pad0: [u8; 3],
    /// Capacity of `sa_data`.
    pub sa_data_len: u32,
    /// Guest address of the port and address bytes.
    pub sa_data: u32,
}

macro_rules! assert_layout {
    ($ty:ty, size = $size:literal, align = $align:literal $(, $field:ident @ $offset:literal)*) => {
        const _: () = {
            assert!(size_of::<$ty>() == $size);
            assert!(align_of::<$ty>() == $align);
            $( assert!(offset_of!($ty, $field) == $offset); )*
        };
    };
}

#[cfg(not(target_endian = "little"))]
compile_error!("wasi-core reads guest memory in place and requires a little-endian host");

assert_layout!(Errno, size = 2, align = 2);
assert_layout!(Rights, size = 8, align = 8);
assert_layout!(Fdflags, size = 2, align = 2);
assert_layout!(Oflags, size = 2, align = 2);
assert_layout!(Lookupflags, size = 4, align = 4);
assert_layout!(Fstflags, size = 2, align = 2);
assert_layout!(Sdflags, size = 1, align = 1);
assert_layout!(Clockid, size = 4, align = 4);
assert_layout!(Filetype, size = 1, align = 1);
assert_layout!(Iovec, size = 8, align = 4, buf @ 0, buf_len @ 4);
assert_layout!(Fdstat, size = 24, align = 8,
    fs_filetype @ 0, fs_flags @ 2, fs_rights_base @ 8, fs_rights_inheriting @ 16);
assert_layout!(Filestat, size = 64, align = 8,
    dev @ 0, ino @ 8, filetype @ 16, nlink @ 24, size @ 32, atim @ 40, mtim @ 48, ctim @ 56);
assert_layout!(Dirent, size = 24, align = 8, d_next @ 0, d_ino @ 8, d_namlen @ 16, d_type @ 20);
assert_layout!(Prestat, size = 8, align = 4, tag @ 0, pr_name_len @ 4);
assert_layout!(WasiAddress, size = 8, align = 4, buf @ 0, buf_len @ 4);
assert_layout!(WasiAddrinfo, size = 28, align = 4,
    ai_flags @ 0, ai_family @ 2, ai_socktype @ 3, ai_protocol @ 4, ai_addrlen @ 8,
    ai_addr @ 12, ai_canonname @ 16, ai_canonnamelen @ 20, ai_next @ 24);
assert_layout!(WasiSockaddr, size = 12, align = 4, sa_family @ 0, sa_data_len @ 4, sa_data @ 8);
assert_layout!(SubscriptionClock, size = 32, align = 8,
    id @ 0, timeout @ 8, precision @ 16, flags @ 24);
assert_layout!(Subscription, size = 48, align = 8, userdata @ 0, tag @ 8, u @ 16);
assert_layout!(Event, size = 32, align = 8,
    userdata @ 0, error @ 8, r#type @ 10, nbytes @ 16, flags @ 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names_follow_the_spec() {
        assert_eq!(Errno::TOOBIG.name(), Some("E2BIG"));
        assert_eq!(Errno::NOTCAPABLE.0, 76);
        assert_eq!(format!("{:?}", Errno(77)), "Errno(77)");
        assert!(!Errno(77).is_valid());
    }

    #[test]
    fn flags_debug_is_readable() {
        assert_eq!(
            format!("{:?}", Oflags::CREAT | Oflags::EXCL),
            "CREAT | EXCL"
        );
        assert_eq!(format!("{:?}", Fdflags::empty()), "0");
        assert_eq!(Rights::all().bits(), (1 << 30) - 1);
    }

    #[test]
    fn subscription_round_trips() {
        let clock = SubscriptionClock {
            id: Clockid::MONOTONIC,
            timeout: 5,
            precision: 1,
            flags: Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME,
            ..Default::default()
        };
        for kind in [
            SubscriptionKind::Clock(clock),
            SubscriptionKind::FdRead(3),
            SubscriptionKind::FdWrite(7),
        ] {
            assert_eq!(Subscription::new(9, kind).kind(), Some(kind));
        }
        let bad = Subscription {
            tag: Eventtype(3),
            ..Default::default()
        };
        assert_eq!(bad.kind(), None);
    }
}
