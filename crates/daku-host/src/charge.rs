//! The run's budget of host memory (spec §1.7): what each kind of buffer a
//! program can make the host hold is charged, and the trap past it.

use crate::abi::{Fault, Res, fault};
use std::fmt;
use wasi_core::budget::{HostBudget, Reservation};

/// Charged per channel, for the most a task has had open at once: an
/// entry of each of its two tables, with their growth (their capacity is
/// at most about twice the entries they held), and its place in the ready
/// queue. `channel_bytes_cover_the_tables` checks it.
pub(crate) const CHANNEL_BYTES: u64 = 320;

/// Charged per log a task names: the table's entry, with its growth, and
/// the name (at most 64 bytes).
pub(crate) const LOG_NAME_BYTES: u64 = 160;

/// Charged per operation a storage batch can hold beyond
/// [`BATCH_FREE_OPS`]: the operation, its result, file, place in the
/// order and run, and the vectors of a submission, each with growth.
pub(crate) const BATCH_OP_BYTES: u64 = 256;

/// The operations every task's batch holds uncharged (a fixed cost of a
/// task, like its ring), so that a batch can always take one.
pub(crate) const BATCH_FREE_OPS: usize = 64;

/// Charged per console read asked for: the longest line (65,536 bytes),
/// each byte of it possibly replaced by the three of U+FFFD.
pub(crate) const CONSOLE_READ_BYTES: u64 = 3 * 65_536;

/// The trap of a record needing `bytes` more than `budget` has left, for
/// `what` (spec §1.7).
pub(crate) fn limit_reached(budget: &HostBudget, bytes: u64, what: impl fmt::Display) -> Fault {
    fault(format!(
        "host memory limit reached: {what} needs {bytes} bytes, {} of {} left",
        budget.available(),
        budget.limit()
    ))
}

/// Reserves `bytes` of `budget` for `what`, or traps.
pub(crate) fn reserve(
    budget: &HostBudget,
    bytes: u64,
    what: impl fmt::Display,
) -> Res<Reservation> {
    budget
        .try_reserve(bytes)
        .map_err(|_| limit_reached(budget, bytes, what))
}

/// Grows `charge` to `total` bytes for `what`, or traps.
pub(crate) fn grow(charge: &mut Reservation, total: u64, what: impl fmt::Display) -> Res<()> {
    let more = total.saturating_sub(charge.bytes());
    charge
        .try_resize(total)
        .map_err(|_| limit_reached(charge.budget(), more, what))
}

/// Bytes the host holds for a program, with their charge, given back
/// when they are dropped: a module being spawned, a message between tasks
/// and its reply (commands 17, 18), a console line (20).
pub(crate) struct Charged {
    pub bytes: Vec<u8>,
    _charge: Reservation,
}

impl Charged {
    /// `bytes`, charged by `charge` (which covers their capacity).
    pub fn new(bytes: Vec<u8>, charge: Reservation) -> Self {
        Charged {
            bytes,
            _charge: charge,
        }
    }
}
