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
use crate::system::{DirentWriter, StringList, System};
use crate::types::*;
use core::fmt;

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
    let mut offset = buf;
    for (i, item) in (0u32..).zip(list.iter()) {
        mem.write(ptrs + 4 * i, offset)?;
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
    sys.path_create_directory(fd, mem.str(path, len)?)
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
    let stat = sys.path_filestat_get(fd, flags, mem.str(path, len)?)?;
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
    sys.path_filestat_set_times(fd, flags, mem.str(path, len)?, atim, mtim, fst)
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
        mem.str(old_path, old_len)?,
        new_fd,
        mem.str(new_path, new_len)?,
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
        mem.str(path, len)?,
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
    sys.path_remove_directory(fd, mem.str(path, len)?)
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
        mem.str(old_path, old_len)?,
        new_fd,
        mem.str(new_path, new_len)?,
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
    sys.path_symlink(mem.str(old_path, old_len)?, fd, mem.str(new_path, new_len)?)
}

/// `path_unlink_file(fd, path)`.
pub fn path_unlink_file<S: System + ?Sized>(
    sys: &mut S,
    mem: Mem<'_, '_>,
    fd: u32,
    path: u32,
    len: u32,
) -> Res {
    sys.path_unlink_file(fd, mem.str(path, len)?)
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

/// Expands `$callback!` with the list of every import the host provides,
/// grouped by module: the one place where an import's name, wasm signature
/// and implementing function are written. Engine adapters expand it into
/// their linker calls, so adding an import touches only this table.
///
/// The callback receives, for each module,
/// `"module" { fn name(arg: type, ...) => path::to::abi_fn; ... }`; every
/// `abi_fn` takes `(&mut impl System, &mut GuestMemory, args...)` and returns
/// an [`IntoWasm`] value.
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
            }
        }
    };
}
