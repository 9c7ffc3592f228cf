#![doc = include_str!("../README.md")]

mod devices;
mod diagnostics;
mod error;
mod module;
mod options;
mod outcome;
mod runner;
mod serve;

pub use devices::{DRIVER_CONFIG, Devices};
pub use diagnostics::{escape_controls, report};
pub use error::RunError;
pub use module::Module;
pub use options::{DEFAULT_MAX_FUNCTIONS, Engine, RunOptions, Trace, default_cache_dir};
pub use outcome::{ERROR_EXIT_CODE, Outcome, TIMEOUT_EXIT_CODE, TRAP_EXIT_CODE};
pub use runner::Runner;
pub use serve::{ServeMode, ServeOptions, Server};
pub use wasi_cloud_fs::http::ServeConfig;

// The types of other crates that appear in this one's API.
pub use wadi_devices::abi::DriverSpec;
pub use wasi_cloud_fs::kv::{KvConfig, default_store_path as default_kv_store};
pub use wasi_core::runtime::{CallError, LoadError};
pub use wasi_unix::{AddrRule, IoBackend};

/// The worked examples of `EXTENDING.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../EXTENDING.md")]
pub struct ExtendingExamples;
