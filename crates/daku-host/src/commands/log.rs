//! Command 19: printing to a task's logs, and naming them.

use crate::abi::{self, Res, fault};
use crate::charge::{self, LOG_NAME_BYTES};
use crate::run_state::RunState;
use std::collections::HashMap;
use wasi_core::GuestMemory;
use wasi_core::budget::{HostBudget, Reservation};

/// The names and enabled levels a task gave its logs, by log number,
/// charged to the run's host memory (spec §1.7).
pub(crate) struct LogNames {
    names: HashMap<u16, (String, u8)>,
    charge: Reservation,
}

impl LogNames {
    /// No log named, charging `budget` for the names to come.
    pub fn new(budget: &HostBudget) -> Self {
        LogNames {
            names: HashMap::new(),
            charge: budget.reservation(),
        }
    }

    /// Names log `which` `name`, with `levels` enabled; a log named for
    /// the first time is charged, or traps.
    fn set(&mut self, which: u16, name: &str, levels: u8) -> Res<()> {
        if !self.names.contains_key(&which) {
            let total = self.charge.bytes() + LOG_NAME_BYTES;
            charge::grow(&mut self.charge, total, format_args!("log {which}'s name"))?;
        }
        self.names.insert(which, (name.to_owned(), levels));
        Ok(())
    }
}

/// Command 19, the `Print` at `data`, for task number `task` of `run`,
/// whose logs are named in `names`.
pub(crate) fn print(
    mem: &GuestMemory<'_>,
    data: u32,
    names: &mut LogNames,
    run: &RunState,
    task: u32,
) -> Res<()> {
    // The whole `Print` first: its `Text` at `data + 4` is then in
    // memory, and the address cannot wrap.
    let raw = abi::bytes::<12>(mem, data)?;
    let which = u16::from_le_bytes([raw[0], raw[1]]);
    let (level, set_name) = (raw[2], raw[3]);
    // Borrowed from memory, not copied: a text of any length costs the
    // host nothing (spec §1.7).
    let text = abi::text_ref(mem, abi::at(data, 4)?, u32::MAX)?;
    match set_name {
        1 => {
            if level & 0x0F != 0 {
                return Err(fault("levels to print (bits 0-3) given with set_name"));
            }
            if text.len() > 64 || abi::has_controls(text) {
                return Err(fault(
                    "a log name is at most 64 bytes, without control characters",
                ));
            }
            names.set(which, text, level >> 4)?;
        }
        0 => {
            if level & 0xF0 != 0 {
                return Err(fault("enabled levels (bits 4-7) given without set_name"));
            }
            let (name, enabled) = match names.names.get(&which) {
                Some((name, enabled)) => (name.clone(), *enabled),
                None => (format!("log{which}"), 0x0F),
            };
            for (bit, label) in ["DEBUG", "INFO", "WARNING", "ERROR"].iter().enumerate() {
                if level & enabled & (1 << bit) != 0 {
                    run.log_escaped(&format!("daku[{task}] {name} {label}: "), text);
                }
            }
        }
        _ => return Err(fault("set_name must be 0 or 1")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::charge::LOG_NAME_BYTES;
    use std::mem::size_of;

    #[test]
    fn log_name_bytes_cover_the_table() {
        // A slot, with its control byte, twice, and the longest name.
        let bytes = 2 * (size_of::<(u16, (String, u8))>() + 1) + 64;
        assert!(bytes as u64 <= LOG_NAME_BYTES, "{bytes}");
    }
}
