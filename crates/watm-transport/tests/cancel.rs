//! Cancellation ends workers within 100 ms, on both engines. Alone in its
//! test binary, so that the looping modules of the other tests do not
//! compete for the CPU while it measures.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use watm_transport::Dialer;

#[test]
fn cancellation_ends_the_worker_within_100_ms() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let dialer = Dialer::new(&runtime, &config("plain.wat")).unwrap();
        let mut conns: Vec<_> = (0..5)
            .map(|_| (dialer.dial(addr).unwrap(), accept(&server)))
            .collect();
        for (conn, peer) in &mut conns {
            conn.write_all(b"ping").unwrap();
            let mut got = [0; 4];
            peer.read_exact(&mut got).unwrap();
        }
        for (mut conn, mut peer) in conns {
            let start = Instant::now();
            conn.close().unwrap();
            assert!(
                conn.wait_closed(Duration::ZERO),
                "{engine}: the worker ended"
            );
            let took = start.elapsed();
            assert!(took < Duration::from_millis(100), "{engine}: {took:?}");
            assert_eq!(read_to_end(&mut peer), b"");
        }
        assert_eq!(dialer.live_connections(), 0);
    });
}
