//! How a guest's run ended, and the exit code a command-line runner gives
//! it: shared by every kind of guest (WASI commands, Daku programs).

use crate::runtime::CallError;
use std::fmt;
use std::time::Duration;

/// Exit code of a run whose guest trapped (128 + `SIGABRT`, as wasmtime's
/// command line).
pub const TRAP_EXIT_CODE: u8 = 134;
/// Exit code of a run stopped by its time limit, as `timeout(1)`.
pub const TIMEOUT_EXIT_CODE: u8 = 124;
/// Exit code when a module cannot be run at all (it cannot be loaded, or
/// the command line is wrong): the guest's code never ran.
pub const ERROR_EXIT_CODE: u8 = 2;

/// How a run ended, once the guest's code ran (its start function or
/// `_start`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `_start` returned (code 0) or the guest called `proc_exit`.
    Exit(u32),
    /// The guest trapped, a host function failed, or it ran out of fuel
    /// ([`CallError::OutOfFuel`]); never [`CallError::Exit`] or
    /// [`CallError::Timeout`].
    Trap(CallError),
    /// The guest ran past the time limit it was given.
    Timeout(Duration),
}

impl Outcome {
    /// How a run ended whose guest's code stopped with `error`, the guest
    /// having been given `timeout` ([`CallError::Interrupted`] is a trap:
    /// the host stopped the guest for a reason of its own).
    pub fn from_call(error: CallError, timeout: Option<Duration>) -> Self {
        match error {
            CallError::Exit(code) => Outcome::Exit(code),
            CallError::Timeout => Outcome::Timeout(timeout.unwrap_or_default()),
            error => Outcome::Trap(error),
        }
    }

    /// The exit code of a process that ran the guest: the guest's own code
    /// (its low 8 bits, all a process keeps), [`TRAP_EXIT_CODE`] or
    /// [`TIMEOUT_EXIT_CODE`].
    pub fn exit_code(&self) -> u8 {
        match self {
            // Truncating is what the OS does to a native process's status.
            Outcome::Exit(code) => *code as u8,
            Outcome::Trap(_) => TRAP_EXIT_CODE,
            Outcome::Timeout(_) => TIMEOUT_EXIT_CODE,
        }
    }
}

impl fmt::Display for Outcome {
    /// `exited with code N`, the trap's message, or `timed out after
    /// DURATION` (as `300ms`, `2m 30s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exit(code) => write!(f, "exited with code {code}"),
            Outcome::Trap(error) => error.fmt(f),
            Outcome::Timeout(limit) => {
                write!(f, "timed out after {}", humantime::format_duration(*limit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_messages() {
        assert_eq!(Outcome::Exit(3).exit_code(), 3);
        assert_eq!(Outcome::Exit(256 + 3).exit_code(), 3);
        let fuel = Outcome::Trap(CallError::OutOfFuel);
        assert_eq!(fuel.exit_code(), TRAP_EXIT_CODE);
        assert_eq!(fuel.to_string(), "module ran out of fuel");
        let timeout = Outcome::Timeout(Duration::from_millis(300));
        assert_eq!(timeout.exit_code(), TIMEOUT_EXIT_CODE);
        assert_eq!(timeout.to_string(), "timed out after 300ms");
    }
}
