//! Sockets end to end: guests in `tests/sockets/` (C built with wasi-libc,
//! and WAT) run under `wasirun` on both engines and talk to real TCP peers
//! on loopback made by the test. See `spec/sockets.md`.
//!
//! The `.wasm` files are committed; rebuild them with
//! `cargo xtask build-guests crates/wasirun/tests/sockets`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::Duration;

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn guest(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sockets")
        .join(name)
}

fn wasirun(engine: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasirun"));
    cmd.args(["--runtime", engine]).args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "guest failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Sends `message`, shuts down writing and reads the reply to the end.
fn exchange(port: u16, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(message).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    reply
}

/// Runs the echo server with `args`, reads the `port P` lines it prints for
/// its `listeners`, and echoes one message through each, last first.
fn run_echo_server(engine: &str, args: &[&str], listeners: usize) -> String {
    let mut child = wasirun(engine, args).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ports = Vec::new();
    for _ in 0..listeners {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("port ")
            .expect(&line)
            .trim()
            .parse::<u16>();
        ports.push(port.unwrap());
    }
    for (i, port) in ports.iter().enumerate().rev() {
        let message = format!("hello {i} on {engine}");
        assert_eq!(exchange(*port, message.as_bytes()), message.as_bytes());
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    finish(child);
    rest
}

#[test]
fn echo_server_on_preopened_listeners_waits_on_both() {
    for engine in ENGINES {
        let server = guest("echo_server.wasm");
        let rest = run_echo_server(
            engine,
            &[
                "--listen",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                server.to_str().unwrap(),
                "preopen",
                "2",
                "2",
            ],
            2,
        );
        // Connections came last listener first: poll_oneoff woke on fd 4.
        assert_eq!(
            rest, "accepted on listener 1\naccepted on listener 0\nnonblocking accept: 6\ndone\n",
            "{engine}"
        );
    }
}

#[test]
fn echo_server_on_tcp_listen_paths() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let server = guest("echo_server.wasm");
        let rest = run_echo_server(
            engine,
            &[
                "--dir",
                &format!("{}::.", dir.path().display()),
                "--allow-bind",
                "127.0.0.1:*",
                server.to_str().unwrap(),
                "uri",
                "2",
                "tcp+listen://127.0.0.1:0?backlog=4",
                "tcp+listen://127.0.0.1:0?reuseaddr=true&nodelay",
            ],
            2,
        );
        assert!(rest.ends_with("nonblocking accept: 6\ndone\n"), "{rest}");
    }
}

/// A server that reads a message to its end and replies with it in upper
/// case; returns its port.
fn upper_server() -> (u16, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut message = Vec::new();
        stream.read_to_end(&mut message).unwrap();
        stream.write_all(&message.to_ascii_uppercase()).unwrap();
        message
    });
    (port, handle)
}

fn run_client(engine: &str, args: &[&str]) -> String {
    let out = finish(wasirun(engine, args).spawn().unwrap());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn client_connects_with_wasmedge_sock_connect() {
    for engine in ENGINES {
        let (port, server) = upper_server();
        let client = guest("client.wasm");
        let stdout = run_client(
            engine,
            &[
                "--allow-connect",
                &format!("127.0.0.1:{port}"),
                client.to_str().unwrap(),
                "connect",
                "127.0.0.1",
                &port.to_string(),
                "hi there",
            ],
        );
        assert_eq!(
            stdout,
            format!("type 2, peer 127.0.0.1:{port}\nreply: HI THERE\n")
        );
        assert_eq!(server.join().unwrap(), b"hi there");
    }
}

#[test]
fn client_dials_a_tcp_dial_path() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let (port, server) = upper_server();
        let client = guest("client.wasm");
        let stdout = run_client(
            engine,
            &[
                "--dir",
                &format!("{}::.", dir.path().display()),
                "--allow-connect",
                "127.0.0.1:*",
                client.to_str().unwrap(),
                "dial",
                &format!("tcp+dial://127.0.0.1:{port}?nodelay=true"),
                "dialed",
            ],
        );
        assert_eq!(stdout, "reply: DIALED\n");
        assert_eq!(server.join().unwrap(), b"dialed");
    }
}

#[test]
fn client_uses_a_preopened_connection() {
    for engine in ENGINES {
        let (port, server) = upper_server();
        let client = guest("client.wasm");
        let stdout = run_client(
            engine,
            &[
                "--dial",
                &format!("127.0.0.1:{port}"),
                client.to_str().unwrap(),
                "preopen",
                "preopened",
            ],
        );
        assert_eq!(stdout, "reply: PREOPENED\n");
        assert_eq!(server.join().unwrap(), b"preopened");
    }
}

/// A port on 127.0.0.1 where nobody listens (it was free a moment ago).
///
/// It is taken below the kernel's ephemeral range: the tests running beside
/// this one bind port 0 and connect out, and the kernel hands them ephemeral
/// ports, so a port from that range could be taken (or listened on) by
/// another test between this check and its use. Successive calls walk
/// through the range from an offset derived from the process id, so two
/// tests, or two test processes, do not pick the same port.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let base = ephemeral.saturating_sub(10_000).max(1024);
    let span = ephemeral - base;
    let offset = (std::process::id() % u32::from(span)) as u16;
    loop {
        let step = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = base + (offset + step) % span;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[test]
fn two_argument_sock_accept_is_linked_by_signature() {
    for engine in ENGINES {
        let port = free_port();
        let child = wasirun(
            engine,
            &[
                "--listen",
                &format!("127.0.0.1:{port}"),
                guest("accept_v1.wat").to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap();
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => break stream,
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "v1\n");
        finish(child);
    }
}

#[test]
fn bad_calls_and_closed_peers_give_errno_values() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let refused = free_port();
        let peer = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer_port = peer.local_addr().unwrap().port();
        let closer = thread::spawn(move || drop(peer.accept().unwrap()));
        let stdout = run_client(
            engine,
            &[
                "--dir",
                &format!("{}::.", dir.path().display()),
                "--allow-connect",
                "127.0.0.1:*",
                guest("errors.wasm").to_str().unwrap(),
                &refused.to_string(),
                &peer_port.to_string(),
            ],
        );
        closer.join().unwrap();
        assert_eq!(
            stdout,
            "open_unix 5\n\
             open_any 28\n\
             open_bad_ptr 21\n\
             connect_refused 14\n\
             connect_bad_ptr 21\n\
             connect_bad_len 28\n\
             connect_bad_port 28\n\
             bind_not_allowed 76\n\
             listen_unbound 76\n\
             peeraddr_not_connected 53\n\
             setsockopt_read_only 50\n\
             setsockopt_bad_len 28\n\
             setsockopt_unknown 28\n\
             close_socket 0\n\
             sock_on_stdout 57\n\
             uri_bad 28\n\
             uri_bad_option 28\n\
             uri_listen_not_allowed 76\n\
             uri_dial_refused 14\n\
             dial_peer 0\n\
             read_closed 0 0\n\
             write_closed EPIPE-or-ECONNRESET\n\
             close 0\n",
            "{engine}"
        );
    }
}

#[test]
fn trace_shows_socket_calls() {
    for engine in ENGINES {
        let (port, server) = upper_server();
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace.txt");
        run_client(
            engine,
            &[
                "--trace-file",
                trace.to_str().unwrap(),
                "--allow-connect",
                "127.0.0.1:*",
                guest("client.wasm").to_str().unwrap(),
                "connect",
                "127.0.0.1",
                &port.to_string(),
                "traced",
            ],
        );
        server.join().unwrap();
        let trace = std::fs::read_to_string(trace).unwrap();
        let sockets: Vec<&str> = trace
            .lines()
            .filter(|line| line.starts_with("sock_"))
            .collect();
        assert_eq!(
            sockets,
            [
                "sock_open(inet4, stream) = 3".to_string(),
                "sock_setsockopt(3, TCP_NODELAY, 1) = 0".to_string(),
                format!("sock_connect(3, 127.0.0.1:{port}) = 0"),
                "sock_getsockopt(3, SO_TYPE) = 2".to_string(),
                format!("sock_getpeeraddr(3) = 127.0.0.1:{port}"),
                "sock_shutdown(3, WR) = 0".to_string(),
            ],
            "{engine}"
        );
        assert!(
            trace.contains("fd_write(3, [6 bytes \"traced\"]) = 6\n"),
            "{trace}"
        );
    }
}
