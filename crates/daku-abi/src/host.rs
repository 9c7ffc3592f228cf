//! Running a Daku program: its options, what its tasks share, and the
//! engine-independent loading and calling of a task.

use crate::info::Profile;
use crate::task::{Event, ParentLink, Task};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use wasi_core::GuestMemory;
use wasi_core::runtime::{
    CallError, Caller, Imports, Instance, LoadError, Prepared, Runtime, RuntimeConfig, Val,
};
use wasi_runner::{Engine, IoBackend, Module, Outcome};
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// The commands that need a grant (spec §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Read and change the user's name, full name and languages (11–16).
    pub user: bool,
    /// Spawn child tasks (17).
    pub spawn: bool,
    /// Open and share storage files (40, 41).
    pub storage: bool,
}

impl FromStr for Grants {
    type Err = String;

    /// Parses a comma-separated list of `user`, `spawn`, `storage` (or
    /// `all`); the empty string grants nothing.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut grants = Grants::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "user" => grants.user = true,
                "spawn" => grants.spawn = true,
                "storage" => grants.storage = true,
                "all" => {
                    grants = Grants {
                        user: true,
                        spawn: true,
                        storage: true,
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown grant `{name}` (expected user, spawn, storage or all)"
                    ));
                }
            }
        }
        Ok(grants)
    }
}

/// How a Daku program is run: where its log, storage, outputs and profile
/// go, and what it is granted. Start from [`DakuOptions::new`].
#[derive(Clone, Debug, Default)]
pub struct DakuOptions {
    /// Log file (command 19); `None` logs to stderr.
    pub log: Option<PathBuf>,
    /// Storage directory (commands 40, 41); `None` refuses them as unsupported.
    pub storage: Option<PathBuf>,
    /// Output directory for audio, frames and shared files (33, 35, 41);
    /// `None` refuses those as unsupported.
    pub output: Option<PathBuf>,
    /// Profile file (commands 11–16); `None` uses the default path of
    /// spec §8 for the module.
    pub profile: Option<PathBuf>,
    /// What the program is granted.
    pub grants: Grants,
    /// How storage reads and writes reach the kernel (spec §5, command
    /// 40): [`IoBackend::Uring`] submits each call's batch to io_uring;
    /// `Sync` uses `pread`/`pwrite`; `Auto` (the default) too, except that
    /// the READs of a read-only batch that miss the page cache go to
    /// io_uring together (the rule and its measurements are in
    /// `spec/daku.md`).
    pub io: IoBackend,
}

impl DakuOptions {
    /// Nothing granted, no directories, logging to stderr.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Why a Daku program could not be run.
#[derive(Debug)]
pub enum DakuError {
    /// The module is not a Daku program, or could not be loaded.
    Load(String),
    /// A file or directory in the options could not be opened.
    Io {
        /// What was being opened.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
}

impl fmt::Display for DakuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DakuError::Load(msg) => f.write_str(msg),
            DakuError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for DakuError {}

/// Starts child tasks on the run's engine.
pub(crate) trait Spawner: Send + Sync {
    /// Runs `wasm` as `task` on a thread of its own; `ended` receives its
    /// status (spec §5, command 17) when it stops.
    fn spawn(&self, wasm: Vec<u8>, task: Task, ended: Box<dyn FnOnce(u32) + Send>);
}

/// Runs child tasks on a runtime of their own, compiling each distinct
/// child module once.
struct EngineSpawner<R: Runtime> {
    runtime: R,
    modules: PreparedCache<R::Prepared<Task>>,
}

/// The spawner of a run whose child runtime could not be made: every child
/// ends as unloadable.
struct NoSpawner;

impl Spawner for NoSpawner {
    fn spawn(&self, _: Vec<u8>, _: Task, ended: Box<dyn FnOnce(u32) + Send>) {
        ended(crate::abi::STATUS_UNLOADABLE);
    }
}

/// Where a run's child tasks run: the run's engine and limits, made
/// interruptible so that a parent's stop reaches a child busy in its own
/// code (spec §5, command 17), wasmtime caching compiled code in
/// `cache_dir` when given. The program itself keeps its runtime.
fn child_spawner(
    engine: Engine,
    config: RuntimeConfig,
    cache_dir: Option<&Path>,
) -> Box<dyn Spawner> {
    let config = RuntimeConfig {
        interruptible: true,
        ..config
    };
    match engine {
        Engine::Wasmtime => match cache_dir
            .and_then(|dir| WasmtimeRuntime::with_cache_dir(config, dir).ok())
            .map_or_else(|| WasmtimeRuntime::new(config), Ok)
        {
            Ok(runtime) => Box::new(EngineSpawner {
                runtime,
                modules: PreparedCache::new(),
            }),
            Err(_) => Box::new(NoSpawner),
        },
        Engine::Wasmi => Box::new(EngineSpawner {
            runtime: WasmiRuntime::new(config),
            modules: PreparedCache::new(),
        }),
    }
}

/// The child modules of a run, compiled and linked, the most recently used
/// first: at most [`PreparedCache::CAPACITY`] of them, of at most
/// [`PreparedCache::MAX_BYTES`] of wasm together (a larger module is
/// compiled for each spawn and dropped when its task ends).
///
/// A program that spawns the same child again and again reuses one
/// compiled module: compiling costs time on wasmtime, and on wasmi each
/// module compiled stays in the engine until the run ends (about 1.7 KiB
/// each), so compiling per spawn would let a program grow the host without
/// bound.
struct PreparedCache<P> {
    entries: Mutex<Vec<Cached<P>>>,
}

/// A child module's bytes and what they compiled to.
type Cached<P> = (Arc<[u8]>, Arc<P>);

impl<P> PreparedCache<P> {
    /// Distinct child modules kept compiled.
    const CAPACITY: usize = 16;
    /// The most bytes of wasm kept compiled (their code takes several
    /// times that).
    const MAX_BYTES: usize = 16 << 20;

    fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The module compiled from `wasm`, by `prepare` if it is not cached.
    fn get_or_prepare(
        &self,
        wasm: &[u8],
        prepare: impl FnOnce() -> Result<P, String>,
    ) -> Result<Arc<P>, String> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = entries.iter().position(|(bytes, _)| **bytes == *wasm) {
            let entry = entries.remove(i);
            let prepared = Arc::clone(&entry.1);
            entries.insert(0, entry);
            return Ok(prepared);
        }
        let prepared = Arc::new(prepare()?);
        if wasm.len() <= Self::MAX_BYTES {
            entries.insert(0, (wasm.into(), Arc::clone(&prepared)));
            let mut total = 0;
            let keep = entries
                .iter()
                .take(Self::CAPACITY)
                .take_while(|(bytes, _)| {
                    total += bytes.len();
                    total <= Self::MAX_BYTES
                })
                .count();
            entries.truncate(keep);
        }
        Ok(prepared)
    }
}

#[cfg(test)]
mod cache_tests {
    use super::PreparedCache;
    use std::sync::Arc;

    #[test]
    fn child_modules_are_compiled_once_and_bounded() {
        let cache = PreparedCache::<u32>::new();
        let mut compiled = 0;
        let mut get = |wasm: &[u8]| {
            cache
                .get_or_prepare(wasm, || {
                    compiled += 1;
                    Ok(compiled)
                })
                .unwrap()
        };
        let first = get(b"a");
        assert!(Arc::ptr_eq(&first, &get(b"a")));
        assert_eq!(*get(b"b"), 2);
        assert_eq!(*get(b"a"), 1);
        // Past the capacity the least recently used goes.
        for i in 0..PreparedCache::<u32>::CAPACITY {
            get(format!("m{i}").as_bytes());
        }
        assert_eq!(*get(b"a"), 19);
        // A module larger than the byte budget is not kept.
        let big = vec![0u8; PreparedCache::<u32>::MAX_BYTES + 1];
        let one = get(&big);
        assert!(!Arc::ptr_eq(&one, &get(&big)));
        // A failed compilation is not kept either.
        assert!(cache.get_or_prepare(b"bad", || Err("no".into())).is_err());
    }
}

impl<R: Runtime + Send + Sync + 'static> Spawner for EngineSpawner<R>
where
    R::Prepared<Task>: 'static,
{
    fn spawn(&self, wasm: Vec<u8>, task: Task, ended: Box<dyn FnOnce(u32) + Send>) {
        let guard = EndGuard(Some(ended));
        let prepared = self.modules.get_or_prepare(&wasm, || {
            check_no_start(&wasm)?;
            prepare_task(&self.runtime, &wasm)
        });
        // If the thread cannot be made, the closure (and the guard in it)
        // is dropped, which tells the parent.
        let _ = std::thread::Builder::new()
            .name("daku-task".into())
            .spawn(move || {
                let status = match prepared.and_then(|p| run_prepared_then(&*p, task, |_| ())) {
                    Ok((TaskEnd::Exit(code), ())) => code,
                    Ok((TaskEnd::Trap(_) | TaskEnd::Stopped, ())) => crate::abi::STATUS_TRAPPED,
                    Err(_) => crate::abi::STATUS_UNLOADABLE,
                };
                guard.finish(status);
            });
    }
}

/// Tells a parent that its child ended, exactly once: with the child's
/// status, or as trapped if the child's thread never ran or panicked.
struct EndGuard(Option<Box<dyn FnOnce(u32) + Send>>);

impl EndGuard {
    fn finish(mut self, status: u32) {
        if let Some(ended) = self.0.take() {
            ended(status);
        }
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if let Some(ended) = self.0.take() {
            ended(crate::abi::STATUS_TRAPPED);
        }
    }
}

/// A request for a console line: the channel's key, and where its task
/// hears of the line.
type LineRequest = (u64, mpsc::Sender<Event>);

/// What the tasks of one run share.
pub(crate) struct Host {
    pub options: DakuOptions,
    pub engine: Engine,
    /// The limits of the run, which child tasks run under too.
    config: RuntimeConfig,
    /// Where wasmtime caches the compiled child modules, if anywhere.
    cache_dir: Option<PathBuf>,
    pub log: Mutex<Box<dyn Write + Send>>,
    /// Set up by the first spawn: a run without children makes no second
    /// runtime.
    spawner: OnceLock<Box<dyn Spawner>>,
    pub profile: Mutex<Profile>,
    pub next_task: AtomicU32,
    pub next_audio: AtomicU32,
    pub next_frame: AtomicU32,
    /// The console reader's queue of requests, once it is started.
    console: Mutex<Option<mpsc::Sender<LineRequest>>>,
    /// Child tasks running in the run.
    pub children: AtomicUsize,
}

impl Host {
    /// What the tasks of a run of `module` on `engine` under `config` share
    /// (child modules compiled on wasmtime cached in `cache_dir`, if given).
    pub fn new(
        engine: Engine,
        config: RuntimeConfig,
        cache_dir: Option<&Path>,
        module: &Path,
        options: DakuOptions,
        log: Box<dyn Write + Send>,
    ) -> Arc<Self> {
        let profile_path = options
            .profile
            .clone()
            .or_else(|| Profile::default_path(module));
        Arc::new(Host {
            profile: Mutex::new(Profile::load(profile_path)),
            options,
            engine,
            config,
            cache_dir: cache_dir.map(Path::to_owned),
            log: Mutex::new(log),
            spawner: OnceLock::new(),
            next_task: AtomicU32::new(1),
            next_audio: AtomicU32::new(0),
            next_frame: AtomicU32::new(0),
            console: Mutex::new(None),
            children: AtomicUsize::new(0),
        })
    }

    /// Runs `wasm` as the child `task` on a thread of its own; `ended`
    /// receives its status when it stops.
    pub fn spawn(&self, wasm: Vec<u8>, task: Task, ended: Box<dyn FnOnce(u32) + Send>) {
        self.spawner
            .get_or_init(|| child_spawner(self.engine, self.config, self.cache_dir.as_deref()))
            .spawn(wasm, task, ended);
    }

    /// A number for a new child task.
    pub fn task_number(&self) -> u32 {
        self.next_task.fetch_add(1, Ordering::Relaxed)
    }

    /// Reads a line of the console for channel `key` of the task reached
    /// by `events`: one thread reads for the whole run, in request order.
    pub fn read_line(&self, key: u64, events: mpsc::Sender<Event>) {
        let mut console = self.console.lock().unwrap_or_else(|e| e.into_inner());
        let queue = console.get_or_insert_with(|| {
            let (queue, requests) = mpsc::channel::<LineRequest>();
            std::thread::spawn(move || {
                for (key, events) in requests {
                    let line = read_console_line();
                    // A task that ended meanwhile drops the line.
                    let _ = events.send(Event::Line { key, line });
                }
            });
            queue
        });
        // The reader lives as long as the queue's sender, which we hold.
        let _ = queue.send((key, events));
    }

    /// Writes one log line.
    pub fn log_line(&self, line: &str) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // Logging is best effort: a full disk must not trap the program.
        let _ = writeln!(log, "{line}");
        let _ = log.flush();
    }
}

/// One line of standard input, without its line ending, at most 65536
/// bytes, bytes that are not UTF-8 replaced; `None` at the end of input.
fn read_console_line() -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let read = io::stdin().lock().take(65_536).read_until(b'\n', &mut line);
    match read {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            Some(String::from_utf8_lossy(&line).into_owned().into_bytes())
        }
    }
}

/// How a task's entry point ended.
#[derive(Debug)]
pub(crate) enum TaskEnd {
    Exit(u32),
    Trap(CallError),
    Stopped,
}

/// Whether `wasm` imports `daku.ar`: a module `wasirun` runs as a Daku
/// program. Malformed modules are not Daku programs (the engine reports
/// what is wrong with them).
pub fn is_daku_program(wasm: &[u8]) -> bool {
    imports(wasm).is_ok_and(|imports| imports.iter().any(|(m, n)| m == "daku" && n == "ar"))
}

/// The module's imports, as `(module, name)` pairs.
fn imports(wasm: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            wasmparser::Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    found.push((import.module.to_owned(), import.name.to_owned()));
                }
            }
            wasmparser::Payload::CodeSectionStart { .. } => break,
            _ => {}
        }
    }
    Ok(found)
}

/// Checks spec §1.1: `daku.ar` and nothing else.
fn check_imports(wasm: &[u8]) -> Result<(), String> {
    let imports = imports(wasm).map_err(|e| format!("invalid module: {e}"))?;
    if !imports.iter().any(|(m, n)| m == "daku" && n == "ar") {
        return Err("not a Daku program: it does not import daku.ar".into());
    }
    match imports.iter().find(|(m, n)| !(m == "daku" && n == "ar")) {
        Some((m, n)) => Err(format!(
            "a Daku program may import only daku.ar, not {m}.{n}"
        )),
        None => Ok(()),
    }
}

/// The import table of a task.
fn daku_imports() -> Imports<Task> {
    let mut imports = Imports::<Task>::new();
    imports.typed(
        "daku",
        "ar",
        |caller, (size, data, done): (u32, u32, u32)| {
            let Caller { memory, data: task } = caller;
            task.ar(memory, size, data, done).map_err(Into::into)
        },
    );
    imports
}

/// Loads `wasm` as a Daku program and runs its entry point as `task`.
pub(crate) fn run_task<R: Runtime>(
    runtime: &R,
    wasm: &[u8],
    task: Task,
) -> Result<TaskEnd, String> {
    run_task_then(runtime, wasm, task, |_| ()).map(|(end, ())| end)
}

/// [`run_task`], then `after` on the memory the task left.
pub(crate) fn run_task_then<R: Runtime, T>(
    runtime: &R,
    wasm: &[u8],
    task: Task,
    after: impl FnOnce(&[u8]) -> T,
) -> Result<(TaskEnd, T), String> {
    run_prepared_then(&prepare_task(runtime, wasm)?, task, after)
}

/// Checks spec §5, command 17: a child module has no start function. It
/// would run before the child's instance, and so the way to interrupt it,
/// exists: a parent could not stop it.
fn check_no_start(wasm: &[u8]) -> Result<(), String> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("invalid module: {e}"))? {
            wasmparser::Payload::StartSection { .. } => {
                return Err("a child task may not have a start function".into());
            }
            // The start section comes before the code.
            wasmparser::Payload::CodeSectionStart { .. } => break,
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `wasm` is a Daku program and compiles and links it.
fn prepare_task<R: Runtime>(runtime: &R, wasm: &[u8]) -> Result<R::Prepared<Task>, String> {
    check_imports(wasm)?;
    runtime
        .prepare(wasm, &daku_imports())
        .map_err(|error| error.to_string())
}

/// Runs `task` on a fresh instance of `prepared`, then `after` on the
/// memory it left.
fn run_prepared_then<P: Prepared<Task>, T>(
    prepared: &P,
    task: Task,
    after: impl FnOnce(&[u8]) -> T,
) -> Result<(TaskEnd, T), String> {
    let mut instance = match prepared.instantiate(task) {
        Ok(instance) => instance,
        Err(LoadError::Start(error)) => return Ok((TaskEnd::Trap(error), after(&[]))),
        Err(error) => return Err(error.to_string()),
    };
    if let Some(interrupter) = instance.interrupter() {
        instance.data().attach_interrupter(interrupter);
    }
    let entry = ["_start", "run"]
        .into_iter()
        .find(|name| instance.has_func(name))
        .ok_or("a Daku program must export `_start` or `run`")?;
    let result = instance.call(entry, &[], &mut []);
    let (memory, task) = instance.memory_and_data();
    let end = if let Some(code) = task.exit_code() {
        TaskEnd::Exit(code)
    } else if task.stopped() {
        TaskEnd::Stopped
    } else {
        match result {
            Ok(()) => TaskEnd::Exit(0),
            Err(CallError::Signature(_)) => return Err(format!("`{entry}` must have type (func)")),
            Err(CallError::Exit(code)) => TaskEnd::Exit(code),
            Err(CallError::Interrupted) => TaskEnd::Stopped,
            Err(error) => TaskEnd::Trap(error),
        }
    };
    Ok((end, after(memory_bytes(&memory))))
}

/// All of a guest's memory.
fn memory_bytes<'m>(memory: &'m GuestMemory<'_>) -> &'m [u8] {
    let mut len: u32 = 0;
    // The memory's length is the largest `len` for which `slice(0, len)` is
    // valid: found bit by bit, from the top.
    for bit in (0..32).rev() {
        let candidate = len | (1 << bit);
        if memory.slice(0, candidate).is_ok() {
            len = candidate;
        }
    }
    memory.slice(0, len).unwrap_or_default()
}

/// Runs the Daku program `wasm` (binary) on `runtime`, which must have been
/// made with `config` for `engine`; `module` names it (for its default
/// profile path). Returns how it ended; child tasks it leaves running are
/// stopped (spec §5, command 17).
pub fn run<R: Runtime + Clone + Send + Sync + 'static>(
    runtime: &R,
    engine: Engine,
    config: RuntimeConfig,
    module: &Path,
    wasm: &[u8],
    options: DakuOptions,
) -> Result<Outcome, DakuError> {
    run_cached(runtime, engine, config, None, module, wasm, options)
}

/// [`run`], wasmtime caching the compiled child modules in `cache_dir`.
fn run_cached<R: Runtime + Clone + Send + Sync + 'static>(
    runtime: &R,
    engine: Engine,
    config: RuntimeConfig,
    cache_dir: Option<&Path>,
    module: &Path,
    wasm: &[u8],
    options: DakuOptions,
) -> Result<Outcome, DakuError> {
    check_imports(wasm).map_err(DakuError::Load)?;
    let log = open_log(&options)?;
    let host = Host::new(engine, config, cache_dir, module, options, log);
    let task = Task::new(host, 0, None::<ParentLink>);
    match run_task(runtime, wasm, task).map_err(DakuError::Load)? {
        TaskEnd::Exit(code) => Ok(Outcome::Exit(code)),
        TaskEnd::Trap(CallError::Timeout) => {
            Ok(Outcome::Timeout(config.timeout.unwrap_or_default()))
        }
        TaskEnd::Trap(error) => Ok(Outcome::Trap(error)),
        TaskEnd::Stopped => Ok(Outcome::Exit(0)),
    }
}

/// Runs the Daku program `module` on `engine` under `config`, creating the
/// engine's runtime (wasmtime caching compiled code in `cache_dir` when
/// given): what `wasirun run` does for a module importing `daku.ar`.
pub fn run_module(
    module: &Module,
    engine: Engine,
    config: RuntimeConfig,
    cache_dir: Option<&Path>,
    options: DakuOptions,
) -> Result<Outcome, DakuError> {
    let load = |error: String| DakuError::Load(format!("{}: {error}", module.path().display()));
    config
        .check_module(module.wasm())
        .map_err(|e| load(e.to_string()))?;
    match engine {
        Engine::Wasmtime => {
            let runtime = match cache_dir.map(|dir| WasmtimeRuntime::with_cache_dir(config, dir)) {
                Some(Ok(runtime)) => runtime,
                _ => WasmtimeRuntime::new(config).map_err(|e| load(e.to_string()))?,
            };
            run_cached(
                &runtime,
                engine,
                config,
                cache_dir,
                module.path(),
                module.wasm(),
                options,
            )
        }
        Engine::Wasmi => {
            let runtime = WasmiRuntime::new(config);
            run(
                &runtime,
                engine,
                config,
                module.path(),
                module.wasm(),
                options,
            )
        }
    }
    .map_err(|error| match error {
        DakuError::Load(msg) => load(msg),
        other => other,
    })
}

/// Where the log of a run with `options` goes: its file, created or
/// truncated, or stderr.
fn open_log(options: &DakuOptions) -> Result<Box<dyn Write + Send>, DakuError> {
    Ok(match &options.log {
        Some(path) => Box::new(File::create(path).map_err(|source| DakuError::Io {
            what: format!("--daku-log {}", path.display()),
            source,
        })?),
        None => Box::new(io::stderr()),
    })
}

/// A Daku program instantiated (its start function run) but not started:
/// for embedders and benchmarks that call its exports themselves rather
/// than its entry point. Its `ar` calls behave as in a run.
pub struct Program {
    instance: Box<dyn Instance<Task> + Send>,
}

impl Program {
    /// Instantiates the Daku program `wasm` on `runtime` (made with
    /// `config` for `engine`; its child tasks run under `config` too), with
    /// `options`; `module` names it as in [`run`].
    pub fn instantiate<R>(
        runtime: &R,
        engine: Engine,
        config: RuntimeConfig,
        module: &Path,
        wasm: &[u8],
        options: DakuOptions,
    ) -> Result<Self, DakuError>
    where
        R: Runtime + Clone + Send + Sync + 'static,
        R::Instance<Task>: Send + 'static,
    {
        check_imports(wasm).map_err(DakuError::Load)?;
        let log = open_log(&options)?;
        let host = Host::new(engine, config, None, module, options, log);
        let instance = runtime
            .instantiate(wasm, &daku_imports(), Task::new(host, 0, None))
            .map_err(|e| DakuError::Load(e.to_string()))?;
        Ok(Program {
            instance: Box::new(instance),
        })
    }

    /// Calls the export `name`; `results` has one slot per result. A call
    /// that exits through `ar` fails with [`CallError::Exit`].
    pub fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError> {
        let result = self.instance.call(name, args, results);
        match self.instance.data().exit_code() {
            Some(code) if result.is_err() => Err(CallError::Exit(code)),
            _ => result,
        }
    }
}
