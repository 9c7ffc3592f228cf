//! Loading a task's module on a runtime and calling its entry point: the
//! import rules of spec §1.1 and §5 (command 17), the one import, and how
//! the call ended.

use crate::task::Task;
use wasi_core::GuestMemory;
use wasi_core::runtime::{CallError, Caller, Imports, Instance, LoadError, Prepared, Runtime};

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
pub(crate) fn check_imports(wasm: &[u8]) -> Result<(), String> {
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

/// Checks spec §5, command 17: a child module has no start function. It
/// would run before the child's instance, and so the way to interrupt it,
/// exists: a parent could not stop it.
pub(crate) fn check_no_start(wasm: &[u8]) -> Result<(), String> {
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

/// The import table of a task.
pub(crate) fn daku_imports() -> Imports<Task> {
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

/// Checks that `wasm` is a Daku program and compiles and links it.
pub(crate) fn prepare_task<R: Runtime>(
    runtime: &R,
    wasm: &[u8],
) -> Result<R::Prepared<Task>, String> {
    check_imports(wasm)?;
    runtime
        .prepare(wasm, &daku_imports())
        .map_err(|error| error.to_string())
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

/// Runs `task` on a fresh instance of `prepared`, then `after` on the
/// memory it left.
pub(crate) fn run_prepared_then<P: Prepared<Task>, T>(
    prepared: &P,
    task: Task,
    after: impl FnOnce(&[u8]) -> T,
) -> Result<(TaskEnd, T), String> {
    task.start_clock();
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
    } else if task.timed_out() {
        // Its `ar` call ended it at the run's deadline (spec §1.6): the
        // timeout, as if the engine had stopped its code.
        TaskEnd::Trap(CallError::Timeout)
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
