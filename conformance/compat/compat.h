/* Shared helpers of the compat suite: C programs that check, with raw
 * preview 1 calls, the behaviours the official wasi-testsuite asserts.
 * Each program prints "NAME: ok" when every check passes; the first failed
 * check prints "FAIL <check>: got <errno> want <errno>" to stderr and exits 1.
 * Errno numbers are the witx values (BADF 8, EXIST 20, INVAL 28, ...). */
#ifndef COMPAT_H
#define COMPAT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

static const char *test_name = "?";

__attribute__((unused, noreturn)) static void fail_num(const char *check, long long got,
                                                       long long want) {
    fprintf(stderr, "FAIL %s: got %lld want %lld\n", check, got, want);
    exit(1);
}

__attribute__((unused, noreturn)) static void fail_msg(const char *check) {
    fprintf(stderr, "FAIL %s\n", check);
    exit(1);
}

/* An errno (or 0 for success) must be exactly `want`. */
__attribute__((unused)) static void want_errno(const char *check, int got, int want) {
    if (got != want)
        fail_num(check, got, want);
}

/* A numeric result must equal `want`. */
__attribute__((unused)) static void want_eq(const char *check, long long got, long long want) {
    if (got != want)
        fail_num(check, got, want);
}

__attribute__((unused)) static void want_true(const char *check, int cond) {
    if (!cond)
        fail_msg(check);
}

__attribute__((unused)) static int finish(void) {
    printf("%s: ok\n", test_name);
    return 0;
}

/* Rights a scratch subdirectory is opened with: every path right, and every
 * descriptor right for what is opened beneath it. */
#define DIR_BASE_RIGHTS                                                                  \
    (__WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_READDIR |                          \
     __WASI_RIGHTS_PATH_CREATE_FILE | __WASI_RIGHTS_PATH_CREATE_DIRECTORY |              \
     __WASI_RIGHTS_PATH_REMOVE_DIRECTORY | __WASI_RIGHTS_PATH_OPEN |                     \
     __WASI_RIGHTS_PATH_UNLINK_FILE | __WASI_RIGHTS_PATH_LINK_SOURCE |                   \
     __WASI_RIGHTS_PATH_LINK_TARGET | __WASI_RIGHTS_PATH_READLINK |                      \
     __WASI_RIGHTS_PATH_RENAME_SOURCE | __WASI_RIGHTS_PATH_RENAME_TARGET |               \
     __WASI_RIGHTS_PATH_FILESTAT_GET | __WASI_RIGHTS_PATH_FILESTAT_SET_SIZE |            \
     __WASI_RIGHTS_PATH_FILESTAT_SET_TIMES | __WASI_RIGHTS_PATH_SYMLINK)
#define DIR_INHERIT_RIGHTS                                                               \
    (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_READDIR |         \
     __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL |     \
     __WASI_RIGHTS_FD_SYNC | __WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_ADVISE |       \
     __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS |                     \
     __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | __WASI_RIGHTS_FD_FILESTAT_SET_TIMES |          \
     __WASI_RIGHTS_PATH_LINK_SOURCE | __WASI_RIGHTS_PATH_LINK_TARGET |                   \
     __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_PATH_UNLINK_FILE |                          \
     __WASI_RIGHTS_PATH_FILESTAT_GET)

/* The descriptor of the preopened directory named `name` ("/" included). */
__attribute__((unused)) static __wasi_fd_t preopen_named(const char *name) {
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t pre;
        if (__wasi_fd_prestat_get(fd, &pre) != 0)
            break;
        if (pre.tag != __WASI_PREOPENTYPE_DIR)
            continue;
        char buf[256];
        size_t len = pre.u.dir.pr_name_len;
        if (len >= sizeof buf || __wasi_fd_prestat_dir_name(fd, (uint8_t *)buf, len) != 0)
            continue;
        if (len == strlen(name) && memcmp(buf, name, len) == 0)
            return fd;
    }
    fprintf(stderr, "FAIL setup: no preopen named %s\n", name);
    exit(1);
}

/* A fresh descriptor for the scratch preopen named by argv[1], with the
 * preopen's own rights (as the official suite's helpers do). */
__attribute__((unused)) static __wasi_fd_t scratch(int argc, char **argv) {
    if (argc < 2)
        fail_msg("setup: usage: NAME.wasm <scratch dir>");
    __wasi_fd_t pre = preopen_named(argv[1]);
    __wasi_fdstat_t st;
    want_errno("setup.fdstat", __wasi_fd_fdstat_get(pre, &st), 0);
    __wasi_fd_t fd;
    want_errno("setup.open-scratch",
               __wasi_path_open(pre, 0, ".", __WASI_OFLAGS_DIRECTORY, st.fs_rights_base,
                                st.fs_rights_inheriting, 0, &fd),
               0);
    return fd;
}

/* Creates directory `name` under `dir` and opens it with the rights above. */
__attribute__((unused)) static __wasi_fd_t make_subdir(__wasi_fd_t dir, const char *name) {
    want_errno("setup.mkdir", __wasi_path_create_directory(dir, name), 0);
    __wasi_fd_t fd;
    want_errno("setup.open-subdir",
               __wasi_path_open(dir, 0, name, __WASI_OFLAGS_DIRECTORY, DIR_BASE_RIGHTS,
                                DIR_INHERIT_RIGHTS, 0, &fd),
               0);
    return fd;
}

/* Creates an empty regular file (no rights asked) and closes it. */
__attribute__((unused)) static void touch(__wasi_fd_t dir, const char *name) {
    __wasi_fd_t fd;
    want_errno("setup.touch", __wasi_path_open(dir, 0, name, __WASI_OFLAGS_CREAT, 0, 0, 0, &fd),
               0);
    want_true("setup.touch-fd>2", fd > 2);
    want_errno("setup.touch-close", __wasi_fd_close(fd), 0);
}

/* Opens `name` under `dir` with `oflags` and `rights`; returns the errno and
 * stores the descriptor in *out (if not NULL). */
__attribute__((unused)) static int open_at(__wasi_fd_t dir, __wasi_lookupflags_t follow,
                                           const char *name, __wasi_oflags_t oflags,
                                           __wasi_rights_t rights, __wasi_fdflags_t fdflags,
                                           __wasi_fd_t *out) {
    __wasi_fd_t fd = (__wasi_fd_t)-1;
    int e = __wasi_path_open(dir, follow, name, oflags, rights, rights, fdflags, &fd);
    if (out)
        *out = fd;
    else if (e == 0)
        (void)__wasi_fd_close(fd);
    return e;
}

__attribute__((unused)) static size_t write_bytes(const char *check, __wasi_fd_t fd,
                                                  const void *buf, size_t len) {
    __wasi_ciovec_t iov = {buf, len};
    size_t n = 0;
    want_errno(check, __wasi_fd_write(fd, &iov, 1, &n), 0);
    return n;
}

__attribute__((unused)) static size_t read_bytes(const char *check, __wasi_fd_t fd, void *buf,
                                                 size_t len) {
    __wasi_iovec_t iov = {buf, len};
    size_t n = 0;
    want_errno(check, __wasi_fd_read(fd, &iov, 1, &n), 0);
    return n;
}

#endif
