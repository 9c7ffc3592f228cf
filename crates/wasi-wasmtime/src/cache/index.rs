//! The fingerprint index: `DIR/index/SHA256(canonical path)`, one entry per
//! module file, mapping the file's stat to the SHA-256 of its bytes (the
//! rule of using and writing entries is in the docs of `cache.rs`).
//!
//! An entry is a small file of three parts:
//!
//! ```text
//! wasi-wasmtime module index 1
//! SHA256-HEX DEV INO SIZE MTIME-NS CTIME-NS
//! CANONICAL-PATH (its bytes, to the end of the file)
//! ```
//!
//! An entry that does not parse, or names another path (a collision of the
//! file names, or a file copied in), is no entry.

use super::{Sha, store};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use wasi_core::wasm_file::FileStat;

/// The first line of every entry: a format of another version is no entry.
const MAGIC: &str = "wasi-wasmtime module index 1";

/// Entries longer than this are damaged (a path is at most `PATH_MAX`).
const MAX_ENTRY: u64 = 64 << 10;

/// The index entry of one module path.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The module's canonical path, as bytes.
    key: Vec<u8>,
    /// `DIR/index/SHA256(key)`.
    file: PathBuf,
}

impl Slot {
    /// The entry of the module at `path`, in the cache at `dir`; `None`
    /// if the path has no canonical form (it was removed meanwhile).
    pub(crate) fn of(dir: &Path, path: &Path) -> Option<Self> {
        let key = path_bytes(&std::fs::canonicalize(path).ok()?);
        let mut name = String::with_capacity(64);
        for byte in Sha256::digest(&key) {
            let _ = write!(name, "{byte:02x}");
        }
        Some(Self {
            key,
            file: dir.join("index").join(name),
        })
    }

    /// The SHA-256 the entry holds, if it is for this path and `stat`.
    pub(crate) fn lookup(&self, stat: &FileStat) -> Option<Sha> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(&self.file)
            .ok()?
            .take(MAX_ENTRY)
            .read_to_end(&mut bytes)
            .ok()?;
        let (sha, recorded, key) = parse(&bytes)?;
        (key == self.key && recorded == *stat).then_some(sha)
    }

    /// Records that the file with `stat` has the SHA-256 `sha`, replacing
    /// the entry whole (a temporary file renamed into place).
    pub(crate) fn store(&self, stat: &FileStat, sha: &Sha) -> std::io::Result<()> {
        let mut line = String::with_capacity(MAGIC.len() + 160);
        line.push_str(MAGIC);
        line.push('\n');
        for byte in sha {
            let _ = write!(line, "{byte:02x}");
        }
        let _ = writeln!(
            line,
            " {} {} {} {} {}",
            stat.dev, stat.ino, stat.size, stat.mtime_ns, stat.ctime_ns
        );
        let mut entry = line.into_bytes();
        entry.extend_from_slice(&self.key);
        store(&self.file, &entry)
    }

    /// The entry's file.
    #[cfg(test)]
    pub(crate) fn file(&self) -> &Path {
        &self.file
    }
}

/// An entry's SHA-256, stat and path bytes.
fn parse(bytes: &[u8]) -> Option<(Sha, FileStat, &[u8])> {
    let rest = bytes.strip_prefix(MAGIC.as_bytes())?.strip_prefix(b"\n")?;
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let (line, key) = (
        std::str::from_utf8(&rest[..newline]).ok()?,
        &rest[newline + 1..],
    );
    let mut fields = line.split(' ');
    let hex = fields.next()?;
    if hex.len() != 64 {
        return None;
    }
    let mut sha = [0u8; 32];
    for (byte, pair) in sha.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    let stat = FileStat {
        dev: fields.next()?.parse().ok()?,
        ino: fields.next()?.parse().ok()?,
        size: fields.next()?.parse().ok()?,
        mtime_ns: fields.next()?.parse().ok()?,
        ctime_ns: fields.next()?.parse().ok()?,
    };
    if fields.next().is_some() || key.is_empty() {
        return None;
    }
    Some((sha, stat, key))
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat() -> FileStat {
        FileStat {
            dev: 2049,
            ino: 1234567,
            size: 68_860_682,
            mtime_ns: 1_765_000_000_123_456_789,
            ctime_ns: 1_765_000_001_987_654_321,
        }
    }

    fn slot(dir: &Path) -> (PathBuf, Slot) {
        let module = dir.join("m\nodd name.wasm");
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        let slot = Slot::of(&dir.join("cache"), &module).unwrap();
        (module, slot)
    }

    #[test]
    fn an_entry_is_found_for_its_path_and_every_stat_field() {
        let dir = tempfile::tempdir().unwrap();
        let (_, slot) = slot(dir.path());
        let sha = [0xab; 32];
        assert_eq!(slot.lookup(&stat()), None);
        slot.store(&stat(), &sha).unwrap();
        assert_eq!(slot.lookup(&stat()), Some(sha));
        let changes: [fn(&mut FileStat); 5] = [
            |s| s.dev += 1,
            |s| s.ino += 1,
            |s| s.size -= 1,
            |s| s.mtime_ns += 1,
            |s| s.ctime_ns += 1,
        ];
        for change in changes {
            let mut other = stat();
            change(&mut other);
            assert_eq!(slot.lookup(&other), None, "{other:?}");
        }
    }

    #[test]
    fn the_same_file_by_another_path_has_the_same_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (module, slot) = slot(dir.path());
        slot.store(&stat(), &[1; 32]).unwrap();
        let indirect = dir.path().join("sub/../").join(module.file_name().unwrap());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let again = Slot::of(&dir.path().join("cache"), &indirect).unwrap();
        assert_eq!(again.file(), slot.file());
        assert_eq!(again.lookup(&stat()), Some([1; 32]));
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (_, slot) = slot(dir.path());
        slot.store(&stat(), &[7; 32]).unwrap();
        let good = std::fs::read(slot.file()).unwrap();
        let mut damaged = vec![
            Vec::new(),
            good[..good.len() / 2].to_vec(),
            good[..good.len() - 1].to_vec(),
            good.iter()
                .map(|&b| if b == b' ' { b'x' } else { b })
                .collect(),
            b"garbage\n\0\xff".to_vec(),
            good.replace_first(b"index 1", b"index 2"),
            good.replace_first(b"\n", b"\r\n"),
        ];
        // A path that is not this one (an entry copied from elsewhere).
        let mut foreign = good.clone();
        foreign.extend_from_slice(b"/elsewhere");
        damaged.push(foreign);
        // An extra field.
        damaged.push(good.replace_first(b"\n/", b" 5\n/"));
        for bytes in damaged {
            std::fs::write(slot.file(), &bytes).unwrap();
            assert_eq!(
                slot.lookup(&stat()),
                None,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
        // A directory where the entry should be.
        std::fs::remove_file(slot.file()).unwrap();
        std::fs::create_dir(slot.file()).unwrap();
        assert_eq!(slot.lookup(&stat()), None);
    }

    #[test]
    fn entries_are_replaced_whole_by_a_rename() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (_, slot) = slot(dir.path());
        slot.store(&stat(), &[1; 32]).unwrap();
        // A reader holding the old entry open keeps reading it whole.
        let old = std::fs::File::open(slot.file()).unwrap();
        let old_ino = old.metadata().unwrap().ino();
        let mut newer = stat();
        newer.ctime_ns += 1;
        slot.store(&newer, &[2; 32]).unwrap();
        assert_ne!(std::fs::metadata(slot.file()).unwrap().ino(), old_ino);
        let held = std::io::read_to_string(old).unwrap();
        assert!(held.contains(&"01".repeat(32)), "{held}");
        assert_eq!(slot.lookup(&newer), Some([2; 32]));
        assert_eq!(slot.lookup(&stat()), None);
        // Nothing but the entry is left in the directory.
        let names: Vec<_> = std::fs::read_dir(slot.file().parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, [slot.file().file_name().unwrap()]);
    }

    trait ReplaceFirst {
        fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl ReplaceFirst for Vec<u8> {
        fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self
                .windows(from.len())
                .position(|w| w == from)
                .expect("present");
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }
}
