//! Command 20: reading lines of the developer console (the host's
//! standard input), one outstanding read per channel, each charged to the
//! run's host memory until its line is delivered (spec §1.7).

use crate::abi::{self, Res, fault};
use crate::channels::{Channel, State};
use crate::charge::{self, CONSOLE_READ_BYTES, Charged};
use crate::event::Event;
use crate::run_state::RunState;
use std::sync::mpsc::Sender;
use wasi_core::GuestMemory;
use wasi_core::budget::Reservation;

/// Command 20 on `channel`, into the `Text` at `data`: a line kept for a
/// larger buffer is delivered at once, else `run`'s console reader is
/// asked for one (charged, or a trap), which comes to `events`. Returns
/// whether the operation completed.
pub(crate) fn read_line(
    mem: &mut GuestMemory<'_>,
    channel: &mut Channel,
    data: u32,
    run: &RunState,
    events: &Sender<Event>,
) -> Res<bool> {
    abi::list_at(mem, data)?;
    let key = channel.key;
    if let State::Console { reading: true, .. } = channel.state {
        return Err(fault("a line is already being read on this channel"));
    }
    let kept = match std::mem::replace(&mut channel.state, State::Plain) {
        State::Console { kept, .. } => kept,
        _ => None,
    };
    if kept.is_some() {
        let mut kept = kept;
        deliver_line(mem, data, &mut kept)?;
        channel.state = State::Console {
            reading: false,
            kept,
            text: data,
        };
        return Ok(true);
    }
    let charge = charge::reserve(run.budget(), CONSOLE_READ_BYTES, "the console read")?;
    channel.state = State::Console {
        reading: true,
        kept: None,
        text: data,
    };
    run.read_line(key, events.clone(), charge);
    Ok(false)
}

/// A line (`None` at the end of input) came to `channel`, with its charge.
pub(crate) fn line_arrived(
    mem: &mut GuestMemory<'_>,
    channel: &mut Channel,
    line: Option<Vec<u8>>,
    charge: Reservation,
) -> Res<()> {
    if let State::Console {
        reading,
        kept,
        text,
    } = &mut channel.state
    {
        *reading = false;
        let text = *text;
        match line {
            Some(line) => {
                *kept = Some(Charged::new(line, charge));
                deliver_line(mem, text, kept)?;
            }
            None => {
                abi::put_u32(mem, text, 0)?;
                abi::put_u32(mem, abi::at(text, 4)?, 0)?;
            }
        }
    }
    Ok(())
}

/// Delivers the kept console line into the `Text` at `text` if it fits
/// (then it is no longer kept, and its charge goes), else reports the
/// size needed.
fn deliver_line(mem: &mut GuestMemory<'_>, text: u32, kept: &mut Option<Charged>) -> Res<()> {
    let line = &kept.as_ref().expect("a line is kept").bytes;
    let (capacity, _) = abi::list_at(mem, text)?;
    let len = line.len() as u32;
    abi::receive(mem, text, line, len)?;
    if len <= capacity {
        *kept = None;
    }
    Ok(())
}
