//! Issue 20 ("Hostile load"), items 8 and 9, through the library on both
//! engines: a guest's buffers in the host stay within its host-memory
//! budget, and its descriptors within `max_fds` (`spec/preview1.md`,
//! "Running a module" and "File descriptors"; `spec/wasi-cloud.md`,
//! "Key-value store").

use wasi_runner::{Engine, KvConfig, Module, Outcome, RunOptions, Runner};

/// A guest of `tests/guests/` (shared with wasirun's `tests/limits.rs`).
fn guest(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(name)
}

/// A line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn kv_buffers_past_the_guests_budget_give_enospc_not_host_memory() {
    let store = tempfile::tempdir().unwrap();
    let module = Module::from_file(guest("truncates_keys.wat")).unwrap();
    for engine in Engine::ALL {
        let mut options = RunOptions::new();
        options
            .engine(engine)
            .max_memory(Some(32 << 20))
            .kv(Some(KvConfig::new(store.path().join("kv.redb"))));
        let runner = Runner::new(module.clone(), options).unwrap();
        // The peak of this process's memory, from now (5: reset VmHWM).
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let before = status_kib("VmRSS:");
        // Today's guest asked 24 × 64 MiB (1.5 GiB) and got it.
        assert_eq!(runner.run().unwrap(), Outcome::Exit(0), "{engine}");
        let grown = status_kib("VmHWM:").saturating_sub(before);
        assert!(grown < 64 << 10, "{engine}: memory grew by {grown} KiB");
    }
}

#[test]
fn the_budget_follows_the_options() {
    let mut options = RunOptions::new();
    assert_eq!(options.host_memory_limit(), 64 << 20);
    options.max_memory(Some(32 << 20));
    assert_eq!(options.host_memory_limit(), 32 << 20);
    options.max_host_memory(Some(1 << 20));
    assert_eq!(options.host_budget().limit(), 1 << 20);
    // Each guest gets a budget of its own.
    assert!(!options.host_budget().same(&options.host_budget()));
    assert_eq!(RunOptions::DEFAULT_MAX_FDS, 1024);
}

#[test]
fn sockets_stop_at_max_fds_with_emfile() {
    let module = Module::from_file(guest("opens_sockets.wat")).unwrap();
    for engine in Engine::ALL {
        let mut options = RunOptions::new();
        options.engine(engine).max_fds(64);
        // 64 descriptors, 3 of them stdio.
        let outcome = Runner::new(module.clone(), options).unwrap().run().unwrap();
        assert_eq!(outcome, Outcome::Exit(61), "{engine}");
    }
}
