//! The [`System`] trait: WASI preview 1 without the ABI.
//!
//! A `System` receives decoded, bounds-checked arguments (guest buffers are
//! borrowed slices of guest memory, paths are `&str`) and returns Rust values;
//! the [`abi`](crate::abi) layer does all encoding. Decorators (a tracer, a
//! device mounter, a cloud filesystem) implement `System` by wrapping another
//! one.

use crate::types::*;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;

/// A result of a WASI call.
pub type Result<T, E = Errno> = core::result::Result<T, E>;

/// A list of NUL-terminated strings, laid out as `args_get`/`environ_get`
/// write them into guest memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringList {
    buf: Vec<u8>,
    count: u32,
}

impl StringList {
    /// Builds a list; fails with `EINVAL` when an item contains a NUL byte
    /// and with `E2BIG` when the list does not fit a wasm32 address space.
    pub fn new<I, S>(items: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut list = Self::default();
        for item in items {
            let item = item.as_ref();
            if item.contains(&0) {
                return Err(Errno::INVAL);
            }
            list.buf.extend_from_slice(item);
            list.buf.push(0);
            list.count = list.count.checked_add(1).ok_or(Errno::TOOBIG)?;
        }
        u32::try_from(list.buf.len()).map_err(|_| Errno::TOOBIG)?;
        Ok(list)
    }

    /// Number of strings and total size in bytes of their NUL-terminated
    /// contents, as `args_sizes_get` returns them.
    pub fn sizes(&self) -> (Size, Size) {
        // `new` checked that the buffer length fits in a u32.
        (self.count, self.buf.len() as Size)
    }

    /// The strings, each with its terminating NUL, back to back.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Iterates over the strings, without their terminating NUL.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.buf.split(|&b| b == 0).take(self.count as usize)
    }
}

/// Writes `fd_readdir` entries into a guest buffer, truncating the last one
/// when the buffer fills up as the WASI specification requires (so the guest
/// can tell it must call again).
#[derive(Debug)]
pub struct DirentWriter<'a> {
    buf: &'a mut [u8],
    used: usize,
}

impl<'a> DirentWriter<'a> {
    /// A writer over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, used: 0 }
    }

    /// Appends one entry (header then name). Returns `false` once the buffer
    /// is full, in which case the entry may have been written only in part
    /// and the caller should stop.
    pub fn push(&mut self, d_next: Dircookie, d_ino: Inode, d_type: Filetype, name: &[u8]) -> bool {
        let header = Dirent {
            d_next,
            d_ino,
            d_namlen: name.len() as u32,
            d_type,
            _pad0: [0; 3],
        };
        for part in [bytemuck::bytes_of(&header), name] {
            let room = self.buf.len() - self.used;
            let n = part.len().min(room);
            self.buf[self.used..self.used + n].copy_from_slice(&part[..n]);
            self.used += n;
            if n < part.len() {
                return false;
            }
        }
        self.used < self.buf.len()
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Whether the buffer is full.
    pub fn is_full(&self) -> bool {
        self.used == self.buf.len()
    }
}

/// The list of [`System`] methods, written once: calls `$callback!` with
/// one entry per method, in the order of the import table.
///
/// Each entry is
///
/// ```text
/// /// docs, #[attributes]
/// [trace: auto|hand] fn name(&mut self, arg: Type, ...) -> Ret => { default body };
/// ```
///
/// where `=> { ... }` is present only for the few methods whose default
/// follows from another method (`args_sizes_get` from `args_get`, ...).
/// `trace: hand` marks the calls whose trace line shows more than their
/// arguments and result (data a read produced, poll events): [`Tracer`]
/// writes those by hand and generates the rest.
///
/// Everything that must list every method is generated from this table: the
/// [`System`] trait itself, [`Decorator`]'s forwarding defaults (so a
/// decorator cannot forget one), [`Tracer`], and the tests that walk every
/// method through a stack of decorators. Types are named unqualified:
/// expand it where [`prelude`]`::*` is in scope.
///
/// [`Tracer`]: crate::Tracer
#[macro_export]
macro_rules! for_each_system_method {
    ($callback:path) => {
        $callback! {
            /// Command-line arguments (`args_get`; POSIX `argv`).
            [trace: auto] fn args_get(&mut self) -> Result<&StringList>;
            /// Number and total size of the arguments (`args_sizes_get`).
            [trace: auto] fn args_sizes_get(&mut self) -> Result<(Size, Size)> => { self.args_get().map(StringList::sizes) };
            /// Environment variables as `KEY=VALUE` (`environ_get`; POSIX `environ`).
            [trace: auto] fn environ_get(&mut self) -> Result<&StringList>;
            /// Number and total size of the environment variables (`environ_sizes_get`).
            [trace: auto] fn environ_sizes_get(&mut self) -> Result<(Size, Size)> => { self.environ_get().map(StringList::sizes) };
            /// Resolution of a clock in nanoseconds (`clock_res_get`; POSIX `clock_getres`).
            [trace: auto] fn clock_res_get(&mut self, id: Clockid) -> Result<Timestamp>;
            /// Current time of a clock in nanoseconds (`clock_time_get`; POSIX `clock_gettime`).
            [trace: auto] fn clock_time_get(&mut self, id: Clockid, precision: Timestamp) -> Result<Timestamp>;
            /// Advise on an access pattern (`fd_advise`; POSIX `posix_fadvise`).
            [trace: auto] fn fd_advise(&mut self, fd: Fd, offset: Filesize, len: Filesize, advice: Advice) -> Result<()>;
            /// Reserve space in a file (`fd_allocate`; POSIX `posix_fallocate`).
            [trace: auto] fn fd_allocate(&mut self, fd: Fd, offset: Filesize, len: Filesize) -> Result<()>;
            /// Close a file descriptor (`fd_close`; POSIX `close`).
            [trace: auto] fn fd_close(&mut self, fd: Fd) -> Result<()>;
            /// Synchronize a file's data (`fd_datasync`; POSIX `fdatasync`).
            [trace: auto] fn fd_datasync(&mut self, fd: Fd) -> Result<()>;
            /// Attributes of a file descriptor (`fd_fdstat_get`; POSIX `fcntl(F_GETFL)`).
            [trace: auto] fn fd_fdstat_get(&mut self, fd: Fd) -> Result<Fdstat>;
            /// Set a file descriptor's flags (`fd_fdstat_set_flags`; POSIX `fcntl(F_SETFL)`).
            [trace: auto] fn fd_fdstat_set_flags(&mut self, fd: Fd, flags: Fdflags) -> Result<()>;
            /// Drop rights of a file descriptor (`fd_fdstat_set_rights`; no POSIX
            /// counterpart, like Capsicum's `cap_rights_limit`). Rights can only shrink.
            [trace: auto] fn fd_fdstat_set_rights(&mut self, fd: Fd, base: Rights, inheriting: Rights) -> Result<()>;
            /// Attributes of an open file (`fd_filestat_get`; POSIX `fstat`).
            [trace: auto] fn fd_filestat_get(&mut self, fd: Fd) -> Result<Filestat>;
            /// Change the size of an open file (`fd_filestat_set_size`; POSIX `ftruncate`).
            [trace: auto] fn fd_filestat_set_size(&mut self, fd: Fd, size: Filesize) -> Result<()>;
            /// Set the timestamps of an open file (`fd_filestat_set_times`; POSIX `futimens`).
            [trace: auto] fn fd_filestat_set_times(&mut self, fd: Fd, atim: Timestamp, mtim: Timestamp, flags: Fstflags) -> Result<()>;
            /// Read at an offset without moving the file position (`fd_pread`; POSIX `preadv`).
            [trace: hand] fn fd_pread(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size>;
            /// Describe a preopened file descriptor (`fd_prestat_get`).
            [trace: auto] fn fd_prestat_get(&mut self, fd: Fd) -> Result<Prestat>;
            /// The guest path of a preopened directory (`fd_prestat_dir_name`).
            [trace: auto] fn fd_prestat_dir_name(&mut self, fd: Fd) -> Result<&str>;
            /// Write at an offset without moving the file position (`fd_pwrite`; POSIX `pwritev`).
            [trace: auto] fn fd_pwrite(&mut self, fd: Fd, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size>;
            /// Read from a file descriptor (`fd_read`; POSIX `readv`).
            [trace: hand] fn fd_read(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>]) -> Result<Size>;
            /// Read directory entries starting at `cookie` (`fd_readdir`; POSIX
            /// `readdir` with `seekdir`). Entries are pushed into `out` until it is
            /// full or the directory ends.
            [trace: hand] fn fd_readdir(&mut self, fd: Fd, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()>;
            /// Atomically replace `to` with `from` (`fd_renumber`; POSIX `dup2` then `close`).
            [trace: auto] fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()>;
            /// Move the file position (`fd_seek`; POSIX `lseek`).
            [trace: auto] fn fd_seek(&mut self, fd: Fd, offset: Filedelta, whence: Whence) -> Result<Filesize>;
            /// Synchronize a file's data and metadata (`fd_sync`; POSIX `fsync`).
            [trace: auto] fn fd_sync(&mut self, fd: Fd) -> Result<()>;
            /// The current file position (`fd_tell`; POSIX `lseek(fd, 0, SEEK_CUR)`).
            [trace: auto] fn fd_tell(&mut self, fd: Fd) -> Result<Filesize>;
            /// Write to a file descriptor (`fd_write`; POSIX `writev`).
            [trace: auto] fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size>;
            /// Create a directory (`path_create_directory`; POSIX `mkdirat`).
            [trace: auto] fn path_create_directory(&mut self, fd: Fd, path: &str) -> Result<()>;
            /// Attributes of a file by path (`path_filestat_get`; POSIX `fstatat`).
            [trace: auto] fn path_filestat_get(&mut self, fd: Fd, flags: Lookupflags, path: &str) -> Result<Filestat>;
            /// Set the timestamps of a file by path (`path_filestat_set_times`; POSIX `utimensat`).
            [trace: auto] fn path_filestat_set_times(&mut self, fd: Fd, flags: Lookupflags, path: &str, atim: Timestamp, mtim: Timestamp, fst_flags: Fstflags) -> Result<()>;
            /// Create a hard link (`path_link`; POSIX `linkat`).
            [trace: auto] fn path_link(&mut self, old_fd: Fd, old_flags: Lookupflags, old_path: &str, new_fd: Fd, new_path: &str) -> Result<()>;
            /// Open a file or directory (`path_open`; POSIX `openat`).
            #[allow(clippy::too_many_arguments)]
            [trace: auto] fn path_open(&mut self, fd: Fd, dirflags: Lookupflags, path: &str, oflags: Oflags, rights_base: Rights, rights_inheriting: Rights, fdflags: Fdflags) -> Result<Fd>;
            /// Read a symbolic link into `buf`, truncating, and return the number of
            /// bytes placed (`path_readlink`; POSIX `readlinkat`).
            [trace: hand] fn path_readlink(&mut self, fd: Fd, path: &str, buf: &mut [u8]) -> Result<Size>;
            /// Remove an empty directory (`path_remove_directory`; POSIX `unlinkat(AT_REMOVEDIR)`).
            [trace: auto] fn path_remove_directory(&mut self, fd: Fd, path: &str) -> Result<()>;
            /// Rename a file or directory (`path_rename`; POSIX `renameat`).
            [trace: auto] fn path_rename(&mut self, fd: Fd, old_path: &str, new_fd: Fd, new_path: &str) -> Result<()>;
            /// Create a symbolic link (`path_symlink`; POSIX `symlinkat`).
            [trace: auto] fn path_symlink(&mut self, old_path: &str, fd: Fd, new_path: &str) -> Result<()>;
            /// Unlink a file (`path_unlink_file`; POSIX `unlinkat`).
            [trace: auto] fn path_unlink_file(&mut self, fd: Fd, path: &str) -> Result<()>;
            /// Wait for events, writing one per ready subscription into `events` and
            /// returning how many (`poll_oneoff`; POSIX `poll` and `clock_nanosleep`).
            /// `events` is at least as long as `subscriptions`, which is not empty.
            [trace: hand] fn poll_oneoff(&mut self, subscriptions: &[Subscription], events: &mut [Event]) -> Result<Size>;
            /// The guest is terminating with `code` (`proc_exit`; POSIX `_exit`). The
            /// system may release resources; the ABI layer then unwinds the guest.
            #[allow(clippy::unused_unit)]
            [trace: hand] fn proc_exit(&mut self, code: Exitcode) -> ();
            /// The guest raises `signal` (`proc_raise`; POSIX `raise`). Returning `Ok`
            /// lets the ABI layer apply the signal's default action (terminate, or
            /// ignore); an error is returned to the guest instead.
            [trace: auto] fn proc_raise(&mut self, signal: Signal) -> Result<()>;
            /// Fill `buf` with cryptographically secure random bytes (`random_get`;
            /// POSIX `getrandom`).
            [trace: auto] fn random_get(&mut self, buf: &mut [u8]) -> Result<()>;
            /// Yield the processor (`sched_yield`; POSIX `sched_yield`).
            [trace: auto] fn sched_yield(&mut self) -> Result<()>;
            /// Accept a connection on a listening socket (`sock_accept`; POSIX `accept4`).
            [trace: auto] fn sock_accept(&mut self, fd: Fd, flags: Fdflags) -> Result<Fd>;
            /// Receive from a socket (`sock_recv`; POSIX `recvmsg`).
            [trace: hand] fn sock_recv(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], flags: Riflags) -> Result<(Size, Roflags)>;
            /// Send on a socket (`sock_send`; POSIX `sendmsg`).
            [trace: auto] fn sock_send(&mut self, fd: Fd, iovs: &[IoSlice<'_>], flags: Siflags) -> Result<Size>;
            /// Shut down part of a full-duplex connection (`sock_shutdown`; POSIX `shutdown`).
            [trace: auto] fn sock_shutdown(&mut self, fd: Fd, how: Sdflags) -> Result<()>;
            // The WasmEdge sockets extension (`spec/sockets.md`).
            /// Create a socket (`sock_open`; POSIX `socket`).
            [trace: auto] fn sock_open(&mut self, family: AddressFamily, socktype: SockType) -> Result<Fd>;
            /// Bind a socket to a local address (`sock_bind`; POSIX `bind`).
            [trace: auto] fn sock_bind(&mut self, fd: Fd, addr: SocketAddr) -> Result<()>;
            /// Listen for connections (`sock_listen`; POSIX `listen`).
            [trace: auto] fn sock_listen(&mut self, fd: Fd, backlog: u32) -> Result<()>;
            /// Connect a socket (`sock_connect`; POSIX `connect`).
            [trace: auto] fn sock_connect(&mut self, fd: Fd, addr: SocketAddr) -> Result<()>;
            /// Receive from a socket, with the source address when there is one
            /// (`sock_recv_from`; POSIX `recvmsg` with `msg_name`).
            [trace: hand] fn sock_recv_from(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], flags: Riflags) -> Result<(Size, Roflags, Option<SocketAddr>)>;
            /// Send to an address (`sock_send_to`; POSIX `sendmsg` with `msg_name`).
            [trace: auto] fn sock_send_to(&mut self, fd: Fd, iovs: &[IoSlice<'_>], flags: Siflags, addr: SocketAddr) -> Result<Size>;
            /// Read an `int` socket option (`sock_getsockopt`; POSIX `getsockopt`).
            [trace: auto] fn sock_getsockopt(&mut self, fd: Fd, opt: SockOpt) -> Result<i32>;
            /// Set an `int` socket option (`sock_setsockopt`; POSIX `setsockopt`).
            [trace: auto] fn sock_setsockopt(&mut self, fd: Fd, opt: SockOpt, value: i32) -> Result<()>;
            /// The local address of a socket (`sock_getlocaladdr`; POSIX `getsockname`).
            [trace: auto] fn sock_getlocaladdr(&mut self, fd: Fd) -> Result<SocketAddr>;
            /// The peer address of a socket (`sock_getpeeraddr`; POSIX `getpeername`).
            [trace: auto] fn sock_getpeeraddr(&mut self, fd: Fd) -> Result<SocketAddr>;
            /// Resolve a host name and service to at most `max` addresses
            /// (`sock_getaddrinfo`; POSIX `getaddrinfo`). `service` is a decimal
            /// port or empty; either may be empty, not both.
            [trace: auto] fn sock_getaddrinfo(&mut self, node: &str, service: &str, hints: AddrinfoHints, max: usize) -> Result<Vec<Addrinfo>>;
        }
    };
}

/// The names [`for_each_system_method!`] uses, for modules that expand it.
pub mod prelude {
    pub use super::{DirentWriter, Result, StringList, System};
    pub use crate::types::*;
    pub use std::io::{IoSlice, IoSliceMut};
    pub use std::net::SocketAddr;
}

/// Defines one method of a trait from a table entry, with its default body
/// when the entry has one.
macro_rules! trait_method {
    ($(#[$meta:meta])* fn $name:ident(&mut $self:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$meta])*
        fn $name(&mut $self $(, $arg: $ty)*) -> $ret;
    };
    ($(#[$meta:meta])* fn $name:ident(&mut $self:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty => $default:block) => {
        $(#[$meta])*
        fn $name(&mut $self $(, $arg: $ty)*) -> $ret $default
    };
}

/// Defines one method of [`Decorator`] from a table entry: forwarding to
/// the inner system, or, for a method whose default follows from another
/// (`args_sizes_get` from `args_get`), that default, so that a decorator
/// changing `args_get` changes both.
macro_rules! decorator_method {
    ($(#[$meta:meta])* fn $name:ident(&mut $self:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$meta])*
        fn $name(&mut $self $(, $arg: $ty)*) -> $ret {
            $self.inner().$name($($arg),*)
        }
    };
    ($(#[$meta:meta])* fn $name:ident(&mut $self:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty => $default:block) => {
        $(#[$meta])*
        fn $name(&mut $self $(, $arg: $ty)*) -> $ret $default
    };
}

macro_rules! define_system {
    ($($(#[$meta:meta])* [trace: $trace:ident] fn $name:ident(&mut $self:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty $(=> $default:block)?;)*) => {
        /// WASI preview 1, one method per `wasi_snapshot_preview1` import,
        /// plus the WasmEdge sockets extension (`spec/sockets.md`).
        ///
        /// Every method is documented with its POSIX counterpart. Methods
        /// take decoded arguments; guest buffers are borrowed in place. A
        /// system implements every method (only the sizes of `args_get` and
        /// `environ_get`, and `proc_exit`, have defaults): a call a system
        /// does not serve is refused explicitly, never by a silent default.
        /// `proc_exit` tells the system the guest is ending (it may release
        /// resources); the ABI layer then unwinds the guest.
        /// A system that changes part of another implements [`Decorator`]
        /// instead, which forwards the rest. The list of methods is
        /// [`for_each_system_method!`].
        pub trait System {
            $(trait_method! { $(#[$meta])* fn $name(&mut $self $(, $arg: $ty)*) -> $ret $(=> $default)? })*
        }

        /// A [`System`] that wraps another and changes part of it: every
        /// method forwards to [`inner`](Decorator::inner) unless the
        /// decorator overrides it, so a decorator never drops a call it
        /// does not know about. Implementing `Decorator` implements
        /// [`System`]. Implement it by path (`impl
        /// wasi_core::system::Decorator for ...`) rather than importing it:
        /// with both traits in scope, calls such as `self.fd_read(..)` on
        /// the decorator would be ambiguous.
        ///
        /// ```
        /// use wasi_core::system::prelude::*;
        ///
        /// /// Refuses to remove anything; forwards everything else.
        /// struct NoDelete<S>(S);
        ///
        /// impl<S: System> wasi_core::system::Decorator for NoDelete<S> {
        ///     type Inner = S;
        ///     fn inner(&mut self) -> &mut S {
        ///         &mut self.0
        ///     }
        ///     fn path_unlink_file(&mut self, _fd: Fd, _path: &str) -> Result<()> {
        ///         Err(Errno::PERM)
        ///     }
        ///     fn path_remove_directory(&mut self, _fd: Fd, _path: &str) -> Result<()> {
        ///         Err(Errno::PERM)
        ///     }
        /// }
        /// ```
        pub trait Decorator {
            /// The wrapped system.
            type Inner: System + ?Sized;

            /// The wrapped system, which every method not overridden
            /// forwards to.
            fn inner(&mut self) -> &mut Self::Inner;

            $(decorator_method! { $(#[$meta])* fn $name(&mut $self $(, $arg: $ty)*) -> $ret $(=> $default)? })*
        }

        impl<D: Decorator> System for D {
            $(
                #[inline]
                $(#[$meta])*
                fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    Decorator::$name(self $(, $arg)*)
                }
            )*
        }
    };
}

for_each_system_method!(define_system);

/// A boxed system is a system: a host that assembles a guest's stack at run
/// time (decorators chosen by options) boxes each layer and wraps the box.
impl Decorator for Box<dyn System + Send> {
    type Inner = dyn System + Send + 'static;

    #[inline]
    fn inner(&mut self) -> &mut (dyn System + Send + 'static) {
        &mut **self
    }
}

/// A system that serves nothing: `args` and `environ` are empty and every
/// other call fails with `ENOSYS` (`proc_exit` does nothing). A base for
/// [`Decorator`]s that serve all they offer themselves, and for tests.
#[derive(Debug, Default)]
pub struct Unsupported {
    empty: StringList,
}

macro_rules! unsupported_method {
    (fn args_get(&mut self) -> $ret:ty) => {
        fn args_get(&mut self) -> $ret {
            Ok(&self.empty)
        }
    };
    (fn environ_get(&mut self) -> $ret:ty) => {
        fn environ_get(&mut self) -> $ret {
            Ok(&self.empty)
        }
    };
    (fn args_sizes_get(&mut self) -> $ret:ty) => {};
    (fn environ_sizes_get(&mut self) -> $ret:ty) => {};
    (fn proc_exit(&mut self, $code:ident: $ty:ty) -> $ret:ty) => {
        fn proc_exit(&mut self, _: $ty) {}
    };
    (fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            let _ = ($($arg,)*);
            Err(Errno::NOSYS)
        }
    };
}

macro_rules! impl_unsupported {
    ($($(#[$meta:meta])* [trace: $trace:ident] fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty $(=> $default:block)?;)*) => {
        impl System for Unsupported {
            $(unsupported_method! { fn $name(&mut self $(, $arg: $ty)*) -> $ret })*
        }
    };
}

for_each_system_method!(impl_unsupported);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_list_layout() {
        let list = StringList::new(["a", "bc", ""]).unwrap();
        assert_eq!(list.sizes(), (3, 6));
        assert_eq!(list.as_bytes(), b"a\0bc\0\0");
        assert_eq!(list.iter().collect::<Vec<_>>(), [&b"a"[..], b"bc", b""]);
        assert_eq!(StringList::new(["a\0b"]), Err(Errno::INVAL));
    }

    #[test]
    fn dirent_writer_truncates_the_last_entry() {
        let mut buf = [0xffu8; 30];
        let mut out = DirentWriter::new(&mut buf);
        assert!(out.push(1, 7, Filetype::REGULAR_FILE, b"ab"));
        assert_eq!(out.len(), 26);
        assert!(!out.push(2, 8, Filetype::DIRECTORY, b"cd"));
        assert!(out.is_full());
        let first: Dirent = bytemuck::pod_read_unaligned(&buf[..24]);
        assert_eq!((first.d_next, first.d_ino, first.d_namlen), (1, 7, 2));
        assert_eq!(first.d_type, Filetype::REGULAR_FILE);
        assert_eq!(&buf[24..26], b"ab");
        assert_eq!(&buf[26..30], &2u64.to_le_bytes()[..4]);
    }
}
