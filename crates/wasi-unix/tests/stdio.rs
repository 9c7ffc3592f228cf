//! Standard streams are streams, not capabilities: a directory given as
//! stdin opens nothing, and the `fdflags` a guest sets on a stream are
//! emulated without touching the open file description, which the host
//! shares with other processes (`spec/preview1.md`, "Standard streams and
//! preopens").

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use wasi_core::types::*;
use wasi_core::{DirentWriter, System};
use wasi_unix::UnixSystem;

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

fn devnull() -> OwnedFd {
    std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .unwrap()
        .into()
}

/// A system whose standard streams are the given descriptors.
fn with_stdio(stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd) -> UnixSystem {
    UnixSystem::builder()
        .stdio(stdin, stdout, stderr)
        .build()
        .unwrap()
}

fn status_flags(fd: BorrowedFd<'_>) -> OFlags {
    rustix::fs::fcntl_getfl(fd).unwrap()
}

fn read(sys: &mut UnixSystem, fd: Fd) -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; 64];
    let n = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)])?;
    Ok(buf[..n as usize].to_vec())
}

/// `read(sys, fd)`, which must not block: if it does, `unblock` is written
/// after a few seconds, so that the read returns it and the test fails
/// instead of hanging.
fn read_without_blocking(
    sys: &mut UnixSystem,
    fd: Fd,
    mut unblock: impl Write + Send + 'static,
) -> Result<Vec<u8>, Errno> {
    let (done, wait) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(5)).is_err() {
            unblock.write_all(b"blocked").unwrap();
        }
    });
    let result = read(sys, fd);
    done.send(()).unwrap();
    watchdog.join().unwrap();
    result
}

#[test]
fn a_directory_on_stdin_is_no_capability() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = rustix::fs::open(
        tmp.path(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut sys = with_stdio(dir, devnull(), devnull());

    // A stream of no particular type, with the rights of a stream open for
    // reading: no `path_*` rights, no `fd_readdir`.
    let stat = sys.fd_fdstat_get(0).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::UNKNOWN);
    assert_eq!(
        stat.fs_rights_base,
        Rights::CHARACTER_DEVICE - Rights::FD_WRITE
    );
    assert_eq!(stat.fs_rights_inheriting, Rights::empty());
    assert_eq!(sys.fd_filestat_get(0).unwrap().filetype, Filetype::UNKNOWN);

    // Nothing can be opened, created or listed through it.
    assert_eq!(
        sys.path_open(
            0,
            Lookupflags::empty(),
            "created",
            Oflags::CREAT,
            Rights::FD_READ | Rights::FD_WRITE,
            Rights::all(),
            Fdflags::empty(),
        ),
        Err(Errno::NOTDIR)
    );
    assert_eq!(sys.path_create_directory(0, "sub"), Err(Errno::NOTDIR));
    assert_eq!(
        sys.path_filestat_get(0, Lookupflags::empty(), "."),
        Err(Errno::NOTDIR)
    );
    let mut buf = [0u8; 256];
    assert_eq!(
        sys.fd_readdir(0, 0, &mut DirentWriter::new(&mut buf)),
        Err(Errno::NOTDIR)
    );
    assert_eq!(read(&mut sys, 0), Err(Errno::ISDIR));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn stream_rights_follow_the_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let file: OwnedFd = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp.path().join("err"))
        .unwrap()
        .into();
    let (in_read, _in_write) = pipe();
    let (_out_read, out_write) = pipe();
    let mut sys = with_stdio(in_read, out_write, file);

    let stdin = sys.fd_fdstat_get(0).unwrap();
    assert_eq!(stdin.fs_filetype, Filetype::UNKNOWN);
    assert_eq!(
        stdin.fs_rights_base,
        Rights::CHARACTER_DEVICE - Rights::FD_WRITE
    );
    let stdout = sys.fd_fdstat_get(1).unwrap();
    assert_eq!(
        stdout.fs_rights_base,
        Rights::CHARACTER_DEVICE - Rights::FD_READ
    );
    // A redirected file keeps its type and a file's rights, as natively:
    // it can be sought and sized, and still has no path rights.
    let stderr = sys.fd_fdstat_get(2).unwrap();
    assert_eq!(stderr.fs_filetype, Filetype::REGULAR_FILE);
    assert_eq!(stderr.fs_rights_base, Rights::REGULAR_FILE);
    assert_eq!(sys.fd_write(2, &[IoSlice::new(b"abc")]), Ok(3));
    assert_eq!(sys.fd_seek(2, 0, Whence::END), Ok(3));
    assert_eq!(sys.fd_filestat_set_size(2, 1), Ok(()));
    assert_eq!(sys.path_create_directory(2, "sub"), Err(Errno::NOTDIR));

    assert_eq!(sys.fd_write(0, &[IoSlice::new(b"x")]), Err(Errno::BADF));
    assert_eq!(read(&mut sys, 1), Err(Errno::BADF));
}

#[test]
fn nonblock_on_a_pipe_is_emulated() {
    let (in_read, in_write) = pipe();
    let host = rustix::io::dup(&in_read).unwrap();
    let before = status_flags(host.as_fd());
    let mut sys = with_stdio(in_read, devnull(), devnull());

    sys.fd_fdstat_set_flags(0, Fdflags::NONBLOCK).unwrap();
    assert_eq!(sys.fd_fdstat_get(0).unwrap().fs_flags, Fdflags::NONBLOCK);
    assert_eq!(status_flags(host.as_fd()), before);

    // Nothing to read: `EAGAIN`, not a wait.
    let mut writer = std::fs::File::from(in_write);
    let unblock = writer.try_clone().unwrap();
    assert_eq!(
        read_without_blocking(&mut sys, 0, unblock),
        Err(Errno::AGAIN)
    );
    writer.write_all(b"data").unwrap();
    assert_eq!(read(&mut sys, 0).unwrap(), b"data");

    // Blocking again: the read waits for the writer.
    sys.fd_fdstat_set_flags(0, Fdflags::empty()).unwrap();
    assert_eq!(sys.fd_fdstat_get(0).unwrap().fs_flags, Fdflags::empty());
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        writer.write_all(b"late").unwrap();
    });
    assert_eq!(read(&mut sys, 0).unwrap(), b"late");
    late.join().unwrap();
    assert_eq!(status_flags(host.as_fd()), before);
}

#[test]
fn nonblock_on_a_full_pipe_gives_eagain() {
    let (out_read, out_write) = pipe();
    let host = rustix::io::dup(&out_write).unwrap();
    let before = status_flags(host.as_fd());
    let mut sys = with_stdio(devnull(), out_write, devnull());
    sys.fd_fdstat_set_flags(1, Fdflags::NONBLOCK).unwrap();

    // Fill the pipe: short writes, then `EAGAIN` instead of a wait.
    let chunk = vec![7u8; 1 << 16];
    let mut written = 0u64;
    let full = loop {
        match sys.fd_write(1, &[IoSlice::new(&chunk)]) {
            Ok(n) => written += u64::from(n),
            Err(errno) => break errno,
        }
        assert!(written < 1 << 30, "the pipe never filled");
    };
    assert_eq!(full, Errno::AGAIN);
    assert!(written > 0);
    assert_eq!(status_flags(host.as_fd()), before);
    drop(out_read);
}

#[test]
fn nonblock_on_a_named_pipe_is_emulated() {
    // Linux refuses `RWF_NOWAIT` on a FIFO: the emulation polls first.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    // Read-write, so that opening does not wait for the other end.
    let open = || -> OwnedFd {
        rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).unwrap()
    };
    let fifo = open();
    let host = rustix::io::dup(&fifo).unwrap();
    let before = status_flags(host.as_fd());
    let mut sys = with_stdio(fifo, open(), devnull());
    sys.fd_fdstat_set_flags(0, Fdflags::NONBLOCK).unwrap();
    sys.fd_fdstat_set_flags(1, Fdflags::NONBLOCK).unwrap();

    let unblock = std::fs::File::from(open());
    assert_eq!(
        read_without_blocking(&mut sys, 0, unblock),
        Err(Errno::AGAIN)
    );
    assert_eq!(sys.fd_write(1, &[IoSlice::new(b"ping")]), Ok(4));
    assert_eq!(read(&mut sys, 0).unwrap(), b"ping");

    // Writes after a poll take at most `PIPE_BUF` bytes, then `EAGAIN`.
    let chunk = vec![7u8; 1 << 16];
    let mut writes = 0;
    let full = loop {
        match sys.fd_write(1, &[IoSlice::new(&chunk)]) {
            Ok(n) => assert!(n > 0 && n as usize <= libc::PIPE_BUF),
            Err(errno) => break errno,
        }
        writes += 1;
        assert!(writes < 1 << 20, "the pipe never filled");
    };
    assert_eq!(full, Errno::AGAIN);
    assert_eq!(status_flags(host.as_fd()), before);
}

/// A pseudo-terminal: (master, slave), or `None` where the system has none.
fn pty() -> Option<(OwnedFd, OwnedFd)> {
    let master = rustix::fs::open(
        "/dev/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut name = [0 as libc::c_char; 64];
    // SAFETY: `master` is an open pseudo-terminal master for the whole
    // block, and `name` is a writable buffer of the length passed.
    let ok = unsafe {
        use std::os::fd::AsRawFd;
        let raw = master.as_raw_fd();
        libc::grantpt(raw) == 0
            && libc::unlockpt(raw) == 0
            && libc::ptsname_r(raw, name.as_mut_ptr(), name.len()) == 0
    };
    if !ok {
        return None;
    }
    // SAFETY: `ptsname_r` succeeded, so `name` holds a NUL-terminated path.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    let slave = rustix::fs::open(
        name,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    Some((master, slave))
}

#[test]
fn nonblock_on_a_terminal_is_emulated() {
    let Some((master, slave)) = pty() else {
        eprintln!("no pseudo-terminals here: skipped");
        return;
    };
    let host = rustix::io::dup(&slave).unwrap();
    let before = status_flags(host.as_fd());
    let mut sys = with_stdio(slave, devnull(), devnull());
    assert_eq!(
        sys.fd_fdstat_get(0).unwrap().fs_filetype,
        Filetype::CHARACTER_DEVICE
    );
    sys.fd_fdstat_set_flags(0, Fdflags::NONBLOCK).unwrap();
    assert_eq!(status_flags(host.as_fd()), before);

    let mut master = std::fs::File::from(master);
    let unblock = master.try_clone().unwrap();
    assert_eq!(
        read_without_blocking(&mut sys, 0, unblock),
        Err(Errno::AGAIN)
    );
    master.write_all(b"line\n").unwrap();
    // The line discipline hands the line over once it has it.
    let mut got = Err(Errno::AGAIN);
    for _ in 0..500 {
        got = read(&mut sys, 0);
        if got != Err(Errno::AGAIN) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(got.unwrap(), b"line\n");
    assert_eq!(status_flags(host.as_fd()), before);
}

#[test]
fn nonblock_on_a_socket_is_emulated() {
    let (guest, mut peer) = UnixStream::pair().unwrap();
    let host = rustix::io::dup(&guest).unwrap();
    let before = status_flags(host.as_fd());
    let mut sys = with_stdio(guest.into(), devnull(), devnull());
    sys.fd_fdstat_set_flags(0, Fdflags::NONBLOCK).unwrap();
    assert_eq!(status_flags(host.as_fd()), before);

    let unblock = peer.try_clone().unwrap();
    assert_eq!(
        read_without_blocking(&mut sys, 0, unblock),
        Err(Errno::AGAIN)
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        sys.sock_recv(0, &mut [IoSliceMut::new(&mut buf)], Riflags::empty()),
        Err(Errno::AGAIN)
    );
    peer.write_all(b"hi").unwrap();
    assert_eq!(read(&mut sys, 0).unwrap(), b"hi");
    assert_eq!(sys.fd_write(0, &[IoSlice::new(b"yo")]), Ok(2));
    let mut got = [0u8; 2];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"yo");
}

#[test]
fn append_on_a_file_is_emulated() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out");
    std::fs::write(&path, b"abc").unwrap();
    let file: OwnedFd = std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .into();
    let host = rustix::io::dup(&file).unwrap();
    let before = status_flags(host.as_fd());
    let mut sys = with_stdio(devnull(), file, devnull());

    sys.fd_fdstat_set_flags(1, Fdflags::APPEND).unwrap();
    assert_eq!(sys.fd_fdstat_get(1).unwrap().fs_flags, Fdflags::APPEND);
    assert_eq!(status_flags(host.as_fd()), before);
    // Written at the end, not over "abc" at offset 0.
    assert_eq!(sys.fd_write(1, &[IoSlice::new(b"xyz")]), Ok(3));
    assert_eq!(std::fs::read(&path).unwrap(), b"abcxyz");
    assert_eq!(
        sys.fd_write(1, &[IoSlice::new(b"1"), IoSlice::new(b"23")]),
        Ok(3)
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"abcxyz123");

    // As with `O_APPEND`, the offset moved to the end: the next write
    // without `append` goes there too.
    sys.fd_fdstat_set_flags(1, Fdflags::empty()).unwrap();
    assert_eq!(sys.fd_write(1, &[IoSlice::new(b"!")]), Ok(1));
    assert_eq!(std::fs::read(&path).unwrap(), b"abcxyz123!");
    assert_eq!(status_flags(host.as_fd()), before);
}

#[test]
fn flags_of_the_host_description_cannot_be_cleared() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("log");
    let file: OwnedFd = std::fs::File::options()
        .append(true)
        .create(true)
        .open(&path)
        .unwrap()
        .into();
    let mut sys = with_stdio(devnull(), file, devnull());
    assert_eq!(sys.fd_fdstat_get(1).unwrap().fs_flags, Fdflags::APPEND);
    assert_eq!(
        sys.fd_fdstat_set_flags(1, Fdflags::empty()),
        Err(Errno::NOTSUP)
    );
    sys.fd_fdstat_set_flags(1, Fdflags::APPEND | Fdflags::NONBLOCK)
        .unwrap();
    assert_eq!(
        sys.fd_fdstat_get(1).unwrap().fs_flags,
        Fdflags::APPEND | Fdflags::NONBLOCK
    );
    assert_eq!(
        sys.fd_fdstat_set_flags(1, Fdflags::SYNC),
        Err(Errno::NOTSUP)
    );
}

#[test]
fn the_process_streams_keep_their_flags() {
    let mut sys = UnixSystem::builder().build().unwrap();
    let stdout = rustix::stdio::stdout();
    let Ok(before) = rustix::fs::fcntl_getfl(stdout) else {
        eprintln!("stdout is not open: skipped");
        return;
    };
    // `append` only: a regression setting `O_NONBLOCK` on the test
    // process's stdout could break the terminal running the tests.
    sys.fd_fdstat_set_flags(1, Fdflags::APPEND).unwrap();
    assert_eq!(rustix::fs::fcntl_getfl(stdout).unwrap(), before);
    assert!(
        sys.fd_fdstat_get(1)
            .unwrap()
            .fs_flags
            .contains(Fdflags::APPEND)
    );
}

/// Inherited streams are inspected once and given to many systems; with
/// `without_stdin` the guest's stdin is empty whatever the process's is.
#[test]
fn inherited_stdio_without_stdin() {
    let stdio = wasi_unix::InheritedStdio::inspect()
        .unwrap()
        .without_stdin();
    for _ in 0..2 {
        let mut sys = UnixSystem::builder().inherit_stdio(&stdio).build().unwrap();
        assert_eq!(read(&mut sys, 0), Ok(Vec::new()));
        let stat = sys.fd_fdstat_get(0).unwrap();
        assert_eq!(stat.fs_filetype, Filetype::CHARACTER_DEVICE);
        assert!(stat.fs_rights_base.contains(Rights::FD_READ));
        assert!(!stat.fs_rights_base.contains(Rights::FD_WRITE));
        // Not open for writing: EBADF, as POSIX (spec/preview1.md).
        assert_eq!(sys.fd_write(0, &[IoSlice::new(b"x")]), Err(Errno::BADF));
        assert_eq!(
            sys.fd_filestat_get(0).unwrap().filetype,
            Filetype::CHARACTER_DEVICE
        );
    }
    // Without it, stdin is the process's, as with the default builder.
    let inherited = wasi_unix::InheritedStdio::inspect().unwrap();
    let mut ours = UnixSystem::builder()
        .inherit_stdio(&inherited)
        .build()
        .unwrap();
    let mut default = UnixSystem::builder().build().unwrap();
    for fd in 0..3 {
        assert_eq!(ours.fd_fdstat_get(fd), default.fd_fdstat_get(fd));
    }
}
