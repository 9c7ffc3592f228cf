//! Conversions and helpers for host files and directories.

use core::mem::MaybeUninit;
use std::io::IoSlice;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, FileType, OFlags, RawDir, SeekFrom, Stat, Timestamps};
use rustix::time::Timespec;
use wasi_core::DirentWriter;
use wasi_core::Errno;
use wasi_core::fdtable::FdEntry;
use wasi_core::system::Result;
use wasi_core::types::{Dircookie, Fdflags, Filestat, Filetype, Fstflags, Timestamp};

use crate::entry::{Entry, Io, filetype_of, resolve_filetype};
use crate::errno::from_host;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// `O_DSYNC`. rustix's `OFlags::DSYNC` is `O_SYNC` on its raw Linux backend
/// (a stronger flag), so the exact bit comes from libc.
const O_DSYNC: OFlags = OFlags::from_bits_retain(libc::O_DSYNC as u32);

/// `O_SYNC`, which on Linux includes the `O_DSYNC` bit (and is also `O_RSYNC`).
const O_SYNC: OFlags = OFlags::from_bits_retain(libc::O_SYNC as u32);

/// The open flags that give a descriptor the WASI `fdflags`.
pub(crate) fn oflags_of(flags: Fdflags) -> OFlags {
    let mut out = OFlags::empty();
    if flags.contains(Fdflags::APPEND) {
        out |= OFlags::APPEND;
    }
    if flags.contains(Fdflags::NONBLOCK) {
        out |= OFlags::NONBLOCK;
    }
    if flags.contains(Fdflags::DSYNC) {
        out |= O_DSYNC;
    }
    // Linux has no separate `O_RSYNC`: it is `O_SYNC`.
    if flags.intersects(Fdflags::SYNC | Fdflags::RSYNC) {
        out |= O_SYNC;
    }
    out
}

/// The WASI `fdflags` of a descriptor's open flags. `O_SYNC` is reported as
/// `sync | rsync | dsync`, since on Linux it is all three.
pub(crate) fn fdflags_of(flags: OFlags) -> Fdflags {
    let mut out = Fdflags::empty();
    if flags.contains(OFlags::APPEND) {
        out |= Fdflags::APPEND;
    }
    if flags.contains(OFlags::NONBLOCK) {
        out |= Fdflags::NONBLOCK;
    }
    if flags.contains(O_DSYNC) {
        out |= Fdflags::DSYNC;
    }
    if flags.contains(O_SYNC) {
        out |= Fdflags::SYNC | Fdflags::RSYNC;
    }
    out
}

/// Nanoseconds since the epoch of a `stat` time; times before 1970 are 0.
fn timestamp(secs: i64, nanos: u64) -> Timestamp {
    u64::try_from(secs)
        .map_or(0, |secs| secs.saturating_mul(NANOS_PER_SEC))
        .saturating_add(nanos)
}

/// The WASI attributes of a host `stat`, with the file type given (the
/// caller may know it better than the mode does, e.g. for a datagram socket).
// The integer types of `Stat`'s fields differ between architectures, so the
// `from` conversions below are the identity on some of them.
#[allow(clippy::useless_conversion)]
pub(crate) fn filestat(stat: &Stat, filetype: Filetype) -> Filestat {
    Filestat {
        dev: u64::from(stat.st_dev),
        ino: u64::from(stat.st_ino),
        filetype,
        nlink: u64::from(stat.st_nlink),
        size: u64::try_from(i64::from(stat.st_size)).unwrap_or(0),
        atim: timestamp(i64::from(stat.st_atime), u64::from(stat.st_atime_nsec)),
        mtim: timestamp(i64::from(stat.st_mtime), u64::from(stat.st_mtime_nsec)),
        ctim: timestamp(i64::from(stat.st_ctime), u64::from(stat.st_ctime_nsec)),
        ..Filestat::default()
    }
}

/// The file type in a host `stat`.
pub(crate) fn filetype_of_stat(stat: &Stat) -> Filetype {
    filetype_of(FileType::from_raw_mode(stat.st_mode))
}

/// One `utimensat` time: the given one, now, or unchanged.
fn time(value: Timestamp, flags: Fstflags, set: Fstflags, now: Fstflags) -> Timespec {
    if flags.contains(now) {
        Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        }
    } else if flags.contains(set) {
        Timespec {
            // A u64 of nanoseconds has at most 1.9e10 seconds: no overflow.
            tv_sec: (value / NANOS_PER_SEC) as i64,
            tv_nsec: (value % NANOS_PER_SEC) as _,
        }
    } else {
        Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        }
    }
}

/// The `utimensat` times for `fd_filestat_set_times`/`path_filestat_set_times`.
pub(crate) fn timestamps(atim: Timestamp, mtim: Timestamp, flags: Fstflags) -> Timestamps {
    Timestamps {
        last_access: time(atim, flags, Fstflags::ATIM, Fstflags::ATIM_NOW),
        last_modification: time(mtim, flags, Fstflags::MTIM, Fstflags::MTIM_NOW),
    }
}

/// Directory entries are read with `getdents64` into a buffer on the stack
/// this large; an entry takes at most 280 bytes.
const DIRENT_BUF: usize = 4096;

/// The cookie of the end of a directory on Linux filesystems with 64-bit
/// hashed positions (ext4's `EXT4_HTREE_EOF_64BIT`, also the largest
/// position `lseek` takes).
const END_COOKIE: Dircookie = i64::MAX as Dircookie;

/// `fd_readdir` on a host directory.
///
/// Cookies are the kernel's own `d_off` values, so they stay valid across
/// calls and across entries being added or removed, as far as the
/// filesystem's `seekdir` guarantees go: the directory is positioned at
/// `cookie` with `lseek` (0 is the start) and every entry's `d_next` is its
/// `d_off`. `.` and `..` are listed. An entry whose type the filesystem does
/// not record (`DT_UNKNOWN`) is `fstatat`ed, without following symlinks.
pub(crate) fn readdir(
    dir: BorrowedFd<'_>,
    cookie: Dircookie,
    out: &mut DirentWriter<'_>,
) -> Result<()> {
    if cookie == END_COOKIE {
        // The end, which Linux's own end-of-directory cookie says: nothing
        // to read. Not asked of the kernel: ext4 (hashed directories) left
        // a description whose first read was at this position at the end
        // for good, so a later listing from cookie 0 found nothing.
        return Ok(());
    }
    rustix::fs::seek(dir, SeekFrom::Start(cookie)).map_err(from_host)?;
    let mut buf = [MaybeUninit::<u8>::uninit(); DIRENT_BUF];
    let mut entries = RawDir::new(dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(from_host)?;
        let name = entry.file_name();
        let filetype = match entry.file_type() {
            FileType::Unknown => match name.to_bytes() {
                b"." | b".." => Filetype::DIRECTORY,
                _ => rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_or(Filetype::UNKNOWN, |stat| filetype_of_stat(&stat)),
            },
            ft => filetype_of(ft),
        };
        if !out.push(
            entry.next_entry_cookie(),
            entry.ino(),
            filetype,
            name.to_bytes(),
        ) {
            break;
        }
    }
    Ok(())
}

/// `posix_fallocate`: `fallocate` with no flags, or, on filesystems without
/// it, extending the file to `offset + len` if it is shorter (what glibc's
/// emulation amounts to, minus writing zeros to reserve the blocks).
///
/// A regular file may not grow past `max_file_size` (`EFBIG`). When the
/// allocation fails (`ENOSPC`, `EDQUOT`, `EINTR`, ...) after Linux has
/// already allocated part of it, which ext4 does chunk by chunk, moving the
/// end of the file along, and XFS does past the end without moving it, the
/// file is truncated back to its size before the call. That restores the
/// size and releases every block past it; blocks allocated inside the old
/// size (filling holes of a sparse file) are kept, as zeros, as the holes
/// read. So a failed call leaves nothing past the end of the file, and a
/// request for 1 TiB does not leave the disk full.
pub(crate) fn allocate(
    fd: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    max_file_size: Option<u64>,
) -> Result<()> {
    let end = offset
        .checked_add(len)
        .filter(|&end| i64::try_from(end).is_ok())
        .ok_or(Errno::FBIG)?;
    if len == 0 {
        return Err(Errno::INVAL);
    }
    let stat = rustix::fs::fstat(fd).map_err(from_host)?;
    let regular = filetype_of_stat(&stat) == Filetype::REGULAR_FILE;
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if regular && end > size && max_file_size.is_some_and(|max| end > max) {
        return Err(Errno::FBIG);
    }
    match rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), offset, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => {
            if !regular {
                return Err(Errno::NODEV);
            }
            if size < end {
                rustix::fs::ftruncate(fd, end).map_err(from_host)?;
            }
            Ok(())
        }
        Err(err) => {
            if regular && end > size {
                // Best effort: the guest learns of the allocation's failure
                // either way.
                let _ = rustix::fs::ftruncate(fd, size);
            }
            Err(from_host(err))
        }
    }
}

/// `fd_filestat_set_size` on a host file: `ftruncate`, but `EFBIG` instead
/// of growing a regular file past `max_file_size`.
pub(crate) fn set_size(fd: BorrowedFd<'_>, size: u64, max_file_size: Option<u64>) -> Result<()> {
    if max_file_size.is_some_and(|max| size > max) {
        let stat = rustix::fs::fstat(fd).map_err(from_host)?;
        if filetype_of_stat(&stat) == Filetype::REGULAR_FILE
            && size > u64::try_from(stat.st_size).unwrap_or(0)
        {
            return Err(Errno::FBIG);
        }
    }
    rustix::fs::ftruncate(fd, size).map_err(from_host)
}

/// What of `iovs` a write to `entry` may transfer when no file may grow
/// past `max_file_size` bytes, the rule of `RLIMIT_FSIZE` (see
/// `Builder::max_file_size`): on a host regular file, nothing is written at
/// or past byte `max_file_size`. The write starts at `offset` (`fd_pwrite`)
/// or the file position (`fd_write`), or at the end of the file if it
/// appends. A write that starts at or past the limit gives `EFBIG`; one that
/// would cross it is cut short: to the buffers wholly below the limit, or if
/// the first one crosses it, to its part below (kept in `cut`). Either is a
/// short write, after which the guest's next write reaches the limit, and
/// the one after that gets `EFBIG`. Anything else is returned whole.
///
/// Costs an `fcntl` and an `lseek` or `fstat` per write (and an `fstat` the
/// first time on a descriptor of unknown type), only when a limit is set.
pub(crate) fn cap_write<'a>(
    entry: &mut FdEntry<Entry>,
    iovs: &'a [IoSlice<'a>],
    offset: Option<u64>,
    max_file_size: u64,
    cut: &'a mut [IoSlice<'a>; 1],
) -> Result<&'a [IoSlice<'a>]> {
    let len: u64 = iovs.iter().map(|iov| iov.len() as u64).sum();
    if len == 0
        || matches!(entry.file, Entry::Virtual(_))
        || resolve_filetype(entry)? != Filetype::REGULAR_FILE
    {
        return Ok(iovs);
    }
    let Entry::Host(host) = &entry.file else {
        return Ok(iovs);
    };
    let fd = host.fd.as_fd();
    let appends = matches!(host.io, Io::Stream(flags) if flags.contains(Fdflags::APPEND))
        || rustix::fs::fcntl_getfl(fd)
            .map_err(from_host)?
            .contains(OFlags::APPEND);
    let start = if appends {
        let size = rustix::fs::fstat(fd).map_err(from_host)?.st_size;
        u64::try_from(size).unwrap_or(0)
    } else {
        match offset {
            Some(offset) => offset,
            None => tell(fd)?,
        }
    };
    let Some(room) = max_file_size.checked_sub(start).filter(|&room| room > 0) else {
        return Err(Errno::FBIG);
    };
    if len <= room {
        return Ok(iovs);
    }
    // The first buffer that reaches past the limit.
    let mut end = 0;
    let crossing = iovs
        .iter()
        .position(|iov| {
            end += iov.len() as u64;
            end > room
        })
        .unwrap_or(iovs.len());
    if crossing > 0 {
        return Ok(&iovs[..crossing]);
    }
    // `room` is less than the first buffer's length, so it fits a usize.
    cut[0] = IoSlice::new(&iovs[0][..room as usize]);
    Ok(&cut[..])
}

/// Hard-links the file open as `source` (an `O_PATH` descriptor) as `name` in
/// `dir`. `linkat` with `AT_EMPTY_PATH` needs `CAP_DAC_READ_SEARCH` before
/// Linux 6.10 (and fails with `ENOENT` without it); then the link is made
/// through the descriptor's `/proc/self/fd` entry, as `linkat(2)` documents.
pub(crate) fn link_open_file(
    source: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
) -> Result<()> {
    match rustix::fs::linkat(source, "", dir, name, AtFlags::EMPTY_PATH) {
        Err(rustix::io::Errno::NOENT) => rustix::fs::linkat(
            rustix::fs::CWD,
            proc_fd_path(source).as_str(),
            dir,
            name,
            AtFlags::SYMLINK_FOLLOW,
        )
        .map_err(from_host),
        result => result.map_err(from_host),
    }
}

/// Sets the times of the object an `O_PATH` descriptor refers to (the
/// symlink itself if it was opened with `O_NOFOLLOW`), with `utimensat` and
/// `AT_EMPTY_PATH`. Older kernels reject that flag for `utimensat`
/// (`EINVAL`); then the times are set through the descriptor's
/// `/proc/self/fd` entry, which works for everything but a symlink.
pub(crate) fn set_times_of_open_file(file: BorrowedFd<'_>, times: &Timestamps) -> Result<()> {
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    match rustix::fs::utimensat(file, "", times, flags) {
        Err(rustix::io::Errno::INVAL) => rustix::fs::utimensat(
            rustix::fs::CWD,
            proc_fd_path(file).as_str(),
            times,
            AtFlags::empty(),
        )
        .map_err(from_host),
        result => result.map_err(from_host),
    }
}

/// The `/proc/self/fd` path of a descriptor, for the fallbacks above. The
/// host follows that magic link only for a descriptor it resolved beneath the
/// sandbox itself, never for a guest path.
fn proc_fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&fd))
}

/// Makes sure a descriptor is of a type that has a file position: `fd_seek`
/// and `fd_tell` on a directory give `EBADF` (as in wasmtime, and before
/// rights are checked, as for any wrong kind of object), although Linux would
/// seek its `getdents` position.
pub(crate) fn check_seekable(filetype: Filetype) -> Result<()> {
    if filetype == Filetype::DIRECTORY {
        Err(Errno::BADF)
    } else {
        Ok(())
    }
}

/// The current position of `fd`, for `fd_tell`.
pub(crate) fn tell(fd: impl AsFd) -> Result<u64> {
    rustix::fs::tell(fd).map_err(from_host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_flags_round_trip() {
        for flags in [
            Fdflags::empty(),
            Fdflags::APPEND | Fdflags::NONBLOCK,
            Fdflags::DSYNC,
        ] {
            assert_eq!(fdflags_of(oflags_of(flags)), flags);
        }
        let all = Fdflags::SYNC | Fdflags::RSYNC | Fdflags::DSYNC;
        assert_eq!(fdflags_of(oflags_of(Fdflags::SYNC)), all);
        assert_eq!(fdflags_of(oflags_of(Fdflags::RSYNC)), all);
    }

    #[test]
    fn times() {
        assert_eq!(timestamp(-1, 5), 5);
        assert_eq!(timestamp(2, 5), 2_000_000_005);
        let t = timestamps(1_500_000_000, 0, Fstflags::ATIM | Fstflags::MTIM_NOW);
        assert_eq!(
            (t.last_access.tv_sec, t.last_access.tv_nsec),
            (1, 500_000_000)
        );
        assert_eq!(t.last_modification.tv_nsec, rustix::fs::UTIME_NOW);
        let t = timestamps(1, 1, Fstflags::empty());
        assert_eq!(t.last_access.tv_nsec, rustix::fs::UTIME_OMIT);
    }
}
