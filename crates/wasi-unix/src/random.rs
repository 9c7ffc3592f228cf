//! `random_get` from a user-space CSPRNG seeded by the kernel.
//!
//! A `getrandom` system call costs about 400 ns here, and this kernel's
//! ChaCha runs without SIMD, while guests ask for a few bytes at a time (hash
//! seeds, UUIDs). As rand's `ThreadRng` (and so wasmtime-wasi) does, bytes
//! come from ChaCha12 keyed with 32 bytes from `getrandom`, and the generator
//! is reseeded from the kernel after every MiB it produces.

use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use rustix::rand::{GetRandomFlags, getrandom};
use wasi_core::system::Result;

use crate::errno::from_host;

/// Bytes produced before the generator is reseeded from the kernel.
const RESEED_AFTER: usize = 1 << 20;

/// A cryptographically secure generator, seeded from the kernel on first use.
#[derive(Debug, Default)]
pub(crate) struct SecureRandom {
    rng: Option<ChaCha12Rng>,
    /// Bytes produced since the last seeding.
    produced: usize,
}

impl SecureRandom {
    /// Fills `out` with cryptographically secure random bytes.
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        let rng = match &mut self.rng {
            Some(rng) if self.produced < RESEED_AFTER => rng,
            slot => {
                let mut seed = [0u8; 32];
                kernel_fill(&mut seed)?;
                self.produced = 0;
                slot.insert(ChaCha12Rng::from_seed(seed))
            }
        };
        rng.fill_bytes(out);
        self.produced = self.produced.saturating_add(out.len());
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
    fn successive_requests_differ() {
        let mut random = SecureRandom::default();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        random.fill(&mut a).unwrap();
        random.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
        let mut other = SecureRandom::default();
        let mut c = [0u8; 32];
        other.fill(&mut c).unwrap();
        assert_ne!(a, c, "each generator is seeded from the kernel");
    }

    #[test]
    fn reseeds_after_a_mebibyte() {
        let mut random = SecureRandom::default();
        let mut big = vec![0u8; RESEED_AFTER];
        random.fill(&mut big).unwrap();
        assert_eq!(random.produced, RESEED_AFTER);
        random.fill(&mut [0u8; 8]).unwrap();
        assert_eq!(random.produced, 8);
        random.fill(&mut []).unwrap();
    }
}
