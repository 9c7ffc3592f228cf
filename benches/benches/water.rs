//! WATER v0 (`watm-transport`): relay throughput through the plain WATM
//! (`tests/watm/plain.wat`) and water's reference TinyGo build of `plain`
//! (`tests/watm/reference/plain.go.wasm`) against a direct TCP connection
//! and a native user-space relay (a Rust copy loop per direction), in the
//! same run;
//! connection set-up time (instantiate, `_water_init`, `_water_dial` and its
//! TCP dial); memory per live connection (printed, not timed). On both
//! engines.
//!
//! Ids: `water_relay_1MiB/{direct,tcp_relay,watm/wasmtime,watm/wasmi,
//! watm-go/wasmtime,watm-go/wasmi}` and `water_setup/watm/{wasmtime,wasmi}`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use wasi_core::runtime::Runtime;
use wasi_runner::{Engine, WithRuntime};
use watm_transport::{Closer, Config, Dialer, Relay};

/// Bytes sent per iteration, and acknowledged by the sink.
const CHUNK: usize = 1 << 20;

/// The test WATM `name` of `watm-transport` (`tests/watm/`).
fn watm_config(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/watm-transport/tests/watm")
        .join(name);
    Config::from_file(path).expect(name)
}

fn plain_config() -> Config {
    watm_config("plain.wat")
}

/// Runs `code` on `engine`'s runtime, created for the WATM's limits (as
/// `wasirun water` creates it).
fn on<W: WithRuntime>(engine: Engine, code: W) -> W::Output {
    engine
        .with_runtime(plain_config().runtime_config(), None, code)
        .expect("the engine starts")
}

/// A server that reads `CHUNK` bytes at a time and acknowledges each with
/// one byte, on every connection.
fn sink() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0; 256 << 10];
                let mut got = 0;
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                    while got >= CHUNK {
                        got -= CHUNK;
                        if stream.write_all(&[1]).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A plain TCP relay to `remote`: two copying threads per connection,
/// both sockets with `TCP_NODELAY` as the WATM relay's are.
fn tcp_relay(remote: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(remote) else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || copy_then_shutdown(client, server));
            std::thread::spawn(move || copy_then_shutdown(s2, c2));
        }
    });
    addr
}

fn copy_then_shutdown(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A relay through the WATM it holds to the address it holds, served on
/// its own thread.
struct WatmRelay(Config, SocketAddr);

impl WithRuntime for WatmRelay {
    type Output = (SocketAddr, Closer);

    fn run<R: Runtime>(self, runtime: R) -> (SocketAddr, Closer) {
        let relay = Relay::bind(&runtime, &self.0, "127.0.0.1:0", self.1).unwrap();
        let addr = relay.local_addr().unwrap();
        let closer = relay.closer();
        std::thread::spawn(move || relay.serve());
        (addr, closer)
    }
}

/// Sends `iterations` chunks over `stream`, waiting for each one's
/// acknowledgement.
fn send_chunks(stream: &mut TcpStream, iterations: u64) -> io::Result<Duration> {
    let data = vec![0x5a; CHUNK];
    let start = Instant::now();
    for _ in 0..iterations {
        stream.write_all(&data)?;
        stream.read_exact(&mut [0])?;
    }
    Ok(start.elapsed())
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Prints the resident memory of 200 live connections to the address it
/// holds, per connection.
struct MemoryPerConnection(SocketAddr);

impl WithRuntime for MemoryPerConnection {
    type Output = ();

    fn run<R: Runtime>(self, runtime: R) {
        let remote = self.0;
        let dialer = Dialer::new(&runtime, &plain_config()).unwrap();
        // One first, so that shared state (code, caches) is not counted.
        let first = dialer.dial(remote).unwrap();
        let before = rss_kib();
        let conns: Vec<_> = (0..200).map(|_| dialer.dial(remote).unwrap()).collect();
        let after = rss_kib();
        eprintln!(
            "water memory per live connection, {}: {} KiB (RSS, 200 connections)",
            runtime.engine_name(),
            after.saturating_sub(before) / 200
        );
        drop(conns);
        drop(first);
    }
}

/// Times setting up a connection to the address it holds (`Dialer::dial`,
/// then `close`), as `water_setup/watm/{engine}` in `group`.
struct Setup<'a, 'c>(SocketAddr, &'a mut BenchmarkGroup<'c, WallTime>);

impl WithRuntime for Setup<'_, '_> {
    type Output = ();

    fn run<R: Runtime>(self, runtime: R) {
        let Setup(remote, group) = self;
        let dialer = Dialer::new(&runtime, &plain_config()).unwrap();
        group.bench_function(format!("watm/{}", runtime.engine_name()), |b| {
            b.iter(|| {
                let mut conn = dialer.dial(remote).unwrap();
                conn.close().unwrap();
            })
        });
    }
}

fn water(c: &mut Criterion) {
    let memory_sink = sink();
    for engine in Engine::ALL {
        on(engine, MemoryPerConnection(memory_sink));
    }
    let remote = sink();
    let mut group = c.benchmark_group("water_relay_1MiB");
    group
        .sample_size(20)
        .throughput(Throughput::Bytes(CHUNK as u64));
    let mut targets: Vec<(String, SocketAddr, Option<Closer>)> = vec![
        ("direct".into(), remote, None),
        ("tcp_relay".into(), tcp_relay(remote), None),
    ];
    // water's reference TinyGo build: its short writes were fatal until
    // writes on connections completed (spec/watm-v0.md).
    for (prefix, watm) in [
        ("watm", "plain.wat"),
        ("watm-go", "reference/plain.go.wasm"),
    ] {
        for engine in Engine::ALL {
            let (addr, closer) = on(engine, WatmRelay(watm_config(watm), remote));
            targets.push((format!("{prefix}/{}", engine.name()), addr, Some(closer)));
        }
    }
    for (name, addr, _) in &targets {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        group.bench_function(name.as_str(), |b| {
            b.iter_custom(|iterations| send_chunks(&mut stream, iterations).unwrap())
        });
    }
    group.finish();
    for (_, _, closer) in targets {
        if let Some(closer) = closer {
            closer.close();
        }
    }

    let mut group = c.benchmark_group("water_setup");
    group.sample_size(20);
    for engine in Engine::ALL {
        on(engine, Setup(remote, &mut group));
    }
    group.finish();
}

criterion_group!(benches, water);
criterion_main!(benches);
