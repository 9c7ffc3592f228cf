//! Everything but the filesystem: the builder, stdio, clocks, randomness,
//! `poll_oneoff` and sockets.

mod common;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use common::{ROOT, Sandbox};
use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::UnixSystem;

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

fn devnull() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

#[test]
fn unix_system_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<UnixSystem>();
}

#[test]
fn args_and_environment() {
    let mut sys = UnixSystem::builder()
        .arg("prog")
        .arg(b"\xffbytes")
        .env("A", "1")
        .env("EMPTY", "")
        .build()
        .unwrap();
    assert_eq!(sys.args_sizes_get(), Ok((2, 5 + 7)));
    assert_eq!(sys.args_get().unwrap().as_bytes(), b"prog\0\xffbytes\0");
    assert_eq!(sys.environ_get().unwrap().as_bytes(), b"A=1\0EMPTY=\0");

    let kind = |b: &mut wasi_unix::Builder| b.build().unwrap_err().kind();
    assert_eq!(
        kind(UnixSystem::builder().arg("a\0b")),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(UnixSystem::builder().env("K", "v\0")),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(UnixSystem::builder().env("K=", "v")),
        std::io::ErrorKind::InvalidInput
    );
}

#[test]
fn preopen_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let mut builder = UnixSystem::builder();
    let err = builder.preopen_dir(&file, "/f").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    assert!(
        builder
            .preopen_dir(tmp.path().join("missing"), "/m")
            .is_err()
    );
    let err = builder.preopen_socket(devnull()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
    // Order: stdio, directories in order, then sockets.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sys = UnixSystem::builder()
        .preopen_socket(OwnedFd::from(listener))
        .unwrap()
        .preopen_dir(tmp.path(), "/a")
        .unwrap()
        .preopen_dir(tmp.path(), "/b")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(sys.fd_prestat_dir_name(3), Ok("/a"));
    assert_eq!(sys.fd_prestat_dir_name(4), Ok("/b"));
    assert_eq!(
        sys.fd_fdstat_get(5).unwrap().fs_filetype,
        Filetype::SOCKET_STREAM
    );
    assert_eq!(
        sys.fd_fdstat_get(5).unwrap().fs_rights_base,
        Rights::LISTENER
    );
    assert_eq!(sys.fd_prestat_get(5), Err(Errno::BADF));
}

#[test]
fn stdio_types_and_io() {
    let tmp = tempfile::tempdir().unwrap();
    let file: OwnedFd = std::fs::File::create(tmp.path().join("out"))
        .unwrap()
        .into();
    let (in_read, in_write) = pipe();
    let (out_read, out_write) = pipe();
    let mut sys = UnixSystem::builder()
        .stdio(in_read, out_write, file)
        .build()
        .unwrap();
    let stdin = sys.fd_fdstat_get(0).unwrap();
    // The rights of the type, as the descriptors are open: `spec/preview1.md`.
    assert_eq!(stdin.fs_filetype, Filetype::UNKNOWN);
    assert_eq!(
        stdin.fs_rights_base,
        Rights::CHARACTER_DEVICE - Rights::FD_WRITE
    );
    let stderr = sys.fd_fdstat_get(2).unwrap();
    assert_eq!(stderr.fs_filetype, Filetype::REGULAR_FILE);
    assert_eq!(
        stderr.fs_rights_base,
        Rights::REGULAR_FILE - Rights::FD_READ
    );

    rustix::io::write(&in_write, b"input").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(sys.fd_read(0, &mut [IoSliceMut::new(&mut buf)]), Ok(5));
    assert_eq!(&buf[..5], b"input");
    assert_eq!(sys.fd_write(1, &[IoSlice::new(b"output")]), Ok(6));
    assert_eq!(rustix::io::read(&out_read, &mut buf), Ok(6));
    assert_eq!(sys.fd_seek(1, 0, Whence::SET), Err(Errno::NOTCAPABLE));
    sys.fd_write(2, &[IoSlice::new(b"err")]).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("out")).unwrap(), b"err");

    // Non-blocking stdin: EAGAIN rather than waiting.
    sys.fd_fdstat_set_flags(0, Fdflags::NONBLOCK).unwrap();
    assert_eq!(
        sys.fd_read(0, &mut [IoSliceMut::new(&mut buf)]),
        Err(Errno::AGAIN)
    );
    // Closing the guest's stdout closes our pipe's write end: EOF.
    sys.fd_close(1).unwrap();
    assert_eq!(rustix::io::read(&out_read, &mut buf), Ok(0));
}

#[test]
fn default_stdio_is_not_closed() {
    let mut sys = UnixSystem::builder().build().unwrap();
    for fd in 0..3 {
        let open = rustix::io::fcntl_getfd(process_stdio(fd)).is_ok();
        match sys.fd_close(fd) {
            Ok(()) => assert!(open),
            Err(errno) => panic!("closing {fd}: {errno:?}"),
        }
        // The process's descriptor is as open (or not) as before.
        assert_eq!(rustix::io::fcntl_getfd(process_stdio(fd)).is_ok(), open);
    }
    drop(sys);
    assert!(rustix::io::fcntl_getfd(std::io::stderr().as_fd()).is_ok());
}

/// The process's standard stream `fd`, borrowed.
fn process_stdio(fd: Fd) -> std::os::fd::BorrowedFd<'static> {
    match fd {
        0 => rustix::stdio::stdin(),
        1 => rustix::stdio::stdout(),
        _ => rustix::stdio::stderr(),
    }
}

#[test]
fn clocks_random_and_misc() {
    let mut sys = UnixSystem::builder().build().unwrap();
    for id in [
        Clockid::REALTIME,
        Clockid::MONOTONIC,
        Clockid::PROCESS_CPUTIME_ID,
        Clockid::THREAD_CPUTIME_ID,
    ] {
        let res = sys.clock_res_get(id).unwrap();
        assert!(res > 0 && res <= 1_000_000, "{id:?}: {res}");
        sys.clock_time_get(id, 0).unwrap();
    }
    assert_eq!(sys.clock_time_get(Clockid(9), 0), Err(Errno::INVAL));
    assert_eq!(sys.clock_res_get(Clockid(9)), Err(Errno::INVAL));
    let a = sys.clock_time_get(Clockid::MONOTONIC, 0).unwrap();
    let b = sys.clock_time_get(Clockid::MONOTONIC, 0).unwrap();
    assert!(b >= a);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let real = sys.clock_time_get(Clockid::REALTIME, 0).unwrap();
    assert!(real.abs_diff(now) < 10_000_000_000);

    let mut buf = [0u8; 64];
    sys.random_get(&mut buf).unwrap();
    assert_ne!(buf, [0; 64]);
    sys.random_get(&mut []).unwrap();
    sys.sched_yield().unwrap();
    sys.proc_raise(Signal::TERM).unwrap();
}

fn clock(userdata: u64, id: Clockid, timeout: Timestamp, flags: Subclockflags) -> Subscription {
    Subscription::new(
        userdata,
        SubscriptionKind::Clock(SubscriptionClock {
            id,
            timeout,
            flags,
            ..Default::default()
        }),
    )
}

fn poll(sys: &mut UnixSystem, subs: &[Subscription]) -> Vec<Event> {
    let mut events = vec![Event::default(); subs.len()];
    let n = sys.poll_oneoff(subs, &mut events).unwrap();
    events.truncate(n as usize);
    events
}

#[test]
fn poll_clocks() {
    let mut sys = UnixSystem::builder().build().unwrap();
    let start = Instant::now();
    let events = poll(
        &mut sys,
        &[clock(
            7,
            Clockid::MONOTONIC,
            20_000_000,
            Subclockflags::empty(),
        )],
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].userdata, events[0].error, events[0].r#type),
        (7, Errno::SUCCESS, Eventtype::CLOCK)
    );

    // Absolute deadlines: in the past fires at once, realtime works.
    let now = sys.clock_time_get(Clockid::REALTIME, 0).unwrap();
    let start = Instant::now();
    let events = poll(
        &mut sys,
        &[
            clock(
                1,
                Clockid::REALTIME,
                now + 10_000_000,
                Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME,
            ),
            clock(
                2,
                Clockid::MONOTONIC,
                10_000_000_000,
                Subclockflags::empty(),
            ),
        ],
    );
    assert!(start.elapsed() >= Duration::from_millis(9));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(events.iter().map(|e| e.userdata).collect::<Vec<_>>(), [1]);
    let events = poll(
        &mut sys,
        &[clock(
            3,
            Clockid::MONOTONIC,
            1,
            Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME,
        )],
    );
    assert_eq!(events[0].userdata, 3);

    // CPU-time clocks cannot be waited on; unknown clocks are invalid.
    let events = poll(
        &mut sys,
        &[
            clock(4, Clockid::PROCESS_CPUTIME_ID, 1, Subclockflags::empty()),
            clock(5, Clockid(42), 1, Subclockflags::empty()),
        ],
    );
    let errors: Vec<_> = events.iter().map(|e| (e.userdata, e.error)).collect();
    assert_eq!(errors, [(4, Errno::NOTSUP), (5, Errno::INVAL)]);
}

#[test]
fn poll_descriptors() {
    let (in_read, in_write) = pipe();
    let (_out_read, out_write) = pipe();
    let mut sb = Sandbox::new();
    sb.create("f", b"12345");
    let file = sb
        .open(
            "f",
            Oflags::empty(),
            Rights::FD_READ | Rights::POLL_FD_READWRITE,
        )
        .unwrap();
    let mut sys = UnixSystem::builder()
        .stdio(in_read, out_write, devnull())
        .build()
        .unwrap();

    // Nothing to read yet: the write end is ready, and the timeout is not reached.
    let subs = [
        Subscription::new(1, SubscriptionKind::FdRead(0)),
        Subscription::new(2, SubscriptionKind::FdWrite(1)),
        clock(3, Clockid::MONOTONIC, 5_000_000_000, Subclockflags::empty()),
    ];
    let events = poll(&mut sys, &subs);
    assert_eq!(events.iter().map(|e| e.userdata).collect::<Vec<_>>(), [2]);

    // Readable with the count of bytes waiting.
    rustix::io::write(&in_write, b"abc").unwrap();
    let events = poll(&mut sys, &subs[..1]);
    assert_eq!((events[0].userdata, events[0].nbytes), (1, 3));
    assert_eq!(events[0].flags, Eventrwflags::empty());

    // Hang-up when the writer goes away.
    drop(in_write);
    let mut buf = [0u8; 8];
    sys.fd_read(0, &mut [IoSliceMut::new(&mut buf)]).unwrap();
    let events = poll(&mut sys, &subs[..1]);
    assert_eq!(events[0].flags, Eventrwflags::FD_READWRITE_HANGUP);

    // A bad descriptor gives an event with the error, not a failed call;
    // other subscriptions are still served, without waiting.
    let start = Instant::now();
    let events = poll(
        &mut sys,
        &[
            Subscription::new(8, SubscriptionKind::FdRead(99)),
            Subscription::new(9, SubscriptionKind::FdWrite(1)),
            clock(
                10,
                Clockid::MONOTONIC,
                5_000_000_000,
                Subclockflags::empty(),
            ),
        ],
    );
    assert!(start.elapsed() < Duration::from_secs(4));
    let got: Vec<_> = events.iter().map(|e| (e.userdata, e.error)).collect();
    assert_eq!(got, [(8, Errno::BADF), (9, Errno::SUCCESS)]);

    // Regular files are always ready; nbytes is what is left to read.
    let events = poll(
        &mut sb.sys,
        &[Subscription::new(4, SubscriptionKind::FdRead(file))],
    );
    assert_eq!((events[0].userdata, events[0].nbytes), (4, 5));
    // Without the poll right: ENOTCAPABLE in the event.
    let ro = sb.open("f", Oflags::empty(), Rights::FD_READ).unwrap();
    let events = poll(
        &mut sb.sys,
        &[Subscription::new(5, SubscriptionKind::FdRead(ro))],
    );
    assert_eq!(events[0].error, Errno::NOTCAPABLE);
}

#[test]
fn sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut sb_dir = Sandbox::new();
    sb_dir.create("f", b"");
    let file = sb_dir.open("f", Oflags::empty(), Rights::all()).unwrap();
    let mut sys = UnixSystem::builder()
        .preopen_socket(OwnedFd::from(listener))
        .unwrap()
        .build()
        .unwrap();
    let lfd = 3;

    // Accepting on a non-blocking listener with nobody waiting.
    sys.fd_fdstat_set_flags(lfd, Fdflags::NONBLOCK).unwrap();
    assert_eq!(sys.sock_accept(lfd, Fdflags::empty()), Err(Errno::AGAIN));
    sys.fd_fdstat_set_flags(lfd, Fdflags::empty()).unwrap();
    assert_eq!(sys.sock_accept(lfd, Fdflags::APPEND), Err(Errno::INVAL));

    let mut peer = TcpStream::connect(addr).unwrap();
    let conn = sys.sock_accept(lfd, Fdflags::empty()).unwrap();
    let stat = sys.fd_fdstat_get(conn).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::SOCKET_STREAM);
    assert_eq!(stat.fs_rights_base, Rights::SOCKET);
    assert_eq!(stat.fs_flags, Fdflags::empty());
    assert_eq!(
        sys.sock_accept(conn, Fdflags::empty()),
        Err(Errno::NOTCAPABLE)
    );

    peer.write_all(b"hello world").unwrap();
    let mut buf = [0u8; 5];
    let (n, flags) = sys
        .sock_recv(conn, &mut [IoSliceMut::new(&mut buf)], Riflags::RECV_PEEK)
        .unwrap();
    assert_eq!((n, &buf, flags), (5, b"hello", Roflags::empty()));
    let mut all = [0u8; 11];
    let (n, _) = sys
        .sock_recv(
            conn,
            &mut [IoSliceMut::new(&mut all)],
            Riflags::RECV_WAITALL,
        )
        .unwrap();
    assert_eq!((n, &all), (11, b"hello world"));

    assert_eq!(
        sys.sock_send(conn, &[IoSlice::new(b"pong")], Siflags::empty()),
        Ok(4)
    );
    assert_eq!(sys.fd_write(conn, &[IoSlice::new(b"!")]), Ok(1));
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong!");
    peer.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    assert_eq!(sys.fd_read(conn, &mut [IoSliceMut::new(&mut one)]), Ok(1));

    sys.sock_shutdown(conn, Sdflags::WR).unwrap();
    assert_eq!(peer.read(&mut got).unwrap(), 0);
    // The peer closes: writes give EPIPE (or ECONNRESET), never SIGPIPE.
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    let err = sys
        .sock_send(conn, &[IoSlice::new(b"late")], Siflags::empty())
        .unwrap_err();
    assert!(matches!(err, Errno::PIPE | Errno::CONNRESET), "{err:?}");

    // `flags` are those of the accepted socket.
    let _peer2 = TcpStream::connect(addr).unwrap();
    let conn2 = sys.sock_accept(lfd, Fdflags::NONBLOCK).unwrap();
    assert_eq!(
        sys.fd_fdstat_get(conn2).unwrap().fs_flags,
        Fdflags::NONBLOCK
    );
    assert_eq!(
        sys.sock_recv(conn2, &mut [IoSliceMut::new(&mut buf)], Riflags::empty()),
        Err(Errno::AGAIN)
    );

    // Socket calls on non-sockets.
    assert_eq!(
        sb_dir.sys.sock_accept(file, Fdflags::empty()),
        Err(Errno::NOTSOCK)
    );
    assert_eq!(
        sb_dir
            .sys
            .sock_recv(file, &mut [IoSliceMut::new(&mut buf)], Riflags::empty()),
        Err(Errno::NOTSOCK)
    );
    assert_eq!(
        sb_dir
            .sys
            .sock_send(file, &[IoSlice::new(b"x")], Siflags::empty()),
        Err(Errno::NOTSOCK)
    );
    assert_eq!(
        sb_dir.sys.sock_shutdown(ROOT, Sdflags::RD),
        Err(Errno::NOTSOCK)
    );
    assert_eq!(sys.sock_shutdown(42, Sdflags::RD), Err(Errno::BADF));
}
