//! A host for Daku programs, behind the Daku v1.0.0-alpha.0 `ar()`
//! asynchronous batch ABI (`spec/daku.md`; its records are [`abi`]).
//!
//! A Daku program imports one function, `daku.ar(size, data, done) ->
//! i32`: it passes a list of 16-byte command records, each acting on a
//! channel the program names, and gets back the channels that are ready.
//! This crate serves that import on any engine behind `wasi-core`'s
//! [`Runtime`] (the embedder chooses it and hands its runtime in):
//! commands 0–20 (system, clock, time zone, user, child tasks on their own
//! threads, logging, the developer console), storage in a sandboxed
//! directory (40, 41, the reads and writes of a call batched, onto
//! io_uring on request and for reads that miss the page cache) and the
//! headless forms of audio (WAV files) and the framebuffer (PNG files).
//!
//! ```no_run
//! use daku_host::{DakuOptions, Grants, RuntimeConfig};
//! use wasi_wasmi::WasmiRuntime;
//!
//! let wasm = std::fs::read("app.wasm")?;
//! let mut options = DakuOptions::new();
//! options.grants = "spawn,storage".parse::<Grants>()?;
//! options.storage = Some("app-data".into());
//! let runtime = WasmiRuntime::new(RuntimeConfig::new());
//! let outcome = daku_host::run(&runtime, "app.wasm".as_ref(), &wasm, options)?;
//! println!("{outcome}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The modules, each using only those above it in this list:
//!
//! | Module | What |
//! | --- | --- |
//! | `abi` | the numbers and byte layouts of the spec |
//! | `options`, `error` | [`DakuOptions`], [`Grants`]; [`DakuError`] |
//! | `charge` | what each buffer costs the run's budget of host memory, and the trap past it |
//! | `outputs` | files created beneath the output directory, never through a symbolic link |
//! | `info`, `media`, `storage` | the answers of commands 0–16 and the profile; WAV and PNG; storage files and the batch of their reads and writes |
//! | `event` | what arrives at a task from other threads |
//! | `run_state` | what the tasks of a run share |
//! | `family` | parents and children: links, stop signals, a new task's parts, the `Spawner` |
//! | `channels` | a task's channels and its ready queue |
//! | `commands` | what each command does, one module per kind |
//! | `task` | [`Task`] and its `ar` call: records, events, reports |
//! | `loader` | loading a task's module and calling its entry point |
//! | `children` | the runtime and compiled modules of child tasks |
//! | `program` | [`run`] and [`Program`] |

pub mod abi;
mod channels;
mod charge;
mod children;
mod commands;
mod error;
mod event;
mod family;
mod info;
mod loader;
mod media;
mod options;
mod outputs;
mod program;
mod run_state;
mod storage;
mod task;

pub use error::DakuError;
pub use loader::is_daku_program;
pub use options::{DEFAULT_MAX_FDS, DakuOptions, Grants};
pub use program::{Program, run};
pub use task::Task;

// The types of other crates that appear in this one's API.
pub use wasi_core::budget::HostBudget;
pub use wasi_core::outcome::Outcome;
pub use wasi_core::runtime::{CallError, Runtime, RuntimeConfig, Val};
pub use wasi_unix::{FdPool, IoBackend};

#[cfg(test)]
mod tests;
