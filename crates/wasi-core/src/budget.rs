//! A guest's budget of host memory: what the host allocates on the
//! guest's behalf beyond its linear memory (`spec/preview1.md`, "Running a
//! module": `--max-host-memory`).
//!
//! One [`HostBudget`] is made per guest, with its system, and every layer
//! that keeps host memory for the guest charges it: buffered key-value
//! files, WADI transfer buffers, WATER copy buffers, HTTP request and
//! response buffers. A layer reaches the budget through the guest's system
//! ([`VirtualFds::host_budget`](crate::vfs::VirtualFds::host_budget)); a
//! mount gets it with each open ([`OpenHow::budget`](crate::vfs::OpenHow::budget)).
//!
//! Memory is charged with [`HostBudget::try_reserve`] before it is
//! allocated, and given back when the [`Reservation`] shrinks or is dropped:
//!
//! ```
//! use wasi_core::Errno;
//! use wasi_core::budget::HostBudget;
//!
//! let budget = HostBudget::new(1024);
//! let mut buffer = budget.try_reserve(600)?;
//! assert_eq!(budget.try_reserve(600).unwrap_err(), Errno::NOMEM);
//! buffer.try_resize(1000)?;
//! assert_eq!(budget.available(), 24);
//! buffer.try_resize(100)?; // shrinking always succeeds
//! drop(buffer);
//! assert_eq!(budget.used(), 0);
//! # Ok::<(), Errno>(())
//! ```

use crate::types::Errno;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A guest's budget of host memory, shared by every layer of its stack.
///
/// Cheap to clone (an [`Arc`]): clones charge the same budget. Safe to use
/// from several threads (an HTTP server's tasks charge a guest's budget
/// beside the guest's own calls).
#[derive(Clone)]
pub struct HostBudget(Arc<Inner>);

struct Inner {
    limit: u64,
    used: AtomicU64,
}

impl HostBudget {
    /// The budget of a guest given none: 64 MiB.
    pub const DEFAULT_LIMIT: u64 = 64 << 20;

    /// A budget of `limit` bytes, none used.
    pub fn new(limit: u64) -> Self {
        Self(Arc::new(Inner {
            limit,
            used: AtomicU64::new(0),
        }))
    }

    /// A budget nothing exhausts (`u64::MAX` bytes): for hosts that bound
    /// memory otherwise, and tests.
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// The most bytes that may be reserved at once.
    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// The bytes reserved now.
    pub fn used(&self) -> u64 {
        self.0.used.load(Ordering::Acquire)
    }

    /// The bytes that can still be reserved.
    pub fn available(&self) -> u64 {
        self.limit().saturating_sub(self.used())
    }

    /// Reserves `bytes`, until the [`Reservation`] is dropped; `ENOMEM`,
    /// reserving nothing, when fewer are left. Callers give the guest the
    /// errno their call's rule names (`ENOSPC` for a write that would grow
    /// a buffer, say).
    pub fn try_reserve(&self, bytes: u64) -> Result<Reservation, Errno> {
        self.take(bytes)?;
        Ok(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// An empty reservation, to grow later ([`Reservation::try_resize`]).
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Whether `self` and `other` are the same budget (clones of one).
    pub fn same(&self, other: &HostBudget) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn take(&self, bytes: u64) -> Result<(), Errno> {
        let inner = &*self.0;
        inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&total| total <= inner.limit)
            })
            .map(drop)
            .map_err(|_| Errno::NOMEM)
    }

    fn give(&self, bytes: u64) {
        self.0.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Default for HostBudget {
    /// A budget of [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) bytes.
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT)
    }
}

impl fmt::Debug for HostBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBudget")
            .field("limit", &self.limit())
            .field("used", &self.used())
            .finish()
    }
}

/// Bytes reserved from a [`HostBudget`]; given back when dropped.
pub struct Reservation {
    budget: HostBudget,
    bytes: u64,
}

impl Reservation {
    /// The bytes reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The budget reserved from.
    pub fn budget(&self) -> &HostBudget {
        &self.budget
    }

    /// Makes the reservation `bytes`: growing takes the difference from
    /// the budget (`ENOMEM`, the reservation unchanged, when it is not
    /// left); shrinking gives it back and always succeeds.
    pub fn try_resize(&mut self, bytes: u64) -> Result<(), Errno> {
        if bytes > self.bytes {
            self.budget.take(bytes - self.bytes)?;
        } else {
            self.budget.give(self.bytes - bytes);
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .field("budget", &self.budget)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_and_are_given_back() {
        let budget = HostBudget::new(100);
        let a = budget.try_reserve(60).unwrap();
        let mut b = budget.reservation();
        assert_eq!(b.try_resize(41), Err(Errno::NOMEM));
        assert_eq!(b.bytes(), 0);
        b.try_resize(40).unwrap();
        assert_eq!((budget.used(), budget.available()), (100, 0));
        assert_eq!(budget.try_reserve(1).unwrap_err(), Errno::NOMEM);
        assert!(budget.try_reserve(0).is_ok());
        drop(a);
        b.try_resize(10).unwrap();
        assert_eq!(budget.used(), 10);
        let clone = budget.clone();
        assert!(clone.same(&budget) && !clone.same(&HostBudget::new(100)));
        drop(b);
        assert_eq!(clone.used(), 0);
    }

    #[test]
    fn an_unlimited_budget_never_overflows() {
        let budget = HostBudget::unlimited();
        let _big = budget.try_reserve(u64::MAX - 1).unwrap();
        assert_eq!(budget.try_reserve(2).unwrap_err(), Errno::NOMEM);
    }

    #[test]
    fn threads_share_one_budget() {
        let budget = HostBudget::new(1000);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let budget = budget.clone();
                scope.spawn(move || {
                    for _ in 0..1000 {
                        let _r = budget.try_reserve(200);
                    }
                });
            }
        });
        assert_eq!(budget.used(), 0);
    }
}
