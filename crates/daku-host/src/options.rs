//! How a Daku program is run: what it is granted, where its log,
//! storage, outputs and profile go, and the host memory it may make the
//! host hold.

use std::path::PathBuf;
use std::str::FromStr;
use wasi_core::budget::HostBudget;
use wasi_unix::{FdPool, IoBackend};

/// The commands that need a grant (spec §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Read and change the user's name, full name and languages (11–16).
    pub user: bool,
    /// Spawn child tasks (17).
    pub spawn: bool,
    /// Open and share storage files (40, 41).
    pub storage: bool,
}

impl FromStr for Grants {
    type Err = String;

    /// Parses a comma-separated list of `user`, `spawn`, `storage` (or
    /// `all`); the empty string grants nothing.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut grants = Grants::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "user" => grants.user = true,
                "spawn" => grants.spawn = true,
                "storage" => grants.storage = true,
                "all" => {
                    grants = Grants {
                        user: true,
                        spawn: true,
                        storage: true,
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown grant `{name}` (expected user, spawn, storage or all)"
                    ));
                }
            }
        }
        Ok(grants)
    }
}

/// How a Daku program is run: where its log, storage, outputs and profile
/// go, what it is granted, and its budget of host memory. Start from
/// [`DakuOptions::new`].
#[derive(Clone, Debug)]
pub struct DakuOptions {
    /// Log file (command 19); `None` logs to stderr.
    pub log: Option<PathBuf>,
    /// Storage directory (commands 40, 41); `None` refuses them as unsupported.
    pub storage: Option<PathBuf>,
    /// Output directory for audio, frames and shared files (33, 35, 41);
    /// `None` refuses those as unsupported.
    pub output: Option<PathBuf>,
    /// Profile file (commands 11–16); `None` uses the default path of
    /// spec §8 for the module.
    pub profile: Option<PathBuf>,
    /// What the program is granted.
    pub grants: Grants,
    /// How storage reads and writes reach the kernel (spec §5, command
    /// 40): [`IoBackend::Uring`] submits each call's batch to io_uring;
    /// `Sync` uses `pread`/`pwrite`; `Auto` (the default) too, except that
    /// the READs of a read-only batch that miss the page cache go to
    /// io_uring together (the rule and its measurements are in
    /// `spec/daku.md`).
    pub io: IoBackend,
    /// The run's budget of host memory (spec §1.7), shared by the program
    /// and all its child tasks: what the host holds for them beyond their
    /// linear memories (messages between tasks, console reads, channel
    /// tables, ...) is reserved from it, and a record past it traps. By
    /// default a budget of its own of [`HostBudget::DEFAULT_LIMIT`]
    /// (64 MiB); clones of the options share it. `wasi_runner::run_daku`
    /// gives one of the runner's limit (`--max-host-memory`).
    pub budget: HostBudget,
    /// The run's host descriptors (spec §1.8), shared by the program and
    /// all its child tasks: each open storage file and each task's
    /// storage ring counts, and an OPEN past the share gives IO. By
    /// default a pool of its own of [`DEFAULT_MAX_FDS`]; clones of the
    /// options share it. `wasi_runner::run_daku` gives one of the
    /// runner's `--max-fds`.
    pub fds: FdPool,
}

/// The descriptors a run holds at most by default (spec §1.8), as many as
/// a WASI guest's table.
pub const DEFAULT_MAX_FDS: usize = 1024;

impl DakuOptions {
    /// Nothing granted, no directories, logging to stderr, a budget of
    /// host memory of [`HostBudget::DEFAULT_LIMIT`] and one of
    /// [`DEFAULT_MAX_FDS`] descriptors.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Default for DakuOptions {
    fn default() -> Self {
        Self {
            log: None,
            storage: None,
            output: None,
            profile: None,
            grants: Grants::default(),
            io: IoBackend::default(),
            budget: HostBudget::default(),
            fds: FdPool::with_share(DEFAULT_MAX_FDS),
        }
    }
}
