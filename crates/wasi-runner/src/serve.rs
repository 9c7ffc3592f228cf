//! Serving HTTP with a module (`wasirun serve`): a fresh instance per
//! request, long-lived daemons, or WAGI modules (`spec/wasi-cloud.md`,
//! "HTTP functions"), or several of them on their routes ("Several
//! modules"); or raw TCP, an instance per connection ("Connection
//! daemons"); or a module that is a server itself, on the server's socket
//! ("Servers of their own").

use crate::connections::{self, InterruptSlot, RunConnection, Watch};
use crate::manifest::{Manifest, ModuleKind};
use crate::options::GuestSystem;
use crate::routes::{Gate, Route, Router};
use crate::stack::Stack;
use crate::trace::SharedTrace;
use crate::{Module, RunError, RunOptions, WithRuntime};
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasi_cloud_fs::kv::KvDir;
use wasi_core::runtime::{
    CallError, Instance, Interrupter, LoadError, Prepared, Runtime, RuntimeConfig,
};
use wasi_http_server::wagi::ScriptRoute;
use wasi_http_server::{
    self as http, Completion, DaemonQueue, DaemonSource, Daemons, Dispatch, Exchange,
    ExchangeSource, Functions, ServeConfig,
};
use wasi_unix::{Builder, Canceller, InheritedStdio};

/// How requests are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServeMode {
    /// A fresh instance per request, reading `/request`, writing
    /// `/response`.
    #[default]
    Functions,
    /// This many long-lived instances, each serving request after request
    /// through the same files.
    Daemons(usize),
    /// A fresh instance per request, run as WAGI runs CGI modules: the
    /// request in the environment and on stdin, the response on stdout.
    Wagi,
    /// No HTTP: a fresh instance per accepted TCP connection, living as
    /// long as it, the connection its first descriptor after the
    /// directories and dialled connections (`wasirun serve --tcp`,
    /// spec/wasi-cloud.md, "Connection daemons").
    Connections {
        /// A connection on which no data went either way for this long is
        /// ended as at its deadline.
        idle_timeout: Option<Duration>,
    },
    /// No HTTP from the host: this many long-lived instances of a module
    /// that is an HTTP server itself, each given the listening socket as
    /// `wasirun run --listen` gives it, restarted when they end
    /// (`wasirun serve --socket`, spec/wasi-cloud.md, "Servers of their
    /// own").
    Socket(usize),
}

/// What `wasirun serve` is given beside the module's [`RunOptions`]: where
/// to listen, how to serve, the server's limits.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to listen on (`127.0.0.1:8080` by default; port 0 picks
    /// a free one).
    pub addr: SocketAddr,
    /// Functions, daemons, WAGI, connection daemons or a server of its
    /// own ([`Server::bind_manifest`] takes only functions: each module
    /// has its kind).
    pub mode: ServeMode,
    /// The server's limits; its `timeout` is also each instance's (for
    /// daemons, each request's). Its `websocket` limits apply to functions
    /// only: daemons and WAGI modules serve no WebSockets.
    pub http: ServeConfig,
    /// A module run beside the server for as long as it serves, restarted
    /// when it ends, with the same options (its key-value store is the
    /// functions'), and no time limit (`wasirun serve --background`,
    /// spec/wasi-cloud.md, "Background daemons").
    pub background: Option<Module>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            mode: ServeMode::Functions,
            http: ServeConfig::default(),
            background: None,
        }
    }
}

/// An HTTP server running a module for its requests: the module compiled
/// and linked once (on wasmtime, instances come from the pooling
/// allocator), the socket bound.
///
/// ```no_run
/// use wasi_runner::{Module, RunOptions, ServeOptions, Server};
///
/// # fn main() -> Result<(), wasi_runner::RunError> {
/// let server = Server::bind(Module::from_file("handler.wasm")?, RunOptions::new(), ServeOptions::default())?;
/// eprintln!("listening on http://{}", server.local_addr());
/// server.run_until_signal()
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    serving: Serving,
    /// The pools of daemons: request daemons, background daemons.
    pools: Vec<DaemonPool>,
    config: ServeConfig,
}

/// What a server does with what it accepts.
enum Serving {
    /// HTTP, each request dispatched (to daemons, if any: they are among
    /// the server's pools).
    Http(Arc<dyn Dispatch>),
    /// Raw TCP, an instance per connection, and its idle limit.
    Connections(RunConnection, Option<Duration>),
    /// Nothing: the instances accept on the socket themselves.
    Socket(DaemonPool),
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Compiles and links `module` for `options` and binds `serve.addr`;
    /// daemons are started at once.
    pub fn bind(
        module: Module,
        options: RunOptions,
        mut serve: ServeOptions,
    ) -> Result<Self, RunError> {
        if serve.mode != ServeMode::Functions {
            serve.http.websocket = None;
        }
        refuse_for_servers(&options)?;
        options
            .limits
            .check_module(module.head())
            .map_err(|source| RunError::Load {
                path: module.path().to_owned(),
                source,
            })?;
        let listener = TcpListener::bind(serve.addr).map_err(|source| RunError::Listen {
            addr: serve.addr,
            source,
        })?;
        // A function's instance may outlive its slot: parked, waiting for a
        // slow client (as many as there are slots), or blocked in a host
        // call past its deadline until the call returns. Three times the
        // slots leave room for both (spec/wasi-cloud.md, "The deadline").
        // An open WebSocket's instance lives as long as it, without a slot:
        // the pool has room for as many of them as may be open
        // (spec/wasi-cloud.md, "WebSocket daemons").
        let websockets = serve
            .http
            .websocket
            .as_ref()
            .map_or(0, |websocket| websocket.max_websockets);
        let instances = match serve.mode {
            ServeMode::Daemons(n) | ServeMode::Socket(n) => n.max(1),
            _ => serve
                .http
                .max_concurrency
                .max(1)
                .saturating_mul(3)
                .saturating_add(websockets),
        };
        let limits = RuntimeConfig {
            instance_pool: Some(u32::try_from(instances).unwrap_or(u32::MAX)),
            // The server's watchdog bounds each request, from the end of its
            // head, and interrupts the instance that ran past it; a function's
            // own timeout, from its start, only backs it up. A daemon lives
            // on.
            // A function that accepts a WebSocket lives on past its
            // request's deadline, up to the WebSocket's lifetime and the
            // grace after it (spec/wasi-cloud.md, "WebSocket daemons").
            timeout: match (serve.mode, &serve.http.websocket) {
                (ServeMode::Daemons(_) | ServeMode::Socket(_), _) => None,
                (_, Some(websocket)) => Some(
                    serve
                        .http
                        .timeout
                        .max(websocket.lifetime + 2 * wasi_http_server::GUEST_GRACE),
                ),
                (_, None) => Some(serve.http.timeout),
            },
            interruptible: true,
            ..options.limits
        };
        let (engine, cache_dir) = (options.engine, options.cache_dir.clone());
        let setup = Setup {
            module: &module,
            options: Arc::new(options),
            mode: serve.mode,
            addr: listener.local_addr().map_err(RunError::Serve)?,
            listener: match serve.mode {
                ServeMode::Socket(_) => Some(listener.try_clone().map_err(RunError::Serve)?),
                _ => None,
            },
            background: serve.background.as_ref(),
        };
        let (serving, pools) = engine.with_runtime(limits, cache_dir.as_deref(), setup)??;
        Ok(Self {
            listener,
            serving,
            pools,
            config: serve.http,
        })
    }

    /// Compiles and links each module of `manifest`, with its options
    /// (`options`, the command line's, with the module's own:
    /// [`ManifestModule::options`](crate::ManifestModule::options)), and
    /// binds `serve.addr`; daemons and background modules are started at
    /// once (spec/wasi-cloud.md, "Several modules"). The engine is
    /// `options`'; `serve.mode` must be [`ServeMode::Functions`] (each
    /// module has its kind) and `serve.background` `None`.
    pub fn bind_manifest(
        manifest: &Manifest,
        options: RunOptions,
        mut serve: ServeOptions,
    ) -> Result<Self, RunError> {
        refuse_for_servers(&options)?;
        if serve.mode != ServeMode::Functions {
            return Err(RunError::NotInMode {
                option: "ServeOptions::mode",
                mode: "a server of a manifest",
            });
        }
        // WebSocket daemons are a single module's (spec/wasi-cloud.md,
        // "WebSocket daemons"): a manifest's functions answer a 101 with 502.
        serve.http.websocket = None;
        if serve.background.is_some() {
            return Err(RunError::NotInMode {
                option: "ServeOptions::background",
                mode: "a server of a manifest",
            });
        }
        let listener = TcpListener::bind(serve.addr).map_err(|source| RunError::Listen {
            addr: serve.addr,
            source,
        })?;
        let limits = RuntimeConfig {
            interruptible: true,
            ..options.limits
        };
        let (engine, cache_dir) = (options.engine, options.cache_dir.clone());
        let setup = ManifestSetup {
            manifest,
            options: &options,
            http: &serve.http,
        };
        let (serving, pools) = engine.with_runtime(limits, cache_dir.as_deref(), setup)??;
        Ok(Self {
            listener,
            serving,
            pools,
            config: serve.http,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// Serves until `shutdown` completes, then answers the requests in
    /// flight and returns (daemons are told to stop, and waited for a few
    /// seconds; open connections of connection daemons get the drain
    /// time to end, then are shut down; servers of their own see their
    /// socket shut down, and get the drain time to end, then are
    /// interrupted).
    pub fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), RunError> {
        // One worker per CPU runs guests inline; one more stays free of
        // them (spec/wasi-cloud.md, "Where guests run").
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Each function's guest holds a blocking thread while it runs: the
        // instance pool's worth, and each open WebSocket's for as long as it
        // lasts (spec/wasi-cloud.md, "WebSocket daemons"), beside tokio's
        // default of 512.
        let websockets = self
            .config
            .websocket
            .as_ref()
            .map_or(0, |websocket| websocket.max_websockets);
        let blocking = self
            .config
            .max_concurrency
            .saturating_mul(3)
            .saturating_add(websockets)
            .max(512);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus + 1)
            .max_blocking_threads(blocking)
            .enable_all()
            .thread_name("wasirun-serve")
            .build()
            .map_err(RunError::Serve)?;
        let result = match self.serving {
            Serving::Http(dispatch) => runtime.block_on(async {
                self.listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(self.listener)?;
                http::serve(listener, dispatch, self.config, shutdown).await
            }),
            Serving::Connections(run, idle) => runtime.block_on(connections::serve(
                self.listener,
                run,
                self.config,
                idle,
                shutdown,
            )),
            Serving::Socket(servers) => {
                runtime.block_on(shutdown);
                // No instance is restarted from now on; then every `accept`
                // fails, and well-written servers end once their
                // connections are done (spec/wasi-cloud.md, "Servers of
                // their own", 5).
                servers.stopping();
                let result = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Read)
                    .map_err(std::io::Error::from);
                servers.stop_after(self.config.drain_timeout);
                result
            }
        };
        for pool in self.pools {
            pool.stop();
        }
        // Guests still running past their time limit (blocked in a host
        // call) are not waited for.
        runtime.shutdown_timeout(Duration::from_millis(100));
        result.map_err(RunError::Serve)
    }

    /// Serves until SIGTERM or SIGINT, then answers the requests in flight
    /// and returns.
    pub fn run_until_signal(self) -> Result<(), RunError> {
        self.run(async {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                // Without signal handlers the server runs until killed.
                _ => std::future::pending().await,
            }
        })
    }
}

/// Refuses the options no server takes.
fn refuse_for_servers(options: &RunOptions) -> Result<(), RunError> {
    if !options.listens.is_empty() {
        // One socket cannot be bound by every guest.
        return Err(RunError::NotInMode {
            option: "RunOptions::listen",
            mode: "an HTTP server",
        });
    }
    if options.invoke.is_some() {
        // A handler is a command: its `_start` answers the request.
        return Err(RunError::NotInMode {
            option: "RunOptions::invoke",
            mode: "an HTTP server",
        });
    }
    Ok(())
}

/// Starting to serve a manifest's modules on the chosen engine.
struct ManifestSetup<'a> {
    manifest: &'a Manifest,
    /// The command line's options, every module's defaults.
    options: &'a RunOptions,
    http: &'a ServeConfig,
}

impl WithRuntime for ManifestSetup<'_> {
    type Output = Result<(Serving, Vec<DaemonPool>), RunError>;

    /// Prepares each module on a runtime of its own limits, derived from
    /// `runtime`, routes the HTTP ones, starts the daemons and background
    /// modules.
    fn run<R: Runtime>(self, runtime: R) -> Self::Output {
        let shared = Shared::new(self.options)?;
        let mut pools = Vec::new();
        let mut routes = Vec::new();
        for module in self.manifest.modules() {
            let options = module.options(self.options);
            let load = |source| RunError::Load {
                path: module.module.path().to_owned(),
                source,
            };
            options
                .limits
                .check_module(module.module.head())
                .map_err(load)?;
            // As `Server::bind` has them, for this module's kind.
            let (instances, timeout) = match module.kind {
                ModuleKind::Daemons(n) => (n, None),
                ModuleKind::Background => (1, None),
                ModuleKind::Function | ModuleKind::Wagi => {
                    let slots = module.max_concurrency.unwrap_or(self.http.max_concurrency);
                    let own = options.limits.timeout.unwrap_or(self.http.timeout);
                    (
                        slots.max(1).saturating_mul(3),
                        Some(own.min(self.http.timeout)),
                    )
                }
            };
            let runtime = runtime
                .with_config(RuntimeConfig {
                    instance_pool: Some(u32::try_from(instances).unwrap_or(u32::MAX)),
                    timeout,
                    interruptible: true,
                    ..options.limits
                })
                .map_err(load)?;
            let guests = shared.guests(&module.module, Arc::new(options), &runtime, None)?;
            let kind = match module.kind {
                ModuleKind::Background => {
                    let name = format!("background {}", module.name());
                    pools.push(supervise(name, 1, Arc::new(guests))?);
                    continue;
                }
                ModuleKind::Function => HttpKind::Functions,
                ModuleKind::Wagi => HttpKind::Wagi(module.route.clone()),
                ModuleKind::Daemons(n) => HttpKind::Daemons(n),
            };
            let gate = module.max_concurrency.map(Gate::new);
            let dispatch = http_dispatch(Arc::new(guests), kind, gate, &mut pools)?;
            let route = module
                .route
                .clone()
                .expect("a module serving HTTP has a route");
            routes.push((route, dispatch));
        }
        Ok((Serving::Http(Arc::new(Router::new(routes))), pools))
    }
}

/// Starting to serve on the chosen engine ([`WithRuntime`]).
struct Setup<'a> {
    module: &'a Module,
    options: Arc<RunOptions>,
    mode: ServeMode,
    /// The address the server listens on.
    addr: SocketAddr,
    /// The listening socket, for a module that is a server itself.
    listener: Option<TcpListener>,
    background: Option<&'a Module>,
}

/// What every instance is made from.
struct Guests<R: Runtime> {
    stack: Stack<R>,
    prepared: R::Prepared<GuestSystem>,
    /// The server's stdout and stderr; stdin is empty.
    stdio: InheritedStdio,
    /// Where `--trace` goes, each guest's lines marked with its own number
    /// (shared with the background daemon's).
    trace: Option<Arc<SharedTrace>>,
    /// The server's listening socket, preopened in every instance of a
    /// module that is a server itself (`ServeMode::Socket`).
    listener: Option<TcpListener>,
}

impl<R: Runtime> Guests<R> {
    /// The builder of an instance's system ([`Stack::builder`]), with the
    /// listening socket, if the guests have one.
    fn builder(&self) -> Result<Builder, RunError> {
        let listener = match &self.listener {
            Some(listener) => Some(listener.try_clone().map_err(RunError::System)?.into()),
            None => None,
        };
        self.stack.builder_listening(listener)
    }

    /// A function's or daemon's system, with `source`'s files mounted, and
    /// the canceller of its waits.
    fn system<E: ExchangeSource + 'static>(
        &self,
        source: &Arc<E>,
    ) -> Result<(GuestSystem, Canceller), RunError> {
        let mut system = self
            .builder()?
            .inherit_stdio(&self.stdio)
            .build()
            .map_err(RunError::System)?;
        let canceller = system.canceller();
        let system = self.stack.assemble_with(
            system,
            |mounts| {
                http::mount(mounts, Arc::clone(source)).map_err(|errno| RunError::Mount {
                    path: "/request and /response".into(),
                    errno,
                })
            },
            self.trace(),
        )?;
        Ok((system, canceller))
    }

    /// Runs an instance with neither request files nor CGI streams (a
    /// background daemon's, a connection's) to its end: its system as the
    /// options give it, with what `configure` adds; `on_start` is given
    /// its interrupter.
    fn run_plain(
        &self,
        configure: impl FnOnce(&mut Builder) -> std::io::Result<()>,
        on_start: impl FnOnce(Interrupter),
    ) -> Completion {
        let system = || -> Result<(GuestSystem, Canceller), RunError> {
            let mut builder = self.builder()?;
            builder.inherit_stdio(&self.stdio);
            configure(&mut builder).map_err(RunError::System)?;
            let mut system = builder.build().map_err(RunError::System)?;
            let canceller = system.canceller();
            Ok((self.stack.assemble(system, self.trace())?, canceller))
        };
        match system() {
            Ok(system) => run_guest(&self.prepared, system, on_start, |_| {}),
            Err(error) => Completion::Failed(error.to_string()),
        }
    }

    /// A guest's trace writer, when the server traces.
    fn trace(&self) -> Option<Box<dyn std::io::Write + Send>> {
        self.trace.as_deref().map(SharedTrace::guest)
    }
}

impl WithRuntime for Setup<'_> {
    type Output = Result<(Serving, Vec<DaemonPool>), RunError>;

    /// Prepares the module on `runtime` and makes the dispatcher (and the
    /// daemons), or the connections' runner, for the mode; starts the
    /// background daemon, if any.
    fn run<R: Runtime>(self, runtime: R) -> Self::Output {
        let shared = Shared::new(&self.options)?;
        let options = Arc::clone(&self.options);
        let guests = Arc::new(shared.guests(self.module, options, &runtime, self.listener)?);
        let mut pools = Vec::new();
        let http = |kind, pools: &mut Vec<DaemonPool>| {
            http_dispatch(Arc::clone(&guests), kind, None, pools).map(Serving::Http)
        };
        let serving = match self.mode {
            ServeMode::Functions => http(HttpKind::Functions, &mut pools)?,
            ServeMode::Wagi => http(HttpKind::Wagi(None), &mut pools)?,
            ServeMode::Daemons(n) => http(HttpKind::Daemons(n), &mut pools)?,
            ServeMode::Connections { idle_timeout } => {
                let (guests, server) = (Arc::clone(&guests), self.addr);
                let run = move |stream, remote, watch: &Watch| {
                    run_connection(&guests, stream, (remote, server), watch)
                };
                Serving::Connections(Arc::new(run), idle_timeout)
            }
            ServeMode::Socket(n) => {
                Serving::Socket(supervise("server".into(), n, Arc::clone(&guests))?)
            }
        };
        if let Some(module) = self.background {
            let runtime = runtime
                .with_config(RuntimeConfig {
                    timeout: None,
                    ..*runtime.config()
                })
                .map_err(|source| RunError::Load {
                    path: module.path().to_owned(),
                    source,
                })?;
            let guests = shared.guests(module, self.options, &runtime, None)?;
            pools.push(supervise("background".into(), 1, Arc::new(guests))?);
        }
        Ok((serving, pools))
    }
}

/// What every module's guests of a server share: the key-value store,
/// the standard streams, the trace.
struct Shared {
    kv: Option<Arc<KvDir>>,
    /// The server's stdout and stderr, inspected once; stdin is empty.
    stdio: InheritedStdio,
    trace: Option<Arc<SharedTrace>>,
}

impl Shared {
    /// Opens the key-value store and the trace of `options`, inspects the
    /// server's standard streams.
    fn new(options: &RunOptions) -> Result<Self, RunError> {
        let kv = match &options.kv {
            Some(config) => Some(Arc::new(config.build().map_err(RunError::Kv)?)),
            None => None,
        };
        Ok(Self {
            kv,
            stdio: InheritedStdio::inspect()
                .map_err(RunError::System)?
                .without_stdin(),
            trace: SharedTrace::open(&options.trace)?.map(Arc::new),
        })
    }

    /// Prepares `module` on `runtime` for guests with `options` (the
    /// key-value store if they have one, and `listener`, preopened).
    fn guests<R: Runtime>(
        &self,
        module: &Module,
        options: Arc<RunOptions>,
        runtime: &R,
        listener: Option<TcpListener>,
    ) -> Result<Guests<R>, RunError> {
        let kv = options.kv.as_ref().and(self.kv.clone());
        let stack = Stack::with_kv(options, module.path(), runtime, kv)?;
        let prepared =
            module
                .prepare(runtime, stack.imports())
                .map_err(|source| RunError::Load {
                    path: module.path().to_owned(),
                    source,
                })?;
        Ok(Guests {
            stack,
            prepared,
            stdio: self.stdio.clone(),
            trace: self.trace.clone(),
            listener,
        })
    }
}

/// How a module answers HTTP requests.
enum HttpKind {
    /// A function, a fresh instance per request.
    Functions,
    /// A WAGI module, a fresh instance per request, serving this route
    /// (`None`: every path).
    Wagi(Option<Route>),
    /// This many long-lived instances.
    Daemons(usize),
}

/// The dispatcher of requests to `guests`, as `kind` runs them, at most
/// as many at once as `gate` lets through (if given, functions and WAGI
/// modules then run on the blocking pool only: a run may wait there); the
/// daemons' pool goes to `pools`.
fn http_dispatch<R: Runtime>(
    guests: Arc<Guests<R>>,
    kind: HttpKind,
    gate: Option<Gate>,
    pools: &mut Vec<DaemonPool>,
) -> Result<Arc<dyn Dispatch>, RunError> {
    Ok(match (kind, gate) {
        (HttpKind::Functions, None) => {
            let run = move |exchange: &Arc<Exchange>| run_function(&guests, exchange);
            Arc::new(Functions::with_inline(run))
        }
        (HttpKind::Functions, Some(gate)) => {
            let run = move |exchange: &Arc<Exchange>| {
                gate.run(exchange, || run_function(&guests, exchange))
            };
            Arc::new(Functions::new(run))
        }
        (HttpKind::Wagi(route), gate) => {
            let matched = route.as_ref().map(Route::to_string);
            let run = move |exchange: &Arc<Exchange>| {
                let route = match (&route, &matched) {
                    (Some(route), Some(matched)) => ScriptRoute {
                        script_name: route.script_name(),
                        matched,
                    },
                    _ => ScriptRoute::ALL,
                };
                match &gate {
                    Some(gate) => gate.run(exchange, || run_wagi(&guests, exchange, &route)),
                    None => run_wagi(&guests, exchange, &route),
                }
            };
            Arc::new(Functions::new(run))
        }
        (HttpKind::Daemons(n), _) => {
            let (requests, queue) = DaemonQueue::new();
            let pool = DaemonPool::start("daemon".into(), n.max(1), false, move |_| {
                run_daemon(&guests, &queue.daemon())
            })
            .map_err(RunError::Serve)?;
            pools.push(pool);
            Arc::new(Daemons(requests))
        }
    })
}

/// Runs `n` instances of `guests` as commands, each restarted when it ends
/// and interrupted when the pool stops (background daemons, servers of
/// their own), `name` naming them in the log.
fn supervise<R: Runtime>(
    name: String,
    n: usize,
    guests: Arc<Guests<R>>,
) -> Result<DaemonPool, RunError> {
    DaemonPool::start(name, n.max(1), true, move |slot| {
        run_supervised(&guests, slot)
    })
    .map_err(RunError::Serve)
}

/// Runs a supervised instance (a background daemon's, a server's of its
/// own) until it ends, its interrupter kept in `slot`.
fn run_supervised<R: Runtime>(guests: &Guests<R>, slot: &InterruptSlot) -> Completion {
    guests.run_plain(|_| Ok(()), |interrupter| slot.set(interrupter))
}

/// How a guest's code ended, as an exchange's completion.
fn completion(error: CallError) -> Completion {
    match error {
        CallError::Exit(code) => Completion::Exited(code),
        CallError::Timeout | CallError::Interrupted => Completion::TimedOut,
        error => Completion::Trapped(error.to_string()),
    }
}

/// Instantiates `prepared` with `system` and runs `_start`; `on_start` is
/// given the instance's interrupter, which also ends its waits in host
/// calls (`canceller`); `on_end` is told how it ended while the instance
/// still lives, before its open files are closed (closing the response
/// file would complete the response, which must not happen for a guest
/// that failed).
fn run_guest<P: Prepared<GuestSystem>>(
    prepared: &P,
    (system, canceller): (GuestSystem, Canceller),
    on_start: impl FnOnce(Interrupter),
    on_end: impl FnOnce(&Completion),
) -> Completion {
    // A guest run inline on one of the server's async workers blocks no
    // other request while it waits.
    canceller.wait_through(|wait| http::off_worker(wait));
    let mut instance = match prepared.instantiate(system) {
        Ok(instance) => {
            // Every instance of the server is interruptible.
            if let Some(interrupter) = instance.interrupter() {
                interrupter.on_interrupt(move || canceller.cancel());
                on_start(interrupter);
            }
            instance
        }
        Err(error) => {
            let completion = match error {
                LoadError::Start(error) => completion(error),
                error => Completion::Failed(error.to_string()),
            };
            on_end(&completion);
            return completion;
        }
    };
    let completion = match instance.call("_start", &[], &mut []) {
        Ok(()) => Completion::Exited(0),
        Err(error) => completion(error),
    };
    on_end(&completion);
    completion
}

/// Runs a fresh instance for a TCP connection: `stream` preopened after
/// the directories and dialled connections, `REMOTE_ADDR` and
/// `SERVER_ADDR` in the environment (`addrs`: the client's, the server's).
fn run_connection<R: Runtime>(
    guests: &Guests<R>,
    stream: TcpStream,
    (remote, server): (SocketAddr, SocketAddr),
    watch: &Watch,
) -> Completion {
    guests.run_plain(
        |builder| {
            builder
                .env(b"REMOTE_ADDR", remote.to_string().as_bytes())
                .env(b"SERVER_ADDR", server.to_string().as_bytes())
                .preopen_socket(stream.into())?;
            Ok(())
        },
        |interrupter| watch.instance.set(interrupter),
    )
}

/// Runs a fresh instance for `exchange`.
fn run_function<R: Runtime>(guests: &Guests<R>, exchange: &Arc<Exchange>) -> Completion {
    match guests.system(&Arc::new(Arc::clone(exchange))) {
        Ok(system) => run_guest(
            &guests.prepared,
            system,
            |interrupter| exchange.interrupt_on_expiry(interrupter),
            |completion| exchange.finish(completion),
        ),
        Err(error) => Completion::Failed(error.to_string()),
    }
}

/// Runs a fresh instance for `exchange` as WAGI does: the request in the
/// environment (for a module serving `route`), arguments and stdin, the
/// CGI response read from stdout.
fn run_wagi<R: Runtime>(
    guests: &Guests<R>,
    exchange: &Arc<Exchange>,
    route: &ScriptRoute<'_>,
) -> Completion {
    let cgi = match http::wagi::Cgi::new(exchange) {
        Ok(cgi) => cgi,
        Err(error) => return Completion::Failed(format!("cannot set up stdio: {error}")),
    };
    let mut builder = match guests.builder() {
        Ok(builder) => builder,
        Err(error) => return Completion::Failed(error.to_string()),
    };
    for arg in cgi.args() {
        builder.arg(arg.as_bytes());
    }
    let path = guests.stack.argv0().to_string_lossy();
    for (key, value) in cgi.env(&path, route) {
        builder.env(key.as_bytes(), &value);
    }
    let (stdin, stdout, stderr) = match cgi.stdio() {
        Ok(stdio) => stdio,
        Err(error) => return Completion::Failed(format!("cannot set up stdio: {error}")),
    };
    builder.stdio(stdin, stdout, stderr);
    let mut system = match builder.build() {
        Ok(system) => system,
        Err(error) => return Completion::Failed(format!("cannot set up the system: {error}")),
    };
    let canceller = system.canceller();
    let system = match guests.stack.assemble(system, guests.trace()) {
        Ok(system) => system,
        Err(error) => return Completion::Failed(error.to_string()),
    };
    std::thread::scope(|scope| {
        let relay = scope.spawn(|| cgi.relay());
        // The guest's stdout closes when its instance is dropped, here,
        // which ends the relay.
        // WAGI's response file is the relay's, never closed: the exchange
        // ends with `finish`, after the relay passed everything on.
        let completion = run_guest(
            &guests.prepared,
            (system, canceller),
            |interrupter| exchange.interrupt_on_expiry(interrupter),
            |_| {},
        );
        let _ = relay.join();
        completion
    })
}

/// Runs one daemon instance until it ends, then reports how to its
/// current exchange, if any.
fn run_daemon<R: Runtime>(guests: &Guests<R>, source: &Arc<DaemonSource>) -> Completion {
    let finish_current = |completion: &Completion| {
        if let Some(exchange) = source.take_current() {
            exchange.finish(completion);
        }
    };
    match guests.system(source) {
        Ok(system) => run_guest(
            &guests.prepared,
            system,
            |interrupter| source.set_interrupter(Some(interrupter)),
            finish_current,
        ),
        Err(error) => {
            let completion = Completion::Failed(error.to_string());
            finish_current(&completion);
            completion
        }
    }
}

/// The first delay before restarting a daemon that ended soon after it
/// started, doubled each time it does again, up to [`MAX_RESTART_DELAY`].
const MIN_RESTART_DELAY: Duration = Duration::from_millis(10);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(5);

/// How long daemons are waited for when the server stops.
const DAEMON_STOP_WAIT: Duration = Duration::from_secs(5);

/// The threads running daemons, each restarting its instance when it
/// ends, until the server stops: the request daemons (`--daemon N`), a
/// background daemon (`--background`), or servers of their own
/// (`--socket`).
struct DaemonPool {
    stopping: Arc<AtomicBool>,
    /// Each thread's running instance, interrupted at stop: a background
    /// daemon's (request daemons end through their closed queue, and are
    /// not in it).
    running: Vec<Arc<InterruptSlot>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl DaemonPool {
    /// Starts `n` threads named after `name`, each running `run` again each
    /// time it ends (after a delay while it keeps ending within a second),
    /// `run` given the place for its instance's interrupter: with
    /// `interrupt_at_stop` it is interrupted when the pool stops, and every
    /// end is logged (a background daemon); without, only ends with another
    /// exit than 0 are (a request daemon may exit after each request).
    fn start(
        name: String,
        n: usize,
        interrupt_at_stop: bool,
        run: impl Fn(&InterruptSlot) -> Completion + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let run = Arc::new(run);
        let mut threads = Vec::with_capacity(n);
        let mut running = Vec::new();
        for i in 0..n {
            let (run, stopping, name) = (Arc::clone(&run), Arc::clone(&stopping), name.clone());
            let slot = Arc::new(InterruptSlot::default());
            if interrupt_at_stop {
                running.push(Arc::clone(&slot));
            }
            threads.push(
                std::thread::Builder::new()
                    .name(format!("wasirun-{name}-{i}"))
                    .spawn(move || {
                        let mut delay = MIN_RESTART_DELAY;
                        while !stopping.load(Ordering::Acquire) {
                            let started = Instant::now();
                            let completion = run(&slot);
                            if stopping.load(Ordering::Acquire) {
                                break;
                            }
                            let quick = started.elapsed() < Duration::from_secs(1);
                            let wait = if quick { delay } else { MIN_RESTART_DELAY };
                            if interrupt_at_stop || !matches!(completion, Completion::Exited(0)) {
                                crate::report(&format!(
                                    "{name} {i} ended: {completion:?}; restarting in {wait:?}"
                                ));
                            }
                            std::thread::sleep(wait);
                            delay = if quick {
                                (delay * 2).min(MAX_RESTART_DELAY)
                            } else {
                                MIN_RESTART_DELAY
                            };
                        }
                    })?,
            );
        }
        Ok(Self {
            stopping,
            running,
            threads,
        })
    }

    /// Tells the daemons to stop (request daemons' queue is closed by then:
    /// one waiting for a request gets `ECANCELED`; background daemons are
    /// interrupted) and waits a while for them.
    fn stop(self) {
        self.stop_after(Duration::ZERO);
    }

    /// From now on, an instance that ends is not restarted.
    fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Stops the pool: waits up to `grace` for the instances to end of
    /// their own accord (not restarting them), then interrupts those that
    /// can be and waits [`DAEMON_STOP_WAIT`] for them.
    fn stop_after(mut self, grace: Duration) {
        self.stopping();
        let threads = std::mem::take(&mut self.threads);
        let wait = |deadline: Instant| {
            for thread in &threads {
                while !thread.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        if !grace.is_zero() {
            wait(Instant::now() + grace);
        }
        for slot in &self.running {
            slot.fire();
        }
        wait(Instant::now() + DAEMON_STOP_WAIT);
        for thread in threads {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for DaemonPool {
    /// A pool dropped unstopped (a server whose setup failed after it
    /// started) restarts nothing and interrupts what it can; its threads
    /// end on their own.
    fn drop(&mut self) {
        self.stopping();
        for slot in &self.running {
            slot.fire();
        }
    }
}
