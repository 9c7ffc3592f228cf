//! Connection daemons (`ServeMode::Connections`, `wasirun serve --tcp`):
//! the rules of spec/wasi-cloud.md, "Connection daemons", on both engines,
//! with real TCP clients on loopback.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use wasi_runner::{Engine, Module, ServeMode};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

/// Echoes what descriptor 3 (the connection) reads until it reads EOF.
const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (if (call $fd_read (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n)) (then return))
      (i32.store (i32.const 4) (local.get $n))
      (if (call $fd_write (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (br $more))))"#;

/// Echoes on descriptor 4: the connection after one `--dir`.
const ECHO_AFTER_A_DIR: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (if (call $fd_read (i32.const 4) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (if (call $fd_write (i32.const 4) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))))"#;

/// Writes its environment (`NAME=value` strings, NUL-terminated) to the
/// connection, then ends.
const ENVIRON: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 1024) (i32.const 8192)))
    (i32.store (i32.const 16) (i32.const 8192))
    (i32.store (i32.const 20) (i32.load (i32.const 4)))
    (drop (call $fd_write (i32.const 3) (i32.const 16) (i32.const 1) (i32.const 24)))))"#;

/// Spins forever without a host call.
const SPIN: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))"#;

fn module(name: &str, wat: &str) -> Module {
    Module::from_bytes(name, wat).unwrap()
}

/// A connection daemon server for `wat` on `engine`, with `timeout` and
/// `max` connections at once.
fn server(wat: &str, engine: Engine, timeout: Duration, max: usize) -> Running {
    Running::start(
        module("daemon.wat", wat),
        engine,
        ServeMode::Connections { idle_timeout: None },
        |http, _| {
            http.timeout = timeout;
            http.max_concurrency = max;
        },
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Everything `stream` reads until EOF.
fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    all
}

#[test]
fn each_connection_gets_its_own_instance_with_the_connection_as_descriptor_3() {
    for engine in Engine::ALL {
        let server = server(ECHO, engine, Duration::from_secs(30), 8);
        let mut stream = connect(server.addr);
        for message in [&b"hello"[..], b"second message", &[7u8; 3000]] {
            stream.write_all(message).unwrap();
            let mut back = vec![0; message.len()];
            stream.read_exact(&mut back).unwrap();
            assert_eq!(back, message, "{engine}");
        }
        // The client shuts its side: the guest reads EOF and ends, and the
        // host closes the connection.
        stream.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut stream), b"", "{engine}");
    }
}

#[test]
fn the_connection_comes_after_the_directories() {
    let dir = tempfile::tempdir().unwrap();
    for engine in Engine::ALL {
        let server = Running::start(
            module("echo4.wat", ECHO_AFTER_A_DIR),
            engine,
            ServeMode::Connections { idle_timeout: None },
            |_, options| {
                options.dir(dir.path(), "/data");
            },
        );
        let mut stream = connect(server.addr);
        stream.write_all(b"four").unwrap();
        assert_eq!(read_to_end(&mut stream), b"four", "{engine}");
    }
}

#[test]
fn many_clients_at_once_each_get_their_bytes_back() {
    for engine in Engine::ALL {
        let server = server(ECHO, engine, Duration::from_secs(30), 8);
        let clients: Vec<_> = (0..32u8)
            .map(|client| {
                let addr = server.addr;
                std::thread::spawn(move || {
                    let mut stream = connect(addr);
                    for round in 0..100u8 {
                        let message = [client, round, b'x', b'y', b'z'];
                        stream.write_all(&message).unwrap();
                        let mut back = [0; 5];
                        stream.read_exact(&mut back).unwrap();
                        assert_eq!(back, message);
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                    read_to_end(&mut stream)
                })
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap(), b"", "{engine}");
        }
    }
}

#[test]
fn the_guest_sees_the_client_and_server_addresses() {
    for engine in Engine::ALL {
        let server = server(ENVIRON, engine, Duration::from_secs(30), 8);
        let mut stream = connect(server.addr);
        let env = String::from_utf8(read_to_end(&mut stream)).unwrap();
        let vars: Vec<&str> = env.split('\0').collect();
        let remote = format!("REMOTE_ADDR={}", stream.local_addr().unwrap());
        let local = format!("SERVER_ADDR={}", server.addr);
        assert!(vars.contains(&remote.as_str()), "{engine}: {vars:?}");
        assert!(vars.contains(&local.as_str()), "{engine}: {vars:?}");
    }
}

#[test]
fn past_its_lifetime_a_connection_is_shut_wherever_the_guest_is() {
    for engine in Engine::ALL {
        // Blocked reading a client that sends nothing, or spinning.
        for (what, wat) in [("reading", ECHO), ("spinning", SPIN)] {
            let server = server(wat, engine, Duration::from_millis(300), 8);
            let start = Instant::now();
            let mut stream = connect(server.addr);
            assert_eq!(read_to_end(&mut stream), b"", "{engine}, {what}");
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(250) && took < Duration::from_secs(3),
                "{engine}, {what}: {took:?}"
            );
        }
    }
}

#[test]
fn a_connection_idle_past_its_limit_is_shut_and_a_busy_one_is_not() {
    for engine in Engine::ALL {
        let server = Running::start(
            module("echo.wat", ECHO),
            engine,
            ServeMode::Connections {
                idle_timeout: Some(Duration::from_millis(400)),
            },
            |_, _| {},
        );
        // Busy: a byte each 100 ms for 1.2 s, three times the limit.
        let mut busy = connect(server.addr);
        let mut byte = [0];
        for _ in 0..12 {
            busy.write_all(b"b").unwrap();
            busy.read_exact(&mut byte).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        busy.write_all(b"c").unwrap();
        busy.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"c", "{engine}");
        // Idle after one exchange: shut within the limit and a tick or two.
        let start = Instant::now();
        let mut idle = connect(server.addr);
        idle.write_all(b"i").unwrap();
        idle.read_exact(&mut byte).unwrap();
        assert_eq!(read_to_end(&mut idle), b"", "{engine}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(350) && took < Duration::from_secs(3),
            "{engine}: {took:?}"
        );
    }
}

#[test]
fn past_max_concurrency_a_client_waits_until_a_connection_ends() {
    for engine in Engine::ALL {
        let server = server(ECHO, engine, Duration::from_secs(30), 1);
        let mut first = connect(server.addr);
        first.write_all(b"1").unwrap();
        let mut byte = [0];
        first.read_exact(&mut byte).unwrap();
        // The second is accepted by the kernel, not yet served.
        let mut second = connect(server.addr);
        second
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        second.write_all(b"2").unwrap();
        let waited = second.read(&mut byte).unwrap_err().kind();
        assert!(
            matches!(
                waited,
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{engine}: {waited:?}"
        );
        // Once the first ends, the second is served.
        first.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut first), b"", "{engine}");
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        second.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"2", "{engine}");
    }
}

#[test]
fn at_shutdown_connections_past_the_drain_time_are_shut() {
    for engine in Engine::ALL {
        let mut server = Running::start(
            module("echo.wat", ECHO),
            engine,
            ServeMode::Connections { idle_timeout: None },
            |http, _| http.drain_timeout = Duration::from_millis(200),
        );
        let mut stream = connect(server.addr);
        stream.write_all(b"x").unwrap();
        let mut byte = [0];
        stream.read_exact(&mut byte).unwrap();
        // The client sends nothing more: its guest waits in a read until
        // the drain time is up, then the connection is shut.
        let start = Instant::now();
        server.stop();
        assert!(start.elapsed() < Duration::from_secs(3), "{engine}");
        assert_eq!(read_to_end(&mut stream), b"", "{engine}");
    }
}
