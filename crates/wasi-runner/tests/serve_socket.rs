//! Servers of their own (`ServeMode::Socket`, `wasirun serve --socket`):
//! the rules of spec/wasi-cloud.md, "Servers of their own", on both
//! engines, with hyper's client: a C server (`tests/servers/httpd.c`)
//! accepts on the preopened socket and answers; it is restarted when it
//! ends, exits or traps; several instances share the socket; stopping the
//! server lets a request in flight finish, then the instance's `accept`
//! fails and it exits.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use wasi_runner::{Engine, Module, RunOptions, ServeConfig, ServeMode, ServeOptions};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

/// `httpd.wasm` as its own server, `n` instances, on `engine`, with `env`.
fn httpd(engine: Engine, n: usize, env: &[(&str, &str)]) -> Running {
    let module =
        Module::from_file(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/httpd.wasm"))
            .unwrap();
    let mut options = RunOptions::new();
    options.engine(engine);
    for (key, value) in env {
        options.env(key, value);
    }
    Running::serve(
        module,
        options,
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: ServeMode::Socket(n),
            http: ServeConfig::default(),
            background: None,
        },
    )
}

#[test]
fn the_guest_serves_http_on_the_preopened_socket() {
    for engine in Engine::ALL {
        let server = httpd(engine, 1, &[]);
        rt().block_on(async {
            for i in 1..=3 {
                let (status, body) = fetch(server.addr, &format!("/n{i}")).await;
                assert_eq!(status, 200, "{engine}");
                // One instance, living on: its count goes on.
                assert_eq!(
                    body,
                    format!("request {i} of this instance, /n{i}\n"),
                    "{engine}"
                );
            }
        });
    }
}

#[test]
fn an_instance_that_exits_or_traps_is_restarted() {
    for engine in Engine::ALL {
        let server = httpd(engine, 1, &[("MAX_REQUESTS", "2")]);
        rt().block_on(async {
            let mut bodies = Vec::new();
            for path in ["/a", "/b", "/c", "/exit", "/trap", "/d"] {
                let (status, body) = fetch(server.addr, path).await;
                assert_eq!(status, 200, "{engine} {path}");
                bodies.push(body);
            }
            // Exit 0 after two requests, exit 3 after /exit, a trap after
            // /trap: each time a fresh instance, counting from 1, answers
            // the next request (which waits in the backlog meanwhile).
            let counts: Vec<&str> = bodies.iter().map(|b| &b[8..9]).collect();
            assert_eq!(
                counts,
                ["1", "2", "1", "2", "1", "1"],
                "{engine}: {bodies:?}"
            );
        });
    }
}

#[test]
fn several_instances_share_the_socket() {
    for engine in Engine::ALL {
        let server = httpd(engine, 2, &[]);
        rt().block_on(async {
            // Two slow requests at once end about together: each instance
            // took one.
            let start = Instant::now();
            let (a, b) = tokio::join!(fetch(server.addr, "/slow"), fetch(server.addr, "/slow"));
            assert_eq!((a.0, b.0), (200, 200));
            assert!(
                start.elapsed() < Duration::from_millis(1900),
                "{engine}: {:?}",
                start.elapsed()
            );
        });
    }
}

#[test]
fn stopping_lets_the_request_in_flight_finish_then_the_instances_end() {
    for engine in Engine::ALL {
        let mut server = httpd(engine, 2, &[]);
        let runtime = rt();
        let addr = server.addr;
        let slow = runtime.spawn(async move { fetch(addr, "/slow").await });
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        server.stop();
        // The slow request was answered whole; the idle instance and the
        // busy one (after its answer) got `EINVAL` from `accept` and
        // exited, long before the drain time.
        let (status, body) = runtime.block_on(slow).unwrap();
        assert_eq!(status, 200, "{engine}");
        assert_eq!(body, "request 1 of this instance, /slow\n", "{engine}");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(500), "{engine}: {took:?}");
        assert!(took < Duration::from_secs(5), "{engine}: {took:?}");
        // The socket no longer listens.
        assert!(std::net::TcpStream::connect(addr).is_err(), "{engine}");
    }
}

#[test]
fn an_instance_still_busy_after_the_drain_time_is_interrupted() {
    for engine in Engine::ALL {
        let module = Module::from_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/httpd.wasm"),
        )
        .unwrap();
        let mut options = RunOptions::new();
        options.engine(engine);
        let mut server = Running::serve(
            module,
            options,
            ServeOptions {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                mode: ServeMode::Socket(1),
                http: ServeConfig {
                    drain_timeout: Duration::from_millis(300),
                    ..ServeConfig::default()
                },
                background: None,
            },
        );
        // A connection whose request never gets an answer: the instance
        // sleeps an hour.
        let mut hung = std::net::TcpStream::connect(server.addr).unwrap();
        std::io::Write::write_all(&mut hung, b"GET /hang HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        server.stop();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "{engine}: {took:?}");
        assert!(took < Duration::from_secs(3), "{engine}: {took:?}");
        // The instance ended, and with it its connection, which the client
        // sees closed. (Whether its cancelled sleep let it write an answer
        // first is the engine's: wasmi stops at the end of a slice of
        // fuel.)
        let mut rest = Vec::new();
        hung.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let read = std::io::Read::read_to_end(&mut hung, &mut rest);
        assert!(read.is_ok(), "{engine}: {read:?}");
    }
}
