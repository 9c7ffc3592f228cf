//! `wasirun serve --manifest` as a process: `examples/modules.toml` served
//! (a WAGI module, a function, daemons and a background daemon sharing the
//! store), exit 0 on SIGTERM; bad manifests stop it before it listens, with
//! one line naming the file and line, and exit 2. (The rules are tested on
//! both engines in wasi-runner's `tests/serve_manifest.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Sends `request` on a connection of its own: the whole response (an
/// HTTP/1.0 request's is not chunked).
fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn get(addr: SocketAddr, path: &str) -> String {
    exchange(addr, &format!("GET {path} HTTP/1.0\r\nhost: t\r\n\r\n"))
}

#[test]
fn the_example_manifest_serves_its_routes_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    for runtime in ["wasmtime", "wasmi"] {
        let store = dir.path().join(format!("{runtime}.redb"));
        let Spawned {
            child, first, addr, ..
        } = spawn_server(
            Command::new(env!("CARGO_BIN_EXE_wasirun"))
                .args([
                    "serve",
                    "--addr",
                    "127.0.0.1:0",
                    "--no-cache",
                    "--quiet",
                    "--kv",
                ])
                .arg("--kv-store")
                .arg(&store)
                .args(["--runtime", runtime, "--manifest"])
                .arg(workspace().join("examples/modules.toml")),
        );
        let mut child = Killed(child);
        assert!(
            first.contains("examples/modules.toml on http://"),
            "{first}"
        );

        let response = exchange(
            addr,
            "POST /echo HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi",
        );
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        // The echo, chunked: the request head, then its body.
        assert!(response.contains("POST /echo HTTP/1.1\r\n"), "{response}");
        assert!(response.contains("\r\nhi"), "{response}");
        let response = get(addr, "/daemon/a");
        assert!(
            response.contains("\r\n\r\nGET /daemon/a HTTP/1."),
            "{response}"
        );
        let response = get(addr, "/nothing/here");
        assert!(response.starts_with("HTTP/1.0 404 "), "{response}");
        // The background daemon ticks into the store the WAGI module reads.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = get(addr, "/hello/world");
            let body = response.split_once("\r\n\r\n").unwrap().1;
            assert!(
                body.starts_with(
                    "wagi GET script=/hello path=/world mode=example greeting=hello from examples/data ticks="
                ),
                "{runtime}: {body}"
            );
            if !body.ends_with("ticks=0\n") {
                break;
            }
            assert!(Instant::now() < deadline, "{runtime}: no ticks");
            std::thread::sleep(Duration::from_millis(20));
        }

        let status = Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(child.0.wait().unwrap().code(), Some(0), "{runtime}");
    }
}

/// `wasirun serve --manifest` of `text`, written beside a module `a.wat`:
/// its exit code and stderr, which the manifest's path starts.
fn refused(text: &str, extra: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.wat"),
        "(module (memory (export \"memory\") 1) (func (export \"_start\")))",
    )
    .unwrap();
    let manifest = dir.path().join("modules.toml");
    std::fs::write(&manifest, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(["serve", "--addr", "127.0.0.1:0", "--no-cache"])
        .args(extra)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let prefix = format!("wasirun: {}", manifest.display());
    (
        output.status.code(),
        stderr
            .strip_prefix(&prefix)
            .map_or(stderr.clone(), str::to_owned),
    )
}

#[test]
fn bad_manifests_are_one_line_errors_and_exit_2() {
    let (code, stderr) = refused(
        "[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\nrout = \"/b\"\n",
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with(":4: unknown field `rout`, expected one of `module`, `route`"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let (code, stderr) = refused(
        "[[module]]\nroute = \"/a\"\nmodule = \"missing.wasm\"\n",
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with(":3: module missing.wasm: cannot read "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let (code, stderr) = refused(
        "[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\n\n[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\nkind = \"function\"\n",
        &[],
    );
    assert_eq!(code, Some(2));
    assert_eq!(stderr, ":5: route /a is also line 1's\n");

    // The modes a manifest's modules say themselves are refused with it.
    let (code, stderr) = refused(
        "[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\n",
        &["--wagi"],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert!(
        stderr.contains("--manifest") && stderr.contains("--wagi"),
        "{stderr}"
    );
}
