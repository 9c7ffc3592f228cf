//! Several modules on one server (`Server::bind_manifest`, `wasirun serve
//! --manifest`): the rules of spec/wasi-cloud.md, "Several modules", on
//! both engines, with hyper's client: functions, a daemon and a WAGI module
//! on their routes (the most specific one winning, 404 off them), each with
//! its own volumes and environment, and a background daemon filling the
//! key-value store they share.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use wasi_runner::{Engine, KvConfig, Manifest, RunOptions};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

const MANIFEST: &str = r#"
# A WAGI module, as WAGI's own modules.toml has it: its volume and
# environment, and WAGI's outbound HTTP hosts (ignored, with a warning).
[[module]]
route = "/wagi/..."
module = "wagi_hello.wasm"
volumes = { "/data" = "data" }
environment = { MODE = "test" }
allowed_hosts = ["https://example.com"]

# A function on every path under /echo, at most one instance at once.
[[module]]
route = "/echo/..."
module = "handlers/echo.wasm"
kind = "function"
max_concurrency = 1

# An exact route under the /echo/... one wins over it.
[[module]]
route = "/echo/ticks"
module = "handlers/kvcount.wasm"
kind = "function"

# Two long-lived instances.
[[module]]
route = "/daemon"
module = "handlers/echo.wasm"
kind = "function"
daemon = 2

# No route: a background daemon, ticking into the shared store.
[[module]]
module = "handlers/ticker.wasm"
"#;

/// The manifest in a directory of its own, its modules beside it (two of
/// them under `handlers/`: paths are relative to the manifest), and the
/// WAGI module's volume.
fn manifest(dir: &Path) -> Manifest {
    let handlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/handlers");
    std::fs::create_dir(dir.join("handlers")).unwrap();
    for name in ["echo.wasm", "kvcount.wasm", "ticker.wasm"] {
        std::fs::copy(handlers.join(name), dir.join("handlers").join(name)).unwrap();
    }
    std::fs::copy(
        handlers.join("wagi_hello.wasm"),
        dir.join("wagi_hello.wasm"),
    )
    .unwrap();
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/greeting"), "hello from a volume\n").unwrap();
    std::fs::write(dir.join("modules.toml"), MANIFEST).unwrap();
    Manifest::from_file(dir.join("modules.toml")).unwrap()
}

#[test]
fn modules_serve_their_routes_and_share_the_store() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest(dir.path());
        assert_eq!(manifest.warnings().len(), 1, "{:?}", manifest.warnings());
        let mut options = RunOptions::new();
        options
            .engine(engine)
            .kv(Some(KvConfig::new(dir.path().join("kv.redb"))));
        let mut server = Running::serve_manifest(&manifest, options);
        let addr = server.addr;
        rt().block_on(async {
            // The function under /echo/... echoes its request.
            let (status, body) = fetch(addr, "/echo/a/b?q=1").await;
            assert_eq!(status, 200, "{engine}");
            assert!(
                body.starts_with("GET /echo/a/b?q=1 HTTP/1.1\r\n"),
                "{engine}: {body}"
            );
            let (status, _) = fetch(addr, "/echo").await;
            assert_eq!(status, 200, "{engine}");
            // Off every route: 404, as for /echoes (not under /echo/).
            for path in ["/", "/echoes", "/daemon/x", "/wagi2"] {
                assert_eq!(fetch(addr, path).await.0, 404, "{engine} {path}");
            }
            // The daemons answer request after request.
            for _ in 0..3 {
                let (status, body) = fetch(addr, "/daemon").await;
                assert_eq!(status, 200, "{engine}");
                assert!(body.starts_with("GET /daemon HTTP/1.1"), "{engine}: {body}");
            }
            // The exact route beats /echo/...: the store's ticks, which the
            // background daemon writes, counted by a function.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (status, body) = fetch(addr, "/echo/ticks").await;
                assert_eq!(status, 200, "{engine}");
                let ticks: u64 = body.parse().unwrap_or_else(|_| panic!("{engine}: {body}"));
                if ticks > 0 {
                    break;
                }
                assert!(Instant::now() < deadline, "{engine}: no ticks");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The WAGI module: CGI variables, its own volume and variable,
            // and the same store.
            let (status, body) = fetch(addr, "/wagi/hi").await;
            assert_eq!(status, 200, "{engine}");
            assert!(
                body.starts_with(
                    "wagi GET script=/wagi path=/hi mode=test greeting=hello from a volume ticks="
                ),
                "{engine}: {body}"
            );
            let ticks: u64 = body.trim_end().rsplit_once('=').unwrap().1.parse().unwrap();
            assert!(ticks > 0, "{engine}: {body}");
        });
        let start = Instant::now();
        server.stop();
        // The background daemon was interrupted, not waited for.
        assert!(start.elapsed() < Duration::from_secs(3), "{engine}");
    }
}

#[test]
fn each_module_has_its_own_store_access_and_limits() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        manifest(dir.path());
        // The same WAGI module twice: without the store (it sees no ticks:
        // no /beta/kv), and with too little fuel to answer.
        std::fs::write(
            dir.path().join("own.toml"),
            "[[module]]\nroute = \"/w\"\nmodule = \"wagi_hello.wasm\"\nkv = false\n\n\
             [[module]]\nroute = \"/starved\"\nmodule = \"wagi_hello.wasm\"\nfuel = 1000\n\n\
             [[module]]\nmodule = \"handlers/ticker.wasm\"\n",
        )
        .unwrap();
        let manifest = Manifest::from_file(dir.path().join("own.toml")).unwrap();
        let mut options = RunOptions::new();
        options
            .engine(engine)
            .kv(Some(KvConfig::new(dir.path().join("kv.redb"))));
        let mut server = Running::serve_manifest(&manifest, options);
        rt().block_on(async {
            // Let the ticker tick.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (status, body) = fetch(server.addr, "/w").await;
            assert_eq!(status, 200, "{engine}");
            // An exact route: its path is SCRIPT_NAME, PATH_INFO is empty.
            assert_eq!(
                body, "wagi GET script=/w path= mode=none greeting=none ticks=0\n",
                "{engine}"
            );
            let (status, _) = fetch(server.addr, "/starved").await;
            assert_eq!(status, 500, "{engine}");
        });
        server.stop();
    }
}

#[test]
fn max_concurrency_makes_a_modules_requests_wait_for_each_other() {
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use hyper::Request;
    use tokio::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    std::fs::write(
        dir.path().join("one.toml"),
        "[[module]]\nroute = \"/one\"\nmodule = \"handlers/echo.wasm\"\nkind = \"function\"\nmax_concurrency = 1\n\n\
         [[module]]\nroute = \"/many\"\nmodule = \"handlers/echo.wasm\"\nkind = \"function\"\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path().join("one.toml")).unwrap();
    let serve = wasi_runner::ServeOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        mode: wasi_runner::ServeMode::Functions,
        http: wasi_runner::ServeConfig {
            quiet: true,
            // Each request takes its instance at once, its body still coming.
            body_before_slot: 0,
            ..wasi_runner::ServeConfig::default()
        },
        background: None,
    };
    let server = wasi_runner::Server::bind_manifest(&manifest, RunOptions::new(), serve).unwrap();
    let mut server = Running::run(server);
    let addr = server.addr;
    rt().block_on(async {
        // The first request to /one holds its one instance while its body
        // is open.
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        let first = tokio::spawn(async move {
            let mut client = connect(addr).await;
            let request = Request::post("/one")
                .header("host", "test")
                .body(Streamed(rx).boxed())
                .unwrap();
            send(&mut client, request).await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Another module is not held up by it; a second request to /one is.
        assert_eq!(fetch(addr, "/many").await.0, 200);
        let second = tokio::spawn(async move { fetch(addr, "/one").await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !second.is_finished(),
            "the second request ran beside the first"
        );
        tx.send(Bytes::from("end")).await.unwrap();
        drop(tx);
        let (status, _, body) = first.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.unwrap().ends_with(b"end"));
        let (status, _) = second.await.unwrap();
        assert_eq!(status, 200);
    });
    server.stop();
}
