//! Clocks.

use rustix::time::{ClockId, Timespec};
use wasi_core::Errno;
use wasi_core::system::Result;
use wasi_core::types::{Clockid, Timestamp};

/// The host clock of a WASI clock (`EINVAL` for an unknown one).
pub(crate) fn host_clock(id: Clockid) -> Result<ClockId> {
    match id {
        Clockid::REALTIME => Ok(ClockId::Realtime),
        Clockid::MONOTONIC => Ok(ClockId::Monotonic),
        Clockid::PROCESS_CPUTIME_ID => Ok(ClockId::ProcessCPUTime),
        Clockid::THREAD_CPUTIME_ID => Ok(ClockId::ThreadCPUTime),
        _ => Err(Errno::INVAL),
    }
}

/// Nanoseconds of a `timespec`; `EOVERFLOW` when it is negative or does not
/// fit a WASI timestamp.
pub(crate) fn nanos(ts: Timespec) -> Result<Timestamp> {
    u64::try_from(ts.tv_sec)
        .ok()
        .and_then(|secs| secs.checked_mul(1_000_000_000))
        .and_then(|nanos| nanos.checked_add(u64::try_from(ts.tv_nsec).ok()?))
        .ok_or(Errno::OVERFLOW)
}

/// The current time of a clock (`clock_gettime`, served by the vDSO).
#[inline]
pub(crate) fn now(id: ClockId) -> Result<Timestamp> {
    nanos(rustix::time::clock_gettime(id))
}

/// The resolution of a clock (`clock_getres`).
pub(crate) fn resolution(id: ClockId) -> Result<Timestamp> {
    nanos(rustix::time::clock_getres(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_conversion() {
        let ts = |tv_sec, tv_nsec| Timespec { tv_sec, tv_nsec };
        assert_eq!(nanos(ts(1, 2)), Ok(1_000_000_002));
        assert_eq!(nanos(ts(-1, 0)), Err(Errno::OVERFLOW));
        assert_eq!(nanos(ts(i64::MAX, 0)), Err(Errno::OVERFLOW));
    }

    #[test]
    fn unknown_clock_is_invalid() {
        assert_eq!(host_clock(Clockid(4)), Err(Errno::INVAL));
    }
}
