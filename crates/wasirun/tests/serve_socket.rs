//! `wasirun serve --socket` as a process, with the C server of
//! wasi-runner's tests (`tests/servers/httpd.c`): it serves on the socket
//! the host binds, is restarted with a growing delay logged on stderr,
//! drains on SIGTERM (the request in flight answered) and exits 0; the same
//! module runs unchanged under `wasirun run --listen`. (The rules are
//! tested on both engines in wasi-runner's `tests/serve_socket.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

fn httpd() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasi-runner/tests/servers/httpd.wasm")
}

/// Starts `wasirun serve --socket` on a free port with `extra` options:
/// the child, its address, and its stderr lines after the first.
fn serve(extra: &[&str]) -> Spawned {
    spawn_server(
        Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["serve", "--socket", "--addr", "127.0.0.1:0", "--no-cache"])
            .args(extra)
            .arg(httpd()),
    )
}

/// Sends `GET path` and returns the whole response (the server closes the
/// connection after it).
fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The first line of `log` containing `what`, within 10 s.
fn expect_line(log: &mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match log.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no line with {what:?}");
}

#[test]
fn serves_restarts_with_backoff_and_drains_on_sigterm() {
    for runtime in ["wasmtime", "wasmi"] {
        let Spawned {
            child,
            addr,
            lines: log,
            ..
        } = serve(&["--runtime", runtime]);
        let mut child = Killed(child);
        let response = get(addr, "/hello");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.ends_with("request 1 of this instance, /hello\n"),
            "{response}"
        );

        // It exits with code 3 after /exit (twice), then traps after /trap:
        // each end is logged, the delay growing while it keeps ending
        // within a second of its start (the first run may have lasted
        // longer: its delay is the shortest either way).
        let mut delays = Vec::new();
        for path in ["/exit", "/exit", "/trap"] {
            let response = get(addr, path);
            assert!(response.ends_with(&format!(", {path}\n")), "{response}");
            let line = expect_line(&log, "server 0 ended");
            let expected = if path == "/trap" {
                "Trapped("
            } else {
                "Exited(3)"
            };
            assert!(
                line.starts_with(&format!("wasirun: server 0 ended: {expected}")),
                "{line}"
            );
            let delay = line.rsplit_once("restarting in ").unwrap().1;
            delays.push(delay.strip_suffix("ms").unwrap().parse::<u32>().unwrap());
        }
        assert!(
            delays[0] == 10 && delays[2] > delays[0],
            "{runtime}: {delays:?}"
        );

        // A slow request in flight when SIGTERM comes is answered; then the
        // instance's accept fails, it exits, and so does the server, with 0.
        let slow = std::thread::spawn(move || get(addr, "/slow"));
        std::thread::sleep(Duration::from_millis(300));
        terminate(&child.0);
        let response = slow.join().unwrap();
        assert!(
            response.ends_with("request 1 of this instance, /slow\n"),
            "{response}"
        );
        expect_line(&log, "httpd: accept: Invalid argument; exiting");
        let status = child.0.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{runtime}");
    }
}

#[test]
fn the_same_module_runs_under_run_listen() {
    // A free port, for `--listen` (which the guest cannot report).
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["run", "--no-cache", "--env", "MAX_REQUESTS=2", "--listen"])
            .arg(addr.to_string())
            .arg(httpd())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => {
                drop(stream);
                break get(addr, "/one");
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => panic!("{error}"),
        }
    };
    // The probe connection, closed without a request, is not one.
    assert!(response.ends_with(", /one\n"), "{response}");
    let response = get(addr, "/two");
    assert!(response.ends_with(", /two\n"), "{response}");
    // MAX_REQUESTS=2 served: the command exits 0.
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

#[test]
fn socket_refuses_timeout_and_the_other_modes() {
    for extra in [
        &["--timeout", "1s"][..],
        &["--wagi"],
        &["--tcp", "127.0.0.1:0"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["serve", "--socket"])
            .args(extra)
            .arg(httpd())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--socket"), "{extra:?}: {stderr}");
    }
}
