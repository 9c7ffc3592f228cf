//! `wasirun run --kv` (spec/wasi-cloud.md, "Key-value store"): a guest
//! reading and writing keys through plain file calls (tests/guests/
//! kvtool.wat) on both engines, several wasirun processes sharing a real
//! `redis-server` (started here on a free port, always stopped), and
//! processes killed in the middle of their writes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EEXIST: i32 = 20;
const EIO: i32 = 29;
const EILSEQ: i32 = 25;
const ENAMETOOLONG: i32 = 37;
const ENOENT: i32 = 44;
const ENOTCAPABLE: i32 = 76;

fn kvtool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/kvtool.wat")
}

/// `wasirun run --no-cache --kv --kv-store STORE KV_ARGS... kvtool.wat TOOL_ARGS...`.
fn command(store: &Path, kv_args: &[&str], tool_args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasirun"));
    command
        .args(["run", "--no-cache", "--kv", "--kv-store"])
        .arg(store)
        .args(kv_args)
        .arg(kvtool())
        .args(tool_args)
        .stdin(Stdio::null());
    command
}

fn run(store: &Path, kv_args: &[&str], tool_args: &[&str]) -> Output {
    command(store, kv_args, tool_args).output().unwrap()
}

/// The guest's exit code (the errno of its failed call, 0 when none did).
fn code(output: &Output) -> i32 {
    output.status.code().expect("killed by a signal")
}

#[track_caller]
fn ok(output: Output) -> Vec<u8> {
    assert_eq!(
        code(&output),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A `redis-server` on a free port, in its own directory, killed (and
/// waited for) when dropped.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts a server on a free port (another one if a parallel test's
    /// server took it first).
    fn start() -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut redis = Redis {
                child: None,
                port,
                dir: tempfile::tempdir().unwrap(),
            };
            if redis.try_restart() {
                return redis;
            }
        }
        panic!("redis-server could not get a free port");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server, persisting every write before acknowledging
    /// it, and waits until it answers PING.
    fn restart(&mut self) {
        assert!(self.try_restart(), "port {} was taken", self.port);
    }

    /// Starts the server; `false` when another server answers on its port.
    fn try_restart(&mut self) -> bool {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "starting redis-server: {err}; the key-value tests need it: \
                     `cargo xtask test` installs it (as root or with passwordless sudo), \
                     or run `apt-get install -y redis-server`"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(dir) = self.answering_dir() {
                let ours = self.dir.path().canonicalize().unwrap();
                if dir == ours.to_string_lossy() {
                    return true;
                }
                self.kill();
                return false;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() {
                self.child = None;
                return false;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The directory of the server answering on the port (`CONFIG GET
    /// dir`), if one does.
    fn answering_dir(&self) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        stream.write_all(b"CONFIG GET dir\r\n").ok()?;
        // *2 $3 dir $N DIR, each line ended by CRLF.
        let mut reply = Vec::new();
        let mut buf = [0u8; 512];
        while reply.iter().filter(|b| **b == b'\n').count() < 5 {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            reply.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(reply).ok()?;
        text.split("\r\n").nth(4).map(str::to_string)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_guest_stores_and_reads_keys_with_plain_file_calls_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kv.redb");
    for engine in ["wasmtime", "wasmi"] {
        let e = ["--runtime", engine];
        let key = format!("kv/local/{engine}");
        assert_eq!(code(&run(&store, &e, &["get", &key])), ENOENT);
        ok(run(&store, &e, &["put", &key, "hello"]));
        ok(run(&store, &e, &["append", &key, ", world"]));
        assert_eq!(ok(run(&store, &e, &["get", &key])), b"hello, world");
        let lock = format!("kv/region/{engine}.lock");
        ok(run(&store, &e, &["excl", &lock, "mine"]));
        assert_eq!(code(&run(&store, &e, &["excl", &lock, "mine"])), EEXIST);
    }
    // A store that another process holds refuses to start, saying why.
    let holder = command(&store, &[], &["loop", "kv/local/busy"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder = KillOnDrop(holder);
    let mut line = String::new();
    BufReader::new(holder.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let refused = run(&store, &[], &["get", "kv/local/wasmi"]);
    assert_eq!(code(&refused), 2);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("open in another process"), "{stderr}");
}

#[test]
fn bad_names_get_the_errno_of_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kv.redb");
    let long = format!("kv/local/{}", "k".repeat(256));
    assert_eq!(code(&run(&store, &[], &["put", &long, "x"])), ENAMETOOLONG);
    let escape = "kv/local/../../../etc/passwd";
    assert_eq!(code(&run(&store, &[], &["get", escape])), ENOTCAPABLE);
    // A name that is not UTF-8, as a guest's bytes reach the host.
    use std::os::unix::ffi::OsStrExt;
    let invalid = std::ffi::OsStr::from_bytes(b"kv/local/\xff\xfe");
    let output = command(&store, &[], &["put"])
        .arg(invalid)
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(code(&output), EILSEQ);
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn processes_share_region_and_global_through_redis_but_not_local_or_namespaces() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    let url = redis.url();
    let shared = ["--kv-redis", url.as_str()];
    for scope in ["local", "region", "global"] {
        ok(run(&a, &shared, &["put", &format!("kv/{scope}/k"), scope]));
    }
    // Another host (another embedded store), same server and namespace.
    assert_eq!(ok(run(&b, &shared, &["get", "kv/region/k"])), b"region");
    assert_eq!(ok(run(&b, &shared, &["get", "kv/global/k"])), b"global");
    assert_eq!(code(&run(&b, &shared, &["get", "kv/local/k"])), ENOENT);
    // Another namespace sees none of them.
    let other = ["--kv-redis", url.as_str(), "--kv-namespace", "other"];
    for scope in ["local", "region", "global"] {
        let path = format!("kv/{scope}/k");
        assert_eq!(code(&run(&b, &other, &["get", &path])), ENOENT, "{scope}");
    }
    // --kv-global sets global apart: here on no server, so it fails with EIO
    // while region still works.
    let apart = [
        "--kv-redis",
        url.as_str(),
        "--kv-global",
        "redis://127.0.0.1:1/",
    ];
    assert_eq!(ok(run(&b, &apart, &["get", "kv/region/k"])), b"region");
    assert_eq!(code(&run(&b, &apart, &["get", "kv/global/k"])), EIO);
}

#[test]
fn eight_concurrent_writer_processes_leave_one_whole_value() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let shared = ["--kv-redis", url.as_str()];
    let writers: Vec<KillOnDrop> = (0..8)
        .map(|i| {
            let store = dir.path().join(format!("{i}.redb"));
            let byte = char::from(b'a' + i).to_string();
            KillOnDrop(
                command(&store, &shared, &["fill", "kv/region/contended", &byte])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    for mut writer in writers {
        assert!(writer.0.wait().unwrap().success());
    }
    let value = ok(run(
        &dir.path().join("r.redb"),
        &shared,
        &["get", "kv/region/contended"],
    ));
    assert_eq!(value.len(), 256 * 1024);
    assert!(value.iter().all(|b| *b == value[0]), "a mixed value");
}

#[test]
fn eight_processes_racing_for_an_exclusive_create_admit_one() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let shared = ["--kv-redis", url.as_str()];
    let racers: Vec<KillOnDrop> = (0..8)
        .map(|i| {
            let store = dir.path().join(format!("{i}.redb"));
            KillOnDrop(
                command(
                    &store,
                    &shared,
                    &["excl", "kv/global/leader", &i.to_string()],
                )
                .spawn()
                .unwrap(),
            )
        })
        .collect();
    let codes: Vec<i32> = racers
        .into_iter()
        .map(|mut r| r.0.wait().unwrap().code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == EEXIST), "{codes:?}");
}

/// Starts `kvtool loop PATH`, and returns it with the last number it
/// printed (each printed once its close returned 0).
fn looping(
    store: &Path,
    kv_args: &[&str],
    path: &str,
) -> (
    KillOnDrop,
    Arc<Mutex<Option<u64>>>,
    std::thread::JoinHandle<()>,
) {
    let mut child = command(store, kv_args, &["loop", path])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let last = Arc::new(Mutex::new(None));
    let reader = {
        let last = last.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                *last.lock().unwrap() = Some(line.parse().unwrap());
            }
        })
    };
    (KillOnDrop(child), last, reader)
}

fn wait_for(last: &Mutex<Option<u64>>, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while last.lock().unwrap().is_none_or(|n| n < at_least) {
        assert!(Instant::now() < deadline, "the guest did not write");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_of_wasirun_loses_no_write_whose_close_returned_0() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kv.redb");
    for round in 0..3 {
        let (mut guest, last, reader) = looping(&store, &[], "kv/local/counter");
        wait_for(&last, 20 + round * 7);
        guest.0.kill().unwrap();
        guest.0.wait().unwrap();
        reader.join().unwrap();
        let acknowledged = last.lock().unwrap().unwrap();
        let stored: u64 = String::from_utf8(ok(run(&store, &[], &["get", "kv/local/counter"])))
            .unwrap()
            .parse()
            .unwrap();
        // The last write whose close returned 0, or the next one, whose
        // close returned but whose line was not printed yet.
        assert!(
            stored == acknowledged || stored == acknowledged + 1,
            "acknowledged {acknowledged}, stored {stored}"
        );
    }
}

#[test]
fn redis_killed_mid_run_gives_eio_and_one_line_then_acknowledged_writes_are_there() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kv.redb");
    let url = redis.url();
    let shared = ["--kv-redis", url.as_str()];
    let (mut guest, last, reader) = looping(&store, &shared, "kv/region/counter");
    wait_for(&last, 50);
    redis.kill();
    // The guest's next commit fails with EIO: it exits with that errno.
    let status = guest.0.wait().unwrap();
    assert_eq!(status.code(), Some(EIO));
    reader.join().unwrap();
    let mut stderr = String::new();
    guest
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("Redis at")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("calls fail with EIO"), "{stderr}");
    // A new run while the server is down: EIO, and the same line.
    let down = run(&store, &shared, &["get", "kv/region/counter"]);
    assert_eq!(code(&down), EIO);
    assert!(String::from_utf8_lossy(&down.stderr).contains("calls fail with EIO"));
    // The server is back (appendfsync always): the writes acknowledged to
    // the guest are all there.
    redis.restart();
    let acknowledged = last.lock().unwrap().unwrap();
    let stored: u64 = String::from_utf8(ok(run(&store, &shared, &["get", "kv/region/counter"])))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        stored == acknowledged || stored == acknowledged + 1,
        "acknowledged {acknowledged}, stored {stored}"
    );
}
