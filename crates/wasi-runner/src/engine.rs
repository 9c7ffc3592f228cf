//! The engines, and the one place one is chosen: everything else in the
//! workspace (WADI, Daku, WATER, the HTTP server) is generic over
//! `wasi_core::runtime::Runtime` and is handed the chosen engine's runtime
//! through [`Engine::with_runtime`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use wasi_core::runtime::{Runtime, RuntimeConfig};
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// The WebAssembly engines a module can run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Cranelift-compiled, via wasmtime.
    #[default]
    Wasmtime,
    /// The wasmi interpreter.
    Wasmi,
}

/// Code generic over the engine, which [`Engine::with_runtime`] runs on the
/// chosen engine's runtime: the way an embedder (or the runner) reaches an
/// extension written against `Runtime` without naming an engine itself.
///
/// ```
/// use wasi_core::runtime::{Imports, Instance, Runtime, RuntimeConfig, Val};
/// use wasi_runner::{Engine, WithRuntime};
///
/// /// Calls a module's `answer` export on whichever engine is chosen.
/// struct Answer<'a>(&'a [u8]);
///
/// impl WithRuntime for Answer<'_> {
///     type Output = Val;
///
///     fn run<R: Runtime>(self, runtime: R) -> Val {
///         let mut instance = runtime.instantiate(self.0, &Imports::new(), ()).unwrap();
///         let mut out = [Val::I32(0)];
///         instance.call("answer", &[], &mut out).unwrap();
///         out[0]
///     }
/// }
///
/// let wasm = wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 42))"#)?;
/// for engine in Engine::ALL {
///     let answer = engine.with_runtime(RuntimeConfig::new(), None, Answer(&wasm))?;
///     assert_eq!(answer, Val::I32(42));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait WithRuntime {
    /// What the code returns.
    type Output;

    /// Runs the code on `runtime`.
    fn run<R: Runtime>(self, runtime: R) -> Self::Output;
}

/// An engine that could not be set up (wasmtime refusing its
/// configuration, or the thread its time limits need).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up {engine}")]
pub struct EngineError {
    /// The engine.
    pub engine: Engine,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl Engine {
    /// Every engine.
    pub const ALL: [Engine; 2] = [Engine::Wasmtime, Engine::Wasmi];

    /// The name used on command lines: `wasmtime` or `wasmi`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Wasmtime => "wasmtime",
            Engine::Wasmi => "wasmi",
        }
    }

    /// Creates this engine's runtime for `config` and runs `code` on it.
    /// On wasmtime, compiled modules are cached in `cache_dir` when given
    /// (a cache that cannot be set up is skipped without a word, so that
    /// it never changes what a run prints); wasmi compiles lazily and has
    /// no cache.
    pub fn with_runtime<W: WithRuntime>(
        self,
        config: RuntimeConfig,
        cache_dir: Option<&Path>,
        code: W,
    ) -> Result<W::Output, EngineError> {
        Ok(match self {
            Engine::Wasmtime => {
                let cached =
                    cache_dir.and_then(|dir| WasmtimeRuntime::with_cache_dir(config, dir).ok());
                let runtime = match cached {
                    Some(runtime) => runtime,
                    None => WasmtimeRuntime::new(config).map_err(|error| EngineError {
                        engine: self,
                        source: error.into(),
                    })?,
                };
                code.run(runtime)
            }
            Engine::Wasmi => code.run(WasmiRuntime::new(config)),
        })
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    /// Parses `wasmtime` or `wasmi`; any other word is an error naming both.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|engine| engine.name() == s)
            .ok_or_else(|| format!("unknown engine `{s}` (expected wasmtime or wasmi)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for engine in Engine::ALL {
            assert_eq!(engine.name().parse::<Engine>(), Ok(engine));
        }
        assert_eq!(
            "v8".parse::<Engine>(),
            Err("unknown engine `v8` (expected wasmtime or wasmi)".into())
        );
    }

    #[test]
    fn the_runtime_is_the_named_engine() {
        struct Name;
        impl WithRuntime for Name {
            type Output = &'static str;
            fn run<R: Runtime>(self, runtime: R) -> &'static str {
                runtime.engine_name()
            }
        }
        for engine in Engine::ALL {
            let name = engine
                .with_runtime(RuntimeConfig::new(), None, Name)
                .unwrap();
            assert_eq!(name, engine.name());
        }
    }
}
