//! A module that loops without any limit cannot be interrupted, but its
//! connection still ends for its peers after the cancel grace
//! (`spec/watm-v0.md` §5). Alone in its own test binary: the looping thread
//! keeps a CPU busy until the process exits.

mod common;

use common::*;
use std::time::{Duration, Instant};
use watm_transport::{Dialer, Engine};

#[test]
fn a_runaway_worker_loses_its_connections_after_the_grace() {
    for engine in [Engine::Wasmtime, Engine::Wasmi] {
        let (server, addr) = listener();
        let mut config = config("loop.wat", engine);
        config.cancel_grace(Duration::from_millis(100));
        let dialer = Dialer::new(&config).unwrap();
        let mut conn = dialer.dial(addr).unwrap();
        let mut peer = accept(&server);
        let start = Instant::now();
        conn.close().unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        // The host shut the module's sockets down: the peer sees the end.
        assert_eq!(read_to_end(&mut peer), b"");
        assert!(!conn.wait_closed(Duration::ZERO), "the module still runs");
        assert_eq!(dialer.live_connections(), 1);
    }
}
