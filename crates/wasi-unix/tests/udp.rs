//! Datagram sockets reach only what a rule grants, both ways: a datagram
//! from a sender no connect rule allows is never received, unless the guest
//! bound the socket itself under a bind rule (`spec/sockets.md`,
//! "Permissions"). Real UDP on loopback.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::{AddrRule, UnixSystem};

/// A UDP socket on a free loopback port.
fn peer() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn rule(addr: SocketAddr) -> AddrRule {
    addr.to_string().parse().unwrap()
}

/// A system allowed to connect (and send) to `granted` only, and a UDP
/// socket it opened.
fn client(granted: SocketAddr) -> (UnixSystem, Fd) {
    let mut sys = UnixSystem::builder()
        .allow_connect(rule(granted))
        .build()
        .unwrap();
    let fd = sys
        .sock_open(AddressFamily::INET4, SockType::DGRAM)
        .unwrap();
    (sys, fd)
}

fn recv_from(
    sys: &mut UnixSystem,
    fd: Fd,
    flags: Riflags,
) -> Result<(Vec<u8>, Option<SocketAddr>), Errno> {
    let mut buf = [0u8; 64];
    let (n, _, source) = sys.sock_recv_from(fd, &mut [IoSliceMut::new(&mut buf)], flags)?;
    Ok((buf[..n as usize].to_vec(), source))
}

/// Waits until `fd` is readable, which it is as soon as a datagram is
/// queued, whoever sent it.
fn wait_readable(sys: &mut UnixSystem, fd: Fd) {
    let subs = [
        Subscription::new(1, SubscriptionKind::FdRead(fd)),
        Subscription::new(
            2,
            SubscriptionKind::Clock(SubscriptionClock {
                id: Clockid::MONOTONIC,
                timeout: 5_000_000_000,
                ..Default::default()
            }),
        ),
    ];
    let mut events = [Event::default(); 2];
    let n = sys.poll_oneoff(&subs, &mut events).unwrap();
    assert_eq!(events[..n as usize][0].userdata, 1, "nothing arrived");
}

#[test]
fn only_granted_senders_are_received() {
    let (server, server_addr) = peer();
    let (intruder, _) = peer();
    let (mut sys, fd) = client(server_addr);

    assert_eq!(
        sys.sock_send_to(fd, &[IoSlice::new(b"ping")], Siflags::empty(), server_addr),
        Ok(4)
    );
    let mut buf = [0u8; 16];
    let (n, guest) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    // Bound by the host before sending, to loopback since the destination
    // is there: not reachable from other hosts.
    assert_eq!(guest.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(sys.sock_getlocaladdr(fd), Ok(guest));

    // The intruder's datagram is dropped; the server's, sent after it, is
    // received.
    intruder.send_to(b"evil", guest).unwrap();
    server.send_to(b"pong", guest).unwrap();
    assert_eq!(
        recv_from(&mut sys, fd, Riflags::empty()),
        Ok((b"pong".to_vec(), Some(server_addr)))
    );

    // `sock_recv` and `fd_read` go through the same check.
    intruder.send_to(b"evil", guest).unwrap();
    server.send_to(b"one", guest).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = sys
        .sock_recv(fd, &mut [IoSliceMut::new(&mut buf)], Riflags::empty())
        .unwrap();
    assert_eq!(&buf[..n as usize], b"one");
    intruder.send_to(b"evil", guest).unwrap();
    server.send_to(b"two", guest).unwrap();
    let n = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)]).unwrap();
    assert_eq!(&buf[..n as usize], b"two");
}

#[test]
fn dropped_datagrams_leave_nothing_to_receive() {
    let (server, server_addr) = peer();
    let (intruder, _) = peer();
    let (mut sys, fd) = client(server_addr);
    sys.sock_send_to(fd, &[IoSlice::new(b"ping")], Siflags::empty(), server_addr)
        .unwrap();
    let guest = sys.sock_getlocaladdr(fd).unwrap();
    sys.fd_fdstat_set_flags(fd, Fdflags::NONBLOCK).unwrap();

    // Only a forbidden datagram is queued: a non-blocking receive finds
    // nothing, through every call, peeking or not.
    for flags in [Riflags::RECV_PEEK, Riflags::empty()] {
        intruder.send_to(b"evil", guest).unwrap();
        wait_readable(&mut sys, fd);
        assert_eq!(recv_from(&mut sys, fd, flags), Err(Errno::AGAIN));
    }
    intruder.send_to(b"evil", guest).unwrap();
    wait_readable(&mut sys, fd);
    let mut buf = [0u8; 16];
    assert_eq!(
        sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)]),
        Err(Errno::AGAIN)
    );

    // Peeking past a forbidden datagram shows the granted one behind it,
    // and leaves it to be received.
    intruder.send_to(b"evil", guest).unwrap();
    server.send_to(b"pong", guest).unwrap();
    wait_readable(&mut sys, fd);
    let pong = Ok((b"pong".to_vec(), Some(server_addr)));
    let mut peeked = recv_from(&mut sys, fd, Riflags::RECV_PEEK);
    for _ in 0..500 {
        // The second datagram may still be on its way.
        if peeked != Err(Errno::AGAIN) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        peeked = recv_from(&mut sys, fd, Riflags::RECV_PEEK);
    }
    assert_eq!(peeked, pong);
    assert_eq!(recv_from(&mut sys, fd, Riflags::empty()), pong);
    assert_eq!(recv_from(&mut sys, fd, Riflags::empty()), Err(Errno::AGAIN));
}

#[test]
fn a_blocking_receive_waits_past_dropped_datagrams() {
    let (server, server_addr) = peer();
    let (intruder, _) = peer();
    let (mut sys, fd) = client(server_addr);
    sys.sock_send_to(fd, &[IoSlice::new(b"ping")], Siflags::empty(), server_addr)
        .unwrap();
    let guest = sys.sock_getlocaladdr(fd).unwrap();

    let senders = std::thread::spawn(move || {
        for _ in 0..3 {
            intruder.send_to(b"evil", guest).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        server.send_to(b"late", guest).unwrap();
    });
    assert_eq!(
        recv_from(&mut sys, fd, Riflags::empty()),
        Ok((b"late".to_vec(), Some(server_addr)))
    );
    senders.join().unwrap();
}

#[test]
fn a_socket_bound_under_a_bind_rule_receives_from_anyone() {
    let mut sys = UnixSystem::builder()
        .allow_bind("127.0.0.1:*".parse().unwrap())
        .build()
        .unwrap();
    let fd = sys
        .sock_open(AddressFamily::INET4, SockType::DGRAM)
        .unwrap();
    sys.sock_bind(fd, (Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let server = sys.sock_getlocaladdr(fd).unwrap();

    let (anyone, anyone_addr) = peer();
    anyone.send_to(b"query", server).unwrap();
    assert_eq!(
        recv_from(&mut sys, fd, Riflags::empty()),
        Ok((b"query".to_vec(), Some(anyone_addr)))
    );
    // Replying still takes a connect rule.
    assert_eq!(
        sys.sock_send_to(
            fd,
            &[IoSlice::new(b"answer")],
            Siflags::empty(),
            anyone_addr
        ),
        Err(Errno::NOTCAPABLE)
    );
}
