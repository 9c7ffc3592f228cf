//! `wasirun serve` as a process: it reports its address, logs a line per
//! request (or, with `--tcp`, per connection), and on SIGTERM answers the
//! request in flight (lets the open connections end) and exits 0. (The
//! server's rules are tested in wasi-runner's `tests/serve.rs` and
//! `tests/serve_tcp.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

/// Answers after reading the whole request, so that a request whose body
/// is still coming is in flight.
const HANDLER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "txt")
  (data (i32.const 16) "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n")
  (func (export "_start") (local $in i32)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 112)))
    (local.set $in (i32.load (i32.const 112)))
    (i32.store (i32.const 100) (i32.const 4096))
    (i32.store (i32.const 104) (i32.const 65536))
    (loop $l
      (drop (call $fd_read (local.get $in) (i32.const 100) (i32.const 1) (i32.const 108)))
      (br_if $l (i32.load (i32.const 108))))
    (drop (call $path_open (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 0)
      (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 112)))
    (i32.store (i32.const 100) (i32.const 16))
    (i32.store (i32.const 104) (i32.const 41))
    (drop (call $fd_write (i32.load (i32.const 112)) (i32.const 100) (i32.const 1) (i32.const 108)))))
"#;

/// Echoes what the connection (descriptor 3) reads until EOF.
const TCP_ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (if (call $fd_read (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (if (i32.eqz (i32.load (i32.const 8))) (then return))
      (i32.store (i32.const 4) (i32.load (i32.const 8)))
      (if (call $fd_write (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (br $more))))"#;

/// Starts `wasirun serve` on a free port: the child, its address, and its
/// stderr lines after the first.
fn serve(dir: &std::path::Path, extra: &[&str]) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    start(dir, HANDLER, &["--addr", "127.0.0.1:0"], extra)
}

/// Starts `wasirun serve` with `wat` as the module, listening as `listen`
/// says, with `extra` options: the child, the address it reports, and
/// its stderr lines after the first.
fn start(
    dir: &std::path::Path,
    wat: &str,
    listen: &[&str],
    extra: &[&str],
) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let module = dir.join("handler.wat");
    std::fs::write(&module, wat).unwrap();
    let Spawned {
        child, addr, lines, ..
    } = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .arg("serve")
            .args(listen)
            .arg("--no-cache")
            .args(extra)
            .arg(&module),
    );
    (child, addr, lines)
}

/// Sends `GET /` on a connection of its own and checks the answer is 200.
fn get_ok(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200 OK"));
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn logs_requests_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, log) = serve(dir.path(), &[]);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /first HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nbody")
        .unwrap();
    let mut response = [0; 128];
    let n = stream.read(&mut response).unwrap();
    assert!(response[..n].starts_with(b"HTTP/1.1 200 OK"));
    let line = log.recv_timeout(Duration::from_secs(10)).unwrap();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[..3], ["POST", "/first", "200"], "{line}");
    assert!(fields[3].ends_with("µs"), "{line}");

    // A second request, in flight (half its body sent) when SIGTERM comes:
    // it is answered, then the process exits 0.
    stream
        .write_all(b"POST /second HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nbo")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    terminate(&child);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    stream.write_all(b"dy").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        rest.starts_with(b"HTTP/1.1 200 OK"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(rest.ends_with(b"ok\n"));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn quiet_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, log) = serve(dir.path(), &["--quiet", "--runtime", "wasmi"]);
    get_ok(addr);
    terminate(&child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(log.recv_timeout(Duration::from_millis(200)).ok(), None);
}

#[test]
fn trace_marks_each_guests_lines() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.log");
    let trace_arg = trace.to_str().unwrap().to_owned();
    let (mut child, addr, _log) = serve(dir.path(), &["--quiet", "--trace-file", &trace_arg]);
    for _ in 0..2 {
        get_ok(addr);
    }
    terminate(&child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let trace = std::fs::read_to_string(trace).unwrap();
    for guest in ["[1] ", "[2] "] {
        assert!(
            trace
                .lines()
                .any(|line| line.starts_with(guest) && line.contains("path_open(")),
            "{trace}"
        );
    }
    assert!(trace.lines().all(|line| line.starts_with('[')), "{trace}");
}

#[test]
fn options_that_cannot_apply_are_refused_naming_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("handler.wat");
    std::fs::write(&module, HANDLER).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(["serve", "--addr", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
        .arg(&module)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--listen does not apply to `wasirun serve`"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_tcp_daemon_serves_each_connection_logs_it_and_lets_open_ones_end_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, log) = start(dir.path(), TCP_ECHO, &["--tcp", "127.0.0.1:0"], &[]);
    let mut first = TcpStream::connect(addr).unwrap();
    first.write_all(b"hi").unwrap();
    let mut back = [0; 2];
    first.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hi");
    first.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let line = log.recv_timeout(Duration::from_secs(10)).unwrap();
    let client = first.local_addr().unwrap().to_string();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[..4], ["TCP", &client, "exit", "0"], "{line}");
    assert!(fields[4].ends_with("ms"), "{line}");

    // A connection open when SIGTERM comes is served until it ends; then
    // the process exits 0.
    let mut second = TcpStream::connect(addr).unwrap();
    second.write_all(b"a").unwrap();
    second.read_exact(&mut back[..1]).unwrap();
    terminate(&child);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a connection open"
    );
    second.write_all(b"b").unwrap();
    second.read_exact(&mut back[..1]).unwrap();
    assert_eq!(&back[..1], b"b");
    second.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn tcp_refuses_the_http_modes() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("echo.wat");
    std::fs::write(&module, TCP_ECHO).unwrap();
    for other in [&["--daemon", "2"][..], &["--wagi"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["serve", "--tcp", "127.0.0.1:0"])
            .args(other)
            .arg(&module)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{other:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
}

#[test]
fn a_background_daemon_runs_beside_the_handlers_on_their_store_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let handlers = concat!(env!("CARGO_MANIFEST_DIR"), "/../wasi-runner/tests/handlers");
    let store = dir.path().join("kv.redb");
    let Spawned { child, addr, .. } = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--no-cache",
                "--quiet",
                "--kv",
            ])
            .arg("--kv-store")
            .arg(&store)
            .arg("--background")
            .arg(format!("{handlers}/ticker.wasm"))
            .arg(format!("{handlers}/kvcount.wasm")),
    );
    let mut child = Killed(child);
    // HTTP/1.0: the body ends with the connection, unchunked.
    let ticks = || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        body.parse::<u64>()
            .unwrap_or_else(|_| panic!("{response:?}"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ticks() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = ticks();
    std::thread::sleep(Duration::from_millis(300));
    assert!(ticks() > first, "the ticks stopped at {first}");
    terminate(&child.0);
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}
