#![doc = include_str!("../README.md")]

use wasi_core::{GuestMemory, IntoWasm, System};
use wasmi::{Caller, Extern, Linker};

pub mod runtime;
pub use runtime::{WasmiInstance, WasmiRuntime};

/// The error type of this adapter: wasmi's.
pub use wasmi::Error;

/// Links every `wasi_core` import (see [`wasi_core::for_each_import!`]) into
/// `linker`. `get` projects the store's data to the [`System`] that serves
/// the calls.
///
/// `proc_exit` unwinds the guest with wasmi's `i32` exit error, which
/// [`exit_code`] recovers; a guest without an exported `memory` traps on its
/// first WASI call with a message naming the call.
pub fn add_to_linker<T, S>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut S) -> Result<(), Error>
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
                    let (bytes, data) = memory(&mut caller, stringify!($name))?;
                    let outcome = $f(get(data), &mut GuestMemory::new(bytes), $($arg),*);
                    outcome.into_wasm().map_err(|exit| Error::i32_exit(exit.0 as i32))
                },
            )?;
        )*)*};
    }
    wasi_core::for_each_import!(link);
    Ok(())
}

#[inline]
fn memory<'a, T>(
    caller: &'a mut Caller<'_, T>,
    call: &str,
) -> Result<(&'a mut [u8], &'a mut T), Error> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory.data_and_store_mut(caller)),
        _ => Err(Error::new(format!(
            "WASI call `{call}` needs the module to export its linear memory as \"memory\""
        ))),
    }
}

/// The exit code carried by an error from a guest call, if the guest exited
/// through `proc_exit` (or a terminating `proc_raise`).
pub fn exit_code(error: &Error) -> Option<u32> {
    error.i32_exit_status().map(|code| code as u32)
}
