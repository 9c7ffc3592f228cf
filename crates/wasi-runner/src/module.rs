//! Reading a module: binary `.wasm`, or text `.wat` compiled to binary.

use crate::RunError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A module read once, ready to be run any number of times: its binary
/// form and the path it came from, which is the guest's `argv[0]` and names
/// it in diagnostics. Cloning is cheap (the bytes are shared).
///
/// The text format is compiled to binary when the module is read, so a text
/// module with a syntax error fails here, with a one-line message; whether
/// the binary is a valid module is for the engine to say when the module
/// is instantiated.
#[derive(Clone)]
pub struct Module {
    path: PathBuf,
    wasm: Arc<[u8]>,
}

impl Module {
    /// Reads the module at `path`, binary or text.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, RunError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| RunError::Read {
            path: path.to_owned(),
            source,
        })?;
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
                wasm: bytes.into(),
            });
        }
        match wat::Parser::new().parse_bytes(Some(&path), &bytes) {
            Ok(wasm) => Ok(Self {
                wasm: wasm.into(),
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

    /// The module in binary form.
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .field("bytes", &self.wasm.len())
            .finish()
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
        assert_eq!(text.wasm(), b"\0asm\x01\0\0\0");
        assert_eq!(text.path(), Path::new("m.wat"));
        let binary = Module::from_bytes("m.wasm", text.wasm()).unwrap();
        assert_eq!(binary.wasm(), text.wasm());
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
