//! Building a [`UnixSystem`].

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{FileType, Mode, OFlags};
use wasi_core::StringList;
use wasi_core::budget::HostBudget;
use wasi_core::fdtable::{FdEntry, FdTable};
use wasi_core::system::Result as WasiResult;
use wasi_core::types::{Errno, Fdflags, Filestat, Filetype, Rights, Size};
use wasi_core::vfs::VirtualFile;

use crate::UnixSystem;
use crate::denial::{Denial, Denials};
use crate::fdlimit::{FdPool, FdSlot};
use crate::features::{self, Feature, PathResolution};
use crate::net::{self, AddrRule, NetPolicy};
use crate::pseudo;
use crate::uring::Ring;

use crate::entry::{self, Entry, Host, HostFd, Io, filetype_of, max_rights};

/// Configures a [`UnixSystem`]: arguments, environment, standard streams and
/// the capabilities (directories and sockets) the guest receives.
///
/// Directories and sockets are opened or checked when they are added, so
/// that a bad path fails early; they become descriptors 3, 4, ... in the
/// order they were added, directories first.
#[derive(Debug, Default)]
pub struct Builder {
    args: Vec<Vec<u8>>,
    env: Vec<(Vec<u8>, Vec<u8>)>,
    stdio: Stdio,
    /// Each preopened directory, its guest name and whether it is on a
    /// kernel pseudo-filesystem.
    dirs: Vec<(OwnedFd, Box<str>, bool)>,
    sockets: Vec<(OwnedFd, Filetype, Rights)>,
    net: NetPolicy,
    io: IoBackend,
    paths: PathResolution,
    denials: Denials,
    allow_pseudo_fs: bool,
    max_file_size: Option<u64>,
    /// [`Builder::max_fds`]; `None`: [`FdTable::DEFAULT_LIMIT`].
    max_fds: Option<usize>,
    host_budget: HostBudget,
    /// [`Builder::fd_pool`]; `None`: [`FdPool::process`].
    fd_pool: Option<FdPool>,
}

/// A host directory opened and checked to be preopened
/// ([`Builder::preopen`]): a host that builds many systems with the same
/// directories (a server, one per request) opens each once, and gives
/// each system a [`reopen`](Self::reopen)ed one.
#[derive(Debug)]
pub struct PreopenDir {
    fd: OwnedFd,
    /// Opened with `O_PATH`, the directory not being readable.
    path_only: bool,
    on_pseudo_fs: bool,
}

impl PreopenDir {
    /// Opens `host` as [`Builder::preopen_dir`] does, which documents the
    /// rules: a directory on a kernel pseudo-filesystem needs
    /// `allow_pseudo_fs` ([`Builder::allow_pseudo_fs`]).
    pub fn open(host: impl AsRef<Path>, allow_pseudo_fs: bool) -> io::Result<Self> {
        let host = host.as_ref();
        let open = |access| {
            rustix::fs::open(
                host,
                access | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let (fd, path_only) = match open(OFlags::RDONLY) {
            Err(rustix::io::Errno::ACCESS) => (open(OFlags::PATH)?, true),
            result => (result?, false),
        };
        let on_pseudo_fs = match pseudo::filesystem_of(fd.as_fd())? {
            None => false,
            Some(fs) if !allow_pseudo_fs => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is on a kernel pseudo-filesystem ({}): giving it to the guest \
                         needs --allow-pseudo-fs (Builder::allow_pseudo_fs)",
                        host.display(),
                        fs.name(),
                    ),
                ));
            }
            Some(fs) if fs.is_proc() && pseudo::is_own_proc_entry(fd.as_fd()) => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is this process's own procfs directory, or cannot be told \
                         from it, and the guest is never given it, even with \
                         --allow-pseudo-fs",
                        host.display(),
                    ),
                ));
            }
            Some(_) => true,
        };
        Ok(Self {
            fd,
            path_only,
            on_pseudo_fs,
        })
    }

    /// The same directory, opened anew through this one (`openat(fd,
    /// ".")`: one system call, no path walked from the root, so a
    /// directory renamed or replaced since is still the one opened). Not a
    /// `dup`: each system gets a file description of its own, so that one
    /// guest's directory offset or flags never move another's.
    pub fn reopen(&self) -> io::Result<Self> {
        let access = if self.path_only {
            OFlags::PATH
        } else {
            OFlags::RDONLY
        };
        let fd = rustix::fs::openat(
            &self.fd,
            ".",
            access | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path_only: self.path_only,
            on_pseudo_fs: self.on_pseudo_fs,
        })
    }
}

/// Where the guest's standard streams come from.
#[derive(Debug, Default)]
enum Stdio {
    /// The process's descriptors 0, 1 and 2, inspected at build.
    #[default]
    Process,
    /// Descriptors given to the builder.
    Given([OwnedFd; 3]),
    /// The process's descriptors, as inspected once before.
    Inherited(InheritedStdio),
}

/// The process's standard streams as a guest gets them, inspected once
/// ([`InheritedStdio::inspect`]) and given to any number of systems
/// ([`Builder::inherit_stdio`]): building then makes no system call for
/// them, which matters to a server building a system per request.
#[derive(Clone, Debug)]
pub struct InheritedStdio([InheritedStream; 3]);

#[derive(Clone, Copy, Debug)]
enum InheritedStream {
    /// Not open in this process.
    Closed,
    /// Nothing to read: a stream at its end at once.
    Empty,
    /// The process's own descriptor, of this type, with these rights.
    Host(Filetype, Rights),
}

impl InheritedStdio {
    /// Inspects this process's descriptors 0, 1 and 2 as [`Builder::build`]
    /// does when given no streams.
    pub fn inspect() -> io::Result<Self> {
        let mut streams = [InheritedStream::Closed; 3];
        for (stream, fd) in streams.iter_mut().zip(process_stdio()) {
            if let Some((filetype, rights)) = stdio_kind(fd)? {
                *stream = InheritedStream::Host(filetype, rights);
            }
        }
        Ok(Self(streams))
    }

    /// Gives the guest an empty stdin (reads return end-of-file at once)
    /// rather than the process's: for guests that must not read what the
    /// process reads, such as a terminal.
    pub fn without_stdin(mut self) -> Self {
        self.0[0] = InheritedStream::Empty;
        self
    }

    /// The guest's entries for the streams.
    fn entries(&self) -> [FdEntry<Entry>; 3] {
        let fds = process_stdio();
        std::array::from_fn(|i| match self.0[i] {
            InheritedStream::Closed => closed_stream(),
            InheritedStream::Empty => FdEntry::new(
                Entry::Virtual(Box::new(EmptyStream)),
                Rights::CHARACTER_DEVICE - Rights::FD_WRITE,
                Rights::empty(),
            ),
            InheritedStream::Host(filetype, rights) => {
                host_stdio_entry(HostFd::Stdio(fds[i]), filetype, rights)
            }
        })
    }
}

/// This process's descriptors 0, 1 and 2.
fn process_stdio() -> [BorrowedFd<'static>; 3] {
    [
        rustix::stdio::stdin(),
        rustix::stdio::stdout(),
        rustix::stdio::stderr(),
    ]
}

/// How a [`UnixSystem`] does its I/O on Linux: plain system calls, io_uring,
/// or whichever is faster for each operation. The guest sees the same
/// results whichever is chosen; only the cost differs. The measurements
/// behind the choices are in the "I/O backends" section of the crate's
/// README.
///
/// Today io_uring serves `poll_oneoff` on descriptors: it keeps a poll
/// request armed in the kernel for each descriptor polled, between calls, so
/// a call over many descriptors costs the work of the ready ones instead of
/// all of them. Reads, writes and the other calls are single system calls
/// in every mode, which io_uring does not beat (an io_uring read of a cached
/// file is slower than `read`/`preadv` at every size measured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IoBackend {
    /// Plain system calls (`ppoll` for `poll_oneoff`); io_uring is never
    /// touched.
    Sync,
    /// io_uring for every operation it serves, whatever the cost of the
    /// call (`poll_oneoff` on one descriptor included). Building fails if
    /// the kernel does not allow io_uring.
    Uring,
    /// The faster backend for each call: io_uring for `poll_oneoff` calls
    /// with at least [`AUTO_URING_POLL_MIN`](crate::AUTO_URING_POLL_MIN)
    /// subscriptions, plain system calls otherwise. The ring is set up the
    /// first time a call wants it; where io_uring is not available the
    /// system stays with plain system calls, without a word.
    #[default]
    Auto,
}

impl IoBackend {
    /// The name used on command lines: `sync`, `uring` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Uring => "uring",
            Self::Auto => "auto",
        }
    }
}

impl std::fmt::Display for IoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for IoBackend {
    type Err = String;

    /// Parses `sync`, `uring` or `auto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sync" => Ok(Self::Sync),
            "uring" => Ok(Self::Uring),
            "auto" => Ok(Self::Auto),
            _ => Err(format!(
                "unknown I/O backend `{s}` (expected sync, uring or auto)"
            )),
        }
    }
}

fn invalid_input(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl Builder {
    /// Appends a command-line argument. The caller passes `argv[0]` too.
    pub fn arg(&mut self, arg: impl AsRef<[u8]>) -> &mut Self {
        self.args.push(arg.as_ref().to_vec());
        self
    }

    /// Adds the environment variable `key=value`.
    pub fn env(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.env
            .push((key.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Gives the guest the host directory `host` under the name `guest`.
    ///
    /// The directory is opened now (`O_RDONLY | O_DIRECTORY`, or `O_PATH`
    /// when it cannot be read, in which case the guest cannot list it);
    /// opening fails if it is not a directory. The guest sees it with the
    /// rights of a directory and can open anything beneath it, and nothing
    /// outside.
    ///
    /// A directory on a kernel pseudo-filesystem (procfs, sysfs, ...: see
    /// [`Builder::allow_pseudo_fs`]) fails with `PermissionDenied` unless
    /// that was allowed first, and so does the host process's own procfs
    /// directory (`/proc/self`) in any case. With the permission, the guest
    /// gets it without the rights to write or change anything.
    pub fn preopen_dir(&mut self, host: impl AsRef<Path>, guest: &str) -> io::Result<&mut Self> {
        let dir = PreopenDir::open(host, self.allow_pseudo_fs)?;
        Ok(self.preopen(dir, guest))
    }

    /// Preopens `dir`, opened before ([`PreopenDir::open`]), as `guest`:
    /// what [`preopen_dir`](Self::preopen_dir) does once it opened the
    /// directory, with no system call.
    pub fn preopen(&mut self, dir: PreopenDir, guest: &str) -> &mut Self {
        self.dirs.push((dir.fd, guest.into(), dir.on_pseudo_fs));
        self
    }

    /// Lets the guest read files on kernel pseudo-filesystems: procfs,
    /// sysfs, debugfs, cgroup and the others listed in `spec/preview1.md`
    /// ("Kernel pseudo-filesystems"). Off by default: `path_open` refuses
    /// anything on them with `ENOTCAPABLE` (reported to
    /// [`Builder::on_denial`] as [`Denial::PseudoFs`]), and
    /// [`Builder::preopen_dir`] refuses a directory on one.
    ///
    /// Even when allowed, the guest may only read: it cannot open a file
    /// there for writing, create, truncate, or change anything, and it can
    /// never open the host process's own procfs entries (`/proc/self`,
    /// `/proc/<this pid>/...`, `/proc/thread-self`), which hold the host's
    /// memory, environment and descriptors.
    ///
    /// It applies to the preopens added after it, so call it before
    /// [`Builder::preopen_dir`].
    pub fn allow_pseudo_fs(&mut self, allow: bool) -> &mut Self {
        self.allow_pseudo_fs = allow;
        self
    }

    /// Limits the size the guest can give a host regular file, as
    /// `RLIMIT_FSIZE` does for a process but without its signal and for
    /// the guest alone: no `fd_write` or `fd_pwrite` writes at or past byte
    /// `max` of a file (a write that would cross it is cut short there, and
    /// one that starts there fails with `EFBIG`), and `fd_allocate` and
    /// `fd_filestat_set_size` fail with `EFBIG` rather than make a file
    /// larger than `max` bytes. Files already larger can still shrink, and
    /// be written below the limit. `None`, the default, sets no limit and
    /// costs nothing.
    pub fn max_file_size(&mut self, max: Option<u64>) -> &mut Self {
        self.max_file_size = max;
        self
    }

    /// Gives the guest a socket: a listening socket (the guest may
    /// `sock_accept` on it) or a connected one. Fails with `ENOTSOCK` if `socket`
    /// is not a socket, and with `InvalidInput` if it is neither a stream nor
    /// a datagram socket.
    pub fn preopen_socket(&mut self, socket: OwnedFd) -> io::Result<&mut Self> {
        let (filetype, rights) = socket_kind(socket.as_fd())?;
        self.sockets.push((socket, filetype, rights));
        Ok(self)
    }

    /// Gives the guest a TCP socket listening on `addr` (backlog 128,
    /// `SO_REUSEADDR`); port 0 picks a free port, which the guest can learn
    /// with `sock_getlocaladdr`. Needs no [`NetPolicy`] rule: the host opens it.
    pub fn preopen_listen(&mut self, addr: SocketAddr) -> io::Result<&mut Self> {
        self.preopen_socket(net::listen(addr)?)
    }

    /// Gives the guest a TCP connection to `addr`, made now.
    pub fn preopen_dial(&mut self, addr: SocketAddr) -> io::Result<&mut Self> {
        self.preopen_socket(net::dial(addr)?)
    }

    /// Lets the guest bind sockets to addresses matching `rule` (`sock_bind`,
    /// `tcp+listen://`). By default it may bind nothing.
    pub fn allow_bind(&mut self, rule: AddrRule) -> &mut Self {
        self.net.allow_bind(rule);
        self
    }

    /// Lets the guest connect and send to addresses matching `rule`
    /// (`sock_connect`, `sock_send_to`, `tcp+dial://`). By default it may
    /// connect nowhere.
    pub fn allow_connect(&mut self, rule: AddrRule) -> &mut Self {
        self.net.allow_connect(rule);
        self
    }

    /// Lets the guest resolve names with the host's resolver
    /// (`sock_getaddrinfo`). Off by default.
    pub fn allow_resolve(&mut self, allow: bool) -> &mut Self {
        self.net.allow_resolve(allow);
        self
    }

    /// Sets the guest's standard streams. By default the guest shares the
    /// process's own descriptors 0, 1 and 2, which closing them in the
    /// guest leaves open.
    ///
    /// Either way they are streams, never capabilities: they get the rights
    /// of a stream (reading and writing as the descriptors are open, polling
    /// and `fdstat`/`filestat`), a directory among them cannot be opened
    /// beneath, and the `fdflags` the guest sets on them are emulated rather
    /// than set on their open file descriptions, which may be shared with
    /// other processes (`spec/preview1.md`, "Standard streams and
    /// preopens").
    pub fn stdio(&mut self, stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd) -> &mut Self {
        self.stdio = Stdio::Given([stdin, stdout, stderr]);
        self
    }

    /// Gives the guest the process's standard streams as `stdio` found
    /// them, without inspecting them again (the default inspects them at
    /// each [`build`](Self::build)).
    pub fn inherit_stdio(&mut self, stdio: &InheritedStdio) -> &mut Self {
        self.stdio = Stdio::Inherited(stdio.clone());
        self
    }

    /// Calls `handler` with every call the sandbox refuses (a connect
    /// without a rule, ...), after the refusal; the guest only sees the
    /// errno. By default refusals are not reported.
    pub fn on_denial(&mut self, handler: impl FnMut(&Denial) + Send + 'static) -> &mut Self {
        self.denials = Denials::new(Some(Box::new(handler)));
        self
    }

    /// The most descriptors the guest may have open at once, every kind
    /// counted (standard streams, preopens, files, sockets, virtual files):
    /// a call that would open one more gives `EMFILE`, before opening
    /// anything. [`FdTable::DEFAULT_LIMIT`] (1024) by default
    /// (`spec/preview1.md`, "File descriptors"). Building fails when the
    /// streams and preopens alone do not fit.
    pub fn max_fds(&mut self, max: usize) -> &mut Self {
        self.max_fds = Some(max);
        self
    }

    /// The guest's budget of host memory, which the layers above the
    /// system charge for what they keep for the guest (buffered files,
    /// transfer buffers: [`VirtualFds::host_budget`](wasi_core::vfs::VirtualFds::host_budget)).
    /// By default a budget of its own of
    /// [`HostBudget::DEFAULT_LIMIT`] (64 MiB).
    pub fn host_budget(&mut self, budget: HostBudget) -> &mut Self {
        self.host_budget = budget;
        self
    }

    /// Where the guest's host descriptors are counted together with other
    /// guests': past the pool's share, a call that would open one more
    /// gives `ENFILE`. By default [`FdPool::process`], the pool of every
    /// guest of this process.
    pub fn fd_pool(&mut self, pool: FdPool) -> &mut Self {
        self.fd_pool = Some(pool);
        self
    }

    /// Chooses the I/O backend ([`IoBackend::Auto`] by default).
    pub fn io(&mut self, backend: IoBackend) -> &mut Self {
        self.io = backend;
        self
    }

    /// Chooses how guest paths are resolved ([`PathResolution::Auto`] by
    /// default: `openat2` where the kernel allows it).
    pub fn path_resolution(&mut self, how: PathResolution) -> &mut Self {
        self.paths = how;
        self
    }

    /// Builds the system. The descriptors given to the builder move into it
    /// (the builder is left empty, as after [`Builder::default`]).
    ///
    /// Fails with `InvalidInput` when an argument or environment variable
    /// contains a NUL byte, when a variable's key contains `=`, or when the
    /// arguments or environment do not fit a 32-bit guest, and with
    /// `Unsupported` when [`IoBackend::Uring`] or
    /// [`PathResolution::Openat2`] was asked for and the kernel does not
    /// allow it (the message says why; see [`features`](crate::features)).
    pub fn build(&mut self) -> io::Result<UnixSystem> {
        let this = std::mem::take(self);
        let fd_pool = this.fd_pool.clone().unwrap_or_else(FdPool::process);
        let ring = match this.io {
            IoBackend::Uring => {
                features::io_uring().require("io_uring")?;
                // The ring's descriptor counts as the guest's.
                let ring = Ring::new(fd_pool.take().map_err(no_room)?);
                Some(ring.map_err(|why| Feature::Unavailable(why).unsupported("io_uring"))?)
            }
            IoBackend::Sync | IoBackend::Auto => None,
        };
        let paths = this.paths.resolved();
        if paths == PathResolution::Openat2 {
            features::openat2().require("openat2")?;
        }
        let args = StringList::new(&this.args)
            .map_err(|_| invalid_input("an argument contains a NUL byte or they are too large"))?;
        if this.env.iter().any(|(key, _)| key.contains(&b'=')) {
            return Err(invalid_input("an environment variable's key contains '='"));
        }
        let env = StringList::new(this.env.iter().map(|(key, value)| {
            let mut var = Vec::with_capacity(key.len() + 1 + value.len());
            var.extend_from_slice(key);
            var.push(b'=');
            var.extend_from_slice(value);
            var
        }))
        .map_err(|_| {
            invalid_input("an environment variable contains a NUL byte or they are too large")
        })?;

        let mut table =
            FdTable::with_limit(this.max_fds.unwrap_or(FdTable::<Entry>::DEFAULT_LIMIT));
        // Every descriptor the system will own counts in the pool, and must
        // fit the table.
        let slot = |table: &FdTable<Entry>| -> io::Result<FdSlot> {
            table.check_room().map_err(no_room)?;
            fd_pool.take().map_err(no_room)
        };
        let inherited = match this.stdio {
            Stdio::Given(fds) => {
                for fd in fds {
                    let (filetype, rights) = stdio_kind(fd.as_fd())?.ok_or_else(|| {
                        invalid_input("a standard stream given to the builder is not open")
                    })?;
                    let fd = HostFd::Owned(fd, slot(&table)?);
                    let entry = host_stdio_entry(fd, filetype, rights);
                    table.insert(entry).map_err(no_room)?;
                }
                None
            }
            Stdio::Process => Some(InheritedStdio::inspect()?),
            Stdio::Inherited(stdio) => Some(stdio),
        };
        for entry in inherited.iter().flat_map(InheritedStdio::entries) {
            table.insert(entry).map_err(no_room)?;
        }
        for (fd, name, on_pseudo_fs) in this.dirs {
            let mut host = Host::new(HostFd::Owned(fd, slot(&table)?), Filetype::DIRECTORY);
            let (mut rights, mut inheriting) = (Rights::DIRECTORY, Rights::DIRECTORY_INHERITING);
            if on_pseudo_fs {
                host.on_pseudo_fs = true;
                rights -= pseudo::WRITE_RIGHTS;
                inheriting -= pseudo::WRITE_RIGHTS;
            }
            let mut entry = FdEntry::new(Entry::Host(host), rights, inheriting);
            entry.preopen = Some(name);
            table.insert(entry).map_err(no_room)?;
        }
        for (fd, filetype, rights) in this.sockets {
            let entry = FdEntry::new(
                Entry::Host(Host::new(HostFd::Owned(fd, slot(&table)?), filetype)),
                rights,
                Rights::empty(),
            );
            table.insert(entry).map_err(no_room)?;
        }
        Ok(UnixSystem {
            table,
            args,
            env,
            net: this.net,
            io: this.io,
            paths,
            poll_scratch: Default::default(),
            random: Default::default(),
            ring,
            ring_failed: false,
            denials: this.denials,
            allow_pseudo_fs: this.allow_pseudo_fs,
            max_file_size: this.max_file_size,
            canceller: None,
            host_budget: this.host_budget,
            fd_pool,
        })
    }
}

/// The error of a descriptor that does not fit: the table's `EMFILE`, the
/// pool's `ENFILE`, as the host's own errors.
fn no_room(errno: Errno) -> io::Error {
    match errno {
        Errno::NFILE => rustix::io::Errno::NFILE.into(),
        Errno::MFILE => rustix::io::Errno::MFILE.into(),
        errno => io::Error::other(errno),
    }
}

/// The file type and rights of a socket given to the builder:
/// [`entry::socket_kind`](crate::entry::socket_kind), with `InvalidInput`
/// for a socket WASI has no type for.
fn socket_kind(fd: BorrowedFd<'_>) -> io::Result<(Filetype, Rights)> {
    entry::socket_kind(fd)?
        .ok_or_else(|| invalid_input("only stream and datagram sockets are supported"))
}

/// The entry of a standard stream. A standard stream is a stream, never a
/// capability: its type is that of the host object (a terminal or other
/// character device, a pipe, which WASI calls `unknown`, a file, or a
/// socket), but a directory is `unknown` too, so that no path call works on
/// it; its rights are those of a stream (`CHARACTER_DEVICE`), without
/// `fd_read` or `fd_write` where the host descriptor is not open for it; the
/// guest's `fdflags` are emulated ([`Io::Stream`]).
///
/// `None` when `fd` is not open in this process: the guest then gets a
/// stream on which everything fails with `EBADF`, rather than whatever file
/// the host may open under that number later.
fn stdio_kind(fd: BorrowedFd<'_>) -> io::Result<Option<(Filetype, Rights)>> {
    let stat = match rustix::fs::fstat(fd) {
        Ok(stat) => stat,
        Err(rustix::io::Errno::BADF) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    // What the object supports as an open file (a redirected file stays
    // seekable), never a directory's path rights.
    let (filetype, mut rights) = match FileType::from_raw_mode(stat.st_mode) {
        FileType::Socket => socket_kind(fd.as_fd())?,
        FileType::Directory => (Filetype::UNKNOWN, Rights::CHARACTER_DEVICE),
        ft => {
            let filetype = filetype_of(ft);
            (filetype, max_rights(filetype))
        }
    };
    match rustix::fs::fcntl_getfl(fd)? & OFlags::ACCMODE {
        OFlags::RDONLY => rights -= Rights::FD_WRITE,
        OFlags::WRONLY => rights -= Rights::FD_READ,
        _ => {}
    }
    Ok(Some((filetype, rights)))
}

/// The entry of a standard stream on `fd`, found by [`stdio_kind`] to be
/// of `filetype` with `rights`.
fn host_stdio_entry(fd: HostFd, filetype: Filetype, rights: Rights) -> FdEntry<Entry> {
    let mut host = Host::new(fd, filetype);
    host.io = Io::Stream(Fdflags::empty());
    FdEntry::new(Entry::Host(host), rights, Rights::empty())
}

/// The entry of a standard stream the process does not have open.
fn closed_stream() -> FdEntry<Entry> {
    FdEntry::new(
        Entry::Virtual(Box::new(ClosedStream)),
        Rights::CHARACTER_DEVICE,
        Rights::empty(),
    )
}

/// A standard stream with nothing to read ([`InheritedStdio::without_stdin`]).
struct EmptyStream;

impl VirtualFile for EmptyStream {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }

    fn filestat(&mut self) -> WasiResult<Filestat> {
        Ok(Filestat {
            filetype: Filetype::CHARACTER_DEVICE,
            ..Filestat::default()
        })
    }

    fn read(&mut self, _iovs: &mut [IoSliceMut<'_>]) -> WasiResult<Size> {
        Ok(0)
    }
}

/// A standard stream the process does not have open.
struct ClosedStream;

impl VirtualFile for ClosedStream {
    fn filetype(&self) -> Filetype {
        Filetype::UNKNOWN
    }

    fn filestat(&mut self) -> WasiResult<Filestat> {
        Err(Errno::BADF)
    }
}
