//! [`DriverSystem`]: the part of WASI a driver may use (spec/wadi.md §1.4).

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::{DirentWriter, StringList, System};

/// The WASI a driver sees: its name as its only argument, its configuration
/// as its environment, clocks, randomness, `sched_yield`, `proc_exit`, and
/// writes to descriptor 2 — all forwarded to `host` — plus, when `files` is
/// set (directories were configured), the filesystem calls on descriptors
/// from 3. Everything else fails: `EBADF` on descriptors the driver does
/// not have, `ENOTCAPABLE` otherwise.
pub struct DriverSystem {
    host: Box<dyn System + Send>,
    args: StringList,
    env: StringList,
    files: bool,
}

impl DriverSystem {
    /// A restricted view of `host` for a driver called `name` with
    /// configuration `env`; `files` grants the filesystem calls on
    /// descriptors from 3 (the host system's preopens).
    pub fn new(host: Box<dyn System + Send>, name: &str, env: StringList, files: bool) -> Self {
        Self {
            host,
            args: StringList::new([name]).unwrap_or_default(),
            env,
            files,
        }
    }

    /// Whether the driver may use `fd` for file calls: `EBADF` for 0, 1 and,
    /// without configured directories, anything from 3; `ENOTCAPABLE` for 2.
    fn file(&self, fd: Fd) -> Result<()> {
        match fd {
            2 => Err(Errno::NOTCAPABLE),
            3.. if self.files => Ok(()),
            _ => Err(Errno::BADF),
        }
    }

    /// Whether path calls relative to `fd` are allowed.
    fn dir(&self, fd: Fd) -> Result<()> {
        self.file(fd)
    }
}

impl System for DriverSystem {
    fn args_get(&mut self) -> Result<&StringList> {
        Ok(&self.args)
    }

    fn environ_get(&mut self) -> Result<&StringList> {
        Ok(&self.env)
    }

    fn clock_res_get(&mut self, id: Clockid) -> Result<Timestamp> {
        self.host.clock_res_get(id)
    }

    fn clock_time_get(&mut self, id: Clockid, precision: Timestamp) -> Result<Timestamp> {
        self.host.clock_time_get(id, precision)
    }

    fn fd_advise(&mut self, fd: Fd, offset: Filesize, len: Filesize, advice: Advice) -> Result<()> {
        self.file(fd)?;
        self.host.fd_advise(fd, offset, len, advice)
    }

    fn fd_allocate(&mut self, fd: Fd, offset: Filesize, len: Filesize) -> Result<()> {
        self.file(fd)?;
        self.host.fd_allocate(fd, offset, len)
    }

    fn fd_close(&mut self, fd: Fd) -> Result<()> {
        self.file(fd)?;
        self.host.fd_close(fd)
    }

    fn fd_datasync(&mut self, fd: Fd) -> Result<()> {
        self.file(fd)?;
        self.host.fd_datasync(fd)
    }

    fn fd_fdstat_get(&mut self, fd: Fd) -> Result<Fdstat> {
        if fd != 2 {
            self.file(fd)?;
        }
        self.host.fd_fdstat_get(fd)
    }

    fn fd_fdstat_set_flags(&mut self, fd: Fd, flags: Fdflags) -> Result<()> {
        self.file(fd)?;
        self.host.fd_fdstat_set_flags(fd, flags)
    }

    fn fd_fdstat_set_rights(&mut self, fd: Fd, base: Rights, inheriting: Rights) -> Result<()> {
        self.file(fd)?;
        self.host.fd_fdstat_set_rights(fd, base, inheriting)
    }

    fn fd_filestat_get(&mut self, fd: Fd) -> Result<Filestat> {
        self.file(fd)?;
        self.host.fd_filestat_get(fd)
    }

    fn fd_filestat_set_size(&mut self, fd: Fd, size: Filesize) -> Result<()> {
        self.file(fd)?;
        self.host.fd_filestat_set_size(fd, size)
    }

    fn fd_filestat_set_times(
        &mut self,
        fd: Fd,
        atim: Timestamp,
        mtim: Timestamp,
        flags: Fstflags,
    ) -> Result<()> {
        self.file(fd)?;
        self.host.fd_filestat_set_times(fd, atim, mtim, flags)
    }

    fn fd_pread(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        self.file(fd)?;
        self.host.fd_pread(fd, iovs, offset)
    }

    fn fd_prestat_get(&mut self, fd: Fd) -> Result<Prestat> {
        self.file(fd).map_err(|_| Errno::BADF)?;
        self.host.fd_prestat_get(fd)
    }

    fn fd_prestat_dir_name(&mut self, fd: Fd) -> Result<&str> {
        self.file(fd).map_err(|_| Errno::BADF)?;
        self.host.fd_prestat_dir_name(fd)
    }

    fn fd_pwrite(&mut self, fd: Fd, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size> {
        self.file(fd)?;
        self.host.fd_pwrite(fd, iovs, offset)
    }

    fn fd_read(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        self.file(fd)?;
        self.host.fd_read(fd, iovs)
    }

    fn fd_readdir(&mut self, fd: Fd, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
        self.file(fd)?;
        self.host.fd_readdir(fd, cookie, out)
    }

    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        self.file(from)?;
        self.file(to)?;
        self.host.fd_renumber(from, to)
    }

    fn fd_seek(&mut self, fd: Fd, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        self.file(fd)?;
        self.host.fd_seek(fd, offset, whence)
    }

    fn fd_sync(&mut self, fd: Fd) -> Result<()> {
        self.file(fd)?;
        self.host.fd_sync(fd)
    }

    fn fd_tell(&mut self, fd: Fd) -> Result<Filesize> {
        self.file(fd)?;
        self.host.fd_tell(fd)
    }

    fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size> {
        if fd != 2 {
            self.file(fd)?;
        }
        self.host.fd_write(fd, iovs)
    }

    fn path_create_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.dir(fd)?;
        self.host.path_create_directory(fd, path)
    }

    fn path_filestat_get(&mut self, fd: Fd, flags: Lookupflags, path: &str) -> Result<Filestat> {
        self.dir(fd)?;
        self.host.path_filestat_get(fd, flags, path)
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
        self.dir(fd)?;
        self.host
            .path_filestat_set_times(fd, flags, path, atim, mtim, fst_flags)
    }

    fn path_link(
        &mut self,
        old_fd: Fd,
        old_flags: Lookupflags,
        old_path: &str,
        new_fd: Fd,
        new_path: &str,
    ) -> Result<()> {
        self.dir(old_fd)?;
        self.dir(new_fd)?;
        self.host
            .path_link(old_fd, old_flags, old_path, new_fd, new_path)
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
        self.dir(fd)?;
        self.host.path_open(
            fd,
            dirflags,
            path,
            oflags,
            rights_base,
            rights_inheriting,
            fdflags,
        )
    }

    fn path_readlink(&mut self, fd: Fd, path: &str, buf: &mut [u8]) -> Result<Size> {
        self.dir(fd)?;
        self.host.path_readlink(fd, path, buf)
    }

    fn path_remove_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.dir(fd)?;
        self.host.path_remove_directory(fd, path)
    }

    fn path_rename(&mut self, fd: Fd, old_path: &str, new_fd: Fd, new_path: &str) -> Result<()> {
        self.dir(fd)?;
        self.dir(new_fd)?;
        self.host.path_rename(fd, old_path, new_fd, new_path)
    }

    fn path_symlink(&mut self, old_path: &str, fd: Fd, new_path: &str) -> Result<()> {
        self.dir(fd)?;
        self.host.path_symlink(old_path, fd, new_path)
    }

    fn path_unlink_file(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.dir(fd)?;
        self.host.path_unlink_file(fd, path)
    }

    fn poll_oneoff(&mut self, _: &[Subscription], _: &mut [Event]) -> Result<Size> {
        // A driver must not block the application that called it.
        Err(Errno::NOTCAPABLE)
    }

    fn proc_exit(&mut self, code: Exitcode) {
        self.host.proc_exit(code);
    }

    fn proc_raise(&mut self, _: Signal) -> Result<()> {
        Err(Errno::NOTCAPABLE)
    }

    fn random_get(&mut self, buf: &mut [u8]) -> Result<()> {
        self.host.random_get(buf)
    }

    fn sched_yield(&mut self) -> Result<()> {
        self.host.sched_yield()
    }

    fn sock_accept(&mut self, _: Fd, _: Fdflags) -> Result<Fd> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_recv(
        &mut self,
        _: Fd,
        _: &mut [IoSliceMut<'_>],
        _: Riflags,
    ) -> Result<(Size, Roflags)> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_send(&mut self, _: Fd, _: &[IoSlice<'_>], _: Siflags) -> Result<Size> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_shutdown(&mut self, _: Fd, _: Sdflags) -> Result<()> {
        Err(Errno::NOTCAPABLE)
    }

    // A driver has no network access: the WasmEdge socket calls are refused.

    fn sock_open(&mut self, _: AddressFamily, _: SockType) -> Result<Fd> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_bind(&mut self, _: Fd, _: SocketAddr) -> Result<()> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_listen(&mut self, _: Fd, _: u32) -> Result<()> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_connect(&mut self, _: Fd, _: SocketAddr) -> Result<()> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_recv_from(
        &mut self,
        _: Fd,
        _: &mut [IoSliceMut<'_>],
        _: Riflags,
    ) -> Result<(Size, Roflags, Option<SocketAddr>)> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_send_to(
        &mut self,
        _: Fd,
        _: &[IoSlice<'_>],
        _: Siflags,
        _: SocketAddr,
    ) -> Result<Size> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_getsockopt(&mut self, _: Fd, _: SockOpt) -> Result<i32> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_setsockopt(&mut self, _: Fd, _: SockOpt, _: i32) -> Result<()> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_getlocaladdr(&mut self, _: Fd) -> Result<SocketAddr> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_getpeeraddr(&mut self, _: Fd) -> Result<SocketAddr> {
        Err(Errno::NOTCAPABLE)
    }

    fn sock_getaddrinfo(
        &mut self,
        _: &str,
        _: &str,
        _: AddrinfoHints,
        _: usize,
    ) -> Result<Vec<Addrinfo>> {
        Err(Errno::NOTCAPABLE)
    }
}
