//! The driver ABI: what the host and a driver module exchange (spec/wadi.md
//! §1): the import module, the transfer buffer's sizes, scope kinds, the
//! `query` record, errno returns, and the fuel of each call (§3.3).

use wasi_core::Errno;
use wasi_core::mount::path::hash;
use wasi_core::types::{Filestat, Filetype};

/// The import module of the host functions drivers call.
pub const IMPORT_MODULE: &str = "wadi";

/// Size of the `query` record header.
pub const QUERY_HEADER: usize = 56;

/// Fuel given to every call into a driver (spec/wadi.md §3.3).
pub const DRIVER_FUEL: u64 = 100_000_000;

/// The most data moved by one application call.
pub const MAX_TRANSFER: u32 = 1 << 20;

/// The data size of the transfer buffer the host allocates at load time.
pub const INITIAL_TRANSFER: u32 = 64 << 10;

/// Room reserved in the transfer buffer for a path and its NUL.
pub const PATH_ROOM: u32 = 4 << 10;

/// What a registered scope is (spec/wadi.md §1.2); the values are preview 1
/// `filetype` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One seekable file reported as a block device.
    Block,
    /// One stream.
    Char,
    /// A hierarchy.
    Dir,
    /// One seekable file reported as a regular file.
    File,
}

impl Kind {
    /// The kind with ABI value `value`.
    pub fn from_abi(value: i32) -> Option<Self> {
        Some(match value {
            1 => Kind::Block,
            2 => Kind::Char,
            3 => Kind::Dir,
            4 => Kind::File,
            _ => return None,
        })
    }

    /// The kind of a file type reported by `query`.
    pub fn from_filetype(ft: Filetype) -> Option<Self> {
        Self::from_abi(i32::from(ft.0))
    }

    /// The preview 1 file type the application sees.
    pub fn filetype(self) -> Filetype {
        match self {
            Kind::Block => Filetype::BLOCK_DEVICE,
            Kind::Char => Filetype::CHARACTER_DEVICE,
            Kind::Dir => Filetype::DIRECTORY,
            Kind::File => Filetype::REGULAR_FILE,
        }
    }

    /// Whether files of this kind have positions (seek, pread, pwrite).
    pub fn seekable(self) -> bool {
        matches!(self, Kind::Block | Kind::File)
    }

    /// The name the control file lists.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Block => "block",
            Kind::Char => "char",
            Kind::Dir => "dir",
            Kind::File => "file",
        }
    }
}

/// A directory entry of a `query` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its kind.
    pub kind: Kind,
    /// Its name, one component.
    pub name: String,
}

/// A decoded `query` record (spec/wadi.md §1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The file's kind.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Inode number, 0 when the host chooses.
    pub ino: u64,
    /// Access time.
    pub atim: u64,
    /// Modification time.
    pub mtim: u64,
    /// Status change time.
    pub ctim: u64,
    /// Directory entries.
    pub entries: Vec<Entry>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

impl Stat {
    /// Decodes a record; `EIO` when it is malformed.
    pub fn parse(bytes: &[u8]) -> Result<Self, Errno> {
        if bytes.len() < QUERY_HEADER {
            return Err(Errno::IO);
        }
        let kind = Kind::from_abi(i32::from(bytes[0])).ok_or(Errno::IO)?;
        let count = u32_at(bytes, 48) as usize;
        if kind != Kind::Dir && count != 0 {
            return Err(Errno::IO);
        }
        let mut entries = Vec::with_capacity(count.min(1024));
        let mut at = QUERY_HEADER;
        for _ in 0..count {
            if bytes.len() < at + 8 {
                return Err(Errno::IO);
            }
            let kind = Kind::from_abi(i32::from(bytes[at])).ok_or(Errno::IO)?;
            let len = u32_at(bytes, at + 4) as usize;
            let name = bytes.get(at + 8..at + 8 + len).ok_or(Errno::IO)?;
            let name = core::str::from_utf8(name).map_err(|_| Errno::IO)?;
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                return Err(Errno::IO);
            }
            entries.push(Entry {
                kind,
                name: name.to_string(),
            });
            at += 8 + len;
        }
        Ok(Stat {
            kind,
            size: u64_at(bytes, 8),
            ino: u64_at(bytes, 16),
            atim: u64_at(bytes, 24),
            mtim: u64_at(bytes, 32),
            ctim: u64_at(bytes, 40),
            entries,
        })
    }

    /// The preview 1 filestat of this file, seen at `path` on device `dev`.
    pub fn filestat(&self, dev: u64, path: &str) -> Filestat {
        Filestat {
            dev,
            ino: if self.ino == 0 { hash(path) } else { self.ino },
            size: self.size,
            atim: self.atim,
            mtim: self.mtim,
            ctim: self.ctim,
            ..Filestat::new(self.kind.filetype())
        }
    }
}

/// Encodes a `query` record; drivers written in Rust (and tests) use it.
pub fn encode_stat(stat: &Stat) -> Vec<u8> {
    let mut out = vec![0u8; QUERY_HEADER];
    out[0] = stat.kind.filetype().0;
    out[8..16].copy_from_slice(&stat.size.to_le_bytes());
    out[16..24].copy_from_slice(&stat.ino.to_le_bytes());
    out[24..32].copy_from_slice(&stat.atim.to_le_bytes());
    out[32..40].copy_from_slice(&stat.mtim.to_le_bytes());
    out[40..48].copy_from_slice(&stat.ctim.to_le_bytes());
    out[48..52].copy_from_slice(&(stat.entries.len() as u32).to_le_bytes());
    for entry in &stat.entries {
        out.push(entry.kind.filetype().0);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&(entry.name.len() as u32).to_le_bytes());
        out.extend_from_slice(entry.name.as_bytes());
    }
    out
}

/// The errno a driver's `-e` return stands for; `EIO` when out of range.
pub fn errno_of(ret: i32) -> Errno {
    match ret.checked_neg() {
        Some(e @ 1..=76) => Errno(e as u16),
        _ => Errno::IO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_round_trip() {
        let stat = Stat {
            kind: Kind::Dir,
            size: 3,
            ino: 0,
            atim: 1,
            mtim: 2,
            ctim: 3,
            entries: vec![
                Entry {
                    kind: Kind::File,
                    name: "a".into(),
                },
                Entry {
                    kind: Kind::Dir,
                    name: "sub".into(),
                },
            ],
        };
        let bytes = encode_stat(&stat);
        assert_eq!(bytes.len(), 56 + 9 + 11);
        assert_eq!(Stat::parse(&bytes), Ok(stat.clone()));
        assert_eq!(Stat::parse(&bytes[..70]), Err(Errno::IO));
        let mut bad = bytes.clone();
        bad[0] = 7;
        assert_eq!(Stat::parse(&bad), Err(Errno::IO));
        let mut dotdot = encode_stat(&Stat {
            entries: vec![Entry {
                kind: Kind::File,
                name: "..".into(),
            }],
            ..stat.clone()
        });
        assert_eq!(Stat::parse(&dotdot), Err(Errno::IO));
        dotdot[0] = 4;
        assert_eq!(
            Stat::parse(&dotdot),
            Err(Errno::IO),
            "files have no entries"
        );
        let fs = stat.filestat(9, "/dev/ram");
        assert_eq!((fs.dev, fs.nlink, fs.size), (9, 1, 3));
        assert_eq!(fs.ino, hash("/dev/ram"));
    }

    #[test]
    fn errnos() {
        assert_eq!(errno_of(-44), Errno::NOENT);
        assert_eq!(errno_of(-76), Errno::NOTCAPABLE);
        assert_eq!(errno_of(-77), Errno::IO);
        assert_eq!(errno_of(0), Errno::IO);
        assert_eq!(errno_of(i32::MIN), Errno::IO);
    }
}
