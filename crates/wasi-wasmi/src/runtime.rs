//! [`wasi_core::runtime::Runtime`] on wasmi.

use crate::{add_to_linker_for_module, exit_code};
use std::time::Instant;
use wasi_core::runtime::{
    CallError, Export, Imports, Instance, Interrupter, LoadError, MAX_VALS, MemoryBudget, Prepared,
    Runtime, RuntimeConfig, StoreData, Val, ValType,
};
use wasi_core::{GuestMemory, System};
use wasmi::errors::{ErrorKind, FuelError};
use wasmi::{
    Config, Engine, Error, Extern, ExternType, F32, F64, Func, FuncType, Linker, Memory, Module,
    ResourceLimiter, ResumableCall, Store, TrapCode,
};
use wasmi_core::LimiterError;

mod proposals;

/// What the store of a module loaded through [`WasmiRuntime`] holds.
struct Hosted<D> {
    inner: StoreData<D, Memory>,
    budget: Budget,
}

impl<D> Hosted<D> {
    fn system(&mut self) -> &mut (dyn System + 'static) {
        self.inner.system()
    }

    fn memory(&self) -> Option<Memory> {
        self.inner.memory()
    }
}

/// [`MemoryBudget`] as wasmi's resource limiter.
struct Budget(MemoryBudget);

impl ResourceLimiter for Budget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(self.0.memory_growing(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(self.0.table_growing(current, desired))
    }

    fn instances(&self) -> usize {
        usize::MAX
    }

    fn tables(&self) -> usize {
        usize::MAX
    }

    fn memories(&self) -> usize {
        usize::MAX
    }
}

/// With a timeout, calls run on slices of this much fuel, and the deadline
/// is checked between slices (wasmi has no asynchronous interrupt): a few
/// milliseconds of guest code.
const FUEL_SLICE: u64 = 1 << 22;

/// wasmi cannot resume a start function that ran out of fuel, so under a
/// timeout the start function gets this much fuel per second of the
/// timeout, about what wasmi executes in a second on a fast machine.
const START_FUEL_PER_SECOND: u64 = 1 << 30;

/// Loads modules on wasmi. Clone it cheaply: the engine is shared.
#[derive(Clone)]
pub struct WasmiRuntime {
    engine: Engine,
    config: RuntimeConfig,
}

impl WasmiRuntime {
    /// A runtime with its own engine configured for `config`.
    pub fn new(config: RuntimeConfig) -> Self {
        let mut engine_config = Config::default();
        engine_config.consume_fuel(
            config.consumes_fuel() || config.timeout.is_some() || config.interruptible,
        );
        Self {
            engine: Engine::new(&engine_config),
            config,
        }
    }

    /// The underlying engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn val_type(ty: ValType) -> wasmi::ValType {
    match ty {
        ValType::I32 => wasmi::ValType::I32,
        ValType::I64 => wasmi::ValType::I64,
        ValType::F32 => wasmi::ValType::F32,
        ValType::F64 => wasmi::ValType::F64,
    }
}

/// The interface's type of an engine type; others named as the text
/// format (and wasmtime) writes them.
fn from_engine_type(ty: &wasmi::ValType) -> Result<ValType, String> {
    match ty {
        wasmi::ValType::I32 => Ok(ValType::I32),
        wasmi::ValType::I64 => Ok(ValType::I64),
        wasmi::ValType::F32 => Ok(ValType::F32),
        wasmi::ValType::F64 => Ok(ValType::F64),
        wasmi::ValType::V128 => Err("v128".into()),
        wasmi::ValType::FuncRef => Err("(ref null func)".into()),
        wasmi::ValType::ExternRef => Err("(ref null extern)".into()),
    }
}

fn to_engine(val: Val) -> wasmi::Val {
    match val {
        Val::I32(v) => wasmi::Val::I32(v),
        Val::I64(v) => wasmi::Val::I64(v),
        Val::F32(v) => wasmi::Val::F32(F32::from_bits(v)),
        Val::F64(v) => wasmi::Val::F64(F64::from_bits(v)),
    }
}

fn from_engine(val: &wasmi::Val) -> Option<Val> {
    Some(match *val {
        wasmi::Val::I32(v) => Val::I32(v),
        wasmi::Val::I64(v) => Val::I64(v),
        wasmi::Val::F32(v) => Val::F32(v.to_bits()),
        wasmi::Val::F64(v) => Val::F64(v.to_bits()),
        _ => return None,
    })
}

fn is_out_of_fuel(error: &Error) -> bool {
    error.as_trap_code() == Some(TrapCode::OutOfFuel)
        || matches!(error.kind(), ErrorKind::Fuel(FuelError::OutOfFuel { .. }))
}

/// How a call (or the start function) that failed ended; running out of
/// fuel is [`Fuel::exhausted`]'s to name.
fn call_error(error: &Error, fuel: &Fuel) -> CallError {
    if let Some(code) = exit_code(error) {
        CallError::Exit(code)
    } else if is_out_of_fuel(error) {
        fuel.exhausted()
    } else {
        CallError::Trap(error.to_string())
    }
}

/// The fuel and time an instance has left, and how much fuel to give the
/// engine at a time.
#[derive(Clone, Debug)]
struct Fuel {
    /// Fuel left for the instance (`RuntimeConfig::fuel`), if limited.
    left: Option<u64>,
    /// Fuel for each call (`RuntimeConfig::fuel_per_call`), if limited and
    /// there is no overall limit.
    per_call: Option<u64>,
    /// When the instance's time runs out.
    deadline: Option<Instant>,
    /// Whether the last slice given was cut short by the instance's fuel
    /// (rather than by the slicing for the deadline).
    limited_by_fuel: bool,
    /// Checked between slices when the instance is interruptible.
    interrupter: Option<Interrupter>,
}

impl Fuel {
    fn new(config: &RuntimeConfig, started: Instant) -> Self {
        Self {
            left: config.fuel,
            per_call: config.fuel_per_call.filter(|_| config.fuel.is_none()),
            deadline: config.timeout.map(|timeout| started + timeout),
            limited_by_fuel: false,
            interrupter: config.interruptible.then(Interrupter::new),
        }
    }

    /// Whether calls run on slices of fuel, checked between slices.
    fn sliced(&self) -> bool {
        self.deadline.is_some() || self.interrupter.is_some()
    }

    /// Whether the instance was interrupted.
    fn interrupted(&self) -> bool {
        self.interrupter
            .as_ref()
            .is_some_and(Interrupter::is_interrupted)
    }

    /// Whether the engine counts fuel at all.
    fn counted(&self) -> bool {
        self.left.is_some() || self.per_call.is_some() || self.sliced()
    }

    /// The fuel to give the engine for the next stretch of a call whose
    /// own budget has `call_left` left, at most `slice`.
    fn next(&mut self, call_left: Option<u64>, slice: u64) -> u64 {
        let limit = match (self.left, call_left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let slice = if self.sliced() { slice } else { u64::MAX };
        self.limited_by_fuel = limit.is_some_and(|limit| limit <= slice);
        limit.map_or(slice, |limit| limit.min(slice))
    }

    /// Counts `used` fuel against the instance's budget.
    fn spend(&mut self, used: u64) {
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(used);
        }
    }

    /// What running out of the fuel last given means: the instance's (or
    /// the call's) fuel is gone, or the deadline came.
    fn exhausted(&self) -> CallError {
        if self.limited_by_fuel {
            CallError::OutOfFuel
        } else {
            CallError::Timeout
        }
    }

    /// Whether the deadline has passed.
    fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// Fuel for a start function under `fuel`'s deadline: what the time left
/// is worth at [`START_FUEL_PER_SECOND`].
fn start_slice(fuel: &Fuel) -> u64 {
    let Some(deadline) = fuel.deadline else {
        // Not resumable: an interruptible start function runs to its end.
        return u64::MAX;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let fuel = left.as_nanos() * u128::from(START_FUEL_PER_SECOND) / 1_000_000_000;
    u64::try_from(fuel).unwrap_or(u64::MAX).max(1)
}

impl Runtime for WasmiRuntime {
    type Instance<D: Send + 'static> = WasmiInstance<D>;
    type Prepared<D: Send + 'static> = WasmiPrepared<D>;

    fn engine_name(&self) -> &'static str {
        "wasmi"
    }

    fn with_config(&self, config: RuntimeConfig) -> Result<Self, LoadError> {
        Ok(Self::new(config))
    }

    fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    fn prepare<D: Send + 'static>(
        &self,
        wasm: &[u8],
        imports: &Imports<D>,
    ) -> Result<WasmiPrepared<D>, LoadError> {
        self.config.check_module(wasm)?;
        let module = Module::new(&self.engine, wasm).map_err(|e| {
            LoadError::Invalid(proposals::explain(wasm).unwrap_or_else(|| e.to_string()))
        })?;
        let mut linker = Linker::new(&self.engine);
        if imports.wasi_system().is_some() {
            add_to_linker_for_module(&mut linker, &module, Hosted::system, Hosted::memory)
                .map_err(link_error)?;
        }
        // Only what the module imports is linked (`Imports::imported_by`).
        let wanted = module
            .imports()
            .map(|import| (import.module(), import.name()));
        for func in imports.imported_by(wanted) {
            let ty = FuncType::new(
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
                        let memory = match caller.get_export("memory") {
                            Some(Extern::Memory(memory)) => Some(memory),
                            _ => None,
                        };
                        let (bytes, hosted) = match memory {
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
                        .map_err(|e| Error::new(e.to_string()))
                    },
                )
                .map_err(|e| LoadError::Link(e.to_string()))?;
        }
        Ok(WasmiPrepared {
            module,
            linker,
            engine: self.engine.clone(),
            config: self.config,
            wasi: imports.wasi_system(),
        })
    }
}

fn link_error(e: Error) -> LoadError {
    LoadError::Link(e.to_string())
}

/// A module compiled and linked by [`WasmiRuntime`]: the module and a
/// linker holding the host functions it imports, reused by each
/// instantiation. (wasmi resolves imports against a store, so an import the
/// linker lacks is reported by [`Prepared::instantiate`], as
/// [`LoadError::Link`].)
pub struct WasmiPrepared<D: 'static> {
    module: Module,
    linker: Linker<Hosted<D>>,
    engine: Engine,
    config: RuntimeConfig,
    wasi: Option<fn(&mut D) -> &mut (dyn System + 'static)>,
}

impl<D: Send + 'static> Prepared<D> for WasmiPrepared<D> {
    type Instance = WasmiInstance<D>;

    fn instantiate(&self, data: D) -> Result<WasmiInstance<D>, LoadError> {
        let started = Instant::now();
        let hosted = Hosted {
            inner: StoreData::with_wasi(data, self.wasi),
            budget: Budget(MemoryBudget::new(&self.config)),
        };
        let mut store = Store::new(&self.engine, hosted);
        store.limiter(|hosted| &mut hosted.budget);
        let mut fuel = Fuel::new(&self.config, started);
        let given = if fuel.counted() {
            let given = fuel.next(fuel.per_call, start_slice(&fuel));
            store.set_fuel(given).map_err(link_error)?;
            given
        } else {
            0
        };
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .map_err(|e| {
                if let Some(refusal) = store.data_mut().budget.0.take_refusal() {
                    LoadError::Invalid(format!("the module needs {refusal}"))
                } else if exit_code(&e).is_some() || e.as_trap_code().is_some() {
                    LoadError::Start(call_error(&e, &fuel))
                } else {
                    link_error(e)
                }
            })?;
        if fuel.counted() {
            fuel.spend(given - store.get_fuel().unwrap_or(0));
        }
        let memory = instance.get_memory(&store, "memory");
        // The store holds this one instance: its WASI calls use this handle.
        store.data_mut().inner.memory = memory;
        Ok(WasmiInstance {
            store,
            instance,
            memory,
            fuel,
        })
    }

    fn export(&self, name: &str) -> Option<Export> {
        Some(match self.module.get_export(name)? {
            ExternType::Func(ty) => Export::func(
                ty.params().iter().map(from_engine_type),
                ty.results().iter().map(from_engine_type),
            ),
            ExternType::Global(_) => Export::Other("global"),
            ExternType::Table(_) => Export::Other("table"),
            ExternType::Memory(_) => Export::Other("memory"),
        })
    }
}

/// A module loaded by [`WasmiRuntime`].
pub struct WasmiInstance<D: 'static> {
    store: Store<Hosted<D>>,
    instance: wasmi::Instance,
    memory: Option<Memory>,
    fuel: Fuel,
}

impl<D: Send + 'static> Instance<D> for WasmiInstance<D> {
    fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError> {
        if self.fuel.interrupted() {
            return Err(CallError::Interrupted);
        }
        let func = self
            .instance
            .get_func(&self.store, name)
            .ok_or_else(|| CallError::NoSuchExport(name.into()))?;
        if args.len() > MAX_VALS || results.len() > MAX_VALS {
            return Err(CallError::Signature(format!("more than {MAX_VALS} values")));
        }
        let ty = func.ty(&self.store);
        let params_match = ty.params().len() == args.len()
            && ty
                .params()
                .iter()
                .zip(args)
                .all(|(ty, arg)| *ty == val_type(arg.ty()));
        if !params_match || ty.results().len() != results.len() {
            return Err(CallError::Signature(format!("`{name}` has type {ty:?}")));
        }
        let params: [wasmi::Val; MAX_VALS] =
            core::array::from_fn(|i| to_engine(args.get(i).copied().unwrap_or(Val::I32(0))));
        let mut outs: [wasmi::Val; MAX_VALS] = core::array::from_fn(|_| wasmi::Val::I32(0));
        let (params, outs_used) = (&params[..args.len()], &mut outs[..results.len()]);
        if self.fuel.counted() {
            self.call_metered(func, params, outs_used)?;
        } else {
            func.call(&mut self.store, params, outs_used)
                .map_err(|e| call_error(&e, &self.fuel))?;
        }
        for (result, out) in results.iter_mut().zip(&outs) {
            *result =
                from_engine(out).ok_or_else(|| CallError::Signature("reference result".into()))?;
        }
        Ok(())
    }

    fn has_func(&mut self, name: &str) -> bool {
        self.instance.get_func(&self.store, name).is_some()
    }

    fn interrupter(&self) -> Option<Interrupter> {
        self.fuel.interrupter.clone()
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

impl<D: Send + 'static> WasmiInstance<D> {
    /// Runs `func` on the fuel it may use: slice by slice when there is a
    /// deadline, checked between slices, else on the whole budget at once.
    fn call_metered(
        &mut self,
        func: Func,
        params: &[wasmi::Val],
        outs: &mut [wasmi::Val],
    ) -> Result<(), CallError> {
        let fuel = &mut self.fuel;
        let mut call_left = fuel.per_call;
        let mut given = fuel.next(call_left, FUEL_SLICE);
        let set_fuel = |store: &mut Store<Hosted<D>>, amount| {
            store
                .set_fuel(amount)
                .map_err(|e| CallError::Trap(e.to_string()))
        };
        set_fuel(&mut self.store, given)?;
        let mut state = func.call_resumable(&mut self.store, params, outs);
        loop {
            let used = given - self.store.get_fuel().unwrap_or(0);
            fuel.spend(used);
            call_left = call_left.map(|left| left.saturating_sub(used));
            match state {
                Ok(ResumableCall::Finished) => return Ok(()),
                Ok(ResumableCall::HostTrap(trap)) => {
                    return Err(call_error(trap.host_error(), fuel));
                }
                Ok(ResumableCall::OutOfFuel(resumable)) => {
                    if fuel.limited_by_fuel {
                        return Err(CallError::OutOfFuel);
                    }
                    if fuel.interrupted() {
                        return Err(CallError::Interrupted);
                    }
                    if fuel.past_deadline() {
                        return Err(CallError::Timeout);
                    }
                    given = fuel.next(call_left, FUEL_SLICE);
                    set_fuel(&mut self.store, given)?;
                    state = resumable.resume(&mut self.store, outs);
                }
                Err(error) => return Err(call_error(&error, fuel)),
            }
        }
    }
}
