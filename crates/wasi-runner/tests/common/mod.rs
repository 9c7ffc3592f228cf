//! What the tests of `Server` share: handler modules in WAT, a server
//! running on its own thread, and a hyper client.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wasi_runner::{
    Engine, Manifest, Module, RunOptions, ServeConfig, ServeMode, ServeOptions, Server,
};

/// What every handler starts with: WASI imports and helpers. `/request` is
/// descriptor 3 and `/response` 4 (no `--dir`); names at 0 (`txt`) and 8
/// (`json`); scratch at 100..116; a 64 KiB buffer at 4096; `$sleep`'s
/// subscription and event at 70000..70088.
pub const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "txt")
  (data (i32.const 8) "json")
  (func $open (param $dir i32) (param $name i32) (param $len i32) (param $rights i64) (result i32)
    (if (call $path_open (local.get $dir) (i32.const 0) (local.get $name) (local.get $len)
          (i32.const 0) (local.get $rights) (i64.const 0) (i32.const 0) (i32.const 112))
      (then (unreachable)))
    (i32.load (i32.const 112)))
  (func $write_all (param $fd i32) (param $ptr i32) (param $len i32)
    (loop $l
      (if (i32.gt_u (local.get $len) (i32.const 0)) (then
        (i32.store (i32.const 100) (local.get $ptr))
        (i32.store (i32.const 104) (local.get $len))
        (if (call $fd_write (local.get $fd) (i32.const 100) (i32.const 1) (i32.const 108))
          (then (unreachable)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 108))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 108))))
        (br $l)))))
  (func $read (param $fd i32) (result i32)
    (i32.store (i32.const 100) (i32.const 4096))
    (i32.store (i32.const 104) (i32.const 65536))
    (if (call $fd_read (local.get $fd) (i32.const 100) (i32.const 1) (i32.const 108))
      (then (unreachable)))
    (i32.load (i32.const 108)))
  (func $sleep (param $nanos i64)
    ;; A relative monotonic clock subscription.
    (i64.store (i32.const 70000) (i64.const 0))
    (i32.store8 (i32.const 70008) (i32.const 0))
    (i32.store (i32.const 70016) (i32.const 1))
    (i64.store (i32.const 70024) (local.get $nanos))
    (i64.store (i32.const 70032) (i64.const 0))
    (i32.store16 (i32.const 70040) (i32.const 0))
    (drop (call $poll (i32.const 70000) (i32.const 70048) (i32.const 1) (i32.const 70080))))
  (func $copy (param $from i32) (param $to i32) (local $n i32)
    (loop $l
      (local.set $n (call $read (local.get $from)))
      (if (local.get $n) (then
        (call $write_all (local.get $to) (i32.const 4096) (local.get $n))
        (br $l)))))
"#;

/// A handler module: the prelude, `strings` placed at 200, 1200, ... (each
/// under 1000 bytes), and `body` with `$S0`, `$L0`, ... replaced by each
/// string's address and length.
pub fn handler(body: &str, strings: &[&str]) -> Module {
    let mut data = String::new();
    let mut body = body.to_owned();
    for (i, text) in strings.iter().enumerate().rev() {
        let at = 200 + 1000 * i;
        let escaped = text
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\r', "\\r")
            .replace('\n', "\\n");
        data.push_str(&format!("(data (i32.const {at}) \"{escaped}\")\n"));
        body = body
            .replace(&format!("$S{i}"), &at.to_string())
            .replace(&format!("$L{i}"), &text.len().to_string());
    }
    let wat = format!("(module {PRELUDE} {data} {body})");
    Module::from_bytes("handler.wat", wat).unwrap()
}

pub const OK_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-handler: echo\r\n\r\n";

/// Echoes `/request/txt` (head and body, streamed) to `/response/txt`.
pub fn echo() -> Module {
    handler(
        r#"(func (export "_start") (local $in i32) (local $out i32)
             (local.set $in (call $open (i32.const 3) (i32.const 0) (i32.const 3) (i64.const 2)))
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
             (call $copy (local.get $in) (local.get $out)))"#,
        &[OK_HEAD],
    )
}

/// Writes a chunked response of `chunks` × 64 KiB.
pub fn streams(chunks: u32) -> Module {
    handler(
        &format!(
            r#"(func (export "_start") (local $out i32) (local $i i32)
                 (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
                 (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
                 (local.set $i (i32.const {chunks}))
                 (loop $l
                   (call $write_all (local.get $out) (i32.const 4096) (i32.const 65536))
                   (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                   (br_if $l (local.get $i))))"#
        ),
        &[OK_HEAD],
    )
}

/// A running server, stopped when dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn start(
        module: Module,
        engine: Engine,
        mode: ServeMode,
        configure: impl FnOnce(&mut ServeConfig, &mut RunOptions),
    ) -> Self {
        let mut options = RunOptions::new();
        options.engine(engine);
        let mut http = ServeConfig {
            quiet: true,
            ..ServeConfig::default()
        };
        configure(&mut http, &mut options);
        options.timeout(Some(http.timeout));
        Self::serve(
            module,
            options,
            ServeOptions {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                mode,
                http,
                background: None,
            },
        )
    }

    /// A server for `module` with `options` and `serve`, running.
    pub fn serve(module: Module, options: RunOptions, serve: ServeOptions) -> Self {
        Self::run(Server::bind(module, options, serve).unwrap())
    }

    /// A server for the modules of `manifest`, with `options`, running.
    // Only tests/serve_manifest.rs serves manifests.
    #[allow(dead_code)]
    pub fn serve_manifest(manifest: &Manifest, options: RunOptions) -> Self {
        let serve = ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: ServeMode::Functions,
            http: ServeConfig {
                quiet: true,
                ..ServeConfig::default()
            },
            background: None,
        };
        Self::run(Server::bind_manifest(manifest, options, serve).unwrap())
    }

    /// Runs `server` until stopped.
    pub fn run(server: Server) -> Self {
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .unwrap();
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn functions(module: Module, engine: Engine) -> Self {
        Self::start(module, engine, ServeMode::Functions, |_, _| {})
    }

    /// Stops the server and waits until it answered what was in flight.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

pub type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A client connection.
pub async fn connect(addr: SocketAddr) -> SendRequest<Body> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

/// Sends `request` on `sender`; the status, the fields and the whole body
/// (`Err` when the body was aborted).
pub async fn send(
    sender: &mut SendRequest<Body>,
    request: Request<Body>,
) -> (StatusCode, hyper::HeaderMap, Result<Bytes, String>) {
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .map_err(|e| e.to_string());
    (parts.status, parts.headers, body)
}

/// `GET path` on a connection of its own: the status and the body.
pub async fn fetch(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut sender = connect(addr).await;
    let (status, _, body) = send(&mut sender, get(path)).await;
    (
        status.as_u16(),
        String::from_utf8(body.unwrap().to_vec()).unwrap(),
    )
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", "test")
        .body(full(""))
        .unwrap()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A request body streamed from what is sent into the channel.
pub struct Streamed(pub tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(hyper::body::Frame::data(chunk))))
    }
}
