//! Sandboxed path resolution.
//!
//! Every path a guest gives is resolved by the kernel with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` relative to the directory
//! descriptor the guest named: `..` above it, absolute paths, absolute
//! symlinks and symlinks whose target climbs out all fail with `EXDEV`, which
//! we report as `ENOTCAPABLE`, and procfs magic links fail with `ELOOP`. The
//! kernel checks every component, including those reached through symlinks,
//! atomically with the lookup, so there is no window for a rename race.
//! Where `openat2` is missing or refused, [`walk`] resolves the path in
//! user space with the same results ([`PathResolution::Walk`]); every
//! function here takes the resolution to use.
//!
//! Calls that act on a name rather than on an open file (`mkdirat`,
//! `unlinkat`, `renameat`, `linkat`, `symlinkat`, `readlinkat`) first open the
//! *parent* directory that way and then act on the final component relative
//! to it. The final component is a single name, never `.` or `..` (see
//! [`Split`]), and none of those calls follows a symlink in it, so it cannot
//! lead out either.
//!
//! Where a path may lead onto a kernel pseudo-filesystem (procfs, sysfs,
//! ...; see [`crate::pseudo`]) is checked as cheaply as the kernel allows:
//! `RESOLVE_NO_XDEV` makes a resolution that stays on the starting
//! directory's mount, the common case, succeed as before, and only one that
//! crosses a mount point is redone and its result checked ([`open_file`],
//! [`open_to_modify`]).

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use wasi_core::Errno;
use wasi_core::system::Result;

use crate::features::PathResolution;
use crate::linux::openat2;
use crate::{errno, pseudo};

mod walk;

/// Opens `path` beneath `dir` (one `openat2`). `O_CLOEXEC` is always added.
///
/// The file may be on a kernel pseudo-filesystem: this is for calls that
/// only read attributes or link targets through an `O_PATH` handle. Calls
/// that open files for the guest use [`open_file`], calls that change
/// something [`open_to_modify`].
pub(crate) fn open_beneath(
    how: PathResolution,
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    resolve_beneath(how, dir, path, flags, mode, false).map_err(errno::resolve)
}

/// Opens `path` beneath `dir` for a call that changes what it names or the
/// directory it names (`flags` hold `O_PATH`): `ENOTCAPABLE` if that is on a
/// kernel pseudo-filesystem.
///
/// `dir` itself is never on one: descriptors on a pseudo-filesystem lack
/// the rights of every such call ([`pseudo::WRITE_RIGHTS`]). So a path that
/// stays on `dir`'s mount (`RESOLVE_NO_XDEV`) is fine as it is; only one
/// that crosses a mount point is resolved again and its filesystem checked.
pub(crate) fn open_to_modify(
    how: PathResolution,
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    match resolve_beneath(how, dir, path, flags, mode, true) {
        Err(rustix::io::Errno::XDEV) => {}
        result => return result.map_err(errno::resolve),
    }
    let file = resolve_beneath(how, dir, path, flags, mode, false).map_err(errno::resolve)?;
    match pseudo::filesystem_of(file.as_fd()).map_err(errno::from_host)? {
        Some(_) => Err(Errno::NOTCAPABLE),
        None => Ok(file),
    }
}

/// A file [`open_file`] opened.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The descriptor.
    pub(crate) fd: OwnedFd,
    /// Whether it is on a kernel pseudo-filesystem, where the guest may
    /// only read and each open beneath it must be checked.
    pub(crate) on_pseudo_fs: bool,
}

/// Why [`open_file`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The path could not be opened: this errno.
    Errno(Errno),
    /// The path leads to a kernel pseudo-filesystem where the guest may not
    /// open it (with these flags): `ENOTCAPABLE`. `grantable` tells whether
    /// `allow_pseudo_fs` would have allowed it (a read-only open of a file
    /// that is not the host's own).
    PseudoFs {
        /// Whether the permission would lift the refusal.
        grantable: bool,
    },
}

impl From<Errno> for OpenError {
    fn from(errno: Errno) -> Self {
        Self::Errno(errno)
    }
}

/// Opens `path` beneath `dir` for `path_open`, under the rules for kernel
/// pseudo-filesystems: nothing on one is opened unless `allow_pseudo_fs`,
/// and even then only for reading, never to create or truncate, and never
/// the host process's own procfs entries. `dir_on_pseudo_fs` tells whether
/// `dir` is itself on such a filesystem.
///
/// From a directory that is not, the open is one `openat2` with
/// `RESOLVE_NO_XDEV` (for a plain name as for any path), which succeeds
/// only if the file is on the same mount as `dir`, and so not on a
/// pseudo-filesystem: the common case costs nothing more. Crossing a mount
/// point (or leaving `dir`) gives `EXDEV`, and then, as for every open
/// beneath a directory on a pseudo-filesystem, the file is checked before
/// it is opened:
///
/// 1. the path is opened with `O_PATH` (following symlinks as the real
///    open will), which runs none of the filesystem's code, creates and
///    truncates nothing; for a file to be created, its directory is;
/// 2. `fstatfs` on that handle tells the filesystem, and the rules decide
///    (see [`pseudo::is_own_proc_entry`] for the host's own entries);
/// 3. the real open follows, and the descriptor it gives is checked again:
///    should the path have been replaced in between (by another process),
///    a file on a pseudo-filesystem must be the very inode decided on.
///
/// The one thing step 3 cannot undo is an open's own effect on a file that
/// replaced the checked one (by a concurrent rename, or a dangling symlink
/// followed to create its target): among the listed filesystems only
/// efivarfs lets a file be created, and only by root.
pub(crate) fn open_file(
    how: PathResolution,
    dir: BorrowedFd<'_>,
    dir_on_pseudo_fs: bool,
    path: &str,
    flags: OFlags,
    mode: Mode,
    allow_pseudo_fs: bool,
) -> core::result::Result<Opened, OpenError> {
    if path.is_empty() {
        return Err(Errno::NOENT.into());
    }
    if !dir_on_pseudo_fs {
        match resolve_beneath(how, dir, path, flags, mode, true) {
            Ok(fd) => {
                return Ok(Opened {
                    fd,
                    on_pseudo_fs: false,
                });
            }
            Err(rustix::io::Errno::XDEV) => {}
            Err(err) => return Err(errno::resolve(err).into()),
        }
    }

    // 1. Where the path leads, without opening it.
    let probe_flags = OFlags::PATH | (flags & (OFlags::NOFOLLOW | OFlags::DIRECTORY));
    let resolve =
        |flags, mode| resolve_beneath(how, dir, path, flags, mode, false).map_err(errno::resolve);
    let probe = match resolve(probe_flags, Mode::empty()) {
        Ok(file) => Parent::Opened(file),
        Err(Errno::NOENT) if flags.contains(OFlags::CREATE) => {
            Parent::resolve(how, dir, &Split::new(path)?)?
        }
        Err(errno) => return Err(errno.into()),
    };

    // 2. The rules. A file to be created is refused with its directory.
    let fs = pseudo::filesystem_of(probe.as_fd()).map_err(errno::from_host)?;
    if let Some(fs) = fs {
        let writes =
            flags.intersects(OFlags::WRONLY | OFlags::RDWR | OFlags::CREATE | OFlags::TRUNC);
        let own = fs.is_proc() && pseudo::is_own_proc_entry(probe.as_fd());
        if !allow_pseudo_fs || writes || own {
            return Err(OpenError::PseudoFs {
                grantable: !writes && !own,
            });
        }
    }

    // 3. The open, and the check that it opened what was decided on.
    let file = resolve(flags, mode)?;
    let on_pseudo_fs = pseudo::filesystem_of(file.as_fd())
        .map_err(errno::from_host)?
        .is_some();
    if on_pseudo_fs && !(fs.is_some() && same_file(probe.as_fd(), file.as_fd())?) {
        return Err(OpenError::PseudoFs { grantable: false });
    }
    Ok(Opened {
        fd: file,
        on_pseudo_fs,
    })
}

/// Whether two descriptors are open on the same inode.
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool> {
    let a = rustix::fs::fstat(a).map_err(errno::from_host)?;
    let b = rustix::fs::fstat(b).map_err(errno::from_host)?;
    Ok((a.st_dev, a.st_ino) == (b.st_dev, b.st_ino))
}

/// Resolves and opens a non-empty `path` beneath `dir` as `openat2` with
/// `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` does, `how`; with
/// `same_fs`, fails with `EXDEV` rather than open a file on another
/// filesystem (`RESOLVE_NO_XDEV`). `O_CLOEXEC` is always added.
fn resolve_beneath(
    how: PathResolution,
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    mode: Mode,
    same_fs: bool,
) -> rustix::io::Result<OwnedFd> {
    match how {
        PathResolution::Walk => walk::resolve(dir, path, flags, mode, same_fs),
        _ => openat2::resolve(dir, path, flags, mode, same_fs),
    }
}

/// Whether `path` is one component that names an entry of the directory
/// itself: not empty, `.` or `..`, and without a slash.
pub(crate) fn is_plain_name(path: &str) -> bool {
    !matches!(path, "" | "." | "..") && !path.contains('/')
}

/// `O_PATH | O_DIRECTORY`: a directory handle good only as the `dirfd` of
/// `*at` calls.
const DIR_HANDLE: OFlags = OFlags::PATH.union(OFlags::DIRECTORY);

/// A guest path split into the directory to resolve and the final component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// The directory part, to be resolved beneath the starting directory;
    /// `None` when the path is a single component.
    pub(crate) parent: Option<&'a str>,
    /// The final component with its trailing slashes, which carry meaning
    /// (`a/` must be a directory) and which the kernel interprets.
    pub(crate) name: &'a str,
}

impl<'a> Split<'a> {
    /// Splits `path`. An empty path is `ENOENT`; a path of slashes only is
    /// the root of the host, `ENOTCAPABLE`. A final component `.` or `..` is
    /// folded into the parent (which is then the whole path) and replaced by
    /// `.`, so that the kernel acts on a directory that resolved beneath the
    /// start and reports what POSIX gives for `.` (`EEXIST` for `mkdir`,
    /// `EISDIR` for `unlink`, `EINVAL` for `rmdir` and `readlink`, ...).
    pub(crate) fn new(path: &'a str) -> Result<Self> {
        if path.is_empty() {
            return Err(Errno::NOENT);
        }
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(Errno::NOTCAPABLE);
        }
        let (parent, base, name) = match trimmed.rfind('/') {
            Some(i) => (Some(&path[..=i]), &trimmed[i + 1..], &path[i + 1..]),
            None => (None, trimmed, path),
        };
        if base == "." || base == ".." {
            return Ok(Self {
                parent: Some(trimmed),
                name: ".",
            });
        }
        Ok(Self { parent, name })
    }

    /// Whether the final component ends with a slash.
    pub(crate) fn trailing_slash(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// A resolved parent directory: the starting directory itself, or a
/// directory opened beneath it.
pub(crate) enum Parent<'a> {
    /// The path had a single component.
    Start(BorrowedFd<'a>),
    /// The directory part, opened with `O_PATH`.
    Opened(OwnedFd),
}

impl Parent<'_> {
    /// Resolves the parent of `split` beneath `dir`, for a call that changes
    /// that directory: no system call when the path is a single component,
    /// one `openat2` otherwise; `ENOTCAPABLE` if the parent is on a kernel
    /// pseudo-filesystem (see [`open_to_modify`], whose condition on `dir`
    /// applies).
    pub(crate) fn open<'a>(
        how: PathResolution,
        dir: BorrowedFd<'a>,
        split: &Split<'_>,
    ) -> Result<Parent<'a>> {
        Ok(match split.parent {
            None => Parent::Start(dir),
            Some(parent) => {
                Parent::Opened(open_to_modify(how, dir, parent, DIR_HANDLE, Mode::empty())?)
            }
        })
    }

    /// Resolves the parent of `split` beneath `dir`, wherever it is, for a
    /// call that only reads (`path_readlink`).
    pub(crate) fn resolve<'a>(
        how: PathResolution,
        dir: BorrowedFd<'a>,
        split: &Split<'_>,
    ) -> Result<Parent<'a>> {
        Ok(match split.parent {
            None => Parent::Start(dir),
            Some(parent) => {
                Parent::Opened(open_beneath(how, dir, parent, DIR_HANDLE, Mode::empty())?)
            }
        })
    }
}

impl AsFd for Parent<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Start(fd) => *fd,
            Self::Opened(fd) => fd.as_fd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(path: &str) -> Result<(Option<&str>, &str)> {
        Split::new(path).map(|s| (s.parent, s.name))
    }

    #[test]
    fn splits_on_the_last_component() {
        assert_eq!(split("a"), Ok((None, "a")));
        assert_eq!(split("a/"), Ok((None, "a/")));
        assert_eq!(split("a/b"), Ok((Some("a/"), "b")));
        assert_eq!(split("a//b//"), Ok((Some("a//"), "b//")));
        assert_eq!(split("/etc/passwd"), Ok((Some("/etc/"), "passwd")));
        assert_eq!(split("/a"), Ok((Some("/"), "a")));
    }

    #[test]
    fn dots_fold_into_the_parent() {
        assert_eq!(split("."), Ok((Some("."), ".")));
        assert_eq!(split(".."), Ok((Some(".."), ".")));
        assert_eq!(split("a/../"), Ok((Some("a/.."), ".")));
        assert_eq!(split("a/..b"), Ok((Some("a/"), "..b")));
    }

    #[test]
    fn degenerate_paths() {
        assert_eq!(split(""), Err(Errno::NOENT));
        assert_eq!(split("/"), Err(Errno::NOTCAPABLE));
        assert_eq!(split("///"), Err(Errno::NOTCAPABLE));
        let s = Split::new("x//").unwrap();
        assert!(s.trailing_slash());
        assert!(!Split::new("x").unwrap().trailing_slash());
    }
}
