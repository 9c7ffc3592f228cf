//! `wasirun water relay|dial|listen`: WATER v0 transport modules
//! (`spec/watm-v0.md`) serving TCP connections, with `watm_transport`
//! doing the work on the engine chosen with `--runtime` (parsed as `wasirun
//! run` parses it, and run through `wasi_runner::Engine::with_runtime`).
//! Runs until SIGINT or SIGTERM, then cancels the connections' workers and
//! exits 0.

use crate::guest::{GuestArgs, Mode};
use clap::{Args, Subcommand};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wasi_runner::{GuestSystems, IoBackend, WithRuntime};
use watm_transport::{Closer, Config, Error, Forwarder, Relay, Runtime};

/// The arguments of `wasirun water`.
#[derive(Debug, Args)]
pub struct WaterArgs {
    #[command(subcommand)]
    role: Role,
}

/// The three roles.
#[derive(Debug, Subcommand)]
enum Role {
    /// Listen on --laddr; a fresh WATM joins each accepted connection
    /// (`host_accept`) to one it dials to --raddr (`host_dial`).
    Relay(Options),
    /// Listen on --laddr for plain clients; each becomes the caller
    /// connection of a WATM dialer whose `host_dial` dials --raddr.
    Dial(Options),
    /// A WATM listener on --laddr; the plain end of each connection it
    /// accepts is forwarded to --raddr.
    Listen(Options),
}

/// What every role takes.
#[derive(Debug, Args)]
struct Options {
    /// The transport module (`.wasm` or `.wat`).
    #[arg(long, value_name = "W.wasm")]
    watm: PathBuf,

    /// Where to listen (`IP:PORT`; port 0 picks a free one, printed on
    /// stderr).
    #[arg(long, value_name = "IP:PORT")]
    laddr: SocketAddr,

    /// Where connections go.
    #[arg(long, value_name = "IP:PORT")]
    raddr: SocketAddr,

    /// The file the module reads through `pull_config`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// What each connection's instance is given and its limits, as under
    /// `wasirun run` (`--timeout`: the longest a connection may live;
    /// `--fuel`: over the instance's life).
    #[command(flatten)]
    guest: GuestArgs,

    /// The most connections served at once; more are closed on arrival.
    #[arg(long, value_name = "N", default_value_t = watm_transport::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
}

/// A running service of any role, on the engine of `R`.
enum Service<R: Runtime> {
    Relay(Relay<R>),
    Forward(Forwarder<R>),
}

/// Reports `error` on stderr for the role `name`; exit code 1 when the
/// host cannot listen, 2 otherwise (the module cannot be used).
fn fail(name: &str, error: Error) -> ExitCode {
    eprintln!("wasirun water {name}: {error}");
    ExitCode::from(match error {
        Error::Io(_) => 1,
        _ => 2,
    })
}

/// `error` and its sources on one line, `: `-separated.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Runs the role until a signal; exit code 2 when the module cannot be
/// used (or the engine cannot be set up), 1 when the host cannot listen.
pub fn main(args: WaterArgs) -> ExitCode {
    let (name, options) = match &args.role {
        Role::Relay(options) => ("relay", options),
        Role::Dial(options) => ("dial", options),
        Role::Listen(options) => ("listen", options),
    };
    if let Err(error) = options.guest.refuse(Mode::Water, &options.watm) {
        return fail(name, Error::Invalid(format!("{error:#}")));
    }
    let config = match config(options) {
        Ok(config) => config,
        Err(error) => return fail(name, error),
    };
    let serve = Serve {
        role: &args.role,
        name,
        config: &config,
        options,
    };
    // The runtime is created under the WATM's limits, so that the roles
    // use it as it is.
    let cache = options.guest.cache_dir();
    match options
        .guest
        .runtime
        .with_runtime(config.runtime_config(), cache.as_deref(), serve)
    {
        Ok(code) => code,
        Err(error) => fail(name, Error::Invalid(one_line(&error))),
    }
}

/// Serving one role until a signal, on whichever engine
/// [`wasi_runner::Engine::with_runtime`] hands it.
struct Serve<'a> {
    role: &'a Role,
    name: &'static str,
    config: &'a Config,
    options: &'a Options,
}

impl WithRuntime for Serve<'_> {
    type Output = ExitCode;

    fn run<R: Runtime>(self, runtime: R) -> ExitCode {
        let Serve {
            role,
            name,
            config,
            options,
        } = self;
        let (laddr, raddr) = (options.laddr, options.raddr);
        let fail = |error: Error| fail(name, error);
        // Each connection's instance gets the stack every guest of wasirun
        // gets (preopens, mounts, devices, tracing).
        let systems = match guest_systems(options, &runtime) {
            Ok(systems) => systems,
            Err(error) => return fail(Error::Invalid(format!("{error:#}"))),
        };
        let mut config = config.clone();
        config.system(Some(Arc::new(move |stdin, stdout, stderr| {
            systems
                .build(stdin, stdout, stderr)
                .map_err(|error| one_line(&error))
        })));
        let config = &config;
        let service = match role {
            Role::Relay(_) => Relay::bind(&runtime, config, laddr, raddr).map(Service::Relay),
            Role::Dial(_) => Forwarder::dial(&runtime, config, laddr, raddr).map(Service::Forward),
            Role::Listen(_) => {
                Forwarder::listen(&runtime, config, laddr, raddr).map(Service::Forward)
            }
        };
        let service = match service {
            Ok(service) => service,
            Err(error) => return fail(error),
        };
        let (closer, local) = match &service {
            Service::Relay(relay) => (relay.closer(), relay.local_addr()),
            Service::Forward(forwarder) => (forwarder.closer(), forwarder.local_addr()),
        };
        if let Err(error) = close_on_signal(closer) {
            return fail(error.into());
        }
        match local {
            Ok(local) => eprintln!("wasirun water {name}: listening on {local}, to {raddr}"),
            Err(error) => return fail(error.into()),
        }
        let served = match &service {
            Service::Relay(relay) => relay.serve(),
            Service::Forward(forwarder) => forwarder.serve(),
        };
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(error),
        }
    }
}

fn config(options: &Options) -> Result<Config, Error> {
    let mut config = Config::from_file(&options.watm)?;
    let guest = &options.guest;
    config
        .config_file(options.config.clone())
        .fuel(guest.fuel)
        .timeout(guest.timeout)
        .max_functions(Some(guest.max_functions))
        .max_connections(options.max_connections)
        .log_prefix(Some("watm: ".into()));
    if guest.max_memory.is_some() {
        config.max_memory(guest.max_memory);
    }
    Ok(config)
}

/// The systems of the connections' instances, from `options`: WATMs run
/// with plain system calls unless `--io` (or `$WASIRUN_IO`) says otherwise.
fn guest_systems<R: Runtime>(
    options: &Options,
    runtime: &R,
) -> Result<GuestSystems<R>, anyhow::Error> {
    let mut run_options = options.guest.options()?;
    if options.guest.io_given()?.is_none() {
        run_options.io(IoBackend::Sync);
    }
    Ok(GuestSystems::new(run_options, &options.watm, runtime)?)
}

/// Closes the service on the first SIGINT or SIGTERM.
fn close_on_signal(closer: Closer) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                closer.close();
            }
        })?;
    Ok(())
}
