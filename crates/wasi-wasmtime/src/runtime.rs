//! [`wasi_core::runtime::Runtime`] on wasmtime.

use crate::cache::ModuleCache;
use crate::view::{ViewLimiter, new_store};
use crate::{add_to_linker_viewed_for_module, exit_code};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasi_core::runtime::{
    CallError, Export, Imports, Instance, Interrupter, LoadError, MAX_VALS, MemoryBudget, Prepared,
    Runtime, RuntimeConfig, StoreData, TIMEOUT_GRANULARITY, Val, ValType,
};
use wasi_core::wasm_file::WasmFile;
use wasi_core::{GuestMemory, System};
use wasmtime::{
    Config, Engine, Extern, ExternType, FuncType, InstanceAllocationStrategy, InstancePre, Linker,
    Memory, Module, PoolingAllocationConfig, ResourceLimiter, Store, Trap, UpdateDeadline,
};

/// What the store of a module loaded through [`WasmtimeRuntime`] holds.
///
/// Its WASI calls reach the memory through the view in `limits`: it is a
/// `ViewedStore` (the `unsafe impl` is in `view.rs`), and its one store is
/// made in [`WasmtimePrepared::instantiate`] by `new_store`, whose limiter
/// (`limits`: the view, then the [`Budget`]) is never replaced.
pub(crate) struct Hosted<D> {
    inner: StoreData<D, Memory>,
    pub(crate) limits: ViewLimiter<Budget>,
}

impl<D> Hosted<D> {
    fn system(&mut self) -> &mut (dyn System + 'static) {
        self.inner.system()
    }

    pub(crate) fn memory(&self) -> Option<Memory> {
        self.inner.memory()
    }
}

/// [`MemoryBudget`] as wasmtime's resource limiter.
pub(crate) struct Budget(MemoryBudget);

impl ResourceLimiter for Budget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.0.memory_growing(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.0.table_growing(current, desired))
    }
}

/// Loads modules on wasmtime. Clone it cheaply: the engine is shared.
#[derive(Clone)]
pub struct WasmtimeRuntime {
    engine: Engine,
    config: RuntimeConfig,
    /// The cache of compiled modules (its directory serves the engines of
    /// [`Runtime::with_config`] too).
    cache: Option<Arc<ModuleCache>>,
    /// Advances the engine's epoch while the runtime lives, when a timeout
    /// is configured.
    _ticker: Option<Arc<EpochTicker>>,
}

/// A thread that increments an engine's epoch every
/// [`TIMEOUT_GRANULARITY`], until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("wasmtime-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(TIMEOUT_GRANULARITY);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The epoch deadline, in ticks of [`TIMEOUT_GRANULARITY`], for `config`'s
/// timeout: rounded up, so a guest never stops early.
fn deadline_ticks(config: &RuntimeConfig) -> Option<u64> {
    let timeout = config.timeout?;
    let ticks = timeout.as_nanos().div_ceil(TIMEOUT_GRANULARITY.as_nanos());
    Some(u64::try_from(ticks).unwrap_or(u64::MAX).max(1))
}

/// Whether instances need the engine's epochs: for a timeout, or to be
/// interruptible.
fn uses_epochs(config: &RuntimeConfig) -> bool {
    config.timeout.is_some() || config.interruptible
}

/// The error an interrupted call stops with.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted by the host")
    }
}

impl std::error::Error for Interrupted {}

/// Makes `store` check `interrupter` at every epoch tick, and stop at the
/// timeout of `config` (counted from now) as a plain epoch deadline would.
fn check_interrupts<T>(store: &mut Store<T>, config: &RuntimeConfig, interrupter: Interrupter) {
    let deadline = config
        .timeout
        .and_then(|timeout| std::time::Instant::now().checked_add(timeout));
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if interrupter.is_interrupted() {
            return Err(Interrupted.into());
        }
        if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            return Err(Trap::Interrupt.into());
        }
        Ok(UpdateDeadline::Continue(1))
    });
}

/// How a call (or the start function) that failed ended.
fn call_error(error: &wasmtime::Error) -> CallError {
    if let Some(code) = exit_code(error) {
        return CallError::Exit(code);
    }
    if error.downcast_ref::<Interrupted>().is_some() {
        return CallError::Interrupted;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::OutOfFuel,
        Some(Trap::Interrupt) => CallError::Timeout,
        _ => CallError::Trap(format!("{error:#}")),
    }
}

impl WasmtimeRuntime {
    /// A runtime with its own engine configured for `config`, compiling
    /// every module it loads.
    pub fn new(config: RuntimeConfig) -> wasmtime::Result<Self> {
        Self::with_engine_config(config, engine_config(config))
    }

    /// Like [`new`](Self::new), and compiled modules are cached in `dir`
    /// (uncompressed, keyed by the module's hash and the engine's
    /// settings, and mapped when loaded), so loading the same module again
    /// skips compilation; a large module file loaded with
    /// [`Runtime::prepare_file`] is found by its path and stat without
    /// reading it (the rules are in the crate's documentation).
    pub fn with_cache_dir(
        config: RuntimeConfig,
        dir: impl Into<PathBuf>,
    ) -> wasmtime::Result<Self> {
        let mut runtime = Self::new(config)?;
        runtime.cache = Some(Arc::new(ModuleCache::new(dir.into(), &runtime.engine)));
        Ok(runtime)
    }

    fn with_engine_config(config: RuntimeConfig, engine_config: Config) -> wasmtime::Result<Self> {
        let engine = Engine::new(&engine_config)?;
        let ticker = if uses_epochs(&config) {
            Some(Arc::new(EpochTicker::start(engine.clone())?))
        } else {
            None
        };
        Ok(Self {
            engine,
            config,
            cache: None,
            _ticker: ticker,
        })
    }

    /// The underlying engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Why a module defining a shared memory does not load. wasmtime creates
/// shared memories only with `Config::shared_memory`, off by default (threads
/// are a tier 2 feature of wasmtime) and off here: they would escape the
/// memory budget (wasmtime grows them without asking the store's limiter),
/// and the WASI calls cannot use one as the guest's `memory`.
const SHARED_MEMORY: &str = "this module defines a shared memory, which this host does not \
     support (of the threads proposal, only the atomic instructions on unshared memories run)";

/// Whether `wasm` (or its head: the memory section comes before the code)
/// defines a shared memory (unparsable sections answer no).
fn defines_shared_memory(wasm: &[u8]) -> bool {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::MemorySection(memories)) => {
                return memories
                    .into_iter()
                    .any(|memory| memory.is_ok_and(|memory| memory.shared));
            }
            Ok(wasmparser::Payload::CodeSectionStart { .. }) | Err(_) => return false,
            Ok(_) => {}
        }
    }
    false
}

/// Bytes of each pooled memory and table kept resident when its instance
/// is freed (`PoolingAllocationConfig::linear_memory_keep_resident`).
const POOL_KEEP_RESIDENT: usize = 1 << 20;

fn engine_config(config: RuntimeConfig) -> Config {
    let mut engine_config = Config::new();
    engine_config.consume_fuel(config.consumes_fuel());
    engine_config.epoch_interruption(uses_epochs(&config));
    if let Some(instances) = config.instance_pool {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(instances)
            .total_memories(instances)
            .total_tables(instances)
            // Reset a freed slot's first pages with `memset` rather than
            // `madvise`: each `madvise` is a TLB shootdown across the
            // server's threads, which costs more than the instance. Where
            // the kernel has `PAGEMAP_SCAN` (Linux 6.7), only the pages
            // the instance wrote are reset.
            .linear_memory_keep_resident(POOL_KEEP_RESIDENT)
            .table_keep_resident(POOL_KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        if let Some(max) = config.max_memory {
            pool.max_memory_size(usize::try_from(max).unwrap_or(usize::MAX));
        }
        engine_config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    engine_config
}

fn val_type(ty: ValType) -> wasmtime::ValType {
    match ty {
        ValType::I32 => wasmtime::ValType::I32,
        ValType::I64 => wasmtime::ValType::I64,
        ValType::F32 => wasmtime::ValType::F32,
        ValType::F64 => wasmtime::ValType::F64,
    }
}

/// The interface's type of an engine type; others named as wasmtime
/// writes them.
fn from_engine_type(ty: wasmtime::ValType) -> Result<ValType, String> {
    match ty {
        wasmtime::ValType::I32 => Ok(ValType::I32),
        wasmtime::ValType::I64 => Ok(ValType::I64),
        wasmtime::ValType::F32 => Ok(ValType::F32),
        wasmtime::ValType::F64 => Ok(ValType::F64),
        other => Err(other.to_string()),
    }
}

fn to_engine(val: Val) -> wasmtime::Val {
    match val {
        Val::I32(v) => wasmtime::Val::I32(v),
        Val::I64(v) => wasmtime::Val::I64(v),
        Val::F32(v) => wasmtime::Val::F32(v),
        Val::F64(v) => wasmtime::Val::F64(v),
    }
}

fn from_engine(val: &wasmtime::Val) -> Option<Val> {
    Some(match *val {
        wasmtime::Val::I32(v) => Val::I32(v),
        wasmtime::Val::I64(v) => Val::I64(v),
        wasmtime::Val::F32(v) => Val::F32(v),
        wasmtime::Val::F64(v) => Val::F64(v),
        _ => return None,
    })
}

fn exported_memory<T>(caller: &mut wasmtime::Caller<'_, T>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory),
        _ => None,
    }
}

impl Runtime for WasmtimeRuntime {
    type Instance<D: Send + 'static> = WasmtimeInstance<D>;
    type Prepared<D: Send + 'static> = WasmtimePrepared<D>;

    fn engine_name(&self) -> &'static str {
        "wasmtime"
    }

    /// A new engine for `config`, caching in the same directory.
    fn with_config(&self, config: RuntimeConfig) -> Result<Self, LoadError> {
        let runtime = match &self.cache {
            Some(cache) => Self::with_cache_dir(config, cache.dir()),
            None => Self::new(config),
        };
        runtime.map_err(|e| LoadError::Engine(format!("{e:#}")))
    }

    fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    fn prepare<D: Send + 'static>(
        &self,
        wasm: &[u8],
        imports: &Imports<D>,
    ) -> Result<WasmtimePrepared<D>, LoadError> {
        self.config.check_module(wasm)?;
        let module = match &self.cache {
            Some(cache) => cache.load(&self.engine, wasm),
            None => Module::new(&self.engine, wasm),
        }
        .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        self.link(&module, defines_shared_memory(wasm), imports)
    }

    /// With a cache, the module is found by the file's path and stat
    /// without reading more than its head when the file has not changed
    /// since it was last hashed (the rule is in `cache.rs`).
    fn prepare_file<D: Send + 'static>(
        &self,
        file: &WasmFile,
        imports: &Imports<D>,
    ) -> Result<WasmtimePrepared<D>, LoadError> {
        let head = file.head();
        self.config.check_module(head)?;
        let module = match &self.cache {
            Some(cache) => cache.load_file(&self.engine, file)?,
            None => {
                let wasm = file
                    .wasm()
                    .map_err(|e| LoadError::Read(format!("{}: {e}", file.path().display())))?;
                Module::new(&self.engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?
            }
        };
        self.link(&module, defines_shared_memory(head), imports)
    }
}

impl WasmtimeRuntime {
    /// Links the compiled `module` with `imports`.
    fn link<D: Send + 'static>(
        &self,
        module: &Module,
        shared_memory: bool,
        imports: &Imports<D>,
    ) -> Result<WasmtimePrepared<D>, LoadError> {
        let mut linker = Linker::new(&self.engine);
        if imports.wasi_system().is_some() {
            add_to_linker_viewed_for_module(&mut linker, module, Hosted::system)
                .map_err(link_error)?;
        }
        // Only what the module imports is linked (`Imports::imported_by`).
        let wanted = module
            .imports()
            .map(|import| (import.module(), import.name()));
        for func in imports.imported_by(wanted) {
            let ty = FuncType::new(
                &self.engine,
                func.params.iter().copied().map(val_type),
                func.results.iter().copied().map(val_type),
            );
            let host = func.clone();
            linker
                .func_new(
                    &func.module,
                    &func.name,
                    ty,
                    move |mut caller, params, results| {
                        let (bytes, hosted) = match exported_memory(&mut caller) {
                            Some(memory) => memory.data_and_store_mut(&mut caller),
                            None => (&mut [][..], caller.data_mut()),
                        };
                        host.call_with(
                            GuestMemory::new(bytes),
                            &mut hosted.inner.data,
                            params,
                            results,
                            from_engine,
                            to_engine,
                        )
                        .map_err(wasmtime::Error::from_boxed)
                    },
                )
                .map_err(link_error)?;
        }
        let pre = linker.instantiate_pre(module).map_err(link_error)?;
        Ok(WasmtimePrepared {
            pre,
            engine: self.engine.clone(),
            config: self.config,
            wasi: imports.wasi_system(),
            shared_memory,
            _ticker: self._ticker.clone(),
        })
    }
}

fn link_error(e: wasmtime::Error) -> LoadError {
    LoadError::Link(format!("{e:#}"))
}

/// A module compiled and linked by [`WasmtimeRuntime`]: an `InstancePre`,
/// instantiated from the pooling allocator's slots when the runtime has an
/// [`instance_pool`](RuntimeConfig::instance_pool).
pub struct WasmtimePrepared<D: 'static> {
    pre: InstancePre<Hosted<D>>,
    engine: Engine,
    config: RuntimeConfig,
    wasi: Option<fn(&mut D) -> &mut (dyn System + 'static)>,
    shared_memory: bool,
    /// Keeps the epoch advancing while instances may still be made.
    _ticker: Option<Arc<EpochTicker>>,
}

impl<D: Send + 'static> Prepared<D> for WasmtimePrepared<D> {
    type Instance = WasmtimeInstance<D>;

    fn instantiate(&self, data: D) -> Result<WasmtimeInstance<D>, LoadError> {
        let hosted = Hosted {
            inner: StoreData::with_wasi(data, self.wasi),
            limits: ViewLimiter::new(Budget(MemoryBudget::new(&self.config))),
        };
        // The only store of a `Hosted`; its limiter is never replaced.
        let mut store = new_store(&self.engine, hosted);
        if let Some(fuel) = self.config.fuel.or(self.config.fuel_per_call) {
            store.set_fuel(fuel).map_err(link_error)?;
        }
        let interrupter = self.config.interruptible.then(Interrupter::new);
        if let Some(interrupter) = &interrupter {
            check_interrupts(&mut store, &self.config, interrupter.clone());
        } else if let Some(ticks) = deadline_ticks(&self.config) {
            store.set_epoch_deadline(ticks);
        }
        let instance = self.pre.instantiate(&mut store).map_err(|e| {
            if let Some(refusal) = store.data_mut().limits.limiter_mut().0.take_refusal() {
                LoadError::Invalid(format!("the module needs {refusal}"))
            } else if exit_code(&e).is_some() || e.downcast_ref::<Trap>().is_some() {
                LoadError::Start(call_error(&e))
            } else if self.shared_memory {
                LoadError::Invalid(SHARED_MEMORY.into())
            } else {
                link_error(e)
            }
        })?;
        let memory = instance.get_memory(&mut store, "memory");
        // The store holds this one instance: its WASI calls use this handle.
        store.data_mut().inner.memory = memory;
        Ok(WasmtimeInstance {
            store,
            instance,
            memory,
            config: self.config,
            interrupter,
            _ticker: self._ticker.clone(),
        })
    }

    fn export(&self, name: &str) -> Option<Export> {
        Some(match self.pre.module().get_export(name)? {
            ExternType::Func(ty) => Export::func(
                ty.params().map(from_engine_type),
                ty.results().map(from_engine_type),
            ),
            ExternType::Global(_) => Export::Other("global"),
            ExternType::Table(_) => Export::Other("table"),
            ExternType::Memory(_) => Export::Other("memory"),
            ExternType::Tag(_) => Export::Other("tag"),
        })
    }
}

/// A module loaded by [`WasmtimeRuntime`].
pub struct WasmtimeInstance<D: 'static> {
    store: Store<Hosted<D>>,
    instance: wasmtime::Instance,
    memory: Option<Memory>,
    config: RuntimeConfig,
    interrupter: Option<Interrupter>,
    /// Keeps the epoch advancing for this instance's timeout and
    /// interrupter, even once the runtime and prepared module are dropped.
    _ticker: Option<Arc<EpochTicker>>,
}

impl<D: Send + 'static> Instance<D> for WasmtimeInstance<D> {
    fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError> {
        if self
            .interrupter
            .as_ref()
            .is_some_and(Interrupter::is_interrupted)
        {
            return Err(CallError::Interrupted);
        }
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| CallError::NoSuchExport(name.into()))?;
        if args.len() > MAX_VALS || results.len() > MAX_VALS {
            return Err(CallError::Signature(format!("more than {MAX_VALS} values")));
        }
        // Per-call fuel is topped up; an instance's total fuel is not.
        if let (Some(fuel), None) = (self.config.fuel_per_call, self.config.fuel) {
            self.store
                .set_fuel(fuel)
                .map_err(|e| CallError::Trap(format!("{e:#}")))?;
        }
        let mut params: [wasmtime::Val; MAX_VALS] = [wasmtime::Val::I32(0); MAX_VALS];
        for (param, arg) in params.iter_mut().zip(args) {
            *param = to_engine(*arg);
        }
        let mut outs: [wasmtime::Val; MAX_VALS] = [wasmtime::Val::I32(0); MAX_VALS];
        let ty = func.ty(&self.store);
        let params_match = ty.params().len() == args.len()
            && ty
                .params()
                .zip(args)
                .all(|(ty, arg)| ty.matches(&val_type(arg.ty())));
        if !params_match || ty.results().len() != results.len() {
            return Err(CallError::Signature(format!("`{name}` has type {ty}")));
        }
        func.call(
            &mut self.store,
            &params[..args.len()],
            &mut outs[..results.len()],
        )
        .map_err(|e| call_error(&e))?;
        for (result, out) in results.iter_mut().zip(&outs) {
            *result =
                from_engine(out).ok_or_else(|| CallError::Signature("reference result".into()))?;
        }
        Ok(())
    }

    fn has_func(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    fn interrupter(&self) -> Option<Interrupter> {
        self.interrupter.clone()
    }

    fn memory_and_data(&mut self) -> (GuestMemory<'_>, &mut D) {
        match self.memory {
            Some(memory) => {
                let (bytes, hosted) = memory.data_and_store_mut(&mut self.store);
                (GuestMemory::new(bytes), &mut hosted.inner.data)
            }
            None => (
                GuestMemory::new(&mut []),
                &mut self.store.data_mut().inner.data,
            ),
        }
    }
}
