#![doc = include_str!("../README.md")]

mod builder;
mod cancel;
mod clock;
mod denial;
mod entry;
mod errno;
mod fdlimit;
mod fs;
mod linux;
mod net;
mod path;
mod poll;
mod random;
mod stream;

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::num::NonZeroU64;

use rustix::event::PollFlags;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, SeekFrom};
use rustix::net::{RecvFlags, SendAncillaryBuffer};
use wasi_core::budget::HostBudget;
use wasi_core::fdtable::{FdEntry, FdTable};
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::{VirtualFds, VirtualFile};
use wasi_core::{DirentWriter, StringList, System};

pub use builder::{Builder, InheritedStdio, IoBackend, PreopenDir};
pub use cancel::Canceller;
use denial::Denials;
pub use denial::{Denial, DenialHandler, DenialKind};
use entry::{
    Entry, Host, HostFd, Io, UNRESOLVED_RIGHTS, filetype_of, learn_filetype, max_rights,
    resolve_filetype, socket_kind,
};
use errno::from_host;
pub use fdlimit::{FdPool, FdSlot, guests_share, raise_nofile_limit};
pub use features::PathResolution;
pub use linux::features;
pub use linux::tcp::tcp_idle;
use linux::{pseudo, uring};
pub use net::{AddrRule, AddrRuleError, NetPolicy};
use path::{OpenError, Parent, Split, open_beneath, open_to_modify};

/// A WASI preview 1 [`System`] backed by Linux, sandboxed by capability.
///
/// The guest reaches the host only through the descriptors it was given:
/// its standard streams, the preopened directories and sockets (see
/// [`Builder`]) and what it opens beneath those directories. Every path is
/// resolved by the kernel with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS)`, or where the kernel lacks it one component at a
/// time with the same results ([`PathResolution`]), so no `..`, absolute
/// path or symlink leads out of a directory; each call checks the WASI
/// rights of its descriptors.
///
/// The rules this system follows where WASI leaves a choice are written down
/// in the "Filesystem (wasi-unix)" section of `spec/preview1.md`.
#[derive(Debug)]
pub struct UnixSystem {
    table: FdTable<Entry>,
    args: StringList,
    env: StringList,
    /// What the guest may bind, connect to and resolve (`spec/sockets.md`).
    net: NetPolicy,
    /// The I/O backend asked for.
    io: IoBackend,
    /// How guest paths are resolved (never `Auto`).
    paths: PathResolution,
    /// `poll_oneoff`'s buffers, reused by every call.
    poll_scratch: poll::Scratch,
    /// `random_get`'s generator, seeded from the kernel.
    random: random::SecureRandom,
    /// The io_uring backend, once set up: at build time for
    /// [`IoBackend::Uring`], at the first call that wants it for
    /// [`IoBackend::Auto`].
    ring: Option<uring::Ring>,
    /// Whether setting up a ring was tried (and failed) in `Auto` mode.
    ring_failed: bool,
    /// Where refused calls are reported ([`Builder::on_denial`]).
    denials: Denials,
    /// Whether the guest may open files on kernel pseudo-filesystems, for
    /// reading ([`Builder::allow_pseudo_fs`]).
    allow_pseudo_fs: bool,
    /// The size no guest call may make a host regular file exceed
    /// ([`Builder::max_file_size`]).
    max_file_size: Option<u64>,
    /// What ends `poll_oneoff`'s waits from another thread, once asked for
    /// ([`UnixSystem::canceller`]).
    canceller: Option<Canceller>,
    /// The guest's budget of host memory ([`Builder::host_budget`]),
    /// which the layers above charge (`VirtualFds::host_budget`).
    host_budget: HostBudget,
    /// Where the guest's host descriptors are counted with those of the
    /// process's other guests ([`Builder::fd_pool`]).
    fd_pool: FdPool,
}

/// `poll_oneoff` calls with at least this many subscriptions use the
/// io_uring backend in [`IoBackend::Auto`] mode; fewer use `ppoll`. This is
/// where the two cross over on the reference machine (see "I/O backends" in
/// the README).
pub const AUTO_URING_POLL_MIN: usize = 16;

impl UnixSystem {
    /// A builder with no arguments, no environment, the process's standard
    /// streams and no preopens.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The handle that ends this system's `poll_oneoff` waits from another
    /// thread: a guest sleeping or waiting on descriptors when it is
    /// cancelled gets `ECANCELED` at once, and so does every later call
    /// that would wait (`spec/preview1.md`, "poll_oneoff"). Such a system
    /// waits with `ppoll`, never io_uring.
    pub fn canceller(&mut self) -> Canceller {
        let pool = &self.fd_pool;
        self.canceller
            .get_or_insert_with(|| Canceller::new(pool.clone()))
            .clone()
    }

    /// Installs a virtual file at the lowest free descriptor, with the given
    /// rights, and returns that descriptor. Descriptor calls on it are
    /// forwarded to `file`; path calls give `ENOTDIR`.
    pub fn insert_virtual(
        &mut self,
        file: Box<dyn VirtualFile>,
        rights: Rights,
        inheriting: Rights,
    ) -> Result<Fd, Errno> {
        self.table
            .insert(FdEntry::new(Entry::Virtual(file), rights, inheriting))
    }

    /// The host directory at `fd`, if `fd` holds `rights`. A descriptor that
    /// is not a directory gives `ENOTDIR` before rights are checked (as in
    /// wasmtime). When the type of the descriptor is not known yet, the
    /// kernel gives that `ENOTDIR` if the rights are there; if they are not,
    /// the type is looked up to choose between the two errors.
    fn dir(&self, fd: Fd, rights: Rights) -> Result<BorrowedFd<'_>> {
        self.host_dir(fd, rights).map(|host| host.fd.as_fd())
    }

    /// The host directory at `fd`, as [`UnixSystem::dir`] finds it.
    fn host_dir(&self, fd: Fd, rights: Rights) -> Result<&Host> {
        let entry = self.table.entry(fd)?;
        let host = match &entry.file {
            Entry::Host(host) if matches!(host.filetype, None | Some(Filetype::DIRECTORY)) => host,
            _ => return Err(Errno::NOTDIR),
        };
        if let Err(errno) = entry.require(rights) {
            if host.filetype.is_none() {
                let stat = rustix::fs::fstat(&host.fd).map_err(from_host)?;
                if fs::filetype_of_stat(&stat) != Filetype::DIRECTORY {
                    return Err(Errno::NOTDIR);
                }
            }
            return Err(errno);
        }
        Ok(host)
    }

    /// The host socket at `fd` and its type, if `fd` holds `rights`:
    /// `ENOTSOCK` for anything that is not a socket, before rights are
    /// checked.
    /// The I/O backend this system was built with.
    pub fn io_backend(&self) -> IoBackend {
        self.io
    }

    /// Whether an io_uring has been set up: always for
    /// [`IoBackend::Uring`], never for [`IoBackend::Sync`], and for
    /// [`IoBackend::Auto`] once a call wanted one and the kernel allowed it.
    pub fn uses_uring(&self) -> bool {
        self.ring.is_some()
    }

    /// Whether a `poll_oneoff` over `subscriptions` subscriptions should
    /// use the io_uring backend; in [`IoBackend::Auto`] mode, sets the ring
    /// up the first time one is wanted.
    fn poll_wants_ring(&mut self, subscriptions: usize) -> bool {
        match self.io {
            IoBackend::Sync => false,
            IoBackend::Uring => true,
            IoBackend::Auto if subscriptions < AUTO_URING_POLL_MIN => false,
            IoBackend::Auto => {
                if self.ring.is_none() && !self.ring_failed {
                    // Unavailable (seccomp, `kernel.io_uring_disabled`, an
                    // old kernel): stay with `ppoll`, silently.
                    if !features::io_uring().is_available() {
                        self.ring_failed = true;
                        return false;
                    }
                    // The ring's descriptor counts as the guest's: with no
                    // room for it, this call waits with `ppoll`.
                    let Ok(slot) = self.fd_pool.take() else {
                        return false;
                    };
                    self.ring = uring::Ring::new(slot).ok();
                    self.ring_failed = self.ring.is_none();
                }
                self.ring.is_some()
            }
        }
    }

    /// Drops the io_uring registrations of `fd`, before it is closed,
    /// replaced or shut down.
    fn forget_registrations(&mut self, fd: Fd) -> Result<()> {
        match &mut self.ring {
            Some(ring) => ring.forget(fd),
            None => Ok(()),
        }
    }

    /// Room for one more host descriptor, taken before it is opened:
    /// `EMFILE` when the guest's table is full, `ENFILE` when the guests
    /// hold their share of the process's descriptors.
    pub(crate) fn host_slot(&self) -> Result<FdSlot> {
        self.table.check_room()?;
        self.fd_pool.take()
    }

    /// The most descriptors the guest may have open ([`Builder::max_fds`]).
    pub fn max_fds(&self) -> usize {
        self.table.limit()
    }

    fn socket(&self, fd: Fd, rights: Rights) -> Result<(BorrowedFd<'_>, Filetype)> {
        let entry = self.table.entry(fd)?;
        let socket = match &entry.file {
            Entry::Host(Host {
                fd,
                filetype: Some(filetype @ (Filetype::SOCKET_STREAM | Filetype::SOCKET_DGRAM)),
                ..
            }) => (fd.as_fd(), *filetype),
            _ => return Err(Errno::NOTSOCK),
        };
        entry.require(rights)?;
        Ok(socket)
    }
}

impl VirtualFds for UnixSystem {
    /// Installs `file` at the lowest free descriptor, as
    /// [`UnixSystem::insert_virtual`] does, and makes it a preopen named
    /// `preopen` if one is given. Path calls on a virtual descriptor give
    /// `ENOTDIR` here: the decorator that installed it resolves its paths.
    fn insert_virtual(
        &mut self,
        file: Box<dyn VirtualFile>,
        rights: Rights,
        inheriting: Rights,
        preopen: Option<&str>,
    ) -> Result<Fd> {
        let mut entry = FdEntry::new(Entry::Virtual(file), rights, inheriting);
        entry.preopen = preopen.map(Box::from);
        self.table.insert(entry)
    }

    /// Installs the host descriptor `fd` at the lowest free descriptor.
    ///
    /// Its type comes from `fstat`, and for a socket from `SO_TYPE` and
    /// `SO_ACCEPTCONN`, as for [`Builder::preopen_socket`]; `rights` are
    /// capped to those of that type (`LISTENER` for a listening socket,
    /// `SOCKET` for another), and `inheriting` to `DIRECTORY_INHERITING` for
    /// a directory and to nothing otherwise. A socket that is neither a
    /// stream nor a datagram socket gives `ENOTSUP`. A directory on a kernel
    /// pseudo-filesystem follows [`Builder::allow_pseudo_fs`]: `ENOTCAPABLE`
    /// unless it was allowed (and always for this process's own procfs
    /// entries), without the rights to write otherwise.
    fn insert_host(&mut self, fd: OwnedFd, rights: Rights, inheriting: Rights) -> Result<Fd> {
        // `fd` is closed (dropped) when there is no room for it.
        let slot = self.host_slot()?;
        let stat = rustix::fs::fstat(&fd).map_err(from_host)?;
        let (filetype, max) = match FileType::from_raw_mode(stat.st_mode) {
            FileType::Socket => socket_kind(fd.as_fd())
                .map_err(from_host)?
                .ok_or(Errno::NOTSUP)?,
            ft => {
                let filetype = filetype_of(ft);
                (filetype, max_rights(filetype))
            }
        };
        let mut host = Host::new(HostFd::Owned(fd, slot), filetype);
        let mut rights = rights & max;
        let mut inheriting = if filetype == Filetype::DIRECTORY {
            inheriting & Rights::DIRECTORY_INHERITING
        } else {
            Rights::empty()
        };
        if filetype == Filetype::DIRECTORY
            && let Some(fs) = pseudo::filesystem_of(host.fd.as_fd()).map_err(from_host)?
        {
            if !self.allow_pseudo_fs || (fs.is_proc() && pseudo::is_own_proc_entry(host.fd.as_fd()))
            {
                return Err(Errno::NOTCAPABLE);
            }
            host.on_pseudo_fs = true;
            rights -= pseudo::WRITE_RIGHTS;
            inheriting -= pseudo::WRITE_RIGHTS;
        }
        self.table
            .insert(FdEntry::new(Entry::Host(host), rights, inheriting))
    }

    /// `EMFILE` when the table holds [`Builder::max_fds`] descriptors.
    fn fd_room(&self) -> Result<()> {
        self.table.check_room()
    }

    fn host_budget(&self) -> &HostBudget {
        &self.host_budget
    }
}

/// A byte count returned by the kernel as a WASI size. Linux transfers at
/// most `0x7ffff000` bytes per call, so the count always fits.
#[inline]
fn size(n: usize) -> Size {
    n as Size
}

impl System for UnixSystem {
    fn args_get(&mut self) -> Result<&StringList> {
        Ok(&self.args)
    }

    fn environ_get(&mut self) -> Result<&StringList> {
        Ok(&self.env)
    }

    fn clock_res_get(&mut self, id: Clockid) -> Result<Timestamp> {
        clock::resolution(clock::host_clock(id)?)
    }

    #[inline]
    fn clock_time_get(&mut self, id: Clockid, _precision: Timestamp) -> Result<Timestamp> {
        clock::now(clock::host_clock(id)?)
    }

    fn fd_advise(&mut self, fd: Fd, offset: Filesize, len: Filesize, advice: Advice) -> Result<()> {
        let entry = self.table.get(fd, Rights::FD_ADVISE)?;
        let Entry::Host(host) = &entry.file else {
            // Advice is a hint, which a virtual file has no use for.
            return Ok(());
        };
        let advice = match advice {
            Advice::SEQUENTIAL => rustix::fs::Advice::Sequential,
            Advice::RANDOM => rustix::fs::Advice::Random,
            Advice::WILLNEED => rustix::fs::Advice::WillNeed,
            Advice::DONTNEED => rustix::fs::Advice::DontNeed,
            Advice::NOREUSE => rustix::fs::Advice::NoReuse,
            _ => rustix::fs::Advice::Normal,
        };
        rustix::fs::fadvise(&host.fd, offset, NonZeroU64::new(len), advice).map_err(from_host)
    }

    fn fd_allocate(&mut self, fd: Fd, offset: Filesize, len: Filesize) -> Result<()> {
        match &mut self.table.get_mut(fd, Rights::FD_ALLOCATE)?.file {
            Entry::Host(host) => fs::allocate(host.fd.as_fd(), offset, len, self.max_file_size),
            Entry::Virtual(file) => {
                let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
                if len == 0 {
                    return Err(Errno::INVAL);
                }
                if file.filestat()?.size < end {
                    file.set_size(end)?;
                }
                Ok(())
            }
        }
    }

    fn fd_close(&mut self, fd: Fd) -> Result<()> {
        // Dropping the entry closes an owned descriptor; the process's own
        // standard streams are only borrowed and stay open.
        self.table.entry(fd)?;
        self.forget_registrations(fd)?;
        match self.table.remove(fd)?.file {
            // Its error (a buffered write that could not be committed) is
            // the call's; the descriptor is closed all the same.
            Entry::Virtual(mut file) => file.close(),
            Entry::Host(_) => Ok(()),
        }
    }

    fn fd_datasync(&mut self, fd: Fd) -> Result<()> {
        match &mut self.table.get_mut(fd, Rights::FD_DATASYNC)?.file {
            Entry::Host(host) => rustix::fs::fdatasync(&host.fd).map_err(from_host),
            Entry::Virtual(file) => file.sync(),
        }
    }

    fn fd_fdstat_get(&mut self, fd: Fd) -> Result<Fdstat> {
        let entry = self.table.get_mut(fd, Rights::empty())?;
        let (filetype, flags) = match &entry.file {
            Entry::Host(host) => {
                let mut flags =
                    fs::fdflags_of(rustix::fs::fcntl_getfl(&host.fd).map_err(from_host)?);
                if let Io::Stream(guest) = host.io {
                    flags |= guest;
                }
                (resolve_filetype(entry)?, flags)
            }
            Entry::Virtual(file) => (file.filetype(), Fdflags::empty()),
        };
        Ok(Fdstat::new(filetype, flags, entry.rights, entry.inheriting))
    }

    fn fd_fdstat_set_flags(&mut self, fd: Fd, flags: Fdflags) -> Result<()> {
        let entry = self.table.get_mut(fd, Rights::FD_FDSTAT_SET_FLAGS)?;
        let changeable = Fdflags::APPEND | Fdflags::NONBLOCK;
        match &mut entry.file {
            Entry::Host(host) => {
                let current = rustix::fs::fcntl_getfl(&host.fd).map_err(from_host)?;
                if (fs::fdflags_of(current) - changeable) != (flags - changeable) {
                    return Err(Errno::NOTSUP);
                }
                if let Io::Stream(guest) = &mut host.io {
                    // The description is shared with other processes: its
                    // flags stay as they are, and cannot be cleared.
                    if !flags.contains(fs::fdflags_of(current) & changeable) {
                        return Err(Errno::NOTSUP);
                    }
                    *guest = flags & changeable;
                    return Ok(());
                }
                let update = OFlags::APPEND | OFlags::NONBLOCK;
                let new = (current - update) | fs::oflags_of(flags & changeable);
                rustix::fs::fcntl_setfl(&host.fd, new).map_err(from_host)
            }
            Entry::Virtual(_) if flags.is_empty() => Ok(()),
            Entry::Virtual(_) => Err(Errno::NOTSUP),
        }
    }

    fn fd_fdstat_set_rights(&mut self, fd: Fd, base: Rights, inheriting: Rights) -> Result<()> {
        self.table.set_rights(fd, base, inheriting)
    }

    fn fd_filestat_get(&mut self, fd: Fd) -> Result<Filestat> {
        let entry = self.table.get_mut(fd, Rights::FD_FILESTAT_GET)?;
        let (stat, known) = match &mut entry.file {
            Entry::Host(host) => (
                rustix::fs::fstat(&host.fd).map_err(from_host)?,
                host.filetype,
            ),
            Entry::Virtual(file) => return file.filestat(),
        };
        let filetype = known.unwrap_or_else(|| {
            let filetype = fs::filetype_of_stat(&stat);
            learn_filetype(entry, filetype);
            filetype
        });
        Ok(fs::filestat(&stat, filetype))
    }

    fn fd_filestat_set_size(&mut self, fd: Fd, size: Filesize) -> Result<()> {
        match &mut self.table.get_mut(fd, Rights::FD_FILESTAT_SET_SIZE)?.file {
            Entry::Host(host) => fs::set_size(host.fd.as_fd(), size, self.max_file_size),
            Entry::Virtual(file) => file.set_size(size),
        }
    }

    fn fd_filestat_set_times(
        &mut self,
        fd: Fd,
        atim: Timestamp,
        mtim: Timestamp,
        flags: Fstflags,
    ) -> Result<()> {
        match &self.table.get(fd, Rights::FD_FILESTAT_SET_TIMES)?.file {
            Entry::Host(host) => rustix::fs::futimens(&host.fd, &fs::timestamps(atim, mtim, flags))
                .map_err(from_host),
            // The trait has no way to set a virtual file's times.
            Entry::Virtual(_) => Err(Errno::NOTSUP),
        }
    }

    #[inline]
    fn fd_pread(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        match &mut self
            .table
            .get_mut(fd, Rights::FD_READ | Rights::FD_SEEK)?
            .file
        {
            Entry::Host(host) => match iovs {
                [one] => rustix::io::pread(&host.fd, &mut **one, offset),
                _ => rustix::io::preadv(&host.fd, iovs, offset),
            }
            .map(size)
            .map_err(from_host),
            Entry::Virtual(file) => file.pread(iovs, offset),
        }
    }

    fn fd_prestat_get(&mut self, fd: Fd) -> Result<Prestat> {
        let name = self.fd_prestat_dir_name(fd)?;
        let len = Size::try_from(name.len()).map_err(|_| Errno::NAMETOOLONG)?;
        Ok(Prestat::dir(len))
    }

    fn fd_prestat_dir_name(&mut self, fd: Fd) -> Result<&str> {
        self.table.entry(fd)?.preopen.as_deref().ok_or(Errno::BADF)
    }

    #[inline]
    fn fd_pwrite(&mut self, fd: Fd, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size> {
        let max_file_size = self.max_file_size;
        let entry = self.table.get_mut(fd, Rights::FD_WRITE | Rights::FD_SEEK)?;
        let mut cut = [IoSlice::new(&[])];
        let iovs = match max_file_size {
            None => iovs,
            Some(max) => fs::cap_write(entry, iovs, Some(offset), max, &mut cut)?,
        };
        match &mut entry.file {
            // On an `O_APPEND` descriptor Linux appends, whatever the offset.
            Entry::Host(host) => match iovs {
                [one] => rustix::io::pwrite(&host.fd, one, offset),
                _ => rustix::io::pwritev(&host.fd, iovs, offset),
            }
            .map(size)
            .map_err(from_host),
            Entry::Virtual(file) => file.pwrite(iovs, offset),
        }
    }

    #[inline]
    fn fd_read(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        match &mut self.table.get_mut(fd, Rights::FD_READ)?.file {
            Entry::Host(host) if host.is_socket() => net::recv(
                self.canceller.as_ref(),
                host.fd.as_fd(),
                (host.io, &self.net),
                iovs,
                RecvFlags::empty(),
            )
            .map(|msg| size(msg.bytes)),
            Entry::Host(Host {
                fd,
                filetype,
                io: Io::Stream(flags),
                ..
            }) => stream::read(fd.as_fd(), *filetype, *flags, iovs),
            Entry::Host(host) => match iovs {
                [one] => rustix::io::read(&host.fd, &mut **one),
                _ => rustix::io::readv(&host.fd, iovs),
            }
            .map(size)
            .map_err(from_host),
            Entry::Virtual(file) => file.read(iovs),
        }
    }

    fn fd_readdir(&mut self, fd: Fd, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
        let entry = self.table.get_mut(fd, Rights::empty())?;
        if let Entry::Virtual(file) = &mut entry.file {
            if !entry.rights.contains(Rights::FD_READDIR) {
                return Err(if file.filetype() == Filetype::DIRECTORY {
                    Errno::NOTCAPABLE
                } else {
                    Errno::NOTDIR
                });
            }
            return file.readdir(cookie, out);
        }
        // The type is made sure of first: `fs::readdir` positions the
        // descriptor, which on a file opened without `oflags::directory`
        // would move the file's position before `getdents` failed.
        resolve_filetype(entry)?;
        // Like a path call: `ENOTDIR` on a non-directory, before rights.
        let dir = self.dir(fd, Rights::FD_READDIR)?;
        fs::readdir(dir, cookie, out)
    }

    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        self.table.entry(from)?;
        self.table.entry(to)?;
        if from != to {
            self.forget_registrations(from)?;
            self.forget_registrations(to)?;
        }
        self.table.renumber(from, to).map(drop)
    }

    fn fd_seek(&mut self, fd: Fd, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        let entry = self.table.get_mut(fd, Rights::empty())?;
        // A directory has no position: `EBADF`, before rights are checked.
        fs::check_seekable(resolve_filetype(entry)?)?;
        // `FD_SEEK` implies `FD_TELL`; a zero `CUR` seek is a tell.
        let needed = if offset == 0 && whence == Whence::CUR {
            Rights::FD_TELL | Rights::FD_SEEK
        } else {
            Rights::FD_SEEK
        };
        if !entry.rights.intersects(needed) {
            return Err(Errno::NOTCAPABLE);
        }
        match &mut entry.file {
            Entry::Host(host) => {
                let pos = match whence {
                    Whence::SET => {
                        SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?)
                    }
                    Whence::CUR => SeekFrom::Current(offset),
                    Whence::END => SeekFrom::End(offset),
                    _ => return Err(Errno::INVAL),
                };
                rustix::fs::seek(&host.fd, pos).map_err(from_host)
            }
            Entry::Virtual(file) => file.seek(offset, whence),
        }
    }

    fn fd_sync(&mut self, fd: Fd) -> Result<()> {
        match &mut self.table.get_mut(fd, Rights::FD_SYNC)?.file {
            Entry::Host(host) => rustix::fs::fsync(&host.fd).map_err(from_host),
            Entry::Virtual(file) => file.sync(),
        }
    }

    fn fd_tell(&mut self, fd: Fd) -> Result<Filesize> {
        let entry = self.table.get_mut(fd, Rights::empty())?;
        fs::check_seekable(resolve_filetype(entry)?)?;
        if !entry.rights.intersects(Rights::FD_TELL | Rights::FD_SEEK) {
            return Err(Errno::NOTCAPABLE);
        }
        match &mut entry.file {
            Entry::Host(host) => fs::tell(&host.fd),
            Entry::Virtual(file) => file.seek(0, Whence::CUR),
        }
    }

    #[inline]
    fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size> {
        let max_file_size = self.max_file_size;
        let entry = self.table.get_mut(fd, Rights::FD_WRITE)?;
        let mut cut = [IoSlice::new(&[])];
        let iovs = match max_file_size {
            None => iovs,
            Some(max) => fs::cap_write(entry, iovs, None, max, &mut cut)?,
        };
        match &mut entry.file {
            // A socket whose peer is gone must give `EPIPE`, not kill the
            // host with `SIGPIPE`: `sendmsg` with `MSG_NOSIGNAL`.
            Entry::Host(host) if host.is_socket() => {
                let socket = host.fd.as_fd();
                net::send(
                    self.canceller.as_ref(),
                    socket,
                    host.io,
                    iovs,
                    |iovs, flags| {
                        rustix::net::sendmsg(
                            socket,
                            iovs,
                            &mut SendAncillaryBuffer::default(),
                            flags,
                        )
                    },
                )
                .map(size)
            }
            Entry::Host(Host {
                fd,
                filetype,
                io: Io::Stream(flags),
                ..
            }) => stream::write(fd.as_fd(), *filetype, *flags, iovs),
            Entry::Host(host) => match iovs {
                [one] => rustix::io::write(&host.fd, one),
                _ => rustix::io::writev(&host.fd, iovs),
            }
            .map(size)
            .map_err(from_host),
            Entry::Virtual(file) => file.write(iovs),
        }
    }

    fn path_create_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        let dir = self.dir(fd, Rights::PATH_CREATE_DIRECTORY)?;
        let split = Split::new(path)?;
        let parent = Parent::open(self.paths, dir, &split)?;
        rustix::fs::mkdirat(&parent, split.name, Mode::from_bits_truncate(0o777)).map_err(from_host)
    }

    fn path_filestat_get(&mut self, fd: Fd, flags: Lookupflags, path: &str) -> Result<Filestat> {
        let dir = self.dir(fd, Rights::PATH_FILESTAT_GET)?;
        if path::is_plain_name(path) {
            // One `fstatat` instead of `openat2` + `fstat` + `close`: a plain
            // name not followed cannot leave the directory. A symlink that
            // must be followed takes the general path.
            let stat =
                rustix::fs::statat(dir, path, AtFlags::SYMLINK_NOFOLLOW).map_err(from_host)?;
            let filetype = fs::filetype_of_stat(&stat);
            if filetype != Filetype::SYMBOLIC_LINK || !flags.contains(Lookupflags::SYMLINK_FOLLOW) {
                return Ok(fs::filestat(&stat, filetype));
            }
        }
        let file = open_beneath(
            self.paths,
            dir,
            path,
            OFlags::PATH | nofollow(flags),
            Mode::empty(),
        )?;
        let stat = rustix::fs::fstat(&file).map_err(from_host)?;
        Ok(fs::filestat(&stat, fs::filetype_of_stat(&stat)))
    }

    fn path_filestat_set_times(
        &mut self,
        fd: Fd,
        flags: Lookupflags,
        path: &str,
        atim: Timestamp,
        mtim: Timestamp,
        fst_flags: Fstflags,
    ) -> Result<()> {
        let dir = self.dir(fd, Rights::PATH_FILESTAT_SET_TIMES)?;
        let file = open_to_modify(
            self.paths,
            dir,
            path,
            OFlags::PATH | nofollow(flags),
            Mode::empty(),
        )?;
        fs::set_times_of_open_file(file.as_fd(), &fs::timestamps(atim, mtim, fst_flags))
    }

    fn path_link(
        &mut self,
        old_fd: Fd,
        old_flags: Lookupflags,
        old_path: &str,
        new_fd: Fd,
        new_path: &str,
    ) -> Result<()> {
        let old_dir = self.dir(old_fd, Rights::PATH_LINK_SOURCE)?;
        let new_dir = self.dir(new_fd, Rights::PATH_LINK_TARGET)?;
        let old = Split::new(old_path)?;
        let new = Split::new(new_path)?;
        // The source's directory (or, followed, the source itself) is
        // resolved before the destination's directory, so its errors come
        // first (`ELOOP` for a looping source even when the destination's
        // directory is missing), as in Linux and wasmtime-wasi; whether the
        // source's final name exists is then `linkat`'s to say.
        if old_flags.contains(Lookupflags::SYMLINK_FOLLOW) || old.trailing_slash() {
            // The source is followed (a trailing slash follows, as in
            // Linux): resolve it beneath the directory and link what it
            // opened, so that a symlink cannot pull in an outside file.
            let source =
                open_to_modify(self.paths, old_dir, old_path, OFlags::PATH, Mode::empty())?;
            let new_parent = Parent::open(self.paths, new_dir, &new)?;
            fs::link_open_file(source.as_fd(), new_parent.as_fd(), new.name)
        } else {
            let old_parent = Parent::open(self.paths, old_dir, &old)?;
            let new_parent = Parent::open(self.paths, new_dir, &new)?;
            rustix::fs::linkat(
                &old_parent,
                old.name,
                &new_parent,
                new.name,
                AtFlags::empty(),
            )
            .map_err(from_host)
        }
    }

    fn path_open(
        &mut self,
        fd: Fd,
        dirflags: Lookupflags,
        path: &str,
        oflags: Oflags,
        rights_base: Rights,
        rights_inheriting: Rights,
        fdflags: Fdflags,
    ) -> Result<Fd> {
        // `tcp+listen://` and `tcp+dial://` paths open sockets.
        if let Some(socket) = self.path_open_socket(fd, path, fdflags) {
            return socket;
        }
        let mut needed = Rights::PATH_OPEN;
        if oflags.contains(Oflags::CREAT) {
            needed |= Rights::PATH_CREATE_FILE;
        }
        if oflags.contains(Oflags::TRUNC) {
            needed |= Rights::PATH_FILESTAT_SET_SIZE;
        }
        let dir = self.host_dir(fd, needed)?;
        let allowed = self.table.entry(fd)?.inheriting;
        let mut sync_rights = Rights::empty();
        if fdflags.contains(Fdflags::DSYNC) {
            sync_rights |= Rights::FD_DATASYNC;
        }
        if fdflags.intersects(Fdflags::SYNC | Fdflags::RSYNC) {
            sync_rights |= Rights::FD_SYNC;
        }
        if !allowed.contains(sync_rights) {
            return Err(Errno::NOTCAPABLE);
        }
        let mut base = rights_base & allowed;
        let mut inheriting = rights_inheriting & allowed;

        let mut flags = OFlags::NOCTTY | nofollow(dirflags) | fs::oflags_of(fdflags);
        if oflags.contains(Oflags::CREAT) {
            flags |= OFlags::CREATE;
        }
        if oflags.contains(Oflags::EXCL) {
            flags |= OFlags::EXCL;
        }
        if oflags.contains(Oflags::TRUNC) {
            flags |= OFlags::TRUNC;
        }
        // A directory cannot be opened for writing: `EISDIR`, as Linux's
        // `open(O_RDWR | O_DIRECTORY)` and the official wasi-testsuite.
        let write_to_directory =
            oflags.contains(Oflags::DIRECTORY) && base.contains(Rights::FD_WRITE);
        let filetype = if oflags.contains(Oflags::DIRECTORY) {
            // The kernel enforces that the target is a directory.
            flags |= OFlags::DIRECTORY | OFlags::RDONLY;
            base &= Rights::DIRECTORY;
            Some(Filetype::DIRECTORY)
        } else {
            let read = base.intersects(Rights::FD_READ | Rights::FD_READDIR);
            let write = base.intersects(
                Rights::FD_WRITE
                    | Rights::FD_DATASYNC
                    | Rights::FD_ALLOCATE
                    | Rights::FD_FILESTAT_SET_SIZE,
            );
            flags |= match (read, write) {
                (_, false) => OFlags::RDONLY,
                (false, true) => OFlags::WRONLY,
                (true, true) => OFlags::RDWR,
            };
            if oflags.contains(Oflags::CREAT | Oflags::EXCL) {
                // Exclusive creation only ever makes a new regular file.
                base &= Rights::REGULAR_FILE;
                inheriting = Rights::empty();
                Some(Filetype::REGULAR_FILE)
            } else {
                // Found out when a call needs it; see `entry::Host::filetype`.
                base &= UNRESOLVED_RIGHTS;
                None
            }
        };
        let mode = if oflags.contains(Oflags::CREAT) {
            Mode::from_bits_truncate(0o666)
        } else {
            Mode::empty()
        };
        // Room first: a full table creates and truncates nothing.
        let slot = self.host_slot()?;
        let opened = match path::open_file(
            self.paths,
            dir.fd.as_fd(),
            dir.on_pseudo_fs,
            path,
            flags,
            mode,
            self.allow_pseudo_fs,
        ) {
            Ok(opened) => opened,
            Err(OpenError::Errno(errno)) => return Err(errno),
            Err(OpenError::PseudoFs { grantable }) => {
                // Only a refusal the opt-in would lift is reported: the
                // host's own entries and writes are refused whatever the
                // user allows.
                if grantable && !self.allow_pseudo_fs {
                    self.denials.report(Denial::PseudoFs(path.into()));
                }
                return Err(Errno::NOTCAPABLE);
            }
        };
        if write_to_directory {
            return Err(Errno::ISDIR);
        }
        if opened.on_pseudo_fs {
            base -= pseudo::WRITE_RIGHTS;
            inheriting -= pseudo::WRITE_RIGHTS;
        }
        self.table.insert(FdEntry::new(
            Entry::Host(Host {
                fd: HostFd::Owned(opened.fd, slot),
                filetype,
                on_pseudo_fs: opened.on_pseudo_fs,
                io: Io::Plain,
            }),
            base,
            inheriting,
        ))
    }

    fn path_readlink(&mut self, fd: Fd, path: &str, buf: &mut [u8]) -> Result<Size> {
        let dir = self.dir(fd, Rights::PATH_READLINK)?;
        let split = Split::new(path)?;
        if split.trailing_slash() {
            // `readlink("a/")` follows `a`, so it names a directory, never a
            // link: `EINVAL` as in Linux, or whatever resolving it gives.
            open_beneath(
                self.paths,
                dir,
                path,
                OFlags::PATH | OFlags::DIRECTORY,
                Mode::empty(),
            )?;
            return Err(Errno::INVAL);
        }
        let parent = Parent::resolve(self.paths, dir, &split)?;
        if buf.is_empty() {
            // `readlinkat` rejects an empty buffer, but the call must still
            // fail when the path is not a symlink.
            let mut scratch = [0u8; 1];
            rustix::fs::readlinkat_raw(&parent, split.name, &mut scratch[..]).map_err(from_host)?;
            return Ok(0);
        }
        rustix::fs::readlinkat_raw(&parent, split.name, buf)
            .map(size)
            .map_err(from_host)
    }

    fn path_remove_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        let dir = self.dir(fd, Rights::PATH_REMOVE_DIRECTORY)?;
        let split = Split::new(path)?;
        let parent = Parent::open(self.paths, dir, &split)?;
        rustix::fs::unlinkat(&parent, split.name, AtFlags::REMOVEDIR).map_err(from_host)
    }

    fn path_rename(&mut self, fd: Fd, old_path: &str, new_fd: Fd, new_path: &str) -> Result<()> {
        let old_dir = self.dir(fd, Rights::PATH_RENAME_SOURCE)?;
        let new_dir = self.dir(new_fd, Rights::PATH_RENAME_TARGET)?;
        let old = Split::new(old_path)?;
        let new = Split::new(new_path)?;
        let old_parent = Parent::open(self.paths, old_dir, &old)?;
        let new_parent = Parent::open(self.paths, new_dir, &new)?;
        rustix::fs::renameat(&old_parent, old.name, &new_parent, new.name).map_err(from_host)
    }

    fn path_symlink(&mut self, old_path: &str, fd: Fd, new_path: &str) -> Result<()> {
        let dir = self.dir(fd, Rights::PATH_SYMLINK)?;
        // Such a link could never be followed in the sandbox, and would be a
        // trap for the host: refuse it.
        if old_path.starts_with('/') {
            return Err(Errno::NOTCAPABLE);
        }
        let split = Split::new(new_path)?;
        let parent = Parent::open(self.paths, dir, &split)?;
        rustix::fs::symlinkat(old_path, &parent, split.name).map_err(from_host)
    }

    fn path_unlink_file(&mut self, fd: Fd, path: &str) -> Result<()> {
        let dir = self.dir(fd, Rights::PATH_UNLINK_FILE)?;
        let split = Split::new(path)?;
        let parent = Parent::open(self.paths, dir, &split)?;
        rustix::fs::unlinkat(&parent, split.name, AtFlags::empty()).map_err(from_host)
    }

    fn poll_oneoff(
        &mut self,
        subscriptions: &[Subscription],
        events: &mut [Event],
    ) -> Result<Size> {
        // A system that can be cancelled waits with `ppoll`, which waits
        // on the canceller's descriptor beside the guest's.
        let use_ring = self.canceller.is_none() && self.poll_wants_ring(subscriptions.len());
        let backend = match &mut self.ring {
            Some(ring) if use_ring => poll::Backend::Uring(ring),
            _ => poll::Backend::Sync,
        };
        poll::poll_oneoff(
            &self.table,
            subscriptions,
            events,
            &mut self.poll_scratch,
            backend,
            self.canceller.as_ref(),
        )
    }

    fn proc_exit(&mut self, _code: Exitcode) {
        // Nothing to release early: descriptors close when the system is
        // dropped, and the process's own streams are only borrowed.
    }

    fn proc_raise(&mut self, _signal: Signal) -> Result<()> {
        // Allowed: the ABI layer applies the signal's default action to the
        // guest, never to the host process.
        Ok(())
    }

    #[inline]
    fn random_get(&mut self, buf: &mut [u8]) -> Result<()> {
        self.random.fill(buf)
    }

    fn sched_yield(&mut self) -> Result<()> {
        rustix::thread::sched_yield();
        Ok(())
    }

    fn sock_accept(&mut self, fd: Fd, flags: Fdflags) -> Result<Fd> {
        let (_, filetype) = self.socket(fd, Rights::SOCK_ACCEPT)?;
        if !(flags - Fdflags::NONBLOCK).is_empty() {
            return Err(Errno::INVAL);
        }
        // The flags are those of the new descriptor; whether `accept` waits
        // depends on the listener's own flags.
        let mut socket_flags = rustix::net::SocketFlags::CLOEXEC;
        if flags.contains(Fdflags::NONBLOCK) {
            socket_flags |= rustix::net::SocketFlags::NONBLOCK;
        }
        let slot = self.host_slot()?;
        let (listener, _) = self.socket(fd, Rights::SOCK_ACCEPT)?;
        let accept = || rustix::net::accept_with(listener, socket_flags).map_err(from_host);
        let socket = match &self.canceller {
            // Another process or guest sharing the listener may take the
            // connection between the two calls; the accept then waits
            // uncancelled, until a connection comes or the listener is
            // shut down.
            Some(canceller) => canceller.socket_call(listener, PollFlags::IN, || {
                stream::ready(listener, PollFlags::IN).map_err(from_host)?;
                accept()
            })?,
            None => accept()?,
        };
        self.table.insert(FdEntry::new(
            Entry::Host(Host::new(HostFd::Owned(socket, slot), filetype)),
            Rights::SOCKET,
            Rights::empty(),
        ))
    }

    fn sock_recv(
        &mut self,
        fd: Fd,
        iovs: &mut [IoSliceMut<'_>],
        flags: Riflags,
    ) -> Result<(Size, Roflags)> {
        let (n, roflags, _source) = self.net_recv_from(fd, iovs, flags)?;
        Ok((n, roflags))
    }

    fn sock_send(&mut self, fd: Fd, iovs: &[IoSlice<'_>], _flags: Siflags) -> Result<Size> {
        let (socket, io) = self.socket_io(fd, Rights::FD_WRITE)?;
        net::send(self.canceller.as_ref(), socket, io, iovs, |iovs, flags| {
            rustix::net::sendmsg(socket, iovs, &mut SendAncillaryBuffer::default(), flags)
        })
        .map(size)
    }

    fn sock_shutdown(&mut self, fd: Fd, how: Sdflags) -> Result<()> {
        let (socket, _) = self.socket(fd, Rights::SOCK_SHUTDOWN)?;
        let how = if how.contains(Sdflags::RD | Sdflags::WR) {
            rustix::net::Shutdown::Both
        } else if how.contains(Sdflags::RD) {
            rustix::net::Shutdown::Read
        } else if how.contains(Sdflags::WR) {
            rustix::net::Shutdown::Write
        } else {
            return Err(Errno::INVAL);
        };
        rustix::net::shutdown(socket, how).map_err(from_host)?;
        // Its readiness changed for good: later polls register it afresh.
        self.forget_registrations(fd)
    }

    fn sock_open(&mut self, family: AddressFamily, socktype: SockType) -> Result<Fd> {
        self.net_open(family, socktype)
    }

    fn sock_bind(&mut self, fd: Fd, addr: SocketAddr) -> Result<()> {
        self.net_bind(fd, addr)
    }

    fn sock_listen(&mut self, fd: Fd, backlog: u32) -> Result<()> {
        self.net_listen(fd, backlog)
    }

    fn sock_connect(&mut self, fd: Fd, addr: SocketAddr) -> Result<()> {
        self.net_connect(fd, addr)
    }

    fn sock_recv_from(
        &mut self,
        fd: Fd,
        iovs: &mut [IoSliceMut<'_>],
        flags: Riflags,
    ) -> Result<(Size, Roflags, Option<SocketAddr>)> {
        self.net_recv_from(fd, iovs, flags)
    }

    fn sock_send_to(
        &mut self,
        fd: Fd,
        iovs: &[IoSlice<'_>],
        _flags: Siflags,
        addr: SocketAddr,
    ) -> Result<Size> {
        self.net_send_to(fd, iovs, addr)
    }

    fn sock_getsockopt(&mut self, fd: Fd, opt: SockOpt) -> Result<i32> {
        self.net_getsockopt(fd, opt)
    }

    fn sock_setsockopt(&mut self, fd: Fd, opt: SockOpt, value: i32) -> Result<()> {
        self.net_setsockopt(fd, opt, value)
    }

    fn sock_getlocaladdr(&mut self, fd: Fd) -> Result<SocketAddr> {
        self.net_local_addr(fd)
    }

    fn sock_getpeeraddr(&mut self, fd: Fd) -> Result<SocketAddr> {
        self.net_peer_addr(fd)
    }

    fn sock_getaddrinfo(
        &mut self,
        node: &str,
        service: &str,
        hints: AddrinfoHints,
        max: usize,
    ) -> Result<Vec<Addrinfo>> {
        self.net_getaddrinfo(node, service, hints, max)
    }
}

/// `O_NOFOLLOW` unless the lookup follows symlinks.
fn nofollow(flags: Lookupflags) -> OFlags {
    if flags.contains(Lookupflags::SYMLINK_FOLLOW) {
        OFlags::empty()
    } else {
        OFlags::NOFOLLOW
    }
}
