//! What arrives at a task from other threads: its children's messages and
//! ends, its parent's replies and stop, console lines.

/// What arrives at a task from other threads.
pub(crate) enum Event {
    /// A child's message, for the parent's channel `key`.
    Message { key: u64, bytes: Vec<u8> },
    /// A child ended, for the parent's channel `key`.
    Ended { key: u64, status: u32 },
    /// The parent's reply, for the child.
    Reply { bytes: Vec<u8> },
    /// A line of the console (or `None` at its end), for channel `key`.
    Line { key: u64, line: Option<Vec<u8>> },
    /// The parent stopped this task.
    Stop,
}
