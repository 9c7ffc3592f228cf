//! Commands 33 and 35, headless: audio written as WAV files and frames as
//! PNG files in the output directory.

use crate::abi::{self, Res, fault};
use crate::channels::{Channel, State};
use crate::media::{self, WavWriter};
use crate::outputs;
use crate::run_state::RunState;
use std::io::{BufWriter, Write};
use std::sync::atomic::Ordering;
use wasi_core::GuestMemory;

/// Command 33 on `channel` (just opened if `opening`), the samples
/// described at `data`, for task number `task` of `run`: appended to the
/// channel's `audio-TASK-N.wav`.
pub(crate) fn play_audio(
    mem: &GuestMemory<'_>,
    channel: &mut Channel,
    opening: bool,
    data: u32,
    run: &RunState,
    task: u32,
) -> Res<()> {
    let raw = abi::bytes::<16>(mem, data)?;
    let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let (rate, channels, count, samples) = (field(0), field(4), field(8), field(12));
    if !(1..=384_000).contains(&rate) || !(1..=8).contains(&channels) {
        return Err(fault("rate must be 1-384000 and channels 1-8"));
    }
    if count % channels != 0 || count > 1 << 24 {
        return Err(fault("samples must be whole frames, at most 2^24"));
    }
    let bytes = abi::slice(mem, samples, count * 2)?;
    if opening {
        let number = run.next_audio.fetch_add(1, Ordering::Relaxed);
        channel.state = State::Audio { number, wav: None };
    }
    let output = run.options.output.as_ref().expect("refused without output");
    let State::Audio { number, wav } = &mut channel.state else {
        unreachable!("an audio channel holds its stream")
    };
    if wav.is_none() {
        let name = format!("audio-{task}-{number}.wav");
        *wav = Some(
            WavWriter::create(output, &name, rate, channels as u16).map_err(|e| {
                fault(format!(
                    "cannot write {}: {e}",
                    output.join(&name).display()
                ))
            })?,
        );
    }
    let wav = wav.as_mut().expect("created above");
    if wav.rate != rate || u32::from(wav.channels) != channels {
        return Err(fault("rate and channels must stay the same on a channel"));
    }
    wav.append(bytes)
        .map_err(|e| fault(format!("cannot write audio: {e}")))
}

/// Command 35 on `channel` (just opened if `opening`), the frame
/// described at `data`, for task number `task` of `run`: written as the
/// channel's next `frame-TASK-N-FRAME.png`.
pub(crate) fn show_frame(
    mem: &GuestMemory<'_>,
    channel: &mut Channel,
    opening: bool,
    data: u32,
    run: &RunState,
    task: u32,
) -> Res<()> {
    let raw = abi::bytes::<16>(mem, data)?;
    let width = u16::from_le_bytes([raw[0], raw[1]]);
    let height = u16::from_le_bytes([raw[2], raw[3]]);
    let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let (format, size, pixels) = (field(4), field(8), field(12));
    if format != 0 {
        return Err(fault("format must be 0 (RGBA8)"));
    }
    let expected = u64::from(width) * u64::from(height) * 4;
    if width == 0 || height == 0 || u64::from(size) != expected {
        return Err(fault(
            "pixels.size must be width * height * 4, both non-zero",
        ));
    }
    let rgba = abi::slice(mem, pixels, size)?;
    if opening {
        let number = run.next_frame.fetch_add(1, Ordering::Relaxed);
        channel.state = State::Frame { number, next: 0 };
    }
    let State::Frame { number, next } = &mut channel.state else {
        unreachable!("a framebuffer channel holds its numbers")
    };
    let output = run.options.output.as_ref().expect("refused without output");
    let name = format!("frame-{task}-{number}-{next:06}.png");
    *next += 1;
    // Encoded into the file as it is written: the frame costs the host
    // no memory that grows with it (spec §1.7).
    outputs::write(output, &name, |file| {
        let mut out = BufWriter::with_capacity(8192, file);
        media::write_png(&mut out, width, height, rgba)?;
        out.flush()
    })
    .map(drop)
    .map_err(|e| {
        fault(format!(
            "cannot write {}: {e}",
            output.join(&name).display()
        ))
    })
}
