#![doc = include_str!("../README.md")]

pub mod abi;
pub mod budget;
pub mod fdtable;
pub mod memory;
pub mod mount;
pub mod outcome;
pub mod runtime;
pub mod sync;
pub mod system;
pub mod trace;
pub mod types;
pub mod vfs;
pub mod wasm_file;

pub use abi::{IntoWasm, ProcExit};
pub use memory::GuestMemory;
pub use system::{DirentWriter, StringList, System};
pub use trace::Tracer;
pub use types::Errno;
