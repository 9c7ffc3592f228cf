//! Measures the I/O backends side by side: the numbers behind
//! `IoBackend::Auto`'s choices (see "I/O backends" in the crate's README).
//!
//! ```text
//! cargo run --release -p wasi-unix --example io_backends [-- --quick]
//! ```
//!
//! - `poll_oneoff` over N connected Unix sockets, through `UnixSystem` with
//!   each backend: "idle" (no socket ready, a zero timeout), "1 ready" (one
//!   socket stays readable, as a busy connection among idle ones) and
//!   "1 ready, read" (an event loop's turn: the peer writes a byte, the
//!   guest polls and reads it).
//! - Reads of a page-cached file, 4 KiB to 1 MiB per call: `preadv`, which
//!   `fd_pread` uses, against an io_uring `READ` submitted and waited for,
//!   the best a single read through io_uring can do.

use std::hint::black_box;
use std::io::{IoSliceMut, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, types};
use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::{IoBackend, UnixSystem};

/// Runs `f` repeatedly for about `budget`, returning nanoseconds per call
/// (the best of three rounds).
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up, and size the rounds.
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget / 10 {
        f();
        calls += 1;
    }
    let per_round = (calls * 3).max(10);
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed().as_nanos() as f64 / per_round as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn poll_subs(n: usize) -> Vec<Subscription> {
    let mut subs: Vec<_> = (0..n)
        .map(|i| Subscription::new(i as u64, SubscriptionKind::FdRead(3 + i as Fd)))
        .collect();
    subs.push(Subscription::new(
        u64::MAX,
        SubscriptionKind::Clock(SubscriptionClock {
            id: Clockid::MONOTONIC,
            timeout: 0,
            ..Default::default()
        }),
    ));
    subs
}

fn system(backend: IoBackend, n: usize) -> (UnixSystem, Vec<UnixStream>) {
    let mut builder = UnixSystem::builder();
    builder.io(backend);
    let peers = (0..n)
        .map(|_| {
            let (guest, peer) = UnixStream::pair().unwrap();
            builder.preopen_socket(OwnedFd::from(guest)).unwrap();
            peer
        })
        .collect();
    (builder.build().unwrap(), peers)
}

fn bench_poll(budget: Duration) {
    let backends = [IoBackend::Sync, IoBackend::Uring, IoBackend::Auto];
    println!("poll_oneoff over N sockets, ns per call");
    println!(
        "{:>6} {:>14} {:>9} {:>9} {:>9}",
        "N", "case", "sync", "uring", "auto"
    );
    for n in [1, 4, 8, 16, 24, 32, 64, 256, 1024] {
        let subs = poll_subs(n);
        let mut events = vec![Event::default(); subs.len()];
        let mut rows = [[0f64; 3]; 3];
        for (column, backend) in backends.into_iter().enumerate() {
            let (mut sys, mut peers) = system(backend, n);
            rows[0][column] = time(budget, || {
                black_box(sys.poll_oneoff(&subs, &mut events).unwrap());
            });
            let ready = n / 2;
            peers[ready].write_all(b"x").unwrap();
            rows[1][column] = time(budget, || {
                let got = sys.poll_oneoff(&subs, &mut events).unwrap();
                assert_eq!(got, 2);
            });
            let mut buf = [0u8; 8];
            sys.fd_read(3 + ready as Fd, &mut [IoSliceMut::new(&mut buf)])
                .unwrap();
            rows[2][column] = time(budget, || {
                peers[ready].write_all(b"x").unwrap();
                let got = sys.poll_oneoff(&subs, &mut events).unwrap();
                assert_eq!(got, 2);
                sys.fd_read(3 + ready as Fd, &mut [IoSliceMut::new(&mut buf)])
                    .unwrap();
            });
        }
        for (case, row) in ["idle", "1 ready", "1 ready, read"].iter().zip(rows) {
            println!(
                "{n:>6} {case:>14} {:>9.0} {:>9.0} {:>9.0}",
                row[0], row[1], row[2]
            );
        }
    }
}

fn bench_read(budget: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cached");
    const FILE: usize = 8 << 20;
    std::fs::write(&path, vec![7u8; FILE]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut ring = IoUring::new(8).unwrap();
    println!("\nreads of a page-cached file: ns per call (GB/s)");
    println!("{:>9} {:>20} {:>20}", "size", "preadv", "io_uring READ");
    for size in [4 << 10, 64 << 10, 256 << 10, 1 << 20] {
        let mut buf = vec![0u8; size];
        let mut offset = 0usize;
        let sync = time(budget, || {
            let n =
                rustix::io::preadv(&file, &mut [IoSliceMut::new(&mut buf)], offset as u64).unwrap();
            assert_eq!(n, size);
            offset = (offset + size) % FILE;
        });
        let uring = time(budget, || {
            let entry =
                opcode::Read::new(types::Fd(file.as_raw_fd()), buf.as_mut_ptr(), size as u32)
                    .offset(offset as u64)
                    .build();
            // SAFETY: `buf` and `file` outlive the request: the completion
            // is waited for below, before either can be touched again.
            unsafe { ring.submission().push(&entry).unwrap() };
            ring.submit_and_wait(1).unwrap();
            let cqe = ring.completion().next().unwrap();
            assert_eq!(cqe.result() as usize, size);
            offset = (offset + size) % FILE;
        });
        let rate = |ns: f64| size as f64 / ns;
        println!(
            "{:>8}K {:>11.0} ({:>5.1}) {:>11.0} ({:>5.1})",
            size >> 10,
            sync,
            rate(sync),
            uring,
            rate(uring)
        );
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let budget = Duration::from_millis(if quick { 100 } else { 600 });
    if let Err(err) = UnixSystem::builder().io(IoBackend::Uring).build() {
        eprintln!("{err}");
        std::process::exit(1);
    }
    bench_poll(budget);
    bench_read(budget);
}
