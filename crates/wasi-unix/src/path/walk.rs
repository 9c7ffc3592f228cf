//! Path resolution without `openat2`: one component at a time.
//!
//! Where the kernel lacks `openat2` (before Linux 5.6) or a seccomp profile
//! refuses it, [`resolve`] does in user space what `RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS` (and `RESOLVE_NO_XDEV` when asked) do in the
//! kernel, with the same results and errors (`spec/preview1.md`, "Path
//! resolution without openat2"):
//!
//! - every component is opened with `O_NOFOLLOW` relative to the directory
//!   the walk holds, so the kernel never follows a symlink on its own;
//! - a symlink met on the way is read (`readlinkat`) and its target put in
//!   front of the rest of the path; an absolute target leaves the start
//!   (`EXDEV`), more than 40 links are `ELOOP`, as in the kernel;
//! - `..` goes back to the directory the walk came from, never to the
//!   kernel's `..`: popping past the start is `EXDEV`. A directory moved
//!   while the walk holds it cannot take the walk out, since the walk only
//!   ever goes down from descriptors it holds;
//! - on procfs, only the symlinks of its root (`self`, `thread-self`,
//!   `mounts`, ...) are followed; every other one there is a magic link
//!   (`fd/N`, `exe`, `cwd`, `root`, `ns/*`, `map_files/*`): `ELOOP`;
//! - with `no_xdev`, the final file (or the directory it is to be created
//!   in) is checked to be on the starting directory's filesystem
//!   (`st_dev`) before it is opened: `EXDEV` otherwise, and nothing was
//!   opened there. Unlike the kernel's `RESOLVE_NO_XDEV`, a walk that
//!   crosses to another filesystem and comes back is let through: the
//!   callers only need to know where the file is.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::{Errno, Result};

use crate::pseudo;

/// The most symlinks one resolution follows, as Linux (`MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// `O_PATH | O_DIRECTORY | O_NOFOLLOW`: how a directory on the way is held.
const STEP: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the non-empty `path` beneath `dir` with `flags` (`O_CLOEXEC`
/// added) and `mode`, as `openat2` with `RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS`, plus `RESOLVE_NO_XDEV` when `no_xdev`, would.
pub(super) fn resolve(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    mode: Mode,
    no_xdev: bool,
) -> Result<OwnedFd> {
    // The kernel refuses some combinations of flags before it looks the
    // path up: `O_CREAT | O_DIRECTORY` is `EINVAL` since Linux 6.4. Ask it
    // about `.`, which exists, so that nothing is created.
    if flags.contains(OFlags::CREATE | OFlags::DIRECTORY) {
        let probe = OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if let Err(Errno::INVAL) = rustix::fs::openat(dir, ".", flags | probe, mode) {
            return Err(Errno::INVAL);
        }
    }
    Walk {
        start: dir,
        held: Vec::new(),
        dev: match no_xdev {
            true => Some(rustix::fs::fstat(dir)?.st_dev),
            false => None,
        },
        links: 0,
    }
    .open(path.as_bytes(), flags, mode)
}

/// A resolution in progress.
struct Walk<'a> {
    /// The directory the path is resolved beneath.
    start: BorrowedFd<'a>,
    /// The directories entered below `start`, innermost last.
    held: Vec<OwnedFd>,
    /// The filesystem every file reached must be on (`RESOLVE_NO_XDEV`).
    dev: Option<u64>,
    /// The symlinks followed so far.
    links: usize,
}

/// What to do with the final component.
enum Last {
    /// Opened: done.
    Opened(OwnedFd),
    /// A symlink to follow: its target.
    Link(Vec<u8>),
}

impl Walk<'_> {
    /// The directory the walk is in.
    fn here(&self) -> BorrowedFd<'_> {
        self.held.last().map_or(self.start, |fd| fd.as_fd())
    }

    /// Resolves `path` from where the walk is and opens what it names.
    fn open(&mut self, path: &[u8], flags: OFlags, mode: Mode) -> Result<OwnedFd> {
        // What is left of the path: a slice of the caller's, or of a
        // symlink's target with the rest appended.
        let mut owned: Vec<u8>;
        let mut left = path;
        loop {
            if left.first() == Some(&b'/') {
                return Err(Errno::XDEV);
            }
            let (name, slashes, tail) = next_component(left);
            // A trailing slash makes the final component a directory to
            // enter, and the file opened that directory: `.`.
            let last = tail.is_empty();
            let dir_follows = last && !slashes.is_empty();
            let link = match name {
                b"" | b"." if last => return self.open_last(b".", flags, mode)?.opened(),
                b"" | b"." => None,
                b".." => {
                    if self.held.pop().is_none() {
                        // Leaving the start; but a start that is not a
                        // directory fails first, as in the kernel.
                        let start = rustix::fs::fstat(self.start)?;
                        return Err(match FileType::from_raw_mode(start.st_mode) {
                            FileType::Directory => Errno::XDEV,
                            _ => Errno::NOTDIR,
                        });
                    }
                    if last {
                        return self.open_last(b".", flags, mode)?.opened();
                    }
                    None
                }
                name if last && !dir_follows => match self.open_last(name, flags, mode)? {
                    Last::Opened(fd) => return Ok(fd),
                    Last::Link(target) => Some(target),
                },
                // Linux refuses to create `name/` once its directory is
                // found (`.` and `..` get `EEXIST` with `O_EXCL`).
                _ if dir_follows && flags.contains(OFlags::CREATE) => return Err(Errno::ISDIR),
                name => self.enter(name)?,
            };
            match link {
                Some(mut target) => {
                    self.links += 1;
                    if self.links > MAX_SYMLINKS {
                        return Err(Errno::LOOP);
                    }
                    if target.is_empty() {
                        return Err(Errno::NOENT);
                    }
                    // The slashes after the link are kept: `link/` must
                    // still be a directory.
                    target.extend_from_slice(slashes);
                    target.extend_from_slice(tail);
                    owned = target;
                    left = &owned;
                }
                None if dir_follows => left = b".",
                None => left = tail,
            }
        }
    }

    /// Enters the directory `name`; `Some(target)` instead if `name` is a
    /// symlink to follow.
    fn enter(&mut self, name: &[u8]) -> Result<Option<Vec<u8>>> {
        match rustix::fs::openat(self.here(), name, STEP, Mode::empty()) {
            Ok(fd) => {
                self.held.push(fd);
                Ok(None)
            }
            // `O_NOFOLLOW` met a symlink (`ELOOP`, or `ENOTDIR` with
            // `O_DIRECTORY`), or this is not a directory.
            Err(err @ (Errno::LOOP | Errno::NOTDIR)) => {
                self.link_target(name).map(Some).map_err(not_a_link(err))
            }
            Err(err) => Err(err),
        }
    }

    /// Opens the final component `name` with the caller's flags, or finds
    /// that it is a symlink to follow.
    fn open_last(&mut self, name: &[u8], flags: OFlags, mode: Mode) -> Result<Last> {
        // `O_CREAT | O_EXCL` never follows a final symlink (`EEXIST`).
        let follow = !flags.contains(OFlags::NOFOLLOW)
            && !flags.contains(OFlags::CREATE | OFlags::EXCL)
            && name != b".";
        if self.dev.is_some() {
            // Nothing is opened on another filesystem: the file (or, for a
            // file to be created, its directory) is checked first. The
            // directories on the way need not be: only where the walk ends
            // matters, and nothing the guest can do moves a file from one
            // filesystem to another between the check and the open.
            let stat = match name {
                b"." => None,
                name => match rustix::fs::statat(self.here(), name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) if follow && is_symlink(stat.st_mode) => {
                        return self.link_target(name).map(Last::Link);
                    }
                    Ok(stat) => Some(stat),
                    Err(Errno::NOENT) => None,
                    Err(err) => return Err(err),
                },
            };
            match stat {
                Some(stat) => self.check_dev(stat.st_dev)?,
                None if !self.held.is_empty() => {
                    self.check_dev(rustix::fs::fstat(self.here())?.st_dev)?;
                }
                None => {}
            }
        }
        let opened = rustix::fs::openat(
            self.here(),
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        );
        match opened {
            // `O_PATH | O_NOFOLLOW` opens a symlink itself.
            Ok(fd) if follow && flags.contains(OFlags::PATH) => {
                if is_symlink(rustix::fs::fstat(&fd)?.st_mode) {
                    return self.link_target(name).map(Last::Link);
                }
                Ok(Last::Opened(fd))
            }
            Ok(fd) => Ok(Last::Opened(fd)),
            Err(err @ (Errno::LOOP | Errno::NOTDIR)) if follow => self
                .link_target(name)
                .map(Last::Link)
                .map_err(not_a_link(err)),
            Err(err) => Err(err),
        }
    }

    /// The target of the symlink `name` in the directory the walk is in
    /// (`EINVAL` if it is not one); `ELOOP` for a procfs magic link.
    fn link_target(&self, name: &[u8]) -> Result<Vec<u8>> {
        let target = rustix::fs::readlinkat(self.here(), name, Vec::new())?;
        if pseudo::holds_magic_links(self.here())? {
            return Err(Errno::LOOP);
        }
        Ok(target.into_bytes())
    }

    /// `EXDEV` if `dev` is not the filesystem the walk must stay on.
    fn check_dev(&self, dev: u64) -> Result<()> {
        match self.dev {
            Some(start) if start != dev => Err(Errno::XDEV),
            _ => Ok(()),
        }
    }
}

/// Maps the `EINVAL` of [`Walk::link_target`] for a file that is not a
/// symlink to `err`, the error the open gave.
fn not_a_link(err: Errno) -> impl Fn(Errno) -> Errno {
    move |link_err| match link_err {
        Errno::INVAL => err,
        other => other,
    }
}

/// Whether a `st_mode` is a symlink's.
fn is_symlink(mode: u32) -> bool {
    FileType::from_raw_mode(mode) == FileType::Symlink
}

impl Last {
    /// The descriptor opened; a symlink at the end of `.` or `..` cannot be.
    fn opened(self) -> Result<OwnedFd> {
        match self {
            Self::Opened(fd) => Ok(fd),
            Self::Link(_) => Err(Errno::LOOP),
        }
    }
}

/// Splits `path` at its first slash: the first component, the slashes
/// after it, and the rest.
fn next_component(path: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let end = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
    let (name, after) = path.split_at(end);
    let slashes = after.iter().take_while(|&&b| b == b'/').count();
    let (slashes, tail) = after.split_at(slashes);
    (name, slashes, tail)
}
