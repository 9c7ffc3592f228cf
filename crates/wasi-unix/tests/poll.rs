//! `poll_oneoff` over many sockets, with each I/O backend: readiness,
//! level-triggered re-reporting, closed and renumbered descriptors, shut
//! down sockets and timeouts must look the same whichever backend waits.

use std::alloc::{GlobalAlloc, Layout, System as SystemAlloc};
use std::cell::Cell;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::{AUTO_URING_POLL_MIN, IoBackend, UnixSystem};

/// Counts the allocations made by a thread while its `COUNTING` is set.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counters are thread-local
// cells with const initialisers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { SystemAlloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { SystemAlloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The backends to test: `Sync` and `Uring`, and `Auto`, which picks one per
/// call. Where the kernel refuses io_uring, building a `Uring` system must
/// fail with `Unsupported`, and the io_uring cases are skipped.
fn backends() -> Vec<IoBackend> {
    match UnixSystem::builder().io(IoBackend::Uring).build() {
        Ok(sys) => {
            assert!(sys.uses_uring());
            vec![IoBackend::Sync, IoBackend::Uring, IoBackend::Auto]
        }
        Err(err) => {
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
            eprintln!("io_uring unavailable, testing the sync backend only: {err}");
            vec![IoBackend::Sync, IoBackend::Auto]
        }
    }
}

/// A system holding `n` connected sockets as descriptors 3.. (after the
/// standard streams), and the peer end of each.
fn sockets(backend: IoBackend, n: usize) -> (UnixSystem, Vec<UnixStream>) {
    let mut builder = UnixSystem::builder();
    builder.io(backend);
    let mut peers = Vec::with_capacity(n);
    for _ in 0..n {
        let (guest, peer) = UnixStream::pair().unwrap();
        builder.preopen_socket(OwnedFd::from(guest)).unwrap();
        peers.push(peer);
    }
    let sys = builder.build().unwrap();
    assert_eq!(sys.io_backend(), backend);
    (sys, peers)
}

/// The descriptor of socket `i`.
fn fd(i: usize) -> Fd {
    3 + i as Fd
}

fn read_sub(userdata: u64, fd: Fd) -> Subscription {
    Subscription::new(userdata, SubscriptionKind::FdRead(fd))
}

fn timeout(userdata: u64, nanos: Timestamp) -> Subscription {
    Subscription::new(
        userdata,
        SubscriptionKind::Clock(SubscriptionClock {
            id: Clockid::MONOTONIC,
            timeout: nanos,
            ..Default::default()
        }),
    )
}

/// Read subscriptions on every socket (userdata = socket index), and a
/// relative timeout (userdata `u64::MAX`).
fn read_all(n: usize, timeout_nanos: Timestamp) -> Vec<Subscription> {
    let mut subs: Vec<_> = (0..n).map(|i| read_sub(i as u64, fd(i))).collect();
    subs.push(timeout(u64::MAX, timeout_nanos));
    subs
}

fn poll(sys: &mut UnixSystem, subs: &[Subscription]) -> Vec<Event> {
    let mut events = vec![Event::default(); subs.len()];
    let n = sys.poll_oneoff(subs, &mut events).unwrap();
    events.truncate(n as usize);
    events.sort_by_key(|e| e.userdata);
    events
}

fn userdata(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.userdata).collect()
}

const MS: Timestamp = 1_000_000;

#[test]
fn many_sockets_readiness_is_level_triggered() {
    for backend in backends() {
        let n = 300;
        let (mut sys, mut peers) = sockets(backend, n);
        // A short timeout where nothing is ready, a long one where something
        // is: a loaded machine may pause the poller for longer than 20 ms.
        let subs = read_all(n, 20 * MS);
        let patient = read_all(n, 10_000 * MS);

        // Nothing to read: only the timeout fires, after it is due.
        let start = Instant::now();
        assert_eq!(userdata(&poll(&mut sys, &subs)), [u64::MAX], "{backend}");
        assert!(start.elapsed() >= Duration::from_millis(20));

        // One socket becomes readable: exactly it is reported, with its
        // byte count, without waiting for the timeout.
        peers[137].write_all(b"hello").unwrap();
        let start = Instant::now();
        let events = poll(&mut sys, &patient);
        assert_eq!(userdata(&events), [137], "{backend}");
        assert_eq!(events[0].nbytes, 5);
        assert_eq!(events[0].error, Errno::SUCCESS);
        assert_eq!(events[0].r#type, Eventtype::FD_READ);
        assert!(start.elapsed() < Duration::from_secs(5));

        // It stays readable until read: reported by every call.
        for _ in 0..3 {
            assert_eq!(userdata(&poll(&mut sys, &patient)), [137], "{backend}");
        }
        // Also when polled alone, and then with the others again.
        assert_eq!(userdata(&poll(&mut sys, &[read_sub(137, fd(137))])), [137]);
        assert_eq!(userdata(&poll(&mut sys, &patient)), [137], "{backend}");

        // More become readable, one of them while nobody polls.
        peers[0].write_all(b"x").unwrap();
        peers[n - 1].write_all(b"yz").unwrap();
        let events = poll(&mut sys, &patient);
        assert_eq!(userdata(&events), [0, 137, n as u64 - 1], "{backend}");
        assert_eq!(events[2].nbytes, 2);

        // Once read, a socket is no longer reported.
        let mut buf = [0u8; 16];
        let got = sys
            .fd_read(fd(137), &mut [IoSliceMut::new(&mut buf)])
            .unwrap();
        assert_eq!(&buf[..got as usize], b"hello");
        assert_eq!(
            userdata(&poll(&mut sys, &patient)),
            [0, n as u64 - 1],
            "{backend}"
        );
        sys.fd_read(fd(0), &mut [IoSliceMut::new(&mut buf)])
            .unwrap();
        sys.fd_read(fd(n - 1), &mut [IoSliceMut::new(&mut buf)])
            .unwrap();
        assert_eq!(userdata(&poll(&mut sys, &subs)), [u64::MAX], "{backend}");

        // Data that arrives during the wait ends it.
        let writer = std::thread::spawn({
            let mut peer = peers[42].try_clone().unwrap();
            move || {
                std::thread::sleep(Duration::from_millis(30));
                peer.write_all(b"late").unwrap();
            }
        });
        let start = Instant::now();
        let events = poll(&mut sys, &read_all(n, 10_000 * MS));
        assert_eq!(userdata(&events), [42], "{backend}");
        assert!(start.elapsed() < Duration::from_secs(5));
        writer.join().unwrap();

        // A subscription asked twice gets two events.
        let twice = [read_sub(1, fd(42)), read_sub(2, fd(42)), read_sub(3, fd(7))];
        assert_eq!(userdata(&poll(&mut sys, &twice)), [1, 2], "{backend}");
    }
}

#[test]
fn write_readiness_and_hangup() {
    for backend in backends() {
        let n = 100;
        let (mut sys, mut peers) = sockets(backend, n);
        let subs: Vec<_> = (0..n)
            .map(|i| Subscription::new(i as u64, SubscriptionKind::FdWrite(fd(i))))
            .collect();
        // Every socket is writable, every time.
        for _ in 0..3 {
            let events = poll(&mut sys, &subs);
            assert_eq!(userdata(&events), (0..n as u64).collect::<Vec<_>>());
            assert!(events.iter().all(|e| e.r#type == Eventtype::FD_WRITE));
        }

        // A peer that goes away: readable, with the hang-up flag.
        let subs = read_all(n, 10_000 * MS);
        assert_eq!(userdata(&poll(&mut sys, &read_all(n, 0))), [u64::MAX]);
        drop(peers.remove(10));
        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [10], "{backend}");
        assert_eq!(events[0].flags, Eventrwflags::FD_READWRITE_HANGUP);
    }
}

#[test]
fn closed_descriptors_give_ebadf_and_really_close() {
    for backend in backends() {
        let n = 120;
        let (mut sys, mut peers) = sockets(backend, n);
        let subs = read_all(n, 0);
        // Registers every socket (with io_uring: armed in the kernel).
        assert_eq!(userdata(&poll(&mut sys, &subs)), [u64::MAX]);

        sys.fd_close(fd(5)).unwrap();
        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [5, u64::MAX], "{backend}");
        assert_eq!(events[0].error, Errno::BADF);

        // The socket is closed for real: its peer reads end-of-file at once
        // (a poll request left armed would keep it open).
        peers[5]
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(peers[5].read(&mut buf).unwrap(), 0, "{backend}");

        // A new socket takes the lowest free descriptor, the closed one's:
        // it is polled as itself (a socket never connected hangs up at
        // once), not through the old registration.
        let new_fd = sys
            .sock_open(AddressFamily::INET4, SockType::STREAM)
            .unwrap();
        assert_eq!(new_fd, fd(5));
        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [5, u64::MAX], "{backend}");
        assert_eq!(events[0].error, Errno::SUCCESS);
        assert_eq!(events[0].flags, Eventrwflags::FD_READWRITE_HANGUP);
        sys.fd_close(new_fd).unwrap();

        peers[6].write_all(b"!").unwrap();
        assert_eq!(userdata(&poll(&mut sys, &subs)), [5, 6, u64::MAX]);
    }
}

#[test]
fn renumbered_descriptors_follow_their_socket() {
    for backend in backends() {
        let n = 80;
        let (mut sys, mut peers) = sockets(backend, n);
        let subs = read_all(n, 0);
        assert_eq!(userdata(&poll(&mut sys, &subs)), [u64::MAX]);

        // Socket 20 moves onto 30's descriptor; 30's socket is closed.
        sys.fd_renumber(fd(20), fd(30)).unwrap();
        peers[30]
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(peers[30].read(&mut buf).unwrap(), 0, "{backend}");

        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [20, u64::MAX], "{backend}");
        assert_eq!(events[0].error, Errno::BADF);

        // Data for socket 20 is now reported on descriptor 30.
        peers[20].write_all(b"moved").unwrap();
        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [20, 30, u64::MAX], "{backend}");
        assert_eq!(events[1].nbytes, 5);
        let mut buf = [0u8; 8];
        let got = sys
            .fd_read(fd(30), &mut [IoSliceMut::new(&mut buf)])
            .unwrap();
        assert_eq!(&buf[..got as usize], b"moved");
    }
}

#[test]
fn shut_down_sockets_are_reported() {
    for backend in backends() {
        let n = 70;
        let (mut sys, _peers) = sockets(backend, n);
        let subs = read_all(n, 0);
        assert_eq!(userdata(&poll(&mut sys, &subs)), [u64::MAX]);
        sys.sock_shutdown(fd(3), Sdflags::RD).unwrap();
        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [3, u64::MAX], "{backend}");
        // Still reported: a shut down socket stays readable (end-of-file).
        assert_eq!(userdata(&poll(&mut sys, &subs)), [3, u64::MAX]);
    }
}

#[test]
fn timeouts_with_many_idle_sockets() {
    for backend in backends() {
        let n = 200;
        let (mut sys, _peers) = sockets(backend, n);
        for wait in [0, 1, 15] {
            let start = Instant::now();
            let events = poll(&mut sys, &read_all(n, wait * MS));
            assert_eq!(userdata(&events), [u64::MAX], "{backend}");
            assert!(start.elapsed() >= Duration::from_millis(wait));
        }
        // An absolute realtime deadline.
        let now = sys.clock_time_get(Clockid::REALTIME, 0).unwrap();
        let mut subs = read_all(n, 0);
        subs.pop();
        subs.push(Subscription::new(
            u64::MAX,
            SubscriptionKind::Clock(SubscriptionClock {
                id: Clockid::REALTIME,
                timeout: now + 10 * MS,
                flags: Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME,
                ..Default::default()
            }),
        ));
        let events = poll(&mut sys, &subs);
        assert_eq!(userdata(&events), [u64::MAX]);
        assert!(sys.clock_time_get(Clockid::REALTIME, 0).unwrap() >= now + 10 * MS);
    }
}

#[test]
fn auto_uses_uring_only_for_many_subscriptions() {
    let uring = backends().contains(&IoBackend::Uring);
    let (mut sys, _peers) = sockets(IoBackend::Auto, AUTO_URING_POLL_MIN);
    poll(&mut sys, &read_all(AUTO_URING_POLL_MIN - 2, 0));
    assert!(!sys.uses_uring());
    poll(&mut sys, &read_all(AUTO_URING_POLL_MIN, 0));
    assert_eq!(sys.uses_uring(), uring);

    let (mut sys, _peers) = sockets(IoBackend::Sync, AUTO_URING_POLL_MIN);
    poll(&mut sys, &read_all(AUTO_URING_POLL_MIN, 0));
    assert!(!sys.uses_uring());
}

#[test]
fn io_backend_names() {
    for backend in [IoBackend::Sync, IoBackend::Uring, IoBackend::Auto] {
        assert_eq!(backend.to_string().parse::<IoBackend>(), Ok(backend));
    }
    assert!("epoll".parse::<IoBackend>().is_err());
    assert_eq!(IoBackend::default(), IoBackend::Auto);
}

#[test]
fn no_allocation_per_call() {
    for backend in backends() {
        let n = 100;
        let (mut sys, mut peers) = sockets(backend, n);
        let mut subs = read_all(n, 0);
        subs.push(Subscription::new(
            u64::MAX - 1,
            SubscriptionKind::FdWrite(fd(3)),
        ));
        let mut events = vec![Event::default(); subs.len()];
        peers[9].write_all(b"ready").unwrap();
        // The first calls size the buffers and register the descriptors.
        for _ in 0..2 {
            sys.poll_oneoff(&subs, &mut events).unwrap();
        }
        COUNTING.with(|c| c.set(true));
        for _ in 0..100 {
            let got = sys.poll_oneoff(&subs, &mut events).unwrap();
            assert_eq!(got, 3);
        }
        COUNTING.with(|c| c.set(false));
        assert_eq!(ALLOCATIONS.with(Cell::get), 0, "{backend}");
    }
}

#[test]
fn more_subscriptions_than_rlimit_nofile() {
    // `ppoll` takes at most `RLIMIT_NOFILE` `pollfd`s (`EINVAL` beyond):
    // subscriptions on one descriptor must share its `pollfd`. More
    // subscriptions than the limit, on the two ends of one pipe: reads of
    // the read end (ready), writes of the write end (ready), writes of the
    // read end (never ready: a read end is not writable), and a clock.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(0);
    let count = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .clamp(70_000, 2_000_000);
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    rustix::io::write(&write_end, b"x").unwrap();
    let mut subs: Vec<_> = (0..count as u64)
        .map(|i| {
            let kind = match i % 4 {
                0 | 1 => SubscriptionKind::FdRead(0),
                2 => SubscriptionKind::FdWrite(1),
                _ => SubscriptionKind::FdWrite(0),
            };
            Subscription::new(i, kind)
        })
        .collect();
    subs.push(timeout(u64::MAX, 0));

    let mut answers = Vec::new();
    for backend in backends() {
        let mut sys = UnixSystem::builder()
            .io(backend)
            .stdio(
                read_end.try_clone().unwrap(),
                write_end.try_clone().unwrap(),
                std::fs::File::open("/dev/null").unwrap().into(),
            )
            .build()
            .unwrap();
        let events = poll(&mut sys, &subs);
        // Every read and write-end subscription has its event, the clock
        // too; no subscription is reported twice.
        assert_eq!(
            events.len(),
            count / 4 * 3 + 1 + (count % 4).min(3),
            "{backend}"
        );
        for event in &events[..events.len() - 1] {
            assert_ne!(event.userdata % 4, 3, "{backend}");
            assert_eq!(event.error, Errno::SUCCESS, "{backend}");
            let expected = match event.userdata % 4 {
                0 | 1 => (Eventtype::FD_READ, 1),
                _ => (Eventtype::FD_WRITE, 0),
            };
            assert_eq!((event.r#type, event.nbytes), expected, "{backend}");
        }
        assert_eq!(events.last().unwrap().userdata, u64::MAX);
        answers.push(events);
    }
    // The backends agree.
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));
}

/// A cancelled system's waits end at once with `ECANCELED`: a sleep, a
/// wait on a descriptor (with every backend asked for), and every later
/// call that would wait; a call with an event ready still gets it.
#[test]
fn a_canceller_ends_sleeps_and_waits() {
    for backend in backends() {
        let (mut sys, peers) = sockets(backend, AUTO_URING_POLL_MIN);
        let canceller = sys.canceller();
        let cancel_soon = |canceller: wasi_unix::Canceller| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                canceller.cancel();
            })
        };
        let long = 60_000_000_000;
        let thread = cancel_soon(canceller.clone());
        let started = Instant::now();
        let mut events = vec![Event::default(); 1];
        assert_eq!(
            sys.poll_oneoff(&[timeout(1, long)], &mut events),
            Err(Errno::CANCELED)
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{backend:?}");
        thread.join().unwrap();
        // Later waits, on a clock or descriptors, end at once.
        let subs = read_all(AUTO_URING_POLL_MIN, long);
        let mut events = vec![Event::default(); subs.len()];
        let started = Instant::now();
        assert_eq!(sys.poll_oneoff(&subs, &mut events), Err(Errno::CANCELED));
        assert_eq!(
            sys.poll_oneoff(&[timeout(1, long)], &mut events[..1]),
            Err(Errno::CANCELED)
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{backend:?}");
        // What is ready is still reported.
        (&peers[2]).write_all(b"x").unwrap();
        let events = poll(&mut sys, &subs);
        assert_eq!(events.len(), 1, "{backend:?}");
        assert_eq!(events[0].userdata, 2);
        // Cancelled before the first wait: no wait at all.
        let (mut sys, _peers) = sockets(backend, 1);
        sys.canceller().cancel();
        assert_eq!(
            sys.poll_oneoff(&[timeout(1, long)], &mut [Event::default()]),
            Err(Errno::CANCELED)
        );
    }
}
