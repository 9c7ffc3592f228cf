//! Running a sequence on one host.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::calls::{Call, FILL, Out, clamp};
use crate::hosts::{Engines, Kind, Outcome, Streams};
use crate::tree::{self, Tree};

/// What one call did on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// How it ended.
    pub outcome: Outcome,
    /// The wasm arguments it was given (loaded values resolved).
    pub args: Vec<u64>,
    /// The descriptors it named (see [`crate::calls::Lowered::fds`]).
    pub fds: Vec<u32>,
    /// Each output region after the call (the part inside memory), with
    /// what it holds.
    pub outputs: Vec<(Out, Vec<u8>)>,
}

impl CallResult {
    /// The errno, if the call returned one.
    pub fn errno(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Errno(errno) => Some(errno),
            _ => None,
        }
    }

    /// The first output of kind `kind`, as a little-endian number, if the
    /// call succeeded and wrote it whole.
    pub fn number(&self, kind: Out) -> Option<u64> {
        if self.errno() != Some(0) {
            return None;
        }
        let (_, bytes) = self.outputs.iter().find(|(k, _)| *k == kind)?;
        let size = kind.size()? as usize;
        let bytes = bytes.get(..size)?;
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(bytes);
        Some(u64::from_le_bytes(buf))
    }
}

/// A sequence's run on one host.
#[derive(Clone, Debug)]
pub struct Run {
    /// One result per call, up to the first panic (which ends the run).
    pub results: Vec<CallResult>,
    /// The scratch directory afterwards (`root/` and `outside/`).
    pub tree: Tree,
    /// What the guest wrote to its standard streams.
    pub streams: Streams,
}

/// Runs `calls` on a fresh instance of `kind`, in a fresh initial tree in
/// `scratch` (created, and removed afterwards).
pub fn run(engines: &Engines, kind: Kind, calls: &[Call], scratch: &Path) -> Result<Run> {
    if scratch.exists() {
        fs::remove_dir_all(scratch)?;
    }
    fs::create_dir_all(scratch)?;
    tree::create(scratch).context("cannot create the initial tree")?;
    let mut host = engines
        .instantiate(kind, scratch)
        .with_context(|| format!("cannot instantiate the guest on {}", kind.name()))?;
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        let memory = host.memory();
        let lowered = call.lower(memory);
        for (ptr, len, _) in &lowered.outputs {
            memory[clamp(*ptr, *len)].fill(FILL);
        }
        for (ptr, bytes) in &lowered.inputs {
            let range = clamp(*ptr, bytes.len() as u32);
            let len = range.len();
            memory[range].copy_from_slice(&bytes[..len]);
        }
        let outcome = host.call(call.func, &lowered.args);
        let memory = host.memory();
        let outputs = lowered
            .outputs
            .iter()
            .map(|(ptr, len, kind)| (*kind, memory[clamp(*ptr, *len)].to_vec()))
            .collect();
        let panicked = matches!(outcome, Outcome::Panic(_));
        results.push(CallResult {
            outcome,
            args: lowered.args,
            fds: lowered.fds,
            outputs,
        });
        if panicked {
            break;
        }
    }
    let streams = host.finish()?;
    let tree = tree::snapshot(scratch)?;
    fs::remove_dir_all(scratch)?;
    Ok(Run {
        results,
        tree,
        streams,
    })
}
