//! The three roles, and the forwarders behind `wasirun water dial|listen`.

use crate::Error;
use crate::config::Config;
use crate::conn::{Conn, Control};
use crate::host::{CancelAll, Job, Shared};
use crate::validate::Role;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;
use wasi_core::runtime::Runtime;

/// The first address `addr` resolves to.
fn one_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    })
}

/// Starts `job` and waits for its setup; the application's end is `app`.
fn establish<R: Runtime>(
    shared: &Arc<Shared<R>>,
    job: Job,
    app: UnixStream,
) -> Result<Conn, Error> {
    let control = Control::new();
    let (ready, outcome) = mpsc::sync_channel(1);
    shared.spawn(job, Arc::clone(&control), Some(ready))?;
    match outcome.recv_timeout(shared.config.setup_timeout) {
        Ok(Ok(())) => Ok(Conn::new(app, control, shared.config.cancel_grace)),
        Ok(Err(error)) => Err(error),
        Err(RecvTimeoutError::Timeout) => {
            control.cancel();
            control.force_close();
            Err(Error::Watm(format!(
                "setting up the connection took more than {:?}",
                shared.config.setup_timeout
            )))
        }
        Err(RecvTimeoutError::Disconnected) => Err(Error::Watm(
            "the connection's thread ended during setup".into(),
        )),
    }
}

/// Stops an accept loop ([`Listener::accept`], [`Relay::serve`],
/// [`Forwarder::serve`]) from another thread, and cancels the live
/// connections. Cheap to clone; the same type whatever the engine.
#[derive(Clone)]
pub struct Closer {
    inner: Arc<CloserInner>,
}

struct CloserInner {
    closed: AtomicBool,
    /// A duplicate of the listening socket, to wake a blocked `accept`.
    listener: OwnedFd,
    shared: Arc<dyn CancelAll>,
}

impl Closer {
    fn new<R: Runtime>(listener: &TcpListener, shared: &Arc<Shared<R>>) -> io::Result<Self> {
        Ok(Self {
            inner: Arc::new(CloserInner {
                closed: AtomicBool::new(false),
                listener: listener.as_fd().try_clone_to_owned()?,
                shared: Arc::clone(shared) as Arc<dyn CancelAll>,
            }),
        })
    }

    /// Stops accepting (a blocked accept returns), cancels every live
    /// connection and waits for them up to the cancel grace; those still
    /// running have their sockets shut down.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        // On Linux, shutting a listening socket down wakes `accept`.
        let _ = rustix::net::shutdown(&self.inner.listener, rustix::net::Shutdown::Read);
        self.inner.shared.cancel_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }
}

/// Accepts on `listener` until `closer` is closed. Errors that concern one
/// connection (`ECONNABORTED`, running out of descriptors) are logged and
/// accepting goes on.
fn accept_loop(
    listener: &TcpListener,
    closer: &Closer,
    mut each: impl FnMut(TcpStream),
) -> Result<(), Error> {
    loop {
        let accepted = listener.accept();
        if closer.is_closed() {
            return Ok(());
        }
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                each(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e.into()),
            Err(e) => {
                eprintln!("watm-transport: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A WATM in the dialer role: each [`dial`](Self::dial) gives the
/// application a [`Conn`] that the module carries over a TCP connection it
/// has the host dial (`host_dial`).
///
/// `R` is the engine's runtime ([`Runtime`]): the module is compiled and
/// linked on it once, and every connection instantiates it.
pub struct Dialer<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Dialer<R> {
    /// Checks the module for the dialer role (`_water_dial`) and prepares
    /// it on `runtime`'s engine, under [`Config::runtime_config`]: any
    /// runtime of the engine will do, one created with other limits is
    /// derived again with these ([`Runtime::with_config`]).
    pub fn new(runtime: &R, config: &Config) -> Result<Self, Error> {
        Ok(Self {
            shared: Shared::new(runtime, config, Role::Dialer)?,
        })
    }

    /// Starts a connection to `addr` through a fresh instance: returns once
    /// the module's `_water_dial` returned a connection, with the
    /// module's error otherwise (a failed TCP dial makes `host_dial` return
    /// `-ENOTCONN` to the module, which usually returns it).
    pub fn dial(&self, addr: impl ToSocketAddrs) -> Result<Conn, Error> {
        let remote = one_addr(addr)?;
        let (app, module) = UnixStream::pair()?;
        let job = Job {
            caller: Some(module.into()),
            accepted: None,
            remote: Some(remote),
        };
        establish(&self.shared, job, app)
    }

    /// The number of connections whose instance is alive.
    pub fn live_connections(&self) -> usize {
        self.shared.live()
    }
}

/// A WATM in the listener role: accepts TCP connections and gives the
/// application, for each, a [`Conn`] carrying what the module makes of it
/// (`_water_accept`). `R` is the engine's runtime, as for [`Dialer`].
pub struct Listener<R: Runtime> {
    shared: Arc<Shared<R>>,
    listener: TcpListener,
    closer: Closer,
}

impl<R: Runtime> Listener<R> {
    /// Checks the module for the listener role, prepares it on `runtime`'s
    /// engine (as [`Dialer::new`] does) and listens on `addr`.
    pub fn bind(runtime: &R, config: &Config, addr: impl ToSocketAddrs) -> Result<Self, Error> {
        let shared = Shared::new(runtime, config, Role::Listener)?;
        let listener = TcpListener::bind(addr)?;
        let closer = Closer::new(&listener, &shared)?;
        Ok(Self {
            shared,
            listener,
            closer,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for a TCP connection and sets up a fresh instance for it.
    /// Fails with the module's error if that instance fails its setup, and
    /// with `NotConnected` once [`Closer::close`] was called.
    pub fn accept(&self) -> Result<Conn, Error> {
        let accepted = self.listener.accept();
        if self.closer.is_closed() {
            return Err(
                io::Error::new(io::ErrorKind::NotConnected, "the listener is closed").into(),
            );
        }
        let (stream, _) = accepted?;
        let _ = stream.set_nodelay(true);
        self.establish(stream)
    }

    fn establish(&self, stream: TcpStream) -> Result<Conn, Error> {
        let (app, module) = UnixStream::pair()?;
        let job = Job {
            caller: Some(module.into()),
            accepted: Some(stream),
            remote: None,
        };
        establish(&self.shared, job, app)
    }

    /// A handle to stop accepting and cancel the live connections.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }

    /// The number of connections whose instance is alive.
    pub fn live_connections(&self) -> usize {
        self.shared.live()
    }
}

/// A WATM in the relay role: accepts TCP connections on one address and has
/// a fresh instance join each (`host_accept`) to a connection to another
/// address (`host_dial`), in `_water_associate` and its worker. `R` is the
/// engine's runtime, as for [`Dialer`].
pub struct Relay<R: Runtime> {
    shared: Arc<Shared<R>>,
    listener: TcpListener,
    remote: SocketAddr,
    closer: Closer,
}

impl<R: Runtime> Relay<R> {
    /// Checks the module for the relay role, prepares it on `runtime`'s
    /// engine (as [`Dialer::new`] does) and listens on `laddr`.
    pub fn bind(
        runtime: &R,
        config: &Config,
        laddr: impl ToSocketAddrs,
        raddr: impl ToSocketAddrs,
    ) -> Result<Self, Error> {
        let shared = Shared::new(runtime, config, Role::Relay)?;
        let remote = one_addr(raddr)?;
        let listener = TcpListener::bind(laddr)?;
        let closer = Closer::new(&listener, &shared)?;
        Ok(Self {
            shared,
            listener,
            remote,
            closer,
        })
    }

    /// Binds and serves until the relay is closed (which, without a
    /// [`Closer`], is never): [`bind`](Self::bind) then
    /// [`serve`](Self::serve).
    pub fn listen_and_relay_to(
        runtime: &R,
        config: &Config,
        laddr: impl ToSocketAddrs,
        raddr: impl ToSocketAddrs,
    ) -> Result<(), Error> {
        Self::bind(runtime, config, laddr, raddr)?.serve()
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections, each served by a fresh instance on its own
    /// thread, until [`Closer::close`]. A connection whose setup fails is
    /// logged and closed; the relay goes on.
    pub fn serve(&self) -> Result<(), Error> {
        accept_loop(&self.listener, &self.closer, |stream| {
            let job = Job {
                caller: None,
                accepted: Some(stream),
                remote: Some(self.remote),
            };
            if let Err(e) = self.shared.spawn(job, Control::new(), None) {
                eprintln!("watm-transport: cannot start a connection: {e}");
            }
        })
    }

    /// A handle to stop serving and cancel the live connections.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }

    /// The number of connections whose instance is alive.
    pub fn live_connections(&self) -> usize {
        self.shared.live()
    }
}

/// Copies bytes both ways between `conn` and `stream` until both
/// directions reached end of stream (each end is shut down for writing when
/// the other ends) or the module's instance ended (then `stream` is shut
/// down, so that a peer that keeps its side open does not hold the copy),
/// then closes both.
///
/// Its two 64 KiB copy buffers are charged to the host-memory budget of
/// the connection's instance (its system's
/// [`host_budget`](wasi_core::vfs::VirtualFds::host_budget)) while it
/// copies: when the budget cannot hold them, both ends are closed at once
/// and the error is [`io::ErrorKind::OutOfMemory`].
pub fn pipe(mut conn: Conn, stream: TcpStream) -> io::Result<()> {
    // The two copy buffers are charged to the connection's instance
    // (spec/watm-v0.md, "Limits"): a budget that cannot hold them ends
    // the connection at once.
    let _buffers = match conn.reserve(2 * COPY_BUFFER as u64) {
        Ok(reservation) => reservation,
        Err(error) => {
            let _ = stream.shutdown(Shutdown::Both);
            conn.close()?;
            return Err(error);
        }
    };
    fn copy(mut from: impl Read, mut to: impl Write) -> io::Result<u64> {
        let mut buf = vec![0; COPY_BUFFER];
        let mut total = 0;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            to.write_all(&buf[..n])?;
            total += n as u64;
        }
    }
    let outcome = std::thread::scope(|scope| {
        let (conn, stream) = (&conn, &stream);
        let up = scope.spawn(move || {
            let copied = copy(conn, stream);
            let _ = stream.shutdown(Shutdown::Write);
            // Once the instance is gone nothing more can go to `conn`:
            // end the other direction's read of `stream`.
            conn.wait_released();
            let _ = stream.shutdown(Shutdown::Read);
            copied
        });
        let down = copy(stream, conn);
        let _ = conn.shutdown(Shutdown::Write);
        let up = up
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("copying thread panicked")));
        down.and(up)
    });
    let _ = stream.shutdown(Shutdown::Both);
    conn.close()?;
    outcome.map(drop)
}

/// The size of each of [`pipe`]'s two copy buffers.
const COPY_BUFFER: usize = 64 << 10;

/// Runs [`pipe`], logging a connection closed for its host-memory budget
/// (other failures are the peers' doing, and end only their connection).
fn forward(conn: Conn, stream: TcpStream) {
    if let Err(error) = pipe(conn, stream)
        && error.kind() == io::ErrorKind::OutOfMemory
    {
        eprintln!("watm-transport: connection closed: {error}");
    }
}

/// Which way a [`Forwarder`] carries connections.
enum Direction<R: Runtime> {
    /// Plain clients in, through a [`Dialer`] to the remote address.
    Dial(Dialer<R>),
    /// Through a [`Listener`] in, plain to the remote address.
    Listen(Listener<R>),
}

/// The services behind `wasirun water dial` and `wasirun water listen`:
/// each connection is served on its own threads, joined to the other side
/// with [`pipe`]. `R` is the engine's runtime, as for [`Dialer`].
pub struct Forwarder<R: Runtime> {
    direction: Direction<R>,
    /// Where plain clients connect (dial only).
    plain: Option<TcpListener>,
    remote: SocketAddr,
    closer: Closer,
}

impl<R: Runtime> Forwarder<R> {
    /// Listens on `laddr` for plain clients; each becomes the caller
    /// connection of a WATM dialer (made on `runtime`'s engine, as
    /// [`Dialer::new`] makes it) whose `host_dial` dials `raddr`.
    pub fn dial(
        runtime: &R,
        config: &Config,
        laddr: impl ToSocketAddrs,
        raddr: impl ToSocketAddrs,
    ) -> Result<Self, Error> {
        let dialer = Dialer::new(runtime, config)?;
        let remote = one_addr(raddr)?;
        let plain = TcpListener::bind(laddr)?;
        let closer = Closer::new(&plain, &dialer.shared)?;
        Ok(Self {
            direction: Direction::Dial(dialer),
            plain: Some(plain),
            remote,
            closer,
        })
    }

    /// A WATM listener on `laddr` (made on `runtime`'s engine, as
    /// [`Listener::bind`] makes it); the plain end of each connection it
    /// accepts is forwarded to `raddr`.
    pub fn listen(
        runtime: &R,
        config: &Config,
        laddr: impl ToSocketAddrs,
        raddr: impl ToSocketAddrs,
    ) -> Result<Self, Error> {
        let listener = Listener::bind(runtime, config, laddr)?;
        let remote = one_addr(raddr)?;
        let closer = listener.closer();
        Ok(Self {
            direction: Direction::Listen(listener),
            plain: None,
            remote,
            closer,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match (&self.plain, &self.direction) {
            (Some(plain), _) => plain.local_addr(),
            (None, Direction::Listen(listener)) => listener.local_addr(),
            (None, Direction::Dial(_)) => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    /// A handle to stop serving and cancel the live connections.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }

    /// Serves connections until [`Closer::close`]; a connection that fails
    /// is logged and closed, and serving goes on.
    pub fn serve(&self) -> Result<(), Error> {
        let remote = self.remote;
        std::thread::scope(|scope| match (&self.direction, &self.plain) {
            (Direction::Dial(dialer), Some(plain)) => accept_loop(plain, &self.closer, |client| {
                scope.spawn(move || match dialer.dial(remote) {
                    Ok(conn) => forward(conn, client),
                    Err(e) => eprintln!("watm-transport: dial {remote}: {e}"),
                });
            }),
            (Direction::Listen(listener), _) => {
                accept_loop(&listener.listener, &self.closer, |stream| {
                    scope.spawn(move || {
                        let conn = match listener.establish(stream) {
                            Ok(conn) => conn,
                            Err(e) => return eprintln!("watm-transport: accept: {e}"),
                        };
                        match TcpStream::connect(remote) {
                            Ok(plain) => {
                                let _ = plain.set_nodelay(true);
                                forward(conn, plain);
                            }
                            Err(e) => eprintln!("watm-transport: connect {remote}: {e}"),
                        }
                    });
                })
            }
            (Direction::Dial(_), None) => Ok(()),
        })
    }
}
