//! Kernel pseudo-filesystems: procfs, sysfs and the other filesystems that
//! expose the kernel's and other processes' state rather than stored files.
//!
//! A guest may open nothing on one unless the embedder allows it
//! ([`Builder::allow_pseudo_fs`](crate::Builder::allow_pseudo_fs)); even
//! then it may only read, and never the host process's own procfs entries
//! (`/proc/self/mem` is the host's memory). The rules are in the "Kernel
//! pseudo-filesystems" section of `spec/preview1.md`; this module tells what
//! a descriptor is on, and [`crate::path`] applies the rules.
//!
//! A filesystem is recognised by the `f_type` magic number `fstatfs` reports
//! for the descriptor, whatever path led to it: a preopen of `/`, a symlink,
//! `..`, or a second mount of the same filesystem elsewhere.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use wasi_core::types::Rights;

/// The kernel pseudo-filesystems, by their `statfs` magic number
/// (`include/uapi/linux/magic.h`, or the filesystem's source where the
/// header has none), with the name `/proc/filesystems` gives them.
///
/// Device filesystems (`devtmpfs` is a `tmpfs`, `devpts`) and IPC ones
/// (`mqueue`) are not on the list: what they hold is governed by file
/// permissions like device nodes anywhere else.
const PSEUDO_FILESYSTEMS: &[(u32, &str)] = &[
    (0x0000_9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0xcafe_4a11, "bpf"),
    (0x6265_6570, "configfs"),
    (0xde5e_81e4, "efivarfs"),
    (0x6165_676c, "pstore"),
    (0x4249_4e4d, "binfmt_misc"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4341_5d53, "smackfs"),
    (0x6573_5543, "fusectl"),
    (0x6e73_6673, "nsfs"),
    (0x0765_5821, "resctrl"),
    (0xabba_1974, "xenfs"),
    (0x6759_6969, "rpc_pipefs"),
    (0x6e66_7364, "nfsd"),
];

/// procfs's magic number.
const PROC_SUPER_MAGIC: u32 = 0x9fa0;

/// The inode number of a procfs instance's root directory.
const PROC_ROOT_INO: u64 = 1;

/// How many directories the search for a procfs root climbs at most;
/// procfs is nowhere near this deep.
const MAX_PROC_DEPTH: usize = 32;

/// The rights no descriptor on a pseudo-filesystem ever holds: every right
/// to write to it, change its attributes or its directories.
pub(crate) const WRITE_RIGHTS: Rights = Rights::FD_DATASYNC
    .union(Rights::FD_SYNC)
    .union(Rights::FD_WRITE)
    .union(Rights::FD_ALLOCATE)
    .union(Rights::FD_FILESTAT_SET_SIZE)
    .union(Rights::FD_FILESTAT_SET_TIMES)
    .union(Rights::PATH_CREATE_DIRECTORY)
    .union(Rights::PATH_CREATE_FILE)
    .union(Rights::PATH_LINK_SOURCE)
    .union(Rights::PATH_LINK_TARGET)
    .union(Rights::PATH_RENAME_SOURCE)
    .union(Rights::PATH_RENAME_TARGET)
    .union(Rights::PATH_FILESTAT_SET_SIZE)
    .union(Rights::PATH_FILESTAT_SET_TIMES)
    .union(Rights::PATH_SYMLINK)
    .union(Rights::PATH_REMOVE_DIRECTORY)
    .union(Rights::PATH_UNLINK_FILE);

/// A kernel pseudo-filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PseudoFs {
    magic: u32,
    name: &'static str,
}

impl PseudoFs {
    /// The filesystem's name, as in `/proc/filesystems`.
    pub(crate) fn name(self) -> &'static str {
        self.name
    }

    /// Whether this is procfs.
    pub(crate) fn is_proc(self) -> bool {
        self.magic == PROC_SUPER_MAGIC
    }
}

/// The pseudo-filesystem `fd` is on, if it is on one (one `fstatfs`, which
/// works on `O_PATH` descriptors too).
pub(crate) fn filesystem_of(fd: BorrowedFd<'_>) -> rustix::io::Result<Option<PseudoFs>> {
    // Magic numbers are 32 bits; `f_type` is a signed word whose width
    // depends on the architecture, so compare the low 32 bits.
    let magic = rustix::fs::fstatfs(fd)?.f_type as u32;
    Ok(PSEUDO_FILESYSTEMS
        .iter()
        .find(|&&(m, _)| m == magic)
        .map(|&(magic, name)| PseudoFs { magic, name }))
}

/// Whether `file`, which is on procfs, is one of the host process's own
/// entries: `/proc/<pid>` of this process or of one of its threads, or
/// anything beneath, in whichever procfs instance `file` is on and however
/// it was reached (`/proc/self`, `/proc/thread-self`, `/proc/<tid>`, a
/// second mount). When that cannot be told for sure, the answer is yes.
///
/// Paths cannot tell it: `self` is a symlink, each procfs mount can belong
/// to another PID namespace (where this process has another number), and
/// inode numbers of `/proc/<pid>` differ between mounts. So the check walks
/// the kernel's own tree from `file`:
///
/// 1. From the directory that holds `file` (found with `..`, or for a
///    non-directory through the kernel's path of it in `/proc/self/fd`,
///    verified to hold that very inode), climb with `..` to the root of the
///    procfs instance (inode 1, holding `self`). Reaching the top of the
///    mount first means a procfs subdirectory mounted on its own, which
///    cannot be placed: it counts as ours.
/// 2. The root's entry on the way down to `file` is ours if its `status`
///    names as `Tgid` the number the root's `self` link gives: the
///    instance's own name for this process, which covers every thread of
///    it, those started after the check included.
///
/// This costs a dozen system calls; it only runs for guests allowed onto
/// procfs.
pub(crate) fn is_own_proc_entry(file: BorrowedFd<'_>) -> bool {
    own_proc_entry(file).unwrap_or(true)
}

fn own_proc_entry(file: BorrowedFd<'_>) -> rustix::io::Result<bool> {
    let stat = rustix::fs::fstat(file)?;
    // `entry` climbs towards the root of the procfs instance, `dir` is
    // always its parent.
    let mut entry = rustix::io::fcntl_dupfd_cloexec(file, 0)?;
    let mut dir = if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        open_dotdot(file)?
    } else {
        parent_of(file, &stat)?
    };
    let mut entry_stat = stat;
    for _ in 0..MAX_PROC_DEPTH {
        let dir_stat = rustix::fs::fstat(&dir)?;
        if (dir_stat.st_dev, dir_stat.st_ino) == (entry_stat.st_dev, entry_stat.st_ino)
            || dir_stat.st_dev != entry_stat.st_dev
        {
            // `entry` is the top of this procfs mount (or the process's
            // root): `file` is the root of the instance, or in a
            // subdirectory mounted on its own.
            return Ok(!is_root(entry.as_fd(), &entry_stat));
        }
        if is_root(dir.as_fd(), &dir_stat) {
            return belongs_to_this_process(dir.as_fd(), entry.as_fd());
        }
        let up = open_dotdot(dir.as_fd())?;
        (entry, dir, entry_stat) = (dir, up, dir_stat);
    }
    Ok(true)
}

/// Whether the symlinks in `dir` are procfs magic links, which resolve to
/// a file without a path (`fd/N`, `exe`, `cwd`, `root`, `ns/*`,
/// `map_files/*`): those of procfs but for the ones in its root (`self`,
/// `thread-self`, `mounts`, `net`, ...), which are plain text.
pub(crate) fn holds_magic_links(dir: BorrowedFd<'_>) -> rustix::io::Result<bool> {
    Ok(filesystem_of(dir)?.is_some_and(PseudoFs::is_proc)
        && !is_root(dir, &rustix::fs::fstat(dir)?))
}

/// Whether `dir` (whose `fstat` is `stat`) is the root directory of a
/// procfs instance: inode 1, with a `self` link (which no directory beneath
/// has, should another inode ever be numbered 1).
fn is_root(dir: BorrowedFd<'_>, stat: &Stat) -> bool {
    stat.st_ino == PROC_ROOT_INO
        && rustix::fs::statat(dir, "self", AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|link| FileType::from_raw_mode(link.st_mode) == FileType::Symlink)
}

/// Opens `dir/..` as an `O_PATH` handle.
fn open_dotdot(dir: BorrowedFd<'_>) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        "..",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The directory that holds the non-directory `file` (whose `fstat` is
/// `stat`): the kernel's path of `file` is read from `/proc/self/fd`, its
/// directory opened, and that directory must hold `file`'s very inode
/// under the last name of the path. Fails when the path is not reachable
/// from this process's root or changed meanwhile.
fn parent_of(file: BorrowedFd<'_>, stat: &Stat) -> rustix::io::Result<OwnedFd> {
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    let path = rustix::fs::readlinkat(rustix::fs::CWD, link.as_str(), Vec::new())?;
    let path = path.as_bytes();
    let slash = path.iter().rposition(|&b| b == b'/').ok_or(Errno::NOENT)?;
    if !path.starts_with(b"/") {
        return Err(Errno::NOENT);
    }
    let (dir, name) = (&path[..slash.max(1)], &path[slash + 1..]);
    let parent = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let found = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if (found.st_dev, found.st_ino) != (stat.st_dev, stat.st_ino) {
        return Err(Errno::STALE);
    }
    Ok(parent)
}

/// Whether `entry`, an entry of the procfs root `root`, is the directory of
/// this process or of one of its threads.
fn belongs_to_this_process(
    root: BorrowedFd<'_>,
    entry: BorrowedFd<'_>,
) -> rustix::io::Result<bool> {
    let mut buf = [0u8; 32];
    let tgid = match rustix::fs::readlinkat_raw(root, "self", &mut buf[..]) {
        Ok(len) => &buf[..len],
        // This process has no number in the instance's PID namespace, so
        // none of its entries are there.
        Err(Errno::NOENT) => return Ok(false),
        Err(err) => return Err(err),
    };
    let status = match rustix::fs::openat(
        entry,
        "status",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(status) => status,
        // Not a process's directory.
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(false),
        Err(err) => return Err(err),
    };
    // `Tgid` is on the fourth line, well within the first KiB.
    let mut text = [0u8; 1024];
    let len = rustix::io::read(&status, &mut text[..])?;
    let owner = text[..len]
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Tgid:"))
        .ok_or(Errno::NOENT)?
        .trim_ascii();
    Ok(owner == tgid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &str, flags: OFlags) -> OwnedFd {
        rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn recognises_procfs_and_sysfs() {
        let proc = open("/proc", OFlags::PATH);
        assert!(filesystem_of(proc.as_fd()).unwrap().unwrap().is_proc());
        let sys = open("/sys", OFlags::PATH);
        assert_eq!(filesystem_of(sys.as_fd()).unwrap().unwrap().name(), "sysfs");
        let etc = open("/etc", OFlags::PATH);
        assert_eq!(filesystem_of(etc.as_fd()).unwrap(), None);
    }

    #[test]
    fn tells_own_entries_from_others() {
        let own = [
            "/proc/self",
            "/proc/self/mem",
            "/proc/self/status",
            "/proc/thread-self/mem",
            "/proc/self/task",
            "/proc/self/net/dev",
        ];
        for path in own {
            let fd = open(path, OFlags::PATH);
            assert!(is_own_proc_entry(fd.as_fd()), "{path}");
        }
        let pid = std::process::id();
        let fd = open(&format!("/proc/{pid}/maps"), OFlags::PATH);
        assert!(is_own_proc_entry(fd.as_fd()));
        // Another thread's directory, at the top level (where it is not
        // listed) and under `task`.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tid_tx
                .send(rustix::thread::gettid().as_raw_nonzero())
                .unwrap();
            done_rx.recv().unwrap();
        });
        let tid = tid_rx.recv().unwrap();
        for path in [
            format!("/proc/{tid}/mem"),
            format!("/proc/{pid}/task/{tid}/environ"),
        ] {
            let fd = open(&path, OFlags::PATH);
            assert!(is_own_proc_entry(fd.as_fd()), "{path}");
        }
        done_tx.send(()).unwrap();
        thread.join().unwrap();
        for path in [
            "/proc",
            "/proc/version",
            "/proc/1",
            "/proc/1/status",
            "/proc/sys/kernel",
        ] {
            let fd = open(path, OFlags::PATH);
            assert!(!is_own_proc_entry(fd.as_fd()), "{path}");
        }
    }
}
