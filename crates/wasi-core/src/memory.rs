//! Bounds-checked, in-place access to a guest's linear memory.
//!
//! Every guest pointer goes through [`GuestMemory`]: an address or length out
//! of bounds gives `EFAULT`, a misaligned array gives `EINVAL` (as wasmtime's
//! wiggle does), invalid UTF-8 gives `EILSEQ`. Nothing here allocates.

use crate::types::{Errno, Iovec};
use bytemuck::Pod;
use core::mem::{MaybeUninit, align_of, size_of};
use std::io::{IoSlice, IoSliceMut};

/// The most iovecs passed to the system in one call. Longer lists are cut
/// short, which POSIX allows (a short read or write); wasi-libc never passes
/// more than a handful.
pub const MAX_IOVS: usize = 64;

/// A guest's linear memory, borrowed for the duration of one call.
#[derive(Debug)]
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    /// Wraps the bytes of a linear memory.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { bytes }
    }

    /// The memory's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the memory has no bytes (a memory of zero pages).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn range(&self, ptr: u32, len: usize) -> Result<core::ops::Range<usize>, Errno> {
        let start = ptr as usize;
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.bytes.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }

    /// Checks that a `T` can be written at `ptr`, before doing work whose
    /// result would otherwise be lost.
    pub fn check<T: Pod>(&self, ptr: u32) -> Result<(), Errno> {
        self.range(ptr, size_of::<T>()).map(drop)
    }

    /// Reads a `T` at `ptr` (any alignment).
    pub fn read<T: Pod>(&self, ptr: u32) -> Result<T, Errno> {
        let range = self.range(ptr, size_of::<T>())?;
        Ok(bytemuck::pod_read_unaligned(&self.bytes[range]))
    }

    /// Writes a `T` at `ptr` (any alignment).
    pub fn write<T: Pod>(&mut self, ptr: u32, value: T) -> Result<(), Errno> {
        let range = self.range(ptr, size_of::<T>())?;
        self.bytes[range].copy_from_slice(bytemuck::bytes_of(&value));
        Ok(())
    }

    /// The `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let range = self.range(ptr, len as usize)?;
        Ok(&self.bytes[range])
    }

    /// The `len` bytes at `ptr`, mutably.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let range = self.range(ptr, len as usize)?;
        Ok(&mut self.bytes[range])
    }

    /// The UTF-8 string of `len` bytes at `ptr`.
    pub fn str(&self, ptr: u32, len: u32) -> Result<&str, Errno> {
        core::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::ILSEQ)
    }

    /// A path argument: a string as [`str`](Self::str) reads it, which
    /// must not contain a NUL byte (`EINVAL`: no POSIX path does), checked
    /// before the call does anything.
    pub fn path(&self, ptr: u32, len: u32) -> Result<&str, Errno> {
        let path = self.str(ptr, len)?;
        if path.as_bytes().contains(&0) {
            return Err(Errno::INVAL);
        }
        Ok(path)
    }

    /// An array of `count` values of `T` at `ptr`, in place. The guest
    /// address must be aligned for `T` (`EINVAL` otherwise).
    pub fn array<T: Pod>(&self, ptr: u32, count: u32) -> Result<&[T], Errno> {
        let range = self.array_range::<T>(ptr, count)?;
        bytemuck::try_cast_slice(&self.bytes[range]).map_err(|_| Errno::INVAL)
    }

    /// An array of `count` values of `T` at `ptr`, in place and mutable.
    pub fn array_mut<T: Pod>(&mut self, ptr: u32, count: u32) -> Result<&mut [T], Errno> {
        let range = self.array_range::<T>(ptr, count)?;
        bytemuck::try_cast_slice_mut(&mut self.bytes[range]).map_err(|_| Errno::INVAL)
    }

    fn array_range<T: Pod>(&self, ptr: u32, count: u32) -> Result<core::ops::Range<usize>, Errno> {
        if !(ptr as usize).is_multiple_of(align_of::<T>()) {
            return Err(Errno::INVAL);
        }
        let len = (count as usize)
            .checked_mul(size_of::<T>())
            .ok_or(Errno::FAULT)?;
        self.range(ptr, len)
    }

    /// Two regions at once, the first shared and the second mutable; `EINVAL`
    /// when they overlap.
    pub fn split(
        &mut self,
        (ptr, len): (u32, u32),
        (mut_ptr, mut_len): (u32, u32),
    ) -> Result<(&[u8], &mut [u8]), Errno> {
        let shared = self.range(ptr, len as usize)?;
        let exclusive = self.range(mut_ptr, mut_len as usize)?;
        if shared.start < exclusive.end && exclusive.start < shared.end {
            return Err(Errno::INVAL);
        }
        if shared.end <= exclusive.start {
            let (low, high) = self.bytes.split_at_mut(exclusive.start);
            Ok((&low[shared], &mut high[..exclusive.len()]))
        } else {
            let (low, high) = self.bytes.split_at_mut(shared.start);
            Ok((&high[..shared.len()], &mut low[exclusive]))
        }
    }

    /// Calls `f` with the buffers described by the `ciovec` array at `iovs`,
    /// borrowed in place. At most [`MAX_IOVS`] are passed.
    pub fn with_iovs<R>(
        &self,
        iovs: u32,
        count: u32,
        f: impl FnOnce(&[IoSlice<'_>]) -> R,
    ) -> Result<R, Errno> {
        let list: &[Iovec] = self.array(iovs, count)?;
        let list = &list[..list.len().min(MAX_IOVS)];
        let mut slices = [const { MaybeUninit::<IoSlice<'_>>::uninit() }; MAX_IOVS];
        for (slot, iov) in slices.iter_mut().zip(list) {
            slot.write(IoSlice::new(self.slice(iov.buf, iov.buf_len)?));
        }
        // SAFETY: the loop above initialised the first `list.len()` elements
        // (it returns early on error), and `MaybeUninit<T>` has the layout of `T`.
        let slices = unsafe { &*(&raw const slices[..list.len()] as *const [IoSlice<'_>]) };
        Ok(f(slices))
    }

    /// Calls `f` with the buffers described by the `iovec` array at `iovs`,
    /// borrowed in place and mutably. At most [`MAX_IOVS`] are passed, and the
    /// list stops before the first buffer that overlaps an earlier one (a short
    /// read, which POSIX allows), so that no two mutable slices alias.
    pub fn with_iovs_mut<R>(
        &mut self,
        iovs: u32,
        count: u32,
        f: impl FnOnce(&mut [IoSliceMut<'_>]) -> R,
    ) -> Result<R, Errno> {
        let mut ranges = [const { MaybeUninit::<core::ops::Range<usize>>::uninit() }; MAX_IOVS];
        let mut n = 0;
        {
            let list: &[Iovec] = self.array(iovs, count)?;
            'outer: for iov in list.iter().take(MAX_IOVS) {
                let range = self.range(iov.buf, iov.buf_len as usize)?;
                for earlier in &ranges[..n] {
                    // SAFETY: the first `n` ranges were initialised below.
                    let earlier = unsafe { earlier.assume_init_ref() };
                    if range.start < earlier.end && earlier.start < range.end {
                        break 'outer;
                    }
                }
                ranges[n].write(range);
                n += 1;
            }
        }
        let base = self.bytes.as_mut_ptr();
        let mut slices = [const { MaybeUninit::<IoSliceMut<'_>>::uninit() }; MAX_IOVS];
        for (slot, range) in slices.iter_mut().zip(&ranges[..n]) {
            // SAFETY: the first `n` ranges were initialised above.
            let range = unsafe { range.assume_init_ref() };
            // SAFETY: `range` lies within `self.bytes` (checked by `self.range`)
            // and is disjoint from every other range passed (checked above), so
            // these mutable slices do not alias; they borrow `self` mutably for
            // the duration of `f`.
            let bytes =
                unsafe { core::slice::from_raw_parts_mut(base.add(range.start), range.len()) };
            slot.write(IoSliceMut::new(bytes));
        }
        // SAFETY: the first `n` elements were initialised above, and
        // `MaybeUninit<T>` has the layout of `T`.
        let slices = unsafe { &mut *(&raw mut slices[..n] as *mut [IoSliceMut<'_>]) };
        Ok(f(slices))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iovec(buf: u32, buf_len: u32) -> Iovec {
        Iovec { buf, buf_len }
    }

    #[test]
    fn out_of_bounds_is_efault() {
        let mut bytes = [0u8; 16];
        let mut mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.read::<u64>(9), Err(Errno::FAULT));
        assert_eq!(mem.read::<u64>(8), Ok(0));
        assert_eq!(mem.write(u32::MAX, 1u32), Err(Errno::FAULT));
        assert_eq!(mem.slice(16, 0).map(<[u8]>::len), Ok(0));
        assert_eq!(mem.slice(17, 0), Err(Errno::FAULT));
        assert_eq!(mem.slice(u32::MAX, u32::MAX), Err(Errno::FAULT));
    }

    #[test]
    fn strings_must_be_utf8() {
        let mut bytes = *b"ok\xff";
        let mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.str(0, 2), Ok("ok"));
        assert_eq!(mem.str(0, 3), Err(Errno::ILSEQ));
    }

    #[test]
    fn arrays_must_be_aligned() {
        let mut bytes = [0u64; 4];
        let mem = GuestMemory::new(bytemuck::cast_slice_mut(&mut bytes));
        assert_eq!(mem.array::<u64>(8, 2).map(<[u64]>::len), Ok(2));
        assert_eq!(mem.array::<u64>(4, 1), Err(Errno::INVAL));
        assert_eq!(mem.array::<u64>(8, 4), Err(Errno::FAULT));
        assert_eq!(mem.array::<u64>(0, u32::MAX), Err(Errno::FAULT));
    }

    #[test]
    fn split_rejects_overlap() {
        let mut bytes = *b"abcdefgh";
        let mut mem = GuestMemory::new(&mut bytes);
        let (a, b) = mem.split((4, 4), (0, 4)).unwrap();
        b.copy_from_slice(a);
        assert_eq!(mem.slice(0, 8).unwrap(), b"efghefgh");
        assert_eq!(mem.split((0, 4), (3, 2)).unwrap_err(), Errno::INVAL);
    }

    #[test]
    fn iovs_are_borrowed_in_place() {
        let mut words = [0u32; 8];
        let mut mem = GuestMemory::new(bytemuck::cast_slice_mut(&mut words));
        mem.write(0, iovec(16, 4)).unwrap();
        mem.write(8, iovec(24, 2)).unwrap();
        mem.slice_mut(16, 10)
            .unwrap()
            .copy_from_slice(b"abcd....ef");
        let lens = mem
            .with_iovs(0, 2, |s| s.iter().map(|s| s.to_vec()).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(lens, [b"abcd".to_vec(), b"ef".to_vec()]);
        mem.with_iovs_mut(0, 2, |s| {
            s[0].copy_from_slice(b"WXYZ");
            s[1].copy_from_slice(b"UV");
        })
        .unwrap();
        assert_eq!(mem.slice(16, 10).unwrap(), b"WXYZ....UV");
        mem.write(8, iovec(30, 4)).unwrap();
        assert_eq!(mem.with_iovs(0, 2, |_| ()), Err(Errno::FAULT));
    }

    #[test]
    fn overlapping_mutable_iovs_are_cut_short() {
        let mut words = [0u32; 8];
        let mut mem = GuestMemory::new(bytemuck::cast_slice_mut(&mut words));
        mem.write(0, iovec(16, 8)).unwrap();
        mem.write(8, iovec(20, 8)).unwrap();
        assert_eq!(mem.with_iovs_mut(0, 2, |s| s.len()), Ok(1));
        mem.write(8, iovec(30, 4)).unwrap();
        assert_eq!(mem.with_iovs_mut(0, 2, |s| s.len()), Err(Errno::FAULT));
    }
}
