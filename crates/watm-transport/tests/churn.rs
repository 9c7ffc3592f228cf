//! 10,000 connections opened and closed, one after the other, on each
//! engine: every instance is dropped when its connection ends, so memory
//! and threads stay flat (water-go kept one instance per closed connection,
//! water #45).

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::Instant;
use wasi_core::runtime::Runtime;
use watm_transport::Dialer;

const CONNECTIONS: usize = 10_000;

fn churn<R: Runtime>(runtime: R) {
    let engine = runtime.engine_name();
    let (server, addr) = listener();
    // The far end: echoes one byte on each connection.
    std::thread::spawn(move || {
        for stream in server.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut byte = [0];
            if stream.read_exact(&mut byte).is_ok() {
                let _ = stream.write_all(&byte);
            }
        }
    });
    let dialer = Dialer::new(&runtime, &config("plain.wat")).unwrap();
    let one = |i: usize| {
        let mut conn = dialer.dial(addr).unwrap();
        let byte = [i as u8];
        conn.write_all(&byte).unwrap();
        let mut got = [0];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(got, byte);
        conn.close().unwrap();
    };
    // Warm up (allocator pools, wasmtime's code cache), then measure.
    for i in 0..500 {
        one(i);
    }
    eventually("warm-up instances to end", || {
        dialer.live_connections() == 0
    });
    let (rss_before, threads_before) = (proc_status("VmRSS"), proc_status("Threads"));
    let start = Instant::now();
    for i in 0..CONNECTIONS {
        one(i);
        if std::env::var_os("WATM_CHURN_TRACE").is_some() && i % 2000 == 0 {
            eprintln!("{i}: RSS {} kB", proc_status("VmRSS"));
        }
    }
    let took = start.elapsed();
    eventually("every instance to end", || dialer.live_connections() == 0);
    let (rss_after, threads_after) = (proc_status("VmRSS"), proc_status("Threads"));
    eprintln!(
        "{engine}: {CONNECTIONS} connections in {took:?}; RSS {rss_before} -> {rss_after} kB, \
         threads {threads_before} -> {threads_after}"
    );
    // One leaked instance costs at least a 64 KiB page of linear memory
    // plus its store: 10,000 of them would be well over 640 MB.
    assert!(
        rss_after < rss_before + 32 * 1024,
        "{engine}: RSS grew from {rss_before} to {rss_after} kB"
    );
    assert!(
        threads_after <= threads_before + 2,
        "{threads_before} -> {threads_after}"
    );
}

#[test]
fn ten_thousand_connections_on_wasmtime_leave_memory_flat() {
    churn(wasmtime());
}

#[test]
fn ten_thousand_connections_on_wasmi_leave_memory_flat() {
    churn(wasmi());
}
