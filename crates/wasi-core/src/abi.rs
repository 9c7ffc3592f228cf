//! The preview 1 ABI: one function per import, decoding its raw arguments
//! from guest memory, calling the [`System`] and encoding the results.
//!
//! These functions are engine-independent; adapters reach them through the
//! import table ([`for_each_import!`](crate::for_each_import)). Rules shared by
//! all of them (written down in `spec/preview1.md`):
//!
//! - Output pointers are checked before the call, so a bad pointer never
//!   loses the result of an operation that happened (`EFAULT`).
//! - Enumeration values out of range and unknown flag bits give `EINVAL`;
//!   unknown *rights* bits are ignored, since rights can only restrict.
//! - Paths must be UTF-8 (`EILSEQ`).
//! - A buffer that overlaps another argument it must not alias gives `EINVAL`.

use crate::memory::GuestMemory;
use crate::runtime::ValType;
use crate::system::{DirentWriter, StringList, System};
use crate::types::*;
use core::fmt;
use std::net::{IpAddr, SocketAddr};

/// The guest called `proc_exit` (or raised a terminating signal): the adapter
/// unwinds the guest and reports this exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcExit(pub Exitcode);

impl fmt::Display for ProcExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest exited with code {}", self.0)
    }
}

impl std::error::Error for ProcExit {}

/// Conversion of an ABI function's outcome into what the wasm import
/// returns: an `errno` as `i32`, or nothing for `proc_exit`.
pub trait IntoWasm {
    /// The wasm result type of the import.
    type Wasm;
    /// The wasm result, or the exit that unwinds the guest.
    fn into_wasm(self) -> Result<Self::Wasm, ProcExit>;
}

impl IntoWasm for Result<(), Errno> {
    type Wasm = i32;
    #[inline]
    fn into_wasm(self) -> Result<i32, ProcExit> {
        Ok(match self {
            Ok(()) => 0,
            Err(errno) => i32::from(errno.0),
        })
    }
}

impl IntoWasm for Result<Result<(), Errno>, ProcExit> {
    type Wasm = i32;
    fn into_wasm(self) -> Result<i32, ProcExit> {
        self?.into_wasm()
    }
}

impl IntoWasm for ProcExit {
    type Wasm = ();
    fn into_wasm(self) -> Result<(), ProcExit> {
        Err(self)
    }
}

type Mem<'a, 'b> = &'a mut GuestMemory<'b>;
type Res = Result<(), Errno>;

fn enum_arg<T>(
    raw: u32,
    make: impl FnOnce(u8) -> T,
    valid: impl FnOnce(&T) -> bool,
) -> Result<T, Errno> {
    let value = make(u8::try_from(raw).map_err(|_| Errno::INVAL)?);
    if valid(&value) {
        Ok(value)
    } else {
        Err(Errno::INVAL)
    }
}

macro_rules! flags_arg {
    ($ty:ty, $raw:expr) => {
        <$ty>::from_bits($raw.try_into().map_err(|_| Errno::INVAL)?).ok_or(Errno::INVAL)?
    };
}

fn write_string_list(mem: Mem<'_, '_>, list: &StringList, ptrs: u32, buf: u32) -> Res {
    let (count, size) = list.sizes();
    mem.slice(ptrs, count.checked_mul(4).ok_or(Errno::FAULT)?)?;
    mem.slice_mut(buf, size)?.copy_from_slice(list.as_bytes());
    // Offsets into `buf`, not addresses: the end of the last string may be
    // 2^32 (the end of a 4 GiB memory), which a `u32` address cannot hold.
    let mut offset: u32 = 0;
    for (i, item) in (0u32..).zip(list.iter()) {
        mem.write(ptrs + 4 * i, buf + offset)?;
        offset += item.len() as u32 + 1;
    }
    Ok(())
}

fn write_sizes(
    mem: Mem<'_, '_>,
    (count, size): (Size, Size),
    count_ptr: u32,
    size_ptr: u32,
) -> Res {
    mem.check::<u32>(count_ptr)?;
    mem.check::<u32>(size_ptr)?;
    mem.write(count_ptr, count)?;
    mem.write(size_ptr, size)
}

/// `args_get(argv, argv_buf)`.
pub fn args_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    argv: u32,
    argv_buf: u32,
) -> Res {
    write_string_list(mem, sys.args_get()?, argv, argv_buf)
}

/// `args_sizes_get() -> (argc, argv_buf_size)`.
pub fn args_sizes_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    argc: u32,
    size: u32,
) -> Res {
    write_sizes(mem, sys.args_sizes_get()?, argc, size)
}

/// `environ_get(environ, environ_buf)`.
pub fn environ_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    env: u32,
    env_buf: u32,
) -> Res {
    write_string_list(mem, sys.environ_get()?, env, env_buf)
}

/// `environ_sizes_get() -> (count, buf_size)`.
pub fn environ_sizes_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    count: u32,
    size: u32,
) -> Res {
    write_sizes(mem, sys.environ_sizes_get()?, count, size)
}

/// `clock_res_get(id) -> timestamp`.
pub fn clock_res_get<S: System + ?Sized>(sys: &mut S, mem: Mem<'_, '_>, id: u32, out: u32) -> Res {
    mem.check::<Timestamp>(out)?;
    let res = sys.clock_res_get(Clockid(id))?;
    mem.write(out, res)
}

/// `clock_time_get(id, precision) -> timestamp`.
pub fn clock_time_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    id: u32,
    precision: u64,
    out: u32,
) -> Res {
    mem.check::<Timestamp>(out)?;
    let time = sys.clock_time_get(Clockid(id), precision)?;
    mem.write(out, time)
}

/// `fd_advise(fd, offset, len, advice)`.
pub fn fd_advise<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    offset: u64,
    len: u64,
    advice: u32,
) -> Res {
    let advice = enum_arg(advice, Advice, |a| a.is_valid())?;
    sys.fd_advise(fd, offset, len, advice)
}

/// `fd_allocate(fd, offset, len)`.
pub fn fd_allocate<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    offset: u64,
    len: u64,
) -> Res {
    sys.fd_allocate(fd, offset, len)
}

/// `fd_close(fd)`.
pub fn fd_close<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>, fd: u32) -> Res {
    sys.fd_close(fd)
}

/// `fd_datasync(fd)`.
pub fn fd_datasync<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>, fd: u32) -> Res {
    sys.fd_datasync(fd)
}

/// `fd_fdstat_get(fd) -> fdstat`.
pub fn fd_fdstat_get<S: System + ?Sized>(sys: &mut S, mem: Mem<'_, '_>, fd: u32, out: u32) -> Res {
    mem.check::<Fdstat>(out)?;
    let stat = sys.fd_fdstat_get(fd)?;
    mem.write(out, stat)
}

/// `fd_fdstat_set_flags(fd, flags)`.
pub fn fd_fdstat_set_flags<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    flags: u32,
) -> Res {
    sys.fd_fdstat_set_flags(fd, flags_arg!(Fdflags, flags))
}

/// `fd_fdstat_set_rights(fd, base, inheriting)`.
pub fn fd_fdstat_set_rights<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    base: u64,
    inheriting: u64,
) -> Res {
    sys.fd_fdstat_set_rights(
        fd,
        Rights::from_bits_truncate(base),
        Rights::from_bits_truncate(inheriting),
    )
}

/// `fd_filestat_get(fd) -> filestat`.
pub fn fd_filestat_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    out: u32,
) -> Res {
    mem.check::<Filestat>(out)?;
    let stat = sys.fd_filestat_get(fd)?;
    mem.write(out, stat)
}

/// `fd_filestat_set_size(fd, size)`.
pub fn fd_filestat_set_size<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    size: u64,
) -> Res {
    sys.fd_filestat_set_size(fd, size)
}

fn fst_flags(raw: u32) -> Result<Fstflags, Errno> {
    let flags = flags_arg!(Fstflags, raw);
    if flags.contains(Fstflags::ATIM | Fstflags::ATIM_NOW)
        || flags.contains(Fstflags::MTIM | Fstflags::MTIM_NOW)
    {
        return Err(Errno::INVAL);
    }
    Ok(flags)
}

/// `fd_filestat_set_times(fd, atim, mtim, fst_flags)`.
pub fn fd_filestat_set_times<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> Res {
    sys.fd_filestat_set_times(fd, atim, mtim, fst_flags(flags)?)
}

/// `fd_pread(fd, iovs, offset) -> size`.
pub fn fd_pread<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let n = mem.with_iovs_mut(iovs, iovs_len, |iovs| sys.fd_pread(fd, iovs, offset))??;
    mem.write(out, n)
}

/// `fd_prestat_get(fd) -> prestat`.
pub fn fd_prestat_get<S: System + ?Sized>(sys: &mut S, mem: Mem<'_, '_>, fd: u32, out: u32) -> Res {
    mem.check::<Prestat>(out)?;
    let stat = sys.fd_prestat_get(fd)?;
    mem.write(out, stat)
}

/// `fd_prestat_dir_name(fd, path, path_len)`: `ENAMETOOLONG` when the
/// buffer is shorter than the name; no NUL is written.
pub fn fd_prestat_dir_name<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Res {
    let buf = mem.slice_mut(path, path_len)?;
    let name = sys.fd_prestat_dir_name(fd)?.as_bytes();
    buf.get_mut(..name.len())
        .ok_or(Errno::NAMETOOLONG)?
        .copy_from_slice(name);
    Ok(())
}

/// `fd_pwrite(fd, iovs, offset) -> size`.
pub fn fd_pwrite<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let n = mem.with_iovs(iovs, iovs_len, |iovs| sys.fd_pwrite(fd, iovs, offset))??;
    mem.write(out, n)
}

/// `fd_read(fd, iovs) -> size`.
#[inline]
pub fn fd_read<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let n = mem.with_iovs_mut(iovs, iovs_len, |iovs| sys.fd_read(fd, iovs))??;
    mem.write(out, n)
}

/// `fd_readdir(fd, buf, buf_len, cookie) -> size`.
pub fn fd_readdir<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let mut writer = DirentWriter::new(mem.slice_mut(buf, buf_len)?);
    sys.fd_readdir(fd, cookie, &mut writer)?;
    let used = writer.len() as Size;
    mem.write(out, used)
}

/// `fd_renumber(fd, to)`.
pub fn fd_renumber<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>, fd: u32, to: u32) -> Res {
    sys.fd_renumber(fd, to)
}

/// `fd_seek(fd, offset, whence) -> filesize`.
pub fn fd_seek<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    offset: i64,
    whence: u32,
    out: u32,
) -> Res {
    mem.check::<Filesize>(out)?;
    let whence = enum_arg(whence, Whence, |w| w.is_valid())?;
    let pos = sys.fd_seek(fd, offset, whence)?;
    mem.write(out, pos)
}

/// `fd_sync(fd)`.
pub fn fd_sync<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>, fd: u32) -> Res {
    sys.fd_sync(fd)
}

/// `fd_tell(fd) -> filesize`.
pub fn fd_tell<S: System + ?Sized>(sys: &mut S, mem: Mem<'_, '_>, fd: u32, out: u32) -> Res {
    mem.check::<Filesize>(out)?;
    let pos = sys.fd_tell(fd)?;
    mem.write(out, pos)
}

/// `fd_write(fd, iovs) -> size`.
#[inline]
pub fn fd_write<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let n = mem.with_iovs(iovs, iovs_len, |iovs| sys.fd_write(fd, iovs))??;
    mem.write(out, n)
}

/// `path_create_directory(fd, path)`.
pub fn path_create_directory<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    path: u32,
    len: u32,
) -> Res {
    sys.path_create_directory(fd, mem.path(path, len)?)
}

/// `path_filestat_get(fd, flags, path) -> filestat`.
pub fn path_filestat_get<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    out: u32,
) -> Res {
    mem.check::<Filestat>(out)?;
    let flags = flags_arg!(Lookupflags, flags);
    let stat = sys.path_filestat_get(fd, flags, mem.path(path, len)?)?;
    mem.write(out, stat)
}

/// `path_filestat_set_times(fd, flags, path, atim, mtim, fst_flags)`.
#[allow(clippy::too_many_arguments)]
pub fn path_filestat_set_times<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    atim: u64,
    mtim: u64,
    fst: u32,
) -> Res {
    let flags = flags_arg!(Lookupflags, flags);
    let fst = fst_flags(fst)?;
    sys.path_filestat_set_times(fd, flags, mem.path(path, len)?, atim, mtim, fst)
}

/// `path_link(old_fd, old_flags, old_path, new_fd, new_path)`.
#[allow(clippy::too_many_arguments)]
pub fn path_link<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> Res {
    let old_flags = flags_arg!(Lookupflags, old_flags);
    sys.path_link(
        old_fd,
        old_flags,
        mem.path(old_path, old_len)?,
        new_fd,
        mem.path(new_path, new_len)?,
    )
}

/// `path_open(fd, dirflags, path, oflags, rights_base, rights_inheriting, fdflags) -> fd`.
#[allow(clippy::too_many_arguments)]
pub fn path_open<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    dirflags: u32,
    path: u32,
    len: u32,
    oflags: u32,
    rights_base: u64,
    rights_inheriting: u64,
    fdflags: u32,
    out: u32,
) -> Res {
    mem.check::<Fd>(out)?;
    let dirflags = flags_arg!(Lookupflags, dirflags);
    let oflags = flags_arg!(Oflags, oflags);
    let fdflags = flags_arg!(Fdflags, fdflags);
    let opened = sys.path_open(
        fd,
        dirflags,
        mem.path(path, len)?,
        oflags,
        Rights::from_bits_truncate(rights_base),
        Rights::from_bits_truncate(rights_inheriting),
        fdflags,
    )?;
    mem.write(out, opened)
}

/// `path_readlink(fd, path, buf, buf_len) -> size`: the link text is
/// truncated to the buffer; `EINVAL` when the path and the buffer overlap.
#[allow(clippy::too_many_arguments)]
pub fn path_readlink<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    path: u32,
    len: u32,
    buf: u32,
    buf_len: u32,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let (path, buf) = mem.split((path, len), (buf, buf_len))?;
    let path = core::str::from_utf8(path).map_err(|_| Errno::ILSEQ)?;
    if path.as_bytes().contains(&0) {
        return Err(Errno::INVAL);
    }
    let n = sys.path_readlink(fd, path, buf)?;
    mem.write(out, n)
}

/// `path_remove_directory(fd, path)`.
pub fn path_remove_directory<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    path: u32,
    len: u32,
) -> Res {
    sys.path_remove_directory(fd, mem.path(path, len)?)
}

/// `path_rename(fd, old_path, new_fd, new_path)`.
#[allow(clippy::too_many_arguments)]
pub fn path_rename<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> Res {
    sys.path_rename(
        fd,
        mem.path(old_path, old_len)?,
        new_fd,
        mem.path(new_path, new_len)?,
    )
}

/// `path_symlink(old_path, fd, new_path)`.
pub fn path_symlink<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    old_path: u32,
    old_len: u32,
    fd: u32,
    new_path: u32,
    new_len: u32,
) -> Res {
    sys.path_symlink(
        mem.path(old_path, old_len)?,
        fd,
        mem.path(new_path, new_len)?,
    )
}

/// `path_unlink_file(fd, path)`.
pub fn path_unlink_file<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    path: u32,
    len: u32,
) -> Res {
    sys.path_unlink_file(fd, mem.path(path, len)?)
}

/// `poll_oneoff(in, out, nsubscriptions) -> size`: `EINVAL` for zero
/// subscriptions, an unknown event type or misaligned arrays; subscriptions that overlap the event
/// array are copied first.
pub fn poll_oneoff<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    subs: u32,
    events: u32,
    nsubs: u32,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    if nsubs == 0 {
        return Err(Errno::INVAL);
    }
    let subscriptions = mem.array::<Subscription>(subs, nsubs)?;
    if !subscriptions.iter().all(|sub| sub.tag.is_valid()) {
        return Err(Errno::INVAL);
    }
    mem.array_mut::<Event>(events, nsubs)?;
    let sub_bytes = (subs, nsubs * size_of::<Subscription>() as u32);
    let event_bytes = (events, nsubs * size_of::<Event>() as u32);
    let n = match mem.split(sub_bytes, event_bytes) {
        Ok((subs, events)) => sys.poll_oneoff(cast(subs)?, cast_mut(events)?)?,
        Err(_) => {
            let copied = mem.array::<Subscription>(subs, nsubs)?.to_vec();
            sys.poll_oneoff(&copied, mem.array_mut::<Event>(events, nsubs)?)?
        }
    };
    mem.write(out, n)
}

fn cast<T: bytemuck::Pod>(bytes: &[u8]) -> Result<&[T], Errno> {
    bytemuck::try_cast_slice(bytes).map_err(|_| Errno::INVAL)
}

fn cast_mut<T: bytemuck::Pod>(bytes: &mut [u8]) -> Result<&mut [T], Errno> {
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| Errno::INVAL)
}

/// `proc_exit(rval)`: never returns to the guest.
pub fn proc_exit<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>, code: u32) -> ProcExit {
    sys.proc_exit(code);
    ProcExit(code)
}

/// `proc_raise(sig)`: if the system allows it, applies the signal's default
/// action. `none`, `chld`, `cont`, `urg` and `winch` are ignored; the stop
/// signals give `ENOTSUP` (a guest cannot be stopped); every other signal
/// terminates the guest with exit code `128 + sig` (its WASI number).
pub fn proc_raise<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    sig: u32,
) -> Result<Result<(), Errno>, ProcExit> {
    let signal = match enum_arg(sig, Signal, |s| s.is_valid()) {
        Ok(signal) => signal,
        Err(errno) => return Ok(Err(errno)),
    };
    if let Err(errno) = sys.proc_raise(signal) {
        return Ok(Err(errno));
    }
    match signal {
        Signal::NONE | Signal::CHLD | Signal::CONT | Signal::URG | Signal::WINCH => Ok(Ok(())),
        Signal::STOP | Signal::TSTP | Signal::TTIN | Signal::TTOU => Ok(Err(Errno::NOTSUP)),
        _ => {
            let code = 128 + u32::from(signal.0);
            sys.proc_exit(code);
            Err(ProcExit(code))
        }
    }
}

/// `random_get(buf, buf_len)`.
#[inline]
pub fn random_get<S: System + ?Sized>(sys: &mut S, mem: Mem<'_, '_>, buf: u32, len: u32) -> Res {
    sys.random_get(mem.slice_mut(buf, len)?)
}

/// `sched_yield()`.
pub fn sched_yield<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>) -> Res {
    sys.sched_yield()
}

/// `sock_accept(fd, flags) -> fd`.
pub fn sock_accept<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    flags: u32,
    out: u32,
) -> Res {
    mem.check::<Fd>(out)?;
    let accepted = sys.sock_accept(fd, flags_arg!(Fdflags, flags))?;
    mem.write(out, accepted)
}

/// `sock_recv(fd, ri_data, ri_flags) -> (size, roflags)`.
#[allow(clippy::too_many_arguments)]
pub fn sock_recv<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    flags: u32,
    out_len: u32,
    out_flags: u32,
) -> Res {
    mem.check::<Size>(out_len)?;
    mem.check::<Roflags>(out_flags)?;
    let flags = flags_arg!(Riflags, flags);
    let (n, roflags) =
        mem.with_iovs_mut(iovs, iovs_len, |iovs| sys.sock_recv(fd, iovs, flags))??;
    mem.write(out_len, n)?;
    mem.write(out_flags, roflags)
}

/// `sock_send(fd, si_data, si_flags) -> size`.
pub fn sock_send<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    flags: u32,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let flags = flags_arg!(Siflags, flags);
    let n = mem.with_iovs(iovs, iovs_len, |iovs| sys.sock_send(fd, iovs, flags))??;
    mem.write(out, n)
}

/// `sock_shutdown(fd, how)`: `EINVAL` when `how` is empty or has unknown bits.
pub fn sock_shutdown<S: System + ?Sized>(sys: &mut S, _mem: Mem<'_, '_>, fd: u32, how: u32) -> Res {
    let how = flags_arg!(Sdflags, how);
    if how.is_empty() {
        return Err(Errno::INVAL);
    }
    sys.sock_shutdown(fd, how)
}

// ---------------------------------------------------------------------------
// The WasmEdge sockets extension (`spec/sockets.md`).

/// Reads a WasmEdge `address` record at `ptr` and the `port` argument: the
/// address is 4 bytes (IPv4), 16 (IPv6) or 128 (storage: family, then the
/// address). `EINVAL` for another length, an unknown family or a port above
/// 65535; `EAFNOSUPPORT` for a Unix address.
fn read_address(mem: &GuestMemory<'_>, ptr: u32, port: u32) -> Result<SocketAddr, Errno> {
    let record: WasiAddress = mem.read(ptr)?;
    let bytes = mem.slice(record.buf, record.buf_len)?;
    let port = u16::try_from(port).map_err(|_| Errno::INVAL)?;
    let v4 = |b: &[u8]| IpAddr::from(<[u8; 4]>::try_from(&b[..4]).expect("4 bytes"));
    let v6 = |b: &[u8]| IpAddr::from(<[u8; 16]>::try_from(&b[..16]).expect("16 bytes"));
    let ip = match record.buf_len {
        4 => v4(bytes),
        16 => v6(bytes),
        WasiAddress::STORAGE_LEN => {
            let family = u16::from_le_bytes([bytes[0], bytes[1]]);
            match u8::try_from(family).map(AddressFamily) {
                Ok(AddressFamily::INET4) => v4(&bytes[2..]),
                Ok(AddressFamily::INET6) => v6(&bytes[2..]),
                Ok(AddressFamily::UNIX) => return Err(Errno::AFNOSUPPORT),
                _ => return Err(Errno::INVAL),
            }
        }
        _ => return Err(Errno::INVAL),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Checks the WasmEdge `address` record at `ptr` for output: its buffer must
/// be in memory and, when `storage`, 128 bytes long (`EINVAL`). Returns it.
fn address_out(mem: &GuestMemory<'_>, ptr: u32, storage: bool) -> Result<WasiAddress, Errno> {
    let record: WasiAddress = mem.read(ptr)?;
    mem.slice(record.buf, record.buf_len)?;
    match record.buf_len {
        WasiAddress::STORAGE_LEN => Ok(record),
        4 | 16 if !storage => Ok(record),
        _ => Err(Errno::INVAL),
    }
}

/// Writes an address (or, for `None`, family `unspec`) into a storage
/// buffer checked by [`address_out`], zeroing the rest of it.
fn write_storage(mem: Mem<'_, '_>, record: WasiAddress, addr: Option<SocketAddr>) -> Res {
    let buf = mem.slice_mut(record.buf, record.buf_len)?;
    buf.fill(0);
    let family = addr.map_or(AddressFamily::UNSPEC, |a| AddressFamily::of(&a));
    buf[..2].copy_from_slice(&u16::from(family.0).to_le_bytes());
    match addr.map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) => buf[2..6].copy_from_slice(&ip.octets()),
        Some(IpAddr::V6(ip)) => buf[2..18].copy_from_slice(&ip.octets()),
        None => {}
    }
    Ok(())
}

/// `sock_open(af, socktype) -> fd`: `EINVAL` for `unspec`, `any` or
/// unknown values.
pub fn sock_open<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    af: u32,
    socktype: u32,
    out: u32,
) -> Res {
    mem.check::<Fd>(out)?;
    let af = enum_arg(af, AddressFamily, |f| {
        f.is_valid() && *f != AddressFamily::UNSPEC
    })?;
    let socktype = enum_arg(socktype, SockType, |t| t.is_valid() && *t != SockType::ANY)?;
    let fd = sys.sock_open(af, socktype)?;
    mem.write(out, fd)
}

/// `sock_bind(fd, addr, port)`.
pub fn sock_bind<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    port: u32,
) -> Res {
    sys.sock_bind(fd, read_address(mem, addr, port)?)
}

/// `sock_listen(fd, backlog)`: a negative backlog is 0.
pub fn sock_listen<S: System + ?Sized>(
    sys: &mut S,
    _mem: Mem<'_, '_>,
    fd: u32,
    backlog: u32,
) -> Res {
    sys.sock_listen(fd, (backlog as i32).max(0) as u32)
}

/// `sock_connect(fd, addr, port)`.
pub fn sock_connect<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    port: u32,
) -> Res {
    sys.sock_connect(fd, read_address(mem, addr, port)?)
}

/// `sock_accept(fd) -> fd`: WasmEdge v1's form, `sock_accept` with no flags.
pub fn sock_accept_v1<S: System + ?Sized>(sys: &mut S, mem: Mem<'_, '_>, fd: u32, out: u32) -> Res {
    sock_accept(sys, mem, fd, 0, out)
}

/// `sock_recv_from(fd, ri_data, addr, ri_flags) -> (port, size, roflags)`:
/// `addr` must be a 128-byte storage buffer; it receives the source address,
/// or family `unspec` when there is none.
#[allow(clippy::too_many_arguments)]
pub fn sock_recv_from<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    addr: u32,
    flags: u32,
    out_port: u32,
    out_len: u32,
    out_flags: u32,
) -> Res {
    let record = address_out(mem, addr, true)?;
    mem.check::<u32>(out_port)?;
    mem.check::<Size>(out_len)?;
    mem.check::<Roflags>(out_flags)?;
    let flags = flags_arg!(Riflags, flags);
    let (n, roflags, source) =
        mem.with_iovs_mut(iovs, iovs_len, |iovs| sys.sock_recv_from(fd, iovs, flags))??;
    write_storage(mem, record, source)?;
    mem.write(out_port, u32::from(source.map_or(0, |a| a.port())))?;
    mem.write(out_len, n)?;
    mem.write(out_flags, roflags)
}

/// `sock_send_to(fd, si_data, addr, port, si_flags) -> size`.
#[allow(clippy::too_many_arguments)]
pub fn sock_send_to<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    addr: u32,
    port: u32,
    flags: u32,
    out: u32,
) -> Res {
    mem.check::<Size>(out)?;
    let dest = read_address(mem, addr, port)?;
    let flags = flags_arg!(Siflags, flags);
    let n = mem.with_iovs(iovs, iovs_len, |iovs| {
        sys.sock_send_to(fd, iovs, flags, dest)
    })??;
    mem.write(out, n)
}

/// `sock_getsockopt(fd, level, name, value, value_len)`: `value_len` points
/// to the size of `value`, which must hold an `i32`; 4 is written back.
pub fn sock_getsockopt<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    level: u32,
    name: u32,
    value: u32,
    value_len: u32,
) -> Res {
    let len: u32 = mem.read(value_len)?;
    mem.slice(value, len)?;
    let opt = SockOpt::decode(level, name)?;
    if len < 4 {
        return Err(Errno::INVAL);
    }
    let got = sys.sock_getsockopt(fd, opt)?;
    mem.write(value, got)?;
    mem.write(value_len, 4u32)
}

/// `sock_setsockopt(fd, level, name, value, value_len)`: `value_len` must
/// be 4 (an `i32`).
pub fn sock_setsockopt<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    level: u32,
    name: u32,
    value: u32,
    value_len: u32,
) -> Res {
    mem.slice(value, value_len)?;
    let opt = SockOpt::decode(level, name)?;
    if value_len != 4 {
        return Err(Errno::INVAL);
    }
    if opt.is_read_only() {
        return Err(Errno::NOPROTOOPT);
    }
    sys.sock_setsockopt(fd, opt, mem.read(value)?)
}

/// Which address of a socket to get.
#[derive(Clone, Copy)]
enum Which {
    Local,
    Peer,
}

fn sock_addr<S: System + ?Sized>(sys: &mut S, fd: u32, which: Which) -> Result<SocketAddr, Errno> {
    match which {
        Which::Local => sys.sock_getlocaladdr(fd),
        Which::Peer => sys.sock_getpeeraddr(fd),
    }
}

fn sock_addr_v2<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    out_port: u32,
    which: Which,
) -> Res {
    let record = address_out(mem, addr, true)?;
    mem.check::<u32>(out_port)?;
    let got = sock_addr(sys, fd, which)?;
    write_storage(mem, record, Some(got))?;
    mem.write(out_port, u32::from(got.port()))
}

fn sock_addr_v1<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    out_type: u32,
    out_port: u32,
    which: Which,
) -> Res {
    let record = address_out(mem, addr, false)?;
    if record.buf_len == WasiAddress::STORAGE_LEN {
        return Err(Errno::INVAL);
    }
    mem.check::<u32>(out_type)?;
    mem.check::<u32>(out_port)?;
    let got = sock_addr(sys, fd, which)?;
    let buf = mem.slice_mut(record.buf, record.buf_len)?;
    let kind = match got.ip() {
        IpAddr::V4(ip) => {
            buf.fill(0);
            buf[..4].copy_from_slice(&ip.octets());
            4u32
        }
        IpAddr::V6(ip) if buf.len() == 16 => {
            buf.copy_from_slice(&ip.octets());
            6
        }
        IpAddr::V6(_) => return Err(Errno::INVAL),
    };
    mem.write(out_type, kind)?;
    mem.write(out_port, u32::from(got.port()))
}

/// `sock_getlocaladdr(fd, addr) -> port` (v2): `addr` is a storage buffer.
pub fn sock_getlocaladdr<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    out_port: u32,
) -> Res {
    sock_addr_v2(sys, mem, fd, addr, out_port, Which::Local)
}

/// `sock_getpeeraddr(fd, addr) -> port` (v2): `addr` is a storage buffer.
pub fn sock_getpeeraddr<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    out_port: u32,
) -> Res {
    sock_addr_v2(sys, mem, fd, addr, out_port, Which::Peer)
}

/// `sock_getlocaladdr(fd, addr) -> (type, port)` (v1): `addr` is 4 or 16
/// bytes; the type is 4 or 6.
pub fn sock_getlocaladdr_v1<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    out_type: u32,
    out_port: u32,
) -> Res {
    sock_addr_v1(sys, mem, fd, addr, out_type, out_port, Which::Local)
}

/// `sock_getpeeraddr(fd, addr) -> (type, port)` (v1).
pub fn sock_getpeeraddr_v1<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    addr: u32,
    out_type: u32,
    out_port: u32,
) -> Res {
    sock_addr_v1(sys, mem, fd, addr, out_type, out_port, Which::Peer)
}

/// The most `addrinfo` records `sock_getaddrinfo` fills, whatever the
/// guest's `max_res` (`spec/sockets.md`).
pub const MAX_ADDRINFO: u32 = 256;

/// A string argument of `sock_getaddrinfo`, without one trailing NUL.
fn c_str<'m>(mem: &'m GuestMemory<'_>, ptr: u32, len: u32) -> Result<&'m str, Errno> {
    let s = mem.str(ptr, len)?;
    Ok(s.strip_suffix('\0').unwrap_or(s))
}

/// `sock_getaddrinfo(node, service, hints, res, max_res) -> count`: fills
/// the guest's chain of preallocated `addrinfo` records (see
/// `spec/sockets.md`).
#[allow(clippy::too_many_arguments)]
pub fn sock_getaddrinfo<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    node: u32,
    node_len: u32,
    service: u32,
    service_len: u32,
    hints: u32,
    res: u32,
    max_res: u32,
    out_len: u32,
) -> Res {
    mem.check::<Size>(out_len)?;
    let first: u32 = mem.read(res)?;
    let raw: WasiAddrinfo = mem.read(hints)?;
    let node = c_str(mem, node, node_len)?;
    let service = c_str(mem, service, service_len)?;
    if node.is_empty() && service.is_empty() {
        return Err(Errno::INVAL);
    }
    if raw.ai_flags & !AddrinfoHints::ALL_FLAGS != 0 {
        return Err(Errno::INVAL);
    }
    let family = AddressFamily(raw.ai_family);
    if !matches!(
        family,
        AddressFamily::UNSPEC | AddressFamily::INET4 | AddressFamily::INET6
    ) {
        return Err(Errno::INVAL);
    }
    let socktype = enum_arg(u32::from(raw.ai_socktype), SockType, |t| t.is_valid())?;
    let protocol = u8::try_from(raw.ai_protocol & 0xff).map_err(|_| Errno::INVAL)?;
    if protocol > protocol::UDP {
        return Err(Errno::INVAL);
    }
    let hints = AddrinfoHints {
        flags: raw.ai_flags,
        family,
        socktype,
        protocol,
    };
    // At most `MAX_ADDRINFO` records are used, whatever `max_res` says, and
    // every one of them is checked before resolving, without copying the
    // chain (it may be self-linked): a second walk fills them.
    let max = max_res.min(MAX_ADDRINFO);
    let mut at = first;
    for _ in 0..max {
        let record: WasiAddrinfo = mem.read(at)?;
        let sockaddr: WasiSockaddr = mem.read(record.ai_addr)?;
        mem.slice(sockaddr.sa_data, sockaddr.sa_data_len)?;
        at = record.ai_next;
    }
    let results = sys.sock_getaddrinfo(node, service, hints, max as usize)?;
    let mut at = first;
    let mut count: u32 = 0;
    for result in results.iter().take(max as usize) {
        let needed = match result.addr {
            SocketAddr::V4(_) => 6,
            SocketAddr::V6(_) => 18,
        };
        let mut record: WasiAddrinfo = mem.read(at)?;
        let mut sockaddr: WasiSockaddr = mem.read(record.ai_addr)?;
        let slot = at;
        at = record.ai_next;
        if sockaddr.sa_data_len < needed {
            continue;
        }
        let data = mem.slice_mut(sockaddr.sa_data, needed)?;
        data[..2].copy_from_slice(&result.addr.port().to_be_bytes());
        match result.addr.ip() {
            IpAddr::V4(ip) => data[2..].copy_from_slice(&ip.octets()),
            IpAddr::V6(ip) => data[2..].copy_from_slice(&ip.octets()),
        }
        sockaddr.sa_family = AddressFamily::of(&result.addr).0;
        mem.write(record.ai_addr, sockaddr)?;
        record.ai_flags = 0;
        record.ai_family = sockaddr.sa_family;
        record.ai_socktype = result.socktype.0;
        record.ai_protocol = u32::from(result.protocol);
        record.ai_addrlen = needed;
        record.ai_canonnamelen = 0;
        mem.write(slot, record)?;
        count += 1;
    }
    mem.write(out_len, count)
}

/// A wasm parameter type of the import table.
pub trait WasmParam {
    /// Its wasm value type.
    const TYPE: ValType;
}

impl WasmParam for u32 {
    const TYPE: ValType = ValType::I32;
}

impl WasmParam for i32 {
    const TYPE: ValType = ValType::I32;
}

impl WasmParam for u64 {
    const TYPE: ValType = ValType::I64;
}

impl WasmParam for i64 {
    const TYPE: ValType = ValType::I64;
}

/// One entry of the import table ([`for_each_import!`](crate::for_each_import)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportEntry {
    /// Import module name.
    pub module: &'static str,
    /// Import field name (several entries may share it, with different
    /// parameter types).
    pub name: &'static str,
    /// The wasm parameter types.
    pub params: &'static [ValType],
}

macro_rules! import_entries {
    ($($module:literal { $(fn $name:ident($($arg:ident: $ty:ty),*) => $f:path;)* })*) => {
        &[$($(ImportEntry {
            module: $module,
            name: stringify!($name),
            params: &[$(<$ty as WasmParam>::TYPE),*],
        },)*)*]
    };
}

/// Every entry of the import table, in table order.
pub static IMPORTS: &[ImportEntry] = crate::for_each_import!(import_entries);

/// Which entries of the import table an adapter defines for a module: for
/// each name, the entry whose parameter types equal those the module
/// imports under that name, else the first entry of that name (its
/// primary). See `spec/sockets.md`, "Choosing an import by its signature".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    wanted: Vec<bool>,
}

impl Selection {
    /// The primary entry of every name (for a linker not made for one module).
    pub fn primary() -> Self {
        Self::choose(|_| false)
    }

    /// The entries for a module, given the parameter types of its function
    /// imports: `imports` yields `(module, name, params)`, with `None` for an
    /// import that is not a function or has a type the table cannot express.
    pub fn for_module<'a, I>(imports: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str, Option<Vec<ValType>>)>,
    {
        let imports: Vec<_> = imports.into_iter().collect();
        Self::choose(|entry| {
            imports.iter().any(|(module, name, params)| {
                *module == entry.module
                    && *name == entry.name
                    && params.as_deref() == Some(entry.params)
            })
        })
    }

    fn choose(matches: impl Fn(&ImportEntry) -> bool) -> Self {
        let matched: Vec<bool> = IMPORTS.iter().map(&matches).collect();
        let same = |a: &ImportEntry, b: &ImportEntry| a.module == b.module && a.name == b.name;
        let wanted = IMPORTS
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let group = || IMPORTS.iter().enumerate().filter(|(_, e)| same(e, entry));
                match group().find(|&(j, _)| matched[j]) {
                    Some((j, _)) => j == i,
                    None => group().next().map(|(j, _)| j) == Some(i),
                }
            })
            .collect();
        Self { wanted }
    }

    /// Whether each entry of [`IMPORTS`] is defined, in table order (as the
    /// adapters expand the table).
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        self.wanted.iter().copied()
    }
}

/// Expands `$callback!` with the list of every import the host provides,
/// grouped by module: the one place where an import's name, wasm signature
/// and implementing function are written. Engine adapters expand it into
/// their linker calls, so adding an import touches only this table.
///
/// The callback receives, for each module,
/// `"module" { fn name(arg: type, ...) => path::to::abi_fn; ... }`; every
/// `abi_fn` takes `(&mut impl System, &mut GuestMemory, args...)` and returns
/// an [`IntoWasm`] value.
///
/// A name may appear more than once with different parameter types (the
/// WasmEdge sockets extension reuses names across its versions); the first
/// entry of a name is its primary. An adapter must define only the entries a
/// [`Selection`](crate::abi::Selection) wants, walking the table in order (see [`IMPORTS`](crate::abi::IMPORTS)).
#[macro_export]
macro_rules! for_each_import {
    ($callback:ident) => {
        $callback! {
            "wasi_snapshot_preview1" {
                fn args_get(argv: u32, argv_buf: u32) => $crate::abi::args_get;
                fn args_sizes_get(argc: u32, argv_buf_size: u32) => $crate::abi::args_sizes_get;
                fn environ_get(environ: u32, environ_buf: u32) => $crate::abi::environ_get;
                fn environ_sizes_get(count: u32, buf_size: u32) => $crate::abi::environ_sizes_get;
                fn clock_res_get(id: u32, out: u32) => $crate::abi::clock_res_get;
                fn clock_time_get(id: u32, precision: u64, out: u32) => $crate::abi::clock_time_get;
                fn fd_advise(fd: u32, offset: u64, len: u64, advice: u32) => $crate::abi::fd_advise;
                fn fd_allocate(fd: u32, offset: u64, len: u64) => $crate::abi::fd_allocate;
                fn fd_close(fd: u32) => $crate::abi::fd_close;
                fn fd_datasync(fd: u32) => $crate::abi::fd_datasync;
                fn fd_fdstat_get(fd: u32, out: u32) => $crate::abi::fd_fdstat_get;
                fn fd_fdstat_set_flags(fd: u32, flags: u32) => $crate::abi::fd_fdstat_set_flags;
                fn fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64) => $crate::abi::fd_fdstat_set_rights;
                fn fd_filestat_get(fd: u32, out: u32) => $crate::abi::fd_filestat_get;
                fn fd_filestat_set_size(fd: u32, size: u64) => $crate::abi::fd_filestat_set_size;
                fn fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, flags: u32) => $crate::abi::fd_filestat_set_times;
                fn fd_pread(fd: u32, iovs: u32, iovs_len: u32, offset: u64, out: u32) => $crate::abi::fd_pread;
                fn fd_prestat_get(fd: u32, out: u32) => $crate::abi::fd_prestat_get;
                fn fd_prestat_dir_name(fd: u32, path: u32, path_len: u32) => $crate::abi::fd_prestat_dir_name;
                fn fd_pwrite(fd: u32, iovs: u32, iovs_len: u32, offset: u64, out: u32) => $crate::abi::fd_pwrite;
                fn fd_read(fd: u32, iovs: u32, iovs_len: u32, out: u32) => $crate::abi::fd_read;
                fn fd_readdir(fd: u32, buf: u32, buf_len: u32, cookie: u64, out: u32) => $crate::abi::fd_readdir;
                fn fd_renumber(fd: u32, to: u32) => $crate::abi::fd_renumber;
                fn fd_seek(fd: u32, offset: i64, whence: u32, out: u32) => $crate::abi::fd_seek;
                fn fd_sync(fd: u32) => $crate::abi::fd_sync;
                fn fd_tell(fd: u32, out: u32) => $crate::abi::fd_tell;
                fn fd_write(fd: u32, iovs: u32, iovs_len: u32, out: u32) => $crate::abi::fd_write;
                fn path_create_directory(fd: u32, path: u32, path_len: u32) => $crate::abi::path_create_directory;
                fn path_filestat_get(fd: u32, flags: u32, path: u32, path_len: u32, out: u32) => $crate::abi::path_filestat_get;
                fn path_filestat_set_times(fd: u32, flags: u32, path: u32, path_len: u32, atim: u64, mtim: u64, fst_flags: u32) => $crate::abi::path_filestat_set_times;
                fn path_link(old_fd: u32, old_flags: u32, old_path: u32, old_path_len: u32, new_fd: u32, new_path: u32, new_path_len: u32) => $crate::abi::path_link;
                fn path_open(fd: u32, dirflags: u32, path: u32, path_len: u32, oflags: u32, rights_base: u64, rights_inheriting: u64, fdflags: u32, out: u32) => $crate::abi::path_open;
                fn path_readlink(fd: u32, path: u32, path_len: u32, buf: u32, buf_len: u32, out: u32) => $crate::abi::path_readlink;
                fn path_remove_directory(fd: u32, path: u32, path_len: u32) => $crate::abi::path_remove_directory;
                fn path_rename(fd: u32, old_path: u32, old_path_len: u32, new_fd: u32, new_path: u32, new_path_len: u32) => $crate::abi::path_rename;
                fn path_symlink(old_path: u32, old_path_len: u32, fd: u32, new_path: u32, new_path_len: u32) => $crate::abi::path_symlink;
                fn path_unlink_file(fd: u32, path: u32, path_len: u32) => $crate::abi::path_unlink_file;
                fn poll_oneoff(subscriptions: u32, events: u32, nsubscriptions: u32, out: u32) => $crate::abi::poll_oneoff;
                fn proc_exit(rval: u32) => $crate::abi::proc_exit;
                fn proc_raise(sig: u32) => $crate::abi::proc_raise;
                fn random_get(buf: u32, buf_len: u32) => $crate::abi::random_get;
                fn sched_yield() => $crate::abi::sched_yield;
                fn sock_accept(fd: u32, flags: u32, out: u32) => $crate::abi::sock_accept;
                fn sock_recv(fd: u32, iovs: u32, iovs_len: u32, flags: u32, out_len: u32, out_flags: u32) => $crate::abi::sock_recv;
                fn sock_send(fd: u32, iovs: u32, iovs_len: u32, flags: u32, out: u32) => $crate::abi::sock_send;
                fn sock_shutdown(fd: u32, how: u32) => $crate::abi::sock_shutdown;
                fn sock_accept(fd: u32, out: u32) => $crate::abi::sock_accept_v1;
                fn sock_open(af: u32, socktype: u32, out: u32) => $crate::abi::sock_open;
                fn sock_bind(fd: u32, addr: u32, port: u32) => $crate::abi::sock_bind;
                fn sock_listen(fd: u32, backlog: u32) => $crate::abi::sock_listen;
                fn sock_connect(fd: u32, addr: u32, port: u32) => $crate::abi::sock_connect;
                fn sock_recv_from(fd: u32, iovs: u32, iovs_len: u32, addr: u32, flags: u32, out_port: u32, out_len: u32, out_flags: u32) => $crate::abi::sock_recv_from;
                fn sock_send_to(fd: u32, iovs: u32, iovs_len: u32, addr: u32, port: u32, flags: u32, out: u32) => $crate::abi::sock_send_to;
                fn sock_getsockopt(fd: u32, level: u32, name: u32, value: u32, value_len: u32) => $crate::abi::sock_getsockopt;
                fn sock_setsockopt(fd: u32, level: u32, name: u32, value: u32, value_len: u32) => $crate::abi::sock_setsockopt;
                fn sock_getlocaladdr(fd: u32, addr: u32, out_port: u32) => $crate::abi::sock_getlocaladdr;
                fn sock_getlocaladdr(fd: u32, addr: u32, out_type: u32, out_port: u32) => $crate::abi::sock_getlocaladdr_v1;
                fn sock_getpeeraddr(fd: u32, addr: u32, out_port: u32) => $crate::abi::sock_getpeeraddr;
                fn sock_getpeeraddr(fd: u32, addr: u32, out_type: u32, out_port: u32) => $crate::abi::sock_getpeeraddr_v1;
                fn sock_getaddrinfo(node: u32, node_len: u32, service: u32, service_len: u32, hints: u32, res: u32, max_res: u32, out_len: u32) => $crate::abi::sock_getaddrinfo;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, params: usize) -> usize {
        IMPORTS
            .iter()
            .position(|e| e.name == name && e.params.len() == params)
            .unwrap()
    }

    #[test]
    fn selection_follows_the_imported_signature() {
        let primary: Vec<bool> = Selection::primary().iter().collect();
        assert_eq!(primary.len(), IMPORTS.len());
        assert!(primary[index("sock_accept", 3)] && !primary[index("sock_accept", 2)]);
        assert!(primary[index("sock_getlocaladdr", 3)]);
        assert!(!primary[index("sock_getlocaladdr", 4)]);
        // Every name is defined exactly once.
        for entry in IMPORTS {
            let defined = IMPORTS
                .iter()
                .zip(&primary)
                .filter(|(e, wanted)| **wanted && e.name == entry.name)
                .count();
            assert_eq!(defined, 1, "{}", entry.name);
        }

        let i32s = |n| Some(vec![ValType::I32; n]);
        let v1 = Selection::for_module([
            ("wasi_snapshot_preview1", "sock_accept", i32s(2)),
            ("wasi_snapshot_preview1", "sock_getlocaladdr", i32s(4)),
            ("wasi_snapshot_preview1", "fd_write", i32s(4)),
            ("env", "sock_accept", i32s(3)),
        ]);
        let v1: Vec<bool> = v1.iter().collect();
        assert!(v1[index("sock_accept", 2)] && !v1[index("sock_accept", 3)]);
        assert!(v1[index("sock_getlocaladdr", 4)] && !v1[index("sock_getlocaladdr", 3)]);
        assert!(v1[index("fd_write", 4)]);
        // No variant matches: the primary, so the engine reports the mismatch.
        let odd = Selection::for_module([("wasi_snapshot_preview1", "sock_accept", i32s(5))]);
        assert_eq!(odd.iter().collect::<Vec<_>>(), primary);
    }

    #[test]
    fn string_lists_may_end_at_4_gib() {
        // A 4 GiB memory from the system allocator's `calloc`, which the OS
        // zeroes lazily: only the pages written are backed. (Not `vec!`:
        // this crate's tests count allocations with a global allocator
        // whose `alloc_zeroed` writes every byte.)
        use std::alloc::{GlobalAlloc, Layout, System as Heap};
        let layout = Layout::from_size_align(1 << 32, 1).unwrap();
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { Heap.alloc_zeroed(layout) };
        assert!(!base.is_null());
        // SAFETY: `base` points to `1 << 32` zeroed bytes, freed below
        // after their last use.
        let bytes = unsafe { std::slice::from_raw_parts_mut(base, 1 << 32) };
        let mut mem = GuestMemory::new(bytes);
        let list = StringList::new(["a", "bc"]).unwrap();
        let buf = u32::MAX - 4;
        write_string_list(&mut mem, &list, 0, buf).unwrap();
        assert_eq!(mem.read::<u32>(0), Ok(buf));
        assert_eq!(mem.read::<u32>(4), Ok(buf + 2));
        assert_eq!(mem.slice(buf, 5).unwrap(), b"a\0bc\0");
        assert_eq!(
            write_string_list(&mut mem, &list, 0, buf + 1),
            Err(Errno::FAULT)
        );
        // SAFETY: allocated above with this layout, no longer borrowed.
        unsafe { Heap.dealloc(base, layout) };
    }

    #[test]
    fn addresses_decode_with_bounds_checks() {
        let mut bytes = [0u8; 256];
        let mut mem = GuestMemory::new(&mut bytes);
        mem.write(
            0,
            WasiAddress {
                buf: 16,
                buf_len: 4,
            },
        )
        .unwrap();
        mem.slice_mut(16, 4)
            .unwrap()
            .copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(
            read_address(&mem, 0, 80),
            Ok("10.0.0.1:80".parse().unwrap())
        );
        assert_eq!(read_address(&mem, 0, 65536), Err(Errno::INVAL));
        mem.write(
            0,
            WasiAddress {
                buf: 16,
                buf_len: 128,
            },
        )
        .unwrap();
        mem.slice_mut(16, 4).unwrap().copy_from_slice(&[2, 0, 0, 0]);
        let v6 = read_address(&mem, 0, 443).unwrap();
        assert_eq!(v6, "[::]:443".parse().unwrap());
        mem.slice_mut(16, 2).unwrap().copy_from_slice(&[3, 0]);
        assert_eq!(read_address(&mem, 0, 1), Err(Errno::AFNOSUPPORT));
        mem.slice_mut(16, 2).unwrap().copy_from_slice(&[9, 0]);
        assert_eq!(read_address(&mem, 0, 1), Err(Errno::INVAL));
        mem.write(
            0,
            WasiAddress {
                buf: 200,
                buf_len: 128,
            },
        )
        .unwrap();
        assert_eq!(read_address(&mem, 0, 1), Err(Errno::FAULT));
        assert_eq!(read_address(&mem, 252, 1), Err(Errno::FAULT));
        mem.write(
            0,
            WasiAddress {
                buf: 16,
                buf_len: 7,
            },
        )
        .unwrap();
        assert_eq!(read_address(&mem, 0, 1), Err(Errno::INVAL));
    }
}
