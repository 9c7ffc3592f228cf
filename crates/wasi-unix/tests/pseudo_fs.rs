//! Nothing on a kernel pseudo-filesystem opens for the guest by default,
//! however it is reached; with `allow_pseudo_fs` it opens for reading only,
//! and the host process's own procfs entries never do
//! (`spec/preview1.md`, "Kernel pseudo-filesystems").
//!
//! These need procfs at `/proc` and sysfs at `/sys`, as any Linux host has.

mod common;

use std::io::{ErrorKind, IoSliceMut};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use common::ROOT;
use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::{Denial, UnixSystem};

const FOLLOW: Lookupflags = Lookupflags::SYMLINK_FOLLOW;

/// A system whose preopen 3 is the host's `/`, named `/`, with the
/// denials it reports.
fn root_system(allow: bool) -> (UnixSystem, Arc<Mutex<Vec<Denial>>>) {
    let denials = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&denials);
    let sys = UnixSystem::builder()
        .allow_pseudo_fs(allow)
        .on_denial(move |denial| seen.lock().unwrap().push(denial.clone()))
        .preopen_dir("/", "/")
        .unwrap()
        .build()
        .unwrap();
    (sys, denials)
}

fn open(
    sys: &mut UnixSystem,
    dir: Fd,
    path: &str,
    oflags: Oflags,
    rights: Rights,
) -> Result<Fd, Errno> {
    sys.path_open(
        dir,
        FOLLOW,
        path,
        oflags,
        rights,
        Rights::all(),
        Fdflags::empty(),
    )
}

fn read_only(sys: &mut UnixSystem, dir: Fd, path: &str) -> Result<Fd, Errno> {
    open(sys, dir, path, Oflags::empty(), Rights::FD_READ)
}

fn read_write(sys: &mut UnixSystem, dir: Fd, path: &str) -> Result<Fd, Errno> {
    open(
        sys,
        dir,
        path,
        Oflags::empty(),
        Rights::FD_READ | Rights::FD_WRITE,
    )
}

fn read_all(sys: &mut UnixSystem, fd: Fd) -> Vec<u8> {
    let mut buf = vec![0; 4096];
    let n = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)]).unwrap();
    buf.truncate(n as usize);
    buf
}

/// `path` relative to `/`.
fn below_root(path: &std::path::Path) -> String {
    path.to_str().unwrap().trim_start_matches('/').to_owned()
}

/// The host process's own entries, named every way.
fn own_entries() -> Vec<String> {
    let pid = std::process::id();
    let tid = rustix::thread::gettid().as_raw_nonzero();
    vec![
        "proc/self/maps".into(),
        "proc/self/mem".into(),
        "proc/self/environ".into(),
        "proc/self/fd".into(),
        "proc/self".into(),
        format!("proc/{pid}/mem"),
        format!("proc/{pid}/task/{tid}/mem"),
        format!("proc/{tid}/status"),
        "proc/thread-self/mem".into(),
        "proc/thread-self/status".into(),
        "proc/self/../self/maps".into(),
        "sys/../proc/self/maps".into(),
        "proc/self/net/dev".into(),
        "proc/mounts".into(),
    ]
}

#[test]
fn a_root_preopen_opens_nothing_on_procfs_or_sysfs_and_the_rest_as_before() {
    let (mut sys, denials) = root_system(false);
    let mut refused = own_entries();
    refused.extend(
        [
            "proc/version",
            "proc/1/status",
            "proc/sys/kernel/ostype",
            "proc",
            "proc/",
            "sys",
            "sys/kernel",
            "sys/kernel/uevent_seqnum",
            "sys/kernel/../kernel/uevent_seqnum",
            "sys/fs/cgroup/..",
        ]
        .map(String::from),
    );
    for path in &refused {
        assert_eq!(
            read_only(&mut sys, ROOT, path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    for path in [
        "proc/self/mem",
        "proc/self/maps",
        "sys/kernel/uevent_seqnum",
    ] {
        assert_eq!(
            read_write(&mut sys, ROOT, path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    for path in ["proc", "sys/kernel", "proc/self"] {
        assert_eq!(
            open(&mut sys, ROOT, path, Oflags::DIRECTORY, Rights::FD_READDIR),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    assert_eq!(
        open(&mut sys, ROOT, "proc/new", Oflags::CREAT, Rights::FD_WRITE),
        Err(Errno::NOTCAPABLE)
    );

    // Each refusal the permission would lift was reported, with the path
    // the guest gave: read-only opens of what is not the host's own (the
    // ten other files, `proc` and `sys/kernel` as directories), not the
    // host's own entries nor writes.
    let expected = refused.len() - own_entries().len() + 2;
    {
        let denials = denials.lock().unwrap();
        assert_eq!(denials.len(), expected, "{denials:?}");
        assert!(denials.iter().all(|d| matches!(d, Denial::PseudoFs(_))));
        assert_eq!(denials[0], Denial::PseudoFs("proc/version".into()));
    }

    // Calls that only read metadata are not refused.
    let stat = sys
        .path_filestat_get(ROOT, FOLLOW, "proc/self/mem")
        .unwrap();
    assert_eq!(stat.filetype, Filetype::REGULAR_FILE);
    let mut buf = [0u8; 32];
    let n = sys.path_readlink(ROOT, "proc/self", &mut buf).unwrap();
    let pid = std::process::id().to_string();
    assert_eq!(&buf[..n as usize], pid.as_bytes());

    // Ordinary files still open.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), b"contents").unwrap();
    let file = below_root(&tmp.path().join("file"));
    let fd = read_write(&mut sys, ROOT, &file).unwrap();
    assert_eq!(read_all(&mut sys, fd), b"contents");
    // `..` out of procfs leads back to `/`.
    let fd = open(
        &mut sys,
        ROOT,
        "proc/..",
        Oflags::DIRECTORY,
        Rights::FD_READDIR,
    )
    .unwrap();
    sys.fd_close(fd).unwrap();
    // Across a mount point onto a filesystem that is not a pseudo one
    // (devtmpfs, tmpfs), opening and creating work.
    let fd = read_write(&mut sys, ROOT, "dev/null").unwrap();
    sys.fd_close(fd).unwrap();
    if std::path::Path::new("/dev/shm").is_dir() {
        let name = format!("dev/shm/wasi-unix-pseudo-fs-{}", std::process::id());
        let fd = open(&mut sys, ROOT, &name, Oflags::CREAT, Rights::FD_WRITE).unwrap();
        sys.fd_close(fd).unwrap();
        sys.path_unlink_file(ROOT, &name).unwrap();
    }
    assert_eq!(denials.lock().unwrap().len(), expected);
}

#[test]
fn calls_that_change_pseudo_filesystems_are_refused() {
    let (mut sys, denials) = root_system(true);
    assert_eq!(
        sys.path_filestat_set_times(ROOT, FOLLOW, "proc/version", 0, 0, Fstflags::MTIM_NOW),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sys.path_create_directory(ROOT, "proc/new"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sys.path_unlink_file(ROOT, "proc/version"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sys.path_symlink("version", ROOT, "sys/kernel/link"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sys.path_rename(ROOT, "sys/kernel/notes", ROOT, "sys/kernel/renamed"),
        Err(Errno::NOTCAPABLE)
    );
    assert!(denials.lock().unwrap().is_empty());
}

#[test]
fn symlinks_into_procfs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::os::unix::fs::symlink("/proc/self/mem", dir.join("absolute")).unwrap();
    let up = "../".repeat(dir.components().count() - 1);
    std::os::unix::fs::symlink(format!("{up}proc/self/mem"), dir.join("relative")).unwrap();
    std::os::unix::fs::symlink(format!("{up}proc"), dir.join("proc")).unwrap();

    // Beneath `/`: the relative links stay beneath it, yet land on procfs.
    let (mut sys, _) = root_system(true);
    for name in ["absolute", "relative", "proc/self/mem"] {
        let path = below_root(&dir.join(name));
        assert_eq!(
            read_only(&mut sys, ROOT, &path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
        assert_eq!(
            read_write(&mut sys, ROOT, &path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    // Beneath the directory itself they lead out, as always.
    let mut sys = UnixSystem::builder()
        .allow_pseudo_fs(true)
        .preopen_dir(dir, "/tmp")
        .unwrap()
        .build()
        .unwrap();
    for path in ["absolute", "relative", "proc/self/mem"] {
        assert_eq!(
            read_only(&mut sys, ROOT, path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
}

#[test]
fn pseudo_fs_preopens_need_the_opt_in() {
    for dir in ["/proc", "/proc/self", "/sys", "/sys/kernel"] {
        let err = UnixSystem::builder()
            .preopen_dir(dir, "/x")
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{dir}");
        assert!(err.to_string().contains("--allow-pseudo-fs"), "{err}");
    }
    let mut builder = UnixSystem::builder();
    builder.allow_pseudo_fs(true);
    builder.preopen_dir("/proc", "/proc").unwrap();
    builder.preopen_dir("/sys", "/sys").unwrap();
    builder.preopen_dir("/proc/1", "/init").unwrap();
    // The host's own directory, never.
    let pid = std::process::id();
    for dir in ["/proc/self".to_owned(), format!("/proc/{pid}/task")] {
        let err = builder.preopen_dir(&dir, "/me").map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{dir}");
        assert!(err.to_string().contains("own procfs directory"), "{err}");
    }
}

#[test]
fn the_opt_in_allows_reading_only() {
    let (mut sys, denials) = root_system(true);
    let fd = read_only(&mut sys, ROOT, "proc/version").unwrap();
    assert!(read_all(&mut sys, fd).starts_with(b"Linux version"));
    // The descriptor cannot write, whatever it asked for.
    let stat = sys.fd_fdstat_get(fd).unwrap();
    assert!(!stat.fs_rights_base.contains(Rights::FD_WRITE));
    assert_eq!(
        sys.fd_write(fd, &[std::io::IoSlice::new(b"x")]),
        Err(Errno::BADF)
    );
    let fd = read_only(&mut sys, ROOT, "sys/kernel/uevent_seqnum").unwrap();
    assert!(!read_all(&mut sys, fd).is_empty());
    let fd = read_only(&mut sys, ROOT, "proc/1/status").unwrap();
    assert!(read_all(&mut sys, fd).starts_with(b"Name:"));

    for path in [
        "proc/version",
        "proc/sys/kernel/ostype",
        "sys/kernel/uevent_seqnum",
    ] {
        assert_eq!(
            read_write(&mut sys, ROOT, path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
        assert_eq!(
            open(&mut sys, ROOT, path, Oflags::TRUNC, Rights::FD_READ),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
        assert_eq!(
            open(&mut sys, ROOT, path, Oflags::CREAT, Rights::FD_READ),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    // The host process's own entries stay out of reach.
    for path in own_entries() {
        assert_eq!(
            read_only(&mut sys, ROOT, &path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
        assert_eq!(
            read_write(&mut sys, ROOT, &path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    // Refusals the opt-in does not lift are not reported as wanting it.
    assert!(denials.lock().unwrap().is_empty());
}

#[test]
fn every_open_beneath_a_pseudo_fs_directory_is_checked() {
    let pid = std::process::id();
    let (mut sys, _) = root_system(true);
    // `proc` is a mount point: a plain name, one `openat2`.
    let proc = open(
        &mut sys,
        ROOT,
        "proc",
        Oflags::DIRECTORY,
        Rights::FD_READDIR | Rights::PATH_OPEN,
    )
    .unwrap();
    let rights = sys.fd_fdstat_get(proc).unwrap();
    assert!(!rights.fs_rights_base.contains(Rights::PATH_CREATE_FILE));
    assert!(!rights.fs_rights_inheriting.contains(Rights::FD_WRITE));
    let fd = read_only(&mut sys, proc, "version").unwrap();
    sys.fd_close(fd).unwrap();
    for path in [
        "self/mem".to_owned(),
        format!("{pid}/maps"),
        "thread-self/environ".into(),
    ] {
        assert_eq!(
            read_only(&mut sys, proc, &path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
    let fd = open(&mut sys, proc, "1", Oflags::DIRECTORY, Rights::PATH_OPEN).unwrap();
    let status = read_only(&mut sys, fd, "status").unwrap();
    sys.fd_close(status).unwrap();

    // A preopen of `/proc`, with write rights asked for: they are not
    // inherited, and the file opens read-only.
    let mut sys = UnixSystem::builder()
        .allow_pseudo_fs(true)
        .preopen_dir("/proc", "/proc")
        .unwrap()
        .build()
        .unwrap();
    let fd = read_write(&mut sys, ROOT, "version").unwrap();
    assert!(
        !sys.fd_fdstat_get(fd)
            .unwrap()
            .fs_rights_base
            .contains(Rights::FD_WRITE)
    );
    assert_eq!(
        read_only(&mut sys, ROOT, "self/mem"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        read_only(&mut sys, ROOT, &format!("{pid}/environ")),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(read_only(&mut sys, ROOT, ".."), Err(Errno::NOTCAPABLE));
    assert_eq!(sys.path_create_directory(ROOT, "x"), Err(Errno::NOTCAPABLE));
    assert_eq!(
        sys.path_unlink_file(ROOT, "version"),
        Err(Errno::NOTCAPABLE)
    );

    // `..` from a preopen of `/sys` leads nowhere.
    let mut sys = UnixSystem::builder()
        .allow_pseudo_fs(true)
        .preopen_dir("/sys", "/sys")
        .unwrap()
        .build()
        .unwrap();
    for path in ["..", "../proc/self/maps", "kernel/../../proc/version"] {
        assert_eq!(
            read_only(&mut sys, ROOT, path),
            Err(Errno::NOTCAPABLE),
            "{path}"
        );
    }
}

/// `wasirun < /proc/self`: a standard stream is never a directory to open
/// beneath.
#[test]
fn a_procfs_directory_as_standard_stream_leads_nowhere() {
    let file = |path| -> OwnedFd { std::fs::File::open(path).unwrap().into() };
    let mut sys = UnixSystem::builder()
        .allow_pseudo_fs(true)
        .stdio(file("/proc/self"), file("/dev/null"), file("/dev/null"))
        .build()
        .unwrap();
    for path in ["mem", "environ"] {
        let err = read_only(&mut sys, 0, path).unwrap_err();
        assert!(
            matches!(err, Errno::NOTDIR | Errno::NOTCAPABLE),
            "{path}: {err:?}"
        );
    }
}
