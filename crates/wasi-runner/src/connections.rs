//! Connection daemons (`wasirun serve --tcp`, spec/wasi-cloud.md,
//! "Connection daemons"): an instance per accepted TCP connection, the
//! connection its descriptor, living as long as the connection.

use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wasi_core::runtime::Interrupter;
use wasi_http_server::{self as http, Completion, ServeConfig};

/// Runs a connection's instance to its end, on a blocking thread: given
/// the connection, the client's address, and the connection's [`Watch`],
/// which it hands its instance's interrupter.
pub(crate) type RunConnection =
    Arc<dyn Fn(TcpStream, SocketAddr, &Watch) -> Completion + Send + Sync>;

/// Where a running instance's interrupter is kept, to interrupt it from
/// another thread: at once if it comes after [`fire`](Self::fire).
#[derive(Default)]
pub(crate) struct InterruptSlot {
    state: Mutex<(Option<Interrupter>, bool)>,
}

impl InterruptSlot {
    /// Keeps the running instance's `interrupter`, interrupted at once if
    /// the slot already fired.
    pub(crate) fn set(&self, interrupter: Interrupter) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.1 {
            interrupter.interrupt();
        }
        state.0 = Some(interrupter);
    }

    /// Interrupts the instance kept, and any kept from now on.
    pub(crate) fn fire(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 = true;
        if let Some(interrupter) = &state.0 {
            interrupter.interrupt();
        }
    }
}

/// What ends a connection early (at its deadline, or when the server
/// stops): its instance is interrupted and its socket shut down both ways,
/// which also ends a read or write the guest is blocked in.
pub(crate) struct Watch {
    /// A second handle on the connection, to shut it down and to ask the
    /// kernel how long it has been idle.
    socket: Option<TcpStream>,
    /// The connection's instance.
    pub(crate) instance: InterruptSlot,
}

impl Watch {
    fn new(socket: Option<TcpStream>) -> Self {
        Self {
            socket,
            instance: InterruptSlot::default(),
        }
    }

    /// Ends the connection: interrupts its instance, shuts its socket down.
    fn expire(&self) {
        self.instance.fire();
        if let Some(socket) = &self.socket {
            // A socket the client already closed fails: nothing to do.
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Completes once no data went either way on the connection for
    /// `idle` (checked every quarter of it); never without a limit, or
    /// if the kernel cannot tell.
    async fn idle_for(&self, idle: Option<Duration>) {
        let (Some(idle), Some(socket)) = (idle, &self.socket) else {
            return std::future::pending().await;
        };
        let tick = (idle / 4).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(tick).await;
            match wasi_unix::tcp_idle(socket.as_fd()) {
                Ok(quiet) if quiet >= idle => return,
                Ok(_) => {}
                Err(_) => return std::future::pending().await,
            }
        }
    }
}

/// Accepts connections on `listener` and runs `run` for each, at most
/// `config.max_concurrency` at once (no accept while that many are open),
/// each for at most `config.timeout` and, with an `idle` limit, until no
/// data went either way for that long, until `shutdown` completes; then
/// gives the open ones `config.drain_timeout` to end, expires the rest and
/// waits [`STOP_WAIT`] for them.
pub(crate) async fn serve(
    listener: TcpListener,
    run: RunConnection,
    config: ServeConfig,
    idle: Option<Duration>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut open = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = http::accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        while open.try_join_next().is_some() {}
        let (run, mut stopped) = (Arc::clone(&run), stopped.clone());
        let (timeout, quiet) = (config.timeout, config.quiet);
        open.spawn(async move {
            let _slot = slot;
            let started = Instant::now();
            let Ok(stream) = stream.into_std() else {
                return;
            };
            // The guest's reads and writes block (in its own thread).
            if stream.set_nonblocking(false).is_err() {
                return;
            }
            let _ = stream.set_nodelay(true);
            let watch = Arc::new(Watch::new(stream.try_clone().ok()));
            let guest = {
                let watch = Arc::clone(&watch);
                tokio::task::spawn_blocking(move || run(stream, remote, &watch))
            };
            tokio::pin!(guest);
            let ended = tokio::select! {
                ended = &mut guest => ended,
                () = tokio::time::sleep(timeout) => {
                    watch.expire();
                    guest.await
                }
                () = watch.idle_for(idle) => {
                    watch.expire();
                    guest.await
                }
                _ = stopped.changed() => {
                    watch.expire();
                    guest.await
                }
            };
            if !quiet {
                let how = match ended {
                    Ok(Completion::Exited(code)) => format!("exit {code}"),
                    Ok(Completion::TimedOut) => "timeout".to_owned(),
                    Ok(Completion::Trapped(_)) => "trap".to_owned(),
                    Ok(Completion::Failed(why)) => {
                        format!("failed: {}", crate::escape_controls(&why))
                    }
                    Err(_) => "failed: the host thread panicked".to_owned(),
                };
                // One write per line, as HTTP's request lines.
                let line = format!("TCP {remote} {how} {}ms\n", started.elapsed().as_millis());
                let _ = io::Write::write_all(&mut io::stderr(), line.as_bytes());
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.drain_timeout, drain(&mut open))
        .await
        .is_err()
    {
        let _ = stop.send(true);
        // A guest blocked in a host call that its interruption cannot end
        // (a read on another socket) is not waited for past this.
        let _ = tokio::time::timeout(STOP_WAIT, drain(&mut open)).await;
    }
    Ok(())
}

/// How long expired connections' guests are waited for at shutdown.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Waits until every task of `open` ended.
async fn drain(open: &mut JoinSet<()>) {
    while open.join_next().await.is_some() {}
}
