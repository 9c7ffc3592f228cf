//! `wasirun serve`: the options mapped onto `wasi_runner::ServeOptions`.

use crate::guest::{GuestArgs, Mode, parse_bytes};
use anyhow::{Result, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wasi_runner::{
    DEFAULT_TIMEOUT, DEFAULT_WEBSOCKET_IDLE, ERROR_EXIT_CODE, Manifest, Module, ServeConfig,
    ServeMode, ServeOptions, Server, WebSocketConfig, report,
};

/// The options and arguments of `wasirun serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free one, printed on stderr).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// Run N long-lived instances that serve request after request (see
    /// spec/wasi-cloud.md, "Daemons") instead of one per request.
    #[arg(long, value_name = "N", conflicts_with = "wagi")]
    daemon: Option<usize>,

    /// Run a WAGI module: CGI variables in the environment, the body on
    /// stdin, a CGI response on stdout.
    #[arg(long)]
    wagi: bool,

    /// Serve raw TCP on IP:PORT instead of HTTP: each accepted connection
    /// gets an instance of its own, the connection its descriptor 3 (after
    /// any --dir and --dial), for as long as the connection lasts, at
    /// most --timeout; --max-concurrency connections at once (see
    /// spec/wasi-cloud.md, "Connection daemons").
    #[arg(long, value_name = "IP:PORT", conflicts_with_all = ["daemon", "wagi", "addr"])]
    tcp: Option<SocketAddr>,

    /// The module is an HTTP server itself: run it (--daemon N: N
    /// instances) with the socket bound on --addr preopened as `wasirun run
    /// --listen` gives it (descriptor 3 after any --dir), restart it when
    /// it ends; on SIGTERM shut the socket down so its `accept` fails, and
    /// give it 30 s to end (see spec/wasi-cloud.md, "Servers of their
    /// own"). No time limit: --timeout is refused.
    #[arg(long, conflicts_with_all = ["wagi", "tcp"])]
    socket: bool,

    /// Serve the modules of this manifest, each on its route, with their
    /// daemons and background modules: a TOML file in the format of WAGI's
    /// modules.toml (`[[module]]` with `route`, `module`, `volumes`, ...),
    /// extended with `kind`, `daemon`, limits and `kv` (see
    /// spec/wasi-cloud.md, "Several modules"). The guest options given here
    /// are every module's defaults.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["daemon", "wagi", "tcp", "socket", "background", "module"])]
    manifest: Option<PathBuf>,

    /// Run this module beside the server for as long as it serves, with
    /// the same options (its key-value store is the handlers'), no time
    /// limit, restarted when it ends (see spec/wasi-cloud.md, "Background
    /// daemons").
    #[arg(long, value_name = "MODULE")]
    background: Option<PathBuf>,

    /// With --tcp: end a connection on which no data went either way for
    /// this long, as at its --timeout (default: none). Over HTTP: close a
    /// WebSocket on which no message went either way for this long, with
    /// 1001 (default: 5m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    idle_timeout: Option<Duration>,

    /// WebSockets open at once (a handler accepts one by answering 101);
    /// the next handshake a handler accepts gets 503 (see
    /// spec/wasi-cloud.md, "WebSocket daemons").
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_websockets: usize,

    /// The largest WebSocket message, either way (suffixes K, M, G): a
    /// client's larger one closes the WebSocket with 1009, a handler's
    /// fails its write with EMSGSIZE.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, default_value = "1M")]
    max_message: u64,

    /// How long a WebSocket may stay open after its 101, whatever
    /// --timeout says; then it is closed with 1001.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1h")]
    websocket_lifetime: Duration,

    /// Instances running at once; further requests wait (default: twice
    /// the number of CPUs).
    #[arg(long, value_name = "N")]
    max_concurrency: Option<usize>,

    /// Instances one connection's requests (HTTP/2 streams) may run at
    /// once (default: half of --max-concurrency, at least 1).
    #[arg(long, value_name = "N")]
    max_per_connection: Option<usize>,

    /// The largest request body, in bytes (suffixes K, M, G): 413 past it.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, default_value = "128M")]
    max_body: u64,

    /// How much of a request body is read before the request takes an
    /// instance (less if the body ends first), so that clients trickling
    /// bodies hold none; 0 starts the guest at once, for handlers that
    /// answer a body part by part while the client waits.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, default_value = "64K")]
    body_before_slot: u64,

    /// Time a client has to send a request head before its connection is
    /// closed: the first from accept, each next one from the previous
    /// response (which bounds idle keep-alive connections too).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    header_timeout: Duration,

    /// Do not log a line per request (method, path, status, µs) on stderr.
    #[arg(long)]
    quiet: bool,

    /// What every guest is given and its limits, as under `wasirun run`.
    #[command(flatten)]
    guest: GuestArgs,

    /// The handler module: binary `.wasm` or text `.wat` (none with
    /// --manifest).
    #[arg(required_unless_present = "manifest")]
    module: Option<PathBuf>,
}

/// Serves until SIGTERM or SIGINT; exits 0 once the requests in flight
/// are answered.
pub fn main(args: ServeArgs) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&format!("{error:#}"));
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let (Some(served), manifest) = (
        args.module.as_ref().or(args.manifest.as_ref()),
        &args.manifest,
    ) else {
        bail!("no module given");
    };
    args.guest.refuse(Mode::Serve, served)?;
    let background = args
        .background
        .as_ref()
        .map(Module::from_file)
        .transpose()?;
    if args.socket && args.guest.timeout.is_some() {
        bail!(
            "{}: --timeout does not apply to --socket (its instances live until they end)",
            served.display()
        );
    }
    let options = args.guest.options()?;
    let mut http = ServeConfig {
        timeout: args.guest.timeout.unwrap_or(DEFAULT_TIMEOUT),
        max_per_connection: args.max_per_connection,
        max_body: args.max_body,
        body_before_slot: usize::try_from(args.body_before_slot).unwrap_or(usize::MAX),
        header_timeout: args.header_timeout,
        quiet: args.quiet,
        ..ServeConfig::default()
    };
    // A message's length is a u32 in /response/socket's framing.
    if args.max_message == 0 || args.max_message > u64::from(u32::MAX) {
        anyhow::bail!("--max-message must be between 1 and 4G-1 bytes");
    }
    if args.max_websockets == 0 {
        anyhow::bail!("--max-websockets must be at least 1");
    }
    http.websocket = Some(WebSocketConfig {
        max_websockets: args.max_websockets,
        max_message: usize::try_from(args.max_message).unwrap_or(usize::MAX),
        idle_timeout: args.idle_timeout.unwrap_or(DEFAULT_WEBSOCKET_IDLE),
        lifetime: args.websocket_lifetime,
    });
    if let Some(n) = args.max_concurrency {
        http.max_concurrency = n.max(1);
    }
    let mode = match (args.tcp, args.daemon, args.wagi) {
        _ if args.socket => ServeMode::Socket(args.daemon.unwrap_or(1).max(1)),
        (Some(_), ..) => ServeMode::Connections {
            idle_timeout: args.idle_timeout,
        },
        (None, Some(n), _) => ServeMode::Daemons(n.max(1)),
        (None, None, true) => ServeMode::Wagi,
        (None, None, false) => ServeMode::Functions,
    };
    let serve = ServeOptions {
        addr: args.tcp.unwrap_or(args.addr),
        mode,
        http,
        background,
    };
    let server = match manifest {
        Some(path) => {
            let manifest = Manifest::from_file(path)?;
            for warning in manifest.warnings() {
                report(warning);
            }
            Server::bind_manifest(&manifest, options, serve)?
        }
        None => Server::bind(Module::from_file(served)?, options, serve)?,
    };
    report(&format!(
        "serving {} on {}://{}",
        served.display(),
        if args.tcp.is_some() { "tcp" } else { "http" },
        server.local_addr()
    ));
    server.run_until_signal()?;
    Ok(())
}
