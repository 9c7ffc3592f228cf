//! A store's view of its linear memory (base pointer and length) kept in
//! the store data, so that a host call reaches the guest's bytes with two
//! loads instead of wasmtime's `Memory::data_mut` (store → instance table →
//! instance → its offsets → the memory's definition → base and length).
//!
//! The view is filled by the first host call that needs it (from
//! [`Memory::data_ptr`] and [`Memory::data_size`], the base and length
//! `Memory::data_mut` makes its slice of) and emptied by the store's
//! [`ResourceLimiter::memory_growing`], which wasmtime 48 calls before every
//! growth of a memory of the store: the guest's `memory.grow` (the
//! `memory_grow` libcall) and the host's [`Memory::grow`] both go through
//! `Instance::memory_grow` with the store's limiter, as does the creation of
//! a memory when an instance is made. A memory's base moves and its length
//! changes only by growth, and a store's memories live as long as the store,
//! so a view taken since the last `memory_growing` is the memory's current
//! base and length.
//!
//! That holds only for a store whose limiter empties the view: the store
//! data must implement [`ViewedStore`] (an `unsafe` trait: its stores are
//! made by [`new_store`], which installs the limiter) for
//! [`add_to_linker_viewed`](crate::add_to_linker_viewed) to link the cached
//! path; [`add_to_linker`](crate::add_to_linker) and the others keep asking
//! wasmtime on every call.
//!
//! Shared memories (the threads proposal) are not viewed. In wasmtime 48 a
//! shared memory is a [`SharedMemory`](wasmtime::SharedMemory), never a
//! [`Memory`] (`Instance::get_memory` answers `None` for one, `Memory::new`
//! refuses a shared type), so [`ViewedStore::memory`] cannot name one, and
//! [`WasmtimeRuntime`](crate::WasmtimeRuntime) loads no module defining one.
//! Were one viewed: its base never moves, but its growth passes no limiter
//! (`SharedMemory::grow`, and a guest's `memory.grow` even in this store,
//! grow it with no limiter), so the cached length would only ever be smaller
//! than the real one, harmless for bounds; the slice, though, would be a
//! `&mut [u8]` over bytes other threads write meanwhile, which wasmtime
//! itself never hands out (`SharedMemory::data` is `&[UnsafeCell<u8>]`).
//!
//! All the crate's `unsafe` for this is in this module.

use std::ptr::NonNull;
use wasmtime::{Caller, Engine, Memory, ResourceLimiter, Store};

/// A memory's base and length, as of its last growth.
#[derive(Clone, Copy)]
struct Raw {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: `Raw` is an address and a length, never dereferenced here except
// by `viewed_memory`, which holds the store (`&mut Caller`) the memory
// belongs to; the store, and so its data holding this, moves between threads
// as a whole (wasmtime's `Store<T>: Send` for `T: Send`), and the memory's
// bytes are owned by that store, not by the thread.
unsafe impl Send for Raw {}

/// A [`ResourceLimiter`] that empties the store's view of its memory before
/// any memory of the store grows, then asks `limiter`. Keep it in the store
/// data of a [`ViewedStore`].
pub struct ViewLimiter<L> {
    view: Option<Raw>,
    limiter: L,
}

impl<L> ViewLimiter<L> {
    /// An empty view, limited by `limiter`.
    pub fn new(limiter: L) -> Self {
        Self {
            view: None,
            limiter,
        }
    }

    /// The limiter asked about growth.
    pub fn limiter(&self) -> &L {
        &self.limiter
    }

    /// The limiter asked about growth, mutably.
    pub fn limiter_mut(&mut self) -> &mut L {
        &mut self.limiter
    }

    /// Forgets the view; the next host call takes it again.
    pub fn clear(&mut self) {
        self.view = None;
    }
}

impl<L: ResourceLimiter> ResourceLimiter for ViewLimiter<L> {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Before anything else, whatever the answer: the memory may move or
        // change length once this returns.
        self.view = None;
        self.limiter.memory_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limiter.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limiter.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limiter.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limiter.instances()
    }

    fn tables(&self) -> usize {
        self.limiter.tables()
    }

    fn memories(&self) -> usize {
        self.limiter.memories()
    }
}

/// A limiter that allows all growth, for a [`ViewLimiter`] in a store
/// without limits of its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl ResourceLimiter for Unlimited {
    fn memory_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }

    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// Store data whose host calls may use the view of its memory kept in its
/// [`ViewLimiter`] (see [`add_to_linker_viewed`](crate::add_to_linker_viewed)).
///
/// # Safety
///
/// Every [`Store`] holding a `Self` must have [`view_limiter`] as its
/// limiter from before its first instance for as long as the store lives:
/// make the stores with [`new_store`] and never call `Store::limiter` (or
/// `limiter_async`) on them. A `Self` must not move from one store into
/// another except through [`new_store`] (which empties its view): no
/// `mem::swap` or `mem::replace` of two stores' data. And [`view_limiter`]
/// must return the same `ViewLimiter` (a field) every time.
///
/// [`view_limiter`]: ViewedStore::view_limiter
pub unsafe trait ViewedStore: Sized + 'static {
    /// The limiter the [`ViewLimiter`] asks about growth.
    type Limiter: ResourceLimiter;

    /// The store's limiter, which holds the view.
    fn view_limiter(&mut self) -> &mut ViewLimiter<Self::Limiter>;

    /// The memory of the store's WASI instance, as for
    /// [`add_to_linker_with_memory`](crate::add_to_linker_with_memory);
    /// while `None`, calls look the `memory` export up by name.
    fn memory(&self) -> Option<Memory>;
}

/// A store for `data` whose limiter is `data`'s [`ViewLimiter`], with an
/// empty view: the one way to make the store of a [`ViewedStore`].
pub fn new_store<T: ViewedStore>(engine: &Engine, mut data: T) -> Store<T> {
    data.view_limiter().clear();
    let mut store = Store::new(engine, data);
    store.limiter(|data| data.view_limiter() as &mut dyn ResourceLimiter);
    store
}

/// The memory of the store's WASI instance ([`ViewedStore::memory`]) and
/// the store data, from the view (taken now if empty); while the store data
/// names no memory, what `otherwise` gives.
#[inline]
pub(crate) fn viewed_memory<'a, T: ViewedStore>(
    caller: &'a mut Caller<'_, T>,
    otherwise: impl FnOnce(&'a mut Caller<'_, T>) -> wasmtime::Result<(&'a mut [u8], &'a mut T)>,
) -> wasmtime::Result<(&'a mut [u8], &'a mut T)> {
    let raw = match caller.data_mut().view_limiter().view {
        Some(raw) => raw,
        None => {
            let Some(memory) = caller.data().memory() else {
                return otherwise(caller);
            };
            // Panics (as `data_mut` would) if `memory` is another store's.
            let Some(base) = NonNull::new(memory.data_ptr(&*caller)) else {
                // Not so in wasmtime 48 (its base is a `NonNull`).
                return otherwise(caller);
            };
            let raw = Raw {
                base,
                len: memory.data_size(&*caller),
            };
            caller.data_mut().view_limiter().view = Some(raw);
            raw
        }
    };
    let data = caller.data_mut();
    // SAFETY: `raw` is the base and length of a memory of this store as of
    // its last growth. It was taken, on this call or an earlier one, from a
    // `Memory` of this store (wasmtime panics on another store's) by this
    // function, the only writer of a non-empty view. Since then no memory of
    // the store grew: `T: ViewedStore` means the store's limiter is `T`'s
    // `ViewLimiter` (installed by `new_store`, never replaced), which
    // wasmtime 48 calls before every growth of the store's non-shared
    // memories (the guest's `memory.grow`, the host's `Memory::grow`) and
    // which empties the view first; and this `T` has not moved here from
    // another store (`new_store` empties the view of data it is given).
    // Shared memories are never viewed (`Memory` cannot be one). So `len`
    // bytes at `base` are the memory, mapped and initialized, and live as
    // long as the store: the slice borrows the caller for `'a`. Nothing
    // else reaches them for `'a`: the guest is stopped in this host call,
    // and the store, through which alone the memory is grown or borrowed,
    // is borrowed by the slice and by `data`, the store data, which does not
    // overlap the memory. It is the slice `Memory::data_mut` makes from the
    // same base and length, so bounds checks on it are unchanged.
    let bytes = unsafe { std::slice::from_raw_parts_mut(raw.base.as_ptr(), raw.len) };
    Ok((bytes, data))
}

// SAFETY: a `Hosted` is made only in `WasmtimePrepared::instantiate`, which
// puts it straight into `new_store` and keeps that store private to its
// `WasmtimeInstance` (no `Store::limiter`, `into_data` or swap of the data
// anywhere in the crate); `view_limiter` returns its `limits` field.
unsafe impl<D: 'static> ViewedStore for crate::runtime::Hosted<D> {
    type Limiter = crate::runtime::Budget;

    #[inline]
    fn view_limiter(&mut self) -> &mut ViewLimiter<Self::Limiter> {
        &mut self.limits
    }

    #[inline]
    fn memory(&self) -> Option<Memory> {
        crate::runtime::Hosted::memory(self)
    }
}
