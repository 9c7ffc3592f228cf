//! `wasirun serve` (wasi-runner's `Server`): the cost of a request's
//! instance, and the server under load against native servers.
//!
//! - `serve_instantiate/{wasmtime,wasmtime_pooled,wasmi}` (criterion): a
//!   fresh instance of a prepared hello handler, with its WASI system (what
//!   each request pays before the guest runs), and `serve_system` the system
//!   alone, both with the standard streams inspected once, as the server
//!   does;
//! - then, unless `SERVE_LOAD=0`, load runs with `wrk` (installed with
//!   apt-get when missing, if it can be) against a native hyper hello
//!   server, a native C epoll server with the same answer
//!   (`native/hello_epoll.c`, built with the host's `cc`), and `Server` on
//!   each engine with two handlers: the WAT one below (3 calls) and a C one
//!   built with wasi-libc as users write them (`handlers/hello.c`: stdio,
//!   parses the request line). Each server in turn, for `SERVE_ROUNDS`
//!   (default 3) rounds of `SERVE_LOAD_SECS` (default 5) seconds: first 64
//!   connections (req/s), then one (p50 latency); each server's median round
//!   is shown with its ratios to both native servers in that round and
//!   every round's req/s; then, unless `SERVE_MIX=0`, 100,000 requests of
//!   which 10% trap and 1% loop past a 50 ms timeout, checking that every one is answered (500/504) and printing the
//!   server's memory before and after; then the hostile mix: wrk's 64
//!   connections on wasmtime, quiet and then beside attackers (4 clients
//!   that ask for 32 MiB and never read, 4 that trickle request bodies, 2
//!   HTTP/2 connections holding 32 streams each), with normal clients'
//!   req/s and p99 in both. Results go to stdout as Markdown.
//!   `SERVE_CONCURRENCY` sets the server's `max_concurrency` (default:
//!   twice the CPUs).

mod common;

use bytes::Bytes;
use common::{native_tokio, run_server};
use criterion::Criterion;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::sync::oneshot;
use wasi_core::System;
use wasi_core::runtime::{Imports, Prepared, Runtime, RuntimeConfig};
use wasi_runner::{Engine, Module, RunOptions, ServeConfig, ServeMode, ServeOptions, Server};
use wasi_unix::{InheritedStdio, UnixSystem};
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

// `wasirun`'s allocator, so that the server is measured as it ships; the
// native server runs with it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELLO_BODY: &str = "Hello, world!\n";

/// Writes a 14-byte response to `/response/txt`; with `branch`, `GET /t`
/// traps, `GET /l` loops and `GET /b` streams 32 MiB.
fn hello(branch: bool) -> String {
    let branches = if branch {
        r#"(if (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 0)
              (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 112)) (then (unreachable)))
           (i32.store (i32.const 100) (i32.const 4096))
           (i32.store (i32.const 104) (i32.const 16))
           (drop (call $fd_read (i32.load (i32.const 112)) (i32.const 100) (i32.const 1) (i32.const 108)))
           (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 116)) (then unreachable))
           (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 108)) (then (loop $l (br $l))))
           (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 98)) (then
             (if (call $path_open (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 0)
                   (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 112)) (then (unreachable)))
             (i32.store (i32.const 100) (i32.const 200))
             (i32.store (i32.const 104) (i32.const 45))
             (drop (call $fd_write (i32.load (i32.const 112)) (i32.const 100) (i32.const 1) (i32.const 108)))
             (local.set $i (i32.const 512))
             (loop $big
               (i32.store (i32.const 100) (i32.const 4096))
               (i32.store (i32.const 104) (i32.const 65536))
               (if (call $fd_write (i32.load (i32.const 112)) (i32.const 100) (i32.const 1) (i32.const 108))
                 (then (return)))
               (local.set $i (i32.sub (local.get $i) (i32.const 1)))
               (br_if $big (local.get $i)))
             (return)))"#
    } else {
        ""
    };
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "txt")
  (data (i32.const 16) "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 14\r\n\r\nHello, world!\n")
  (data (i32.const 200) "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")
  (func (export "_start") (local $i i32)
    {branches}
    (if (call $path_open (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 0)
          (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 112)) (then (unreachable)))
    (i32.store (i32.const 100) (i32.const 16))
    (i32.store (i32.const 104) (i32.const 80))
    (drop (call $fd_write (i32.load (i32.const 112)) (i32.const 100) (i32.const 1) (i32.const 108)))))"#
    )
}

type GuestSystem = Box<dyn System + Send>;

fn instantiate<R: Runtime>(c: &mut Criterion, name: &str, runtime: &R) {
    let wasm = wat::parse_str(hello(false)).unwrap();
    let mut imports = Imports::new();
    imports.wasi(|system: &mut GuestSystem| -> &mut dyn System { &mut **system });
    let prepared = runtime.prepare(&wasm, &imports).unwrap();
    let stdio = InheritedStdio::inspect().unwrap().without_stdin();
    c.bench_function(&format!("serve_instantiate/{name}"), |b| {
        b.iter(|| {
            let system = UnixSystem::builder().inherit_stdio(&stdio).build();
            let system: GuestSystem = Box::new(system.unwrap());
            prepared.instantiate(system).unwrap()
        })
    });
}

fn instantiation(c: &mut Criterion) {
    // As the server builds it: the standard streams inspected once.
    let stdio = InheritedStdio::inspect().unwrap().without_stdin();
    c.bench_function("serve_system", |b| {
        b.iter(|| UnixSystem::builder().inherit_stdio(&stdio).build().unwrap())
    });
    instantiate(
        c,
        "wasmtime",
        &WasmtimeRuntime::new(RuntimeConfig::new()).unwrap(),
    );
    let pooled = RuntimeConfig {
        instance_pool: Some(16),
        max_memory: Some(16 << 20),
        ..RuntimeConfig::new()
    };
    instantiate(c, "wasmtime_pooled", &WasmtimeRuntime::new(pooled).unwrap());
    instantiate(c, "wasmi", &WasmiRuntime::new(RuntimeConfig::new()));
}

/// A running server: its address, and how to stop it.
struct Running {
    addr: SocketAddr,
    stop: Stop,
}

/// How a running server stops.
enum Stop {
    /// A server on a thread of this process, stopped through the channel.
    Thread(oneshot::Sender<()>, std::thread::JoinHandle<()>),
    /// A native server process, killed.
    Process(std::process::Child),
}

impl Running {
    fn stop(self) {
        match self.stop {
            Stop::Thread(stop, thread) => {
                let _ = stop.send(());
                thread.join().unwrap();
            }
            Stop::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A native hyper server answering every request with the hello response,
/// with the same connection settings as `Server`.
fn native() -> Running {
    let (addr, stop, thread) = native_tokio(|stream| async move {
        let service = service_fn(|_: Request<hyper::body::Incoming>| async {
            let mut response = Response::new(Full::new(Bytes::from(HELLO_BODY)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain"),
            );
            Ok::<_, Infallible>(response)
        });
        let _ = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
    Running {
        addr,
        stop: Stop::Thread(stop, thread),
    }
}

/// The native C server (`native/hello_epoll.c`, one epoll loop per CPU),
/// built with the host's C compiler (`$CC`, else `cc`); `None`, said on
/// stderr, where there is none.
fn native_epoll() -> Option<Running> {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/native/hello_epoll.c");
    let binary = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hello_epoll");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let built = Command::new(&cc)
        .args(["-O2", "-o"])
        .arg(&binary)
        .args([source, "-lpthread"])
        .status();
    if !built.is_ok_and(|status| status.success()) {
        eprintln!("serve bench: `{cc}` cannot build {source}; the native C row is skipped");
        return None;
    }
    let mut child = Command::new(&binary)
        .arg("0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take()?),
        &mut port,
    )
    .ok()?;
    let Ok(port) = port.trim().parse::<u16>() else {
        let _ = child.kill();
        return None;
    };
    Some(Running {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        stop: Stop::Process(child),
    })
}

/// The WAT hello handler; with `branch`, see [`hello`].
fn wat_hello(branch: bool) -> Module {
    Module::from_bytes("hello.wat", hello(branch)).unwrap()
}

/// The C handler as users write one (`handlers/hello.c`, wasi-libc).
fn c_hello() -> Module {
    Module::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/handlers/hello.wasm")).unwrap()
}

/// `Server` with `module` on `engine`.
fn wasm(engine: Engine, module: Module, timeout: Option<Duration>) -> Running {
    let timeout = timeout.unwrap_or(wasi_runner::DEFAULT_TIMEOUT);
    let mut options = RunOptions::new();
    options.engine(engine).timeout(Some(timeout));
    let server = Server::bind(
        module,
        options,
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: ServeMode::Functions,
            http: ServeConfig {
                quiet: true,
                timeout,
                max_concurrency: std::env::var("SERVE_CONCURRENCY")
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| ServeConfig::default().max_concurrency),
                ..ServeConfig::default()
            },
            background: None,
        },
    )
    .unwrap();
    let (addr, stop, thread) = run_server(server);
    Running {
        addr,
        stop: Stop::Thread(stop, thread),
    }
}

/// `wrk` on the path, installed with apt-get if it is not.
fn wrk() -> bool {
    let found = || Command::new("wrk").arg("--version").output().is_ok();
    if found() {
        return true;
    }
    eprintln!("serve bench: installing wrk with apt-get");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .status();
    found()
}

/// What one `wrk` run measured.
struct Load {
    requests: u64,
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
    errors: String,
}

/// Runs wrk on `addr` with 64 connections for `secs` seconds.
fn load(addr: SocketAddr, secs: u64, script: Option<&std::path::Path>) -> Load {
    load_with(addr, 64, secs, script, None)
}

/// Runs wrk on `addr` with `connections` connections (on as many threads,
/// at most 2) for `secs` seconds, on CPU `cpu` if given.
fn load_with(
    addr: SocketAddr,
    connections: u32,
    secs: u64,
    script: Option<&std::path::Path>,
    cpu: Option<usize>,
) -> Load {
    let mut command = match cpu {
        Some(cpu) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &cpu.to_string(), "wrk"]);
            taskset
        }
        None => Command::new("wrk"),
    };
    command.args([
        &format!("-t{}", connections.min(2)),
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "--latency",
        "--timeout",
        "5s",
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(format!("http://{addr}/")).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|rest| rest.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let requests = text
        .lines()
        .find(|line| line.contains("requests in"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Load {
        requests,
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        p50: field("50%"),
        p99: field("99%"),
        non_2xx: field("Non-2xx or 3xx responses:").parse().unwrap_or(0),
        errors: field("Socket errors:"),
    }
}

/// This process's resident memory, from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn load_runs() {
    if std::env::var("SERVE_LOAD").is_ok_and(|v| v == "0") {
        return;
    }
    if !wrk() {
        eprintln!("serve bench: no wrk, load runs skipped");
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let secs = env("SERVE_LOAD_SECS", 5);
    let rounds = usize::try_from(env("SERVE_ROUNDS", 3)).unwrap_or(3).max(1);
    let mut servers = vec![("native hyper".to_owned(), native())];
    let native_c = native_epoll().map(|server| {
        servers.push(("native C (epoll)".to_owned(), server));
        servers.len() - 1
    });
    for engine in Engine::ALL {
        for (handler, module) in [("WAT", wat_hello(false)), ("C", c_hello())] {
            let name = format!("`wasirun serve --runtime {engine}`, {handler} handler");
            servers.push((name, wasm(engine, module, None)));
        }
    }
    let anchors: Vec<(&str, usize)> = std::iter::once(("native hyper", 0))
        .chain(native_c.map(|i| ("native C", i)))
        .collect();
    rounds_table(&servers, &anchors, 64, secs, rounds, None);
    // One connection's latency depends on where the scheduler puts the
    // client and the server: on one CPU the reply never crosses CPUs, and
    // on a VM a wake-up across CPUs costs tens of microseconds. So the
    // servers are pinned to CPU 0 and wrk to CPU 1, as a client on another
    // machine would be, where the machine has two CPUs and `taskset`.
    let children: Vec<u32> = servers
        .iter()
        .filter_map(|(_, server)| match &server.stop {
            Stop::Process(child) => Some(child.id()),
            Stop::Thread(..) => None,
        })
        .collect();
    // (Counted before pinning: a pinned process sees one CPU.)
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned =
        cpus >= 2 && pin(std::process::id(), "0") && children.iter().all(|&pid| pin(pid, "0"));
    rounds_table(&servers, &anchors, 1, secs, rounds, pinned.then_some(1));
    if pinned {
        pin(std::process::id(), &format!("0-{}", cpus - 1));
    }
    for (_, server) in servers {
        server.stop();
    }
    if std::env::var("SERVE_MIX").is_ok_and(|v| v == "0") {
        return;
    }

    // Reliability: 10% of the requests trap, 1% loop past the timeout.
    let script = std::env::temp_dir().join(format!("serve-bench-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        r#"math.randomseed(42)
request = function()
  local r = math.random(100)
  local path = "/"
  if r <= 10 then path = "/t" elseif r == 11 then path = "/l" end
  return wrk.format("GET", path)
end
"#,
    )
    .unwrap();
    let server = wasm(
        Engine::Wasmtime,
        wat_hello(true),
        Some(Duration::from_millis(50)),
    );
    let before = rss_kib();
    let mut total = 0;
    let mut non_2xx = 0;
    let mut errors = Vec::new();
    let mut rounds = 0;
    while total < 100_000 && rounds < 60 {
        let run = load(server.addr, 5, Some(&script));
        total += run.requests;
        non_2xx += run.non_2xx;
        if !run.errors.is_empty() {
            errors.push(run.errors);
        }
        rounds += 1;
    }
    let after = rss_kib();
    server.stop();
    let _ = std::fs::remove_file(&script);
    println!(
        "\nMixed load (10% trap, 1% loop, 50 ms timeout, wasmtime): {total} requests, \
         {non_2xx} answered 500/504 ({:.1}%), socket errors: {}; RSS {} MiB before, {} MiB after",
        non_2xx as f64 * 100.0 / total.max(1) as f64,
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join("; ")
        },
        before / 1024,
        after / 1024
    );
    hostile_mix(secs);
}

/// Runs wrk with `connections` against each of `servers`, in turn, for
/// `rounds` rounds of `secs` seconds, and prints a row per server: its
/// median round (by its ratio to the first anchor's run of the same round)
/// and its ratio to each anchor (a server's index in `servers`) in that
/// round, req/s with 64 connections, p50 with one. A machine whose speed
/// drifts (a VM on a busy host) moves the servers of a round alike, so each
/// round's ratios hold.
fn rounds_table(
    servers: &[(String, Running)],
    anchors: &[(&str, usize)],
    connections: u32,
    secs: u64,
    rounds: usize,
    wrk_cpu: Option<usize>,
) {
    let mut runs: Vec<Vec<Load>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for ((_, server), runs) in servers.iter().zip(&mut runs) {
            runs.push(load_with(server.addr, connections, secs, None, wrk_cpu));
        }
    }
    // With one connection the latency is the figure: a ratio is the
    // anchor's p50 over the server's, so that higher is better in both.
    let ratio = |run: &Load, anchor: &Load| {
        if connections == 1 {
            micros(&anchor.p50) / micros(&run.p50)
        } else {
            run.rps / anchor.rps
        }
    };
    let anchor_columns: String = anchors
        .iter()
        .map(|(name, _)| format!(" vs {name} |"))
        .collect();
    println!(
        "\n| server ({connections} connection{}, median of {rounds} rounds of {secs} s{}) \
         | req/s | p50 | p99 |{anchor_columns} rounds (req/s) |",
        if connections == 1 { "" } else { "s" },
        if wrk_cpu.is_some() {
            "; servers on CPU 0, wrk on CPU 1"
        } else {
            ""
        }
    );
    println!(
        "| --- | --- | --- | --- |{} --- |",
        " --- |".repeat(anchors.len())
    );
    let first = anchors[0].1;
    for ((name, _), runs_of) in servers.iter().zip(&runs) {
        let mut by_ratio: Vec<(f64, usize)> = (0..rounds)
            .map(|round| (ratio(&runs_of[round], &runs[first][round]), round))
            .collect();
        by_ratio.sort_by(|a, b| a.0.total_cmp(&b.0));
        let round = by_ratio[rounds / 2].1;
        let median = &runs_of[round];
        let ratios: String = anchors
            .iter()
            .map(|&(_, anchor)| format!(" {:.2} |", ratio(median, &runs[anchor][round])))
            .collect();
        let each: Vec<String> = runs_of
            .iter()
            .map(|run| format!("{:.0}", run.rps))
            .collect();
        println!(
            "| {name} | {:.0} | {} | {} |{ratios} {} |",
            median.rps,
            median.p50,
            median.p99,
            each.join(", ")
        );
    }
}

/// Moves every thread of process `pid` to the CPUs `list` (`taskset`
/// syntax): false if it could not (no `taskset`). A thread that ends
/// meanwhile is no failure.
fn pin(pid: u32, list: &str) -> bool {
    let set = |tid: &str| {
        Command::new("taskset")
            .args(["-cp", list, tid])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut pinned = set(&pid.to_string());
    for thread in threads.flatten() {
        if let Some(tid) = thread.file_name().to_str() {
            pinned &= set(tid) || !thread.path().exists();
        }
    }
    pinned
}

/// A wrk latency (`61.00us`, `1.29ms`, `2.00s`) in microseconds; NaN if
/// it does not parse.
fn micros(latency: &str) -> f64 {
    let split = latency
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(latency.len());
    let (number, unit) = latency.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => f64::NAN,
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * scale)
}

/// Attackers of a server, each on a thread of its own, reconnecting as
/// the server closes them, until stopped.
struct Attackers {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Attackers {
    /// 4 clients asking for `/b` (32 MiB) and never reading, 4 trickling
    /// request bodies (a byte every 100 ms), 2 HTTP/2 connections opening
    /// 32 streams each that send 100 KB of body and then nothing.
    fn start(addr: SocketAddr) -> Self {
        use std::io::Write;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let h1 = |request: &'static [u8], trickle: bool| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
                        continue;
                    };
                    if stream.write_all(request).is_err() {
                        continue;
                    }
                    // Held until the server closes it: a write fails.
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                        if trickle && stream.write_all(b"x").is_err() {
                            break;
                        }
                        if !trickle && closed_by_peer(&stream) {
                            break;
                        }
                    }
                }
            })
        };
        for _ in 0..4 {
            threads.push(h1(b"GET /b HTTP/1.1\r\nhost: bench\r\n\r\n", false));
            threads.push(h1(
                b"POST / HTTP/1.1\r\nhost: bench\r\ncontent-length: 100000\r\n\r\n",
                true,
            ));
        }
        for _ in 0..2 {
            let stop = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(h2_hog(addr, stop));
            }));
        }
        Self { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Whether the server closed `stream` (seen without reading it).
fn closed_by_peer(stream: &std::net::TcpStream) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(stream, PollFlags::RDHUP)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0)
}

/// One HTTP/2 connection at a time holding 32 streams whose bodies stop
/// after 100 KB, reopened when the server closes it, until `stop`.
async fn h2_hog(addr: SocketAddr, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use http_body_util::BodyExt;
    use std::sync::atomic::Ordering;
    type Hog = http_body_util::combinators::BoxBody<Bytes, Infallible>;
    /// A body that sends its one chunk and then never ends.
    struct Stalled(Option<Bytes>);
    impl hyper::body::Body for Stalled {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
            match self.0.take() {
                Some(chunk) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk)))),
                None => std::task::Poll::Pending,
            }
        }
    }
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        let Ok((client, connection)) = hyper::client::conn::http2::handshake::<_, _, Hog>(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(stream),
        )
        .await
        else {
            continue;
        };
        let connection = tokio::spawn(connection);
        for _ in 0..32 {
            let mut client = client.clone();
            let request = Request::post("http://bench/")
                .body(Stalled(Some(Bytes::from(vec![b'x'; 100_000]))).boxed())
                .unwrap();
            tokio::spawn(async move {
                if client.ready().await.is_ok() {
                    let _ = client.send_request(request).await;
                }
            });
        }
        while !connection.is_finished() && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        connection.abort();
    }
}

/// Normal clients' req/s and p99 on wasmtime, quiet and beside attackers.
fn hostile_mix(secs: u64) {
    let server = wasm(
        Engine::Wasmtime,
        wat_hello(true),
        Some(Duration::from_secs(2)),
    );
    let quiet = load(server.addr, secs, None);
    let attackers = Attackers::start(server.addr);
    std::thread::sleep(Duration::from_millis(500));
    let attacked = load(server.addr, secs, None);
    attackers.stop();
    server.stop();
    println!(
        "
| hostile mix (wasmtime, 2 s deadline; wrk 64 connections, {secs} s) | req/s | p50 | p99 | non-2xx | socket errors |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, run) in [("quiet", &quiet), ("beside the attackers", &attacked)] {
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} |",
            run.rps,
            run.p50,
            run.p99,
            run.non_2xx,
            if run.errors.is_empty() {
                "none"
            } else {
                &run.errors
            }
        );
    }
    println!(
        "
With the attackers, normal clients kept {:.0}% of their req/s.",
        attacked.rps * 100.0 / quiet.rps.max(1.0)
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    instantiation(&mut c);
    c.final_summary();
    load_runs();
}
