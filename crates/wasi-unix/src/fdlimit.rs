//! The process's descriptors, shared by its guests (`spec/preview1.md`,
//! "File descriptors"): the guests' host descriptors are counted together
//! in an [`FdPool`], kept within a share of `RLIMIT_NOFILE` so that they
//! cannot take the descriptors the process serves with, and
//! [`raise_nofile_limit`] raises that limit once, as servers do.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use wasi_core::types::Errno;

/// Host descriptors counted together, with the most they may be at once
/// (their share): `ENFILE` past it.
///
/// [`FdPool::process`] is the pool of every guest of the process, the
/// default of [`Builder::fd_pool`](crate::Builder::fd_pool); a pool of
/// one's own ([`FdPool::with_share`]) bounds a group of guests apart.
/// Cheap to clone: clones count together.
#[derive(Clone)]
pub struct FdPool(Arc<Inner>);

struct Inner {
    share: AtomicUsize,
    held: AtomicUsize,
}

/// The guests' share of a process whose `RLIMIT_NOFILE` soft limit is
/// `limit`: three quarters of it, the last quarter left to the process's
/// own descriptors.
pub fn guests_share(limit: u64) -> usize {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    limit - limit / 4
}

/// The soft `RLIMIT_NOFILE` now (1024 when it cannot be read).
fn soft_limit() -> u64 {
    getrlimit(Resource::Nofile).current.unwrap_or(1024)
}

impl FdPool {
    /// The pool every guest of this process counts its host descriptors
    /// in, unless given another: its share is [`guests_share`] of the
    /// soft `RLIMIT_NOFILE`, as it is when the pool is first used or as
    /// [`raise_nofile_limit`] leaves it.
    pub fn process() -> FdPool {
        static PROCESS: OnceLock<FdPool> = OnceLock::new();
        PROCESS
            .get_or_init(|| FdPool::with_share(guests_share(soft_limit())))
            .clone()
    }

    /// A pool of its own holding at most `share` descriptors.
    pub fn with_share(share: usize) -> FdPool {
        FdPool(Arc::new(Inner {
            share: AtomicUsize::new(share),
            held: AtomicUsize::new(0),
        }))
    }

    /// The most descriptors the pool holds at once.
    pub fn share(&self) -> usize {
        self.0.share.load(Ordering::Acquire)
    }

    /// Changes the share; descriptors held past a smaller one stay, and
    /// no more are given until the count is below it.
    pub fn set_share(&self, share: usize) {
        self.0.share.store(share, Ordering::Release);
    }

    /// The descriptors counted now.
    pub fn held(&self) -> usize {
        self.0.held.load(Ordering::Acquire)
    }

    /// Counts one more descriptor, until the [`FdSlot`] is dropped:
    /// `ENFILE` when the pool holds its share.
    pub fn take(&self) -> Result<FdSlot, Errno> {
        let inner = &*self.0;
        let share = inner.share.load(Ordering::Acquire);
        inner
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < share).then_some(held + 1)
            })
            .map_err(|_| Errno::NFILE)?;
        Ok(FdSlot(self.clone()))
    }
}

impl fmt::Debug for FdPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdPool")
            .field("share", &self.share())
            .field("held", &self.held())
            .finish()
    }
}

/// One descriptor counted in an [`FdPool`]; uncounted when dropped (with
/// the descriptor it stands for).
pub struct FdSlot(FdPool);

impl Drop for FdSlot {
    fn drop(&mut self) {
        self.0.0.held.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for FdSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FdSlot")
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit, once per
/// process (later calls do nothing), and sets the share of
/// [`FdPool::process`] from the limit it leaves: what a process running
/// guests calls at start (`wasi-runner` does, in every mode). A limit that
/// cannot be raised is left as it was. Returns the soft limit.
pub fn raise_nofile_limit() -> u64 {
    static RAISE: Once = Once::new();
    RAISE.call_once(|| {
        let limit = getrlimit(Resource::Nofile);
        if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
            && current < maximum
        {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(maximum),
                    maximum: Some(maximum),
                },
            );
        }
        FdPool::process().set_share(guests_share(soft_limit()));
    });
    soft_limit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_refuses_past_its_share_and_takes_back() {
        let pool = FdPool::with_share(2);
        let a = pool.take().unwrap();
        let b = pool.clone().take().unwrap();
        assert_eq!(pool.take().unwrap_err(), Errno::NFILE);
        drop(a);
        let _c = pool.take().unwrap();
        assert_eq!(pool.held(), 2);
        pool.set_share(1);
        assert_eq!(pool.take().unwrap_err(), Errno::NFILE);
        drop(b);
        assert_eq!(pool.held(), 1);
    }

    #[test]
    fn the_share_leaves_a_quarter() {
        assert_eq!(guests_share(1024), 768);
        assert_eq!(guests_share(4096), 3072);
        assert_eq!(guests_share(3), 3);
    }

    #[test]
    fn raising_sets_the_process_share() {
        let soft = raise_nofile_limit();
        let hard = getrlimit(Resource::Nofile).maximum;
        // Raised to the hard limit (where the hard limit is finite).
        if let Some(hard) = hard {
            assert_eq!(soft, hard);
        }
        assert_eq!(FdPool::process().share(), guests_share(soft));
        assert_eq!(raise_nofile_limit(), soft);
    }
}
