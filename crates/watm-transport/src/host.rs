//! One connection's instance: setting it up and running its worker
//! (`spec/watm-v0.md` §3 and §4).

use crate::Error;
use crate::config::{Config, Systems};
use crate::conn::Control;
use crate::validate::{self, Role};
use crate::writes::CompleteWrites;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasi_core::runtime::{
    CallError, HostError, Imports, Instance, LoadError, Prepared, Runtime, Val,
};
use wasi_core::types::Rights;
use wasi_core::vfs::VirtualFds;
use wasi_core::{Errno, System};
use wasi_unix::{IoBackend, UnixSystem};

/// The most connections (dialed and accepted) the host gives one instance.
pub(crate) const MAX_HOST_CONNS: usize = 16;

/// A WATER error: `-errno`.
fn water_error(errno: Errno) -> i32 {
    -i32::from(errno.0)
}

/// Describes a WATER result that is an error (negative).
pub(crate) fn describe(value: i32) -> String {
    match u16::try_from(value.unsigned_abs()) {
        Ok(errno) if value < 0 => format!("-{:?}", Errno(errno)),
        _ => format!("error code {value}"),
    }
}

/// What every connection of one `Dialer`, `Listener` or `Relay` shares:
/// the checked module, where the module's output goes and the live
/// connections.
pub(crate) struct Shared<R: Runtime> {
    pub(crate) config: Config,
    role: Role,
    /// The module compiled and linked once (`Runtime::prepare`), on the
    /// embedder's engine; every connection instantiates it.
    module: R::Prepared<WatmData>,
    /// Where the module's stdout and stderr go (duplicated per instance).
    log: OwnedFd,
    /// Whether the module is a WASI command (`_start`) or reactor
    /// (`_initialize`): the export to call after instantiation.
    init_export: Option<&'static str>,
    live: AtomicUsize,
    next_id: AtomicU64,
    /// The live connections, for cancelling them all.
    controls: Mutex<HashMap<u64, Arc<Control>>>,
}

/// What the host holds for one connection before its instance exists.
pub(crate) struct Job {
    /// The module's end of the caller connection (dialer, listener).
    pub(crate) caller: Option<OwnedFd>,
    /// The connection the host accepted (listener, relay).
    pub(crate) accepted: Option<TcpStream>,
    /// Where `host_dial` dials (dialer, relay).
    pub(crate) remote: Option<SocketAddr>,
}

/// An instance's data: its system and what its host functions reach.
struct WatmData {
    /// The instance's system, under which writes on connections complete.
    system: CompleteWrites,
    accepted: Option<TcpStream>,
    /// Whether this role has an accepted connection at all.
    accepts: bool,
    remote: Option<SocketAddr>,
    dial_timeout: Duration,
    config_file: Option<PathBuf>,
    host_conns: usize,
}

impl WatmData {
    /// Inserts a connection into the instance's table (rights `SOCKET`),
    /// keeping a duplicate to shut it down if the module never does.
    fn push_socket(&mut self, fd: OwnedFd) -> i32 {
        if self.host_conns >= MAX_HOST_CONNS {
            return water_error(Errno::MFILE);
        }
        match self.system.insert_conn(fd) {
            Ok(guest_fd) => {
                self.host_conns += 1;
                i32::try_from(guest_fd).unwrap_or(i32::MAX)
            }
            Err(errno) => water_error(errno),
        }
    }
}

fn host_dial(data: &mut WatmData) -> i32 {
    let Some(addr) = data.remote else {
        return water_error(Errno::NODEV);
    };
    if data.host_conns >= MAX_HOST_CONNS {
        return water_error(Errno::MFILE);
    }
    match TcpStream::connect_timeout(&addr, data.dial_timeout) {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            data.push_socket(stream.into())
        }
        Err(e) => {
            eprintln!("watm-transport: host_dial {addr}: {e}");
            water_error(Errno::NOTCONN)
        }
    }
}

fn host_accept(data: &mut WatmData) -> i32 {
    if !data.accepts {
        return water_error(Errno::NODEV);
    }
    match data.accepted.take() {
        Some(stream) => data.push_socket(stream.into()),
        None => water_error(Errno::NOTCONN),
    }
}

fn pull_config(data: &mut WatmData) -> i32 {
    let Some(path) = &data.config_file else {
        return water_error(Errno::ACCES);
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("watm-transport: pull_config {}: {e}", path.display());
            return water_error(Errno::BADF);
        }
    };
    let rights = Rights::FD_READ
        | Rights::FD_SEEK
        | Rights::FD_TELL
        | Rights::FD_FILESTAT_GET
        | Rights::FD_FDSTAT_SET_FLAGS
        | Rights::POLL_FD_READWRITE;
    match data
        .system
        .insert_host(file.into(), rights, Rights::empty())
    {
        Ok(fd) => i32::try_from(fd).unwrap_or(i32::MAX),
        Err(errno) => water_error(errno),
    }
}

fn imports() -> Imports<WatmData> {
    let mut imports = Imports::new();
    imports
        .typed(
            "env",
            "host_dial",
            |caller, (): ()| -> Result<i32, HostError> { Ok(host_dial(caller.data)) },
        )
        .typed(
            "env",
            "host_accept",
            |caller, (): ()| -> Result<i32, HostError> { Ok(host_accept(caller.data)) },
        )
        .typed("env", "host_defer", |_, (): ()| -> Result<(), HostError> {
            Ok(())
        })
        .typed(
            "env",
            "pull_config",
            |caller, (): ()| -> Result<i32, HostError> { Ok(pull_config(caller.data)) },
        );
    imports.wasi(|data: &mut WatmData| -> &mut (dyn System + 'static) { &mut data.system });
    imports
}

/// The longest line passed to the log at once: a longer one (output
/// without newlines) goes in pieces, so the log holds no more than this.
const MAX_LOG_LINE: usize = 4 << 10;

/// Copies lines from `reader` to stderr, each after `prefix`; lines longer
/// than [`MAX_LOG_LINE`] in pieces of that length.
fn prefix_lines(reader: impl io::Read, prefix: &str) {
    let mut lines = BufReader::new(reader);
    let mut line = Vec::with_capacity(MAX_LOG_LINE + 1);
    loop {
        line.clear();
        match (&mut lines)
            .take(MAX_LOG_LINE as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                let mut stderr = io::stderr().lock();
                let _ = stderr.write_all(prefix.as_bytes());
                let _ = stderr.write_all(&line);
            }
        }
    }
}

/// Cancels every live connection of a `Dialer`, `Listener` or `Relay`
/// ([`Shared::cancel_all`]): what a `Closer` holds, whatever the engine.
pub(crate) trait CancelAll: Send + Sync {
    /// Cancels every live connection and waits for them up to the grace.
    fn cancel_all(&self);
}

impl<R: Runtime> CancelAll for Shared<R> {
    fn cancel_all(&self) {
        Shared::cancel_all(self);
    }
}

impl<R: Runtime> Shared<R> {
    /// Checks `config`'s module for `role` and prepares it on `runtime`,
    /// under [`Config::runtime_config`] (a runtime created with other
    /// limits is derived again with them); loads the module once so that a
    /// missing import is reported now.
    pub(crate) fn new(runtime: &R, config: &Config, role: Role) -> Result<Arc<Self>, Error> {
        validate::validate(&config.wasm, role)?;
        let limits = config.runtime_config();
        let derived;
        let runtime = if *runtime.config() == limits {
            runtime
        } else {
            derived = runtime.with_config(limits).map_err(|e| {
                let engine = runtime.engine_name();
                Error::Invalid(match e {
                    LoadError::Engine(msg) => format!("cannot start {engine}: {msg}"),
                    e => format!("cannot start {engine}: {e}"),
                })
            })?;
            &derived
        };
        let module = runtime
            .prepare(&config.wasm, &imports())
            .map_err(|e| Error::Invalid(format!("WATM cannot be loaded: {e}")))?;
        let log = match &config.log_prefix {
            None => io::stderr().as_fd().try_clone_to_owned()?,
            Some(prefix) => {
                let (reader, writer) = io::pipe()?;
                let prefix = prefix.clone();
                std::thread::Builder::new()
                    .name("watm-log".into())
                    .spawn(move || prefix_lines(reader, &prefix))?;
                writer.into()
            }
        };
        let init_export = if validate::exports_nullary(&config.wasm, "_start") {
            Some("_start")
        } else if validate::exports_nullary(&config.wasm, "_initialize") {
            Some("_initialize")
        } else {
            None
        };
        let shared = Self {
            config: config.clone(),
            role,
            module,
            log,
            init_export,
            live: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            controls: Mutex::new(HashMap::new()),
        };
        shared.check_links()?;
        Ok(Arc::new(shared))
    }

    /// Instantiates the module once, without running anything but its
    /// start section, to report a bad import before any connection (wasmi
    /// resolves imports only when instantiating).
    fn check_links(&self) -> Result<(), Error> {
        let data = self.data(
            &Job {
                caller: None,
                accepted: None,
                remote: None,
            },
            Control::new(),
        )?;
        self.module
            .instantiate(data)
            .map(drop)
            .map_err(|e| Error::Invalid(format!("WATM cannot be loaded: {e}")))
    }

    /// The data of a new instance for `job`.
    fn data(&self, job: &Job, control: Arc<Control>) -> Result<WatmData, Error> {
        let stdin = File::open("/dev/null")?;
        let (stdout, stderr) = (self.log.try_clone()?, self.log.try_clone()?);
        let system: Box<dyn VirtualFds + Send> = match &self.config.system {
            Some(Systems(factory)) => factory(stdin.into(), stdout, stderr)
                .map_err(|e| Error::Io(std::io::Error::other(e)))?,
            None => Box::new(
                UnixSystem::builder()
                    .arg("watm")
                    .stdio(stdin.into(), stdout, stderr)
                    .io(IoBackend::Sync)
                    .build()?,
            ),
        };
        // The instance's time runs from now (`spec/watm-v0.md` §6): a write
        // waiting for its socket ends when it is up.
        let deadline = self
            .config
            .limits
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        Ok(WatmData {
            system: CompleteWrites::new(system, Arc::clone(&control), deadline),
            accepted: None,
            accepts: matches!(self.role, Role::Listener | Role::Relay),
            remote: job.remote,
            dial_timeout: self.config.dial_timeout,
            config_file: self.config.config_file.clone(),
            host_conns: 0,
        })
    }

    /// The number of connections whose instance is alive.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Cancels every live connection, waits for them up to the cancel
    /// grace, and shuts down the sockets of those still running.
    pub(crate) fn cancel_all(&self) {
        let controls: Vec<_> = match self.controls.lock() {
            Ok(controls) => controls.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        for control in &controls {
            control.cancel();
        }
        let deadline = std::time::Instant::now() + self.config.cancel_grace;
        for control in &controls {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if !control.wait(left) {
                control.force_close();
            }
        }
    }

    /// Starts a connection on its own thread; `ready` gets the outcome of
    /// its setup (without it, a failed setup is logged).
    pub(crate) fn spawn(
        self: &Arc<Self>,
        job: Job,
        control: Arc<Control>,
        ready: Option<SyncSender<Result<(), Error>>>,
    ) -> io::Result<()> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let max = self.config.max_connections;
        let guard =
            LiveGuard::new(Arc::clone(self), id, Arc::clone(&control)).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::QuotaExceeded,
                    format!("refused: {max} connections are live, the limit"),
                )
            })?;
        std::thread::Builder::new()
            .name(format!("watm-{id}"))
            .spawn(move || {
                guard.shared.run(job, &control, ready);
                drop(guard);
            })?;
        Ok(())
    }

    /// Sets the connection up and runs its worker; the instance is dropped
    /// when this returns.
    fn run(&self, job: Job, control: &Arc<Control>, ready: Option<SyncSender<Result<(), Error>>>) {
        let mut instance = match (self.setup(job, control), ready) {
            (Ok(instance), Some(ready)) => {
                // A closed channel: the application gave up waiting (setup
                // timeout) and cancelled; the worker sees the cancellation.
                let _ = ready.send(Ok(()));
                instance
            }
            (Ok(instance), None) => instance,
            (Err(error), Some(ready)) => {
                let _ = ready.send(Err(error));
                return;
            }
            (Err(error), None) => {
                eprintln!("watm-transport: connection failed: {error}");
                return;
            }
        };
        let mut out = [Val::I32(0)];
        let result = instance.call("_water_worker", &[], &mut out);
        drop(instance);
        let cancelled = control.cancelled();
        match result {
            Ok(()) => match out[0].i32() {
                Some(value) if value < 0 && !cancelled => {
                    eprintln!("watm-transport: worker returned {}", describe(value));
                }
                _ => {}
            },
            Err(error) => eprintln!("watm-transport: worker stopped: {error}"),
        }
    }

    /// Steps 1 to 5 of `spec/watm-v0.md` §3.
    fn setup(&self, mut job: Job, control: &Arc<Control>) -> Result<R::Instance<WatmData>, Error> {
        let mut data = self.data(&job, Arc::clone(control))?;
        data.accepted = job.accepted.take();
        let mut instance = self
            .module
            .instantiate(data)
            .map_err(|e| Error::Watm(e.to_string()))?;
        control.set_interrupter(instance.interrupter());
        // What the host keeps for the connection is charged to the
        // instance's budget, as its system's files are.
        control.set_budget(instance.data().system.host_budget().clone());
        if let Some(name) = self.init_export {
            match instance.call(name, &[], &mut []) {
                Ok(()) | Err(CallError::Exit(0)) => {}
                Err(e) => return Err(Error::Watm(format!("{name}: {e}"))),
            }
        }
        call_i32(&mut instance, "_water_init", &[])?;
        let (entry, takes_fd) = self.role.entry();
        let args = match job.caller.take() {
            Some(caller) if takes_fd => {
                let fd = instance.data().system.insert_conn(caller).map_err(|e| {
                    Error::Watm(format!("cannot insert the caller connection: {e:?}"))
                })?;
                vec![Val::I32(i32::try_from(fd).unwrap_or(i32::MAX))]
            }
            _ => vec![],
        };
        call_i32(&mut instance, entry, &args)?;
        let (host_end, guest_end) = UnixStream::pair()?;
        let fd = instance
            .data()
            .system
            .insert_host(guest_end.into(), Rights::SOCKET, Rights::empty())
            .map_err(|e| Error::Watm(format!("cannot insert the cancellation channel: {e:?}")))?;
        call_i32(
            &mut instance,
            "_water_cancel_with",
            &[Val::I32(i32::try_from(fd).unwrap_or(i32::MAX))],
        )?;
        control.set_canceller(host_end);
        Ok(instance)
    }
}

/// Calls `name`, which returns an `i32`; a trap or a WATER error fails.
fn call_i32<I: Instance<WatmData>>(
    instance: &mut I,
    name: &str,
    args: &[Val],
) -> Result<i32, Error> {
    let mut out = [Val::I32(0)];
    instance
        .call(name, args, &mut out)
        .map_err(|e| Error::Watm(format!("{name}: {e}")))?;
    match out[0].i32() {
        Some(value) if value >= 0 => Ok(value),
        Some(value) => Err(Error::Watm(format!("{name} returned {}", describe(value)))),
        None => Err(Error::Watm(format!("{name} returned a non-i32"))),
    }
}

/// Counts a connection as live, and registers its control, while it
/// exists; marks it done when dropped (after the instance).
struct LiveGuard<R: Runtime> {
    shared: Arc<Shared<R>>,
    id: u64,
    control: Arc<Control>,
}

impl<R: Runtime> LiveGuard<R> {
    /// Counts one more live connection, unless that would pass
    /// `Config::max_connections`.
    fn new(shared: Arc<Shared<R>>, id: u64, control: Arc<Control>) -> Option<Self> {
        let max = shared.config.max_connections;
        if shared.live.fetch_add(1, Ordering::SeqCst) >= max {
            shared.live.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        if let Ok(mut controls) = shared.controls.lock() {
            controls.insert(id, Arc::clone(&control));
        }
        Some(Self {
            shared,
            id,
            control,
        })
    }
}

impl<R: Runtime> Drop for LiveGuard<R> {
    fn drop(&mut self) {
        if let Ok(mut controls) = self.shared.controls.lock() {
            controls.remove(&self.id);
        }
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
        self.control.finish();
    }
}
