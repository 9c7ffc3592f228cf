//! The key-value store mounted as files (spec/wasi-cloud.md) against the
//! backends' own client APIs, in the same run:
//!
//! - `kv_put_64B/{redb,redis}_files`: one put of a 64-byte value through
//!   the guest's file calls (`path_open(O_CREAT|O_TRUNC)`, `fd_write`,
//!   `fd_close`, made on the mounted system), against `{redb,redis}_api`:
//!   redb's insert and commit, redis-rs's `SET` round trip.
//! - `kv_get_64B/...`: `path_open`, `fd_read`, `fd_close` against redb's
//!   read transaction and get, redis-rs's `GET`.
//! - `kv_list_10000/{redb,redis}`: listing a scope of 10,000 keys with
//!   `fd_readdir` and 4 KiB buffers.
//!
//! The file calls are made on the system directly (a guest's call adds the
//! ABI's cost, measured by the preview 1 benchmarks). The Redis rows start a
//! `redis-server` on a free port (without persistence) and are skipped, with
//! a message, where none is installed.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::{IoSlice, IoSliceMut};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_cloud_fs::kv::KvConfig;
use wasi_core::mount::Mounts;
use wasi_core::system::DirentWriter;
use wasi_core::system::prelude::*;
use wasi_unix::UnixSystem;

// `wasirun`'s allocator, so that the files are measured as they ship; the
// API rows run with it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VALUE: &[u8; 64] = &[b'v'; 64];
const BETA: Fd = 3;

/// A redis-server on a free port, killed when dropped.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Option<Redis> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Redis(child, port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.connect().is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.1)
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let mut connection = redis::Client::open(self.url())?.get_connection()?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(connection)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A system with `config`'s store mounted at /beta/kv.
fn mounted(config: &KvConfig) -> Mounts<UnixSystem> {
    let mut system = Mounts::new(UnixSystem::builder().build().unwrap());
    system
        .mount("/beta/kv", Arc::new(config.build().unwrap()))
        .unwrap();
    system
}

fn open(sys: &mut Mounts<UnixSystem>, path: &str, oflags: Oflags, rights: Rights) -> Fd {
    sys.path_open(
        BETA,
        Lookupflags::empty(),
        path,
        oflags,
        rights,
        Rights::empty(),
        Fdflags::empty(),
    )
    .unwrap()
}

fn put_file(sys: &mut Mounts<UnixSystem>, path: &str) {
    let fd = open(sys, path, Oflags::CREAT | Oflags::TRUNC, Rights::FD_WRITE);
    assert_eq!(sys.fd_write(fd, &[IoSlice::new(VALUE)]).unwrap(), 64);
    sys.fd_close(fd).unwrap();
}

/// Puts `k` through redb's API.
fn put_api(api: &redb::Database, table: redb::TableDefinition<&str, &[u8]>) {
    let txn = api.begin_write().unwrap();
    txn.open_table(table)
        .unwrap()
        .insert("k", VALUE.as_slice())
        .unwrap();
    txn.commit().unwrap();
}

/// Sets `k` with a Redis command.
fn set_redis(api: &mut redis::Connection) {
    redis::cmd("SET")
        .arg("k")
        .arg(VALUE)
        .query::<()>(api)
        .unwrap()
}

fn get_file(sys: &mut Mounts<UnixSystem>, path: &str, buf: &mut [u8]) {
    let fd = open(sys, path, Oflags::empty(), Rights::FD_READ);
    assert_eq!(sys.fd_read(fd, &mut [IoSliceMut::new(buf)]).unwrap(), 64);
    sys.fd_close(fd).unwrap();
}

/// Lists `path` to its end; returns the number of entries.
fn list(sys: &mut Mounts<UnixSystem>, path: &str) -> usize {
    let fd = open(sys, path, Oflags::DIRECTORY, Rights::FD_READDIR);
    let mut buf = vec![0u8; 4096];
    let (mut cookie, mut count) = (0, 0);
    loop {
        let mut out = DirentWriter::new(&mut buf);
        sys.fd_readdir(fd, cookie, &mut out).unwrap();
        let len = out.len();
        let mut at = 0;
        while at + 24 <= len {
            let namlen = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
            if at + 24 + namlen > len {
                break;
            }
            cookie = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
            count += 1;
            at += 24 + namlen;
        }
        if len < buf.len() {
            break;
        }
    }
    sys.fd_close(fd).unwrap();
    count - 2
}

fn kv(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    if redis.is_none() {
        eprintln!("kv: no redis-server could be started: the Redis rows are skipped");
    }

    // redb through files, and redb's API on a database of its own.
    let mut files = mounted(&KvConfig::new(dir.path().join("files.redb")));
    let api = redb::Database::create(dir.path().join("api.redb")).unwrap();
    let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("bench");
    let mut buf = [0u8; 4096];

    let mut group = c.benchmark_group("kv_put_64B");
    group.bench_function("redb_files", |b| {
        b.iter(|| put_file(&mut files, "kv/local/k"))
    });
    group.bench_function("redb_api", |b| b.iter(|| put_api(&api, table)));
    let mut redis_files = redis.as_ref().map(|r| {
        let mut config = KvConfig::new(dir.path().join("redis.redb"));
        config.redis(r.url());
        mounted(&config)
    });
    let mut redis_api = redis.as_ref().map(|r| r.connect().unwrap());
    if let (Some(files), Some(api)) = (&mut redis_files, &mut redis_api) {
        group.bench_function("redis_files", |b| b.iter(|| put_file(files, "kv/region/k")));
        group.bench_function("redis_api", |b| b.iter(|| set_redis(api)));
    }
    group.finish();

    // The key each get reads, put here too, so that the group runs alone
    // (a filter on `kv_get_64B`).
    put_file(&mut files, "kv/local/k");
    put_api(&api, table);
    if let (Some(files), Some(api)) = (&mut redis_files, &mut redis_api) {
        put_file(files, "kv/region/k");
        set_redis(api);
    }
    let mut group = c.benchmark_group("kv_get_64B");
    group.bench_function("redb_files", |b| {
        b.iter(|| get_file(&mut files, "kv/local/k", &mut buf))
    });
    group.bench_function("redb_api", |b| {
        b.iter(|| {
            use redb::ReadableDatabase;
            let txn = api.begin_read().unwrap();
            let table = txn.open_table(table).unwrap();
            black_box(table.get("k").unwrap().unwrap().value().len())
        })
    });
    if let (Some(files), Some(api)) = (&mut redis_files, &mut redis_api) {
        group.bench_function("redis_files", |b| {
            b.iter(|| get_file(files, "kv/region/k", &mut buf))
        });
        group.bench_function("redis_api", |b| {
            b.iter(|| black_box(redis::cmd("GET").arg("k").query::<Vec<u8>>(api).unwrap()))
        });
    }
    group.finish();

    // 10,000 keys: put once (redb: in one transaction, through the API of
    // a store opened for it; Redis: through the files), then listed.
    let mut group = c.benchmark_group("kv_list_10000");
    group.sample_size(10);
    let listed = dir.path().join("listed.redb");
    fill_redb(&listed);
    let mut listed = mounted(&KvConfig::new(listed));
    group.bench_function("redb", |b| {
        b.iter(|| assert_eq!(list(&mut listed, "kv/local"), 10_000))
    });
    if let Some(files) = &mut redis_files {
        for i in 0..10_000 {
            put_file(files, &format!("kv/global/key-{i:05}"));
        }
        group.bench_function("redis", |b| {
            b.iter(|| assert_eq!(list(files, "kv/global"), 10_000))
        });
    }
    group.finish();
}

/// Puts 10,000 keys in `local` of the default namespace of the store at
/// `path`, through the store's own trait (one commit per key).
fn fill_redb(path: &Path) {
    let store = wasi_cloud_fs::kv::RedbStore::open(path).unwrap();
    let local = store.scope("default", wasi_cloud_fs::kv::Scope::Local);
    for i in 0..10_000 {
        local
            .put(
                &format!("key-{i:05}"),
                VALUE,
                wasi_cloud_fs::kv::Cond::Any,
                None,
            )
            .unwrap();
    }
}

criterion_group!(benches, kv);
criterion_main!(benches);
