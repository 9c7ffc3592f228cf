//! WebSocket daemons (`wasirun serve`, spec/wasi-cloud.md, "WebSocket
//! daemons"): messages per second through the C echo guest
//! (`crates/wasirun/tests/handlers/wsecho.c`, wasi-libc, a `malloc` per
//! message as users write it) on each engine, against a native echo server
//! with the same WebSocket crate (tokio-tungstenite, on tokio).
//!
//! Each client connection sends a 64-byte binary message and waits for its
//! echo, again and again (request/response), for `WS_SECS` (default 5)
//! seconds; with 1 connection, then `WS_CONNECTIONS` (default 16) at once.
//! Each server in turn, for `WS_ROUNDS` (default 3) rounds; the table
//! (Markdown, on stdout) has each server's median round, and its ratio to
//! the native server's.

use futures_util::{SinkExt as _, StreamExt as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use wasi_runner::{
    Engine, Module, RunOptions, ServeConfig, ServeMode, ServeOptions, Server, WebSocketConfig,
};

mod common;

use common::{native_tokio, run_server};

// `wasirun`'s allocator, so that the server is measured as it ships; the
// native server runs with it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MESSAGE: usize = 64;

/// A server on its own thread, stopped when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A native echo server: tokio-tungstenite's own handshake, each message
/// sent back.
fn native() -> Running {
    let (addr, stop, thread) = native_tokio(|stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if message.is_binary() || message.is_text() {
                if ws.send(message).await.is_err() {
                    return;
                }
            } else if message.is_close() {
                return;
            }
        }
    });
    Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// `Server` with the C echo guest on `engine`.
fn wasm(engine: Engine) -> Running {
    let module = Module::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/wasirun/tests/handlers/wsecho.wasm"
    ))
    .unwrap();
    let mut options = RunOptions::new();
    options.engine(engine);
    let server = Server::bind(
        module,
        options,
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: ServeMode::Functions,
            http: ServeConfig {
                quiet: true,
                websocket: Some(WebSocketConfig::default()),
                ..ServeConfig::default()
            },
            background: None,
        },
    )
    .unwrap();
    let (addr, stop, thread) = run_server(server);
    Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// Messages per second echoed to `connections` clients of `addr` in
/// `secs` seconds, each waiting for an echo before it sends the next.
fn load(addr: SocketAddr, connections: usize, secs: u64) -> f64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::new();
        for _ in 0..connections {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
                .await
                .unwrap();
            let (done, count) = (Arc::clone(&done), Arc::clone(&count));
            clients.push(tokio::spawn(async move {
                let message = Bytes::from(vec![7u8; MESSAGE]);
                while !done.load(Ordering::Relaxed) {
                    ws.send(Message::Binary(message.clone())).await.unwrap();
                    match ws.next().await {
                        Some(Ok(Message::Binary(back))) => assert_eq!(back.len(), MESSAGE),
                        other => panic!("no echo: {other:?}"),
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
                let _ = ws.close(None).await;
            }));
        }
        let start = Instant::now();
        let before = count.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let echoed = count.load(Ordering::Relaxed) - before;
        let elapsed = start.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        for client in clients {
            client.await.unwrap();
        }
        echoed as f64 / elapsed
    })
}

/// Starts one of the servers compared.
type Start = fn() -> Running;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = env("WS_SECS", 5);
    let rounds = env("WS_ROUNDS", 3).max(1);
    let many = usize::try_from(env("WS_CONNECTIONS", 16)).unwrap_or(16);
    let servers: [(&str, Start); 3] = [
        ("native (tokio-tungstenite)", native),
        ("wasirun, wasmtime", || wasm(Engine::Wasmtime)),
        ("wasirun, wasmi", || wasm(Engine::Wasmi)),
    ];
    println!("| server | connections | messages/s (median of {rounds}) | vs native | rounds |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for connections in [1, many] {
        let mut native_rate = None;
        for (name, start) in servers {
            let server = start();
            let mut rates: Vec<f64> = (0..rounds)
                .map(|_| load(server.addr, connections, secs))
                .collect();
            drop(server);
            let all = rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ");
            rates.sort_by(f64::total_cmp);
            let median = rates[rates.len() / 2];
            let native = *native_rate.get_or_insert(median);
            println!(
                "| {name} | {connections} | {median:.0} | {:.2} | {all} |",
                median / native
            );
        }
    }
}
