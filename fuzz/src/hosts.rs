//! The three hosts a sequence runs on: our `UnixSystem` on wasmtime and on
//! wasmi, and wasmtime-wasi's preview 1 host on wasmtime.
//!
//! Our host is linked as `WasmtimeRuntime`/`WasmiRuntime` (and so wasirun)
//! link it, with the adapters' `add_to_linker_with_memory`; wasmtime-wasi
//! with `p1::add_to_linker_sync`, as in `benches/`. The guest
//! ([`crate::guest::trampolines`]) is compiled once per engine; each
//! sequence gets fresh instances, each in its own scratch tree, with the same
//! arguments, environment and empty standard input, and standard output and
//! error captured.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use wasi_unix::UnixSystem;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use crate::calls::{Func, IMPORTS};
use crate::guest;
use crate::tree::PREOPENS;

/// The guest's arguments on every host.
pub const ARGS: [&str; 2] = ["difffuzz", "--flag"];

/// The guest's environment on every host.
pub const ENV: [(&str, &str); 1] = [("FUZZ", "1")];

/// A host of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `UnixSystem` on wasmtime.
    OursWasmtime,
    /// `UnixSystem` on wasmi.
    OursWasmi,
    /// wasmtime-wasi's preview 1 host.
    WasmtimeWasi,
}

impl Kind {
    /// Every host, in the order they are run and reported.
    pub const ALL: [Kind; 3] = [Kind::OursWasmtime, Kind::OursWasmi, Kind::WasmtimeWasi];

    /// The host's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::OursWasmtime => "ours/wasmtime",
            Kind::OursWasmi => "ours/wasmi",
            Kind::WasmtimeWasi => "wasmtime-wasi",
        }
    }

    /// A directory name for the host's scratch tree.
    pub fn dir_name(self) -> &'static str {
        match self {
            Kind::OursWasmtime => "ours-wasmtime",
            Kind::OursWasmi => "ours-wasmi",
            Kind::WasmtimeWasi => "wasmtime-wasi",
        }
    }
}

/// How one call ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It returned this errno (0 for success).
    Errno(u16),
    /// The guest trapped (the host refused the call by trapping).
    Trap(String),
    /// The host panicked.
    Panic(String),
}

/// What a guest wrote to its standard output and error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Streams {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// An instance of the guest on one host.
pub trait Host {
    /// The guest's linear memory.
    fn memory(&mut self) -> &mut [u8];
    /// Calls the trampoline of `func` with `args` (`i32` parameters take
    /// the low 32 bits).
    fn call(&mut self, func: Func, args: &[u64]) -> Outcome;
    /// Drops the instance and returns what it wrote to its standard streams.
    fn finish(self: Box<Self>) -> io::Result<Streams>;
}

/// Our host's store data.
struct Ours<M> {
    system: UnixSystem,
    memory: Option<M>,
}

/// Read ends of the pipes our host's standard output and error write to.
struct Pipes {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl Pipes {
    fn drain(self) -> io::Result<Streams> {
        let read = |fd: OwnedFd| -> io::Result<Vec<u8>> {
            let mut bytes = Vec::new();
            std::fs::File::from(fd).read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        Ok(Streams {
            stdout: read(self.stdout)?,
            stderr: read(self.stderr)?,
        })
    }
}

/// Our host for a scratch tree: empty standard input, standard output and
/// error to pipes, the preopens of [`PREOPENS`].
fn unix_system(scratch: &Path) -> Result<(UnixSystem, Pipes)> {
    let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC);
    let (stdin, stdin_writer) = pipe()?;
    drop(stdin_writer);
    let (stdout_reader, stdout) = pipe()?;
    let (stderr_reader, stderr) = pipe()?;
    let mut builder = UnixSystem::builder();
    for arg in ARGS {
        builder.arg(arg);
    }
    for (key, value) in ENV {
        builder.env(key, value);
    }
    builder.stdio(stdin, stdout, stderr);
    for (guest, dir) in PREOPENS {
        builder.preopen_dir(scratch.join(dir), guest)?;
    }
    let pipes = Pipes {
        stdout: stdout_reader,
        stderr: stderr_reader,
    };
    Ok((builder.build()?, pipes))
}

/// The engines, the compiled guest and the linkers, shared by every
/// sequence.
pub struct Engines {
    wasmtime: wasmtime::Engine,
    ours_wasmtime: wasmtime::InstancePre<Ours<wasmtime::Memory>>,
    wasmtime_wasi: wasmtime::InstancePre<wasmtime_wasi::p1::WasiP1Ctx>,
    wasmi: wasmi::Engine,
    wasmi_module: wasmi::Module,
    ours_wasmi: wasmi::Linker<Ours<wasmi::Memory>>,
}

impl Engines {
    /// Compiles the guest for both engines and links the hosts.
    pub fn new() -> Result<Self> {
        let wasm = wat::parse_str(guest::trampolines())?;
        let wasmtime = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&wasmtime, &wasm)?;

        let mut linker = wasmtime::Linker::new(&wasmtime);
        wasi_wasmtime::add_to_linker_with_memory(
            &mut linker,
            |ours: &mut Ours<wasmtime::Memory>| &mut ours.system,
            |ours| ours.memory,
        )?;
        let ours_wasmtime = linker.instantiate_pre(&module)?;

        let mut linker = wasmtime::Linker::new(&wasmtime);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
        let wasmtime_wasi = linker.instantiate_pre(&module)?;

        let wasmi = wasmi::Engine::default();
        let wasmi_module = wasmi::Module::new(&wasmi, &wasm)?;
        let mut ours_wasmi = wasmi::Linker::new(&wasmi);
        wasi_wasmi::add_to_linker_with_memory(
            &mut ours_wasmi,
            |ours: &mut Ours<wasmi::Memory>| &mut ours.system,
            |ours| ours.memory,
        )?;
        Ok(Self {
            wasmtime,
            ours_wasmtime,
            wasmtime_wasi,
            wasmi,
            wasmi_module,
            ours_wasmi,
        })
    }

    /// A fresh instance of the guest on `kind`, its preopens beneath
    /// `scratch` (which holds the initial tree).
    pub fn instantiate(&self, kind: Kind, scratch: &Path) -> Result<Box<dyn Host>> {
        match kind {
            Kind::OursWasmtime => {
                let (system, pipes) = unix_system(scratch)?;
                let data = Ours {
                    system,
                    memory: None,
                };
                let mut store = wasmtime::Store::new(&self.wasmtime, data);
                let instance = self.ours_wasmtime.instantiate(&mut store)?;
                let memory = wasmtime_memory(&mut store, instance)?;
                store.data_mut().memory = Some(memory);
                let funcs = wasmtime_funcs(&mut store, instance)?;
                Ok(Box::new(WasmtimeHost {
                    store,
                    memory,
                    funcs,
                    streams: Captured::Pipes(pipes),
                }))
            }
            Kind::WasmtimeWasi => {
                let stdout = MemoryOutputPipe::new(1 << 20);
                let stderr = MemoryOutputPipe::new(1 << 20);
                let mut builder = wasmtime_wasi::WasiCtxBuilder::new();
                // As in benches/: file I/O on this thread. Must come before
                // the preopens, which copy it.
                builder
                    .allow_blocking_current_thread(true)
                    .args(&ARGS)
                    .envs(&ENV)
                    .stdin(MemoryInputPipe::new(Vec::new()))
                    .stdout(stdout.clone())
                    .stderr(stderr.clone());
                for (guest, dir) in PREOPENS {
                    builder.preopened_dir(
                        scratch.join(dir),
                        guest,
                        wasmtime_wasi::FsPerms::ReadWrite,
                    )?;
                }
                let mut store = wasmtime::Store::new(&self.wasmtime, builder.build_p1());
                let instance = self.wasmtime_wasi.instantiate(&mut store)?;
                let memory = wasmtime_memory(&mut store, instance)?;
                let funcs = wasmtime_funcs(&mut store, instance)?;
                Ok(Box::new(WasmtimeHost {
                    store,
                    memory,
                    funcs,
                    streams: Captured::Memory { stdout, stderr },
                }))
            }
            Kind::OursWasmi => {
                let (system, pipes) = unix_system(scratch)?;
                let data = Ours {
                    system,
                    memory: None,
                };
                let mut store = wasmi::Store::new(&self.wasmi, data);
                let instance = self
                    .ours_wasmi
                    .instantiate_and_start(&mut store, &self.wasmi_module)?;
                let memory = instance
                    .get_memory(&store, "memory")
                    .context("the guest exports no memory")?;
                store.data_mut().memory = Some(memory);
                let funcs = IMPORTS
                    .iter()
                    .map(|import| {
                        instance
                            .get_func(&store, import.name)
                            .ok_or_else(|| anyhow!("the guest does not export {}", import.name))
                    })
                    .collect::<Result<_>>()?;
                Ok(Box::new(WasmiHost {
                    store,
                    memory,
                    funcs,
                    pipes,
                }))
            }
        }
    }
}

fn wasmtime_memory<T>(
    store: &mut wasmtime::Store<T>,
    instance: wasmtime::Instance,
) -> Result<wasmtime::Memory> {
    instance
        .get_memory(&mut *store, "memory")
        .context("the guest exports no memory")
}

fn wasmtime_funcs<T>(
    store: &mut wasmtime::Store<T>,
    instance: wasmtime::Instance,
) -> Result<Vec<wasmtime::Func>> {
    IMPORTS
        .iter()
        .map(|import| {
            instance
                .get_func(&mut *store, import.name)
                .ok_or_else(|| anyhow!("the guest does not export {}", import.name))
        })
        .collect()
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Where a wasmtime host's standard streams go.
enum Captured {
    Pipes(Pipes),
    Memory {
        stdout: MemoryOutputPipe,
        stderr: MemoryOutputPipe,
    },
}

struct WasmtimeHost<T: 'static> {
    store: wasmtime::Store<T>,
    memory: wasmtime::Memory,
    funcs: Vec<wasmtime::Func>,
    streams: Captured,
}

impl<T: 'static> Host for WasmtimeHost<T> {
    fn memory(&mut self) -> &mut [u8] {
        self.memory.data_mut(&mut self.store)
    }

    fn call(&mut self, func: Func, args: &[u64]) -> Outcome {
        let params: Vec<wasmtime::Val> = func
            .import()
            .wasm_params()
            .zip(args)
            .map(|(wide, &v)| {
                if wide {
                    wasmtime::Val::I64(v as i64)
                } else {
                    wasmtime::Val::I32(v as u32 as i32)
                }
            })
            .collect();
        let mut results = [wasmtime::Val::I32(0)];
        let f = self.funcs[func as usize];
        match catch_unwind(AssertUnwindSafe(|| {
            f.call(&mut self.store, &params, &mut results)
        })) {
            Ok(Ok(())) => Outcome::Errno(results[0].unwrap_i32() as u16),
            Ok(Err(trap)) => Outcome::Trap(trap.root_cause().to_string()),
            Err(payload) => Outcome::Panic(panic_message(&*payload)),
        }
    }

    fn finish(self: Box<Self>) -> io::Result<Streams> {
        let WasmtimeHost { store, streams, .. } = *self;
        drop(store);
        match streams {
            Captured::Pipes(pipes) => pipes.drain(),
            Captured::Memory { stdout, stderr } => Ok(Streams {
                stdout: stdout.contents().to_vec(),
                stderr: stderr.contents().to_vec(),
            }),
        }
    }
}

struct WasmiHost {
    store: wasmi::Store<Ours<wasmi::Memory>>,
    memory: wasmi::Memory,
    funcs: Vec<wasmi::Func>,
    pipes: Pipes,
}

impl Host for WasmiHost {
    fn memory(&mut self) -> &mut [u8] {
        self.memory.data_mut(&mut self.store)
    }

    fn call(&mut self, func: Func, args: &[u64]) -> Outcome {
        let params: Vec<wasmi::Val> = func
            .import()
            .wasm_params()
            .zip(args)
            .map(|(wide, &v)| {
                if wide {
                    wasmi::Val::I64(v as i64)
                } else {
                    wasmi::Val::I32(v as u32 as i32)
                }
            })
            .collect();
        let mut results = [wasmi::Val::I32(0)];
        let f = self.funcs[func as usize];
        match catch_unwind(AssertUnwindSafe(|| {
            f.call(&mut self.store, &params, &mut results)
        })) {
            Ok(Ok(())) => match results[0] {
                wasmi::Val::I32(errno) => Outcome::Errno(errno as u16),
                ref other => Outcome::Trap(format!("unexpected result {other:?}")),
            },
            Ok(Err(trap)) => Outcome::Trap(trap.to_string()),
            Err(payload) => Outcome::Panic(panic_message(&*payload)),
        }
    }

    fn finish(self: Box<Self>) -> io::Result<Streams> {
        let WasmiHost { store, pipes, .. } = *self;
        drop(store);
        pipes.drain()
    }
}
