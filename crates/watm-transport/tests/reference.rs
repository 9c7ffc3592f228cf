//! The reference WATMs (refraction-networking/water's `plain`, built by
//! TinyGo and by Rust; `tests/watm/reference/`) carry hundreds of MiB
//! through a relay on both engines, every byte checked, because writes on
//! their connections complete (`spec/watm-v0.md` §3, "Writes on
//! connections complete"); and a write blocked on a peer that never reads
//! ends at the connection's cancellation or deadline.

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_unix::{IoBackend, UnixSystem};
use watm_transport::{Config, Dialer, Relay};

/// The reference WATMs, each with what the relay test pushes through it
/// each way on each engine: 256 MiB through the TinyGo build; 1 MiB
/// through the Rust build, which logs every chunk it reads, at its own
/// cost (in a debug build, 16 MiB each way took 4 s on wasmtime and 219 s
/// on wasmi, the interpreter running the module's logging).
const REFERENCE: [(&str, usize); 2] = [
    ("reference/plain.go.wasm", 256 << 20),
    ("reference/plain.rs.wasm", 1 << 20),
];

/// The size of the blocks written and checked.
const BLOCK: usize = 64 << 10;

/// The configuration of a reference WATM, its output discarded:
/// `plain.rs.wasm` logs every chunk it reads.
fn quiet(name: &str) -> Config {
    let mut config = config(name);
    config.system(Some(Arc::new(|stdin, _, _| {
        let null = || File::create("/dev/null").map_err(|e| e.to_string());
        let system = UnixSystem::builder()
            .arg("watm")
            .stdio(stdin, null()?.into(), null()?.into())
            .io(IoBackend::Sync)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Box::new(system))
    })));
    config
}

/// Writes `total` bytes of the stream `seed` to `to`.
fn send(mut to: TcpStream, seed: u64, total: usize) -> std::io::Result<()> {
    let (mut rng, mut block) = (Rng::new(seed), vec![0; BLOCK]);
    for _ in 0..total / BLOCK {
        rng.fill(&mut block);
        to.write_all(&block)?;
    }
    Ok(())
}

/// Reads `total` bytes from `from`, checking each against the stream
/// `seed`; a failure names `what`.
fn check(mut from: TcpStream, seed: u64, total: usize, what: &str) {
    from.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let (mut rng, mut expected, mut got) = (Rng::new(seed), vec![0; BLOCK], vec![0; BLOCK]);
    for index in 0..total / BLOCK {
        from.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{what}: block {index} of {}: {e}", total / BLOCK));
        rng.fill(&mut expected);
        assert!(got == expected, "{what}: block {index} differs");
    }
}

/// Both directions at once, the same number of bytes each, every byte checked: the
/// client sends one stream to the far server through the relay while the
/// far server sends another back; then the client closes, and the far
/// server sees the end and nothing more. Each end reads on its own thread
/// (an echo copying in one thread would deadlock with a module that does
/// not read while its write waits, as `spec/watm-v0.md` says); neither
/// shuts down before it has everything (water's `plain` ends both
/// directions at the first end of stream).
#[test]
fn reference_watms_relay_every_byte_on_both_engines() {
    each_engine!(|runtime, engine| {
        for (name, total) in REFERENCE {
            let (far, far_addr) = listener();
            let relay = Relay::bind(&runtime, &quiet(name), "127.0.0.1:0", far_addr).unwrap();
            let relay_addr = relay.local_addr().unwrap();
            let closer = relay.closer();
            let serving = std::thread::spawn(move || relay.serve());

            let start = Instant::now();
            let client = TcpStream::connect(relay_addr).unwrap();
            let (mut far, _) = far.accept().unwrap();
            let clone = |stream: &TcpStream| stream.try_clone().unwrap();
            std::thread::scope(|scope| {
                let up = scope.spawn(|| send(clone(&client), 1, total));
                let down = scope.spawn(|| send(clone(&far), 2, total));
                let (far_in, upload) = (clone(&far), format!("{engine} {name}, client to server"));
                scope.spawn(move || check(far_in, 1, total, &upload));
                let download = format!("{engine} {name}, server to client");
                check(clone(&client), 2, total, &download);
                up.join().unwrap().unwrap();
                down.join().unwrap().unwrap();
            });
            drop(client);
            assert_eq!(read_to_end(&mut far), b"", "{engine} {name}: the end");
            eprintln!(
                "{engine} {name}: {} MiB each way in {:.2?}",
                total >> 20,
                start.elapsed()
            );
            closer.close();
            serving.join().unwrap().unwrap();
        }
    });
}

/// Writes to the module timed out in a row (300 ms each) after which it is
/// taken to be blocked on the peer.
const STALLED_WRITES: u32 = 4;

/// Dials through `name` to a peer that never reads, and writes until
/// the WATM's write to that peer blocks (the application's writes stall);
/// returns the connection, the peer and the dialer.
fn blocked_write<R: watm_transport::Runtime>(
    runtime: &R,
    config: &Config,
) -> (watm_transport::Conn, TcpStream, Dialer<R>) {
    let (server, addr) = listener();
    let dialer = Dialer::new(runtime, config).unwrap();
    let conn = dialer.dial(addr).unwrap();
    let peer = accept(&server);
    conn.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let block = vec![7; BLOCK];
    // The module is blocked on the peer once it takes nothing more for a
    // while: a single timed-out write may only mean that it is slow (the
    // Rust build logs every chunk), and still relaying what it was given.
    let mut stalled = 0;
    while stalled < STALLED_WRITES {
        match (&conn).write(&block) {
            Ok(_) => stalled = 0,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stalled += 1,
            Err(e) => panic!("writing to the WATM: {e}"),
        }
    }
    (conn, peer, dialer)
}

#[test]
fn a_write_blocked_on_a_peer_that_never_reads_ends_at_cancellation() {
    each_engine!(|runtime, engine| {
        for (name, _) in REFERENCE {
            let mut config = quiet(name);
            // Long enough that only the cancellation can end the write in
            // time, not the shutdown at the end of the grace.
            config.cancel_grace(Duration::from_secs(10));
            let (mut conn, mut peer, dialer) = blocked_write(&runtime, &config);
            let start = Instant::now();
            conn.close().unwrap();
            let took = start.elapsed();
            assert!(
                conn.wait_closed(Duration::ZERO),
                "{engine} {name}: the worker ended"
            );
            assert!(
                took < Duration::from_millis(500),
                "{engine} {name}: {took:?}"
            );
            // The peer sees what was sent, then the end.
            read_to_end(&mut peer);
            assert_eq!(dialer.live_connections(), 0, "{engine} {name}");
        }
    });
}

#[test]
fn a_write_blocked_on_a_peer_that_never_reads_ends_at_the_deadline() {
    each_engine!(|runtime, engine| {
        let mut config = quiet(REFERENCE[0].0);
        config.timeout(Some(Duration::from_secs(2)));
        let (conn, _peer, dialer) = blocked_write(&runtime, &config);
        assert!(
            conn.wait_closed(Duration::from_secs(5)),
            "{engine}: the worker ended at its deadline"
        );
        assert_eq!(dialer.live_connections(), 0, "{engine}");
    });
}
