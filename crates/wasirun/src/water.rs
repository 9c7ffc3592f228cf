//! `wasirun water relay|dial|listen`: WATER v0 transport modules
//! (`spec/watm-v0.md`) serving TCP connections, with `watm_transport`
//! doing the work. Runs until SIGINT or SIGTERM, then cancels the
//! connections' workers and exits 0.

use clap::{Args, Subcommand};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use watm_transport::{Closer, Config, Engine, Error, Forwarder, Relay};

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

    /// The WebAssembly engine.
    #[arg(long, default_value = "wasmtime", value_parser = ["wasmtime", "wasmi"])]
    runtime: String,

    /// Fuel for each connection's instance over its life (stops modules
    /// that loop).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// The longest each connection may live (`30s`, `10m`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// The most connections served at once; more are closed on arrival.
    #[arg(long, value_name = "N", default_value_t = watm_transport::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
}

/// A running service of any role.
enum Service {
    Relay(Relay),
    Forward(Forwarder),
}

/// Runs the role until a signal; exit code 2 when the module cannot be
/// used, 1 when the host cannot listen.
pub fn main(args: WaterArgs) -> ExitCode {
    let (name, options) = match &args.role {
        Role::Relay(options) => ("relay", options),
        Role::Dial(options) => ("dial", options),
        Role::Listen(options) => ("listen", options),
    };
    let fail = |error: Error| {
        eprintln!("wasirun water {name}: {error}");
        ExitCode::from(match error {
            Error::Io(_) => 1,
            _ => 2,
        })
    };
    let config = match config(options) {
        Ok(config) => config,
        Err(error) => return fail(error),
    };
    let (laddr, raddr) = (options.laddr, options.raddr);
    let service = match &args.role {
        Role::Relay(_) => Relay::bind(&config, laddr, raddr).map(Service::Relay),
        Role::Dial(_) => Forwarder::dial(&config, laddr, raddr).map(Service::Forward),
        Role::Listen(_) => Forwarder::listen(&config, laddr, raddr).map(Service::Forward),
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

fn config(options: &Options) -> Result<Config, Error> {
    let mut config = Config::from_file(&options.watm)?;
    let engine = match options.runtime.as_str() {
        "wasmi" => Engine::Wasmi,
        _ => Engine::Wasmtime,
    };
    config
        .engine(engine)
        .config_file(options.config.clone())
        .fuel(options.fuel)
        .timeout(options.timeout)
        .max_connections(options.max_connections)
        .log_prefix(Some("watm: ".into()));
    Ok(config)
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
