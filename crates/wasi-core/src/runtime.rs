//! A small engine-independent interface for loading and calling further
//! modules: WADI driver modules, Daku child tasks and WATER transport modules
//! run on either engine through it.
//!
//! An engine adapter implements [`Runtime`]. The embedder describes the host
//! functions a module may import ([`Imports`]), optionally lets it import WASI
//! (served by a [`System`] reached from the instance's data), instantiates it,
//! then calls exports and reads or writes its memory through [`Instance`].

use crate::memory::GuestMemory;
use crate::system::System;
use crate::wasm_file::WasmFile;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A WebAssembly value crossing the host boundary (floats as raw bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float, as its IEEE 754 bits.
    F32(u32),
    /// A 64-bit float, as its IEEE 754 bits.
    F64(u64),
}

impl Val {
    /// The type of this value.
    pub fn ty(self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
        }
    }

    /// The zero value of `ty`.
    pub fn zero(ty: ValType) -> Self {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
        }
    }

    /// The value as an `i32`, if it is one.
    pub fn i32(self) -> Option<i32> {
        match self {
            Val::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an `i64`, if it is one.
    pub fn i64(self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Val {
    /// The value as wasmtime's CLI prints results: integers in signed
    /// decimal, floats in Rust's shortest round-trip form (`1.5`, `3`,
    /// `-0`, `inf`, `NaN`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Val::I32(v) => v.fmt(f),
            Val::I64(v) => v.fmt(f),
            Val::F32(bits) => f32::from_bits(bits).fmt(f),
            Val::F64(bits) => f64::from_bits(bits).fmt(f),
        }
    }
}

/// The type of a [`Val`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl fmt::Display for ValType {
    /// `i32`, `i64`, `f32` or `f64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
        })
    }
}

/// The type of a function whose parameters and results are all [`Val`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl fmt::Display for FuncType {
    /// `(i32, i32) -> i32`, `() -> ()`, `(f64) -> (i32, i32)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> ", TypeList(&self.params))?;
        match self.results.as_slice() {
            [one] => one.fmt(f),
            more => TypeList(more).fmt(f),
        }
    }
}

/// Types in parentheses, separated by commas: `(i32, i64)`, `()`.
pub struct TypeList<'a>(pub &'a [ValType]);

impl fmt::Display for TypeList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, ty) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            ty.fmt(f)?;
        }
        f.write_str(")")
    }
}

/// What a module exports under a name ([`Prepared::export`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Export {
    /// A function whose parameters and results are all [`Val`]s.
    Func(FuncType),
    /// A function taking or returning a value no [`Val`] carries: the first
    /// such type, as the text format writes it (`v128`, `(ref null func)`).
    OpaqueFunc(String),
    /// Not a function: `memory`, `table`, `global` or `tag`.
    Other(&'static str),
}

impl Export {
    /// A function export of these types, for adapters: each is a
    /// [`ValType`], or `Err` with the name of a type no [`Val`] carries.
    pub fn func(
        params: impl IntoIterator<Item = Result<ValType, String>>,
        results: impl IntoIterator<Item = Result<ValType, String>>,
    ) -> Self {
        match (
            params.into_iter().collect::<Result<Vec<_>, _>>(),
            results.into_iter().collect::<Result<Vec<_>, _>>(),
        ) {
            (Ok(params), Ok(results)) => Export::Func(FuncType { params, results }),
            (Err(other), _) | (_, Err(other)) => Export::OpaqueFunc(other),
        }
    }
}

/// A Rust type that crosses the host boundary as one wasm value: `i32`,
/// `u32` (an `i32` reinterpreted, as guest pointers and lengths are), `i64`,
/// `u64`, `f32`, `f64`.
pub trait WasmValue: Copy + Send + 'static {
    /// Its wasm type.
    const TYPE: ValType;

    /// The value, if `val` has this type.
    fn from_val(val: Val) -> Option<Self>;

    /// The wasm value.
    fn into_val(self) -> Val;
}

macro_rules! wasm_values {
    ($($ty:ty => $variant:ident, $from:expr, $into:expr;)*) => {$(
        impl WasmValue for $ty {
            const TYPE: ValType = ValType::$variant;

            fn from_val(val: Val) -> Option<Self> {
                match val {
                    Val::$variant(v) => Some($from(v)),
                    _ => None,
                }
            }

            fn into_val(self) -> Val {
                Val::$variant($into(self))
            }
        }
    )*};
}

wasm_values! {
    i32 => I32, |v| v, |v| v;
    u32 => I32, |v: i32| v as u32, |v: u32| v as i32;
    i64 => I64, |v| v, |v| v;
    u64 => I64, |v: i64| v as u64, |v: u64| v as i64;
    f32 => F32, f32::from_bits, f32::to_bits;
    f64 => F64, f64::from_bits, f64::to_bits;
}

/// The parameters of a typed host function ([`Imports::typed`]): a tuple of
/// up to eight [`WasmValue`]s.
pub trait WasmParams: Sized + Send + 'static {
    /// The wasm types, in order.
    const TYPES: &'static [ValType];

    /// The tuple, if `vals` have exactly these types.
    fn decode(vals: &[Val]) -> Option<Self>;
}

/// The results of a typed host function ([`Imports::typed`]): `()`, one
/// [`WasmValue`], or a tuple of up to eight.
pub trait WasmResults: Sized + Send + 'static {
    /// The wasm types, in order.
    const TYPES: &'static [ValType];

    /// Writes the values into `out`, which has one slot per type.
    fn encode(self, out: &mut [Val]);
}

impl<T: WasmValue> WasmResults for T {
    const TYPES: &'static [ValType] = &[T::TYPE];

    fn encode(self, out: &mut [Val]) {
        out[0] = self.into_val();
    }
}

macro_rules! wasm_tuples {
    ($(($($t:ident $v:ident $i:tt),*);)*) => {$(
        impl<$($t: WasmValue),*> WasmParams for ($($t,)*) {
            const TYPES: &'static [ValType] = &[$($t::TYPE),*];

            fn decode(vals: &[Val]) -> Option<Self> {
                match vals {
                    [$($v),*] => Some(($($t::from_val(*$v)?,)*)),
                    _ => None,
                }
            }
        }

        impl<$($t: WasmValue),*> WasmResults for ($($t,)*) {
            const TYPES: &'static [ValType] = &[$($t::TYPE),*];

            #[allow(unused_variables)]
            fn encode(self, out: &mut [Val]) {
                $(out[$i] = self.$i.into_val();)*
            }
        }
    )*};
}

wasm_tuples! {
    ();
    (A a 0);
    (A a 0, B b 1);
    (A a 0, B b 1, C c 2);
    (A a 0, B b 1, C c 2, D d 3);
    (A a 0, B b 1, C c 2, D d 3, E e 4);
    (A a 0, B b 1, C c 2, D d 3, E e 4, F f 5);
    (A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6);
    (A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7);
}

/// The most parameters or results a host function or a call may have.
pub const MAX_VALS: usize = 16;

/// An error raised by a host function: the module's call traps with it.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// What a host function sees of its caller.
pub struct Caller<'a, D> {
    /// The caller's exported `memory` (empty if it exports none).
    pub memory: GuestMemory<'a>,
    /// The instance's data.
    pub data: &'a mut D,
}

/// The body of a host function: reads `params`, writes every slot of `results`.
pub type HostFn<D> =
    dyn Fn(&mut Caller<'_, D>, &[Val], &mut [Val]) -> Result<(), HostError> + Send + Sync;

/// A host function a module may import.
pub struct HostFunc<D> {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
    /// The implementation.
    pub func: Arc<HostFn<D>>,
}

impl<D> Clone for HostFunc<D> {
    fn clone(&self) -> Self {
        Self {
            module: self.module.clone(),
            name: self.name.clone(),
            params: self.params.clone(),
            results: self.results.clone(),
            func: Arc::clone(&self.func),
        }
    }
}

impl<D> HostFunc<D> {
    /// Runs the function on an engine's own values, for adapters: `from`
    /// reads a parameter (`None` for values this interface does not carry,
    /// such as references, which fails the call), `to` writes a result back.
    /// `results` must have one slot per result of the function's type.
    pub fn call_with<E>(
        &self,
        memory: GuestMemory<'_>,
        data: &mut D,
        params: &[E],
        results: &mut [E],
        from: fn(&E) -> Option<Val>,
        to: fn(Val) -> E,
    ) -> Result<(), HostError> {
        let mut args = [Val::I32(0); MAX_VALS];
        for (arg, param) in args.iter_mut().zip(params) {
            *arg = from(param).ok_or("reference values cannot cross the host interface")?;
        }
        let mut outs = [Val::I32(0); MAX_VALS];
        for (out, ty) in outs.iter_mut().zip(&self.results) {
            *out = Val::zero(*ty);
        }
        let mut caller = Caller { memory, data };
        (self.func)(
            &mut caller,
            &args[..params.len()],
            &mut outs[..results.len()],
        )?;
        for (result, out) in results.iter_mut().zip(outs) {
            *result = to(out);
        }
        Ok(())
    }
}

/// The imports offered to a module: host functions, and optionally WASI.
pub struct Imports<D> {
    funcs: Vec<HostFunc<D>>,
    wasi: Option<fn(&mut D) -> &mut (dyn System + 'static)>,
}

impl<D> Default for Imports<D> {
    fn default() -> Self {
        Self {
            funcs: Vec::new(),
            wasi: None,
        }
    }
}

impl<D> Clone for Imports<D> {
    fn clone(&self) -> Self {
        Self {
            funcs: self.funcs.clone(),
            wasi: self.wasi,
        }
    }
}

impl<D> fmt::Debug for Imports<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imports")
            .field(
                "funcs",
                &self
                    .funcs
                    .iter()
                    .map(|func| format!("{}::{}", func.module, func.name))
                    .collect::<Vec<_>>(),
            )
            .field("wasi", &self.wasi.is_some())
            .finish()
    }
}

impl<D> Imports<D> {
    /// No imports.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers the host functions of `other` too. An import offered twice
    /// (by both tables, or by one and WASI) fails to link
    /// ([`LoadError::Link`]) when a module imports it.
    pub fn extend(&mut self, other: &Imports<D>) -> &mut Self {
        self.funcs.extend(other.funcs.iter().cloned());
        self
    }

    /// Offers a host function. Fails when it has more than [`MAX_VALS`]
    /// parameters or results.
    pub fn func(
        &mut self,
        module: &str,
        name: &str,
        params: &[ValType],
        results: &[ValType],
        func: impl Fn(&mut Caller<'_, D>, &[Val], &mut [Val]) -> Result<(), HostError>
        + Send
        + Sync
        + 'static,
    ) -> Result<&mut Self, LoadError> {
        if params.len() > MAX_VALS || results.len() > MAX_VALS {
            return Err(LoadError::Link(format!(
                "host function {module}::{name} has more than {MAX_VALS} parameters or results"
            )));
        }
        self.funcs.push(HostFunc {
            module: module.into(),
            name: name.into(),
            params: params.into(),
            results: results.into(),
            func: Arc::new(func),
        });
        Ok(self)
    }

    /// Offers a host function with a typed signature: `P` is a tuple of
    /// [`WasmValue`]s (`()`, `(u32,)`, `(u32, u32)`, ... up to eight) and
    /// `R` is `()`, one [`WasmValue`] or a tuple of them; the wasm
    /// signature follows from the types. Guest memory is reached through
    /// the [`Caller`], bounds-checked. This is how an extension declares
    /// its imports once for both engines.
    ///
    /// ```
    /// use wasi_core::runtime::Imports;
    ///
    /// struct Counter(u32);
    /// let mut imports = Imports::<Counter>::new();
    /// imports.typed("env", "bump", |caller, (by,): (u32,)| {
    ///     caller.data.0 += by;
    ///     Ok(caller.data.0)
    /// });
    /// ```
    pub fn typed<P: WasmParams, R: WasmResults>(
        &mut self,
        module: &str,
        name: &str,
        func: impl Fn(&mut Caller<'_, D>, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.funcs.push(HostFunc {
            module: module.into(),
            name: name.into(),
            params: P::TYPES.into(),
            results: R::TYPES.into(),
            func: Arc::new(move |caller, params, results| {
                // The engine checked the call against the signature made
                // from `P`, so decoding cannot fail.
                let params = P::decode(params).ok_or("host function called with wrong types")?;
                func(caller, params)?.encode(results);
                Ok(())
            }),
        });
        self
    }

    /// Offers the `wasi_snapshot_preview1` imports, served by the [`System`]
    /// that `get` reaches from the instance's data. To offer only part of
    /// WASI, make that system a decorator refusing the rest.
    pub fn wasi(&mut self, get: fn(&mut D) -> &mut (dyn System + 'static)) -> &mut Self {
        self.wasi = Some(get);
        self
    }

    /// The host functions.
    pub fn funcs(&self) -> &[HostFunc<D>] {
        &self.funcs
    }

    /// The host functions a module imports, given its imports as `(module,
    /// name)` pairs: adapters link only these, so an extension's table can
    /// offer functions a module does not use at no cost.
    pub fn imported_by<'a>(
        &'a self,
        imports: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> impl Iterator<Item = &'a HostFunc<D>> {
        let wanted: std::collections::HashSet<(&str, &str)> = imports.into_iter().collect();
        self.funcs
            .iter()
            .filter(move |func| wanted.contains(&(func.module.as_str(), func.name.as_str())))
    }

    /// The WASI projection, if WASI is offered.
    pub fn wasi_system(&self) -> Option<fn(&mut D) -> &mut (dyn System + 'static)> {
        self.wasi
    }
}

/// Why a module could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The bytes are not a valid module, or the module is beyond what
    /// [`RuntimeConfig`] allows (its declared memory, for instance).
    Invalid(String),
    /// An import is missing or has the wrong type, or a host function could
    /// not be defined.
    Link(String),
    /// The start function did not return: it trapped, exited through
    /// `proc_exit` ([`CallError::Exit`]), ran out of fuel or time.
    Start(CallError),
    /// The engine could not be set up for the runtime's configuration
    /// ([`Runtime::with_config`]).
    Engine(String),
    /// The module's file could not be read ([`Runtime::prepare_file`]).
    Read(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Invalid(msg) => write!(f, "invalid module: {msg}"),
            LoadError::Link(msg) => write!(f, "cannot link module: {msg}"),
            LoadError::Start(error) => write!(f, "in the start function: {error}"),
            LoadError::Engine(msg) => write!(f, "cannot set up the engine: {msg}"),
            LoadError::Read(msg) => write!(f, "cannot read the module: {msg}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Why a call into a module failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No exported function of that name.
    NoSuchExport(String),
    /// The arguments or result slots do not match the function's type.
    Signature(String),
    /// The module ran out of fuel (it looped or ran too long).
    OutOfFuel,
    /// The module ran past its [`RuntimeConfig::timeout`].
    Timeout,
    /// The module called `proc_exit`.
    Exit(u32),
    /// The module trapped, or a host function failed.
    Trap(String),
    /// Another thread stopped the call through the instance's
    /// [`Interrupter`].
    Interrupted,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoSuchExport(name) => write!(f, "no exported function `{name}`"),
            CallError::Signature(msg) => write!(f, "signature mismatch: {msg}"),
            CallError::OutOfFuel => f.write_str("module ran out of fuel"),
            CallError::Timeout => f.write_str("module ran past its time limit"),
            CallError::Exit(code) => write!(f, "module exited with code {code}"),
            CallError::Trap(msg) => write!(f, "module trapped: {msg}"),
            CallError::Interrupted => f.write_str("module was interrupted by the host"),
        }
    }
}

impl std::error::Error for CallError {}

/// Settings for a [`Runtime`]: the limits every instance it loads runs
/// under. Start from [`RuntimeConfig::new`] (no limits) and set fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Fuel given to every call into a module; `None` runs without limit.
    /// Running out stops the call with [`CallError::OutOfFuel`].
    pub fuel_per_call: Option<u64>,
    /// Fuel for an instance's whole life: its start function and every call
    /// together. Running out stops it with [`CallError::OutOfFuel`]. One unit
    /// is about one wasm instruction (the engines count differently).
    pub fuel: Option<u64>,
    /// The most bytes of linear memory an instance may have (all its
    /// memories together); its tables may hold at most `max_memory / 8`
    /// elements in all. A module declaring more fails to load with
    /// [`LoadError::Invalid`]; `memory.grow` and `table.grow` beyond it
    /// return -1 to the guest.
    pub max_memory: Option<u64>,
    /// Wall-clock time an instance may run, from the start of its
    /// instantiation: past it, the running call stops with
    /// [`CallError::Timeout`] (on wasmtime within about
    /// [`TIMEOUT_GRANULARITY`]; on wasmi, which has no interrupts, by fuel
    /// checks, so precisely only for calls: see the adapter's README). Time
    /// spent blocked in a host call is counted, but a host call is not
    /// interrupted.
    pub timeout: Option<Duration>,
    /// The most functions a module may define. Compiling costs host memory
    /// for every function, however small (wasmtime: about 5 KiB each, so a
    /// 4 MB module of a million empty functions takes over 5 GB), so this
    /// bounds what an untrusted module can make the host spend before it
    /// runs: a module defining more fails to load with
    /// [`LoadError::Invalid`], before it is compiled.
    pub max_functions: Option<u32>,
    /// Instances a server expects to run at once, for engines that can
    /// preallocate them: wasmtime then uses its pooling allocator, with
    /// this many slots of memory and tables reserved up front (each as
    /// large as [`max_memory`](Self::max_memory), or 4 GiB of address
    /// space without it), which makes instantiation a few microseconds.
    /// Instantiating more at once fails with [`LoadError::Link`]. `None`
    /// (the default) allocates on demand; wasmi always does.
    pub instance_pool: Option<u32>,
    /// Whether instances can be stopped from another thread
    /// ([`Instance::interrupter`]): a host that must reclaim a thread
    /// running untrusted code without a time or fuel limit (a transport
    /// module whose connection is over) sets it. wasmtime then checks every
    /// [`TIMEOUT_GRANULARITY`] (epoch interruption, a few percent of guest
    /// speed); wasmi runs calls on slices of fuel and checks between them
    /// (a start function, which wasmi cannot resume, runs to its end).
    pub interruptible: bool,
}

/// How late past [`RuntimeConfig::timeout`] wasmtime may stop a guest.
pub const TIMEOUT_GRANULARITY: Duration = Duration::from_millis(10);

impl RuntimeConfig {
    /// No limits (the same as `Default`, usable in constants).
    pub const fn new() -> Self {
        Self {
            fuel_per_call: None,
            fuel: None,
            max_memory: None,
            timeout: None,
            max_functions: None,
            instance_pool: None,
            interruptible: false,
        }
    }

    /// Checks `wasm` against the limits that apply before compiling
    /// ([`max_functions`](Self::max_functions)), reading only its section
    /// headers and the function section's count. Malformed bytes pass: the
    /// engine's validation reports them.
    pub fn check_module(&self, wasm: &[u8]) -> Result<(), LoadError> {
        let Some(max) = self.max_functions else {
            return Ok(());
        };
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload {
                Ok(wasmparser::Payload::FunctionSection(functions)) if functions.count() > max => {
                    return Err(LoadError::Invalid(format!(
                        "the module defines {} functions, more than the limit of {max}",
                        functions.count()
                    )));
                }
                Ok(wasmparser::Payload::CodeSectionStart { .. }) | Err(_) => break,
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Whether an engine must count fuel for this configuration.
    pub fn consumes_fuel(&self) -> bool {
        self.fuel_per_call.is_some() || self.fuel.is_some()
    }

    /// The most table elements an instance may have, from `max_memory`.
    pub fn max_table_elements(&self) -> Option<usize> {
        self.max_memory
            .map(|bytes| usize::try_from(bytes / 8).unwrap_or(usize::MAX))
    }
}

/// An engine able to load modules.
///
/// Loading is in two steps: [`prepare`](Self::prepare) compiles and links a
/// module once, and [`Prepared::instantiate`] makes an instance of it, as
/// many times as wanted and from any thread (a server instantiates a
/// prepared module per request). [`instantiate`](Self::instantiate) does
/// both at once.
///
/// Extension crates are generic over `R: Runtime` and never name an engine:
/// the embedder chooses the engine once (`wasi-runner`'s `Engine`) and hands
/// its runtime down; an extension that needs a runtime under other limits
/// (WADI drivers, Daku child tasks) derives it with
/// [`with_config`](Self::with_config).
pub trait Runtime: Clone + Send + Sync + Sized + 'static {
    /// A loaded module, owning its store.
    type Instance<D: Send + 'static>: Instance<D> + Send;

    /// A compiled and linked module, ready to be instantiated.
    type Prepared<D: Send + 'static>: Prepared<D, Instance = Self::Instance<D>> + 'static;

    /// The engine's name, as command lines spell it (`wasmtime`, `wasmi`).
    fn engine_name(&self) -> &'static str;

    /// A runtime of the same engine and set-up (its cache of compiled
    /// modules, for one), under the limits of `config`.
    fn with_config(&self, config: RuntimeConfig) -> Result<Self, LoadError>;

    /// The limits this runtime loads modules under.
    fn config(&self) -> &RuntimeConfig;

    /// Compiles `wasm` (binary) and links it with `imports`: every import
    /// of the module must be offered, with its type. Fails as
    /// [`instantiate`](Self::instantiate) does before the module runs.
    fn prepare<D: Send + 'static>(
        &self,
        wasm: &[u8],
        imports: &Imports<D>,
    ) -> Result<Self::Prepared<D>, LoadError>;

    /// [`prepare`](Self::prepare) for the module in `file`. An engine with
    /// a cache of compiled code may load it from there without reading
    /// more of the file than its [`head`](WasmFile::head); by default the
    /// whole file is read and prepared. Fails with [`LoadError::Read`]
    /// when the file cannot be read.
    fn prepare_file<D: Send + 'static>(
        &self,
        file: &WasmFile,
        imports: &Imports<D>,
    ) -> Result<Self::Prepared<D>, LoadError> {
        let wasm = file
            .wasm()
            .map_err(|e| LoadError::Read(format!("{}: {e}", file.path().display())))?;
        self.prepare(wasm, imports)
    }

    /// Compiles, links and instantiates `wasm` (binary) with `imports`,
    /// giving the instance `data`; runs the module's start function.
    fn instantiate<D: Send + 'static>(
        &self,
        wasm: &[u8],
        imports: &Imports<D>,
        data: D,
    ) -> Result<Self::Instance<D>, LoadError> {
        self.prepare(wasm, imports)?.instantiate(data)
    }
}

/// A module compiled and linked by [`Runtime::prepare`]: instantiating it
/// only creates a store, the instance's memories and tables, and runs its
/// start function. Shared between threads, it instantiates on any of them.
pub trait Prepared<D: Send + 'static>: Send + Sync {
    /// The instances it makes.
    type Instance: Instance<D>;

    /// A fresh instance with `data`, under the runtime's
    /// [`RuntimeConfig`] (its limits count from now); runs the module's
    /// start function.
    fn instantiate(&self, data: D) -> Result<Self::Instance, LoadError>;

    /// What the module exports as `name`, if anything: what a host checks
    /// before instantiating (the type of an entry point, say).
    fn export(&self, name: &str) -> Option<Export>;
}

/// A loaded module.
pub trait Instance<D: 'static> {
    /// Calls the exported function `name`; `results` must have one slot per
    /// result, which is overwritten.
    fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError>;

    /// Whether the module exports a function called `name`.
    fn has_func(&mut self, name: &str) -> bool;

    /// A handle that stops this instance's running (and every later) call
    /// from another thread, with [`CallError::Interrupted`]; `None` unless
    /// the runtime's config is [`interruptible`](RuntimeConfig::interruptible).
    /// A call blocked in a host function stops when it returns to wasm.
    fn interrupter(&self) -> Option<Interrupter>;

    /// The module's exported `memory` and the instance data, borrowed
    /// together (the memory is empty if the module exports none).
    fn memory_and_data(&mut self) -> (GuestMemory<'_>, &mut D);

    /// The instance data.
    fn data(&mut self) -> &mut D {
        self.memory_and_data().1
    }

    /// The module's exported `memory`.
    fn memory(&mut self) -> GuestMemory<'_> {
        self.memory_and_data().0
    }
}

/// Stops an instance's calls from another thread
/// ([`Instance::interrupter`]). Cloning shares the handle.
///
/// Interrupting also runs the hooks given to
/// [`on_interrupt`](Self::on_interrupt): the host ends its own waits with
/// them (a `poll_oneoff` sleeping, a read waiting for a client), so that a
/// guest blocked in a host call returns to wasm, where it stops.
#[derive(Clone, Default)]
pub struct Interrupter(Arc<InterrupterState>);

#[derive(Default)]
struct InterrupterState {
    interrupted: AtomicBool,
    hooks: std::sync::Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupter")
            .field("interrupted", &self.is_interrupted())
            .finish_non_exhaustive()
    }
}

impl Interrupter {
    /// A handle not yet triggered, for adapters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the instance's running call, and makes every later call fail,
    /// with [`CallError::Interrupted`]; runs the hooks.
    pub fn interrupt(&self) {
        self.0.interrupted.store(true, Ordering::Release);
        for hook in crate::sync::lock(&self.0.hooks).iter() {
            hook();
        }
    }

    /// Whether [`interrupt`](Self::interrupt) was called.
    pub fn is_interrupted(&self) -> bool {
        self.0.interrupted.load(Ordering::Relaxed)
    }

    /// Runs `hook` when the instance is interrupted (at once if it was
    /// already). Hooks run on the interrupting thread, under a lock: they
    /// must be quick and must not interrupt this handle again.
    pub fn on_interrupt(&self, hook: impl Fn() + Send + Sync + 'static) {
        let mut hooks = crate::sync::lock(&self.0.hooks);
        if self.0.interrupted.load(Ordering::Acquire) {
            drop(hooks);
            hook();
            return;
        }
        hooks.push(Box::new(hook));
    }
}

/// What an adapter's store holds for a module loaded through a [`Runtime`]:
/// the embedder's data, the way to its WASI system, and the instance's
/// exported memory (an engine handle `M`) once instantiated, which WASI calls
/// use instead of looking the export up by name.
pub struct StoreData<D, M> {
    /// The embedder's data.
    pub data: D,
    wasi: Option<fn(&mut D) -> &mut (dyn System + 'static)>,
    /// The instance's exported memory, recorded after instantiation.
    pub memory: Option<M>,
}

impl<D, M: Copy> StoreData<D, M> {
    /// Store data for a module loaded with `imports`.
    pub fn new(data: D, imports: &Imports<D>) -> Self {
        Self {
            data,
            wasi: imports.wasi_system(),
            memory: None,
        }
    }

    /// Store data with `wasi` as the way to the WASI system, for adapters
    /// that keep [`Imports::wasi_system`] beside a prepared module.
    pub fn with_wasi(data: D, wasi: Option<fn(&mut D) -> &mut (dyn System + 'static)>) -> Self {
        Self {
            data,
            wasi,
            memory: None,
        }
    }

    /// The WASI system. Adapters link WASI only when the imports offer it,
    /// so this is called only then.
    pub fn system(&mut self) -> &mut (dyn System + 'static) {
        let get = self
            .wasi
            .expect("WASI imports are linked only when Imports::wasi offered them");
        get(&mut self.data)
    }

    /// The recorded memory handle, if any.
    pub fn memory(&self) -> Option<M> {
        self.memory
    }
}

/// The accounting behind [`RuntimeConfig::max_memory`], which both adapters'
/// resource limiters delegate to: all the linear memories of an instance
/// together, and all its tables together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryBudget {
    max_memory: Option<u64>,
    max_table_elements: Option<usize>,
    memory: u64,
    table_elements: usize,
    refusal: Option<String>,
}

impl MemoryBudget {
    /// A budget for an instance loaded under `config`.
    pub fn new(config: &RuntimeConfig) -> Self {
        Self {
            max_memory: config.max_memory,
            max_table_elements: config.max_table_elements(),
            ..Self::default()
        }
    }

    /// Whether a linear memory may grow from `current` to `desired` bytes;
    /// if so, the growth is counted.
    pub fn memory_growing(&mut self, current: usize, desired: usize) -> bool {
        // Saturating: a memory64 grow asks for up to 2^64 - 64 KiB bytes,
        // which would overflow the sum (a panic in a debug build; in a
        // release build a small count that lets the grow through and
        // forgets the memory already counted).
        let after = self
            .memory
            .saturating_add(desired as u64)
            .saturating_sub(current as u64);
        match self.max_memory {
            Some(max) if after > max => {
                self.refusal = Some(format!(
                    "{after} bytes of linear memory, more than the limit of {max}"
                ));
                false
            }
            _ => {
                self.memory = after;
                true
            }
        }
    }

    /// Whether a table may grow from `current` to `desired` elements; if
    /// so, the growth is counted.
    pub fn table_growing(&mut self, current: usize, desired: usize) -> bool {
        let after = self.table_elements.saturating_add(desired) - current.min(self.table_elements);
        match self.max_table_elements {
            Some(max) if after > max => {
                self.refusal = Some(format!(
                    "{after} table elements, more than the limit of {max}"
                ));
                false
            }
            _ => {
                self.table_elements = after;
                true
            }
        }
    }

    /// What the last refused growth asked for, once: the reason an
    /// instantiation failed, when it failed because of the budget.
    pub fn take_refusal(&mut self) -> Option<String> {
        self.refusal.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory64_grow_to_nearly_2_64_bytes_is_refused_not_wrapped() {
        let config = RuntimeConfig {
            max_memory: Some(1 << 30),
            ..RuntimeConfig::new()
        };
        let mut budget = MemoryBudget::new(&config);
        assert!(budget.memory_growing(0, 1 << 16));
        // What wasmtime asks for a memory64 grow past `usize`: its largest
        // page-aligned size.
        assert!(!budget.memory_growing(1 << 16, 0usize.wrapping_sub(1 << 16)));
        assert!(budget.take_refusal().is_some());
        // The first memory still counts: a second may not take the whole limit.
        assert!(!budget.memory_growing(0, 1 << 30));
        assert!(budget.memory_growing(0, (1 << 30) - (1 << 16)));
    }

    #[test]
    fn typed_signatures_follow_the_types() {
        assert_eq!(
            <(u32, i64, f32) as WasmParams>::TYPES,
            [ValType::I32, ValType::I64, ValType::F32]
        );
        assert_eq!(<() as WasmResults>::TYPES, []);
        assert_eq!(<f64 as WasmResults>::TYPES, [ValType::F64]);
        let vals = [Val::I32(-1), Val::I64(7)];
        assert_eq!(<(u32, u64)>::decode(&vals), Some((u32::MAX, 7)));
        assert_eq!(<(u32, u32)>::decode(&vals), None);
        assert_eq!(<(u32,)>::decode(&vals), None);
        let mut out = [Val::I32(0); 2];
        (3u32, -4i64).encode(&mut out);
        assert_eq!(out, [Val::I32(3), Val::I64(-4)]);
    }

    #[test]
    fn values_and_types_print_as_wasmtime_prints_them() {
        let printed: Vec<_> = [
            Val::I32(-1),
            Val::I64(i64::MAX),
            Val::F32(3f32.to_bits()),
            Val::F32((-0f32).to_bits()),
            Val::F64(0.1f64.to_bits()),
            Val::F64(f64::NAN.to_bits()),
            Val::F64(f64::NEG_INFINITY.to_bits()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            printed,
            ["-1", "9223372036854775807", "3", "-0", "0.1", "NaN", "-inf"]
        );
        let ty = |params: &[ValType], results: &[ValType]| FuncType {
            params: params.to_vec(),
            results: results.to_vec(),
        };
        assert_eq!(ty(&[], &[]).to_string(), "() -> ()");
        assert_eq!(
            ty(&[ValType::I32, ValType::F64], &[ValType::I64]).to_string(),
            "(i32, f64) -> i64"
        );
        assert_eq!(
            ty(&[], &[ValType::F32, ValType::I32]).to_string(),
            "() -> (f32, i32)"
        );
    }

    #[test]
    fn a_function_export_with_another_type_names_it() {
        assert_eq!(
            Export::func([Ok(ValType::I32)], []),
            Export::Func(FuncType {
                params: vec![ValType::I32],
                results: vec![],
            })
        );
        assert_eq!(
            Export::func([Ok(ValType::I32)], [Err("v128".into())]),
            Export::OpaqueFunc("v128".into())
        );
    }

    #[test]
    fn only_imported_functions_are_linked() {
        let mut imports = Imports::<()>::new();
        imports
            .typed("a", "used", |_, (): ()| Ok(()))
            .typed("a", "unused", |_, (): ()| Ok(()))
            .typed("b", "used", |_, (): ()| Ok(()));
        let names: Vec<_> = imports
            .imported_by([("a", "used"), ("c", "other")])
            .map(|f| (f.module.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(names, [("a", "used")]);
    }
}
