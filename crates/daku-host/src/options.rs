//! How a Daku program is run: what it is granted, and where its log,
//! storage, outputs and profile go.

use std::path::PathBuf;
use std::str::FromStr;
use wasi_unix::IoBackend;

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
/// go, and what it is granted. Start from [`DakuOptions::new`].
#[derive(Clone, Debug, Default)]
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
}

impl DakuOptions {
    /// Nothing granted, no directories, logging to stderr.
    pub fn new() -> Self {
        Self::default()
    }
}
