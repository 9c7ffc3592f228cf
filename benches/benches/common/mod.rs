//! What the benchmarks of servers share: a native server to measure
//! against, and ours run on a thread.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use wasi_runner::Server;

/// A native server on a free loopback port: each accepted connection
/// (`TCP_NODELAY` set, as the servers under test set it) is served by
/// `serve` in a task of its own, on a tokio runtime on a thread of its
/// own, until the returned sender is used or dropped. Returns the address,
/// that sender and the thread.
pub fn native_tokio<F, Fut>(
    serve: F,
) -> (SocketAddr, oneshot::Sender<()>, std::thread::JoinHandle<()>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let (stop, mut stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            std_listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap(),
                    _ = &mut stopped => break,
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
        });
        runtime.shutdown_timeout(Duration::from_millis(100));
    });
    (addr, stop, thread)
}

/// Runs `server` on a thread of its own until the returned sender is used
/// or dropped. Returns its address, that sender and the thread.
pub fn run_server(
    server: Server,
) -> (SocketAddr, oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::spawn(move || {
        server
            .run(async {
                let _ = stopped.await;
            })
            .unwrap();
    });
    (addr, stop, thread)
}
