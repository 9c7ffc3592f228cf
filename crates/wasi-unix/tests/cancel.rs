//! A cancelled system's blocking socket calls end with `ECANCELED`
//! (`spec/preview1.md`, "Cancellation"): a read, a `MSG_WAITALL` receive,
//! a write that found the socket full, an accept and a connect, each on a
//! real socket, each waiting when the canceller fires. Calls that need not
//! wait are made as before, and only waits go through the canceller's
//! `wait_through`.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::{Canceller, UnixSystem};

/// The first preopened socket's descriptor.
const FD: Fd = 3;

/// A system with `socket` preopened at [`FD`], allowed to connect to
/// loopback, and its canceller.
fn system(socket: impl Into<OwnedFd>) -> (UnixSystem, Canceller) {
    let mut builder = UnixSystem::builder();
    builder
        .preopen_socket(socket.into())
        .unwrap()
        .allow_connect("127.0.0.1:*".parse().unwrap());
    let mut sys = builder.build().unwrap();
    let canceller = sys.canceller();
    (sys, canceller)
}

/// Cancels `canceller` 100 ms from now, on another thread.
fn cancel_soon(canceller: &Canceller) -> std::thread::JoinHandle<()> {
    let canceller = canceller.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        canceller.cancel();
    })
}

/// Runs `call`, which must wait until cancelled, and checks that it ended
/// soon after the cancel with what it returned.
fn cancelled<T: std::fmt::Debug + PartialEq>(
    canceller: &Canceller,
    expected: T,
    call: impl FnOnce() -> T,
) {
    let canceller_thread = cancel_soon(canceller);
    let started = Instant::now();
    assert_eq!(call(), expected);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(5),
        "ended after {took:?}"
    );
    canceller_thread.join().unwrap();
}

#[test]
fn a_blocked_read_ends_with_ecanceled() {
    let (guest, mut peer) = UnixStream::pair().unwrap();
    let (mut sys, canceller) = system(guest);
    // Data that is there is read without waiting.
    peer.write_all(b"hi").unwrap();
    let mut buf = [0; 8];
    assert_eq!(sys.fd_read(FD, &mut [IoSliceMut::new(&mut buf)]), Ok(2));
    cancelled(&canceller, Err(Errno::CANCELED), || {
        sys.fd_read(FD, &mut [IoSliceMut::new(&mut buf)])
    });
    // Every later call that would wait ends at once; one that need not
    // wait still succeeds.
    let started = Instant::now();
    assert_eq!(
        sys.sock_recv(FD, &mut [IoSliceMut::new(&mut buf)], Riflags::empty()),
        Err(Errno::CANCELED)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    peer.write_all(b"late").unwrap();
    assert_eq!(sys.fd_read(FD, &mut [IoSliceMut::new(&mut buf)]), Ok(4));
    // The peer's end still reads as end-of-file.
    drop(peer);
    assert_eq!(sys.fd_read(FD, &mut [IoSliceMut::new(&mut buf)]), Ok(0));
}

#[test]
fn a_waitall_receive_returns_what_came_before_the_cancel() {
    let (guest, mut peer) = UnixStream::pair().unwrap();
    let (mut sys, canceller) = system(guest);
    // Two parts of one buffer, sent apart, fill it as one receive.
    let writer = std::thread::spawn(move || {
        peer.write_all(b"abc").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        peer.write_all(b"def").unwrap();
        peer
    });
    let mut buf = [0; 6];
    assert_eq!(
        sys.sock_recv(FD, &mut [IoSliceMut::new(&mut buf)], Riflags::RECV_WAITALL),
        Ok((6, Roflags::empty()))
    );
    assert_eq!(&buf, b"abcdef");
    let mut peer = writer.join().unwrap();
    // Cancelled part way: what came is returned.
    peer.write_all(b"xy").unwrap();
    let mut buf = [0; 6];
    cancelled(&canceller, Ok((2, Roflags::empty())), || {
        sys.sock_recv(FD, &mut [IoSliceMut::new(&mut buf)], Riflags::RECV_WAITALL)
    });
    assert_eq!(&buf[..2], b"xy");
}

#[test]
fn a_write_to_a_full_socket_returns_what_was_sent_at_the_cancel() {
    let (guest, mut peer) = UnixStream::pair().unwrap();
    let (mut sys, canceller) = system(guest);
    // 64 MiB is far more than the socket's buffers: the write sends part,
    // then waits for room until cancelled.
    let data = vec![7u8; 64 << 20];
    let canceller_thread = cancel_soon(&canceller);
    let sent = sys.fd_write(FD, &[IoSlice::new(&data)]).unwrap() as usize;
    canceller_thread.join().unwrap();
    assert!(sent > 0 && sent < data.len(), "{sent}");
    // What was sent arrives whole.
    drop(sys);
    let mut received = Vec::new();
    peer.read_to_end(&mut received).unwrap();
    assert_eq!(received.len(), sent);
    // A write that has nothing to send before the cancel fails.
    let (guest, _peer) = UnixStream::pair().unwrap();
    let (mut sys, canceller) = system(guest);
    canceller.cancel();
    let mut total = 0;
    let error = loop {
        match sys.sock_send(FD, &[IoSlice::new(&data[..1 << 20])], Siflags::empty()) {
            Ok(n) => total += n as usize,
            Err(errno) => break errno,
        }
        assert!(total < data.len(), "the socket never filled");
    };
    assert_eq!(error, Errno::CANCELED);
}

#[test]
fn a_write_that_has_room_sends_everything_without_waiting() {
    let (guest, mut peer) = UnixStream::pair().unwrap();
    let (mut sys, canceller) = system(guest);
    let waits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&waits);
    canceller.wait_through(move |wait| {
        counted.fetch_add(1, Ordering::Relaxed);
        wait()
    });
    // A write with room does not wait.
    assert_eq!(sys.fd_write(FD, &[IoSlice::new(b"x")]), Ok(1));
    assert_eq!(waits.load(Ordering::Relaxed), 0);
    // 4 MiB takes several rounds of the socket's buffers: the write
    // waits for the reader between them, and returns only when all went.
    let data: Vec<u8> = (0..4 << 20).map(|i| i as u8).collect();
    let reader = std::thread::spawn(move || {
        let mut received = Vec::new();
        peer.read_to_end(&mut received).unwrap();
        received
    });
    assert_eq!(
        sys.fd_write(FD, &[IoSlice::new(&data[..1]), IoSlice::new(&data[1..])]),
        Ok(data.len() as Size)
    );
    assert!(waits.load(Ordering::Relaxed) > 0);
    drop(sys);
    let received = reader.join().unwrap();
    assert_eq!(received.len(), 1 + data.len());
    assert_eq!(&received[1..], &data[..]);
}

#[test]
fn a_blocked_accept_ends_with_ecanceled() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (mut sys, canceller) = system(listener);
    // A connection waiting is accepted at once.
    let _client = TcpStream::connect(addr).unwrap();
    let accepted = sys.sock_accept(FD, Fdflags::empty()).unwrap();
    assert!(accepted > FD);
    cancelled(&canceller, Err(Errno::CANCELED), || {
        sys.sock_accept(FD, Fdflags::empty())
    });
}

#[test]
fn a_blocked_connect_ends_with_ecanceled() {
    // A listener whose backlog is full: the kernel drops further SYNs,
    // and a connect to it waits.
    let listener = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    rustix::net::bind(&listener, &any).unwrap();
    rustix::net::listen(&listener, 0).unwrap();
    let addr = SocketAddr::try_from(rustix::net::getsockname(&listener).unwrap()).unwrap();
    let mut fill = Vec::new();
    let (mut sys, canceller) = loop {
        // Connections complete until the backlog is full; the next one
        // waits: give that one to the guest.
        let socket = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        match socket {
            Ok(socket) => fill.push(socket),
            Err(_) => {
                let (mut sys, canceller) = system(UnixStream::pair().unwrap().0);
                let fd = sys
                    .sock_open(AddressFamily::INET4, SockType::STREAM)
                    .unwrap();
                assert_eq!(fd, FD + 1);
                break (sys, canceller);
            }
        }
        assert!(fill.len() < 64, "the backlog never filled");
    };
    cancelled(&canceller, Err(Errno::CANCELED), || {
        sys.sock_connect(FD + 1, addr)
    });
    // The socket was left blocking, as the guest made it.
    assert_eq!(
        sys.fd_fdstat_get(FD + 1).unwrap().fs_flags & Fdflags::NONBLOCK,
        Fdflags::empty()
    );
}

#[test]
fn a_non_blocking_socket_still_gives_eagain() {
    let (guest, _peer) = UnixStream::pair().unwrap();
    let (mut sys, _canceller) = system(guest);
    sys.fd_fdstat_set_flags(FD, Fdflags::NONBLOCK).unwrap();
    let mut buf = [0; 8];
    assert_eq!(
        sys.fd_read(FD, &mut [IoSliceMut::new(&mut buf)]),
        Err(Errno::AGAIN)
    );
}
