//! Live descriptors: host descriptors an extension inserts while the guest
//! runs (`VirtualFds::insert_host`), and virtual files whose readiness is a
//! host descriptor (`VirtualFile::ready_fd`), under each I/O backend.

use std::io::{IoSliceMut, PipeReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use wasi_core::System;
use wasi_core::types::*;
use wasi_core::vfs::{VirtualFds, VirtualFile};
use wasi_unix::{IoBackend, UnixSystem};

const MS: Timestamp = 1_000_000;

/// `Sync` and `Uring`; where the kernel refuses io_uring, `Sync` only.
fn backends() -> Vec<IoBackend> {
    match UnixSystem::builder().io(IoBackend::Uring).build() {
        Ok(_) => vec![IoBackend::Sync, IoBackend::Uring],
        Err(err) => {
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
            eprintln!("io_uring unavailable, testing the sync backend only: {err}");
            vec![IoBackend::Sync]
        }
    }
}

fn system(backend: IoBackend) -> UnixSystem {
    let sys = UnixSystem::builder().io(backend).build().unwrap();
    assert_eq!(sys.io_backend(), backend);
    sys
}

/// Waits for `fd` to be readable (userdata 1) or `timeout` to pass
/// (userdata 2).
fn poll_read(sys: &mut UnixSystem, fd: Fd, timeout: Timestamp) -> Vec<Event> {
    let subs = [
        Subscription::new(1, SubscriptionKind::FdRead(fd)),
        Subscription::new(
            2,
            SubscriptionKind::Clock(SubscriptionClock {
                id: Clockid::MONOTONIC,
                timeout,
                ..Default::default()
            }),
        ),
    ];
    let mut events = [Event::default(); 2];
    let n = sys.poll_oneoff(&subs, &mut events).unwrap();
    events[..n as usize].to_vec()
}

fn userdata(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.userdata).collect()
}

fn read(sys: &mut UnixSystem, fd: Fd) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)]).unwrap();
    buf[..n as usize].to_vec()
}

#[test]
fn inserted_tcp_socket_is_polled_and_read() {
    for backend in backends() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let mut sys = system(backend);

        let fd = sys
            .insert_host(OwnedFd::from(client), Rights::all(), Rights::all())
            .unwrap();
        assert_eq!(fd, 3, "the lowest free number");
        let stat = sys.fd_fdstat_get(fd).unwrap();
        assert_eq!(stat.fs_filetype, Filetype::SOCKET_STREAM);
        assert_eq!(stat.fs_rights_base, Rights::SOCKET, "{backend}");
        assert_eq!(stat.fs_rights_inheriting, Rights::empty());

        // Nothing sent yet: only the timeout.
        assert_eq!(userdata(&poll_read(&mut sys, fd, 20 * MS)), [2]);

        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            peer.write_all(b"hello").unwrap();
            peer
        });
        let start = Instant::now();
        let events = poll_read(&mut sys, fd, 10_000 * MS);
        assert!(start.elapsed() >= Duration::from_millis(40), "{backend}");
        assert_eq!(userdata(&events), [1], "{backend}");
        assert_eq!(events[0].error, Errno::SUCCESS);
        assert_eq!(events[0].nbytes, 5, "FIONREAD of the socket");
        assert_eq!(read(&mut sys, fd), b"hello");
        let mut peer = writer.join().unwrap();

        // The peer closes: a hang-up.
        peer.flush().unwrap();
        drop(peer);
        let events = poll_read(&mut sys, fd, 10_000 * MS);
        assert_eq!(userdata(&events), [1], "{backend}");
        assert_eq!(read(&mut sys, fd), b"");
        sys.fd_close(fd).unwrap();
    }
}

#[test]
fn inserted_descriptors_get_the_rights_of_their_type() {
    let mut sys = system(IoBackend::Sync);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = sys
        .insert_host(OwnedFd::from(listener), Rights::all(), Rights::all())
        .unwrap();
    let stat = sys.fd_fdstat_get(fd).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::SOCKET_STREAM);
    assert_eq!(stat.fs_rights_base, Rights::LISTENER);

    let (datagram, _peer) = UnixDatagram::pair().unwrap();
    let dgram = sys
        .insert_host(OwnedFd::from(datagram), Rights::all(), Rights::empty())
        .unwrap();
    assert_eq!(dgram, fd + 1);
    let stat = sys.fd_fdstat_get(dgram).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::SOCKET_DGRAM);
    assert_eq!(stat.fs_rights_base, Rights::SOCKET);

    // A pipe is a stream (WASI calls its type `unknown`), and the rights
    // asked for are a ceiling too.
    let (reader, _writer) = std::io::pipe().unwrap();
    let asked = Rights::FD_READ | Rights::POLL_FD_READWRITE | Rights::PATH_OPEN;
    let pipe = sys
        .insert_host(OwnedFd::from(reader), asked, Rights::all())
        .unwrap();
    let stat = sys.fd_fdstat_get(pipe).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::UNKNOWN);
    assert_eq!(
        stat.fs_rights_base,
        Rights::FD_READ | Rights::POLL_FD_READWRITE
    );
    assert_eq!(stat.fs_rights_inheriting, Rights::empty());

    // Numbers are reused, lowest first.
    sys.fd_close(fd).unwrap();
    let (stream, _peer) = UnixStream::pair().unwrap();
    let again = sys
        .insert_host(OwnedFd::from(stream), Rights::all(), Rights::empty())
        .unwrap();
    assert_eq!(again, fd);

    // A directory keeps the pseudo-filesystem rules of preopens.
    let proc = std::fs::File::open("/proc").unwrap();
    assert_eq!(
        sys.insert_host(OwnedFd::from(proc), Rights::all(), Rights::all()),
        Err(Errno::NOTCAPABLE)
    );
}

/// A request body still arriving: its bytes come through a pipe, whose read
/// end is also its readiness.
struct Body(PipeReader);

impl VirtualFile for Body {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }

    fn filestat(&mut self) -> wasi_core::system::Result<Filestat> {
        Ok(Filestat::default())
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> wasi_core::system::Result<Size> {
        self.0
            .read_vectored(iovs)
            .map(|n| n as Size)
            .map_err(|_| Errno::IO)
    }

    fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.as_fd())
    }
}

/// A virtual file without a readiness descriptor.
struct Always;

impl VirtualFile for Always {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }

    fn filestat(&mut self) -> wasi_core::system::Result<Filestat> {
        Ok(Filestat::default())
    }
}

#[test]
fn virtual_file_readiness_is_its_descriptor() {
    for backend in backends() {
        let mut sys = system(backend);
        let (reader, mut writer) = std::io::pipe().unwrap();
        let rights = Rights::FD_READ | Rights::POLL_FD_READWRITE;
        let fd = sys
            .insert_virtual(Box::new(Body(reader)), rights, Rights::empty())
            .unwrap();

        // Nothing written: the clock alone, after its full second.
        let start = Instant::now();
        assert_eq!(userdata(&poll_read(&mut sys, fd, 1_000 * MS)), [2]);
        assert!(start.elapsed() >= Duration::from_millis(990), "{backend}");

        // A byte arrives: the file alone, without waiting.
        writer.write_all(b"x").unwrap();
        let start = Instant::now();
        let events = poll_read(&mut sys, fd, 1_000 * MS);
        assert!(start.elapsed() < Duration::from_millis(500), "{backend}");
        assert_eq!(userdata(&events), [1], "{backend}");
        assert_eq!(events[0].error, Errno::SUCCESS);
        assert_eq!(events[0].nbytes, 0);
        assert!(events[0].flags.is_empty());
        // Level-triggered: still ready until read.
        assert_eq!(userdata(&poll_read(&mut sys, fd, 1_000 * MS)), [1]);
        assert_eq!(read(&mut sys, fd), b"x");
        assert_eq!(userdata(&poll_read(&mut sys, fd, 20 * MS)), [2]);

        // The producer is done: a hang-up.
        drop(writer);
        let events = poll_read(&mut sys, fd, 1_000 * MS);
        assert_eq!(userdata(&events), [1], "{backend}");
        assert_eq!(events[0].flags, Eventrwflags::FD_READWRITE_HANGUP);

        // Closed, the number goes to a new file with a new pipe, which is
        // waited on instead of the old one.
        sys.fd_close(fd).unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        let again = sys
            .insert_virtual(Box::new(Body(reader)), rights, Rights::empty())
            .unwrap();
        assert_eq!(again, fd);
        assert_eq!(userdata(&poll_read(&mut sys, fd, 20 * MS)), [2]);
        writer.write_all(b"y").unwrap();
        assert_eq!(userdata(&poll_read(&mut sys, fd, 1_000 * MS)), [1]);

        // Without a readiness descriptor a virtual file is always ready.
        let always = sys
            .insert_virtual(Box::new(Always), rights, Rights::empty())
            .unwrap();
        assert_eq!(userdata(&poll_read(&mut sys, always, 1_000 * MS)), [1]);
    }
}
