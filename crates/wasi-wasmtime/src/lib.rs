#![doc = include_str!("../README.md")]

use wasi_core::{GuestMemory, IntoWasm, ProcExit, System};
use wasmtime::{Caller, Extern, Linker, ModuleExport};

pub mod runtime;
pub use runtime::{WasmtimeInstance, WasmtimeRuntime};

/// Links every `wasi_core` import (see [`wasi_core::for_each_import!`]) into
/// `linker`. `get` projects the store's data to the [`System`] that serves
/// the calls.
///
/// `proc_exit` unwinds the guest with a [`ProcExit`] error, which
/// [`exit_code`] recovers; a guest without an exported `memory` traps on its
/// first WASI call with a message naming the call.
pub fn add_to_linker<T, S>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut S,
) -> wasmtime::Result<()>
where
    T: 'static,
    S: System + ?Sized + 'static,
{
    add_to_linker_with_memory(linker, get, |_| None)
}

/// Like [`add_to_linker`], and `memory` tells where the calling module's
/// `memory` export is: `Module::get_export_index("memory")` of the module the
/// store's instance was created from. Each call then finds the guest's memory
/// by index instead of by name, which saves a string lookup per call (about
/// 60 ns, a fifth of a 1-byte `fd_write` to `/dev/null`). An index that does
/// not belong to the calling module is ignored and the name is looked up.
pub fn add_to_linker_with_memory<T, S>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut S,
    memory: fn(&T) -> Option<ModuleExport>,
) -> wasmtime::Result<()>
where
    T: 'static,
    S: System + ?Sized + 'static,
{
    macro_rules! link {
        ($($module:literal { $(fn $name:ident($($arg:ident: $ty:ty),*) => $f:path;)* })*) => {$($(
            linker.func_wrap(
                $module,
                stringify!($name),
                move |mut caller: Caller<'_, T>, $($arg: $ty),*| {
                    let (bytes, data) = guest_memory(&mut caller, memory, stringify!($name))?;
                    let outcome = $f(get(data), &mut GuestMemory::new(bytes), $($arg),*);
                    outcome.into_wasm().map_err(wasmtime::Error::new)
                },
            )?;
        )*)*};
    }
    wasi_core::for_each_import!(link);
    Ok(())
}

#[inline]
fn guest_memory<'a, T: 'static>(
    caller: &'a mut Caller<'_, T>,
    index: fn(&T) -> Option<ModuleExport>,
    call: &str,
) -> wasmtime::Result<(&'a mut [u8], &'a mut T)> {
    let export = match index(caller.data()) {
        Some(index) => caller.get_module_export(&index),
        None => None,
    };
    match export.or_else(|| caller.get_export("memory")) {
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
