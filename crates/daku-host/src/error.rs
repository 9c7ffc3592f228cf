//! Why a Daku program could not be run.

use std::fmt;
use std::io;

/// Why a Daku program could not be run.
#[derive(Debug)]
pub enum DakuError {
    /// The module is not a Daku program, or could not be loaded.
    Load(String),
    /// A file or directory in the options could not be opened.
    Io {
        /// What was being opened.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
}

impl fmt::Display for DakuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DakuError::Load(msg) => f.write_str(msg),
            DakuError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for DakuError {}
