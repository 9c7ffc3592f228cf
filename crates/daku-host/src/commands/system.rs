//! Commands 0–10: the CPU, the clock and time zone, the OS and the
//! runtime. Each completes at once.

use crate::abi::{self, Res, cmd, fault};
use crate::info;
use wasi_core::GuestMemory;

/// Answers command `which` (0–10) into its payload at `data`, on the
/// engine named `engine`.
pub(crate) fn answer(mem: &mut GuestMemory<'_>, which: u32, data: u32, engine: &str) -> Res<()> {
    match which {
        cmd::ARCH => abi::put_u32(mem, data, 0),
        cmd::REF_SIZE => abi::put_u32(mem, data, 1),
        cmd::CPU_EXTENSIONS => abi::receive_text(mem, data, info::cpu_extensions(engine)),
        cmd::GET_OVERCLOCK => abi::put_u32(mem, data, 0),
        cmd::SET_OVERCLOCK => {
            if abi::u32_at(mem, data)? != 0 {
                return Err(fault("Overclock must be 0 (Off)"));
            }
            Ok(())
        }
        cmd::DATE_TIME => abi::put(mem, data, &info::now_utc()),
        cmd::TIME_ZONE => time_zone(mem, data),
        cmd::KERNEL => abi::put_u32(mem, data, info::kernel()),
        cmd::OS_NAME => abi::receive_text(mem, data, &info::os_name()),
        cmd::ENVIRONMENT => {
            let desktop = std::env::var("XDG_CURRENT_DESKTOP").ok();
            abi::put_u32(mem, data, info::environment(desktop.as_deref()))
        }
        cmd::RUNTIME => abi::put_u32(mem, data, info::runtime(engine)),
        _ => unreachable!("commands 0-10 only"),
    }
}

/// Command 6.
fn time_zone(mem: &mut GuestMemory<'_>, data: u32) -> Res<()> {
    mem.slice(data, 32)
        .map_err(|_| fault("payload out of bounds"))?;
    let leaps = std::fs::read_to_string("/usr/share/zoneinfo/leapseconds").ok();
    let zone = info::zone(&info::host_zone(), jiff::Timestamp::now(), leaps.as_deref());
    abi::put_u32(mem, data, zone.designation)?;
    let deltas: Vec<u8> = zone.deltas.concat();
    abi::receive(mem, abi::at(data, 4)?, &deltas, zone.deltas.len() as u32)?;
    abi::put(mem, abi::at(data, 12)?, &zone.offset)?;
    let leap_list: Vec<u8> = zone.leap_seconds.concat();
    abi::receive(
        mem,
        abi::at(data, 20)?,
        &leap_list,
        zone.leap_seconds.len() as u32,
    )?;
    abi::put(mem, abi::at(data, 28)?, &zone.leap.to_le_bytes())?;
    abi::put(mem, abi::at(data, 30)?, &[u8::from(zone.is_dst), 0])
}
