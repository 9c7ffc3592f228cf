#![doc = include_str!("../README.md")]

mod connections;
mod daku;
mod devices;
mod diagnostics;
mod engine;
mod entry;
mod error;
mod manifest;
mod module;
mod options;
mod routes;
mod runner;
mod serve;
mod stack;
mod syntax;
mod trace;

pub use daku::run_daku;
pub use devices::{DRIVER_CONFIG, Devices, PreparedDevices};
pub use diagnostics::{escape_controls, report};
pub use engine::{Engine, EngineError, WithRuntime};
pub use error::RunError;
pub use manifest::{Manifest, ManifestError, ManifestModule, ModuleKind};
pub use module::Module;
pub use options::{DEFAULT_MAX_FUNCTIONS, GuestSystem, RunOptions, Trace, default_cache_dir};
pub use routes::Route;
pub use runner::Runner;
pub use serve::{ServeMode, ServeOptions, Server};
pub use stack::GuestSystems;
pub use syntax::{parse_bytes, split_dir_spec, split_env_pair};

// The types of other crates that appear in this one's API.
pub use daku_host::{DakuError, DakuOptions, Grants, is_daku_program};
pub use wadi_devices::driver_spec::DriverSpec;
pub use wasi_cloud_fs::kv::{KvConfig, default_store_path as default_kv_store};
pub use wasi_core::outcome::{ERROR_EXIT_CODE, Outcome, TIMEOUT_EXIT_CODE, TRAP_EXIT_CODE};
pub use wasi_core::runtime::{CallError, LoadError, Runtime, RuntimeConfig, Val};
pub use wasi_http_server::{DEFAULT_TIMEOUT, DEFAULT_WEBSOCKET_IDLE, ServeConfig, WebSocketConfig};
pub use wasi_unix::{
    AUTO_URING_POLL_MIN, AddrRule, IoBackend, features, guests_share, raise_nofile_limit,
};

/// The worked examples of `EXTENDING.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../EXTENDING.md")]
pub struct ExtendingExamples;
