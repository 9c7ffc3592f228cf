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
use std::fmt;
use std::sync::Arc;

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

impl<D> Imports<D> {
    /// No imports.
    pub fn new() -> Self {
        Self::default()
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

    /// The WASI projection, if WASI is offered.
    pub fn wasi_system(&self) -> Option<fn(&mut D) -> &mut (dyn System + 'static)> {
        self.wasi
    }
}

/// Why a module could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The bytes are not a valid module.
    Invalid(String),
    /// An import is missing or has the wrong type, or a host function could
    /// not be defined.
    Link(String),
    /// The start function trapped.
    Start(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Invalid(msg) => write!(f, "invalid module: {msg}"),
            LoadError::Link(msg) => write!(f, "cannot link module: {msg}"),
            LoadError::Start(msg) => write!(f, "module start trapped: {msg}"),
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
    /// The module called `proc_exit`.
    Exit(u32),
    /// The module trapped, or a host function failed.
    Trap(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoSuchExport(name) => write!(f, "no exported function `{name}`"),
            CallError::Signature(msg) => write!(f, "signature mismatch: {msg}"),
            CallError::OutOfFuel => f.write_str("module ran out of fuel"),
            CallError::Exit(code) => write!(f, "module exited with code {code}"),
            CallError::Trap(msg) => write!(f, "module trapped: {msg}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Settings for a [`Runtime`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Fuel given to every call into a module; `None` runs without limit.
    /// Running out stops the call with [`CallError::OutOfFuel`].
    pub fuel_per_call: Option<u64>,
}

/// An engine able to load modules.
pub trait Runtime {
    /// A loaded module, owning its store.
    type Instance<D: Send + 'static>: Instance<D>;

    /// Compiles, links and instantiates `wasm` (binary) with `imports`,
    /// giving the instance `data`; runs the module's start function.
    fn instantiate<D: Send + 'static>(
        &self,
        wasm: &[u8],
        imports: &Imports<D>,
        data: D,
    ) -> Result<Self::Instance<D>, LoadError>;
}

/// A loaded module.
pub trait Instance<D: 'static> {
    /// Calls the exported function `name`; `results` must have one slot per
    /// result, which is overwritten.
    fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError>;

    /// Whether the module exports a function called `name`.
    fn has_func(&mut self, name: &str) -> bool;

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
