//! The Daku v1.0.0-alpha.0 `ar()` asynchronous batch ABI (`spec/daku.md`).
//!
//! A Daku program imports one function, `daku.ar(size, data, done) ->
//! i32`: it passes a list of 16-byte command records, each acting on a
//! channel the program names, and gets back the channels that are ready.
//! This crate serves that import on wasmtime or wasmi: commands 0–20
//! (system, clock, time zone, user, child tasks on their own threads,
//! logging, the developer console), storage in a sandboxed directory (40,
//! 41, the reads and writes of a call batched, onto io_uring on request
//! and for reads that miss the page cache)
//! and the headless forms of audio (WAV files) and the framebuffer (PNG
//! files).
//!
//! ```no_run
//! use daku_abi::{DakuOptions, Engine, Grants, RuntimeConfig};
//! use wasi_wasmi::WasmiRuntime;
//!
//! let wasm = std::fs::read("app.wasm")?;
//! let config = RuntimeConfig::new();
//! let mut options = DakuOptions::new();
//! options.grants = "spawn,storage".parse::<Grants>()?;
//! options.storage = Some("app-data".into());
//! let runtime = WasmiRuntime::new(config);
//! let outcome = daku_abi::run(&runtime, Engine::Wasmi, config, "app.wasm".as_ref(), &wasm, options)?;
//! println!("{outcome}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod abi;
mod host;
mod info;
mod media;
mod storage;
mod task;

pub use host::{DakuError, DakuOptions, Grants, Program, is_daku_program, run, run_module};
pub use task::Task;

// The types of other crates that appear in this one's API.
pub use wasi_core::runtime::{CallError, RuntimeConfig, Val};
pub use wasi_runner::{Engine, IoBackend, Module, Outcome};

#[cfg(test)]
mod tests;
