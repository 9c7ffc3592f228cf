//! Command 19: printing to a task's logs, and naming them.

use crate::abi::{self, Res, fault};
use crate::run_state::RunState;
use std::collections::HashMap;
use wasi_core::GuestMemory;

/// The names and enabled levels a task gave its logs, by log number.
pub(crate) type LogNames = HashMap<u16, (String, u8)>;

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
    let text = abi::text_at(mem, abi::at(data, 4)?, u32::MAX)?;
    match set_name {
        1 => {
            if level & 0x0F != 0 {
                return Err(fault("levels to print (bits 0-3) given with set_name"));
            }
            if text.len() > 64 || abi::has_controls(&text) {
                return Err(fault(
                    "a log name is at most 64 bytes, without control characters",
                ));
            }
            names.insert(which, (text, level >> 4));
        }
        0 => {
            if level & 0xF0 != 0 {
                return Err(fault("enabled levels (bits 4-7) given without set_name"));
            }
            let (name, enabled) = names
                .get(&which)
                .cloned()
                .unwrap_or_else(|| (format!("log{which}"), 0x0F));
            let escaped = escape(&text);
            for (bit, label) in ["DEBUG", "INFO", "WARNING", "ERROR"].iter().enumerate() {
                if level & enabled & (1 << bit) != 0 {
                    run.log_line(&format!("daku[{task}] {name} {label}: {escaped}"));
                }
            }
        }
        _ => return Err(fault("set_name must be 0 or 1")),
    }
    Ok(())
}

/// Control characters as `\xHH`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && (c as u32) < 0x100 {
            out += &format!("\\x{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}
