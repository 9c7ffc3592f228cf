//! [`wasi_core::runtime::Runtime`] on wasmi.

use crate::{add_to_linker_for_module, exit_code};
use wasi_core::GuestMemory;
use wasi_core::runtime::{
    CallError, Imports, Instance, LoadError, MAX_VALS, Runtime, RuntimeConfig, StoreData, Val,
    ValType,
};
use wasmi::errors::{ErrorKind, FuelError};
use wasmi::{
    Config, Engine, Error, Extern, F32, F64, FuncType, Linker, Memory, Module, Store, TrapCode,
};

type Hosted<D> = StoreData<D, Memory>;

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
        engine_config.consume_fuel(config.fuel_per_call.is_some());
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

impl Runtime for WasmiRuntime {
    type Instance<D: Send + 'static> = WasmiInstance<D>;

    fn instantiate<D: Send + 'static>(
        &self,
        wasm: &[u8],
        imports: &Imports<D>,
        data: D,
    ) -> Result<WasmiInstance<D>, LoadError> {
        let module =
            Module::new(&self.engine, wasm).map_err(|e| LoadError::Invalid(e.to_string()))?;
        let link_error = |e: Error| LoadError::Link(e.to_string());
        let mut linker = Linker::new(&self.engine);
        if imports.wasi_system().is_some() {
            add_to_linker_for_module(&mut linker, &module, Hosted::system, Hosted::memory)
                .map_err(link_error)?;
        }
        for func in imports.funcs() {
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
                            &mut hosted.data,
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
        let mut store = Store::new(&self.engine, Hosted::new(data, imports));
        if let Some(fuel) = self.config.fuel_per_call {
            store.set_fuel(fuel).map_err(link_error)?;
        }
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| {
                if e.as_trap_code().is_some() {
                    LoadError::Start(e.to_string())
                } else {
                    link_error(e)
                }
            })?;
        let memory = instance.get_memory(&store, "memory");
        // The store holds this one instance: its WASI calls use this handle.
        store.data_mut().memory = memory;
        Ok(WasmiInstance {
            store,
            instance,
            memory,
            config: self.config,
        })
    }
}

/// A module loaded by [`WasmiRuntime`].
pub struct WasmiInstance<D: 'static> {
    store: Store<Hosted<D>>,
    instance: wasmi::Instance,
    memory: Option<Memory>,
    config: RuntimeConfig,
}

impl<D: Send + 'static> Instance<D> for WasmiInstance<D> {
    fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError> {
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
        if let Some(fuel) = self.config.fuel_per_call {
            self.store
                .set_fuel(fuel)
                .map_err(|e| CallError::Trap(e.to_string()))?;
        }
        let params: [wasmi::Val; MAX_VALS] =
            core::array::from_fn(|i| to_engine(args.get(i).copied().unwrap_or(Val::I32(0))));
        let mut outs: [wasmi::Val; MAX_VALS] = core::array::from_fn(|_| wasmi::Val::I32(0));
        func.call(
            &mut self.store,
            &params[..args.len()],
            &mut outs[..results.len()],
        )
        .map_err(|e| {
            if let Some(code) = exit_code(&e) {
                CallError::Exit(code)
            } else if is_out_of_fuel(&e) {
                CallError::OutOfFuel
            } else {
                CallError::Trap(e.to_string())
            }
        })?;
        for (result, out) in results.iter_mut().zip(&outs) {
            *result =
                from_engine(out).ok_or_else(|| CallError::Signature("reference result".into()))?;
        }
        Ok(())
    }

    fn has_func(&mut self, name: &str) -> bool {
        self.instance.get_func(&self.store, name).is_some()
    }

    fn memory_and_data(&mut self) -> (GuestMemory<'_>, &mut D) {
        match self.memory {
            Some(memory) => {
                let (bytes, hosted) = memory.data_and_store_mut(&mut self.store);
                (GuestMemory::new(bytes), &mut hosted.data)
            }
            None => (GuestMemory::new(&mut []), &mut self.store.data_mut().data),
        }
    }
}
