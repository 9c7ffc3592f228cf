/* Official: path_filestat. path_open with append|sync keeps both flags
 * (official falls back to append alone on NOTSUP; ours supports sync);
 * path_filestat_set_times sets mtim alone and rejects X with X_NOW. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_filestat";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "path_filestat.cleanup");
    __wasi_fdstat_t st;
    want_errno("fdstat-dir", __wasi_fd_fdstat_get(dir, &st), 0);
    want_true("dir-has-path_filestat_get",
              (st.fs_rights_base & __WASI_RIGHTS_PATH_FILESTAT_GET) != 0);
    __wasi_fd_t fd;
    __wasi_fdflags_t flags = __WASI_FDFLAGS_APPEND | __WASI_FDFLAGS_SYNC;
    want_errno("create-append-sync",
               open_at(dir, 0, "file", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
                           __WASI_RIGHTS_PATH_FILESTAT_GET,
                       flags, &fd),
               0);
    want_errno("fdstat-file", __wasi_fd_fdstat_get(fd, &st), 0);
    want_eq("append-kept", st.fs_flags & __WASI_FDFLAGS_APPEND, __WASI_FDFLAGS_APPEND);
    want_eq("sync-kept", st.fs_flags & __WASI_FDFLAGS_SYNC, __WASI_FDFLAGS_SYNC);

    __wasi_filestat_t s, t;
    want_errno("stat", __wasi_path_filestat_get(dir, 0, "file", &s), 0);
    want_eq("size0", s.size, 0);
    __wasi_timestamp_t mtim = s.mtim - 100;
    want_errno("set-mtim",
               __wasi_path_filestat_set_times(dir, 0, "file", 0, mtim, __WASI_FSTFLAGS_MTIM), 0);
    want_errno("restat", __wasi_path_filestat_get(dir, 0, "file", &t), 0);
    want_eq("mtim-set", t.mtim, mtim);
    want_errno("mtim+mtim_now",
               __wasi_path_filestat_set_times(dir, 0, "file", 0, mtim,
                                              __WASI_FSTFLAGS_MTIM | __WASI_FSTFLAGS_MTIM_NOW),
               __WASI_ERRNO_INVAL);
    want_errno("restat-2", __wasi_path_filestat_get(dir, 0, "file", &t), 0);
    want_eq("mtim-untouched", t.mtim, mtim);
    want_errno("atim+atim_now",
               __wasi_path_filestat_set_times(dir, 0, "file", 0, 0,
                                              __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW),
               __WASI_ERRNO_INVAL);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
