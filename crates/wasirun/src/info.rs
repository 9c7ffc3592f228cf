//! `wasirun info`: what this host will use on this machine, for a bug report.

use std::process::ExitCode;

use clap::Args;
use wasi_runner::features::{self, PathResolution};

/// `wasirun info` takes no options.
#[derive(Debug, Args)]
pub struct InfoArgs {}

/// Prints the version, the kernel and the kernel features the guests'
/// systems will use, with the reason for each one they will not.
pub fn main(InfoArgs {}: InfoArgs) -> ExitCode {
    let paths = match PathResolution::Auto.resolved() {
        PathResolution::Openat2 => "resolved by openat2 (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)",
        _ => "walked in user space, one openat(O_NOFOLLOW) per component",
    };
    let io = match features::io_uring().is_available() {
        true => format!(
            "io_uring for poll_oneoff with {} subscriptions or more (--io auto)",
            wasi_runner::AUTO_URING_POLL_MIN
        ),
        false => "plain system calls (--io auto; --io uring fails)".to_owned(),
    };
    let nofile = wasi_runner::raise_nofile_limit();
    println!("wasirun {}", env!("CARGO_PKG_VERSION"));
    println!("kernel: {}", features::kernel());
    println!("openat2: {}", features::openat2());
    println!("io_uring: {}", features::io_uring());
    println!("guest paths: {paths}");
    println!("guest I/O: {io}");
    println!(
        "descriptors: RLIMIT_NOFILE {nofile}, of which the guests share {}",
        wasi_runner::guests_share(nofile)
    );
    ExitCode::SUCCESS
}
