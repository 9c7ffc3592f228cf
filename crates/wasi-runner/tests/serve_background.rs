//! Background daemons (`ServeOptions::background`, `wasirun serve
//! --background`): the rules of spec/wasi-cloud.md, "Background daemons",
//! on both engines: the daemon runs beside the functions and shares their
//! key-value store, is restarted with a growing delay when it ends, and is
//! stopped with the server.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use wasi_runner::{Engine, KvConfig, Module, RunOptions, ServeConfig, ServeMode, ServeOptions};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

fn handler(name: &str) -> Module {
    Module::from_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/handlers")
            .join(name),
    )
    .unwrap()
}

/// `kvcount.wasm` served on `engine` with `ticker.wasm` in the background,
/// both on the key-value store in `dir`; `env` for both.
fn server(engine: Engine, dir: &Path, env: &[(&str, &str)]) -> Running {
    let mut options = RunOptions::new();
    options
        .engine(engine)
        .kv(Some(KvConfig::new(dir.join("kv.redb"))));
    for (key, value) in env {
        options.env(key, value);
    }
    Running::serve(
        handler("kvcount.wasm"),
        options,
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: ServeMode::Functions,
            http: ServeConfig {
                quiet: true,
                ..ServeConfig::default()
            },
            background: Some(handler("ticker.wasm")),
        },
    )
}

/// The ticks the functions see.
fn ticks(addr: SocketAddr) -> u64 {
    rt().block_on(async {
        let mut sender = connect(addr).await;
        let (status, _, body) = send(&mut sender, get("/")).await;
        assert_eq!(status, 200);
        String::from_utf8(body.unwrap().to_vec())
            .unwrap()
            .parse()
            .unwrap()
    })
}

#[test]
fn a_background_daemon_counts_into_the_store_the_functions_read() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut server = server(engine, dir.path(), &[]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            let seen = ticks(server.addr);
            if seen > 0 || Instant::now() > deadline {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(first > 0, "{engine}");
        std::thread::sleep(Duration::from_millis(300));
        let later = ticks(server.addr);
        assert!(later > first + 3, "{engine}: {first} then {later}");
        // A daemon that never ends is interrupted when the server stops.
        let start = Instant::now();
        server.stop();
        assert!(start.elapsed() < Duration::from_secs(3), "{engine}");
    }
}

#[test]
fn a_background_daemon_that_traps_is_restarted_with_a_growing_delay() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        // Each run appends one tick, then traps.
        let server = server(engine, dir.path(), &[("TICK_ONCE", "1")]);
        std::thread::sleep(Duration::from_millis(700));
        let seen = ticks(server.addr);
        // Restarted after 10, 20, 40, 80, 160, 320 ms: about 6 runs in
        // 700 ms, never one per millisecond.
        assert!((3..=10).contains(&seen), "{engine}: {seen} runs");
    }
}
