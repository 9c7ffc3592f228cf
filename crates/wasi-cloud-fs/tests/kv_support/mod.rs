//! Shared by the key-value tests: a guest system with `/beta/kv` mounted,
//! file calls as a guest makes them, and a real `redis-server` on a free
//! port, stopped when dropped.

#![allow(dead_code)]

use std::io::{IoSlice, IoSliceMut};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_cloud_fs::kv::{KvConfig, KvDir};
use wasi_core::budget::HostBudget;
use wasi_core::mount::Mounts;
use wasi_core::system::DirentWriter;
use wasi_core::system::prelude::*;
use wasi_unix::UnixSystem;

/// The virtual preopen `/beta`: the first descriptor after stdio.
pub const BETA: Fd = 3;

/// A guest's system with `dir` mounted at `/beta/kv`.
pub fn guest(dir: Arc<KvDir>) -> Mounts<UnixSystem> {
    guest_with_budget(dir, HostBudget::default())
}

/// A guest's system with `dir` mounted at `/beta/kv`, and `budget` its
/// budget of host memory.
pub fn guest_with_budget(dir: Arc<KvDir>, budget: HostBudget) -> Mounts<UnixSystem> {
    let system = UnixSystem::builder().host_budget(budget).build().unwrap();
    let mut system = Mounts::new(system);
    system.mount("/beta/kv", dir).unwrap();
    system
}

/// Every right a file can have.
pub const RW: Rights = Rights::REGULAR_FILE;

/// Read rights only.
pub fn ro() -> Rights {
    Rights::REGULAR_FILE.difference(Rights::FD_WRITE)
}

/// Write rights only.
pub fn wo() -> Rights {
    Rights::REGULAR_FILE.difference(Rights::FD_READ)
}

/// `path_open` from `/beta`.
pub fn open(
    sys: &mut impl System,
    path: &str,
    oflags: Oflags,
    rights: Rights,
    fdflags: Fdflags,
) -> Result<Fd> {
    sys.path_open(
        BETA,
        Lookupflags::empty(),
        path,
        oflags,
        rights,
        Rights::empty(),
        fdflags,
    )
}

/// Writes all of `data` to `fd`.
pub fn write(sys: &mut impl System, fd: Fd, data: &[u8]) -> Result<()> {
    let mut at = 0;
    while at < data.len() {
        let n = sys.fd_write(fd, &[IoSlice::new(&data[at..])])? as usize;
        assert!(n > 0, "fd_write wrote nothing");
        at += n;
    }
    Ok(())
}

/// Reads `fd` to its end.
pub fn read(sys: &mut impl System, fd: Fd) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)])? as usize;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// `open(O_CREAT|O_TRUNC|O_WRONLY)`, write, close: a put.
pub fn put(sys: &mut impl System, path: &str, data: &[u8]) -> Result<()> {
    let fd = open(
        sys,
        path,
        Oflags::CREAT | Oflags::TRUNC,
        wo(),
        Fdflags::empty(),
    )?;
    write(sys, fd, data)?;
    sys.fd_close(fd)
}

/// `open(O_RDONLY)`, read, close: a get.
pub fn get(sys: &mut impl System, path: &str) -> Result<Vec<u8>> {
    let fd = open(sys, path, Oflags::empty(), ro(), Fdflags::empty())?;
    let data = read(sys, fd);
    sys.fd_close(fd)?;
    data
}

/// The names in the directory `fd`, read with a buffer of `buf` bytes,
/// following cookies to the end (without `.` and `..`).
pub fn list(sys: &mut impl System, fd: Fd, buf: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut cookie = 0;
    let mut bytes = vec![0u8; buf];
    loop {
        let mut out = DirentWriter::new(&mut bytes);
        sys.fd_readdir(fd, cookie, &mut out).unwrap();
        let len = out.len();
        let mut at = 0;
        let mut progressed = false;
        while at + 24 <= len {
            let next = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            let namlen = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
            if at + 24 + namlen > len {
                break;
            }
            let name = String::from_utf8(bytes[at + 24..at + 24 + namlen].to_vec()).unwrap();
            if name != "." && name != ".." {
                names.push(name);
            }
            cookie = next;
            progressed = true;
            at += 24 + namlen;
        }
        if !progressed || len < buf {
            return names;
        }
    }
}

/// A `redis-server` on a free port of 127.0.0.1, in its own directory,
/// killed (and waited for) when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    /// Starts a server with no persistence.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &["--save", "", "--appendonly", "no"])
    }

    /// Starts a server with extra arguments, on a free port.
    pub fn start_with(dir: &Path, args: &[&str]) -> Self {
        // A port found free may be taken by a parallel test before the
        // server binds it: try another.
        let mut why = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            match Self::try_start_on(dir, port, args) {
                Ok(server) => return server,
                Err(error) => why = error,
            }
        }
        panic!("cannot start redis-server: {why}");
    }

    fn try_start_on(dir: &Path, port: u16, args: &[&str]) -> Result<Self, String> {
        let mut server = Self {
            child: None,
            port,
            dir: dir.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        server.try_restart()?;
        Ok(server)
    }

    /// The URL of the server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again, on the same port and directory, and waits
    /// until it answers.
    pub fn restart(&mut self) {
        self.try_restart().unwrap();
    }

    /// Whether the server has loaded its data (`INFO persistence` says
    /// `loading:0`).
    fn loaded(&self) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| {
                redis::cmd("INFO")
                    .arg("persistence")
                    .query::<String>(&mut c)
            })
            .is_ok_and(|info| info.lines().any(|line| line.trim() == "loading:0"))
    }

    /// [`restart`](Self::restart), failing when the port is taken.
    fn try_restart(&mut self) -> Result<(), String> {
        self.kill();
        let redis_server = required("redis-server", "redis-server");
        let child = Command::new(redis_server)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ours = self.dir.canonicalize().unwrap();
        loop {
            // The server answering must be this one (its directory), not
            // another test's that took the port first.
            let answered = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| {
                    redis::cmd("CONFIG")
                        .arg("GET")
                        .arg("dir")
                        .query::<(String, String)>(&mut c)
                });
            if let Ok((_, dir)) = answered {
                if Path::new(&dir) != ours {
                    self.kill();
                    return Err(format!("port {} is another server's", self.port));
                }
                // CONFIG answers while the server still loads its data
                // (an append-only file after a restart); reads then fail
                // with LOADING. Ready is when it has loaded.
                if self.loaded() {
                    return Ok(());
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("redis-server exited ({status})"));
            }
            if Instant::now() > deadline {
                return Err("redis-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of three masters on 127.0.0.1, each in its own
/// directory, killed when dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(dir: &Path) -> Self {
        let mut nodes: Vec<RedisServer> = Vec::new();
        let mut why = String::new();
        for _ in 0..20 {
            if nodes.len() == 3 {
                break;
            }
            // A free port whose cluster bus port (+10000) is free too. Both
            // may be taken again before the node binds them (other tests
            // start servers too): then another pair is tried.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            drop(listener);
            if port >= 55_000
                || nodes.iter().any(|node| node.port == port)
                || TcpListener::bind(("127.0.0.1", port + 10_000)).is_err()
            {
                continue;
            }
            let dir = dir.join(format!("node-{port}"));
            std::fs::create_dir_all(&dir).unwrap();
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--save",
                "",
                "--appendonly",
                "no",
            ];
            match RedisServer::try_start_on(&dir, port, &args) {
                Ok(node) => nodes.push(node),
                Err(error) => why = error,
            }
        }
        assert_eq!(nodes.len(), 3, "cannot start the cluster's nodes: {why}");
        let ports: Vec<u16> = nodes.iter().map(|node| node.port).collect();
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new(required("redis-cli", "redis-tools"))
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            loop {
                let info = redis::Client::open(node.url())
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster did not form");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Self { nodes }
    }

    /// The seed nodes, as `--kv-redis` takes them: URLs separated by commas.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The path of `program` on `$PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// The path of `program` (from the Debian package `package`), which these
/// tests require: they are never skipped, so a missing program fails them,
/// with what installs it.
pub fn required(program: &str, package: &str) -> PathBuf {
    which(program).unwrap_or_else(|| {
        panic!(
            "{program} is not installed, and the key-value tests need it: \
             `cargo xtask test` installs it (as root or with passwordless sudo), \
             or run `apt-get install -y {package}`"
        )
    })
}

/// The two backends every spec rule is tested on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// redb for all three scopes.
    Redb,
    /// redb for `local`, Redis for `region` and `global`.
    Redis,
    /// redb for `local`, a 3-master Redis Cluster for `region` and
    /// `global`.
    RedisCluster,
}

/// A store of `backend` in `dir` (with a server, for Redis), and the
/// config it was built from.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub server: Option<RedisServer>,
    pub cluster: Option<RedisCluster>,
    /// The Redis URL of `region` and `global`, if any.
    pub redis_url: Option<String>,
    pub config: KvConfig,
}

impl Fixture {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = KvConfig::new(dir.path().join("kv.redb"));
        let (server, cluster) = match backend {
            Backend::Redb => (None, None),
            Backend::Redis => (Some(RedisServer::start(dir.path())), None),
            Backend::RedisCluster => (None, Some(RedisCluster::start(dir.path()))),
        };
        let redis_url = server
            .as_ref()
            .map(RedisServer::url)
            .or(cluster.as_ref().map(RedisCluster::url));
        if let Some(url) = &redis_url {
            config.redis(url).timeout(Duration::from_secs(2));
        }
        Self {
            dir,
            server,
            cluster,
            redis_url,
            config,
        }
    }

    /// The mount.
    pub fn build(&self) -> Arc<KvDir> {
        Arc::new(self.config.build().unwrap())
    }
}
