//! The numbers and byte layouts of `spec/daku.md`: command numbers, the
//! values the host writes, record sizes. Everything is little-endian and
//! packed; pointers are wasm32 offsets.

use std::fmt;
use wasi_core::GuestMemory;

/// Size of a `Command` record.
pub const COMMAND_SIZE: u32 = 16;
/// The most records one `ar` call may carry.
pub const MAX_RECORDS: u32 = 65_536;
/// The most channels a task may have open at once.
pub const MAX_OPEN_CHANNELS: usize = 65_536;
/// The most ids one `ar` call writes to the done list.
pub const MAX_DONE: usize = 16_384;
/// Written over a record's `which` when the host does not serve the command.
pub const UNSUPPORTED: u32 = 0xFFFF_FFFF;
/// Written over a record's `which` when the command was not granted.
pub const DENIED: u32 = 0xFFFF_FFFE;
/// Child status: the child trapped.
pub const STATUS_TRAPPED: u32 = 0xFFFF_FFFF;
/// Child status: the child could not be loaded.
pub const STATUS_UNLOADABLE: u32 = 0xFFFF_FFFE;
/// The most bytes of wasm a spawn (17) may carry, and the largest shared
/// region (17, 18).
pub const MAX_SPAWN_BYTES: u32 = 64 << 20;
/// The most child tasks running at once in a run (all tasks together).
pub const MAX_CHILDREN: usize = 64;

/// The command numbers this host serves (spec §5, §6).
pub mod cmd {
    /// Get the CPU architecture.
    pub const ARCH: u32 = 0;
    /// Get the CPU reference size.
    pub const REF_SIZE: u32 = 1;
    /// Describe the CPU extensions.
    pub const CPU_EXTENSIONS: u32 = 2;
    /// Get the overclocking setting.
    pub const GET_OVERCLOCK: u32 = 3;
    /// Set the overclocking setting.
    pub const SET_OVERCLOCK: u32 = 4;
    /// Get the current UTC date and time.
    pub const DATE_TIME: u32 = 5;
    /// Get the current time zone.
    pub const TIME_ZONE: u32 = 6;
    /// Get the kernel type.
    pub const KERNEL: u32 = 7;
    /// Get the OS name.
    pub const OS_NAME: u32 = 8;
    /// Get the desktop environment.
    pub const ENVIRONMENT: u32 = 9;
    /// Get the WebAssembly runtime.
    pub const RUNTIME: u32 = 10;
    /// Get the user name.
    pub const USERNAME: u32 = 11;
    /// Get the user's full name.
    pub const FULL_NAME: u32 = 12;
    /// Get the user's languages.
    pub const LANGUAGES: u32 = 13;
    /// Set the user name (in the profile).
    pub const SET_USERNAME: u32 = 14;
    /// Set the full name (in the profile).
    pub const SET_FULL_NAME: u32 = 15;
    /// Set the languages (in the profile).
    pub const SET_LANGUAGES: u32 = 16;
    /// Spawn a child task.
    pub const SPAWN: u32 = 17;
    /// Connect to the parent task.
    pub const PARENT: u32 = 18;
    /// Write to a log.
    pub const LOG: u32 = 19;
    /// Read a line of the developer console.
    pub const DEBUG: u32 = 20;
    /// Play audio (headless: a WAV file).
    pub const PLAY_AUDIO: u32 = 33;
    /// Play video (headless: PNG files).
    pub const FRAMEBUFFER: u32 = 35;
    /// Open and use a storage file.
    pub const STORAGE: u32 = 40;
    /// Share a storage file.
    pub const SHARE: u32 = 41;
}

/// A rule the program broke: the call traps with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault(pub String);

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fault {}

/// Shorthand for a rule broken by a payload.
pub(crate) fn fault(msg: impl Into<String>) -> Fault {
    Fault(msg.into())
}

/// What `ar` returns inside the host: a value, or a trap.
pub(crate) type Res<T> = Result<T, Fault>;

/// The address `offset` bytes past `ptr`, computed without wrapping
/// (spec §1.5): past 2^32 it is out of bounds.
pub(crate) fn at(ptr: u32, offset: u32) -> Res<u32> {
    ptr.checked_add(offset)
        .ok_or_else(|| fault("payload out of bounds"))
}

/// Reads `N` bytes at `ptr`, or faults.
pub(crate) fn bytes<const N: usize>(mem: &GuestMemory<'_>, ptr: u32) -> Res<[u8; N]> {
    mem.read::<[u8; N]>(ptr)
        .map_err(|_| fault("payload out of bounds"))
}

/// Reads a little-endian `u32` at `ptr`.
pub(crate) fn u32_at(mem: &GuestMemory<'_>, ptr: u32) -> Res<u32> {
    bytes::<4>(mem, ptr).map(u32::from_le_bytes)
}

/// Writes `value` at `ptr`.
pub(crate) fn put(mem: &mut GuestMemory<'_>, ptr: u32, value: &[u8]) -> Res<()> {
    let len = u32::try_from(value.len()).map_err(|_| fault("payload out of bounds"))?;
    mem.slice_mut(ptr, len)
        .map_err(|_| fault("payload out of bounds"))?
        .copy_from_slice(value);
    Ok(())
}

/// Writes a little-endian `u32` at `ptr`.
pub(crate) fn put_u32(mem: &mut GuestMemory<'_>, ptr: u32, value: u32) -> Res<()> {
    put(mem, ptr, &value.to_le_bytes())
}

/// The `len` bytes at `ptr`.
pub(crate) fn slice<'m>(mem: &'m GuestMemory<'_>, ptr: u32, len: u32) -> Res<&'m [u8]> {
    mem.slice(ptr, len)
        .map_err(|_| fault("payload out of bounds"))
}

/// A `Text` or `List` header: `(size, data)`.
pub(crate) fn list_at(mem: &GuestMemory<'_>, ptr: u32) -> Res<(u32, u32)> {
    let raw = bytes::<8>(mem, ptr)?;
    Ok((
        u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]),
        u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]),
    ))
}

/// A `Text` the program sends: valid UTF-8, at most `max` bytes.
pub(crate) fn text_at(mem: &GuestMemory<'_>, ptr: u32, max: u32) -> Res<String> {
    text_ref(mem, ptr, max).map(str::to_owned)
}

/// [`text_at`], borrowed from the program's memory rather than copied.
pub(crate) fn text_ref<'m>(mem: &'m GuestMemory<'_>, ptr: u32, max: u32) -> Res<&'m str> {
    let (size, data) = list_at(mem, ptr)?;
    if size > max {
        return Err(fault(format!("text longer than {max} bytes")));
    }
    let raw = slice(mem, data, size)?;
    std::str::from_utf8(raw).map_err(|_| fault("text is not UTF-8"))
}

/// Receives variable-length `value` (of `count` entries) into the `List` or
/// `Text` header at `ptr`, by the capacity rule of spec §4.
pub(crate) fn receive(mem: &mut GuestMemory<'_>, ptr: u32, value: &[u8], count: u32) -> Res<()> {
    let (capacity, data) = list_at(mem, ptr)?;
    if count <= capacity {
        put(mem, data, value)?;
        put_u32(mem, ptr, count)
    } else {
        put_u32(mem, ptr, count)?;
        put_u32(mem, at(ptr, 4)?, 0)
    }
}

/// Receives a `Text`.
pub(crate) fn receive_text(mem: &mut GuestMemory<'_>, ptr: u32, text: &str) -> Res<()> {
    let len = u32::try_from(text.len()).map_err(|_| fault("text too long"))?;
    receive(mem, ptr, text.as_bytes(), len)
}

/// Whether `text` has a control character.
pub(crate) fn has_controls(text: &str) -> bool {
    text.chars().any(char::is_control)
}
