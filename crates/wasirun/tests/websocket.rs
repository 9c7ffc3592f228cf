//! WebSocket daemons (spec/wasi-cloud.md, "WebSocket daemons"): `wasirun
//! serve` as a process, on both engines, its C guests (`handlers/wsecho.c`,
//! `handlers/wschat.c`) driven by a real client, Python's `websockets`
//! (`websocket_client.py`; `cargo xtask test` installs it).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn handler(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/handlers/{name}.wasm"))
}

/// The Python with `websockets`: Debian's, which its package installs
/// into, or the first on the PATH.
fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            ["/usr/bin/python3", "python3"].into_iter().find(|python| {
                Command::new(python)
                    .args(["-c", "import websockets"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            })
        })
        .expect(
            "these tests need Python's websockets (Debian: python3-websockets): \
             `cargo xtask test` installs it",
        )
}

/// `wasirun serve` on a free port, stopped (killed) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Its stderr lines after the first.
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(engine: &str, module: &str, extra: &[&str]) -> Self {
        let Spawned {
            child, addr, lines, ..
        } = spawn_server(
            Command::new(env!("CARGO_BIN_EXE_wasirun"))
                .args([
                    "serve",
                    "--addr",
                    "127.0.0.1:0",
                    "--no-cache",
                    "--runtime",
                    engine,
                ])
                .args(extra)
                .arg(handler(module)),
        );
        Self { child, addr, lines }
    }

    fn uri(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Waits (up to 10 s) for a stderr line equal to `line`; the lines
    /// before it are returned.
    fn expect_line(&self, line: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) if got == line => return before,
                Ok(got) => before.push(got),
                Err(_) => panic!("no line {line:?} on stderr; got {before:#?}"),
            }
        }
    }

    /// Waits (up to 10 s) for a line starting with `prefix`.
    fn expect_prefix(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) if got.starts_with(prefix) => return got,
                Ok(got) => before.push(got),
                Err(_) => panic!("no line {prefix:?}... on stderr; got {before:#?}"),
            }
        }
    }

    /// Sends `request` (raw HTTP/1.1) on a connection of its own and
    /// returns the response's status line (the connection may stay open).
    fn raw(&self, request: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the client in `mode` against `uri`: its stdout lines; a failure
/// of the client fails the test, with its output.
fn client(mode: &str, uri: &str, args: &[&str]) -> Vec<String> {
    let output = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/websocket_client.py"))
        .args([mode, uri])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client {mode} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

/// Close lines of the client, without their timing.
fn closed(lines: &[String]) -> String {
    let last = lines.last().map_or("", String::as_str);
    last.rsplit_once(' ')
        .map_or(last, |(close, _)| close)
        .to_owned()
}

#[test]
fn thousands_of_messages_echo_in_order_and_pings_are_answered_by_the_host() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &[]);
        assert_eq!(
            client("echo", &server.uri("/"), &["5000"]),
            ["echoed 5000"],
            "{engine}"
        );
        server.expect_line("wsecho: close 1000");
        server.expect_line("wsecho: eof");
        server.expect_prefix("WS / 1000 ");
        assert_eq!(
            client("ping", &server.uri("/"), &[]),
            ["pong after the ping"],
            "{engine}"
        );
    }
}

#[test]
fn the_guests_close_and_end_close_the_websocket_with_their_codes() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &[]);
        let uri = server.uri("/");
        // The guest's own close; the client's answer reaches the guest.
        assert_eq!(
            closed(&client("send", &uri, &["close"])),
            "closed 4000 bye",
            "{engine}"
        );
        server.expect_line("wsecho: close 4000");
        server.expect_line("wsecho: eof");
        // A non-zero exit is 1011.
        assert_eq!(
            closed(&client("send", &uri, &["exit 3"])),
            "closed 1011 the handler failed",
            "{engine}"
        );
        server.expect_prefix("WS / 1011 ");
    }
}

#[test]
fn messages_past_max_message_close_with_1009_or_fail_the_guests_write() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &["--max-message", "64K"]);
        let uri = server.uri("/");
        assert_eq!(
            closed(&client("oversize", &uri, &["65537"])),
            "closed 1009 message too big",
            "{engine}"
        );
        server.expect_line("wsecho: close 1009");
        server.expect_line("wsecho: eof");
        // Exactly the limit passes, either way.
        assert_eq!(client("ask-binary", &uri, &["65536"]), ["binary 65536"]);
        assert_eq!(client("ask", &uri, &["big 65536"]), ["binary 65536"]);
        // The guest's own message past it: EMSGSIZE, nothing sent.
        assert_eq!(
            client("ask", &uri, &["big 65537"]),
            ["text big: Message too large"],
            "{engine}"
        );
    }
}

#[test]
fn an_abrupt_disconnect_reaches_the_guest_as_1006_then_eof() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &["--max-websockets", "1"]);
        let uri = server.uri("/");
        assert_eq!(client("abrupt", &uri, &[]), ["echo hi", "aborted"]);
        server.expect_line("wsecho: close 1006");
        server.expect_line("wsecho: eof");
        server.expect_prefix("WS / 1006 ");
        // Its place is free again: nothing of it is left.
        assert_eq!(client("echo", &uri, &["10"]), ["echoed 10"], "{engine}");
    }
}

#[test]
fn bad_handshakes_and_bad_101s_are_refused() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &[]);
        // A 101 to a request that is not a handshake: 502.
        assert_eq!(
            server.raw("GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
            "HTTP/1.1 502 Bad Gateway"
        );
        // A subprotocol the client did not offer: 502.
        assert_eq!(
            client("status", &server.uri("/badproto"), &[]),
            ["status 502"]
        );
        // A broken handshake is answered by the host, without the guest.
        let handshake = |version: &str, key: &str| {
            format!(
                "GET / HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
                 sec-websocket-version: {version}\r\nsec-websocket-key: {key}\r\n\r\n"
            )
        };
        assert_eq!(
            server.raw(&handshake("8", "dGhlIHNhbXBsZSBub25jZQ==")),
            "HTTP/1.1 426 Upgrade Required"
        );
        assert_eq!(
            server.raw(&handshake("13", "c2hvcnQ=")),
            "HTTP/1.1 400 Bad Request"
        );
    }
}

#[test]
fn websockets_past_max_websockets_get_503_until_one_ends() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &["--max-websockets", "2"]);
        assert_eq!(
            client("count", &server.uri("/"), &["2"]),
            ["open 2", "status 503", "open"],
            "{engine}"
        );
    }
}

#[test]
fn idle_and_long_lived_websockets_are_closed_with_1001() {
    for engine in ENGINES {
        let server = Server::start(engine, "wsecho", &["--idle-timeout", "1s"]);
        let lines = client("send", &server.uri("/"), &[]);
        assert_eq!(closed(&lines), "closed 1001 idle timeout", "{engine}");
        let took: f64 = lines[0]
            .rsplit_once(' ')
            .unwrap()
            .1
            .trim_end_matches('s')
            .parse()
            .unwrap();
        assert!((0.9..3.0).contains(&took), "{took}");
        server.expect_line("wsecho: close 1001");

        let server = Server::start(
            engine,
            "wsecho",
            &["--websocket-lifetime", "1s", "--timeout", "300ms"],
        );
        // The request's --timeout stops at the 101; the lifetime applies.
        let lines = client("send", &server.uri("/"), &[]);
        assert_eq!(closed(&lines), "closed 1001 lifetime ended", "{engine}");
    }
}

#[test]
fn a_chat_room_through_the_key_value_store() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let store = dir.path().join(format!("{engine}.redb"));
        let server = Server::start(
            engine,
            "wschat",
            &["--kv", "--kv-store", store.to_str().unwrap()],
        );
        assert_eq!(
            client("chat", &server.uri("/"), &[]),
            [
                r"a 'hello from a\n'",
                r"b 'hello from a\nhello from b\n'",
                r"a 'hello from b\nbye from a\n'",
            ],
            "{engine}"
        );
    }
}

#[test]
fn sigterm_closes_open_websockets_with_1001_and_exits_0() {
    for engine in ENGINES {
        let mut server = Server::start(engine, "wsecho", &[]);
        let mut waiting = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/websocket_client.py"))
            .args(["wait-close", &server.uri("/")])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(waiting.stdout.take().unwrap()).lines();
        assert_eq!(out.next().unwrap().unwrap(), "open");
        let status = Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(out.next().unwrap().unwrap(), "closed 1001", "{engine}");
        assert!(waiting.wait().unwrap().success());
        server.expect_line("wsecho: close 1001");
        assert_eq!(server.child.wait().unwrap().code(), Some(0), "{engine}");
    }
}
