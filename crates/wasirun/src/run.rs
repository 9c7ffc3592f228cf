//! `wasirun run`: the options mapped onto `wasi_runner::RunOptions`, and
//! the watchdog that ends a guest blocked past its --timeout.

use crate::guest::{GuestArgs, Mode};
use anyhow::{Context, Result};
use clap::Args;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use wasi_runner::{ERROR_EXIT_CODE, Module, Outcome, Runner, TIMEOUT_EXIT_CODE, report};

/// How long past --timeout the watchdog waits for the engine to stop the
/// guest before it ends the process itself (a guest blocked in a host call
/// cannot be interrupted).
const WATCHDOG_GRACE: Duration = Duration::from_millis(250);

/// The options and arguments of `wasirun run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// What the guest is given and its limits, as under `wasirun serve`.
    #[command(flatten)]
    pub(crate) guest: GuestArgs,

    /// The options of Daku programs (boxed: most runs are not Daku's).
    #[command(flatten)]
    daku: Box<DakuArgs>,

    /// Call the exported function NAME instead of `_start` or the default
    /// export `""` (after `_initialize`, as for any reactor), with the
    /// ARGS as its arguments, parsed by its parameter types (i32, i64:
    /// decimal or 0x hexadecimal; f32, f64); its results are printed one
    /// per line (see spec/preview1.md, "Entry points").
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,

    /// The module to run: binary `.wasm` or text `.wat`.
    // An `Option` only for `wasirun COMMAND`, where the top level's copy of
    // these arguments is left empty: clap requires it wherever it is parsed.
    #[arg(required = true)]
    module: Option<PathBuf>,

    /// Arguments passed to the guest after its `argv[0]` (the module path);
    /// with --invoke, also the function's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// The options of Daku programs: modules importing `daku.ar` (spec/daku.md).
#[derive(Debug, Args)]
struct DakuArgs {
    /// Daku programs (modules importing `daku.ar`, see spec/daku.md):
    /// write their log (command 19) to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    daku_log: Option<PathBuf>,

    /// Daku programs: the directory their storage files (commands 40, 41)
    /// live in; without it storage is unsupported.
    #[arg(long, value_name = "DIR")]
    daku_storage: Option<PathBuf>,

    /// Daku programs: the directory their audio (WAV), framebuffer (PNG)
    /// and shared files go to; without it those are unsupported.
    #[arg(long, value_name = "DIR")]
    daku_output: Option<PathBuf>,

    /// Daku programs: the profile file their user setters write (default:
    /// $XDG_CONFIG_HOME/daku/profiles/MODULE.profile).
    #[arg(long, value_name = "FILE")]
    daku_profile: Option<PathBuf>,

    /// Daku programs: grant commands, comma-separated: `user` (user name,
    /// full name, languages), `spawn` (child tasks), `storage`, or `all`.
    #[arg(long, value_name = "LIST", default_value = "")]
    daku_allow: wasi_runner::Grants,
}

impl DakuArgs {
    /// The first Daku option given, if any.
    fn given(&self) -> Option<&'static str> {
        [
            ("--daku-log", self.daku_log.is_some()),
            ("--daku-storage", self.daku_storage.is_some()),
            ("--daku-output", self.daku_output.is_some()),
            ("--daku-profile", self.daku_profile.is_some()),
            ("--daku-allow", self.daku_allow != Default::default()),
        ]
        .into_iter()
        .find_map(|(option, given)| given.then_some(option))
    }
}

/// Runs the module as `args` say, reports how it ended on stderr unless the
/// guest exited, and returns the exit code.
pub fn main(args: RunArgs) -> ExitCode {
    let module = args.module.clone().expect("clap requires MODULE");
    if let Some(timeout) = args.guest.timeout {
        start_watchdog(module.clone(), timeout);
    }
    match run(&module, &args) {
        Ok(outcome) => {
            if !matches!(outcome, Outcome::Exit(_)) {
                report(&format!("{}: {outcome}", module.display()));
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(error) => {
            report(&format!("{error:#}"));
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

fn run(module: &Path, args: &RunArgs) -> Result<Outcome> {
    let module = Module::from_file(module)?;
    if wasi_runner::is_daku_program(module.head()) {
        return daku(&module, args);
    }
    args.guest.refuse(Mode::Command, module.path())?;
    if let Some(option) = args.daku.given() {
        anyhow::bail!(
            "{}: {option} applies only to Daku programs (this module does not import daku.ar)",
            module.path().display()
        );
    }
    let mut options = args.guest.options()?;
    options.args(&args.args);
    if let Some(name) = &args.invoke {
        options.invoke(name);
    }
    let runner = Runner::new(module, options)?;
    let (outcome, results) = runner.run_with_results()?;
    // The main function's results, as wasmtime prints them.
    let mut stdout = std::io::stdout().lock();
    for value in results {
        writeln!(stdout, "{value}").context("cannot print the results")?;
    }
    Ok(outcome)
}

/// Runs a Daku program: the engine and limits of `args`, and its Daku options.
fn daku(module: &Module, args: &RunArgs) -> Result<Outcome> {
    // A Daku program has no arguments, environment, preopens or devices
    // (spec/daku.md §1): options giving it some are mistakes, not no-ops.
    args.guest.refuse(Mode::Daku, module.path())?;
    let given = [
        ("arguments after the module do", !args.args.is_empty()),
        ("--invoke does", args.invoke.is_some()),
    ];
    if let Some((what, _)) = given.into_iter().find(|(_, given)| *given) {
        anyhow::bail!(
            "{}: {what} not apply to {}",
            module.path().display(),
            Mode::Daku.name()
        );
    }
    // The engine, limits, cache and host-memory budget every guest gets
    // (the options refused above are not among them).
    let run = args.guest.options()?;
    let daku = &args.daku;
    let options = wasi_runner::DakuOptions {
        log: daku.daku_log.clone(),
        storage: daku.daku_storage.clone(),
        output: daku.daku_output.clone(),
        profile: daku.daku_profile.clone(),
        grants: daku.daku_allow,
        io: args.guest.io_backend()?,
        // `run_daku` gives the run its budget, of --max-host-memory.
        ..Default::default()
    };
    Ok(wasi_runner::run_daku(module, &run, options)?)
}

/// Ends the process with [`TIMEOUT_EXIT_CODE`] if the guest is still running
/// [`WATCHDOG_GRACE`] after `timeout`: the engines stop running guest code,
/// not a guest blocked in a host call (a read from a terminal, a long
/// `poll_oneoff`). The guest's standard streams are never left changed
/// (`spec/preview1.md`), so exiting from here loses nothing of ours.
fn start_watchdog(module: PathBuf, timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout + WATCHDOG_GRACE);
        report(&format!(
            "{}: {}",
            module.display(),
            Outcome::Timeout(timeout)
        ));
        std::process::exit(i32::from(TIMEOUT_EXIT_CODE));
    });
}
