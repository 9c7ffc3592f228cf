//! Locking that ignores poisoning.
//!
//! A `std::sync` lock is poisoned when a thread panics while holding it,
//! and every later `lock()` then returns an error. A host shares locks
//! between guests, their host functions and the embedder: one guest's
//! panicking call (a bug, or a panic the engine caught) must not make every
//! other user of the lock fail or panic in turn. These helpers take the
//! guard whatever happened before.
//!
//! That is sound when the data is consistent at every point where code
//! holding the lock could panic, which holds when every update is a single
//! step: an assignment, a `push`, a `retain`, an `insert`, or a
//! `take`/`replace` of an `Option`. A lock whose updates take several steps
//! that must all happen (a count kept beside a list, say) must not use
//! them: give the data a way to repair itself, or let poisoning through.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use wasi_core::sync::lock;
//!
//! let names = Arc::new(Mutex::new(Vec::<String>::new()));
//! let shared = Arc::clone(&names);
//! let _ = std::thread::spawn(move || {
//!     let mut names = shared.lock().unwrap();
//!     names.push("one".into());
//!     panic!("a bug, with the lock held");
//! })
//! .join();
//! assert!(names.is_poisoned());
//! // Each update was a single push: what the lock holds is consistent.
//! lock(&names).push("two".into());
//! assert_eq!(*lock(&names), ["one", "two"]);
//! ```

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, poisoned or not (see the [module docs](self) for when
/// that is sound).
#[inline]
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `lock` for reading, poisoned or not (see the [module docs](self)
/// for when that is sound).
#[inline]
pub fn read_lock<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `lock` for writing, poisoned or not (see the [module docs](self)
/// for when that is sound).
#[inline]
pub fn write_lock<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
