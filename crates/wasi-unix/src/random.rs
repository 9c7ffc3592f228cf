//! `random_get` served from a pool of kernel randomness.
//!
//! One `getrandom` system call costs about 400 ns here whatever its size up
//! to a few KiB, while guests ask for a few bytes at a time (hash seeds,
//! UUIDs). The pool asks the kernel for 4 KiB at once and hands each byte out
//! once: bytes given to the guest are wiped from the pool. Large requests go
//! to the kernel directly.

use rustix::rand::{GetRandomFlags, getrandom};
use wasi_core::system::Result;

use crate::errno::from_host;

/// Bytes fetched from the kernel per refill.
const POOL: usize = 4096;

/// Requests larger than this bypass the pool.
const DIRECT: usize = POOL / 8;

/// Randomness from the kernel, fetched in blocks.
#[derive(Debug)]
pub(crate) struct RandomPool {
    buf: Box<[u8; POOL]>,
    /// Bytes at and after this index have not been handed out yet.
    next: usize,
}

impl Default for RandomPool {
    fn default() -> Self {
        Self {
            buf: Box::new([0; POOL]),
            next: POOL,
        }
    }
}

impl RandomPool {
    /// Fills `out` with cryptographically secure random bytes.
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        if out.len() > DIRECT {
            return kernel_fill(out);
        }
        if POOL - self.next < out.len() {
            kernel_fill(&mut self.buf[..])?;
            self.next = 0;
        }
        let taken = &mut self.buf[self.next..self.next + out.len()];
        out.copy_from_slice(taken);
        taken.fill(0);
        self.next += out.len();
        Ok(())
    }
}

/// `getrandom` until `buf` is full.
fn kernel_fill(mut buf: &mut [u8]) -> Result<()> {
    while !buf.is_empty() {
        match getrandom(&mut *buf, GetRandomFlags::empty()) {
            Ok(n) => buf = &mut core::mem::take(&mut buf)[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(from_host(err)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_handed_out_once() {
        let mut pool = RandomPool::default();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        pool.fill(&mut a).unwrap();
        pool.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert!(
            pool.buf[..64].iter().all(|&byte| byte == 0),
            "handed-out bytes are wiped"
        );
        assert_eq!(pool.next, 64);
    }

    #[test]
    fn refills_and_large_requests() {
        let mut pool = RandomPool::default();
        let mut small = [0u8; DIRECT];
        for _ in 0..(2 * POOL / DIRECT + 1) {
            pool.fill(&mut small).unwrap();
        }
        let mut large = vec![0u8; POOL * 2];
        pool.fill(&mut large).unwrap();
        assert!(large.iter().any(|&byte| byte != 0));
        pool.fill(&mut []).unwrap();
    }
}
