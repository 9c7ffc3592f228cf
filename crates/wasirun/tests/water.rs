//! `wasirun water relay|dial|listen` over loopback TCP, through the test
//! WATMs of crates/watm-transport; stopped with SIGTERM, which exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn watm(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../watm-transport/tests/watm");
    path.join(name).display().to_string()
}

/// A running `wasirun water ...`, killed if the test fails.
struct Water {
    child: Child,
    addr: SocketAddr,
    /// The rest of its stderr, line by line.
    stderr: mpsc::Receiver<String>,
}

impl Water {
    fn start(role: &str, name: &str, raddr: SocketAddr, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args([
                "water",
                role,
                "--watm",
                &watm(name),
                "--laddr",
                "127.0.0.1:0",
            ])
            .args(["--raddr", &raddr.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, stderr) = mpsc::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        std::thread::spawn(move || {
            while let Some(Ok(line)) = lines.next() {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let first = stderr.recv_timeout(Duration::from_secs(30)).unwrap();
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            stderr,
        }
    }

    /// Sends SIGTERM and waits for the exit.
    fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("wasirun water did not exit after SIGTERM");
    }
}

impl Drop for Water {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `out` from `near`, checks `far` gets `expected`, and back.
fn exchange(near: &mut TcpStream, far: &mut TcpStream, out: &[u8], expected: &[u8]) {
    near.write_all(out).unwrap();
    let mut got = vec![0; expected.len()];
    far.read_exact(&mut got).unwrap();
    assert_eq!(got, expected);
    far.write_all(out).unwrap();
    near.read_exact(&mut got).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn relay_on_both_engines() {
    for runtime in ["wasmtime", "wasmi"] {
        let (remote, raddr) = server();
        let water = Water::start("relay", "plain.wat", raddr, &["--runtime", runtime]);
        let mut clients: Vec<_> = (0..2)
            .map(|_| (connect(water.addr), accept(&remote)))
            .collect();
        for (client, peer) in &mut clients {
            exchange(client, peer, b"through the relay", b"through the relay");
        }
        assert!(water.stop().success(), "{runtime}");
        // Stopping cancelled the workers: the connections ended.
        for (mut client, _) in clients {
            assert_eq!(client.read(&mut [0; 8]).unwrap_or(0), 0);
        }
    }
}

#[test]
fn dial_transforms_what_plain_clients_send() {
    let (remote, raddr) = server();
    let water = Water::start("dial", "reverse.wat", raddr, &["--runtime", "wasmi"]);
    let mut client = connect(water.addr);
    client.write_all(b"abc").unwrap();
    let mut peer = accept(&remote);
    let mut got = [0; 3];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"cba");
    peer.write_all(b"xyz").unwrap();
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"zyx");
    assert!(water.stop().success());
}

#[test]
fn listen_forwards_the_plain_end_with_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, [0x20]).unwrap();
    let (remote, raddr) = server();
    let key = key.display().to_string();
    let water = Water::start("listen", "xor.wat", raddr, &["--config", &key]);
    let mut client = connect(water.addr);
    client.write_all(b"ABC").unwrap();
    let mut peer = accept(&remote);
    let mut got = [0; 3];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"abc", "XOR 0x20 flips the case");
    // The module's stderr reaches ours, prefixed.
    let said = water.stderr.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(said, "watm: xor: key loaded");
    assert!(water.stop().success());
}

#[test]
fn an_invalid_module_exits_2_with_one_line() {
    for role in ["relay", "dial", "listen"] {
        let output = Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["water", role, "--watm", &watm("missing-worker.wat")])
            .args(["--laddr", "127.0.0.1:0", "--raddr", "127.0.0.1:9"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{role}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            stderr,
            format!(
                "wasirun water {role}: WATM has no export `_water_worker` (required: () -> i32)\n"
            )
        );
    }
}

#[test]
fn a_failed_dial_is_logged_and_serving_goes_on() {
    let unreachable = server().1;
    let water = Water::start("relay", "plain.wat", unreachable, &[]);
    let mut client = connect(water.addr);
    // The connection is closed without data, and the reason is logged.
    assert_eq!(client.read(&mut [0; 8]).unwrap_or(0), 0);
    let logged: Vec<String> =
        std::iter::from_fn(|| water.stderr.recv_timeout(Duration::from_secs(5)).ok())
            .take_while(|line| !line.contains("ENOTCONN"))
            .take(10)
            .collect();
    assert!(logged.len() < 10, "no ENOTCONN in {logged:?}");
    assert!(water.stop().success());
}

#[test]
fn each_connection_gets_the_stack_and_its_trace() {
    // `--trace-file` logs each connection's instance under its own number;
    // `--dir` is accepted, and preopened for each.
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.log");
    let (listener, raddr) = server();
    let water = Water::start(
        "relay",
        "plain.wat",
        raddr,
        &[
            "--trace-file",
            trace.to_str().unwrap(),
            "--dir",
            &format!("{}::/data", tmp.path().display()),
        ],
    );
    for _ in 0..2 {
        let mut near = connect(water.addr);
        let mut far = accept(&listener);
        exchange(&mut near, &mut far, b"ping", b"ping");
    }
    assert!(water.stop().success());
    let trace = std::fs::read_to_string(trace).unwrap();
    // Every line is a guest's; each connection's instance is a guest of
    // its own (the module's check when the relay starts may be one too).
    let guests: std::collections::BTreeSet<&str> = trace
        .lines()
        .map(|line| line.split_once("] ").expect(&trace).0)
        .collect();
    assert!(guests.len() >= 2, "{trace}");
    assert!(guests.iter().all(|guest| guest.starts_with('[')), "{trace}");
    assert!(
        trace.contains("fd_read(") && trace.contains("\"ping\""),
        "{trace}"
    );
}

#[test]
fn options_that_cannot_apply_to_water_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(["water", "relay", "--watm", &watm("plain.wat")])
        .args(["--laddr", "127.0.0.1:0", "--raddr", "127.0.0.1:9"])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--listen does not apply to `wasirun water`"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
