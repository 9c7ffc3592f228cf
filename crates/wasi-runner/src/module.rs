//! Reading a module: binary `.wasm`, or text `.wat` compiled to binary.

use crate::RunError;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasi_core::runtime::{Imports, LoadError, Runtime};
use wasi_core::wasm_file::WasmFile;

/// A module read once, ready to be run any number of times: its binary
/// form and the path it came from, which is the guest's `argv[0]` and names
/// it in diagnostics. Cloning is cheap (the bytes are shared).
///
/// The text format is compiled to binary when the module is read, so a text
/// module with a syntax error fails here, with a one-line message; whether
/// the binary is a valid module is for the engine to say when the module
/// is instantiated.
///
/// A binary file is read only up to its code section
/// ([`head`](Self::head)), which holds everything the runner checks
/// before compiling (imports, function count, exports); the rest is read
/// when an engine needs it ([`wasm`](Self::wasm)). On wasmtime with a cache
/// of compiled modules, a large module that has not changed since it was
/// last run is loaded without reading the rest at all (see
/// `wasi-wasmtime`'s cache). The file is read, never mapped: a truncation by
/// another process makes the read fail, never the host fault.
#[derive(Clone)]
pub struct Module {
    path: PathBuf,
    source: Source,
}

/// Where a module's bytes are.
#[derive(Clone)]
enum Source {
    /// In memory: text compiled to binary, or bytes given.
    Bytes(Arc<[u8]>),
    /// In a binary file, read as far as needed.
    File(Arc<WasmFile>),
}

impl Module {
    /// Reads the module at `path`, binary or text (a binary one only up to
    /// its code section, see [`Module`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, RunError> {
        let path = path.as_ref();
        let read = |source| RunError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read)?;
        let mut bytes = Vec::new();
        (&mut file).take(4).read_to_end(&mut bytes).map_err(read)?;
        if bytes == b"\0asm" {
            let file = WasmFile::new(path, file).map_err(read)?;
            return Ok(Self {
                path: path.to_owned(),
                source: Source::File(Arc::new(file)),
            });
        }
        file.read_to_end(&mut bytes).map_err(read)?;
        Self::from_bytes(path, bytes)
    }

    /// The module in `bytes`, binary or text, named `path` (which need not
    /// exist: it is the guest's `argv[0]` and the name in diagnostics).
    pub fn from_bytes(
        path: impl Into<PathBuf>,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<Self, RunError> {
        let path = path.into();
        let bytes = bytes.into();
        if bytes.starts_with(b"\0asm") {
            return Ok(Self {
                path,
                source: Source::Bytes(bytes.into()),
            });
        }
        match wat::Parser::new().parse_bytes(Some(&path), &bytes) {
            Ok(wasm) => Ok(Self {
                source: Source::Bytes(wasm.into()),
                path,
            }),
            Err(error) => Err(RunError::Text {
                message: one_line(&error.to_string()),
                path,
            }),
        }
    }

    /// The path the module was read from, or named with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The module in binary form up to its code section at least (all of
    /// it for a module in memory or a small file): its types, imports,
    /// function declarations, memories and exports, what is checked before
    /// compiling ([`is_daku_program`](crate::is_daku_program),
    /// `RuntimeConfig::check_module`).
    pub fn head(&self) -> &[u8] {
        match &self.source {
            Source::Bytes(wasm) => wasm,
            Source::File(file) => file.head(),
        }
    }

    /// The whole module in binary form, the rest of its file read on the
    /// first call; fails if the file cannot be read or was rewritten since
    /// its head was read.
    pub fn wasm(&self) -> Result<&[u8], RunError> {
        match &self.source {
            Source::Bytes(wasm) => Ok(wasm),
            Source::File(file) => file.wasm().map_err(|source| RunError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Compiles and links the module on `runtime` (`Runtime::prepare`, or
    /// `prepare_file` for a file, which an engine with a cache loads
    /// without reading the whole file).
    pub(crate) fn prepare<R: Runtime, D: Send + 'static>(
        &self,
        runtime: &R,
        imports: &Imports<D>,
    ) -> Result<R::Prepared<D>, LoadError> {
        match &self.source {
            Source::Bytes(wasm) => runtime.prepare(wasm, imports),
            Source::File(file) => runtime.prepare_file(file, imports),
        }
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Module");
        debug.field("path", &self.path);
        match &self.source {
            Source::Bytes(wasm) => debug.field("bytes", &wasm.len()),
            Source::File(file) => debug.field("head", &file.head().len()),
        };
        debug.finish()
    }
}

/// Folds a text-format error (message, then a `--> file:line:col` line and
/// a source snippet) into `file:line:col: message`.
fn one_line(text: &str) -> String {
    let mut lines = text.lines();
    let message = lines.next().unwrap_or_default();
    match lines.find_map(|line| line.trim_start().strip_prefix("--> ")) {
        Some(location) => format!("{location}: {message}"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_is_kept_and_text_compiled() {
        let text = Module::from_bytes("m.wat", "(module)").unwrap();
        assert_eq!(text.wasm().unwrap(), b"\0asm\x01\0\0\0");
        assert_eq!(text.path(), Path::new("m.wat"));
        let binary = Module::from_bytes("m.wasm", text.wasm().unwrap()).unwrap();
        assert_eq!(binary.wasm().unwrap(), text.wasm().unwrap());
        assert_eq!(binary.head(), binary.wasm().unwrap());
    }

    #[test]
    fn a_large_binary_file_is_read_to_its_code_section_then_whole() {
        let mut wasm = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        let head = wasm.len() - 6; // the code section: id, size, 1 body of 3
        let pad = usize::try_from(wasi_core::wasm_file::READ_WHOLE_MAX).unwrap();
        // A custom section "pad" after the code: id 0, size as 4-byte LEB128.
        let size = u32::try_from(4 + pad).unwrap();
        wasm.extend([
            0,
            0x80 | (size & 0x7f) as u8,
            0x80 | (size >> 7 & 0x7f) as u8,
        ]);
        wasm.extend([0x80 | (size >> 14 & 0x7f) as u8, (size >> 21) as u8]);
        wasm.extend(b"\x03pad");
        wasm.resize(wasm.len() + pad, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, &wasm).unwrap();
        let module = Module::from_file(&path).unwrap();
        assert_eq!(module.head(), &wasm[..head]);
        assert_eq!(module.wasm().unwrap(), &wasm[..]);
        assert_eq!(module.clone().wasm().unwrap().len(), wasm.len());
        assert_eq!(module.path(), path);
    }

    #[test]
    fn files_not_starting_with_the_magic_are_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wat");
        std::fs::write(&path, "(module)").unwrap();
        let module = Module::from_file(&path).unwrap();
        assert_eq!(module.wasm().unwrap(), b"\0asm\x01\0\0\0");
        std::fs::write(&path, "\0as").unwrap();
        let error = Module::from_file(&path).unwrap_err();
        assert!(matches!(error, RunError::Text { .. }), "{error}");
    }

    #[test]
    fn text_errors_are_one_line_with_their_location() {
        let error = Module::from_bytes("broken.wat", "(module (func $f (result i32)").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(
                "broken.wat is neither a wasm binary nor valid text format: broken.wat:1:"
            ),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }
}
