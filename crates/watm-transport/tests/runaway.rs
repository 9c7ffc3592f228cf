//! A module that loops without any fuel or time limit: after the cancel
//! grace its connection ends for its peers and the instance is interrupted,
//! freeing its thread (`spec/watm-v0.md` §5, §6). In its own test binary, so
//! that the loop does not slow the timing-sensitive tests beside it.

mod common;

use common::*;
use std::time::{Duration, Instant};
use watm_transport::Dialer;

#[test]
fn a_runaway_worker_is_interrupted_after_the_grace() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let mut config = config("loop.wat");
        config.cancel_grace(Duration::from_millis(100));
        let dialer = Dialer::new(&runtime, &config).unwrap();
        let mut conn = dialer.dial(addr).unwrap();
        let mut peer = accept(&server);
        let start = Instant::now();
        conn.close().unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        // The host shut the module's sockets down: the peer sees the end.
        assert_eq!(read_to_end(&mut peer), b"");
        // And the loop was stopped: the instance and its thread are gone.
        assert!(conn.wait_closed(Duration::from_secs(10)), "{engine}");
        eventually("the looping instance to end", || {
            dialer.live_connections() == 0
        });
    });
}
