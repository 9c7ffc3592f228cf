/* Official: fd_filestat_set. fd_filestat_set_size and setting mtim alone
 * through a descriptor. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "fd_filestat_set";
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "filestat_set.cleanup", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
                           __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE |
                           __WASI_RIGHTS_FD_FILESTAT_SET_TIMES,
                       0, &fd),
               0);
    __wasi_filestat_t s, t;
    want_errno("stat0", __wasi_fd_filestat_get(fd, &s), 0);
    want_eq("size0", s.size, 0);
    want_errno("set_size", __wasi_fd_filestat_set_size(fd, 100), 0);
    want_errno("stat1", __wasi_fd_filestat_get(fd, &s), 0);
    want_eq("size100", s.size, 100);
    __wasi_timestamp_t mtim = s.mtim - 100;
    want_errno("set_mtim", __wasi_fd_filestat_set_times(fd, mtim, mtim, __WASI_FSTFLAGS_MTIM), 0);
    want_errno("stat2", __wasi_fd_filestat_get(fd, &t), 0);
    want_eq("size-kept", t.size, 100);
    want_eq("mtim-set", t.mtim, mtim);
    want_eq("atim-kept", t.atim, s.atim);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "filestat_set.cleanup"), 0);
    return finish();
}
