//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;
use wasi_core::runtime::RuntimeConfig;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;
use watm_transport::Config;

/// A wasmtime runtime without limits: the roles derive one under the
/// WATM's (`Config::runtime_config`).
pub fn wasmtime() -> WasmtimeRuntime {
    WasmtimeRuntime::new(RuntimeConfig::new()).unwrap()
}

/// A wasmi runtime without limits.
pub fn wasmi() -> WasmiRuntime {
    WasmiRuntime::new(RuntimeConfig::new())
}

/// Runs the block once on each engine, with `$runtime` bound to its
/// runtime and `$engine` to its name. (Not every test binary uses it.)
#[allow(unused_macros)]
macro_rules! each_engine {
    (|$runtime:ident, $engine:ident| $body:block) => {{
        {
            let $runtime = $crate::common::wasmtime();
            let $engine = wasi_core::runtime::Runtime::engine_name(&$runtime);
            let _ = $engine;
            $body
        }
        {
            let $runtime = $crate::common::wasmi();
            let $engine = wasi_core::runtime::Runtime::engine_name(&$runtime);
            let _ = $engine;
            $body
        }
    }};
}
#[allow(unused_imports)]
pub(crate) use each_engine;

/// The WATMs that carry data in every role: hand-written WAT; C built with
/// wasi-libc as a WASI command (nonblocking sockets and `poll`, as TinyGo
/// builds do); Rust std as a `cdylib` with `_water_v0` a global (as Rust
/// builds have it).
pub const CARRIERS: [&str; 4] = [
    "plain.wat",
    "reverse.wat",
    "c/nonblocking.wasm",
    "rust/reverse.wasm",
];

/// The path of a test WATM.
pub fn watm(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/watm")
        .join(name)
}

/// A configuration for the test WATM `name`.
pub fn config(name: &str) -> Config {
    let mut config = Config::from_file(watm(name)).unwrap();
    config.cancel_grace(Duration::from_millis(500));
    config
}

/// What the WATM `name` does to a chunk.
pub fn transform(name: &str, chunk: &[u8]) -> Vec<u8> {
    match name {
        "reverse.wat" | "rust/reverse.wasm" => chunk.iter().rev().copied().collect(),
        _ => chunk.to_vec(),
    }
}

/// A small deterministic generator (xorshift64*), for message bytes.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Fills `buf`, eight bytes a step (the stream differs from
    /// [`bytes`](Self::bytes)'s): fast enough for hundreds of MiB in a
    /// debug build.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let word = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }
}

/// Sends 10 random 1 KiB messages each way between `near` and `far`,
/// checking that each arrives as `name` transforms it.
pub fn exchange(name: &str, near: &mut impl ReadWrite, far: &mut impl ReadWrite, seed: u64) {
    let mut rng = Rng::new(seed);
    for round in 0..10 {
        let out = rng.bytes(1024);
        near.write_all(&out).unwrap();
        let mut got = vec![0; 1024];
        far.read_exact(&mut got).unwrap();
        assert_eq!(
            got,
            transform(name, &out),
            "{name}: round {round}, near to far"
        );
        let back = rng.bytes(1024);
        far.write_all(&back).unwrap();
        near.read_exact(&mut got).unwrap();
        assert_eq!(
            got,
            transform(name, &back),
            "{name}: round {round}, far to near"
        );
    }
}

/// `Read + Write`.
pub trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

/// A listener on a free loopback port.
pub fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Accepts one connection, with a timeout on its reads.
pub fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// An address nothing listens on.
pub fn unreachable_addr() -> SocketAddr {
    listener().1
}

/// Reads until end of stream (or a reset), with a timeout; what was read.
pub fn read_to_end(stream: &mut impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("reading to the end: {e}"),
        }
    }
}

/// A field of /proc/self/status, in its unit (kB for memory).
pub fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Waits up to 10 s for `done`.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}
