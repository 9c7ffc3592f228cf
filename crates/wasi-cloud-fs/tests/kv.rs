//! Every rule of `spec/wasi-cloud.md` "Key-value store", through the mount
//! layer over a real `UnixSystem`, on each backend: redb alone; redb for
//! `local` with a real `redis-server` for `region` and `global`; and the
//! same with a 3-master Redis Cluster on localhost.

mod kv_support;

use kv_support::*;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use wasi_cloud_fs::kv::{KvConfig, KvDir, MAX_KEY_LEN, RedbStore, RedisStore, Scope};
use wasi_core::budget::HostBudget;
use wasi_core::system::prelude::*;

/// Declares each rule once per backend.
macro_rules! on_both_backends {
    ($($rule:ident),* $(,)?) => {
        mod redb_backend {
            $(#[test] fn $rule() { super::$rule(super::Backend::Redb) })*
        }
        mod redis_backend {
            $(#[test] fn $rule() { super::$rule(super::Backend::Redis) })*
        }
        mod redis_cluster_backend {
            $(#[test] fn $rule() { super::$rule(super::Backend::RedisCluster) })*
        }
    };
}

on_both_backends!(
    keys_are_files_and_values_their_contents,
    writes_commit_on_close_or_sync_and_readers_keep_their_snapshot,
    create_exclusive_is_an_atomic_lock,
    eight_threads_racing_for_a_lock_admit_one,
    eight_concurrent_writers_leave_one_whole_value,
    rename_replaces_atomically_and_unlink_deletes,
    listings_page_by_cookie_without_duplicates_or_misses,
    read_write_opens_compare_and_swap,
    counters_increment_with_compare_and_swap,
    append_mode_appends_atomically,
    ttl_paths_expire_keys,
    limits_and_bad_names_get_their_errno,
    buffers_stay_within_the_guests_host_memory,
    directories_are_fixed,
    scopes_are_separate_stores,
    namespaces_are_isolated,
    committed_values_survive_a_restart,
);

const SCOPES: [&str; 3] = ["kv/local", "kv/region", "kv/global"];

fn keys_are_files_and_values_their_contents(backend: Backend) {
    let fx = Fixture::new(backend);
    let sys = &mut guest(fx.build());
    for scope in SCOPES {
        let path = format!("{scope}/greeting");
        assert_eq!(get(sys, &path), Err(Errno::NOENT));
        put(sys, &path, b"hello").unwrap();
        assert_eq!(get(sys, &path).unwrap(), b"hello");
        let stat = sys
            .path_filestat_get(BETA, Lookupflags::empty(), &path)
            .unwrap();
        assert_eq!(stat.filetype, Filetype::REGULAR_FILE);
        assert_eq!(stat.size, 5);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(
            stat.mtim <= now && stat.mtim > now - 60_000_000_000,
            "{stat:?}"
        );
        // fd_filestat_get agrees; an empty value is a value.
        let fd = open(sys, &path, Oflags::empty(), ro(), Fdflags::empty()).unwrap();
        assert_eq!(sys.fd_filestat_get(fd).unwrap().size, 5);
        sys.fd_close(fd).unwrap();
        put(sys, &path, b"").unwrap();
        assert_eq!(get(sys, &path).unwrap(), b"");
        // O_CREAT alone, nothing written: the key exists, empty.
        let fd = open(
            sys,
            &format!("{scope}/made"),
            Oflags::CREAT,
            wo(),
            Fdflags::empty(),
        )
        .unwrap();
        sys.fd_close(fd).unwrap();
        assert_eq!(get(sys, &format!("{scope}/made")).unwrap(), b"");
    }
}

fn writes_commit_on_close_or_sync_and_readers_keep_their_snapshot(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    let (a, b) = (&mut guest(dir.clone()), &mut guest(dir));
    for scope in SCOPES {
        let path = format!("{scope}/k");
        put(a, &path, b"old").unwrap();
        let reader = open(b, &path, Oflags::empty(), ro(), Fdflags::empty()).unwrap();
        let writer = open(a, &path, Oflags::TRUNC, wo(), Fdflags::empty()).unwrap();
        write(a, writer, b"new value").unwrap();
        // Not committed: others still see the old value, even the truncation.
        assert_eq!(get(b, &path).unwrap(), b"old");
        a.fd_sync(writer).unwrap();
        assert_eq!(get(b, &path).unwrap(), b"new value");
        // Seek back and overwrite part, then close commits.
        a.fd_seek(writer, 0, Whence::SET).unwrap();
        write(a, writer, b"NEW").unwrap();
        a.fd_close(writer).unwrap();
        assert_eq!(get(b, &path).unwrap(), b"NEW value");
        // The reader opened before both commits reads the value of its open.
        assert_eq!(read(b, reader).unwrap(), b"old");
        b.fd_close(reader).unwrap();
        // fd_datasync commits as fd_sync does.
        let writer = open(a, &path, Oflags::TRUNC, wo(), Fdflags::empty()).unwrap();
        write(a, writer, b"third").unwrap();
        a.fd_datasync(writer).unwrap();
        assert_eq!(get(b, &path).unwrap(), b"third");
        a.fd_close(writer).unwrap();
        // A write-only open without O_TRUNC overwrites in place.
        let writer = open(a, &path, Oflags::empty(), wo(), Fdflags::empty()).unwrap();
        write(a, writer, b"T").unwrap();
        a.fd_close(writer).unwrap();
        assert_eq!(
            get(b, &path).unwrap(),
            b"Thir".iter().chain(b"d").copied().collect::<Vec<_>>()
        );
        // fd_filestat_set_size truncates the buffered value.
        let writer = open(a, &path, Oflags::empty(), wo(), Fdflags::empty()).unwrap();
        a.fd_filestat_set_size(writer, 2).unwrap();
        a.fd_close(writer).unwrap();
        assert_eq!(get(b, &path).unwrap(), b"Th");
    }
}

fn create_exclusive_is_an_atomic_lock(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    let (a, b) = (&mut guest(dir.clone()), &mut guest(dir));
    for scope in SCOPES {
        let path = format!("{scope}/lock");
        let excl = Oflags::CREAT | Oflags::EXCL;
        let held = open(a, &path, excl, wo(), Fdflags::empty()).unwrap();
        // The key exists from the open on, empty.
        assert_eq!(get(b, &path).unwrap(), b"");
        assert_eq!(
            open(b, &path, excl, wo(), Fdflags::empty()),
            Err(Errno::EXIST)
        );
        write(a, held, b"owner a").unwrap();
        a.fd_close(held).unwrap();
        assert_eq!(get(b, &path).unwrap(), b"owner a");
        // Released by unlinking it.
        a.path_unlink_file(BETA, &path).unwrap();
        let fd = open(b, &path, excl, wo(), Fdflags::empty()).unwrap();
        b.fd_close(fd).unwrap();
    }
}

fn eight_threads_racing_for_a_lock_admit_one(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    for scope in SCOPES {
        let barrier = Arc::new(Barrier::new(8));
        let winners: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (dir, barrier) = (dir.clone(), barrier.clone());
                    s.spawn(move || {
                        let sys = &mut guest(dir);
                        barrier.wait();
                        let path = format!("{scope}/lock");
                        match open(
                            sys,
                            &path,
                            Oflags::CREAT | Oflags::EXCL,
                            wo(),
                            Fdflags::empty(),
                        ) {
                            Ok(fd) => {
                                sys.fd_close(fd).unwrap();
                                true
                            }
                            Err(errno) => {
                                assert_eq!(errno, Errno::EXIST);
                                false
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{scope}");
    }
}

fn eight_concurrent_writers_leave_one_whole_value(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    for scope in SCOPES {
        let path = format!("{scope}/contended");
        let barrier = Arc::new(Barrier::new(8));
        std::thread::scope(|s| {
            for writer in 0..8u8 {
                let (dir, barrier, path) = (dir.clone(), barrier.clone(), path.clone());
                s.spawn(move || {
                    let sys = &mut guest(dir);
                    let fd = open(
                        sys,
                        &path,
                        Oflags::CREAT | Oflags::TRUNC,
                        wo(),
                        Fdflags::empty(),
                    )
                    .unwrap();
                    barrier.wait();
                    // Many small writes, so that they interleave.
                    for _ in 0..64 {
                        write(sys, fd, &[b'a' + writer; 1024]).unwrap();
                    }
                    sys.fd_close(fd).unwrap();
                });
            }
        });
        let value = get(&mut guest(dir.clone()), &path).unwrap();
        assert_eq!(value.len(), 64 * 1024);
        assert!(
            value.iter().all(|b| *b == value[0]),
            "a mixed value in {scope}"
        );
    }
}

fn rename_replaces_atomically_and_unlink_deletes(backend: Backend) {
    let fx = Fixture::new(backend);
    let sys = &mut guest(fx.build());
    for scope in SCOPES {
        let (tmp, dst) = (format!("{scope}/tmp"), format!("{scope}/dst"));
        put(sys, &dst, b"old").unwrap();
        put(sys, &tmp, b"new").unwrap();
        let reader = open(sys, &dst, Oflags::empty(), ro(), Fdflags::empty()).unwrap();
        sys.path_rename(BETA, &tmp, BETA, &dst).unwrap();
        assert_eq!(get(sys, &dst).unwrap(), b"new");
        assert_eq!(get(sys, &tmp), Err(Errno::NOENT));
        assert_eq!(read(sys, reader).unwrap(), b"old");
        sys.fd_close(reader).unwrap();
        assert_eq!(sys.path_rename(BETA, &tmp, BETA, &dst), Err(Errno::NOENT));
        // Onto itself: nothing changes.
        sys.path_rename(BETA, &dst, BETA, &dst).unwrap();
        assert_eq!(get(sys, &dst).unwrap(), b"new");
        sys.path_unlink_file(BETA, &dst).unwrap();
        assert_eq!(get(sys, &dst), Err(Errno::NOENT));
        assert_eq!(sys.path_unlink_file(BETA, &dst), Err(Errno::NOENT));
        assert_eq!(sys.path_unlink_file(BETA, scope), Err(Errno::ISDIR));
    }
    // Between scopes: two stores.
    put(sys, "kv/local/x", b"1").unwrap();
    assert_eq!(
        sys.path_rename(BETA, "kv/local/x", BETA, "kv/region/x"),
        Err(Errno::XDEV)
    );
    assert_eq!(
        sys.path_rename(BETA, "kv/local/x", BETA, "kv/region"),
        Err(Errno::ISDIR)
    );
    assert_eq!(
        sys.path_rename(BETA, "kv/local", BETA, "kv/other"),
        Err(Errno::NOTSUP)
    );
}

fn listings_page_by_cookie_without_duplicates_or_misses(backend: Backend) {
    let fx = Fixture::new(backend);
    let sys = &mut guest(fx.build());
    let root = open(
        sys,
        "kv",
        Oflags::DIRECTORY,
        Rights::DIRECTORY,
        Fdflags::empty(),
    )
    .unwrap();
    assert_eq!(list(sys, root, 4096), ["local", "region", "global"]);
    for scope in SCOPES {
        let mut expected: Vec<String> = (0..300).map(|i| format!("key-{i:04}-é")).collect();
        for name in &expected {
            put(sys, &format!("{scope}/{name}"), name.as_bytes()).unwrap();
        }
        expected.sort();
        let fd = open(
            sys,
            scope,
            Oflags::DIRECTORY,
            Rights::DIRECTORY,
            Fdflags::empty(),
        )
        .unwrap();
        // Pages of a few entries each, and one large page.
        assert_eq!(list(sys, fd, 100), expected, "{scope}");
        assert_eq!(list(sys, fd, 64 * 1024), expected, "{scope}");
        sys.fd_close(fd).unwrap();
    }
}

fn read_write_opens_compare_and_swap(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    let (a, b) = (&mut guest(dir.clone()), &mut guest(dir));
    for scope in SCOPES {
        let path = format!("{scope}/cas");
        put(a, &path, b"v1").unwrap();
        let fa = open(a, &path, Oflags::empty(), RW, Fdflags::empty()).unwrap();
        let fb = open(b, &path, Oflags::empty(), RW, Fdflags::empty()).unwrap();
        assert_eq!(read(a, fa).unwrap(), b"v1");
        assert_eq!(read(b, fb).unwrap(), b"v1");
        write(a, fa, b"+a").unwrap();
        write(b, fb, b"+b").unwrap();
        a.fd_sync(fa).unwrap();
        // b read v1, which is gone: its commit fails, on fd_sync and on close.
        assert_eq!(b.fd_sync(fb), Err(Errno::AGAIN));
        assert_eq!(b.fd_close(fb), Err(Errno::AGAIN));
        // a's own later commits compare against what a wrote.
        write(a, fa, b"!").unwrap();
        a.fd_close(fa).unwrap();
        assert_eq!(get(b, &path).unwrap(), b"v1+a!");
        // A key deleted meanwhile is a change too.
        let fa = open(a, &path, Oflags::empty(), RW, Fdflags::empty()).unwrap();
        b.path_unlink_file(BETA, &path).unwrap();
        write(a, fa, b"x").unwrap();
        assert_eq!(a.fd_close(fa), Err(Errno::AGAIN));
        // O_CREAT on a missing key: create-if-still-absent.
        let fa = open(a, &path, Oflags::CREAT, RW, Fdflags::empty()).unwrap();
        put(b, &path, b"b was first").unwrap();
        write(a, fa, b"a").unwrap();
        assert_eq!(a.fd_close(fa), Err(Errno::AGAIN));
        assert_eq!(get(a, &path).unwrap(), b"b was first");
        // Opened read-write but not written: nothing is committed.
        let fa = open(a, &path, Oflags::empty(), RW, Fdflags::empty()).unwrap();
        put(b, &path, b"later").unwrap();
        a.fd_close(fa).unwrap();
        assert_eq!(get(a, &path).unwrap(), b"later");
    }
}

/// The increment recipe of the spec: read, add, write back, retry on EAGAIN.
fn increment(sys: &mut impl System, path: &str) -> u32 {
    let mut retries = 0;
    loop {
        let fd = open(sys, path, Oflags::CREAT, RW, Fdflags::empty()).unwrap();
        let text = read(sys, fd).unwrap();
        let n: u64 = std::str::from_utf8(&text).unwrap().parse().unwrap_or(0);
        sys.fd_seek(fd, 0, Whence::SET).unwrap();
        sys.fd_filestat_set_size(fd, 0).unwrap();
        write(sys, fd, (n + 1).to_string().as_bytes()).unwrap();
        match sys.fd_close(fd) {
            Ok(()) => return retries,
            Err(Errno::AGAIN) => retries += 1,
            Err(errno) => panic!("increment: {errno}"),
        }
    }
}

fn counters_increment_with_compare_and_swap(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    for scope in SCOPES {
        let path = format!("{scope}/counter");
        std::thread::scope(|s| {
            for _ in 0..8 {
                let (dir, path) = (dir.clone(), path.clone());
                s.spawn(move || {
                    let sys = &mut guest(dir);
                    for _ in 0..25 {
                        increment(sys, &path);
                    }
                });
            }
        });
        assert_eq!(get(&mut guest(dir.clone()), &path).unwrap(), b"200");
    }
}

fn append_mode_appends_atomically(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    let (a, b) = (&mut guest(dir.clone()), &mut guest(dir.clone()));
    for scope in SCOPES {
        let path = format!("{scope}/log");
        let fa = open(a, &path, Oflags::CREAT, wo(), Fdflags::APPEND).unwrap();
        let fb = open(b, &path, Oflags::CREAT, wo(), Fdflags::APPEND).unwrap();
        write(a, fa, b"a1;").unwrap();
        write(b, fb, b"b1;").unwrap();
        b.fd_close(fb).unwrap();
        a.fd_sync(fa).unwrap();
        write(a, fa, b"a2;").unwrap();
        a.fd_close(fa).unwrap();
        assert_eq!(get(a, &path).unwrap(), b"b1;a1;a2;");
        // Eight threads appending lines lose none and split none.
        std::thread::scope(|s| {
            for t in 0..8 {
                let (dir, path) = (dir.clone(), path.clone());
                s.spawn(move || {
                    let sys = &mut guest(dir);
                    for i in 0..20 {
                        let fd = open(sys, &path, Oflags::CREAT, wo(), Fdflags::APPEND).unwrap();
                        write(sys, fd, format!("t{t}-{i};").as_bytes()).unwrap();
                        sys.fd_close(fd).unwrap();
                    }
                });
            }
        });
        let value = String::from_utf8(get(a, &path).unwrap()).unwrap();
        let mut items: Vec<&str> = value.split_terminator(';').skip(3).collect();
        items.sort();
        let mut expected: Vec<String> = (0..8)
            .flat_map(|t| (0..20).map(move |i| format!("t{t}-{i}")))
            .collect();
        expected.sort();
        assert_eq!(items, expected);
    }
}

fn ttl_paths_expire_keys(backend: Backend) {
    let fx = Fixture::new(backend);
    let sys = &mut guest(fx.build());
    for scope in SCOPES {
        let ttl_dir = format!("{scope}/.ttl/1");
        assert_eq!(
            sys.path_filestat_get(BETA, Lookupflags::empty(), &ttl_dir)
                .unwrap()
                .filetype,
            Filetype::DIRECTORY
        );
        put(sys, &format!("{ttl_dir}/session"), b"token").unwrap();
        put(sys, &format!("{scope}/.ttl/3600/kept"), b"long").unwrap();
        put(sys, &format!("{scope}/.ttl/1/rewritten"), b"x").unwrap();
        // A plain write removes the expiry.
        put(sys, &format!("{scope}/rewritten"), b"y").unwrap();
        // Read through either path.
        assert_eq!(get(sys, &format!("{scope}/session")).unwrap(), b"token");
        assert_eq!(get(sys, &format!("{ttl_dir}/session")).unwrap(), b"token");
        assert_eq!(
            get(sys, &format!("{scope}/.ttl/0/session")),
            Err(Errno::NOENT)
        );
        assert_eq!(
            get(sys, &format!("{scope}/.ttl/x/session")),
            Err(Errno::NOENT)
        );
    }
    std::thread::sleep(Duration::from_millis(1300));
    for scope in SCOPES {
        assert_eq!(get(sys, &format!("{scope}/session")), Err(Errno::NOENT));
        assert_eq!(get(sys, &format!("{scope}/kept")).unwrap(), b"long");
        assert_eq!(get(sys, &format!("{scope}/rewritten")).unwrap(), b"y");
        let fd = open(
            sys,
            scope,
            Oflags::DIRECTORY,
            Rights::DIRECTORY,
            Fdflags::empty(),
        )
        .unwrap();
        assert_eq!(list(sys, fd, 4096), ["kept", "rewritten"]);
        sys.fd_close(fd).unwrap();
    }
}

/// Issue 20, item 8: a guest with `--max-memory 32M` (so a host-memory
/// budget of 32 MiB) `ftruncate`d 24 keys to 64 MiB each and took 1.5 GiB
/// of the server's memory. Every buffer is charged to the guest's budget:
/// past it, growing gives `ENOSPC` and allocates nothing, opening a value
/// that does not fit gives `ENOMEM` (spec/wasi-cloud.md, "Values").
fn buffers_stay_within_the_guests_host_memory(backend: Backend) {
    let fx = Fixture::new(backend);
    let dir = fx.build();
    let budget = HostBudget::new(32 << 20);
    let sys = &mut guest_with_budget(dir.clone(), budget.clone());
    let create = Oflags::CREAT | Oflags::TRUNC;
    for scope in SCOPES {
        // The attack: nothing is allocated, whatever the number of keys.
        let fds: Vec<Fd> = (0..24)
            .map(|i| {
                open(
                    sys,
                    &format!("{scope}/k{i}"),
                    create,
                    wo(),
                    Fdflags::empty(),
                )
                .unwrap()
            })
            .collect();
        for &fd in &fds {
            assert_eq!(sys.fd_filestat_set_size(fd, 64 << 20), Err(Errno::NOSPC));
            assert_eq!(sys.fd_allocate(fd, 0, 64 << 20), Err(Errno::NOSPC));
            assert_eq!(sys.fd_filestat_get(fd).unwrap().size, 0);
        }
        assert_eq!(budget.used(), 0);
        // The value limit is checked first.
        assert_eq!(
            sys.fd_filestat_set_size(fds[0], (64 << 20) + 1),
            Err(Errno::FBIG)
        );
        for fd in fds {
            sys.fd_close(fd).unwrap();
        }
    }
    // A small budget, to fill with real buffers.
    let budget = HostBudget::new(1 << 20);
    let sys = &mut guest_with_budget(dir, budget.clone());
    for scope in SCOPES {
        let (a, b) = (format!("{scope}/a"), format!("{scope}/b"));
        let fa = open(sys, &a, create, wo(), Fdflags::empty()).unwrap();
        write(sys, fa, &[1; 600 << 10]).unwrap();
        let held = budget.used();
        assert!((600 << 10..=1 << 20).contains(&held), "{held}");
        // Growing another buffer past what is left: ENOSPC, nothing written.
        let fb = open(sys, &b, create, wo(), Fdflags::empty()).unwrap();
        let big = vec![2; 500 << 10];
        assert_eq!(sys.fd_write(fb, &[IoSlice::new(&big)]), Err(Errno::NOSPC));
        assert_eq!(
            sys.fd_pwrite(fb, &[IoSlice::new(b"x")], 900 << 10),
            Err(Errno::NOSPC)
        );
        assert_eq!(sys.fd_filestat_get(fb).unwrap().size, 0);
        // What fits is written; writing inside a buffer needs nothing more.
        write(sys, fb, &[2; 100 << 10]).unwrap();
        assert_eq!(sys.fd_pwrite(fa, &[IoSlice::new(b"in")], 10), Ok(2));
        // Shrinking gives back at once.
        let before = budget.used();
        sys.fd_filestat_set_size(fa, 1000).unwrap();
        assert!(budget.used() <= before - (500 << 10), "{}", budget.used());
        write(sys, fb, &[3; 500 << 10]).unwrap();
        sys.fd_close(fa).unwrap();
        sys.fd_close(fb).unwrap();
        assert_eq!(budget.used(), 0);
        assert_eq!(get(sys, &a).unwrap().len(), 1000);
        // Opening a value that does not fit what is left: ENOMEM.
        assert_eq!(get(sys, &b).unwrap().len(), 600 << 10);
        let fa = open(sys, &a, create, wo(), Fdflags::empty()).unwrap();
        write(sys, fa, &[4; 500 << 10]).unwrap();
        assert_eq!(
            open(sys, &b, Oflags::empty(), ro(), Fdflags::empty()),
            Err(Errno::NOMEM)
        );
        sys.fd_close(fa).unwrap();
        assert_eq!(budget.used(), 0);
        assert_eq!(get(sys, &b).unwrap().len(), 600 << 10);
    }
}

fn limits_and_bad_names_get_their_errno(backend: Backend) {
    let mut fx = Fixture::new(backend);
    fx.config.max_value(1024);
    let sys = &mut guest(fx.build());
    for scope in SCOPES {
        let longest = "k".repeat(MAX_KEY_LEN);
        put(sys, &format!("{scope}/{longest}"), b"ok").unwrap();
        let too_long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            put(sys, &format!("{scope}/{too_long}"), b"x"),
            Err(Errno::NAMETOOLONG)
        );
        // Values: up to the limit, EFBIG past it (write, set_size, append).
        let path = format!("{scope}/big");
        let fd = open(
            sys,
            &path,
            Oflags::CREAT | Oflags::TRUNC,
            wo(),
            Fdflags::empty(),
        )
        .unwrap();
        write(sys, fd, &[7; 1024]).unwrap();
        assert_eq!(write(sys, fd, b"!"), Err(Errno::FBIG));
        assert_eq!(sys.fd_filestat_set_size(fd, 1025), Err(Errno::FBIG));
        assert_eq!(sys.fd_seek(fd, 1 << 40, Whence::SET), Ok(1 << 40));
        assert_eq!(write(sys, fd, b"!"), Err(Errno::FBIG));
        sys.fd_close(fd).unwrap();
        assert_eq!(get(sys, &path).unwrap().len(), 1024);
        let fd = open(sys, &path, Oflags::empty(), wo(), Fdflags::APPEND).unwrap();
        assert_eq!(write(sys, fd, b"!"), Err(Errno::FBIG));
        sys.fd_close(fd).unwrap();
        // A concurrent append that would pass the limit at commit.
        put(sys, &path, &[1; 1000]).unwrap();
        let fd = open(sys, &path, Oflags::empty(), wo(), Fdflags::APPEND).unwrap();
        write(sys, fd, &[2; 20]).unwrap();
        put(sys, &path, &[3; 1010]).unwrap();
        assert_eq!(sys.fd_close(fd), Err(Errno::FBIG));
        // No directories below a scope, and `..` cannot climb out of /beta.
        assert_eq!(put(sys, &format!("{scope}/a/b"), b"x"), Err(Errno::NOENT));
        assert_eq!(
            get(sys, &format!("{scope}/../../../etc/passwd")),
            Err(Errno::NOTCAPABLE)
        );
        // `.ttl` is reserved; NUL is not a key byte.
        assert_eq!(put(sys, &format!("{scope}/.ttl"), b"x"), Err(Errno::ISDIR));
        assert_eq!(
            put(sys, &format!("{scope}/.ttl/5/.ttl"), b"x"),
            Err(Errno::INVAL)
        );
        assert_eq!(
            put(sys, &format!("{scope}/nul\0byte"), b"x"),
            Err(Errno::INVAL)
        );
        // `.` and `..` inside a scope resolve as paths.
        assert_eq!(
            put(sys, &format!("{scope}/./dots/.."), b"x"),
            Err(Errno::ISDIR)
        );
        put(sys, &format!("{scope}/../{}/plain", &scope[3..]), b"p").unwrap();
        assert_eq!(get(sys, &format!("{scope}/plain")).unwrap(), b"p");
    }
    assert_eq!(put(sys, "kv/elsewhere/k", b"x"), Err(Errno::NOENT));
}

fn directories_are_fixed(backend: Backend) {
    let fx = Fixture::new(backend);
    let sys = &mut guest(fx.build());
    put(sys, "kv/local/file", b"x").unwrap();
    assert_eq!(
        sys.path_create_directory(BETA, "kv/local/newdir"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_create_directory(BETA, "kv/local/file"),
        Err(Errno::EXIST)
    );
    assert_eq!(
        sys.path_create_directory(BETA, "kv/region"),
        Err(Errno::EXIST)
    );
    assert_eq!(
        sys.path_remove_directory(BETA, "kv/region"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_remove_directory(BETA, "kv/local/file"),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        sys.path_remove_directory(BETA, "kv/local/missing"),
        Err(Errno::NOENT)
    );
    assert_eq!(
        open(sys, "kv/local", Oflags::CREAT, wo(), Fdflags::empty()),
        Err(Errno::ISDIR)
    );
    assert_eq!(
        open(
            sys,
            "kv/local/file",
            Oflags::DIRECTORY,
            ro(),
            Fdflags::empty()
        ),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        sys.path_symlink("file", BETA, "kv/local/link"),
        Err(Errno::NOTSUP)
    );
}

fn scopes_are_separate_stores(backend: Backend) {
    let fx = Fixture::new(backend);
    let sys = &mut guest(fx.build());
    for scope in SCOPES {
        put(sys, &format!("{scope}/same"), scope.as_bytes()).unwrap();
    }
    for scope in SCOPES {
        assert_eq!(
            get(sys, &format!("{scope}/same")).unwrap(),
            scope.as_bytes()
        );
    }
}

fn namespaces_are_isolated(backend: Backend) {
    let fx = Fixture::new(backend);
    // Two tenants of the same stores (one process opens a redb file once).
    let redb = RedbStore::open(&fx.dir.path().join("shared.redb")).unwrap();
    let redis = fx
        .redis_url
        .as_ref()
        .map(|url| RedisStore::new(url, Duration::from_secs(2)).unwrap());
    let tenant = |namespace: &str| {
        let scopes = Scope::ALL.map(|scope| match (&redis, scope) {
            (Some(redis), Scope::Region | Scope::Global) => redis.scope(namespace, scope),
            _ => redb.scope(namespace, scope),
        });
        guest(Arc::new(KvDir::new(scopes)))
    };
    let (a, b) = (&mut tenant("tenant-a"), &mut tenant("tenant-b"));
    for scope in SCOPES {
        put(a, &format!("{scope}/secret"), b"a's").unwrap();
        assert_eq!(
            get(b, &format!("{scope}/secret")),
            Err(Errno::NOENT),
            "{scope}"
        );
        let fd = open(
            b,
            scope,
            Oflags::DIRECTORY,
            Rights::DIRECTORY,
            Fdflags::empty(),
        )
        .unwrap();
        assert!(list(b, fd, 4096).is_empty());
        b.fd_close(fd).unwrap();
        put(b, &format!("{scope}/secret"), b"b's").unwrap();
        assert_eq!(get(a, &format!("{scope}/secret")).unwrap(), b"a's");
    }
    let mut config = KvConfig::new(fx.dir.path().join("other.redb"));
    assert!(config.namespace("bad{tag}").build().is_err());
    assert!(config.namespace("").build().is_err());
    assert!(config.namespace("n".repeat(65)).build().is_err());
}

fn committed_values_survive_a_restart(backend: Backend) {
    let fx = Fixture::new(backend);
    {
        let sys = &mut guest(fx.build());
        for scope in SCOPES {
            put(sys, &format!("{scope}/durable"), b"kept").unwrap();
        }
    }
    // The redb file is closed with the last mount; a new one opens it.
    let sys = &mut guest(fx.build());
    for scope in SCOPES {
        assert_eq!(get(sys, &format!("{scope}/durable")).unwrap(), b"kept");
    }
}
