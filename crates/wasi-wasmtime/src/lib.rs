#![doc = include_str!("../README.md")]

use wasi_core::abi::Selection;
use wasi_core::runtime::ValType;
use wasi_core::{GuestMemory, IntoWasm, ProcExit, System};
use wasmtime::{Caller, Extern, ExternType, Linker, Memory, Module};

mod cache;
pub mod runtime;
mod view;
pub use runtime::{WasmtimeInstance, WasmtimePrepared, WasmtimeRuntime};
pub use view::{Unlimited, ViewLimiter, ViewedStore, new_store};

/// Links every `wasi_core` import (see [`wasi_core::for_each_import!`]) into
/// `linker`. `get` projects the store's data to the [`System`] that serves
/// the calls.
///
/// `proc_exit` unwinds the guest with a [`ProcExit`] error, which
/// [`exit_code`] recovers; a guest without an exported `memory` traps on its
/// first WASI call with a message naming the call.
pub fn add_to_linker<T, S>(linker: &mut Linker<T>, get: impl Get<T, S>) -> wasmtime::Result<()>
where
    T: 'static,
    S: System + ?Sized + 'static,
{
    add_to_linker_with_memory(linker, get, |_: &T| None)
}

/// How a host call finds its [`System`] in the store data: a closure or
/// function, compiled into every host function (no call through a pointer).
pub trait Get<T, S: ?Sized>: Fn(&mut T) -> &mut S + Copy + Send + Sync + 'static {}

impl<T, S: ?Sized, F: Fn(&mut T) -> &mut S + Copy + Send + Sync + 'static> Get<T, S> for F {}

/// How a host call finds the calling instance's [`Memory`] in the store
/// data (see [`add_to_linker_with_memory`]), compiled in like [`Get`].
pub trait GetMemory<T>: Fn(&T) -> Option<Memory> + Copy + Send + Sync + 'static {}

impl<T, F: Fn(&T) -> Option<Memory> + Copy + Send + Sync + 'static> GetMemory<T> for F {}

/// Like [`add_to_linker`], and `memory` gives the calling instance's linear
/// memory from the store data, so that a call does not look the `memory`
/// export up by name (a string-pool and hash-map lookup that costs more than
/// a `clock_time_get` itself). It must return the memory of the instance that
/// makes the call: store the handle right after instantiating the store's
/// one WASI instance. While it returns `None` (during instantiation, for
/// example) the export is looked up by name.
pub fn add_to_linker_with_memory<T, S>(
    linker: &mut Linker<T>,
    get: impl Get<T, S>,
    memory: impl GetMemory<T>,
) -> wasmtime::Result<()>
where
    T: 'static,
    S: System + ?Sized + 'static,
{
    add_selected(linker, get, Known(memory), &Selection::primary())
}

/// Like [`add_to_linker_with_memory`] with [`ViewedStore::memory`], and a
/// call reaches the memory through the view kept in the store data's
/// [`ViewLimiter`] (two loads) rather than through wasmtime's
/// `Memory::data_mut` (seven dependent loads), taking the view again after
/// any growth. Only for store data that is a [`ViewedStore`], whose stores
/// are made by [`new_store`]: their limiter empties the view before any
/// memory of the store grows. Bounds are checked as on the other paths.
pub fn add_to_linker_viewed<T, S>(
    linker: &mut Linker<T>,
    get: impl Get<T, S>,
) -> wasmtime::Result<()>
where
    T: ViewedStore,
    S: System + ?Sized + 'static,
{
    add_selected(linker, get, Viewed, &Selection::primary())
}

/// [`add_to_linker_viewed`] for one module, as [`add_to_linker_for_module`].
pub fn add_to_linker_viewed_for_module<T, S>(
    linker: &mut Linker<T>,
    module: &Module,
    get: impl Get<T, S>,
) -> wasmtime::Result<()>
where
    T: ViewedStore,
    S: System + ?Sized + 'static,
{
    add_selected(linker, get, Viewed, &selection_for(module))
}

/// Like [`add_to_linker_with_memory`], for one module: where the import table
/// has several signatures for a name (the WasmEdge sockets extension), the
/// one `module` imports is defined (see [`Selection`] and `spec/sockets.md`).
pub fn add_to_linker_for_module<T, S>(
    linker: &mut Linker<T>,
    module: &Module,
    get: impl Get<T, S>,
    memory: impl GetMemory<T>,
) -> wasmtime::Result<()>
where
    T: 'static,
    S: System + ?Sized + 'static,
{
    add_selected(linker, get, Known(memory), &selection_for(module))
}

/// The entries of the import table that `module` imports.
fn selection_for(module: &Module) -> Selection {
    Selection::for_module(module.imports().map(|import| {
        let params = match import.ty() {
            ExternType::Func(ty) => ty.params().map(|p| param_type(&p)).collect(),
            _ => None,
        };
        (import.module(), import.name(), params)
    }))
}

/// The table's type of a wasm parameter, if it has one.
fn param_type(ty: &wasmtime::ValType) -> Option<ValType> {
    match ty {
        wasmtime::ValType::I32 => Some(ValType::I32),
        wasmtime::ValType::I64 => Some(ValType::I64),
        wasmtime::ValType::F32 => Some(ValType::F32),
        wasmtime::ValType::F64 => Some(ValType::F64),
        _ => None,
    }
}

/// Defines the entries of the import table that `selection` wants.
fn add_selected<T, S>(
    linker: &mut Linker<T>,
    get: impl Get<T, S>,
    memory: impl Access<T>,
    selection: &Selection,
) -> wasmtime::Result<()>
where
    T: 'static,
    S: System + ?Sized + 'static,
{
    let mut wanted = selection.iter();
    macro_rules! link {
        ($($module:literal { $(fn $name:ident($($arg:ident: $ty:ty),*) => $f:path;)* })*) => {$($(
            if wanted.next().unwrap_or(false) {
                linker.func_wrap(
                    $module,
                    stringify!($name),
                    move |mut caller: Caller<'_, T>, $($arg: $ty),*| {
                        let (bytes, data) = memory.guest_memory(&mut caller, stringify!($name))?;
                        let outcome = $f(get(data), &mut GuestMemory::new(bytes), $($arg),*);
                        outcome.into_wasm().map_err(wasmtime::Error::new)
                    },
                )?;
            }
        )*)*};
    }
    wasi_core::for_each_import!(link);
    Ok(())
}

/// How a host call reaches the guest's memory and the store data, compiled
/// into each host function.
trait Access<T>: Copy + Send + Sync + 'static {
    fn guest_memory<'a>(
        self,
        caller: &'a mut Caller<'_, T>,
        call: &str,
    ) -> wasmtime::Result<(&'a mut [u8], &'a mut T)>;
}

/// Through wasmtime, from the handle the store data gives.
#[derive(Clone, Copy)]
struct Known<F>(F);

impl<T: 'static, F: GetMemory<T>> Access<T> for Known<F> {
    #[inline]
    fn guest_memory<'a>(
        self,
        caller: &'a mut Caller<'_, T>,
        call: &str,
    ) -> wasmtime::Result<(&'a mut [u8], &'a mut T)> {
        guest_memory(caller, self.0, call)
    }
}

/// Through the view kept in a [`ViewedStore`]'s data.
#[derive(Clone, Copy)]
struct Viewed;

impl<T: ViewedStore> Access<T> for Viewed {
    #[inline]
    fn guest_memory<'a>(
        self,
        caller: &'a mut Caller<'_, T>,
        call: &str,
    ) -> wasmtime::Result<(&'a mut [u8], &'a mut T)> {
        view::viewed_memory(caller, |caller| {
            guest_memory(caller, |data: &T| data.memory(), call)
        })
    }
}

#[inline]
fn guest_memory<'a, T: 'static>(
    caller: &'a mut Caller<'_, T>,
    known: impl GetMemory<T>,
    call: &str,
) -> wasmtime::Result<(&'a mut [u8], &'a mut T)> {
    if let Some(memory) = known(caller.data()) {
        return Ok(memory.data_and_store_mut(caller));
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory.data_and_store_mut(caller)),
        _ => Err(wasmtime::format_err!(
            "WASI call `{call}` needs the module to export its linear memory as \"memory\""
        )),
    }
}

/// The exit code carried by an error from a guest call, if the guest exited
/// through `proc_exit` (or a terminating `proc_raise`).
pub fn exit_code(error: &wasmtime::Error) -> Option<u32> {
    error.downcast_ref::<ProcExit>().map(|exit| exit.0)
}
