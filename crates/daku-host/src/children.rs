//! Where a run's child tasks run (spec §5, command 17): on a runtime
//! derived from the program's, interruptible, made at the first spawn;
//! each distinct child module compiled once per run; each child on a
//! thread of its own, its parent told of its end exactly once.

use crate::abi;
use crate::charge::Charged;
use crate::family::{Spawner, TaskParts};
use crate::loader::{TaskEnd, check_no_start, prepare_task, run_prepared_then};
use crate::task::Task;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use wasi_core::runtime::{Runtime, RuntimeConfig};

/// The spawner of a run on `program`, the program's runtime: its children
/// run under the same engine and limits, made interruptible so that a
/// parent's stop reaches a child busy in its own code (spec §5, command
/// 17). The program itself keeps its runtime.
pub(crate) fn spawner<R: Runtime>(program: &R) -> Arc<dyn Spawner> {
    Arc::new(ChildRuntime(Arc::new(Shared {
        program: program.clone(),
        runtime: OnceLock::new(),
        modules: PreparedCache::new(),
    })))
}

/// Runs child tasks on a runtime of their own, compiling each distinct
/// child module once, on the child's thread: a parent never waits for a
/// compilation (spec §1.6).
struct ChildRuntime<R: Runtime>(Arc<Shared<R>>);

/// What the children of a run share.
struct Shared<R: Runtime> {
    /// The program's runtime, which the children's is derived from.
    program: R,
    /// The children's runtime, made by the first spawn (a run without
    /// children makes no second runtime); `None` if it could not be made,
    /// and then every child ends as unloadable.
    runtime: OnceLock<Option<R>>,
    modules: PreparedCache<R::Prepared<Task>>,
}

impl<R: Runtime> Shared<R> {
    /// The children's runtime, made on the first call.
    fn runtime(&self) -> Option<&R> {
        self.runtime
            .get_or_init(|| {
                let config = RuntimeConfig {
                    interruptible: true,
                    ..*self.program.config()
                };
                self.program.with_config(config).ok()
            })
            .as_ref()
    }

    /// Runs `wasm` as `task` on this thread: its status (spec §5, 17).
    /// The copy of the module, and its charge to the run's host memory,
    /// go once it is compiled (spec §1.7).
    fn run(&self, wasm: Charged, task: Task) -> u32 {
        // A child stopped before it was compiled is not compiled.
        if task.stop_requested() {
            return abi::STATUS_TRAPPED;
        }
        let Some(runtime) = self.runtime() else {
            return abi::STATUS_UNLOADABLE;
        };
        let prepared = self.modules.get_or_prepare(&wasm.bytes, || {
            check_no_start(&wasm.bytes)?;
            prepare_task(runtime, &wasm.bytes)
        });
        drop(wasm);
        match prepared.and_then(|p| run_prepared_then(&*p, task, |_| ())) {
            Ok((TaskEnd::Exit(code), ())) => code,
            Ok((TaskEnd::Trap(_) | TaskEnd::Stopped, ())) => abi::STATUS_TRAPPED,
            Err(_) => abi::STATUS_UNLOADABLE,
        }
    }
}

impl<R: Runtime> Spawner for ChildRuntime<R> {
    fn spawn(&self, wasm: Charged, child: TaskParts, ended: Box<dyn FnOnce(u32) + Send>) {
        let guard = EndGuard(Some(ended));
        let task = Task::new(child);
        let shared = Arc::clone(&self.0);
        // If the thread cannot be made, the closure (and the guard in it)
        // is dropped, which tells the parent.
        let _ = std::thread::Builder::new()
            .name("daku-task".into())
            .spawn(move || guard.finish(shared.run(wasm, task)));
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
            ended(abi::STATUS_TRAPPED);
        }
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
mod tests {
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
