//! What arrives at a task from other threads: its children's messages and
//! ends, its parent's replies and stop, console lines. The bytes of each
//! carry their charge to the run's host memory (spec §1.7).

use crate::charge::Charged;
use wasi_core::budget::Reservation;

/// What arrives at a task from other threads.
pub(crate) enum Event {
    /// A child's message, for the parent's channel `key`: its buffer
    /// carries the reply back.
    Message { key: u64, bytes: Charged },
    /// A child ended, for the parent's channel `key`.
    Ended { key: u64, status: u32 },
    /// The parent's reply, for the child, in the message's buffer.
    Reply { bytes: Charged },
    /// A line of the console (or `None` at its end), for channel `key`,
    /// with the read's charge.
    Line {
        key: u64,
        line: Option<Vec<u8>>,
        charge: Reservation,
    },
    /// The parent stopped this task.
    Stop,
}
